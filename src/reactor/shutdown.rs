//! Asking a running server to stop: a [`ShutdownHandle`], passed in from
//! outside the event loop.
//!
//! # Why a value and not a signal
//!
//! A library that installs SIGINT/SIGTERM handlers takes over something
//! that belongs to the whole process: a program embedding two servers, a
//! test harness running many, or a binary that wants SIGTERM to mean
//! something else could not choose. So, as in mini-redis (whose listener is
//! handed a shutdown `Notify`), the server only offers a way to be told to
//! stop, and the program decides what tells it: a test calls
//! [`ShutdownHandle::shutdown`] when it is done, an embedding program calls
//! it from wherever it likes, and the `reactord` binary, which keeps its
//! one thread, hands the loop the read end of a signal self-pipe for
//! SIGINT and SIGTERM (`Server::shutdown_when_readable`): each byte its
//! signal handler writes there is one request, logged as "SIGTERM
//! received".
//!
//! # How the request reaches the loop
//!
//! The loop sleeps in `epoll_wait` (`Poll::poll`), so a request needs two
//! things: a record of what was asked, and a wake-up. The record is a tiny
//! queue behind a mutex, touched only by `shutdown` calls and by the loop
//! once per wake-up. The wake-up is a [`mio::Waker`]: an eventfd on Linux
//! (`EVFILT_USER` on kqueue systems) registered on the server's `Poll`
//! under its own token, so a call from any thread shows up as one more
//! readable event in the batch, dispatched by token like a socket's. The
//! loop pays nothing for it per request: no check per loop iteration, no extra
//! syscall, one descriptor for the life of the server.
//!
//! # First and second requests
//!
//! The first request begins the graceful drain (stop accepting, close idle
//! connections, let the others finish within `--shutdown-timeout`); any
//! later one exits at once, like a second Ctrl-C. Every call counts, even
//! two made before the loop wakes up once: they are queued, not merged.

use mio::{Registry, Token, Waker};
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

/// What asked the server to stop; it only changes the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// [`ShutdownHandle::shutdown`], from code.
    Requested,
    /// A byte on a shutdown stream (`Server::shutdown_when_readable`): the
    /// program received the named signal and passed it on.
    Signal(&'static str),
}

/// How the log names a request: "SIGTERM received" (the words operators'
/// scripts match) or "shutdown requested". The loop logs `{cause}:
/// shutting down, ...` for the first and `{cause} again` for a later one.
impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Requested => f.write_str("shutdown requested"),
            Cause::Signal(name) => write!(f, "{name} received"),
        }
    }
}

impl Cause {
    /// How the log names the exit a second request forces.
    pub(crate) fn second(self) -> &'static str {
        match self {
            Cause::Requested => "second shutdown request",
            Cause::Signal(_) => "second signal",
        }
    }
}

/// Requests the loop has not seen yet.
///
/// Only the first two can matter (the first begins the drain, the next
/// exits), so only two are kept: a caller that asks a million times before
/// the loop wakes costs no memory.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    causes: [Option<Cause>; 2],
}

impl Pending {
    fn push(&mut self, cause: Cause) {
        if let Some(free) = self.causes.iter_mut().find(|slot| slot.is_none()) {
            *free = Some(cause);
        }
    }

    /// The causes in the order they were asked (at most two: see above).
    pub(crate) fn causes(&self) -> impl Iterator<Item = Cause> + '_ {
        self.causes.iter().flatten().copied()
    }
}

/// What the loop and every handle share.
#[derive(Debug)]
struct Shared {
    /// Wakes the loop's `poll`; events carry the token given to
    /// [`ShutdownRequests::new`].
    waker: Waker,
    /// What was asked since the loop last looked.
    pending: Mutex<Pending>,
}

/// A way to stop a [`Server`](crate::Server) from any thread, obtained from
/// [`Server::shutdown_handle`](crate::Server::shutdown_handle) before
/// [`Server::run`](crate::Server::run) takes the server.
///
/// Cheap to clone (an `Arc`), `Send` and `Sync`. The first call of
/// [`shutdown`](Self::shutdown) begins a graceful drain: the server stops
/// accepting (its listening socket is closed, so new clients are refused),
/// closes idle connections, lets the others finish their requests, and
/// `run` returns `Ok` once none is left or the configured shutdown timeout
/// has passed. A second call makes `run` return at once. Calling it before
/// `run` starts works too: the server drains as soon as it runs.
///
/// The calls take a mutex, so they must not be made from inside a signal
/// handler. To stop on a signal, give the server the read end of a socket
/// pair whose write end a signal handler writes to
/// ([`Server::shutdown_when_readable`](crate::Server::shutdown_when_readable)),
/// as the `reactord` binary does.
///
/// ```no_run
/// use reactord::{Config, Server, protocol::echo::Echo};
/// let server = Server::bind(Config::default(), Echo).expect("bind");
/// let handle = server.shutdown_handle();
/// std::thread::spawn(move || {
///     // This program's choice: stop when stdin ends.
///     let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
///     handle.shutdown().expect("wake the server");
/// });
/// server.run().expect("run"); // returns once the drain is over
/// ```
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Ask the server to stop: the first call drains gracefully, a second
    /// exits at once. Logged as "shutdown requested". An error means the
    /// loop could not be woken (the request is still recorded and is seen
    /// at the loop's next wake-up).
    pub fn shutdown(&self) -> io::Result<()> {
        self.ask(Cause::Requested)
    }

    /// Record the request, then wake the loop. In that order: the loop
    /// reads the record after it wakes, so it can never wake to find
    /// nothing and then miss the record.
    fn ask(&self, cause: Cause) -> io::Result<()> {
        lock(&self.shared.pending).push(cause);
        self.shared.waker.wake()
    }
}

/// The loop's end of the handles: owns the waker's registration and takes
/// the pending requests when its token fires.
#[derive(Debug)]
pub(crate) struct ShutdownRequests {
    shared: Arc<Shared>,
}

impl ShutdownRequests {
    /// Register a waker with `token` on the server's poller. mio allows one
    /// waker per `Poll`; the server makes exactly one and shares it with
    /// every handle.
    pub(crate) fn new(registry: &Registry, token: Token) -> io::Result<ShutdownRequests> {
        let waker = Waker::new(registry, token)?;
        Ok(ShutdownRequests {
            shared: Arc::new(Shared {
                waker,
                pending: Mutex::new(Pending::default()),
            }),
        })
    }

    /// A new handle onto this server.
    pub(crate) fn handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Record a request made on the loop's own thread (a byte on a
    /// shutdown stream, see `Server::shutdown_when_readable`): no wake-up
    /// needed, the loop looks at once.
    pub(crate) fn note(&self, cause: Cause) {
        lock(&self.shared.pending).push(cause);
    }

    /// Everything asked since the last call, leaving nothing pending. Empty
    /// after a wake-up whose request an earlier call already took (the
    /// record is written before the wake, so the loop can see it early).
    pub(crate) fn take(&self) -> Pending {
        std::mem::take(&mut *lock(&self.shared.pending))
    }
}

/// Lock the pending requests. A thread that panicked while holding the lock
/// can only have left a valid `Pending` behind (each update is one
/// assignment), so a poisoned lock is used as it is.
fn lock(pending: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_two_causes_are_kept() {
        let mut pending = Pending::default();
        pending.push(Cause::Signal("SIGINT"));
        pending.push(Cause::Requested);
        pending.push(Cause::Signal("SIGTERM"));
        assert_eq!(
            pending.causes().collect::<Vec<_>>(),
            [Cause::Signal("SIGINT"), Cause::Requested]
        );
    }

    #[test]
    fn the_log_names_signals_as_the_binary_always_has() {
        let term = Cause::Signal("SIGTERM");
        assert_eq!(
            format!("{term}: shutting down"),
            "SIGTERM received: shutting down"
        );
        assert_eq!(format!("{term} again"), "SIGTERM received again");
        assert_eq!(term.second(), "second signal");
    }

    #[test]
    fn handles_cross_threads() {
        fn send_sync_clone<T: Send + Sync + Clone>() {}
        send_sync_clone::<ShutdownHandle>();
    }
}
