//! The whole idea of reactord in one file: a greeting server on one mio
//! event loop, with none of the full server's shortcuts. Read this first;
//! docs/architecture.md then adds, one labelled step at a time, what the
//! full server does on top.
//!
//! mio's sockets are non-blocking: a call that would wait returns
//! `WouldBlock` instead. Terms (FIN, RST, WouldBlock, edge-triggered,
//! epoll, backlog, token): docs/glossary.md.
//!
//! ```text
//! cargo run --example minimal                       # listens on 127.0.0.1:7878
//! cargo run --example minimal -- --listen 127.0.0.1:0 --repeat 1000000 --timeout-ms 5000
//! printf 'hi\n' | nc 127.0.0.1 7878                 # -> Hola desde el servidor TCP
//! ```
//!
//! The protocol is the project seed's: the client sends one line (or
//! whatever it sent before shutting down its side, or the first
//! `MAX_REQUEST` bytes), the server answers with the greeting (`--repeat`
//! times, so that a big answer can fill the kernel's buffers: a million
//! greetings, 27 MB, is more than the send buffer (on Linux at most 4 MiB
//! by default, `tcp_wmem`) and a client's receive buffer normally hold;
//! a hundred thousand would fit, and no write would say `WouldBlock`) and
//! closes.
//!
//! Every connection lives in a [`Slab`]; its slab key is its mio [`Token`].
//! It goes through four states, and every change of state goes through
//! `Conn::set_state`, which logs it to stderr:
//!
//! ```text
//!   Reading --request complete--> Writing --all written--> Closing --EOF--> Closed
//!      |                             |                        |
//!      +------timer fired------------+-----timer fired--------+-----------> Closed
//! ```
//!
//! Rules this file follows, each explained where it is upheld:
//! read until `WouldBlock`, write until `WouldBlock` (mio is edge-triggered:
//! readiness is reported once per change, so whatever you leave undone must
//! be remembered by you); one deadline per connection, and `poll` sleeps
//! until the nearest; close without a reset; remove closed connections
//! after the batch of events, so a stale event never reaches a newcomer.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

/// The greeting: the reply of the seed's Go server, with a newline.
const GREETING: &[u8] = b"Hola desde el servidor TCP\n";
/// The longest request: the seed read at most 1 KiB, and so do we. A client
/// can't make us buffer more than this, however much it sends.
const MAX_REQUEST: usize = 1024;
/// The listener's token. Connections use their slab keys, which start at 0
/// and can never reach `usize::MAX`.
const LISTENER: Token = Token(usize::MAX);
/// How long a closing connection may keep sending before we close anyway.
const LINGER: Duration = Duration::from_secs(2);

/// Where a connection is in its life. The state says which operation the
/// connection waits on, so an event of either kind simply means "try it".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the request. Ends when it is complete.
    Reading,
    /// Writing the reply. Ends when every byte is in the kernel.
    Writing,
    /// Write side shut down (our FIN is sent after the reply); reading and
    /// discarding whatever the client still sends, until its EOF. Closing
    /// with unread input would make the kernel send a reset (RST), which
    /// can destroy the reply before the client has read it.
    Closing,
    /// Done. The socket is dropped at the end of the batch of events: an
    /// event later in the same batch may still name this token, and if we
    /// had freed the slot, a connection accepted meanwhile would get it.
    Closed,
}

/// One connection: a socket, its state, its bytes, its deadline.
struct Conn {
    socket: TcpStream,
    state: State,
    /// The request so far (at most [`MAX_REQUEST`] bytes).
    request: Vec<u8>,
    /// The reply, and how much of it the kernel has taken.
    reply: Vec<u8>,
    written: usize,
    /// This connection's one timer: its entry in [`Timers`] is
    /// `(deadline, key)`, so this and the slab key find it.
    deadline: Instant,
}

/// What one attempt at the current state's work found.
enum Step {
    /// The state changed: do the new state's work now, without waiting for
    /// an event (its readiness may have been reported long ago).
    Changed,
    /// The kernel said `WouldBlock`: wait for the next event.
    Blocked,
}

/// Every connection's deadline, ordered: the first entry is the nearest, so
/// the poll timeout is one lookup, and expired timers come off the front.
/// The token in the key keeps two equal instants apart.
type Timers = BTreeSet<(Instant, usize)>;

/// Settings from the command line.
struct Options {
    listen: SocketAddr,
    repeat: usize,
    timeout: Duration,
}

fn main() {
    match parse_options().and_then(|options| serve(&options)) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

/// `--listen ADDR` (default 127.0.0.1:7878: not reactord's 8080, so both can
/// run), `--repeat N` (at most 1,000,000) and `--timeout-ms N` (at most an
/// hour): bounded, so no flag can overflow a buffer or a clock.
fn parse_options() -> io::Result<Options> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    let mut options = Options {
        listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
        repeat: 1,
        timeout: Duration::from_secs(10),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| invalid(format!("{flag} needs a value")))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| invalid(format!("{flag} {value}: {e}")))
        };
        match flag.as_str() {
            "--listen" => {
                options.listen = value
                    .parse()
                    .map_err(|e| invalid(format!("{value}: {e}")))?
            }
            "--repeat" => match number()? {
                n @ 1..=1_000_000 => options.repeat = n as usize,
                _ => return Err(invalid("--repeat: 1 to 1000000".into())),
            },
            "--timeout-ms" => match number()? {
                n @ 1..=3_600_000 => options.timeout = Duration::from_millis(n),
                _ => return Err(invalid("--timeout-ms: 1 to 3600000".into())),
            },
            _ => return Err(invalid(format!("unknown flag {flag}"))),
        }
    }
    Ok(options)
}

/// The event loop: wait for readiness or the nearest deadline, handle every
/// event of the batch, fire expired timers, then remove closed connections.
fn serve(options: &Options) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(options.listen)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!("listening on {} (minimal)", listener.local_addr()?);

    let mut conns: Slab<Conn> = Slab::new();
    let mut timers = Timers::new();
    // Connections closed during this batch, removed after it.
    let mut closed: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(256);
    loop {
        // Sleep until an event or the nearest deadline, whichever is first.
        let timeout = timers
            .first()
            .map(|(at, _)| at.saturating_duration_since(Instant::now()));
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            // A signal interrupted the wait: nothing happened, wait again.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &mut conns, &mut timers, options);
            } else if let Some(conn) = conns.get_mut(event.token().0) {
                // An event for a connection closed earlier in this batch is
                // stale: ignore it. Otherwise, we don't look at which
                // readiness the event reports: the state says what we wait
                // for, and trying it is how we learn whether it is ready
                // (a WouldBlock costs one cheap syscall).
                if conn.state != State::Closed {
                    drive(conn, event.token().0, &mut timers, options);
                    if conn.state == State::Closed {
                        closed.push(event.token().0);
                    }
                }
            }
        }
        fire_timers(&mut conns, &mut timers, &mut closed);
        remove_closed(&mut conns, &mut timers, &mut closed, &poll);
    }
}

/// Accept until `WouldBlock`: the listener's readiness is an edge too, and
/// a connection left in the backlog would get no second event.
fn accept_all(
    listener: &TcpListener,
    poll: &Poll,
    conns: &mut Slab<Conn>,
    timers: &mut Timers,
    options: &Options,
) {
    loop {
        let (mut socket, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // One client's connection failed before we took it (reset while
            // queued, or refused by a firewall rule): that call consumed it,
            // and the next one takes the next client. Stopping here would
            // leave the rest of the backlog waiting for another edge.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::PermissionDenied
                ) =>
            {
                eprintln!("accept: {e}");
                continue;
            }
            // Out of file descriptors, say: the connection stays queued and
            // retrying at once would fail the same way, forever. Stop; what
            // is left in the backlog waits for the next connection's edge
            // (a simplification: the full server pauses and retries,
            // reactor/listener.rs, `after_accept_error`).
            Err(e) => {
                eprintln!("accept: {e}");
                return;
            }
        };
        let entry = conns.vacant_entry();
        let key = entry.key();
        // Registered once, for both directions, for its whole life: with
        // edge-triggered readiness that costs nothing while nothing changes,
        // and saves a reregister (a syscall) at every change of state.
        let both = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = poll.registry().register(&mut socket, Token(key), both) {
            // This connection is lost (dropping it closes it); not the server.
            eprintln!("register {peer}: {e}");
            continue;
        }
        let deadline = Instant::now() + options.timeout;
        timers.insert((deadline, key));
        eprintln!("conn {key}: accepted from {peer}");
        entry.insert(Conn {
            socket,
            state: State::Reading,
            request: Vec::new(),
            reply: Vec::new(),
            written: 0,
            deadline,
        });
        // No read yet: the request has most likely not arrived, and the
        // readable edge will tell us when it has.
    }
}

/// Do the current state's work until the kernel says `WouldBlock` or the
/// connection is closed. A failed read or write (a reset, say) closes it.
fn drive(conn: &mut Conn, key: usize, timers: &mut Timers, options: &Options) {
    let before = conn.state;
    let progress_before = (conn.request.len(), conn.written);
    loop {
        let step = match conn.state {
            State::Reading => conn.read_request(key, options),
            State::Writing => conn.write_reply(key),
            State::Closing => conn.discard_input(key),
            State::Closed => return,
        };
        match step {
            Ok(Step::Changed) => {}
            Ok(Step::Blocked) => break,
            Err(e) => {
                eprintln!("conn {key}: {e}");
                conn.set_state(key, State::Closed, "error");
                return;
            }
        }
    }
    // Move the one timer, only on progress: an event that moved nothing
    // (a readable edge while we wait to write, say) must not keep a client
    // that never reads alive forever. Reading and Writing: the idle timeout
    // starts again. Closing: the linger limit, set once when the state
    // begins, so a client that never stops sending can't keep us waiting.
    let progress = before != conn.state || progress_before != (conn.request.len(), conn.written);
    let deadline = match (before, conn.state) {
        _ if !progress => return,
        (State::Closing, State::Closing) => return,
        (_, State::Closing) => Instant::now() + LINGER,
        _ => Instant::now() + options.timeout,
    };
    conn.set_deadline(key, timers, deadline);
}

impl Conn {
    /// Reading: read until `WouldBlock` or until the request is complete.
    /// Bytes past the request's end stay in the kernel; Closing reads and
    /// discards them.
    fn read_request(&mut self, key: usize, options: &Options) -> io::Result<Step> {
        let mut chunk = [0u8; MAX_REQUEST];
        loop {
            let room = MAX_REQUEST - self.request.len();
            let n = match self.socket.read(chunk.get_mut(..room).unwrap_or_default()) {
                Ok(n) => n,
                // The kernel's queue is empty. Only now may we wait for an
                // event: mio promises another readable event only after a
                // read has returned WouldBlock. (A short read usually means
                // the same on Linux, but nothing promises it: no shortcut.)
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Step::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            eprintln!("conn {key}: read {n} bytes");
            let got = chunk.get(..n).unwrap_or_default();
            // A read of 0 bytes is end of input: the client shut down its
            // write side. What came before is its request.
            let end_of_input = n == 0;
            if let Some(newline) = got.iter().position(|&b| b == b'\n') {
                self.request
                    .extend_from_slice(got.get(..=newline).unwrap_or_default());
                // Bytes after the newline were read and are now dropped:
                // the protocol has no use for them (Closing drops the rest).
            } else {
                self.request.extend_from_slice(got);
                if !end_of_input && self.request.len() < MAX_REQUEST {
                    continue;
                }
            }
            // The request is complete: a line, the client's EOF, or full.
            self.reply = GREETING.repeat(options.repeat);
            self.set_state(key, State::Writing, "request complete");
            return Ok(Step::Changed);
        }
    }

    /// Writing: write until the reply is all in the kernel or `WouldBlock`.
    /// We write at once instead of waiting for a writable event: the socket
    /// has been writable since it connected, and that edge was reported
    /// long ago. Only a full kernel buffer makes us wait for the next one.
    fn write_reply(&mut self, key: usize) -> io::Result<Step> {
        while let Some(rest) = self
            .reply
            .get(self.written..)
            .filter(|rest| !rest.is_empty())
        {
            match self.socket.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n;
                    eprintln!(
                        "conn {key}: wrote {n} bytes, {} left",
                        self.reply.len() - self.written
                    );
                }
                // Backpressure: the client reads slower than we write. We
                // hold the rest (bounded: the reply is all we ever hold)
                // until the writable edge says the kernel has room again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    eprintln!(
                        "conn {key}: write would block, {} left",
                        self.reply.len() - self.written
                    );
                    return Ok(Step::Blocked);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Everything is in the kernel. Shut down our write side: the kernel
        // sends our FIN after the reply, so the client's read sees EOF.
        self.socket.shutdown(Shutdown::Write)?;
        self.set_state(key, State::Closing, "reply written");
        Ok(Step::Changed)
    }

    /// Closing: read and discard until the client's EOF (then close: nothing
    /// unread, so no reset) or `WouldBlock` (wait for more, or the timer).
    fn discard_input(&mut self, key: usize) -> io::Result<Step> {
        let mut sink = [0u8; 4096];
        loop {
            match self.socket.read(&mut sink) {
                Ok(0) => {
                    self.set_state(key, State::Closed, "end of input");
                    return Ok(Step::Changed);
                }
                Ok(n) => eprintln!("conn {key}: discarded {n} bytes"),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Step::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The one place a state changes, so the log shows every transition.
    fn set_state(&mut self, key: usize, to: State, why: &str) {
        eprintln!("conn {key}: {:?} -> {to:?} ({why})", self.state);
        self.state = to;
    }

    /// Move this connection's one timer: remove the old entry, insert the
    /// new one. Both are O(log n) in the number of connections.
    fn set_deadline(&mut self, key: usize, timers: &mut Timers, at: Instant) {
        timers.remove(&(self.deadline, key));
        self.deadline = at;
        timers.insert((at, key));
    }
}

/// Close every connection whose deadline has passed. In Reading and Writing
/// that is the idle timeout (a silent client, or one that stopped reading:
/// its unsent reply is abandoned); in Closing the linger limit (a client
/// that keeps sending after the reply: closing now, with its input unread,
/// resets the connection, which is the price of not waiting forever).
fn fire_timers(conns: &mut Slab<Conn>, timers: &mut Timers, closed: &mut Vec<usize>) {
    let now = Instant::now();
    while let Some(&(at, key)) = timers.first().filter(|(at, _)| *at <= now) {
        timers.remove(&(at, key));
        if let Some(conn) = conns
            .get_mut(key)
            .filter(|conn| conn.state != State::Closed)
        {
            conn.set_state(key, State::Closed, "timer fired");
            closed.push(key);
        }
    }
}

/// After the batch: drop the connections closed in it, which closes their
/// sockets and frees their slab slots (and so their tokens) for new
/// connections. Only the closed ones are visited: the cost of a turn must
/// not grow with the number of open connections.
fn remove_closed(
    conns: &mut Slab<Conn>,
    timers: &mut Timers,
    closed: &mut Vec<usize>,
    poll: &Poll,
) {
    for key in closed.drain(..) {
        let Some(mut conn) = conns.try_remove(key) else {
            continue;
        };
        // Its timer must go too, or it would fire for the slot's next owner.
        timers.remove(&(conn.deadline, key));
        // Closing the socket removes it from epoll anyway; deregistering
        // says so, and keeps mio's bookkeeping right on every platform.
        if let Err(e) = poll.registry().deregister(&mut conn.socket) {
            eprintln!("conn {key}: deregister: {e}");
        }
        eprintln!("conn {key}: removed");
    }
}
