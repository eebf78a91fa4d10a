//! The listening socket: binding it, registering it (`EPOLLEXCLUSIVE` for
//! a worker), accepting with the errors that must not spin the loop,
//! parking it, and letting go of it at the drain.
//!
//! # Parking the listener
//!
//! Without `--defer-accept` the kernel reports a connection when its
//! handshake completes, before its request. A server that keeps up with a
//! connection-per-request load is often asleep at that moment, so it would
//! wake twice per connection: once to accept it, once more when the request
//! arrives; on loopback each wake-up costs more than the accept itself. So
//! when a turn accepted connections and at least [`PARK_MIN_UNHEARD`]
//! accepted connections have not been heard from (no first bytes yet), the
//! listener is deregistered ("parked"): those bytes will wake the loop
//! anyway, and while parked every loop iteration accepts (until
//! `WouldBlock`, as ever) before sleeping. The listener is registered again as soon as
//! every accepted connection has been heard from, or after
//! [`LISTENER_PARK`] at the latest, so a new client waits at most that long
//! even when the unheard connections stay silent; epoll reports readiness
//! the listener already has when it is registered, so nothing queued
//! meanwhile is missed. What it saves is measured in docs/benchmarks.md
//! (the greeting scenario, "parking the listener"), for two `epoll_ctl`
//! per park period.

use crate::config::Config;
use crate::reactor::connection::{interrupted, would_block};
use crate::reactor::os;
use crate::reactor::timer::deadline_after;
use log::{debug, trace, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Poll, Token};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The listener's token. Connection tokens are slab keys, which start at 0
/// and never come near it.
pub(crate) const LISTENER: Token = Token(usize::MAX);

/// How long the listener may stay parked (see "Parking the listener"):
/// the most a new connection can wait to be accepted while the loop waits
/// for the first bytes of others.
pub(crate) const LISTENER_PARK: Duration = Duration::from_millis(1);

/// Park the listener only when at least this many accepted connections
/// have not been heard from. Parking and unparking cost an `epoll_ctl`
/// each; with one connection at a time (a sequential client) they would be
/// paid per connection and save nothing, since the next connection only
/// comes after the last one is answered.
pub(crate) const PARK_MIN_UNHEARD: usize = 2;

/// After `accept` fails for lack of a resource (descriptors, memory), how
/// long to stop accepting. The pending connection keeps the listener
/// readable, so retrying at once would spin the loop at 100% CPU.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The listening socket and what the loop keeps about it.
pub(crate) struct Listener {
    /// None once the drain has begun: the socket is closed at once, so new
    /// clients are refused by the kernel instead of queuing.
    socket: Option<TcpListener>,
    /// Registered with `EPOLLEXCLUSIVE` (a worker's shared socket):
    /// registering it again after parking must say so too.
    exclusive: bool,
    /// The socket outlives this server (a worker's, or one inherited from
    /// a service manager): the drain hands the backlog over instead of
    /// refusing it.
    pub(crate) shared: bool,
    /// Accepting is paused until then after running out of descriptors.
    paused_until: Option<Instant>,
    /// Last time we warned about pausing accepts (rate limit).
    last_pause_warning: Option<Instant>,
    /// While parked (deregistered), when it must be registered again at
    /// the latest.
    parked_until: Option<Instant>,
    /// Connections accepted and registered that have not been heard from:
    /// each will wake the loop when its first bytes arrive.
    unheard: usize,
    /// Connections were accepted (and left unheard) during this turn.
    accepted_this_turn: bool,
}

impl Listener {
    /// Watch `socket` (already listening, non-blocking) on `poll`.
    pub(crate) fn new(poll: &Poll, socket: std::net::TcpListener) -> io::Result<Listener> {
        let mut socket = TcpListener::from_std(socket);
        os::add_plain(poll, &mut socket, LISTENER)?;
        Ok(Listener {
            socket: Some(socket),
            exclusive: false,
            shared: false,
            paused_until: None,
            last_pause_warning: None,
            parked_until: None,
            unheard: 0,
            accepted_this_turn: false,
        })
    }

    /// Register again with `EPOLLEXCLUSIVE` (see `Server::serve_as_worker`).
    pub(crate) fn make_exclusive(&mut self, poll: &Poll) -> io::Result<()> {
        if let Some(socket) = self.socket.as_mut() {
            poll.registry().deregister(socket)?;
            os::add_exclusive(poll, socket, LISTENER)?;
            self.exclusive = true;
        }
        Ok(())
    }

    /// The next connection in the backlog, or None when it is empty, when
    /// accepting is paused, or when the listener is closed. An error that
    /// took one pending connection with it is skipped; one that would come
    /// back at once pauses accepting for [`ACCEPT_BACKOFF`] (see
    /// [`after_accept_error`]).
    pub(crate) fn accept(&mut self, now: Instant) -> Option<(TcpStream, SocketAddr)> {
        if self.paused_until.is_some() {
            return None;
        }
        loop {
            let socket = self.socket.as_ref()?;
            match socket.accept() {
                Ok(accepted) => return Some(accepted),
                Err(err) => match after_accept_error(&err) {
                    AcceptErrorAction::Drained => return None,
                    AcceptErrorAction::TryNext => {
                        if !interrupted(&err) {
                            debug!("accept: {err} (that connection is gone; accepting the next)");
                        }
                    }
                    AcceptErrorAction::Pause => {
                        self.pause(&err, now);
                        return None;
                    }
                },
            }
        }
    }

    /// Stop accepting for [`ACCEPT_BACKOFF`] after an error that leaves the
    /// pending connection in the backlog, with a warning at most once a
    /// second.
    fn pause(&mut self, err: &io::Error, now: Instant) {
        if self
            .last_pause_warning
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            warn!("accept: {err}; pausing accepts for {ACCEPT_BACKOFF:?}");
            self.last_pause_warning = Some(now);
        }
        self.paused_until = Some(deadline_after(now, ACCEPT_BACKOFF));
    }

    /// Whether this turn must accept without an event for the listener:
    /// it is parked (nobody tells us about new connections), or a pause
    /// has just ended (ending it).
    pub(crate) fn accepts_without_event(&mut self, now: Instant) -> bool {
        if self.paused_until.is_some_and(|until| until <= now) {
            self.paused_until = None;
            return true;
        }
        self.parked_until.is_some()
    }

    /// When the loop must wake for the listener's sake, if at all: the end
    /// of a pause, or of a park period.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match (self.paused_until, self.parked_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// An accepted connection that has not been heard from: it keeps the
    /// listener parked until it is.
    pub(crate) fn count_unheard(&mut self) {
        self.unheard += 1;
        self.accepted_this_turn = true;
    }

    /// A connection counted by [`Listener::count_unheard`] has been heard
    /// from (or has closed).
    pub(crate) fn heard_from(&mut self) {
        self.unheard = self.unheard.saturating_sub(1);
    }

    /// At the end of a turn: park the listener if this turn accepted
    /// connections that are now unheard (their first bytes will wake the
    /// loop, and each wake accepts); register it again once every accepted
    /// connection has been heard from, or at the park deadline, whichever
    /// comes first. Registering reports the listener's readiness at once,
    /// so nothing queued meanwhile is missed.
    pub(crate) fn park_or_unpark(&mut self, poll: &Poll, now: Instant) {
        let accepted = std::mem::replace(&mut self.accepted_this_turn, false);
        let Some(socket) = self.socket.as_mut() else {
            // Shutting down: no listener, nothing to unpark.
            self.parked_until = None;
            return;
        };
        match self.parked_until {
            None => {
                let worth_it = accepted && self.unheard >= PARK_MIN_UNHEARD;
                if !worth_it {
                    return;
                }
                match unwatch(poll, socket, self.exclusive) {
                    Ok(()) => {
                        trace!("listener parked");
                        self.parked_until = Some(deadline_after(now, LISTENER_PARK));
                    }
                    Err(err) => warn!("park the listener: {err}"),
                }
            }
            Some(until) if self.unheard == 0 || until <= now => {
                let registered = if self.exclusive {
                    os::add_exclusive(poll, socket, LISTENER)
                } else {
                    os::add_plain(poll, socket, LISTENER)
                };
                match registered {
                    Ok(()) => {
                        trace!("listener unparked");
                        self.parked_until = None;
                    }
                    // Try again after another park period; meanwhile every
                    // turn still accepts.
                    Err(err) => {
                        warn!("register the listener again: {err}");
                        self.parked_until = Some(deadline_after(now, LISTENER_PARK));
                    }
                }
            }
            Some(_) => {}
        }
    }

    /// The drain begins: stop watching the socket and end any pause, so a
    /// shared socket's backlog can still be taken ([`Listener::accept`])
    /// before [`Listener::close`].
    ///
    /// A parked listener is not watched already. Otherwise a worker must
    /// stop watching: its shared socket stays open in the other processes,
    /// so closing our descriptor would leave it in our epoll set, taking
    /// exclusive wake-ups this loop no longer acts on.
    pub(crate) fn stop_watching(&mut self, poll: &Poll) {
        if let Some(socket) = self.socket.as_mut() {
            if self.parked_until.is_some() {
                debug!("drain: stopped watching the listening socket (it was parked)");
            } else {
                match unwatch(poll, socket, self.exclusive) {
                    Ok(()) => debug!("drain: stopped watching the listening socket"),
                    Err(err) => warn!("drain: cannot stop watching the listening socket: {err}"),
                }
            }
        }
        self.paused_until = None;
    }

    /// Close our descriptor of the socket.
    pub(crate) fn close(&mut self) {
        self.socket = None;
    }
}

/// Stop watching `socket` the way it was registered: a raw
/// `EPOLL_CTL_DEL` after [`os::add_exclusive`], mio's `deregister`
/// otherwise.
fn unwatch(poll: &Poll, socket: &mut TcpListener, exclusive: bool) -> io::Result<()> {
    if exclusive {
        os::remove_exclusive(poll, socket)
    } else {
        poll.registry().deregister(socket)
    }
}

/// Build the listening socket with socket2, for the options mio's `bind`
/// doesn't offer: the backlog (mio fixes it at 128, too small for a burst
/// of connections) and SO_REUSEPORT.
pub(crate) fn bind_listener(config: &Config) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol as IpProtocol, Socket, Type};
    let addr = config.listen;
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(IpProtocol::TCP),
    )?;
    // Lets a restarted server bind while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    if config.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // Responses are written whole (a batch at a time), so Nagle's algorithm
    // would only delay them. Accepted sockets inherit TCP_NODELAY from the
    // listener (Linux and the BSDs copy it; a test below checks), which
    // saves a setsockopt per connection.
    socket.set_tcp_nodelay(true)?;
    if let Some(wait) = config.defer_accept {
        os::set_defer_accept(&socket, wait)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(config.backlog)?;
    Ok(socket.into())
}

/// What the accept loop does after `accept(2)` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AcceptErrorAction {
    /// `WouldBlock`: the backlog is empty; the next edge says when to come
    /// back.
    Drained,
    /// Accept the next connection at once: a signal interrupted the call,
    /// or the error belonged to one pending connection and took it out of
    /// the backlog, so the next call makes progress.
    TryNext,
    /// Stop accepting for [`ACCEPT_BACKOFF`]: the error is about us, not
    /// the client (no descriptors, no memory, no buffers), the pending
    /// connection stays in the backlog, and retrying at once would spin.
    Pause,
}

/// Classify an `accept(2)` error.
///
/// # Never spin on the listener
///
/// A connection that failed before we took it is consumed by the failing
/// call: ECONNABORTED (reset while queued), EPERM (a firewall rule), EPROTO,
/// and the network errors Linux passes on from the new socket, which
/// accept(2) says to treat like EAGAIN (ENETDOWN, ENOPROTOOPT, EHOSTDOWN,
/// ENONET, EHOSTUNREACH, ENETUNREACH). The next call then makes progress,
/// so the loop goes on. Everything else (EMFILE, ENFILE, ENOBUFS, ENOMEM,
/// and whatever we don't know) leaves the connection queued and the
/// listener readable, and the same call would fail the same way at once:
/// retried, it would hold the loop at 100% CPU, so it pauses.
///
/// The cost of a wrong guess decides the doubtful cases: pausing after an
/// error that was only one client's costs that moment's clients up to
/// [`ACCEPT_BACKOFF`]; retrying a persistent one never ends. So EOPNOTSUPP,
/// which accept(2) lists as a network error but which also means "this
/// socket is not a stream listener" (it would never go away), pauses.
fn after_accept_error(err: &io::Error) -> AcceptErrorAction {
    if would_block(err) {
        return AcceptErrorAction::Drained;
    }
    if interrupted(err) {
        return AcceptErrorAction::TryNext;
    }
    match err.raw_os_error() {
        Some(
            libc::ECONNABORTED
            | libc::EPERM
            | libc::EPROTO
            | libc::ENETDOWN
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::EHOSTUNREACH
            | libc::ENETUNREACH,
        ) => AcceptErrorAction::TryNext,
        // "Machine is not on the network": Linux's own errno.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(libc::ENONET) => AcceptErrorAction::TryNext,
        _ => AcceptErrorAction::Pause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reactor relies on accepted sockets inheriting TCP_NODELAY from
    /// the listener instead of setting it on each one.
    #[test]
    fn accepted_sockets_inherit_nodelay() -> io::Result<()> {
        let config = Config {
            listen: "127.0.0.1:0".parse().map_err(io::Error::other)?,
            ..Config::default()
        };
        let listener = bind_listener(&config)?;
        let _client = std::net::TcpStream::connect(listener.local_addr()?)?;
        listener.set_nonblocking(false)?;
        let (accepted, _) = listener.accept()?;
        assert!(accepted.nodelay()?, "TCP_NODELAY was not inherited");
        Ok(())
    }

    /// Each class of accept(2) error, and the ones that used to be retried
    /// at once although they persist (ENOBUFS, ENOMEM).
    #[test]
    fn accept_errors_that_consume_the_connection_continue_and_the_others_pause() {
        use AcceptErrorAction::{Drained, Pause, TryNext};
        let cases = [
            (libc::EAGAIN, Drained),
            (libc::EWOULDBLOCK, Drained),
            (libc::EINTR, TryNext),
            (libc::ECONNABORTED, TryNext),
            (libc::EPERM, TryNext),
            (libc::EPROTO, TryNext),
            (libc::ENETDOWN, TryNext),
            (libc::ENOPROTOOPT, TryNext),
            (libc::EHOSTDOWN, TryNext),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            (libc::ENONET, TryNext),
            (libc::EHOSTUNREACH, TryNext),
            (libc::ENETUNREACH, TryNext),
            (libc::EOPNOTSUPP, Pause),
            (libc::EMFILE, Pause),
            (libc::ENFILE, Pause),
            (libc::ENOBUFS, Pause),
            (libc::ENOMEM, Pause),
            (libc::EBADF, Pause),
            (libc::EINVAL, Pause),
        ];
        for (errno, expected) in cases {
            let err = io::Error::from_raw_os_error(errno);
            assert_eq!(after_accept_error(&err), expected, "{err}");
        }
        let no_errno = io::Error::other("not from the kernel");
        assert_eq!(after_accept_error(&no_errno), Pause);
    }
}
