//! The server's counters: what /metrics shows and what the logs summarise.
//!
//! Plain integers, not atomics: the whole server is one thread, so the loop
//! and the protocols update them with ordinary additions.

use std::io::Write;
use std::time::Instant;

/// Counters since start. The reactor counts connections and bytes; a
/// protocol that has statuses counts requests with [`Metrics::count_response`].
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
    /// Responses by status class: index 0 is 1xx, ..., index 4 is 5xx.
    pub responses_by_class: [u64; 5],
    /// Bytes read from clients.
    pub bytes_read: u64,
    /// Bytes written to clients.
    pub bytes_written: u64,
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
            responses_by_class: [0; 5],
            bytes_read: 0,
            bytes_written: 0,
        }
    }

    /// Count one response with this status code.
    pub fn count_response(&mut self, status: u16) {
        if !(100..600).contains(&status) {
            return;
        }
        if let Some(slot) = self
            .responses_by_class
            .get_mut(usize::from(status / 100 - 1))
        {
            *slot += 1;
        }
    }

    /// Append the counters in the Prometheus text exposition format, version
    /// 0.0.4 (`# HELP`, `# TYPE`, then one `name{labels} value` per line).
    pub fn write_prometheus(&self, now: Instant, out: &mut Vec<u8>) {
        let counters: [(&str, &str, &str, u64); 7] = [
            (
                "reactord_connections_accepted_total",
                "counter",
                "Connections accepted.",
                self.connections_accepted,
            ),
            (
                "reactord_connections_active",
                "gauge",
                "Connections currently open.",
                self.connections_active,
            ),
            (
                "reactord_connections_closed_total",
                "counter",
                "Connections closed.",
                self.connections_closed,
            ),
            (
                "reactord_connections_rejected_total",
                "counter",
                "Connections refused at --max-connections.",
                self.connections_rejected,
            ),
            (
                "reactord_connections_timed_out_total",
                "counter",
                "Connections closed by a timeout.",
                self.connections_timed_out,
            ),
            (
                "reactord_bytes_read_total",
                "counter",
                "Bytes read from clients.",
                self.bytes_read,
            ),
            (
                "reactord_bytes_written_total",
                "counter",
                "Bytes written to clients.",
                self.bytes_written,
            ),
        ];
        // Writing into a Vec cannot fail; the results are ignored on purpose.
        for (name, kind, help, value) in counters {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        }
        let _ = write!(
            out,
            "# HELP reactord_http_responses_total Responses by status class.\n\
             # TYPE reactord_http_responses_total counter\n"
        );
        for (i, value) in self.responses_by_class.iter().enumerate() {
            let _ = writeln!(
                out,
                "reactord_http_responses_total{{class=\"{}xx\"}} {value}",
                i + 1
            );
        }
        let uptime = now.saturating_duration_since(self.started).as_secs_f64();
        let _ = write!(
            out,
            "# HELP reactord_uptime_seconds Seconds since the server started.\n\
             # TYPE reactord_uptime_seconds gauge\n\
             reactord_uptime_seconds {uptime:.3}\n"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_counted_by_class_and_odd_statuses_are_ignored() {
        let mut m = Metrics::new(Instant::now());
        for status in [100, 200, 204, 304, 404, 503, 0, 700] {
            m.count_response(status);
        }
        assert_eq!(m.responses_by_class, [1, 2, 1, 1, 1]);
    }

    #[test]
    fn prometheus_text_has_help_type_and_value_for_each_metric() {
        let mut m = Metrics::new(Instant::now());
        m.connections_accepted = 3;
        let mut out = Vec::new();
        m.write_prometheus(Instant::now(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("# TYPE reactord_connections_accepted_total counter\nreactord_connections_accepted_total 3\n"));
        assert!(text.contains("reactord_http_responses_total{class=\"2xx\"} 0\n"));
        assert!(text.ends_with('\n'));
    }
}
