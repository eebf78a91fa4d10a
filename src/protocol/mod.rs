//! The protocol interface: pure state machines that turn request bytes into
//! response bytes.
//!
//! A protocol never touches a socket. The connection reads bytes, hands the
//! unconsumed ones to [`Protocol::on_input`], and the protocol answers with a
//! [`Verdict`] while appending any response to an [`Output`]. Because nothing
//! here does I/O, a unit test can feed a protocol every possible split of an
//! input and check that the answers are the same: that is how the protocols in
//! this directory are tested.
//!
//! # The contract, seen from the connection
//!
//! 1. When new bytes have been read, the connection calls `on_input` with
//!    all the bytes it holds that no earlier call consumed. Not while it
//!    waits (a `Wait` pending, its `on_wake` not yet made), while its output
//!    holds a bounded amount of bytes or a streamed body (backpressure,
//!    below), once a close is pending, or again after `NeedMore` until more
//!    bytes arrive; and a 0-byte read (EOF) brings `on_eof`, not `on_input`.
//! 2. `Verdict::NeedMore`: nothing more can be done with these bytes; the
//!    connection reads again (keeping them) and calls again with more.
//!    `Continue(0)` (nothing consumed) is taken as `NeedMore`, since calling
//!    again with the same bytes would loop forever.
//! 3. `Verdict::Continue(n)`: the protocol consumed `n` bytes (a request, or
//!    a piece of a request body it discards) and may have written a response.
//!    The connection drops those bytes and calls again with the rest, so
//!    pipelined requests already buffered are answered before the next read.
//! 4. `Verdict::Close(n)`: consumed `n` bytes; once the output has been sent,
//!    close the connection gracefully. Errors are answered this way too: write
//!    the error response, then `Close`.
//! 5. `Verdict::Wait(n, at)`: consumed `n` bytes; nothing more is to be
//!    done for this connection until `at` (an /echo?delay=). The connection
//!    waits on a timer, reading nothing (pipelined requests stay buffered,
//!    in order), and at `at` calls [`Protocol::on_wake`], which answers with
//!    a verdict of its own (and may wait again: a paced body).
//! 6. When the client shuts down its write side, the connection calls
//!    [`Protocol::on_eof`] once with whatever is left, after every complete
//!    request buffered has been answered, and closes after it. If the
//!    protocol had already asked to close (`Close`), `on_eof` is not called:
//!    the pending close is carried out instead.
//!
//! The connection stops calling the protocol while the output holds more than
//! a bounded amount of bytes or a streamed body, and resumes once the socket
//! has taken them: that is backpressure, and protocols need not think of it.
//!
//! # What a protocol produces, and what it doesn't do
//!
//! A response is bytes appended to the [`Output`], optionally followed by
//! one [`StreamedBody`] (a file, say) that the connection pulls chunk by
//! chunk as the socket takes it. Sending is not the protocol's concern: the
//! connection's send queue keeps the write offset, refills from the body,
//! pools the buffers and makes every system call on the socket (see
//! `src/reactor/send_queue.rs`).

pub mod echo;
pub mod greeting;
pub mod http;
mod output;
pub mod testing;

pub use output::{FileBacked, FileRegion, Output, StreamedBody};

/// What a protocol made of the bytes it was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No complete unit of work is buffered yet: read more, then call again
    /// with the same bytes plus the new ones.
    NeedMore,
    /// This many bytes were consumed; keep the connection and call again with
    /// the rest.
    Continue(usize),
    /// This many bytes were consumed; flush the output, then close gracefully.
    Close(usize),
    /// This many bytes were consumed; flush the output, then wait for the
    /// instant given and call [`Protocol::on_wake`]. No input is shown to
    /// the protocol meanwhile. The protocol keeps what it owes in its
    /// session; the connection only keeps the time.
    Wait(usize, std::time::Instant),
}

impl Verdict {
    /// How many input bytes this verdict consumed.
    pub fn consumed(self) -> usize {
        match self {
            Verdict::NeedMore => 0,
            Verdict::Continue(n) | Verdict::Close(n) | Verdict::Wait(n, _) => n,
        }
    }
}

/// What a protocol may see of the server besides its input: the time and the
/// counters. Built once per loop iteration, so reading it costs nothing.
///
/// The counters are the reactor's, lent read-only: a protocol can report
/// them but not change them, so no protocol can throw off the connection
/// gauges. This does not compile:
///
/// ```compile_fail
/// fn tamper(ctx: &mut reactord::Context<'_>) {
///     ctx.metrics.connections_active = 0;
/// }
/// ```
///
/// A protocol's own metrics (HTTP's responses by status class) are its
/// own fields, which it appends to whatever page shows them.
pub struct Context<'a> {
    /// The loop's notion of "now", read once per iteration.
    pub now: std::time::Instant,
    /// Wall-clock time of the same instant, for headers and logs.
    pub wall: std::time::SystemTime,
    /// The server's connection and byte counters, read-only: a protocol
    /// may show them (HTTP's /metrics) but not change them.
    pub metrics: &'a crate::metrics::Metrics,
}

/// A request/response protocol, as a pure state machine.
///
/// One value of the protocol type serves the whole server (it holds the
/// configuration and any state shared by all connections); each connection
/// gets a [`Protocol::Session`] for the state that is its own (a request
/// body half-read, say). Both are single-threaded, so shared state needs no
/// locks.
pub trait Protocol {
    /// Per-connection state.
    type Session;

    /// The name shown in the `listening on ADDR (NAME)` line and in logs.
    fn name(&self) -> &'static str;

    /// The most unconsumed input this protocol may need buffered before it
    /// can make progress (HTTP: a whole request head). This is a contract:
    /// the connection's read buffer is at least this big (and at least
    /// 16 KiB, so that reads stay large), and a protocol that answers
    /// `NeedMore` with this much buffered has broken it (the connection is
    /// closed rather than spin). The default suits protocols that consume
    /// whatever they are shown.
    fn max_buffered_input(&self) -> usize {
        16 * 1024
    }

    /// A connection was accepted from `peer`.
    fn open(&mut self, peer: std::net::SocketAddr) -> Self::Session;

    /// See the module documentation for the contract.
    fn on_input(
        &mut self,
        session: &mut Self::Session,
        input: &[u8],
        ctx: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict;

    /// The instant a `Verdict::Wait` named has come (or passed: timers fire
    /// at the loop's resolution, never early). The protocol writes what it
    /// owes and answers as `on_input` would, with 0 bytes consumed: it has
    /// no input here. Called only once the output from before the wait has
    /// drained below the connection's high-water mark, so a paced body
    /// can't outrun a client that doesn't read. By default nothing is owed.
    fn on_wake(
        &mut self,
        _session: &mut Self::Session,
        _ctx: &mut Context<'_>,
        _out: &mut Output,
    ) -> Verdict {
        Verdict::Continue(0)
    }

    /// The client shut down its write side: no more bytes will come.
    /// `input` holds what no `on_input` call consumed. The connection closes
    /// gracefully after flushing whatever this writes. By default nothing is
    /// written.
    fn on_eof(
        &mut self,
        _session: &mut Self::Session,
        _input: &[u8],
        _ctx: &mut Context<'_>,
        _out: &mut Output,
    ) {
    }

    /// After the protocol asked to close: may the client still be sending?
    /// If so (the default), the connection lingers, reading and discarding
    /// until the client's EOF, so that closing can't reset the response. A
    /// protocol returns false when the last request ended cleanly and the
    /// client has said it will send nothing more (HTTP `Connection: close`
    /// on a complete request): the connection then skips the linger,
    /// saving the shutdown, a wake-up and a read per connection, as nginx
    /// does. It goes straight to Closed only if, besides, nothing is
    /// buffered unparsed and the last read drained the socket (`readable`
    /// false); else it still lingers, so that unread bytes can't turn the
    /// close into a reset. The close(2) itself comes after the batch of
    /// events (`Server::remove_closed`).
    fn expects_more_input(&self, _session: &Self::Session) -> bool {
        true
    }

    /// True while a request has started but not finished in a way the
    /// connection cannot see from its buffered input (a request body being
    /// discarded, say). Such a connection is held to the request timeout and
    /// is not "idle" at shutdown. Bytes buffered but not yet consumed count as
    /// a request in progress without the protocol saying so.
    fn request_in_progress(&self, _session: &Self::Session) -> bool {
        false
    }

    /// A connection is being refused because the server is full
    /// (--max-connections): write what it should be told before the close
    /// (an HTTP 503, say). `input` is what the client had sent by then,
    /// perhaps nothing, perhaps part of a request. Nothing by default.
    fn on_reject(&mut self, _input: &[u8], _ctx: &mut Context<'_>, _out: &mut Output) {}

    /// Called once per iteration of the loop (its "turn", in this name),
    /// after every connection with work has had its turn, and once more
    /// before the server exits: the place to write out what was batched
    /// during the iteration (HTTP writes its
    /// access log lines here, one write(2) for all of them). Nothing by
    /// default.
    fn end_of_turn(&mut self) {}

    /// The server has begun to drain: what is answered from now on should
    /// tell the client not to send more on this connection (HTTP says
    /// `Connection: close`), so a client never sends a request on a
    /// connection the server is about to close. Nothing by default.
    fn begin_drain(&mut self) {}

    /// The protocol's own counters (HTTP: responses by status class,
    /// /echo's, the open-file cache's), at most
    /// [`crate::metrics::MAX_PROTOCOL_COUNTERS`] of them. With `--workers`
    /// the reactor hands them to the process layer once per loop
    /// iteration, which shares them with the other workers, so any worker's /metrics can
    /// add up everyone's (`Metrics::add_up_protocol`). `&mut` so that a
    /// protocol may gather them into one array first. None by default.
    fn counters(&mut self) -> &[u64] {
        &[]
    }
}
