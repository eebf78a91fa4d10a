//! The once-a-second `STATUS=` line and `WATCHDOG=1` ping to a service
//! manager: one piece, used by a server's loop (through
//! [`LoopHooks`](crate::process::loop_hooks::LoopHooks)) and by the
//! supervisor, each from its own loop, so that a loop that stops turning
//! stops pinging and the service manager notices.

use crate::process::service::Notifier;
use std::time::{Duration, Instant};

/// How often the status goes out (and, at most, how long between two
/// `WATCHDOG=1`, which go at half the service manager's interval when that
/// is shorter: systemd's advice).
pub const STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// When the next status report is due, for a loop that sends them to a
/// [`Notifier`].
#[derive(Debug, Clone, Copy)]
pub struct StatusTick {
    next: Instant,
}

impl StatusTick {
    /// The first report, one interval after `now`.
    pub fn start(notifier: Option<&Notifier>, now: Instant) -> StatusTick {
        StatusTick {
            next: after(now, interval(notifier)),
        }
    }

    /// The first report at `at` (the supervisor reports at once).
    pub fn at(at: Instant) -> StatusTick {
        StatusTick { next: at }
    }

    /// When the next report is due.
    pub fn due(&self) -> Instant {
        self.next
    }

    /// Send `STATUS={status}`, with `WATCHDOG=1` when the service manager
    /// expects it, and schedule the next report. Without a notifier, only
    /// the schedule moves.
    pub fn report(&mut self, notifier: Option<&Notifier>, now: Instant, status: &str) {
        self.next = after(now, interval(notifier));
        let Some(notifier) = notifier else {
            return;
        };
        let watchdog = if notifier.watchdog().is_some() {
            "\nWATCHDOG=1"
        } else {
            ""
        };
        notifier.notify(&format!("STATUS={status}{watchdog}"));
    }
}

/// Once a second, or at half the watchdog interval when that is shorter.
fn interval(notifier: Option<&Notifier>) -> Duration {
    match notifier.and_then(Notifier::watchdog) {
        Some(watchdog) => STATUS_INTERVAL.min(watchdog / 2),
        None => STATUS_INTERVAL,
    }
}

/// `now + wait`, or a year on when that does not fit the clock (as the
/// reactor's deadlines do).
fn after(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait)
        .or_else(|| now.checked_add(crate::config::TIMEOUT_CEILING))
        .unwrap_or(now)
}
