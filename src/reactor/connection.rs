//! One client connection: its socket, its buffers, and the state machine that
//! moves it from reading a request to writing the response to closing.
//!
//! # States
//!
//! Each arrow is one call to [`Connection::transition`], which carries the
//! change out; the decisions are made elsewhere (in the steps of
//! `drive_until_blocked`, in `discard_input`, and in the reactor's
//! `fire_timer` and shutdown), and docs/architecture.md has a table of
//! them: the function, the condition and the flags behind each arrow.
//!
//! ```text
//!                     ┌───────────┐ ◀──── output drained, protocol waits ───────┐
//!                     │  Waiting  │                                             │
//!                     └───────────┘                                             │
//!    timer fired (wake)  │     ▲  protocol said Wait, output sent               │
//!                        ▼     │                                                │
//!        accept ───▶  ┌───────────┐ ── send buffer full, or budget spent ──▶ ┌───────────┐
//!                     │  Reading  │                                          │  Writing  │
//!                     │           │ ◀──────────── output drained ─────────── │           │
//!                     │           │ ◀── timer fired (wake), output stuck ─── │           │
//!                     └───────────┘                                          └───────────┘
//!                       │      │                                                   │
//!   protocol said Close │      │ a requested close with nothing                    │ a write error,
//!   or client EOF,      │      │ left to read; a read or write                     │ or the idle
//!   output sent         ▼      │ error; a request or idle timeout;                 │ timeout (a reset
//!                ┌───────────┐ │ idle at shutdown; registration                    │ if the client's
//!                │  Closing  │ │ failed; the read buffer full                      │ input is unread)
//!                └───────────┘ │                                                   │
//!   client EOF, linger  │      │                                                   │
//!   timeout, read error ▼      ▼                                                   │
//!                     ┌───────────┐                                                │
//!                     │  Closed   │ ◀──────────────────────────────────────────────┘
//!                     └───────────┘
//! ```
//!
//! A timer that fires in `Writing` (a paced body's next chunk falls due
//! while earlier output is stuck) wakes the connection like one in
//! `Waiting`: `Writing → Reading (timer fired)`. The connection then holds
//! the protocol's `on_wake` back until the output is below
//! `OUTPUT_HIGH_WATER` and no body streams, so the same turn normally goes
//! straight back: `Reading → Writing (socket send buffer full)`.
//!
//! A keep-alive response written at once leaves the connection in
//! `Reading`: no transition at all. A connection in `Writing` whose last
//! response drains goes `Writing → Reading → Closing` (or `→ Closed`) in
//! one turn. `Closed` is final: `transition` ignores any change out of it,
//! and the reactor removes the connection (drops the socket: `close(2)`)
//! after the batch of events, in `Server::remove_closed`.
//!
//! Besides the state, a few flags steer the decisions: the fields of
//! [`Readiness`] (`readable`, `writable`, `read_closed_hint`,
//! `peer_closed`: what the socket can do now) and, in [`Connection`],
//! `unparsed_input`, `close_after_flush`, `wake_at` and `woken`. Each is
//! described once, where it is declared.
//!
//! # Readiness is remembered, not re-registered
//!
//! The socket is registered once, for both directions, edge-triggered, and
//! only after its first turn. That turn, straight from accept, normally
//! finds nothing to do; but with `--defer-accept` the kernel hands over a
//! connection only once its request has arrived, so the first turn reads
//! it, answers, and (connection per request) closes: such a connection is
//! never registered at all.
//!
//! An edge says "something changed"; the connection remembers it in
//! `readable` and `writable` and clears the flag when the kernel says
//! `WouldBlock`, or, on Linux only, after a short read (a shortcut that
//! relies on how Linux's epoll behaves, not on anything mio promises: see
//! "Draining readiness" at [`Connection::read`]). So there is no `epoll_ctl` per request: a response
//! is written as soon as it is produced, and a writable edge is only waited
//! for when the kernel's send buffer was full.
//!
//! # Sending
//!
//! What the protocol produced waits in the connection's [`SendQueue`]
//! (`send_queue.rs`), which keeps the write offset, pulls a streamed body
//! chunk by chunk, pools the buffer and makes every system call that sends
//! (write, `MSG_MORE`, sendfile). [`Connection::flush`] asks it, one step
//! at a time, what comes next, and stops at `WouldBlock` or when the turn's
//! write budget is spent.
//!
//! # Fairness
//!
//! One call to [`Connection::drive`] does at most [`READS_PER_TURN`] reads
//! and writes at most [`WRITE_BUDGET_PER_TURN`] bytes. A client that sends
//! faster than we answer, or reads a big file as fast as we send it, would
//! otherwise keep the loop on its socket forever; instead `drive` returns
//! [`Progress::MoreWork`] and the reactor puts the connection on its out-of-budget list,
//! to be continued after every other connection with events has had its
//! turn. The out-of-budget list is what brings it back: a socket that still had room
//! (no `WouldBlock`) raises no new edge.

use crate::metrics::Metrics;
use crate::protocol::{Context, Protocol, Verdict};
use crate::reactor::buffer::{BufferPool, InputBuffer};
use crate::reactor::send_queue::{BODY_CHUNK, Next, SENDFILE_CHUNK, SendQueue};
use crate::reactor::timer::{TimerId, TimerSlot, deadline_after};
use log::{debug, trace};
use mio::event::Event;
use mio::net::TcpStream;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

/// Whether a short read may stand for `WouldBlock` (see "Draining
/// readiness" at [`Connection::read`]): only where the poller is Linux's
/// epoll, whose behaviour the shortcut relies on. Elsewhere the strict rule
/// holds: read until `WouldBlock`.
const SHORT_READ_DRAINS: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Reads one connection may do before yielding to the others.
pub(crate) const READS_PER_TURN: u32 = 16;

/// Bytes one connection may write before yielding to the others (Redis
/// caps writes per event the same way, `NET_MAX_WRITES_PER_EVENT`).
///
/// Without it a client that reads as fast as we write (a big file over
/// loopback) keeps `drive` in `flush` until the kernel's send buffer fills,
/// which for a fast enough reader is never: a small request on another
/// connection would wait for the whole file.
///
/// Why 1 MiB: at loopback speed that is a fraction of a millisecond of
/// sending, which is how long a small request can wait per busy download
/// in front of it (nginx's `sendfile_max_chunk` lets one connection send
/// 2 MiB per turn); and it is one sendfile(2) per turn
/// ([`SENDFILE_CHUNK`]). Smaller budgets cost more CPU per request for
/// files of about this size (more sendfiles and turns per response). The
/// measurements behind both are in docs/benchmarks.md ("Figures cited by
/// code comments", and "Static files"). Over a network slower than
/// loopback, the kernel's buffer fills first and the budget never binds.
pub(crate) const WRITE_BUDGET_PER_TURN: usize = 1024 * 1024;

/// Once this much output is pending, the protocol is not handed more input
/// (and so nothing more is read) until the client has taken some: the cap
/// that keeps a client that doesn't read from growing our memory.
pub(crate) const OUTPUT_HIGH_WATER: usize = 64 * 1024;

/// Reads `discard_late_input` makes at most before a close at once.
const LATE_INPUT_READS: usize = 4;

/// Where a connection is in its life. See the module docs for the diagram.
///
/// # Waiting
///
/// A protocol that answers `Verdict::Wait(n, at)` (HTTP's `/echo?delay=`)
/// parks its connection in `Waiting` once the output before the wait has
/// gone out: no read, no protocol call, one entry in the reactor's timers
/// and nothing else, so ten thousand delayed responses cost ten thousand
/// timer entries and no thread. Requests pipelined behind the delayed one
/// stay in the input buffer (or the kernel's) and are answered after it,
/// in order. At `at` the reactor's timer calls [`Connection::wake`], the
/// connection goes back to `Reading`, and its next turn calls
/// `Protocol::on_wake` before looking at any input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Waiting for (the rest of) a request. No output is stuck in our buffer.
    Reading,
    /// Output is pending: the kernel would not take it all (waiting for a
    /// writable edge), or this turn's write budget ran out (waiting on the
    /// out-of-budget list). Nothing is read meanwhile: that is backpressure.
    Writing,
    /// All output sent; the protocol waits for an instant (see above).
    /// Nothing is read meanwhile.
    Waiting,
    /// The last response was sent and our write side shut down (FIN sent);
    /// discarding whatever the client still sends until its EOF or the
    /// linger timeout, so that closing doesn't turn into a reset.
    Closing,
    /// Done. The reactor removes the connection at the end of the batch.
    Closed,
}

/// What a call to [`Connection::drive`] left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Nothing more can be done until the next readiness event or timeout.
    Done,
    /// A budget (reads or bytes written) ran out with work left: come back
    /// after the others.
    MoreWork,
}

/// Why a connection's deadline is set, for the log line when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeadlineKind {
    /// --request-timeout: a request (or the first one) didn't finish in time.
    Request,
    /// --idle-timeout: no traffic, or no progress writing to a slow reader.
    Idle,
    /// The linger limit of a closing connection.
    Linger,
    /// A worker's drain: the connection has been idle between requests for
    /// the drain's grace (see `Timeouts::drain_grace`). Not a timeout: the
    /// drain closes it, as it closes any idle connection.
    DrainGrace,
    /// The instant a protocol asked to be woken at (`Verdict::Wait`): not a
    /// timeout, the connection goes on.
    Wake,
}

/// The timeouts a connection's deadline is computed from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) request: Duration,
    pub(crate) idle: Duration,
    pub(crate) linger: Duration,
    /// A worker's drain (a handover: see `Server::serve_as_worker`): when
    /// it began, and how long a connection idle between requests may stay
    /// open to bring one more, counted from when it became idle (or from
    /// the drain's start, if it was idle then). One deadline per
    /// connection, like the others: no scan of every connection per iteration.
    pub(crate) drain_grace: Option<(Instant, Duration)>,
}

/// Everything outside the connection that [`Connection::drive`] needs: the
/// protocol, the counters, the buffer pool, and the loop's idea of now.
pub(crate) struct Env<'a, P> {
    pub(crate) protocol: &'a mut P,
    pub(crate) metrics: &'a mut Metrics,
    pub(crate) pool: &'a mut BufferPool,
    /// Where bytes of a closing connection are read to be thrown away.
    pub(crate) scratch: &'a mut [u8],
    pub(crate) now: Instant,
    pub(crate) wall: SystemTime,
}

/// One client connection. Lives in the reactor's slab; its slab key is its
/// mio token.
pub(crate) struct Connection<S> {
    /// Slab key and mio token, for log lines.
    key: usize,
    socket: TcpStream,
    peer: SocketAddr,
    state: State,
    /// The protocol's per-connection state.
    session: S,
    /// Bytes read and not yet consumed by the protocol.
    input: InputBuffer,
    /// Bytes arrived since the protocol last said `NeedMore`: only then is
    /// it worth showing it the input again (a slow client's partial request
    /// is not re-parsed on every event).
    unparsed_input: bool,
    /// Responses produced and not yet written, and the calls that write
    /// them (see `send_queue`).
    send_queue: SendQueue,
    /// What the socket can do now, as its events and calls have said.
    io: Readiness,
    /// The protocol asked to close (or input ended): close once output is sent.
    close_after_flush: bool,
    /// When the request now being read started (for a new connection: when
    /// it was accepted). None between requests.
    request_started: Option<Instant>,
    /// Last time bytes moved in either direction.
    last_progress: Instant,
    /// When the connection entered `Closing`: the linger timeout counts
    /// from here.
    closing_since: Option<Instant>,
    /// The protocol said `Wait`: the instant to wake it at. Set until the
    /// timer fires (see [`State::Waiting`]).
    wake_at: Option<Instant>,
    /// The timer fired: the protocol is owed an `on_wake` call, before any
    /// input is shown to it.
    woken: bool,
    /// A read has returned something (bytes or EOF): the client has spoken.
    heard_from: bool,
    /// Closed at once after its last response, with nothing unread (see
    /// `close_after_last_response`): bytes that arrive before the close
    /// itself must be read away first (`discard_late_input`).
    closed_at_once: bool,
    /// The reactor's bookkeeping about this connection.
    pub(crate) slot: ReactorSlot,
}

/// What the socket can do now: the readiness flags, kept from its events
/// and from what its calls returned (edge-triggered: see architecture.md
/// §2).
#[derive(Debug, Default, Clone, Copy)]
struct Readiness {
    /// The last event said readable and no read has since said
    /// `WouldBlock`, returned 0 bytes (EOF), or, on Linux, come back short
    /// (`SHORT_READ_DRAINS`; in `read` and `discard_input`).
    readable: bool,
    /// The last event said writable and no write has since said
    /// `WouldBlock` (`flush`): output goes out at once, and a writable edge
    /// is only waited for after the kernel's send buffer was full.
    writable: bool,
    /// The kernel told us the client shut down its write side (EPOLLRDHUP):
    /// keep reading until the 0-byte read even after a short read.
    read_closed_hint: bool,
    /// A read returned 0: the client will send nothing more.
    peer_closed: bool,
}

/// The reactor's bookkeeping about one connection, which the connection
/// itself never reads: who it is across slot reuse, its timer entry, and
/// which of the reactor's lists it is on.
#[derive(Debug, Default)]
pub(crate) struct ReactorSlot {
    /// Unique for the life of the process, unlike the slab key (see
    /// `timer`).
    pub(crate) serial: u64,
    /// This connection's entry in the reactor's timers.
    pub(crate) timer: TimerSlot,
    /// On the reactor's out-of-budget list, so it is listed once however
    /// often it runs out of budget.
    pub(crate) queued: bool,
    /// Listed for removal after the batch.
    pub(crate) removal_queued: bool,
    /// Counted among the accepted connections not yet heard from, which
    /// keep the listener parked (see `listener`).
    pub(crate) counted_as_unheard: bool,
}

impl<S> Connection<S> {
    /// A connection just accepted. Its first request must arrive within the
    /// request timeout, counted from now.
    pub(crate) fn new(
        key: usize,
        serial: u64,
        socket: TcpStream,
        peer: SocketAddr,
        session: S,
        now: Instant,
    ) -> Self {
        Connection {
            key,
            socket,
            peer,
            state: State::Reading,
            session,
            input: InputBuffer::default(),
            unparsed_input: false,
            send_queue: SendQueue::default(),
            io: Readiness::default(),
            closing_since: None,
            close_after_flush: false,
            request_started: Some(now),
            last_progress: now,
            wake_at: None,
            woken: false,
            heard_from: false,
            closed_at_once: false,
            slot: ReactorSlot {
                serial,
                ..ReactorSlot::default()
            },
        }
    }

    /// The kernel handed this connection over only once its first bytes had
    /// arrived (--defer-accept): read at once instead of waiting for an event
    /// that registration would only report back. A new socket's send buffer
    /// is empty, so it can take a first write too.
    pub(crate) fn assume_ready(&mut self) {
        self.io.readable = true;
        self.io.writable = true;
    }

    /// Register the socket with the poller, for both directions, edge-
    /// triggered. Done once, and only if the connection has to wait: a
    /// request answered and closed on its first turn never needs it. It is
    /// safe after I/O: epoll reports readiness the socket already has when
    /// it is added, so nothing that arrived meanwhile is missed.
    pub(crate) fn register(&mut self, registry: &mio::Registry) -> io::Result<()> {
        registry.register(
            &mut self.socket,
            mio::Token(self.key),
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        )
    }

    /// The reactor is putting this connection on its out-of-budget list: true if it
    /// wasn't there already (then it must be pushed).
    pub(crate) fn enter_out_of_budget(&mut self) -> bool {
        !std::mem::replace(&mut self.slot.queued, true)
    }

    /// The reactor took this connection off its out-of-budget list.
    pub(crate) fn leave_out_of_budget(&mut self) {
        self.slot.queued = false;
    }

    /// The reactor is listing this (closed) connection for removal: true if
    /// it wasn't listed already.
    pub(crate) fn mark_for_removal(&mut self) -> bool {
        !std::mem::replace(&mut self.slot.removal_queued, true)
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// Open, and nothing read from the client yet: its first bytes will
    /// raise an event.
    pub(crate) fn not_heard_from(&self) -> bool {
        !self.heard_from && self.state != State::Closed
    }

    pub(crate) fn timer_id(&self) -> TimerId {
        TimerId {
            serial: self.slot.serial,
            key: self.key,
        }
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Remember what a readiness event said. Errors and hang-ups count as
    /// readiness: the next read or write reports them.
    pub(crate) fn on_event(&mut self, event: &Event) {
        trace!(
            "conn {}: event{}{}{}{}{} in {:?}",
            self.key,
            if event.is_readable() { " readable" } else { "" },
            if event.is_writable() { " writable" } else { "" },
            if event.is_read_closed() {
                " read-closed"
            } else {
                ""
            },
            if event.is_write_closed() {
                " write-closed"
            } else {
                ""
            },
            if event.is_error() { " error" } else { "" },
            self.state,
        );
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.io.readable = true;
        }
        if event.is_read_closed() {
            self.io.read_closed_hint = true;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            self.io.writable = true;
        }
    }

    /// The single place where a connection changes state: it carries a
    /// transition out (logs it, does what the new state needs on entry),
    /// it does not decide it. The decisions are made by the steps of
    /// `drive_until_blocked`, by `discard_input`, and by the reactor
    /// (timers, shutdown); see the table in docs/architecture.md.
    pub(crate) fn transition(&mut self, to: State, why: &str) {
        let from = self.state;
        if from == to || from == State::Closed {
            return;
        }
        trace!("conn {}: {from:?} -> {to:?} ({why})", self.key);
        match to {
            // Reading after Writing: the client took our output, so reading
            // (which we stopped, for backpressure) resumes. Reading after
            // Waiting: the timer fired (see `wake`). Waiting: nothing to do
            // on entry; the reactor arms the timer from `deadline`.
            State::Reading | State::Writing | State::Waiting => {}
            // The response is out: send FIN now, so the client sees the end
            // of the response even while we keep draining its input.
            State::Closing => {
                self.input.clear();
                // A client that already sent its EOF needs no FIN first:
                // `discard_input`, in this same turn, sees `peer_closed` and
                // goes to Closed, and the close(2) in the reactor's
                // `remove_closed`, after the batch, sends it.
                if !self.io.peer_closed
                    && let Err(err) = self.socket.shutdown(Shutdown::Write)
                {
                    debug!("conn {}: shutdown(write) failed: {err}", self.key);
                }
            }
            // Nothing to do here: the reactor drops the socket (close(2)) and
            // returns the buffers after the batch (`Server::remove_closed`),
            // so a stale event of the same batch can't reach a new
            // connection in this slab slot.
            State::Closed => {}
        }
        self.state = to;
    }

    /// Close at once, for a timeout or shutdown deadline.
    pub(crate) fn abort(&mut self, why: &str) {
        self.transition(State::Closed, why);
    }

    /// The instant a `Verdict::Wait` named has come: the protocol is owed
    /// its `on_wake`, which the next turn makes before anything else.
    pub(crate) fn wake(&mut self, now: Instant) {
        self.wake_at = None;
        self.woken = true;
        self.last_progress = now;
        self.transition(State::Reading, "timer fired");
    }

    /// Close gracefully once pending output is sent (server shutting down).
    pub(crate) fn close_when_flushed(&mut self) {
        self.close_after_flush = true;
    }

    /// True when no request is in progress and nothing is pending: a
    /// keep-alive connection between requests. These are the connections
    /// closed at once on shutdown. A connection whose last turn ended with
    /// the socket still readable (its read budget ran out) is not idle: the
    /// kernel may hold requests we haven't read, and closing over them
    /// would send a reset instead of their responses.
    pub(crate) fn is_idle<P: Protocol<Session = S>>(&self, protocol: &P) -> bool {
        self.state == State::Reading
            && !self.io.readable
            && self.input.is_empty()
            && self.send_queue.is_empty()
            && !self.close_after_flush
            && !self.woken
            && !protocol.request_in_progress(&self.session)
    }

    /// When this connection must be looked at next, and why.
    pub(crate) fn deadline(&self, timeouts: &Timeouts) -> Option<(Instant, DeadlineKind)> {
        match self.state {
            // No traffic for --idle-timeout closes any connection; a request
            // that started (or a new connection's first) must also finish
            // within --request-timeout. Whichever comes first.
            State::Reading => {
                let idle = (
                    deadline_after(self.last_progress, timeouts.idle),
                    DeadlineKind::Idle,
                );
                let request = self
                    .request_started
                    .map(|started| deadline_after(started, timeouts.request));
                Some(match (request, timeouts.drain_grace) {
                    (Some(due), _) if due < idle.0 => (due, DeadlineKind::Request),
                    // Between requests (no request clock) during a drain.
                    (None, Some((began, grace))) => {
                        let due = deadline_after(self.last_progress.max(began), grace);
                        if due < idle.0 {
                            (due, DeadlineKind::DrainGrace)
                        } else {
                            idle
                        }
                    }
                    _ => idle,
                })
            }
            // A client that reads nothing is closed after --idle-timeout,
            // even while the protocol waits for a timer of its own; else
            // the wake-up, if it comes first.
            State::Writing => {
                let idle = deadline_after(self.last_progress, timeouts.idle);
                Some(match self.wake_at {
                    Some(at) if at < idle => (at, DeadlineKind::Wake),
                    _ => (idle, DeadlineKind::Idle),
                })
            }
            // Only the wake-up: it is bounded by the protocol (--max-echo-
            // delay), and the client can't be slow while we are.
            State::Waiting => self.wake_at.map(|at| (at, DeadlineKind::Wake)),
            State::Closing => self
                .closing_since
                .map(|since| (deadline_after(since, timeouts.linger), DeadlineKind::Linger)),
            State::Closed => None,
        }
    }

    /// Give the buffers back to the pool (the connection is being removed).
    pub(crate) fn release_buffers(&mut self, pool: &mut BufferPool) {
        self.input.release(pool);
        self.send_queue.release(pool);
    }

    /// Do everything the socket allows right now, in the five steps of
    /// `drive_until_blocked`, repeated: (1) send pending output; (2) if a
    /// close was asked for and the output is out, close (at once, or via
    /// `Closing`); (3) let the protocol answer the requests already
    /// buffered (or its `on_wake`); (4) after the client's EOF, give the
    /// protocol the last word; (5) read more. It stops when the kernel says
    /// `WouldBlock`, the connection waits (Writing, Waiting) or closes, or a
    /// budget (reads or bytes written) runs out.
    pub(crate) fn drive<P: Protocol<Session = S>>(&mut self, env: &mut Env<'_, P>) -> Progress {
        let turn = self.drive_until_blocked(env);
        // An idle connection holds no buffers (see `buffer`).
        self.input.release_if_empty(env.pool);
        self.send_queue.release_if_empty(env.pool);
        turn
    }

    /// The steps of a turn, in order, repeated until one of them has to
    /// wait (or yields its budget). Most transitions of a connection are
    /// decided in one of these steps or in `discard_input`; the others by
    /// the reactor (timeouts in `fire_timer`, which also calls `wake`;
    /// idle connections at shutdown in `close_idle`). All are carried out
    /// by [`Connection::transition`]. The table in docs/architecture.md
    /// lists each with its condition and flags.
    fn drive_until_blocked<P: Protocol<Session = S>>(&mut self, env: &mut Env<'_, P>) -> Progress {
        let mut reads_left = READS_PER_TURN;
        let mut write_budget = WRITE_BUDGET_PER_TURN;
        loop {
            match self.state {
                State::Closed | State::Waiting => return Progress::Done,
                State::Closing => return self.discard_input(env, &mut reads_left),
                State::Reading | State::Writing => {}
            }
            // 1. Send what is pending.
            if let Some(turn) = self.send_pending(env, &mut write_budget) {
                return turn;
            }
            // 2. All sent; if the protocol asked to close (or the input
            //    ended), close now.
            if self.close_after_flush {
                if let Some(turn) = self.close_after_last_response(env) {
                    return turn;
                }
                continue;
            }
            // 3. Answer the requests already buffered (pipelining), before
            //    reading more.
            if self.answer_buffered(env) {
                continue;
            }
            // 4. The client sent EOF and every complete request is answered:
            //    the protocol has the last word, then we close.
            if self.io.peer_closed {
                self.give_the_last_word(env);
                continue;
            }
            // 5. Read more, if the last event said there is something to read.
            if let Some(turn) = self.read_more(env, &mut reads_left) {
                return turn;
            }
        }
    }

    /// Step 1: write what is queued. Responses go out as soon as they are
    /// produced; we wait for a writable edge only if the kernel's buffer is
    /// full, and yield (MoreWork) once this turn has written its budget.
    /// None when everything is out (the connection is then `Reading`).
    fn send_pending<P>(
        &mut self,
        env: &mut Env<'_, P>,
        write_budget: &mut usize,
    ) -> Option<Progress> {
        if !self.send_queue.is_empty() {
            match self.flush(env, write_budget) {
                Ok(Flushed::All) => {}
                Ok(Flushed::WouldBlock) => {
                    self.transition(State::Writing, "socket send buffer full");
                    return Some(Progress::Done);
                }
                Ok(Flushed::BudgetSpent) => {
                    // The socket is still writable (no WouldBlock), so
                    // no edge will come: the out-of-budget list brings us back.
                    self.transition(State::Writing, "write budget spent");
                    return Some(Progress::MoreWork);
                }
                Err(err) => {
                    debug!("conn {}: write failed: {err}", self.key);
                    self.transition(State::Closed, "write error");
                    return Some(Progress::Done);
                }
            }
        }
        if self.wake_at.is_some() {
            self.transition(State::Waiting, "output drained, protocol waits");
            return Some(Progress::Done);
        }
        self.transition(State::Reading, "output drained");
        None
    }

    /// Step 2: the last response is out. Close at once if nothing more can
    /// arrive (Some(Done)); otherwise enter `Closing` to drain what the
    /// client still sends (None: the loop goes on into `discard_input`).
    fn close_after_last_response<P: Protocol<Session = S>>(
        &mut self,
        env: &mut Env<'_, P>,
    ) -> Option<Progress> {
        // Nothing unread here or in the kernel (`readable` is false: the
        // last read said WouldBlock or, on Linux, was short), and the
        // protocol expects nothing more: close(2), after the batch, sends a
        // plain FIN after the response, no reset.
        if self.input.is_empty()
            && !self.io.readable
            && !env.protocol.expects_more_input(&self.session)
        {
            self.closed_at_once = true;
            self.transition(State::Closed, "last response sent, nothing more expected");
            return Some(Progress::Done);
        }
        let why = if self.io.peer_closed {
            "client closed, all sent"
        } else {
            "last response sent"
        };
        // Entering Closing starts the linger clock (`closing_since`, read
        // by `deadline`); nothing else enters it.
        if self.state != State::Closing {
            self.closing_since = Some(env.now);
        }
        self.transition(State::Closing, why);
        None
    }

    /// Just before close(2), for a connection closed at once: the decision
    /// that nothing was unread was made earlier in the batch, and a client
    /// that sent more since (outside its protocol, but the contract is
    /// "never a reset") would get a reset from a close with its bytes
    /// unread. So read them away first; this narrows the window from the
    /// rest of the batch to the microseconds between this read and the
    /// close. It costs one `recv` per such connection, which normally says
    /// `WouldBlock` (docs/benchmarks.md, the connection-per-request
    /// figures). A client that keeps sending gets no more than a few reads:
    /// it is then closed as it would have been.
    pub(crate) fn discard_late_input(&mut self, scratch: &mut [u8]) {
        if !self.closed_at_once {
            return;
        }
        for _ in 0..LATE_INPUT_READS {
            match self.socket.read(scratch) {
                Ok(0) => return,
                Ok(n) => trace!("conn {}: discarded {n} bytes that came late", self.key),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// Step 4: the client's input ended; the protocol sees what is left
    /// (`Protocol::on_eof`) and may answer it, then the connection closes.
    fn give_the_last_word<P: Protocol<Session = S>>(&mut self, env: &mut Env<'_, P>) {
        let mut ctx = Context {
            now: env.now,
            wall: env.wall,
            metrics: &*env.metrics,
        };
        env.protocol.on_eof(
            &mut self.session,
            self.input.unconsumed(),
            &mut ctx,
            self.send_queue.output_for_protocol(env.pool),
        );
        self.input.clear();
        self.close_after_flush = true;
    }

    /// Step 5: one read, within the turn's read budget. None when the loop
    /// should go on (bytes, EOF, or `WouldBlock` to be noticed next round);
    /// Some when the turn ends here.
    fn read_more<P>(&mut self, env: &mut Env<'_, P>, reads_left: &mut u32) -> Option<Progress> {
        if !self.io.readable {
            return Some(Progress::Done);
        }
        if *reads_left == 0 {
            return Some(Progress::MoreWork);
        }
        *reads_left -= 1;
        match self.read(env) {
            Ok(ReadOutcome::Data | ReadOutcome::Eof | ReadOutcome::Drained) => None,
            Ok(ReadOutcome::BufferFull) => {
                // The protocol wants more than the buffer holds, which is at
                // least what it declared it may need
                // (`Protocol::max_buffered_input`): a protocol broke its
                // contract. Close this connection rather than spin.
                debug!("conn {}: request does not fit the read buffer", self.key);
                self.transition(State::Closed, "read buffer full");
                Some(Progress::Done)
            }
            Err(err) => {
                debug!("conn {}: read failed: {err}", self.key);
                self.transition(State::Closed, "read error");
                Some(Progress::Done)
            }
        }
    }

    /// Hand buffered input to the protocol until it needs more, asks to
    /// close, or enough output is pending. Returns true if there is now
    /// something to send or a close to carry out.
    fn answer_buffered<P: Protocol<Session = S>>(&mut self, env: &mut Env<'_, P>) -> bool {
        if self.woken {
            if self.send_queue.pending_len() >= OUTPUT_HIGH_WATER || self.send_queue.has_body() {
                // The output from before must drain first (backpressure).
                return true;
            }
            self.answer_wake(env);
        }
        while self.wake_at.is_none()
            && !self.input.is_empty()
            && self.unparsed_input
            && !self.close_after_flush
            && self.send_queue.pending_len() < OUTPUT_HIGH_WATER
            && !self.send_queue.has_body()
        {
            let mut ctx = Context {
                now: env.now,
                wall: env.wall,
                metrics: &*env.metrics,
            };
            let verdict = env.protocol.on_input(
                &mut self.session,
                self.input.unconsumed(),
                &mut ctx,
                self.send_queue.output_for_protocol(env.pool),
            );
            let consumed = verdict.consumed().min(self.input.unconsumed().len());
            trace!(
                "conn {}: protocol {verdict:?}, {} bytes pending output",
                self.key,
                self.send_queue.pending_len()
            );
            self.input.consume(consumed);
            // A request ended here unless the protocol is still inside one
            // (a body being read): only then does the request clock stop.
            // Bytes of a body do not restart it, so --request-timeout
            // covers the whole request, head and body, and a body dribbled
            // a byte at a time can't hold the connection forever.
            if consumed > 0 && !env.protocol.request_in_progress(&self.session) {
                self.request_started = None;
            }
            match verdict {
                Verdict::Continue(n) if n > 0 => {}
                // Continue(0) would loop forever; treat it as "need more".
                Verdict::NeedMore | Verdict::Continue(_) => {
                    self.unparsed_input = false;
                    break;
                }
                Verdict::Close(_) => self.close_after_flush = true,
                Verdict::Wait(_, at) => self.wake_at = Some(at),
            }
        }
        // The next request started (bytes of it are buffered, or its body
        // is being read) when none was running: start its clock.
        let in_progress = !self.input.is_empty() || env.protocol.request_in_progress(&self.session);
        if in_progress && self.request_started.is_none() {
            self.request_started = Some(env.now);
        }
        !self.send_queue.is_empty() || self.close_after_flush || self.wake_at.is_some()
    }

    /// The timer of a `Verdict::Wait` fired: the protocol writes what it
    /// owes. The request clock starts again, since the wait was ours, not
    /// the client's; a body still to come gets the whole --request-timeout.
    fn answer_wake<P: Protocol<Session = S>>(&mut self, env: &mut Env<'_, P>) {
        self.woken = false;
        let mut ctx = Context {
            now: env.now,
            wall: env.wall,
            metrics: &*env.metrics,
        };
        let verdict = env.protocol.on_wake(
            &mut self.session,
            &mut ctx,
            self.send_queue.output_for_protocol(env.pool),
        );
        trace!("conn {}: protocol woke: {verdict:?}", self.key);
        match verdict {
            Verdict::NeedMore | Verdict::Continue(_) => {}
            Verdict::Close(_) => self.close_after_flush = true,
            Verdict::Wait(_, at) => self.wake_at = Some(at),
        }
        // Whatever was buffered behind the wait is shown to the protocol.
        self.unparsed_input = !self.input.is_empty();
        self.request_started = env
            .protocol
            .request_in_progress(&self.session)
            .then_some(env.now);
    }

    /// Read once into the input buffer.
    ///
    /// # Draining readiness
    ///
    /// The rule, as mio states it (`mio::Poll`, "Draining readiness"): after
    /// an event, keep reading until the call returns `WouldBlock`; mio
    /// promises no further event for the socket otherwise.
    ///
    /// **A Linux-specific shortcut.** On Linux (`SHORT_READ_DRAINS`) a
    /// *short* read (fewer bytes than the buffer had room for) also clears
    /// `readable`, saving the extra `read` that would only return
    /// `WouldBlock`. This is not mio's rule. It holds because of how Linux's
    /// epoll behaves: in edge-triggered mode it reports a socket again
    /// whenever *new* data is queued on it, whether or not the earlier data
    /// was read until `EAGAIN` (epoll(7): "multiple events can be
    /// generated upon receipt of multiple chunks of data"); and a short
    /// read has emptied the receive queue at that moment. So a byte
    /// arriving after the short read raises a new event, and a byte that
    /// arrived before it was returned by it. nginx relies on the same
    /// behaviour. Elsewhere the strict rule applies
    /// (`examples/minimal.rs` keeps to it everywhere). One exception even on
    /// Linux: once the event said read-closed (the client shut down its
    /// side), the EOF raises no new edge, so we read until the 0-byte read.
    fn read<P>(&mut self, env: &mut Env<'_, P>) -> io::Result<ReadOutcome> {
        let space = self.input.space(env.pool);
        if space.is_empty() {
            return Ok(ReadOutcome::BufferFull);
        }
        let wanted = space.len();
        loop {
            match self.socket.read(space) {
                Ok(0) => {
                    trace!("conn {}: read 0 bytes: end of input", self.key);
                    self.heard_from = true;
                    self.io.peer_closed = true;
                    self.io.readable = false;
                    return Ok(ReadOutcome::Eof);
                }
                Ok(n) => {
                    trace!("conn {}: read {n} bytes", self.key);
                    self.heard_from = true;
                    self.input.filled(n);
                    self.unparsed_input = true;
                    env.metrics.bytes_read += n as u64;
                    self.last_progress = env.now;
                    if SHORT_READ_DRAINS && n < wanted && !self.io.read_closed_hint {
                        self.io.readable = false;
                    }
                    return Ok(ReadOutcome::Data);
                }
                Err(err) if would_block(&err) => {
                    trace!("conn {}: read would block", self.key);
                    self.io.readable = false;
                    return Ok(ReadOutcome::Drained);
                }
                Err(err) if interrupted(&err) => continue,
                Err(err) => return Err(err),
            }
        }
    }

    /// Write pending output until it is all sent, the kernel says
    /// `WouldBlock`, or `budget` bytes have gone out (each byte written is
    /// taken from it). Buffered bytes go first; a streamed body follows,
    /// sent from its file or pulled one chunk at a time, and only when the
    /// socket has taken everything before it.
    fn flush<P>(&mut self, env: &mut Env<'_, P>, budget: &mut usize) -> io::Result<Flushed> {
        loop {
            let sent = match self.send_queue.next() {
                Next::Nothing => return Ok(Flushed::All),
                _ if !self.io.writable => return Ok(Flushed::WouldBlock),
                _ if *budget == 0 => return Ok(Flushed::BudgetSpent),
                Next::Buffered => self.write_buffered(*budget),
                Next::FileRegion => self.send_file_chunk(*budget),
                Next::Refill => {
                    // Nothing sent: the next round writes the new chunk.
                    self.send_queue.refill(BODY_CHUNK)?;
                    continue;
                }
            };
            match sent {
                Ok(n) => {
                    *budget = budget.saturating_sub(n);
                    env.metrics.bytes_written += n as u64;
                    self.last_progress = env.now;
                }
                Err(err) if would_block(&err) => {
                    trace!(
                        "conn {}: write would block, {} bytes pending",
                        self.key,
                        self.send_queue.pending_len()
                    );
                    self.io.writable = false;
                    return Ok(Flushed::WouldBlock);
                }
                Err(err) if interrupted(&err) => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// One write of buffered bytes, at most `budget` of them. The last
    /// bytes before a close are held back for the FIN, so the two leave in
    /// one segment (see `send_queue::write_with_more`).
    fn write_buffered(&mut self, budget: usize) -> io::Result<usize> {
        let last = self.close_after_flush && self.send_queue.ends_within(budget);
        let n = self.send_queue.write_buffered(&self.socket, budget, last)?;
        trace!(
            "conn {}: wrote {n} bytes, {} left{}",
            self.key,
            self.send_queue.pending_len(),
            if last {
                " (last: MSG_MORE, the FIN rides along)"
            } else {
                ""
            }
        );
        Ok(n)
    }

    /// One sendfile(2) of a file-backed body, at most `budget` bytes (and
    /// at most `SENDFILE_CHUNK`): no copy through user space, no buffer
    /// held per connection.
    fn send_file_chunk(&mut self, budget: usize) -> io::Result<usize> {
        let n = self
            .send_queue
            .send_file_chunk(&self.socket, SENDFILE_CHUNK.min(budget))?;
        trace!("conn {}: sendfile sent {n} bytes", self.key);
        Ok(n)
    }

    /// In `Closing`: read and throw away whatever the client still sends,
    /// until its EOF (then close) or `WouldBlock` (wait for the next event or
    /// the linger deadline).
    fn discard_input<P>(&mut self, env: &mut Env<'_, P>, reads_left: &mut u32) -> Progress {
        loop {
            if self.io.peer_closed {
                self.transition(State::Closed, "client closed its side");
                return Progress::Done;
            }
            if !self.io.readable {
                return Progress::Done;
            }
            if *reads_left == 0 {
                return Progress::MoreWork;
            }
            *reads_left -= 1;
            match self.socket.read(env.scratch) {
                Ok(0) => {
                    trace!(
                        "conn {}: read 0 bytes while closing: end of input",
                        self.key
                    );
                    self.io.peer_closed = true;
                }
                Ok(n) => {
                    trace!("conn {}: discarded {n} bytes while closing", self.key);
                    env.metrics.bytes_read += n as u64;
                    // The Linux-only short-read shortcut, as in `read`.
                    if SHORT_READ_DRAINS && n < env.scratch.len() && !self.io.read_closed_hint {
                        self.io.readable = false;
                    }
                }
                Err(err) if would_block(&err) => self.io.readable = false,
                Err(err) if interrupted(&err) => {}
                Err(err) => {
                    debug!("conn {}: read while closing failed: {err}", self.key);
                    self.transition(State::Closed, "read error while closing");
                    return Progress::Done;
                }
            }
        }
    }
}

/// How far one [`Connection::flush`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flushed {
    /// Every pending byte, streamed body included, is written.
    All,
    /// The kernel's send buffer is full: a writable edge will say when to
    /// go on.
    WouldBlock,
    /// [`WRITE_BUDGET_PER_TURN`] is spent and the socket may take more: no
    /// edge would come, so the connection goes on the out-of-budget list.
    BudgetSpent,
}

/// What one read produced.
enum ReadOutcome {
    /// Some bytes.
    Data,
    /// End of input.
    Eof,
    /// `WouldBlock`: nothing more for now.
    Drained,
    /// No room left in the input buffer.
    BufferFull,
}

/// The kernel has nothing more for us (or no room) right now.
pub(crate) fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

/// A signal interrupted the syscall; it is safe to retry.
pub(crate) fn interrupted(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted
}

#[cfg(test)]
mod tests;
/// Every connection, idle or busy, holds its slab entry: that entry is
/// most of the memory an idle keep-alive connection costs (measured with
/// `benches/idle-memory.sh`: docs/benchmarks.md; the timer entry is the
/// rest). A field that only some requests need belongs behind a
/// pointer (as HTTP's request-body state is), or this bound breaks.
#[cfg(test)]
mod size {
    #[test]
    fn an_http_connection_fits_in_336_bytes() {
        let size = std::mem::size_of::<super::Connection<crate::protocol::http::Session>>();
        assert!(size <= 336, "Connection<http::Session> is {size} bytes");
    }
}
