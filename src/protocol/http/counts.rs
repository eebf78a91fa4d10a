//! HTTP's own metrics: responses by status class. They live here, with the
//! protocol that has statuses, not in the reactor's counters (which know
//! only connections and bytes); /metrics shows both.

use std::io::Write;

/// Responses sent, by status class: index 0 is 1xx, ..., index 4 is 5xx.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResponseCounts {
    by_class: [u64; 5],
}

impl ResponseCounts {
    /// Count one response with this status code; codes outside 100..=599
    /// are not counted.
    pub fn count(&mut self, status: u16) {
        if !(100..600).contains(&status) {
            return;
        }
        if let Some(slot) = self.by_class.get_mut(usize::from(status / 100 - 1)) {
            *slot += 1;
        }
    }

    /// The counts, 1xx first: what a worker shares with the others.
    pub fn as_slice(&self) -> &[u64] {
        &self.by_class
    }

    /// Append `reactord_http_responses_total` in the Prometheus text
    /// exposition format, one line per class, from `by_class` (1xx
    /// first): this process's counts, or with workers every worker's
    /// added up (see `Http::shared_counters`).
    pub fn write_prometheus(by_class: &[u64], out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail; the results are ignored on purpose.
        let _ = write!(
            out,
            "# HELP reactord_http_responses_total Responses by status class.\n\
             # TYPE reactord_http_responses_total counter\n"
        );
        for (i, value) in by_class.iter().enumerate() {
            let _ = writeln!(
                out,
                "reactord_http_responses_total{{class=\"{}xx\"}} {value}",
                i + 1
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_counted_by_class_and_odd_statuses_are_ignored() {
        let mut counts = ResponseCounts::default();
        for status in [100, 200, 204, 304, 404, 503, 0, 700] {
            counts.count(status);
        }
        assert_eq!(counts.by_class, [1, 2, 1, 1, 1]);
        let mut out = Vec::new();
        ResponseCounts::write_prometheus(counts.as_slice(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("reactord_http_responses_total{class=\"2xx\"} 2\n"));
    }
}
