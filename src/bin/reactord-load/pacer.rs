//! Open loop's alarm clock: a `timerfd` registered with the reactor, so the
//! loop wakes at the next request's intended send time to the microsecond.
//!
//! Why not the poll timeout: epoll's timeout is in milliseconds and mio
//! rounds it *up*, so a request due in 300 µs would go out up to a whole
//! millisecond late, and that lateness would be counted as the server's
//! (latency is timed from the intended send). A timerfd has nanosecond
//! resolution and costs one `timerfd_settime` per re-arm and one `read`
//! per expiry, only in open loop.

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// A one-shot monotonic timer on the reactor.
pub struct Pacer {
    fd: OwnedFd,
    /// The deadline the timer is armed for, if any.
    armed: Option<Instant>,
}

impl Pacer {
    /// A timer registered for readability under `token`.
    pub fn new(registry: &Registry, token: Token) -> io::Result<Pacer> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
        Ok(Pacer { fd, armed: None })
    }

    /// Make sure the timer fires by `deadline` (`now` is the current time).
    /// A timer already armed for that deadline is left alone: no syscall.
    pub fn arm(&mut self, deadline: Instant, now: Instant) {
        if self.armed == Some(deadline) {
            return;
        }
        // At least 1 ns: an all-zero it_value would disarm the timer.
        let wait = deadline
            .saturating_duration_since(now)
            .max(Duration::from_nanos(1));
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: wait.subsec_nanos().into(),
            },
        };
        let armed = timerfd_settime(&self.fd, TimerfdTimerFlags::empty(), &spec);
        self.armed = armed.is_ok().then_some(deadline);
    }

    /// The timer fired: consume the expiry so the next one raises a new
    /// edge.
    pub fn fired(&mut self) {
        let mut expirations = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut expirations);
        self.armed = None;
    }
}
