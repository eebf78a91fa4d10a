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
//! 1. After every read, the connection calls `on_input` with all the bytes it
//!    holds that no earlier call consumed.
//! 2. `Verdict::NeedMore`: nothing more can be done with these bytes; the
//!    connection reads again (keeping them) and calls again with more.
//! 3. `Verdict::Continue(n)`: the protocol consumed `n` bytes (a request, or
//!    a piece of a request body it discards) and may have written a response.
//!    The connection drops those bytes and calls again with the rest, so
//!    pipelined requests already buffered are answered before the next read.
//! 4. `Verdict::Close(n)`: consumed `n` bytes; once the output has been sent,
//!    close the connection gracefully. Errors are answered this way too: write
//!    the error response, then `Close`.
//! 5. When the client shuts down its write side, the connection calls
//!    [`Protocol::on_eof`] once with whatever is left; it always closes after.
//!
//! The connection stops calling the protocol while the output holds more than
//! a bounded amount of bytes or a streamed body, and resumes once the socket
//! has taken them: that is backpressure, and protocols need not think of it.

pub mod echo;
pub mod greeting;
pub mod http;
pub mod testing;

use std::io;

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
}

impl Verdict {
    /// How many input bytes this verdict consumed.
    pub fn consumed(self) -> usize {
        match self {
            Verdict::NeedMore => 0,
            Verdict::Continue(n) | Verdict::Close(n) => n,
        }
    }
}

/// A response body that is produced chunk by chunk as the socket accepts it,
/// instead of being held in memory whole (a file, say).
///
/// The connection asks for the next chunk only when the bytes before it have
/// been written, so memory per connection stays bounded by one chunk whatever
/// the body's size.
pub trait Body {
    /// Bytes still to come. The body is finished when this reaches 0.
    fn remaining(&self) -> u64;

    /// Fill `buf` with the next bytes of the body and say how many were
    /// written. `Ok(0)` while `remaining() > 0` means the source ended early
    /// (a file truncated under us): the connection then closes, since the
    /// response can no longer be framed correctly.
    fn read_chunk(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// For a body that is a region of a file: the file's descriptor and the
    /// offset of the next byte. The connection then sends it with
    /// sendfile(2), straight from the page cache to the socket, with no
    /// copy through our memory. None (the default) means "use read_chunk".
    ///
    /// The descriptor is borrowed: the body keeps ownership of the file,
    /// and the borrow can't outlive it. Where sendfile(2) isn't used (not
    /// Linux), the connection ignores this and reads with `read_chunk`.
    fn file_region(&self) -> Option<(std::os::fd::BorrowedFd<'_>, u64)> {
        None
    }

    /// `n` bytes of the body were sent directly from [`Body::file_region`].
    fn advance(&mut self, _n: u64) {}
}

/// Where a protocol writes its responses.
///
/// Responses are appended in order; the connection writes them out with as
/// few `write` calls as it can (all the responses to one batch of pipelined
/// requests usually leave in one). A streamed [`Body`] goes after all bytes
/// appended so far; until it has been sent, the protocol is not called again.
#[derive(Default)]
pub struct Output {
    /// Responses not yet fully written; `bytes[..written]` already left.
    bytes: Vec<u8>,
    /// How much of `bytes` the socket has taken. Tracking an offset instead
    /// of draining the front saves a copy after each partial write.
    written: usize,
    body: Option<Box<dyn Body>>,
}

impl Output {
    /// Append bytes to the response stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// The buffer itself, for protocols that format into it (`write!`).
    pub fn bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Stream `body` after everything appended so far.
    ///
    /// Only one body can be in flight: a protocol that returns after calling
    /// this is not called again until the body has been written.
    pub fn stream(&mut self, body: Box<dyn Body>) {
        debug_assert!(self.body.is_none(), "one streamed body at a time");
        self.body = Some(body);
    }

    /// Buffered bytes not yet written (not counting a streamed body).
    pub fn buffered_len(&self) -> usize {
        self.bytes.len() - self.written
    }

    /// True when there is nothing at all left to send.
    pub fn is_empty(&self) -> bool {
        self.buffered_len() == 0 && self.body.is_none()
    }

    /// True while a streamed body is attached.
    pub fn has_body(&self) -> bool {
        self.body.is_some()
    }

    /// Buffered bytes, for the connection to write.
    pub(crate) fn as_slice(&self) -> &[u8] {
        self.bytes.get(self.written..).unwrap_or_default()
    }

    /// Forget the first `n` unwritten bytes: the socket took them.
    pub(crate) fn advance(&mut self, n: usize) {
        self.written += n;
        if self.written >= self.bytes.len() {
            self.bytes.clear();
            self.written = 0;
        }
    }

    /// The streamed body, once all buffered bytes before it are written.
    pub(crate) fn body_mut(&mut self) -> Option<&mut (dyn Body + 'static)> {
        self.body.as_deref_mut()
    }

    /// Pull the next chunk of the streamed body into the (empty) byte buffer.
    /// Returns false when there is no body left to send. A body that ends
    /// before its announced length is an error: the response can't be framed.
    pub(crate) fn refill_from_body(&mut self, chunk_size: usize) -> io::Result<bool> {
        debug_assert_eq!(
            self.buffered_len(),
            0,
            "a body goes after the buffered bytes"
        );
        let Some(body) = self.body.as_deref_mut() else {
            return Ok(false);
        };
        if body.remaining() == 0 {
            self.body = None;
            return Ok(false);
        }
        let want = usize::try_from(body.remaining())
            .unwrap_or(usize::MAX)
            .min(chunk_size);
        self.bytes.clear();
        self.written = 0;
        self.bytes.resize(want, 0);
        let n = body.read_chunk(&mut self.bytes)?;
        self.bytes.truncate(n);
        if n == 0 {
            self.body = None;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "streamed body ended early",
            ));
        }
        Ok(true)
    }

    /// Send the next part of a file-backed body straight to `socket` with
    /// sendfile(2), at most `max` bytes. None if the body (if any) is not
    /// file-backed; otherwise the bytes sent or the error (`WouldBlock`
    /// included). `Ok(0)` with bytes remaining means the file shrank.
    ///
    /// Linux only: sendfile's signature differs on the BSDs and macOS.
    /// Elsewhere this always returns None and the body is read with
    /// `read_chunk` (pread) and written like any other bytes.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) fn send_body_from_file(
        &mut self,
        socket: std::os::fd::BorrowedFd<'_>,
        max: usize,
    ) -> Option<io::Result<usize>> {
        use std::os::fd::AsRawFd;
        let body = self.body.as_deref_mut()?;
        let (file, offset) = body.file_region()?;
        let file = file.as_raw_fd();
        let count = usize::try_from(body.remaining())
            .unwrap_or(usize::MAX)
            .min(max);
        let mut offset = libc::off_t::try_from(offset).ok()?;
        // SAFETY: both descriptors are open for the duration of the call
        // (the body owns the file, the connection the socket), and `offset`
        // is a valid place for the kernel to write the new offset.
        let sent = unsafe { libc::sendfile(socket.as_raw_fd(), file, &mut offset, count) };
        let Ok(sent) = usize::try_from(sent) else {
            return Some(Err(io::Error::last_os_error()));
        };
        body.advance(sent as u64);
        if body.remaining() == 0 {
            self.body = None;
        }
        Some(Ok(sent))
    }

    /// Without Linux's sendfile: never; the body is read and written.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub(crate) fn send_body_from_file(
        &mut self,
        _socket: std::os::fd::BorrowedFd<'_>,
        _max: usize,
    ) -> Option<io::Result<usize>> {
        None
    }

    /// Drop the streamed body (finished, or the connection is closing).
    pub(crate) fn finish_body(&mut self) {
        self.body = None;
    }

    /// Hand the byte buffer's allocation back (for pooling) and reset.
    pub(crate) fn take_buffer(&mut self) -> Vec<u8> {
        self.body = None;
        self.written = 0;
        std::mem::take(&mut self.bytes)
    }

    /// Install an (empty) pooled buffer to write into.
    pub(crate) fn set_buffer(&mut self, buf: Vec<u8>) {
        debug_assert!(self.bytes.is_empty());
        self.bytes = buf;
        self.bytes.clear();
    }

    /// Capacity of the byte buffer (0 when none is installed).
    pub(crate) fn capacity(&self) -> usize {
        self.bytes.capacity()
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("bytes", &self.bytes.len())
            .field("body", &self.body.as_ref().map(|b| b.remaining()))
            .finish()
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
    /// on a complete request): the connection then closes at once, saving
    /// the shutdown, a wake-up and a read per connection, as nginx does.
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

    /// Called once per turn of the loop, after every connection with work
    /// has had its turn, and once more before the server exits: the place
    /// to write out what was batched during the turn (HTTP writes its
    /// access log lines here, one write(2) for all of them). Nothing by
    /// default.
    fn end_of_turn(&mut self) {}
}
