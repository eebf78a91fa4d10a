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
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
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
        // SAFETY: timerfd_create takes no pointers; a non-negative result
        // is a new file descriptor that nothing else owns.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
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
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: libc::time_t::try_from(wait.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: libc::c_long::from(i32::try_from(wait.subsec_nanos()).unwrap_or(0)),
            },
        };
        // SAFETY: a valid timerfd and a valid itimerspec; the old value is
        // not asked for (null).
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        self.armed = (rc == 0).then_some(deadline);
    }

    /// The timer fired: consume the expiry so the next one raises a new
    /// edge.
    pub fn fired(&mut self) {
        let mut expirations = [0u8; 8];
        // SAFETY: reading 8 bytes into an 8-byte buffer from our own fd.
        let _ = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                expirations.as_mut_ptr().cast(),
                expirations.len(),
            )
        };
        self.armed = None;
    }
}
