//! The event loop: one thread, one `mio::Poll`, every connection in a slab.
//!
//! Each iteration of the loop (a connection's *turn* is one call of
//! `Connection::drive`, inside it):
//!
//! 1. **Poll** for readiness, sleeping at most until the nearest deadline
//!    (or not at all if the out-of-budget list has work): `poll_timeout`.
//! 2. **Dispatch** each event by its token (`dispatch`): the listener
//!    accepts, the shutdown waker and the signal streams begin (or cut
//!    short) the drain, and a connection token (its slab key) drives that
//!    connection as far as the socket allows.
//! 3. **Continue** the connections on the out-of-budget list, which ran out of
//!    budget last time (fairness, see `connection`): `run_out_of_budget`.
//! 4. **Fire** the deadlines that are due, a bounded number per iteration
//!    (`fire_timers`).
//! 5. **Remove** the connections that closed during this iteration
//!    (`remove_closed`).
//! 6. **Before sleep** (`before_sleep`, Redis's `beforesleep`): park or
//!    unpark the listener, the process's hooks (`hooks`), the protocol's
//!    `end_of_turn`.
//! 7. **Stop** once a drain is over (`drain_is_over`).
//!
//! # Stale events
//!
//! A slab key is reused as soon as its entry is removed. If a connection
//! closed by the first event of a batch were removed at once, a later event
//! of the *same* batch for that token could reach the connection accepted
//! into its slot in between. So closed connections stay in the slab (in
//! state `Closed`, ignoring events) until step 5, after the batch. The
//! out-of-budget list and the timers, which outlive a batch, also carry each connection's
//! serial number, which is never reused.
//!
//! # Parking the listener
//!
//! See `listener`: while enough accepted connections have not been heard
//! from, the listener is deregistered and every iteration accepts instead.

pub(crate) mod buffer;
pub(crate) mod connection;
pub mod hooks;
pub(crate) mod listener;
pub(crate) mod os;
pub(crate) mod send_queue;
pub(crate) mod shutdown;
pub(crate) mod signal_streams;
#[cfg(test)]
pub(crate) mod test_sockets;
pub(crate) mod timer;

use crate::config::Config;
use crate::metrics::{Metrics, ServerTotals};
use crate::protocol::{Context, Output, Protocol};
use crate::reactor::buffer::BufferPool;
use crate::reactor::connection::{
    Connection, DeadlineKind, Env, Progress, State, Timeouts, interrupted,
};
use crate::reactor::hooks::{Hooks, LoopStatus};
use crate::reactor::listener::{LISTENER, Listener, bind_listener};
use crate::reactor::send_queue::write_before_close;
use crate::reactor::shutdown::{Cause, ShutdownHandle, ShutdownRequests};
use crate::reactor::signal_streams::{Deliveries, SignalStreams, SignalTokens};
use crate::reactor::timer::{TimerId, Timers, deadline_after};
use log::{debug, info, trace, warn};
use mio::{Events, Poll, Token};
use slab::Slab;
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The token of the shutdown waker, which every [`ShutdownHandle`] wakes.
const SHUTDOWN: Token = Token(usize::MAX - 1);

/// The tokens of the signal streams (see [`Server::shutdown_when_readable`]
/// and [`Server::reload_when_readable`]): the first is `usize::MAX - 2`,
/// below the listener's and the shutdown waker's, and the others count
/// down from it (see `signal_streams`).
const SIGNAL_STREAMS: SignalTokens = SignalTokens::counting_down_from(Token(usize::MAX - 2));

/// What a byte on a signal stream asks for, with the signal's name for the
/// log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignalMeaning {
    /// Shut down (see [`Server::shutdown_when_readable`]).
    Shutdown(&'static str),
    /// Reload (see [`Server::reload_when_readable`]).
    Reload(&'static str),
}

/// The smallest read buffer, whatever the protocol declares.
const MIN_READ_BUFFER: usize = 16 * 1024;

/// Events fetched per `poll` call.
const EVENTS_CAPACITY: usize = 1024;

/// Timer entries acted on per loop iteration, at most (see [`Server::fire_timers`]):
/// as many as the events one `poll` returns, so that ten thousand
/// deadlines due at once are spread over iterations, with polls between them,
/// like ten thousand readable sockets.
const TIMERS_PER_ITERATION: usize = EVENTS_CAPACITY;

/// How long a worker's drain lets idle connections bring one more request
/// (answered with `Connection: close`) before it closes them: see
/// [`Server::serve_as_worker`].
const DRAIN_IDLE_GRACE: Duration = Duration::from_secs(1);

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    /// The configuration is inconsistent.
    Config(String),
    /// Binding or listening on the address failed.
    Bind {
        /// The address we tried.
        addr: SocketAddr,
        /// What the kernel said.
        source: io::Error,
    },
    /// Setting up the poller or its shutdown waker failed.
    Setup(io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(msg) => write!(f, "{msg}"),
            StartError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            StartError::Setup(err) => write!(f, "cannot set up the event loop: {err}"),
        }
    }
}

impl std::error::Error for StartError {}

/// How the workers sharing one listening socket are woken for a new
/// connection (see [`Server::serve_as_worker`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptWakeup {
    /// One waiting worker (`EPOLLEXCLUSIVE`, Linux): no thundering herd.
    Exclusive,
    /// Every worker, as a plain registration does; one wins the accept.
    /// For comparison (benches/workers.sh).
    All,
}

/// The server: a bound listener and an event loop, ready to [`Server::run`].
pub struct Server<P: Protocol> {
    poll: Poll,
    /// The listening socket, its registration, pauses and parking.
    listener: Listener,
    /// What the `listening on` line says.
    announcement: Announcement,
    /// Shutdown requests, signals, and the drain's deadline.
    stop: Stop,
    connections: Slab<Connection<P::Session>>,
    protocol: P,
    config: Config,
    timeouts: Timeouts,
    metrics: Metrics,
    timers: Timers,
    pool: BufferPool,
    /// Read target for bytes that are thrown away (closing connections).
    scratch: Vec<u8>,
    /// Connections that ran out of budget with work left: (key, serial).
    out_of_budget: VecDeque<(usize, u64)>,
    /// Keys closed during this iteration, removed after the batch.
    closed: Vec<usize>,
    /// The timer entries one pass of `fire_timers` acts on (kept to reuse
    /// its allocation).
    due_timers: Vec<TimerId>,
    next_serial: u64,
    /// What the process around the loop hears from it (see `hooks`); None
    /// costs nothing.
    hooks: Option<Plugged>,
}

/// What the `listening on` line says.
struct Announcement {
    /// The address actually bound.
    local_addr: SocketAddr,
    /// Logged after the `listening on` line: where the socket came from,
    /// when it was not bound here.
    note: Option<String>,
}

/// How the server is asked to stop, and whether it is stopping.
struct Stop {
    /// Where [`ShutdownHandle`]s leave their requests; its waker fires
    /// [`SHUTDOWN`] events.
    requests: ShutdownRequests,
    /// Streams whose every byte is a delivery of a signal (the binary's
    /// signal self-pipes).
    signal_streams: SignalStreams<SignalMeaning>,
    /// Set by the first shutdown request: the time by which everything must
    /// be done. While it is set, the server is draining.
    deadline: Option<Instant>,
}

/// The process's hooks, and when their next tick is due.
struct Plugged {
    hooks: Box<dyn Hooks>,
    /// See [`Hooks::next_tick`].
    next_tick: Option<Instant>,
    /// See [`Hooks::wants_counters`].
    wants_counters: bool,
}

impl<P: Protocol> Server<P> {
    /// Bind the listener and set up the loop; nothing is accepted until
    /// [`Server::run`].
    pub fn bind(config: Config, protocol: P) -> Result<Server<P>, StartError> {
        config.validate().map_err(StartError::Config)?;
        let listener = bind_listener(&config).map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        Server::from_listener(config, protocol, listener)
    }

    /// Set up the loop on a socket that is already listening (inherited
    /// from a service manager or a supervisor) instead of binding
    /// `config.listen`, which is then ignored. The socket must be
    /// non-blocking; its listener options (backlog, SO_REUSEPORT,
    /// TCP_DEFER_ACCEPT) are whatever its creator set.
    pub fn from_listener(
        config: Config,
        protocol: P,
        listener: std::net::TcpListener,
    ) -> Result<Server<P>, StartError> {
        config.validate().map_err(StartError::Config)?;
        let local_addr = listener.local_addr().map_err(StartError::Setup)?;
        let poll = Poll::new().map_err(StartError::Setup)?;
        let listener = Listener::new(&poll, listener).map_err(StartError::Setup)?;
        let shutdown =
            ShutdownRequests::new(poll.registry(), SHUTDOWN).map_err(StartError::Setup)?;
        // The protocol declares what it may need buffered; reads are never
        // smaller than MIN_READ_BUFFER, so a batch of pipelined requests
        // arrives in one read.
        let read_buffer = protocol.max_buffered_input().max(MIN_READ_BUFFER);
        Ok(Server {
            poll,
            listener,
            announcement: Announcement {
                local_addr,
                note: None,
            },
            stop: Stop {
                requests: shutdown,
                signal_streams: SignalStreams::new(SIGNAL_STREAMS),
                deadline: None,
            },
            connections: Slab::with_capacity(1024),
            protocol,
            timeouts: Timeouts {
                request: config.request_timeout,
                idle: config.idle_timeout,
                linger: config.linger_timeout,
                drain_grace: None,
            },
            config,
            metrics: Metrics::new(Instant::now()),
            timers: Timers::new(),
            pool: BufferPool::new(read_buffer, 1024),
            scratch: vec![0; 64 * 1024],
            out_of_budget: VecDeque::new(),
            closed: Vec::new(),
            due_timers: Vec::with_capacity(TIMERS_PER_ITERATION),
            next_serial: 0,
            hooks: None,
        })
    }

    /// The listening socket outlives this server (a service manager or a
    /// supervisor holds it, and a successor will accept on it): drain as
    /// a handover, the way [`Server::serve_as_worker`] describes, instead
    /// of the single process's "refuse what comes next". The binary does
    /// this for a socket inherited from systemd, so `systemctl restart`
    /// leaves the queued connections to the next process.
    pub fn hand_over_on_drain(&mut self) {
        self.listener.shared = true;
    }

    /// Serve as one of several worker processes on one listening socket
    /// (`--workers`): show the whole server's counters from `totals` on
    /// /metrics, let one worker wake per new connection, and drain without
    /// dropping anything the socket holds. (Copying this worker's counters
    /// out is the process layer's [`Hooks::before_sleep`].)
    ///
    /// # One wake-up per connection
    ///
    /// Every worker's epoll watches the same socket, and a plain
    /// registration wakes all of them for each connection (the thundering
    /// herd): one accepts, the others find nothing. On Linux the listener
    /// is registered with `EPOLLEXCLUSIVE`, which mio does not offer, by
    /// one `epoll_ctl` on the poller's descriptor: the kernel wakes one
    /// worker that is waiting in `epoll_wait` (a busy worker does not
    /// count, so the connection is never left to one that is not
    /// looking).
    ///
    /// # Draining a shared socket
    ///
    /// A worker that stops (SIGHUP's restart, or the end) leaves the
    /// socket open in the others. It first stops watching it, then accepts
    /// what the kernel has queued (a wake-up meant for it may have been the
    /// only one), and serves those connections: a connection still waiting
    /// for its first request is not closed as idle, since its client has
    /// just connected and its request is on the way. It closes after that
    /// request.
    ///
    /// Nor are idle keep-alive connections closed at once, as a single
    /// process does: a client may be sending its next request at that
    /// very moment, and would see the connection close under it. The same
    /// holds for a connection that becomes idle during the drain, after a
    /// response begun before it (whose head promised keep-alive). For a
    /// second (`DRAIN_IDLE_GRACE`) from the drain's start, or from when it
    /// became idle if later, each may bring one more request, answered
    /// with `Connection: close` (see `Protocol::begin_drain`); then it is
    /// closed (`DeadlineKind::DrainGrace`, one deadline per connection).
    ///
    /// Stopping to watch the socket removes the `EPOLLEXCLUSIVE`
    /// registration with a raw `EPOLL_CTL_DEL`, as it was added: closing
    /// our descriptor would not remove it (the socket stays open in the
    /// other processes), and the worker would go on taking wake-ups meant
    /// for a worker that accepts.
    pub fn serve_as_worker(
        &mut self,
        totals: Arc<dyn ServerTotals>,
        wakeup: AcceptWakeup,
    ) -> io::Result<()> {
        self.metrics.add_up_with(totals);
        self.hand_over_on_drain();
        if wakeup == AcceptWakeup::Exclusive {
            self.listener.make_exclusive(&self.poll)?;
        }
        Ok(())
    }

    /// A line to log right after `listening on ADDR (PROTOCOL)`, saying
    /// where the socket came from (the binary says "from the service
    /// manager" for an inherited one).
    pub fn note_after_listening(&mut self, note: impl Into<String>) {
        self.announcement.note = Some(note.into());
    }

    /// Let the process around the loop hear from it through `hooks`
    /// (see [`Hooks`]): the binary's service-manager notifications and a
    /// worker's shared counters.
    pub fn hook_into(&mut self, hooks: impl Hooks + 'static) {
        self.hooks = Some(Plugged {
            wants_counters: hooks.wants_counters(),
            hooks: Box::new(hooks),
            next_tick: None,
        });
    }

    /// The address actually bound (with the real port when port 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.announcement.local_addr
    }

    /// A handle that stops this server from any thread, now or once it
    /// runs: see [`ShutdownHandle`]. Take it before `run`, which consumes
    /// the server. Every handle acts on the same server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.stop.requests.handle()
    }

    /// Treat every byte that arrives on `stream` as a shutdown request,
    /// logged as "NAME received" (the first drains, a second exits at
    /// once, as with a [`ShutdownHandle`]).
    ///
    /// This is how a program delivers signals without a thread: it gives
    /// the write end of a socket pair to a signal handler that writes a
    /// byte (signal-hook's `low_level::pipe::register`, which the
    /// `reactord` binary uses), and the read end here. The loop sees the
    /// byte as one more readiness event. A thread in the process would
    /// also cost every syscall of the loop: glibc's wrappers take a slower
    /// path once a process has two threads (measured with callgrind:
    /// docs/benchmarks.md, "Figures cited by code comments").
    pub fn shutdown_when_readable(
        &mut self,
        stream: mio::net::UnixStream,
        name: &'static str,
    ) -> io::Result<()> {
        self.stop
            .signal_streams
            .watch(self.poll.registry(), stream, SignalMeaning::Shutdown(name))
    }

    /// Treat every byte that arrives on `stream` as a request to reload
    /// what can be reloaded without a restart, logged as "NAME received"
    /// (SIGHUP, for the binary's single process). Nothing can be yet, and
    /// the log line says so; certificates will be once HTTPS lands. Never
    /// a shutdown: the server goes on serving. Delivered as
    /// [`Server::shutdown_when_readable`] describes.
    pub fn reload_when_readable(
        &mut self,
        stream: mio::net::UnixStream,
        name: &'static str,
    ) -> io::Result<()> {
        self.stop
            .signal_streams
            .watch(self.poll.registry(), stream, SignalMeaning::Reload(name))
    }

    /// Run the loop until a [`ShutdownHandle`] asks it to stop and the
    /// connections in flight have finished (or the shutdown timeout
    /// expires), or until a second request says to stop at once. Without a
    /// handle it runs forever: the library installs no signal handlers (the
    /// `reactord` binary passes SIGINT and SIGTERM on through
    /// [`Server::shutdown_when_readable`]). Each iteration is the steps listed
    /// in the module docs, one call each.
    pub fn run(mut self) -> io::Result<()> {
        self.announce();
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            let timeout = self.poll_timeout(Instant::now());
            if let Err(err) = self.poll.poll(&mut events, timeout) {
                if interrupted(&err) {
                    continue;
                }
                return Err(err);
            }
            let now = Instant::now();
            let wall = SystemTime::now();
            if self.dispatch(&events, now, wall) == LoopControl::ExitNow {
                self.protocol.end_of_turn();
                return Ok(());
            }
            self.run_out_of_budget(now, wall);
            self.fire_timers(now, wall);
            self.remove_closed();
            self.before_sleep(now);
            if self.drain_is_over(now) {
                return Ok(());
            }
        }
    }

    /// Before the first iteration: the `listening on` line (and its note), and
    /// the hooks' [`Hooks::listening`].
    fn announce(&mut self) {
        info!(
            "listening on {} ({})",
            self.announcement.local_addr,
            self.protocol.name()
        );
        if let Some(note) = &self.announcement.note {
            info!("{note}");
        }
        if let Some(plugged) = &mut self.hooks {
            plugged.hooks.listening(Instant::now());
            plugged.next_tick = plugged.hooks.next_tick();
        }
    }

    /// Step 2: act on each event by its token. The listener accepts; the
    /// shutdown waker and the signal streams begin (or cut short) the
    /// drain, or ask for a reload; a connection's token drives it as far
    /// as its socket allows. Then, while the listener is parked (or a
    /// pause of accepts has just ended), accept without an event.
    fn dispatch(&mut self, events: &Events, now: Instant, wall: SystemTime) -> LoopControl {
        for event in events.iter() {
            match event.token() {
                LISTENER => self.accept(now, wall),
                SHUTDOWN => {
                    if self.on_shutdown_requests(now) == LoopControl::ExitNow {
                        return LoopControl::ExitNow;
                    }
                }
                token if SIGNAL_STREAMS.contains(token) => {
                    self.read_signal_stream(token);
                    if self.on_shutdown_requests(now) == LoopControl::ExitNow {
                        return LoopControl::ExitNow;
                    }
                }
                Token(key) => {
                    if let Some(conn) = self.connections.get_mut(key) {
                        conn.on_event(event);
                        self.drive(key, now, wall);
                    }
                }
            }
        }
        if self.listener.accepts_without_event(now) {
            self.accept(now, wall);
        }
        LoopControl::Continue
    }

    /// Step 6, the chores of every iteration that are not about one
    /// connection (Redis's `beforesleep`): park or unpark the listener, the
    /// hooks' tick when due and their `before_sleep` (a worker's counters),
    /// and the protocol's `end_of_turn` (HTTP's batched access log).
    fn before_sleep(&mut self, now: Instant) {
        self.listener.park_or_unpark(&self.poll, now);
        if let Some(plugged) = &mut self.hooks {
            if plugged.next_tick.is_some_and(|due| due <= now) {
                plugged.hooks.tick(
                    now,
                    LoopStatus {
                        draining: self.stop.deadline.is_some(),
                        connections_open: self.connections.len(),
                    },
                );
                plugged.next_tick = plugged.hooks.next_tick();
            }
            if plugged.wants_counters {
                plugged
                    .hooks
                    .before_sleep(&self.metrics, self.protocol.counters());
            }
        }
        self.protocol.end_of_turn();
    }

    /// Step 7: whether a drain has ended, because no connection is left
    /// or because the shutdown timeout has passed (logged either way).
    fn drain_is_over(&self, now: Instant) -> bool {
        let Some(deadline) = self.stop.deadline else {
            return false;
        };
        if self.connections.is_empty() {
            info!("shutdown complete");
            return true;
        }
        if now >= deadline {
            warn!(
                "shutdown timeout: closing {} connections with work in flight",
                self.connections.len()
            );
            return true;
        }
        false
    }

    /// How long `poll` may sleep: until the nearest deadline, or not at all
    /// if connections are waiting on the out-of-budget list.
    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.out_of_budget.is_empty() {
            return Some(Duration::ZERO);
        }
        [
            self.timers.next_wakeup(),
            self.listener.next_deadline(),
            self.stop.deadline,
            self.hooks.as_ref().and_then(|plugged| plugged.next_tick),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|at| at.saturating_duration_since(now))
    }

    /// Accept until the backlog is empty (or accepting pauses).
    fn accept(&mut self, now: Instant, wall: SystemTime) {
        while let Some((socket, peer)) = self.listener.accept(now) {
            self.admit(socket, peer, now, wall);
        }
    }

    /// Take in an accepted socket, or refuse it if the server is full.
    fn admit(
        &mut self,
        socket: mio::net::TcpStream,
        peer: SocketAddr,
        now: Instant,
        wall: SystemTime,
    ) {
        if self.connections.len() >= self.config.max_connections {
            self.reject(socket, peer, now, wall);
            return;
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        let session = self.protocol.open(peer);
        let entry = self.connections.vacant_entry();
        let key = entry.key();
        let conn = entry.insert(Connection::new(key, serial, socket, peer, session, now));
        self.metrics.connections_accepted += 1;
        self.metrics.connections_active += 1;
        trace!("conn {key}: accepted from {peer}");
        if self.config.defer_accept.is_some() {
            conn.assume_ready();
        }
        // The first turn (which also arms the request deadline), then
        // register only if the connection has to wait for something.
        self.drive(key, now, wall);
        let Some(conn) = self.connections.get_mut(key) else {
            return;
        };
        if conn.state() != State::Closed {
            if let Err(err) = conn.register(self.poll.registry()) {
                warn!("register {peer}: {err}");
                conn.abort("could not register");
                self.after_change(key);
            } else if conn.not_heard_from() {
                conn.slot.counted_as_unheard = true;
                self.listener.count_unheard();
            }
        }
    }

    /// --max-connections reached: tell the client (if the protocol has
    /// something to say) and close at once, so it doesn't wait in the backlog.
    fn reject(
        &mut self,
        mut socket: mio::net::TcpStream,
        peer: SocketAddr,
        now: Instant,
        wall: SystemTime,
    ) {
        self.metrics.connections_rejected += 1;
        debug!(
            "refusing {peer}: {} connections open",
            self.connections.len()
        );
        // Read what the client has already sent (with --defer-accept its
        // request is always there): a close with unread bytes sends a reset
        // instead of a FIN, and a reset can destroy the reply before the
        // client reads it. Bounded: a client still sending gets the reset.
        // The protocol sees the first bytes (HTTP answers HEAD without a
        // body).
        let first = socket.read(&mut self.scratch).unwrap_or(0);
        let mut out = Output::default();
        let mut ctx = Context {
            now,
            wall,
            metrics: &self.metrics,
        };
        let seen = self.scratch.get(..first).unwrap_or_default();
        self.protocol.on_reject(seen, &mut ctx, &mut out);
        if first == self.scratch.len() {
            for _ in 0..3 {
                match socket.read(&mut self.scratch) {
                    Ok(n) if n == self.scratch.len() => continue,
                    _ => break,
                }
            }
        }
        if out.buffered_len() > 0 {
            // Best effort: a fresh socket's send buffer has room for a short
            // reply, and we are not going to wait for this client.
            if let Ok(n) = write_before_close(&socket, out.as_bytes()) {
                self.metrics.bytes_written += n as u64;
            }
            let _ = socket.shutdown(std::net::Shutdown::Write);
        }
    }

    /// Drive one connection, then update its deadline and queue it for more
    /// work or removal as needed.
    fn drive(&mut self, key: usize, now: Instant, wall: SystemTime) {
        let Some(conn) = self.connections.get_mut(key) else {
            return;
        };
        if conn.state() == State::Closed {
            return;
        }
        let mut env = Env {
            protocol: &mut self.protocol,
            metrics: &mut self.metrics,
            pool: &mut self.pool,
            scratch: &mut self.scratch,
            now,
            wall,
        };
        let mut turn = conn.drive(&mut env);
        // While shutting down, a connection that has finished its request
        // closes instead of waiting for another.
        if self.stop.deadline.is_some()
            && closes_at_drain(conn, &*env.protocol, self.listener.shared)
        {
            conn.close_when_flushed();
            turn = conn.drive(&mut env);
        }
        if turn == Progress::MoreWork && conn.enter_out_of_budget() {
            self.out_of_budget.push_back((key, conn.slot.serial));
        }
        self.after_change(key);
    }

    /// A connection may have changed state: move its deadline, or mark it
    /// for removal if it closed.
    fn after_change(&mut self, key: usize) {
        let Some(conn) = self.connections.get_mut(key) else {
            return;
        };
        // Heard from its client, or closed: it no longer keeps the listener
        // parked.
        if conn.slot.counted_as_unheard && !conn.not_heard_from() {
            conn.slot.counted_as_unheard = false;
            self.listener.heard_from();
        }
        let id = conn.timer_id();
        match conn.deadline(&self.timeouts) {
            Some((due, DeadlineKind::Wake)) => {
                let due = self.timers.not_before_last_pass(due);
                self.timers.schedule(&mut conn.slot.timer, due, id);
            }
            Some((due, _)) => self.timers.schedule(&mut conn.slot.timer, due, id),
            None => {
                self.timers.cancel(&mut conn.slot.timer, id);
                if conn.state() == State::Closed {
                    queue_removal(&mut self.closed, key, conn);
                }
            }
        }
    }

    /// Give each connection on the out-of-budget list another turn. Connections that
    /// still have work go to the back of the list for the next loop
    /// iteration, after that iteration's events: nobody waits behind a busy
    /// client.
    fn run_out_of_budget(&mut self, now: Instant, wall: SystemTime) {
        for _ in 0..self.out_of_budget.len() {
            let Some((key, serial)) = self.out_of_budget.pop_front() else {
                break;
            };
            let Some(conn) = self.connections.get_mut(key) else {
                continue;
            };
            if conn.slot.serial != serial {
                continue;
            }
            conn.leave_out_of_budget();
            self.drive(key, now, wall);
        }
    }

    /// Act on the deadlines that have passed: wake the connections whose
    /// protocol waits for this instant (`Verdict::Wait`) and give them a
    /// turn; close the others (timeouts).
    ///
    /// # One pass, bounded
    ///
    /// Only the entries due when the pass begins fire in it, at most
    /// [`TIMERS_PER_ITERATION`] of them: they are taken out first, then acted
    /// on. An entry armed while acting (a protocol whose `on_wake` answers
    /// `Wait` with an instant not after now, which the trait allows) waits
    /// for the next iteration, after a poll, as Redis's `ae.c` skips the time
    /// events created during the current pass; so does whatever exceeds
    /// the budget. Either way `poll_timeout` finds an entry already due and
    /// polls without sleeping, so the other connections are served between
    /// two passes and nothing is late by more than an iteration.
    fn fire_timers(&mut self, now: Instant, wall: SystemTime) {
        let mut due = std::mem::take(&mut self.due_timers);
        due.clear();
        while due.len() < TIMERS_PER_ITERATION {
            let Some(id) = self.timers.pop_expired(now) else {
                break;
            };
            due.push(id);
        }
        for &id in &due {
            self.fire_timer(id, now, wall);
        }
        self.due_timers = due;
    }

    /// One entry taken out by [`Server::fire_timers`].
    fn fire_timer(&mut self, id: TimerId, now: Instant, wall: SystemTime) {
        let Some(conn) = self.connections.get_mut(id.key) else {
            return;
        };
        if conn.slot.serial != id.serial || !self.timers.settle(&mut conn.slot.timer, id, now) {
            return;
        }
        let why = match conn.deadline(&self.timeouts).map(|(_, kind)| kind) {
            Some(DeadlineKind::Wake) => {
                conn.wake(now);
                // Its deadline is re-armed by the turn (after_change); a
                // wake-up due again at once fires next iteration.
                self.drive(id.key, now, wall);
                return;
            }
            Some(DeadlineKind::DrainGrace) => {
                // The drain closing an idle connection, as `close_idle`
                // does: not a timeout.
                debug!("conn {}: idle at the end of its drain grace", id.key);
                conn.abort("idle at shutdown");
                queue_removal(&mut self.closed, id.key, conn);
                return;
            }
            Some(DeadlineKind::Request) => "request timeout",
            Some(DeadlineKind::Idle) => "idle timeout",
            Some(DeadlineKind::Linger) => "linger timeout",
            None => "timeout",
        };
        debug!("conn {}: {why}, closing ({})", id.key, conn.peer());
        conn.abort(why);
        self.metrics.connections_timed_out += 1;
        queue_removal(&mut self.closed, id.key, conn);
    }

    /// Remove the connections closed during this iteration.
    fn remove_closed(&mut self) {
        for key in self.closed.drain(..) {
            if !self
                .connections
                .get(key)
                .is_some_and(|c| c.state() == State::Closed)
            {
                continue;
            }
            let mut conn = self.connections.remove(key);
            if conn.slot.counted_as_unheard {
                self.listener.heard_from();
            }
            let id = conn.timer_id();
            self.timers.cancel(&mut conn.slot.timer, id);
            conn.release_buffers(&mut self.pool);
            conn.discard_late_input(&mut self.scratch);
            // No deregister: closing the descriptor (dropping `conn`) removes
            // it from epoll, and an epoll_ctl per connection is a syscall
            // the connection-per-request load would pay every time.
            self.metrics.connections_active -= 1;
            self.metrics.connections_closed += 1;
            trace!("conn {key}: removed");
        }
    }

    /// Drain a signal stream (`SignalStreams::drain`: each byte is one
    /// delivery) and act on it: a signal that arrived twice before we
    /// looked is two shutdown requests; reloads are not counted, one is as
    /// good as two.
    fn read_signal_stream(&mut self, token: Token) {
        let Some(Deliveries { meaning, count }) = self.stop.signal_streams.drain(token) else {
            return;
        };
        match meaning {
            SignalMeaning::Shutdown(name) => {
                for _ in 0..count {
                    self.stop.requests.note(Cause::Signal(name));
                }
            }
            SignalMeaning::Reload(name) => info!(
                "{name} received: nothing to reload yet (certificates will be, once HTTPS \
                 lands); still serving"
            ),
        }
    }

    /// Act on the shutdown requests made since the last look: the first
    /// one ever begins the drain, any later one ends the loop at once. A
    /// wake-up with nothing pending (its request was taken by the previous
    /// look) changes nothing.
    fn on_shutdown_requests(&mut self, now: Instant) -> LoopControl {
        for cause in self.stop.requests.take().causes() {
            if self.stop.deadline.is_some() {
                info!("{cause} again");
                warn!(
                    "{}: exiting now with {} connections open",
                    cause.second(),
                    self.connections.len()
                );
                return LoopControl::ExitNow;
            }
            info!(
                "{cause}: shutting down, {} connections open, waiting up to {:?}",
                self.connections.len(),
                self.config.shutdown_timeout
            );
            self.begin_shutdown(now);
        }
        LoopControl::Continue
    }

    /// Stop accepting, close idle connections, let the others finish.
    fn begin_shutdown(&mut self, now: Instant) {
        self.stop.deadline = Some(deadline_after(now, self.config.shutdown_timeout));
        if let Some(plugged) = &mut self.hooks {
            plugged.hooks.draining();
        }
        self.listener.stop_watching(&self.poll);
        if self.listener.shared {
            // See `serve_as_worker`: take what is queued, the other workers
            // get the rest.
            self.accept(now, SystemTime::now());
        }
        self.listener.close();
        self.protocol.begin_drain();
        if self.listener.shared {
            self.start_drain_grace(now);
            return;
        }
        self.close_idle();
    }

    /// A worker's drain: from now on a connection idle between requests
    /// (now, or once its response is out) closes [`DRAIN_IDLE_GRACE`]
    /// after it became idle, or after now if it was idle already: the
    /// `DrainGrace` deadline, which `Connection::deadline` computes from
    /// `Timeouts::drain_grace`. The connections open now get their
    /// deadline moved at once (the one pass over all of them, once per
    /// process); the others get it from `after_change`, as ever.
    fn start_drain_grace(&mut self, now: Instant) {
        self.timeouts.drain_grace = Some((now, DRAIN_IDLE_GRACE));
        for (_, conn) in self.connections.iter_mut() {
            let id = conn.timer_id();
            if let Some((due, _)) = conn.deadline(&self.timeouts) {
                self.timers.schedule(&mut conn.slot.timer, due, id);
            }
        }
    }

    /// Close the connections that have nothing in flight (at the start of
    /// a single process's drain; a worker's closes them one by one, after
    /// their grace).
    fn close_idle(&mut self) {
        // One pass over all connections, once: the only O(n) step, and it
        // happens once per process. An idle connection has nothing in
        // flight in either direction, so it is closed outright: with its
        // receive queue empty, close(2) sends a plain FIN. (Connections that
        // finish a request from now on close gracefully instead, in
        // `drive`, since the client may already be sending its next one.)
        for (key, conn) in self.connections.iter_mut() {
            if conn.is_idle(&self.protocol) {
                conn.abort("idle at shutdown");
                queue_removal(&mut self.closed, key, conn);
            }
        }
    }
}

/// List a connection that has closed for removal at the end of the batch
/// (see "Stale events" in the module docs), once however many paths closed
/// it. A free function over the two fields it needs, so callers can hold
/// the connection borrowed from the slab.
fn queue_removal<S>(closed: &mut Vec<usize>, key: usize, conn: &mut Connection<S>) {
    if conn.mark_for_removal() {
        closed.push(key);
    }
}

/// Whether the drain closes this connection now: it has nothing in flight
/// (see `Connection::is_idle`). A worker's drain (on a shared socket)
/// closes none here: a connection still waiting for its first request has
/// its request on the way, and one that has just become idle may have
/// promised keep-alive (a response begun before the drain) to a client
/// sending its next request right now; it closes after its drain grace
/// (`DeadlineKind::DrainGrace`), or after its next response, which says
/// `Connection: close` (see [`Server::serve_as_worker`]).
fn closes_at_drain<P: Protocol>(
    conn: &Connection<P::Session>,
    protocol: &P,
    shared_listener: bool,
) -> bool {
    !shared_listener && conn.is_idle(protocol)
}

/// What the loop does after looking at the shutdown requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoopControl {
    /// Keep running: nothing was asked, or the drain has begun (it ends the
    /// loop by itself once no connection is left or the shutdown timeout
    /// has passed).
    Continue,
    /// A second request: return from `run` without waiting for anyone.
    ExitNow,
}

/// Bind and listen on `config.listen` with the configured options, as
/// [`Server::bind`] does: for a program (the `--workers` supervisor) that
/// hands the socket to others.
pub fn listen(config: &Config) -> Result<std::net::TcpListener, StartError> {
    config.validate().map_err(StartError::Config)?;
    bind_listener(config).map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wait (on the poller, at most 10 s) until the listener has a
    /// connection, accept it, and return its slab key.
    fn accept_next<P: Protocol>(server: &mut Server<P>) -> io::Result<usize> {
        let serial = server.next_serial;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut events = Events::with_capacity(16);
        while server.next_serial == serial {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            server.poll.poll(&mut events, Some(left))?;
            server.accept(Instant::now(), SystemTime::now());
        }
        server
            .connections
            .iter()
            .find(|(_, conn)| conn.slot.serial == serial)
            .map(|(key, _)| key)
            .ok_or_else(|| io::Error::other("the accepted connection is not in the slab"))
    }

    /// Close a connection and remove it, as a timeout would.
    fn close_and_remove<P: Protocol>(server: &mut Server<P>, key: usize) {
        if let Some(conn) = server.connections.get_mut(key) {
            conn.abort("test");
        }
        server.after_change(key);
        server.remove_closed();
    }

    /// An echo server on a free port, not yet running.
    fn echo_server() -> io::Result<Server<crate::protocol::echo::Echo>> {
        let config = Config {
            listen: "127.0.0.1:0".parse().map_err(io::Error::other)?,
            ..Config::default()
        };
        Server::bind(config, crate::protocol::echo::Echo)
            .map_err(|err| io::Error::other(err.to_string()))
    }

    /// A slab slot is reused as soon as its connection is removed, so a
    /// timer entry left behind by the old connection names the slot of the
    /// new one. The entry's serial number tells them apart: `fire_timers`
    /// must drop the stale entry, not adopt it for the new connection (which
    /// would leave the new connection with two entries, and one of them
    /// behind when it closes, ready to misfire on the slot's next owner).
    #[test]
    fn a_stale_timer_entry_does_not_act_on_the_next_connection_in_its_slot() -> io::Result<()> {
        let mut server = echo_server()?;
        let _first = std::net::TcpStream::connect(server.local_addr())?;
        let slot = accept_next(&mut server)?;
        let stale = server.connections[slot].timer_id();
        close_and_remove(&mut server, slot);
        assert!(server.timers.is_empty(), "removal cancels the deadline");
        // Leave an entry for the gone connection, due at once.
        let left_behind = Instant::now();
        server.timers.schedule(
            &mut crate::reactor::timer::TimerSlot::default(),
            left_behind,
            stale,
        );

        let _second = std::net::TcpStream::connect(server.local_addr())?;
        assert_eq!(accept_next(&mut server)?, slot, "the slot is reused");
        let fresh = server.connections[slot].timer_id();
        assert_ne!(fresh.serial, stale.serial);
        let (due, _) = server.connections[slot]
            .deadline(&server.timeouts)
            .ok_or_else(|| io::Error::other("a new connection has a deadline"))?;

        // The stale entry is due, the new connection's deadline is not.
        server.fire_timers(Instant::now(), SystemTime::now());
        assert_ne!(server.connections[slot].state(), State::Closed);
        assert_eq!(server.metrics.connections_timed_out, 0);
        assert_eq!(server.timers.len(), 1, "only the new connection's entry");
        assert_eq!(server.timers.next_wakeup(), Some(due));

        close_and_remove(&mut server, slot);
        assert!(
            server.timers.is_empty(),
            "the closed connection left an entry behind"
        );
        Ok(())
    }

    /// No more than [`TIMERS_PER_ITERATION`] entries are acted on in one pass:
    /// the rest stay armed, and the next poll does not sleep.
    #[test]
    fn one_pass_fires_at_most_its_budget_of_timers() -> io::Result<()> {
        let mut server = echo_server()?;
        let now = Instant::now();
        let extra = 5;
        for serial in 0..(TIMERS_PER_ITERATION + extra) as u64 {
            // Entries of connections long gone: each is popped and dropped.
            let id = TimerId { serial, key: 0 };
            server
                .timers
                .schedule(&mut crate::reactor::timer::TimerSlot::default(), now, id);
        }
        server.fire_timers(now, SystemTime::now());
        assert_eq!(server.timers.len(), extra, "the budget was not kept");
        assert_eq!(server.poll_timeout(now), Some(Duration::ZERO));
        server.fire_timers(now, SystemTime::now());
        assert!(server.timers.is_empty());
        Ok(())
    }

    /// A protocol whose `on_wake` waits again until an instant already
    /// passed, forever, for a connection that sent "spin" (answered "ok"
    /// before the first wait); anything else comes back, as with echo.
    struct Spinner;

    impl Protocol for Spinner {
        type Session = ();

        fn name(&self) -> &'static str {
            "spinner"
        }

        fn open(&mut self, _peer: SocketAddr) {}

        fn on_input(
            &mut self,
            _: &mut (),
            input: &[u8],
            ctx: &mut Context<'_>,
            out: &mut Output,
        ) -> crate::protocol::Verdict {
            use crate::protocol::Verdict;
            if input.is_empty() {
                return Verdict::NeedMore;
            }
            if input.starts_with(b"spin") {
                out.extend(b"ok");
                return Verdict::Wait(input.len(), ctx.now);
            }
            out.extend(input);
            Verdict::Continue(input.len())
        }

        fn on_wake(
            &mut self,
            _: &mut (),
            ctx: &mut Context<'_>,
            _: &mut Output,
        ) -> crate::protocol::Verdict {
            crate::protocol::Verdict::Wait(0, ctx.now)
        }
    }

    /// A wake-up that re-arms at once (allowed by the trait) must not hold
    /// the loop: another client is still answered, and the loop still
    /// stops when asked.
    #[test]
    fn a_wake_up_that_rearms_at_once_does_not_stop_the_loop() -> io::Result<()> {
        use std::io::Write;
        let config = Config {
            listen: "127.0.0.1:0".parse().map_err(io::Error::other)?,
            ..Config::default()
        };
        // The server is not Send: build it in the thread that runs it.
        let (tell, told) = std::sync::mpsc::channel();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let result = Server::bind(config, Spinner)
                .map_err(|err| io::Error::other(err.to_string()))
                .and_then(|server| {
                    let _ = tell.send((server.local_addr(), server.shutdown_handle()));
                    server.run()
                });
            let _ = done.send(result);
        });
        let limit = Duration::from_secs(10);
        let (addr, handle) = told.recv_timeout(limit).map_err(io::Error::other)?;

        let mut spinning = std::net::TcpStream::connect(addr)?;
        spinning.set_read_timeout(Some(limit))?;
        spinning.write_all(b"spin")?;
        // "ok" is written in the loop iteration that arms the first wait,
        // which fires in that same iteration: from here on the connection
        // is spinning.
        let mut ok = [0u8; 2];
        spinning.read_exact(&mut ok)?;
        let mut other = std::net::TcpStream::connect(addr)?;
        other.set_read_timeout(Some(limit))?;
        other.write_all(b"hello")?;
        let mut answer = [0u8; 5];
        let read = other.read_exact(&mut answer);
        // A second request exits at once, without waiting for the
        // spinning connection. (If the loop is stuck, its thread is left
        // behind: the test has failed anyway.)
        handle.shutdown()?;
        handle.shutdown()?;
        read.map_err(|err| io::Error::other(format!("the loop is stuck: {err}")))?;
        assert_eq!(&answer, b"hello");
        finished
            .recv_timeout(limit)
            .map_err(|_| io::Error::other("the loop did not stop"))??;
        Ok(())
    }
}
