//! A run's results as text for people, one JSON object for scripts, the
//! full latency distribution in HdrHistogram's `.hgrm` text format, and a
//! per-second CSV timeline. The picture is `plot.rs`.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use crate::stats::Stats;
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::time::Duration;

/// A finished run: the merged measurements and what each worker did.
pub struct Run<'a> {
    pub stats: &'a Stats,
    /// The measured time (after the warm-up).
    pub elapsed: Duration,
    /// Each worker's answered requests, in worker order.
    pub workers: Vec<u64>,
    /// Open loop: the requested rate in requests/s.
    pub target_rate: Option<f64>,
}

impl Run<'_> {
    fn secs(&self) -> f64 {
        self.elapsed.as_secs_f64().max(1e-9)
    }

    fn rps(&self) -> f64 {
        self.stats.requests as f64 / self.secs()
    }

    /// Open loop: requests sent per second, and whether that fell below
    /// 99% of the target (the generator or the connections could not keep
    /// up, so the run measured a lighter load than asked).
    pub fn achieved_rate(&self) -> Option<(f64, bool)> {
        let target = self.target_rate?;
        let achieved = self.stats.sent as f64 / self.secs();
        Some((achieved, achieved < 0.99 * target))
    }

    /// Send lag percentiles (µs): p50, p99, max.
    fn send_lag(&self) -> (u64, u64, u64) {
        // Stored plus one (see Stats::sent).
        let lag = &self.stats.send_lag;
        let at = |q| lag.value_at_quantile(q).saturating_sub(1);
        (at(0.5), at(0.99), lag.max().saturating_sub(1))
    }

    /// The report for people.
    pub fn text(&self, label: &str) -> String {
        let s = self.stats;
        let mut out = String::new();
        let _ = writeln!(out, "{label}");
        let _ = writeln!(
            out,
            "  {} requests in {:.2}s: {:.0} requests/s, {:.2} MB/s read",
            s.requests,
            self.secs(),
            self.rps(),
            s.bytes as f64 / self.secs() / 1e6
        );
        let l = &s.latency;
        let _ = writeln!(
            out,
            "  latency µs: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            l.value_at_quantile(0.5),
            l.value_at_quantile(0.9),
            l.value_at_quantile(0.99),
            l.value_at_quantile(0.999),
            l.max()
        );
        if !s.connect.is_empty() {
            let c = &s.connect;
            let _ = writeln!(
                out,
                "  connect µs: p50 {}  p99 {}  max {}  ({} connections)",
                c.value_at_quantile(0.5),
                c.value_at_quantile(0.99),
                c.max(),
                c.len()
            );
        }
        if let Some((achieved, short)) = self.achieved_rate() {
            let (p50, p99, max) = self.send_lag();
            let _ = writeln!(
                out,
                "  open loop: sent {achieved:.0} req/s of {:.0} asked; send lag µs: p50 {p50}  p99 {p99}  max {max}",
                self.target_rate.unwrap_or_default()
            );
            if short {
                let _ = writeln!(
                    out,
                    "  WARNING: the achieved rate is below 99% of the target: add connections, workers or --pipeline"
                );
            }
        }
        if !s.statuses.is_empty() {
            let codes: Vec<String> = s
                .statuses
                .iter()
                .map(|(c, n)| format!("{c}: {n}"))
                .collect();
            let _ = writeln!(out, "  status: {}", codes.join(", "));
        }
        let e = s.errors;
        let _ = writeln!(
            out,
            "  errors: {} (connect {}, reset {}, timeout {}, end of run {}, bad response {}, status {})",
            e.total(),
            e.connect,
            e.reset,
            e.timeout,
            e.end_of_run,
            e.bad_response,
            e.status
        );
        for (reason, n) in &s.bad_reasons {
            let _ = writeln!(out, "    bad response: {reason} ({n})");
        }
        if self.workers.len() > 1 {
            let total = s.requests.max(1) as f64;
            let shares: Vec<String> = self
                .workers
                .iter()
                .enumerate()
                .map(|(i, &n)| format!("#{i} {n} ({:.1}%)", 100.0 * n as f64 / total))
                .collect();
            let _ = writeln!(out, "  workers: {}", shares.join(", "));
        }
        out
    }

    /// One JSON object, for scripts. The keys of earlier versions keep
    /// their meaning; `requests` counts every answered request (non-2xx
    /// too, as `statuses` shows).
    pub fn json(&self) -> String {
        let s = self.stats;
        let e = s.errors;
        let mut out = String::new();
        let _ = write!(
            out,
            "{{\"requests\":{},\"duration_s\":{:.3},\"rps\":{:.1},\"bytes\":{},\"bytes_per_s\":{:.1},\"latency_us\":{}",
            s.requests,
            self.secs(),
            self.rps(),
            s.bytes,
            s.bytes as f64 / self.secs(),
            percentiles(&s.latency)
        );
        let _ = write!(out, ",\"connect_us\":{}", percentiles(&s.connect));
        let statuses: Vec<String> = s
            .statuses
            .iter()
            .map(|(c, n)| format!("\"{c}\":{n}"))
            .collect();
        let _ = write!(out, ",\"statuses\":{{{}}}", statuses.join(","));
        let _ = write!(
            out,
            ",\"errors\":{{\"total\":{},\"connect\":{},\"reset\":{},\"timeout\":{},\"end_of_run\":{},\"bad_response\":{},\"status\":{}}}",
            e.total(),
            e.connect,
            e.reset,
            e.timeout,
            e.end_of_run,
            e.bad_response,
            e.status
        );
        let reasons: Vec<String> = s
            .bad_reasons
            .iter()
            .map(|(r, n)| format!("{}:{n}", json_string(r)))
            .collect();
        let _ = write!(out, ",\"bad_reasons\":{{{}}}", reasons.join(","));
        if let Some((achieved, short)) = self.achieved_rate() {
            let (p50, p99, max) = self.send_lag();
            let _ = write!(
                out,
                ",\"open_loop\":{{\"target_rps\":{:.1},\"sent_rps\":{achieved:.1},\"below_target\":{short},\"send_lag_us\":{{\"p50\":{p50},\"p99\":{p99},\"max\":{max}}}}}",
                self.target_rate.unwrap_or_default()
            );
        }
        let workers: Vec<String> = self.workers.iter().map(u64::to_string).collect();
        let _ = write!(out, ",\"worker_requests\":[{}]}}", workers.join(","));
        out
    }
}

/// `{"p50":..,"p90":..,"p99":..,"p999":..,"max":..}` in µs.
fn percentiles(h: &Histogram<u64>) -> String {
    format!(
        "{{\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"max\":{}}}",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    )
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The latency distribution as HdrHistogram's percentile-distribution
/// text (what Java's `outputPercentileDistribution(out, 5, 1000.0)` and
/// wrk2's `--u_latency` print), values in milliseconds: the `.hgrm` files
/// HdrHistogram's plotter and other tools read.
pub fn hgrm(h: &Histogram<u64>) -> String {
    const SCALE: f64 = 1000.0; // µs recorded, ms written
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(5) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / SCALE;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:12.3} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
            }
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / SCALE,
        h.stdev() / SCALE
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        h.max() as f64 / SCALE,
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        // HdrHistogram's sub-bucket count for this precision.
        (2 * 10u32.pow(u32::from(h.sigfig()))).next_power_of_two()
    );
    out
}

/// The per-second timeline as CSV: second, requests, errors, p50_us,
/// p99_us, max_us (latency columns empty in a second with no answers).
pub fn timeline_csv(stats: &Stats) -> String {
    let mut out = String::from("second,requests,errors,p50_us,p99_us,max_us\n");
    for (i, row) in stats.timeline.iter().flatten().enumerate() {
        if row.latency.is_empty() {
            let _ = writeln!(out, "{i},{},{},,,", row.requests, row.errors);
        } else {
            let _ = writeln!(
                out,
                "{i},{},{},{},{},{}",
                row.requests,
                row.errors,
                row.latency.value_at_quantile(0.5),
                row.latency.value_at_quantile(0.99),
                row.latency.max()
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn hgrm_has_the_header_rows_and_footer_of_the_format() {
        let start = Instant::now();
        let mut stats = Stats::new(start, false);
        for us in 1..=10_000 {
            stats.record(start, Duration::from_micros(us), 200);
        }
        let text = hgrm(&stats.latency);
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
            ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
        );
        assert_eq!(lines.next(), Some(""));
        let rows: Vec<Vec<f64>> = text
            .lines()
            .skip(2)
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().map(|f| f.parse().unwrap()).collect())
            .collect();
        assert!(rows.len() > 20);
        assert_eq!(rows.last().unwrap().len(), 3);
        assert_eq!(rows.last().unwrap()[2], 10_000.0);
        assert!(
            rows.windows(2)
                .all(|w| w[0][0] <= w[1][0] && w[0][1] <= w[1][1])
        );
        assert!(text.contains("Total count    =        10000]"));
    }

    #[test]
    fn timeline_rows_are_per_second() {
        let start = Instant::now();
        let mut stats = Stats::new(start, true);
        stats.record(start, Duration::from_micros(100), 200);
        stats.record(
            start + Duration::from_millis(2500),
            Duration::from_micros(200),
            500,
        );
        let csv = timeline_csv(&stats);
        assert_eq!(
            csv,
            "second,requests,errors,p50_us,p99_us,max_us\n0,1,0,100,100,100\n1,0,0,,,\n2,1,1,200,200,200\n"
        );
    }
}
