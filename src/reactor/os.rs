//! The raw system calls the reactor makes that neither mio nor socket2
//! wraps: `EPOLLEXCLUSIVE` registration (and its removal) and
//! `TCP_DEFER_ACCEPT`. Kept here, small, so the `unsafe` in the reactor's
//! loop is in one place (mio keeps its own in `src/sys/`).

use mio::{Interest, Poll, Token};
use std::io;
use std::time::Duration;

/// Register `listener` (not registered now) on `poll` for readable edges
/// with `EPOLLEXCLUSIVE` under `token`, in place of mio's registration
/// (which does not offer the flag): the kernel wakes one waiting poller
/// per connection instead of every one watching the socket.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn add_exclusive(
    poll: &Poll,
    listener: &mut mio::net::TcpListener,
    token: Token,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut event = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLET | libc::EPOLLEXCLUSIVE) as u32,
        // mio reads an event's token from this field.
        u64: token.0 as u64,
    };
    // SAFETY: epoll_ctl reads one epoll_event we own, for the duration of
    // the call; both descriptors are open for it (the poller and the
    // listener are borrowed).
    let rc = unsafe {
        libc::epoll_ctl(
            poll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            listener.as_raw_fd(),
            &mut event,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Elsewhere the plain registration: every poller wakes.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn add_exclusive(
    poll: &Poll,
    listener: &mut mio::net::TcpListener,
    token: Token,
) -> io::Result<()> {
    add_plain(poll, listener, token)
}

/// Undo [`add_exclusive`]: `EPOLL_CTL_DEL` on the poller's descriptor.
/// (mio's `deregister` can't undo a registration made behind its back:
/// debug builds of mio track their registrations and refuse.)
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn remove_exclusive(
    poll: &Poll,
    listener: &mut mio::net::TcpListener,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: EPOLL_CTL_DEL ignores the event pointer (null is allowed
    // since Linux 2.6.9); both descriptors are open for the call.
    let rc = unsafe {
        libc::epoll_ctl(
            poll.as_raw_fd(),
            libc::EPOLL_CTL_DEL,
            listener.as_raw_fd(),
            std::ptr::null_mut(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Elsewhere `add_exclusive` was mio's registration.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn remove_exclusive(
    poll: &Poll,
    listener: &mut mio::net::TcpListener,
) -> io::Result<()> {
    poll.registry().deregister(listener)
}

/// The plain registration for readable edges, as mio makes it.
pub(crate) fn add_plain(
    poll: &Poll,
    listener: &mut mio::net::TcpListener,
    token: Token,
) -> io::Result<()> {
    poll.registry()
        .register(listener, token, Interest::READABLE)
}

/// TCP_DEFER_ACCEPT, which socket2 and rustix do not wrap. The kernel
/// counts the wait in SYN-ACK retransmissions, rounding the seconds up to
/// the next one.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn set_defer_accept(socket: &socket2::Socket, wait: Duration) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let seconds = libc::c_int::try_from(wait.as_secs().max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live c_int
    // we own; the socket is borrowed, so open for the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&seconds as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `Config::validate` refuses --defer-accept elsewhere.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn set_defer_accept(_: &socket2::Socket, _: Duration) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}
