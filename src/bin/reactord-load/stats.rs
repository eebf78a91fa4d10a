//! What a run measured: latencies in an HDR histogram, bytes, and errors
//! by kind; printed for people or as one JSON object for scripts.

use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::time::Duration;

/// Errors, by what went wrong.
#[derive(Debug, Default, Clone, Copy)]
pub struct Errors {
    /// The connection could not be established.
    pub connect: u64,
    /// The server reset or closed the connection with answers owed.
    pub reset: u64,
    /// An answer took longer than --timeout.
    pub timeout: u64,
    /// An answer that the protocol does not allow (bad framing, wrong echo
    /// bytes, wrong greeting).
    pub bad_response: u64,
    /// A valid HTTP answer with a status other than 2xx.
    pub status: u64,
}

impl Errors {
    /// All errors together.
    pub fn total(&self) -> u64 {
        self.connect + self.reset + self.timeout + self.bad_response + self.status
    }
}

/// The measurements of one run.
pub struct Stats {
    /// Latency of each successful request, in microseconds.
    pub latency: Histogram<u64>,
    /// Successful requests.
    pub requests: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Errors by kind.
    pub errors: Errors,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            // 1 µs to 1 hour, 3 significant digits: fixed size, no
            // allocation while recording.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .unwrap_or_else(|_| Histogram::new(3).expect("histogram")),
            requests: 0,
            bytes: 0,
            errors: Errors::default(),
        }
    }

    /// A successful request that took `latency`.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.latency.saturating_record(micros);
        self.requests += 1;
    }

    fn percentile(&self, q: f64) -> u64 {
        self.latency.value_at_quantile(q)
    }

    /// The report for people.
    pub fn text(&self, elapsed: Duration, label: &str) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let mut out = String::new();
        let _ = writeln!(out, "{label}");
        let _ = writeln!(
            out,
            "  {} requests in {:.2}s: {:.0} requests/s, {:.2} MB/s read",
            self.requests,
            secs,
            self.requests as f64 / secs,
            self.bytes as f64 / secs / 1e6
        );
        let _ = writeln!(
            out,
            "  latency µs: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            self.percentile(0.5),
            self.percentile(0.9),
            self.percentile(0.99),
            self.percentile(0.999),
            self.latency.max()
        );
        let e = self.errors;
        let _ = writeln!(
            out,
            "  errors: {} (connect {}, reset {}, timeout {}, bad response {}, status {})",
            e.total(),
            e.connect,
            e.reset,
            e.timeout,
            e.bad_response,
            e.status
        );
        out
    }

    /// One JSON object, for scripts.
    pub fn json(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let e = self.errors;
        format!(
            "{{\"requests\":{},\"duration_s\":{:.3},\"rps\":{:.1},\"bytes_per_s\":{:.1},\
             \"latency_us\":{{\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"max\":{}}},\
             \"errors\":{{\"total\":{},\"connect\":{},\"reset\":{},\"timeout\":{},\"bad_response\":{},\"status\":{}}}}}",
            self.requests,
            secs,
            self.requests as f64 / secs,
            self.bytes as f64 / secs,
            self.percentile(0.5),
            self.percentile(0.9),
            self.percentile(0.99),
            self.percentile(0.999),
            self.latency.max(),
            e.total(),
            e.connect,
            e.reset,
            e.timeout,
            e.bad_response,
            e.status
        )
    }
}
