//! What a service manager hands a daemon and expects back: the listening
//! socket it inherited (systemd's `sd_listen_fds` protocol) and the
//! notifications it sends (`sd_notify`: `READY=1`, `STOPPING=1`,
//! `STATUS=...`, `WATCHDOG=1`).
//!
//! # Why hand-written
//!
//! Both protocols are a few lines each: an inherited socket is descriptor 3
//! when `LISTEN_PID` is our pid and `LISTEN_FDS` is at least 1, and a
//! notification is one datagram of `KEY=VALUE` lines sent to the Unix socket
//! `NOTIFY_SOCKET` names (a path, or `@name` for the abstract namespace).
//! Writing them here keeps libsystemd out of the build and lets the
//! supervisor's workers use the same notifier over a socket pair.
//!
//! # Environment
//!
//! The variables are read once, at start, and removed, as `sd_listen_fds(1)`
//! and `sd_notify(1)` do: the workers the supervisor starts must not believe
//! the service manager's socket or its descriptor 3 are meant for them.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// The first inherited descriptor, `SD_LISTEN_FDS_START`.
pub const LISTEN_FDS_START: RawFd = 3;

/// The listening socket passed by a service manager (`LISTEN_PID` equal to
/// our pid, `LISTEN_FDS` at least 1), or None when we were not started
/// that way. The variables are removed either way. Only the first socket
/// is served; more are logged and left alone.
///
/// # Safety
///
/// - No other thread may exist: this changes the environment, which
///   another thread could be reading (`std::env::remove_var`).
/// - When the variables name this process, descriptor 3 is taken over
///   (and closed on drop): nothing else in the process may own or use it.
///   The `reactord` binary calls this first thing in `main`.
pub unsafe fn inherited_listener() -> io::Result<Option<std::net::TcpListener>> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        // SAFETY: the caller promises a single thread, so nothing reads
        // the environment concurrently.
        unsafe { std::env::remove_var(name) };
    }
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(None);
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(None);
    }
    let count: u32 = fds
        .trim()
        .parse()
        .map_err(|_| io::Error::other(format!("LISTEN_FDS is not a number: {fds:?}")))?;
    if count == 0 {
        return Ok(None);
    }
    if count > 1 {
        log::warn!("the service manager passed {count} sockets; serving only the first (fd 3)");
    }
    // SAFETY: the caller promises nothing else owns descriptor 3.
    let fd = unsafe { take_inherited(LISTEN_FDS_START) }?;
    listener_from_fd(fd).map(Some)
}

/// Take an inherited descriptor: check that it is open, make it
/// close-on-exec (children get it only when passed on purpose), and own it.
///
/// # Safety
///
/// `fd` must have been inherited for this caller, and nothing else in the
/// process may own or use it.
pub(crate) unsafe fn take_inherited(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: the caller promises `fd` is ours alone, and the borrow ends
    // before it is owned below. One that is not open fails with EBADF.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_setfd(borrowed, rustix::io::FdFlags::CLOEXEC)
        .map_err(|err| io::Error::other(format!("inherited descriptor {fd} is not open: {err}")))?;
    // SAFETY: open (checked above) and owned by nothing else (the caller).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Take `fd` as a listening TCP socket: check that it is one (an IPv4 or
/// IPv6 stream socket in the listening state), make it non-blocking and
/// close-on-exec (children get it only when passed on purpose), and set
/// TCP_NODELAY on it, which accepted sockets inherit (the reactor relies on
/// that instead of a setsockopt per connection; a service manager's socket
/// has it only with `NoDelay=true`).
pub fn listener_from_fd(fd: OwnedFd) -> io::Result<std::net::TcpListener> {
    let number: RawFd = fd.as_raw_fd();
    rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
    let socket = socket2::Socket::from(fd);
    let listening = socket.is_listener().unwrap_or(false);
    let stream = socket.r#type().ok() == Some(socket2::Type::STREAM);
    let ip = matches!(
        socket.domain(),
        Ok(socket2::Domain::IPV4 | socket2::Domain::IPV6)
    );
    if !(listening && stream && ip) {
        return Err(io::Error::other(format!(
            "inherited descriptor {number} is not a listening TCP socket"
        )));
    }
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    Ok(socket.into())
}

/// Where notifications go: the service manager's socket, or the
/// supervisor's end of a worker's socket pair.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    /// The service manager's address; None for a connected socket pair.
    target: Option<std::os::unix::net::SocketAddr>,
    /// `WATCHDOG_USEC`: the service manager expects `WATCHDOG=1` at least
    /// this often.
    watchdog: Option<Duration>,
}

impl Notifier {
    /// A notifier for `NOTIFY_SOCKET` (and `WATCHDOG_USEC`, when
    /// `WATCHDOG_PID` is unset or ours), or None without one. The
    /// variables are removed.
    ///
    /// # Safety
    ///
    /// No other thread may exist: this changes the environment, which
    /// another thread could be reading (`std::env::remove_var`). The
    /// `reactord` binary calls this first thing in `main`.
    pub unsafe fn from_env() -> io::Result<Option<Notifier>> {
        let path = std::env::var_os("NOTIFY_SOCKET");
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let watchdog_pid = std::env::var("WATCHDOG_PID").ok();
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            // SAFETY: the caller promises a single thread.
            unsafe { std::env::remove_var(name) };
        }
        let Some(path) = path else {
            return Ok(None);
        };
        let target = notify_address(&path)?;
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        let ours = watchdog_pid
            .is_none_or(|pid| pid.trim().parse::<u32>().ok() == Some(std::process::id()));
        let watchdog = usec
            .and_then(|usec| usec.trim().parse::<u64>().ok())
            .filter(|&usec| usec > 0 && ours)
            .map(Duration::from_micros);
        Ok(Some(Notifier {
            socket,
            target: Some(target),
            watchdog,
        }))
    }

    /// A notifier writing to a connected socket (a worker's channel to its
    /// supervisor).
    pub fn connected(socket: UnixDatagram) -> io::Result<Notifier> {
        socket.set_nonblocking(true)?;
        Ok(Notifier {
            socket,
            target: None,
            watchdog: None,
        })
    }

    /// How often the service manager wants `WATCHDOG=1`, if it does.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Send one notification (`READY=1`, `STATUS=...`, several lines
    /// joined by `\n`). Best effort: a full or vanished receiver loses the
    /// message, and the server carries on (logged at debug).
    pub fn notify(&self, message: &str) {
        let sent = match &self.target {
            Some(addr) => self.socket.send_to_addr(message.as_bytes(), addr),
            None => self.socket.send(message.as_bytes()),
        };
        if let Err(err) = sent {
            log::debug!("notify {message:?}: {err}");
        }
    }
}

/// `NOTIFY_SOCKET` as an address: a path, or `@name` in Linux's abstract
/// namespace.
fn notify_address(path: &std::ffi::OsStr) -> io::Result<std::os::unix::net::SocketAddr> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use std::os::linux::net::SocketAddrExt;
            return std::os::unix::net::SocketAddr::from_abstract_name(name);
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = name;
            return Err(io::Error::other("abstract NOTIFY_SOCKET needs Linux"));
        }
    }
    std::os::unix::net::SocketAddr::from_pathname(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_is_one_datagram_to_a_path_or_an_abstract_name() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("reactord-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path)?;
        let notifier = Notifier {
            socket: UnixDatagram::unbound()?,
            target: Some(notify_address(path.as_os_str())?),
            watchdog: None,
        };
        notifier.notify("READY=1\nSTATUS=ok");
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf)?;
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=ok");
        std::fs::remove_dir_all(&dir)?;

        let name = format!("@reactord-test-{}", std::process::id());
        let addr = notify_address(std::ffi::OsStr::new(&name))?;
        let receiver = UnixDatagram::bind_addr(&addr)?;
        let notifier = Notifier {
            socket: UnixDatagram::unbound()?,
            target: Some(addr),
            watchdog: None,
        };
        notifier.notify("WATCHDOG=1");
        let n = receiver.recv(&mut buf)?;
        assert_eq!(&buf[..n], b"WATCHDOG=1");
        Ok(())
    }
}
