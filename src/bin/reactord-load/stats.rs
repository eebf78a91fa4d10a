//! What a run measured: latencies, connect times and (in open loop) send
//! lag in HDR histograms, counts per status code, bytes, errors by kind,
//! and optionally a per-second timeline. One `Stats` per worker; a run's
//! report is their exact sum ([`Stats::merge`]: HDR histograms add
//! bucket by bucket, so merged percentiles are those of all the samples,
//! not an average of percentiles). Formatting lives in `report.rs`.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Errors, by what went wrong. Every request that was sent and not
/// answered lands in exactly one of reset, timeout or end_of_run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Errors {
    /// A connection could not be established (counted per attempt).
    pub connect: u64,
    /// Requests lost because the server reset or closed the connection
    /// with answers owed (each request in flight counts).
    pub reset: u64,
    /// Requests lost to `--timeout`: the late one and any pipelined
    /// behind it on the same connection, which is closed.
    pub timeout: u64,
    /// Requests still in flight when the run ended (and, in open loop,
    /// requests scheduled but never sent because every connection was
    /// busy): the tail a run would otherwise silently drop.
    pub end_of_run: u64,
    /// Responses that broke the framing rules (see `bad_reasons`), wrong
    /// echo bytes or a wrong greeting.
    pub bad_response: u64,
    /// Valid HTTP responses with a status other than 2xx (their latencies
    /// are recorded too; see `statuses`).
    pub status: u64,
}

impl Errors {
    /// All errors together.
    pub fn total(&self) -> u64 {
        self.connect + self.reset + self.timeout + self.end_of_run + self.bad_response + self.status
    }

    fn add(&mut self, other: &Errors) {
        self.connect += other.connect;
        self.reset += other.reset;
        self.timeout += other.timeout;
        self.end_of_run += other.end_of_run;
        self.bad_response += other.bad_response;
        self.status += other.status;
    }
}

/// One second of the run (from the end of the warm-up).
pub struct Second {
    pub requests: u64,
    pub errors: u64,
    /// Latencies completed in this second (2 significant digits: enough for
    /// a time series, and 26 KiB a second instead of 200).
    pub latency: Histogram<u64>,
}

impl Second {
    fn new() -> Second {
        Second {
            requests: 0,
            errors: 0,
            latency: histogram(2),
        }
    }
}

/// The measurements of one worker, or of a whole run once merged.
pub struct Stats {
    /// Latency of every answered request, any status, in microseconds.
    pub latency: Histogram<u64>,
    /// Time from `connect()` to the socket being writable, microseconds.
    pub connect: Histogram<u64>,
    /// Open loop: actual send time minus intended send time, microseconds
    /// (the generator's own lateness, which the latency includes).
    pub send_lag: Histogram<u64>,
    /// Answered requests (any status).
    pub requests: u64,
    /// Answered requests by status code (HTTP only).
    pub statuses: BTreeMap<u16, u64>,
    /// Bytes received.
    pub bytes: u64,
    /// Errors by kind.
    pub errors: Errors,
    /// How many bad responses had each reason.
    pub bad_reasons: BTreeMap<&'static str, u64>,
    /// Per-second rows, kept only when asked for (--timeline, --plot).
    pub timeline: Option<Vec<Second>>,
    /// Requests sent after the warm-up (for the achieved rate).
    pub sent: u64,
    /// When counting starts (the end of the warm-up): earlier events are
    /// not counted, and timeline seconds count from here.
    pub since: Instant,
    /// The last timeline row of a timed run: what completes as the run
    /// stops (the last answers, the end-of-run errors) belongs to its last
    /// second, not to a second of its own that the run never had.
    pub last_second: Option<usize>,
}

/// 1 µs to 1 hour: fixed size, no allocation while recording. Only ever
/// called with the constant digits 2 and 3, which these bounds accept.
fn histogram(digits: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, digits).expect("constant, valid bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl Stats {
    pub fn new(since: Instant, timeline: bool) -> Stats {
        Stats {
            latency: histogram(3),
            connect: histogram(3),
            send_lag: histogram(3),
            requests: 0,
            statuses: BTreeMap::new(),
            bytes: 0,
            errors: Errors::default(),
            bad_reasons: BTreeMap::new(),
            timeline: timeline.then(Vec::new),
            sent: 0,
            since,
            last_second: None,
        }
    }

    /// True once the warm-up is over.
    pub fn counting(&self, now: Instant) -> bool {
        now >= self.since
    }

    /// The timeline row for `now`, created on first use.
    fn second(&mut self, now: Instant) -> Option<&mut Second> {
        let index = usize::try_from(now.saturating_duration_since(self.since).as_secs()).ok()?;
        let index = self.last_second.map_or(index, |last| index.min(last));
        let rows = self.timeline.as_mut()?;
        while rows.len() <= index {
            rows.push(Second::new());
        }
        rows.get_mut(index)
    }

    /// A timed run has a row for each of its seconds, answers or not.
    pub fn pad_timeline(&mut self) {
        if let (Some(rows), Some(last)) = (self.timeline.as_mut(), self.last_second) {
            while rows.len() <= last {
                rows.push(Second::new());
            }
        }
    }

    /// An answered request: its latency, and its status (0 for echo and
    /// greeting, which have none). Non-2xx statuses are also errors.
    pub fn record(&mut self, now: Instant, latency: Duration, status: u16) {
        if !self.counting(now) {
            return;
        }
        let us = micros(latency);
        self.latency.saturating_record(us);
        self.requests += 1;
        let failed = status != 0 && !(200..300).contains(&status);
        if status != 0 {
            *self.statuses.entry(status).or_insert(0) += 1;
        }
        if failed {
            self.errors.status += 1;
        }
        if let Some(second) = self.second(now) {
            second.requests += 1;
            second.errors += u64::from(failed);
            second.latency.saturating_record(us);
        }
    }

    /// Requests lost or errors of some kind, at `now` (ignored in the
    /// warm-up). `kind` picks the counter.
    pub fn error(&mut self, now: Instant, kind: fn(&mut Errors) -> &mut u64, count: u64) {
        if !self.counting(now) || count == 0 {
            return;
        }
        *kind(&mut self.errors) += count;
        if let Some(second) = self.second(now) {
            second.errors += count;
        }
    }

    /// A response that broke the rules, with the reason.
    pub fn bad_response(&mut self, now: Instant, reason: &'static str) {
        if !self.counting(now) {
            return;
        }
        self.error(now, |e| &mut e.bad_response, 1);
        *self.bad_reasons.entry(reason).or_insert(0) += 1;
    }

    /// A connection established `took` after its connect() call. Counted
    /// in the warm-up too: keep-alive connections are mostly opened then.
    pub fn connected(&mut self, took: Duration) {
        self.connect.saturating_record(micros(took));
    }

    /// Open loop: a request meant for `intended` went out at `now`.
    pub fn sent(&mut self, now: Instant, intended: Instant) {
        if !self.counting(now) {
            return;
        }
        self.sent += 1;
        let lag =
            u64::try_from(now.saturating_duration_since(intended).as_micros()).unwrap_or(u64::MAX);
        // 0 µs is a real value here (sent on time); the histogram starts
        // at 1, so lags are stored plus one and reported minus one.
        self.send_lag.saturating_record(lag.saturating_add(1));
    }

    /// Add another worker's measurements (exact: HDR addition).
    pub fn merge(&mut self, other: &Stats) {
        let _ = self.latency.add(&other.latency);
        let _ = self.connect.add(&other.connect);
        let _ = self.send_lag.add(&other.send_lag);
        self.requests += other.requests;
        for (&status, &n) in &other.statuses {
            *self.statuses.entry(status).or_insert(0) += n;
        }
        self.bytes += other.bytes;
        self.errors.add(&other.errors);
        for (&reason, &n) in &other.bad_reasons {
            *self.bad_reasons.entry(reason).or_insert(0) += n;
        }
        if let (Some(mine), Some(theirs)) = (self.timeline.as_mut(), other.timeline.as_ref()) {
            for (index, row) in theirs.iter().enumerate() {
                while mine.len() <= index {
                    mine.push(Second::new());
                }
                if let Some(target) = mine.get_mut(index) {
                    target.requests += row.requests;
                    target.errors += row.errors;
                    let _ = target.latency.add(&row.latency);
                }
            }
        }
        self.sent += other.sent;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_counts_and_histograms_exactly() {
        let start = Instant::now();
        let mut a = Stats::new(start, true);
        let mut b = Stats::new(start, true);
        for us in 1..=1000 {
            a.record(start, Duration::from_micros(us), 200);
        }
        for us in 1001..=2000 {
            b.record(
                start + Duration::from_millis(1500),
                Duration::from_micros(us),
                503,
            );
        }
        b.error(start, |e| &mut e.reset, 3);
        a.merge(&b);
        assert_eq!(a.requests, 2000);
        assert_eq!(a.latency.len(), 2000);
        assert_eq!(a.statuses.get(&200), Some(&1000));
        assert_eq!(a.statuses.get(&503), Some(&1000));
        assert_eq!(a.errors.status, 1000);
        assert_eq!(a.errors.reset, 3);
        let p50 = a.latency.value_at_quantile(0.5);
        assert!((995..=1005).contains(&p50), "{p50}");
        let rows = a.timeline.as_ref().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].requests, rows[0].errors), (1000, 3));
        assert_eq!((rows[1].requests, rows[1].errors), (1000, 1000));
    }

    #[test]
    fn the_warm_up_is_not_counted() {
        let start = Instant::now();
        let mut stats = Stats::new(start + Duration::from_secs(1), false);
        stats.record(start, Duration::from_micros(5), 200);
        stats.error(start, |e| &mut e.timeout, 1);
        stats.bad_response(start, "x");
        assert_eq!((stats.requests, stats.errors.total()), (0, 0));
        stats.record(
            start + Duration::from_secs(1),
            Duration::from_micros(5),
            200,
        );
        assert_eq!(stats.requests, 1);
    }
}
