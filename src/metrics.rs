//! The server's counters: what /metrics shows and what the logs summarise.
//!
//! Plain integers, not atomics: the whole server is one thread, so the loop
//! updates them with ordinary additions. With `--workers`, the process
//! layer copies them where the other workers can add them up (its shared
//! memory, `process::worker_metrics`), and /metrics shows the sums through
//! [`ServerTotals`], a trait this module defines and the process layer
//! implements: so this module, the reactor and the protocols never name
//! the process layer. A single process has no totals and pays nothing.
//!
//! These are the reactor's counters, about connections and bytes: the same
//! for every protocol. A protocol sees them read-only (`Context::metrics`
//! is a shared reference), so it can show them but never overwrite a
//! gauge; what only a protocol knows (HTTP's responses by status class)
//! it counts itself and appends to its own /metrics page.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

/// How many counters [`Metrics::values`] holds: the reactor's share of a
/// worker's slot.
pub const REACTOR_COUNTERS: usize = 7;

/// How many counters of its own a protocol may share
/// (`Protocol::counters`): what a worker's slot has room for after the
/// reactor's.
pub const MAX_PROTOCOL_COUNTERS: usize = 24;

/// The whole server's counters when it is several processes (`--workers`):
/// the process layer implements it over its shared memory, and a
/// [`Metrics`] that holds one (see [`Metrics::add_up_with`]) shows its sums
/// on /metrics instead of this process's own counts.
pub trait ServerTotals: std::fmt::Debug {
    /// Make this process's reactor counters part of the totals now.
    fn publish(&self, own: &Metrics);
    /// Make this process's protocol counters part of the totals now.
    fn publish_protocol(&self, own: &[u64]);
    /// The reactor's counters, summed over every process, in
    /// [`Metrics::values`] order.
    fn reactor_totals(&self) -> [u64; REACTOR_COUNTERS];
    /// The protocol's counters, summed over every process, into `totals`
    /// (as many as it holds).
    fn protocol_totals(&self, totals: &mut [u64]);
    /// Each process's share, for the per-worker families, in index order.
    fn each_process(&self, row: &mut dyn FnMut(ProcessShare));
}

/// One process's line in the per-worker families of /metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessShare {
    /// Its slot: the `worker` label.
    pub index: usize,
    /// Its pid: the `pid` label.
    pub pid: u64,
    /// Connections it accepted.
    pub accepted: u64,
    /// Connections it has open.
    pub active: u64,
}

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
    /// With `--workers`: where every worker's counters meet, so /metrics
    /// shows the whole server. None for a single process, which then pays
    /// nothing for it.
    totals: Option<Arc<dyn ServerTotals>>,
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
            totals: None,
        }
    }

    /// Report the whole server's counters, from `totals`, instead of this
    /// process's alone.
    pub fn add_up_with(&mut self, totals: Arc<dyn ServerTotals>) {
        self.totals = Some(totals);
    }

    /// The reactor's counters, in the order [`ServerTotals`] keeps them.
    pub fn values(&self) -> [u64; REACTOR_COUNTERS] {
        [
            self.connections_accepted,
            self.connections_active,
            self.connections_closed,
            self.connections_rejected,
            self.connections_timed_out,
            self.bytes_read,
            self.bytes_written,
        ]
    }

    /// For a protocol's /metrics: replace `own`, this process's protocol
    /// counters, by the whole server's sums (with `--workers`; this
    /// process's are made part of them first, so they are current). A
    /// single process leaves `own` as it is.
    pub fn add_up_protocol(&self, own: &mut [u64]) {
        if let Some(totals) = &self.totals {
            totals.publish_protocol(own);
            totals.protocol_totals(own);
        }
    }

    /// Append the counters in the Prometheus text exposition format, version
    /// 0.0.4 (`# HELP`, `# TYPE`, then one `name{labels} value` per line).
    ///
    /// With workers, each value is the sum over all of them, and two
    /// families with a `worker` label (the worker's slot) and its `pid`
    /// show how the connections are spread: accepted and open.
    pub fn write_prometheus(&self, now: Instant, out: &mut Vec<u8>) {
        let values = match &self.totals {
            Some(totals) => {
                totals.publish(self);
                totals.reactor_totals()
            }
            None => self.values(),
        };
        self.write_values(values, out);
        if let Some(totals) = &self.totals {
            write_per_worker(&**totals, out);
        }
        let uptime = now.saturating_duration_since(self.started).as_secs_f64();
        let _ = write!(
            out,
            "# HELP reactord_uptime_seconds Seconds since the server started.\n\
             # TYPE reactord_uptime_seconds gauge\n\
             reactord_uptime_seconds {uptime:.3}\n"
        );
    }

    /// The seven counters, in [`Metrics::values`] order.
    fn write_values(&self, values: [u64; REACTOR_COUNTERS], out: &mut Vec<u8>) {
        let [
            accepted,
            active,
            closed,
            rejected,
            timed_out,
            bytes_read,
            bytes_written,
        ] = values;
        let counters: [(&str, &str, &str, u64); REACTOR_COUNTERS] = [
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
fn write_per_worker(totals: &dyn ServerTotals, out: &mut Vec<u8>) {
    type Pick = fn(&ProcessShare) -> u64;
    let families: [(&str, &str, &str, Pick); 2] = [
        (
            "reactord_worker_connections_accepted_total",
            "counter",
            "Connections accepted, by worker.",
            |share| share.accepted,
        ),
        (
            "reactord_worker_connections_active",
            "gauge",
            "Connections currently open, by worker.",
            |share| share.active,
        ),
    ];
    for (name, kind, help, pick) in families {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        totals.each_process(&mut |share| {
            let _ = writeln!(
                out,
                "{name}{{worker=\"{}\",pid=\"{}\"}} {}",
                share.index,
                share.pid,
                pick(&share)
            );
        });
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
