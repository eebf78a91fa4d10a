//! The server's counters: what /metrics shows and what the logs summarise.
//!
//! Plain integers, not atomics: the whole server is one thread, so the loop
//! updates them with ordinary additions. With `--workers`, each worker
//! copies them into its slot of a shared region once per loop turn, and
//! /metrics adds every worker's up (see `worker_metrics`); a single process
//! has no region and pays nothing.
//!
//! These are the reactor's counters, about connections and bytes: the same
//! for every protocol. A protocol sees them read-only (`Context::metrics`
//! is a shared reference), so it can show them but never overwrite a
//! gauge; what only a protocol knows (HTTP's responses by status class)
//! it counts itself and appends to its own /metrics page.

use crate::process::worker_metrics::WorkerCounters;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

/// Counters since start, kept by the reactor.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// When the server started, for the uptime.
    pub started: Instant,
    /// Connections accepted and served (not counting rejected ones).
    pub connections_accepted: u64,
    /// Connections currently open (a gauge).
    pub connections_active: u64,
    /// Connections closed, for any reason.
    pub connections_closed: u64,
    /// Connections refused because --max-connections were open.
    pub connections_rejected: u64,
    /// Connections closed by the request, idle or linger timeout.
    pub connections_timed_out: u64,
    /// Bytes read from clients.
    pub bytes_read: u64,
    /// Bytes written to clients.
    pub bytes_written: u64,
    /// With `--workers`: the region where every worker's counters meet, so
    /// /metrics shows the whole server (see `worker_metrics`). None for a
    /// single process, which then pays nothing for it.
    workers: Option<Arc<WorkerCounters>>,
}

impl Metrics {
    /// Zeroed counters, with the uptime starting now.
    pub fn new(started: Instant) -> Metrics {
        Metrics {
            started,
            connections_accepted: 0,
            connections_active: 0,
            connections_closed: 0,
            connections_rejected: 0,
            connections_timed_out: 0,
            bytes_read: 0,
            bytes_written: 0,
            workers: None,
        }
    }

    /// Report the whole server's counters, from every worker's slot of
    /// `workers`, instead of this process's alone.
    pub fn share_with_workers(&mut self, workers: Arc<WorkerCounters>) {
        self.workers = Some(workers);
    }

    /// The shared region, with `--workers`.
    pub fn workers(&self) -> Option<&WorkerCounters> {
        self.workers.as_deref()
    }

    /// Copy these counters into this worker's slot (nothing for a single
    /// process). The reactor calls it once per turn.
    pub fn publish(&self) {
        if let Some(workers) = &self.workers {
            workers.publish(self);
        }
    }

    /// Append the counters in the Prometheus text exposition format, version
    /// 0.0.4 (`# HELP`, `# TYPE`, then one `name{labels} value` per line).
    ///
    /// With workers, each value is the sum over all of them, and two
    /// families with a `worker` label (the worker's slot) and its `pid`
    /// show how the connections are spread: accepted and open.
    pub fn write_prometheus(&self, now: Instant, out: &mut Vec<u8>) {
        let own = [
            self.connections_accepted,
            self.connections_active,
            self.connections_closed,
            self.connections_rejected,
            self.connections_timed_out,
            self.bytes_read,
            self.bytes_written,
        ];
        let values = match &self.workers {
            Some(workers) => {
                workers.publish(self);
                let totals = workers.totals();
                let mut values = [0u64; 7];
                for (value, total) in values.iter_mut().zip(totals) {
                    *value = total;
                }
                values
            }
            None => own,
        };
        self.write_values(values, out);
        if let Some(workers) = &self.workers {
            write_per_worker(workers, out);
        }
        let uptime = now.saturating_duration_since(self.started).as_secs_f64();
        let _ = write!(
            out,
            "# HELP reactord_uptime_seconds Seconds since the server started.\n\
             # TYPE reactord_uptime_seconds gauge\n\
             reactord_uptime_seconds {uptime:.3}\n"
        );
    }

    /// The seven counters, in the order of `write_prometheus`'s `own`.
    fn write_values(&self, values: [u64; 7], out: &mut Vec<u8>) {
        let [
            accepted,
            active,
            closed,
            rejected,
            timed_out,
            bytes_read,
            bytes_written,
        ] = values;
        let counters: [(&str, &str, &str, u64); 7] = [
            (
                "reactord_connections_accepted_total",
                "counter",
                "Connections accepted.",
                accepted,
            ),
            (
                "reactord_connections_active",
                "gauge",
                "Connections currently open.",
                active,
            ),
            (
                "reactord_connections_closed_total",
                "counter",
                "Connections closed.",
                closed,
            ),
            (
                "reactord_connections_rejected_total",
                "counter",
                "Connections refused at --max-connections.",
                rejected,
            ),
            (
                "reactord_connections_timed_out_total",
                "counter",
                "Connections closed by a timeout.",
                timed_out,
            ),
            (
                "reactord_bytes_read_total",
                "counter",
                "Bytes read from clients.",
                bytes_read,
            ),
            (
                "reactord_bytes_written_total",
                "counter",
                "Bytes written to clients.",
                bytes_written,
            ),
        ];
        // Writing into a Vec cannot fail; the results are ignored on purpose.
        for (name, kind, help, value) in counters {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        }
    }
}

/// The per-worker families: connections accepted and open, by worker.
fn write_per_worker(workers: &WorkerCounters, out: &mut Vec<u8>) {
    let families = [
        (
            "reactord_worker_connections_accepted_total",
            "counter",
            "Connections accepted, by worker.",
            0,
        ),
        (
            "reactord_worker_connections_active",
            "gauge",
            "Connections currently open, by worker.",
            1,
        ),
    ];
    for (name, kind, help, index) in families {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for slot in workers.read() {
            let value = slot.values.get(index).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "{name}{{worker=\"{}\",pid=\"{}\"}} {value}",
                slot.index, slot.pid
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_help_type_and_value_for_each_metric() {
        let mut m = Metrics::new(Instant::now());
        m.connections_accepted = 3;
        let mut out = Vec::new();
        m.write_prometheus(Instant::now(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("# TYPE reactord_connections_accepted_total counter\nreactord_connections_accepted_total 3\n"));
        assert!(text.contains("# TYPE reactord_uptime_seconds gauge\n"));
        assert!(text.ends_with('\n'));
    }
}
