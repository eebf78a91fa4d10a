//! A connection's send queue: the responses a protocol produced, on their
//! way to the socket, and every system call that sends them.
//!
//! The protocol appends to an [`Output`] and is done; this module is the
//! transport behind it. It keeps how much of the buffered bytes the socket
//! has taken (an offset, so a partial write costs no copy), pulls the next
//! chunk of a streamed body only once everything before it is gone, hands
//! the buffer back to the pool when the queue is empty, and makes the calls:
//! `write`, `send` with `MSG_MORE` for the last bytes before a close, and
//! sendfile(2) for a body that is a file.
//!
//! Each method makes at most one system call and reports what it did; the
//! connection decides when to call which (`Connection::flush`), and counts
//! the bytes against its budget.
//!
//! # Platforms
//!
//! Two calls here are Linux's (and Android's, which shares the kernel):
//!
//! - sendfile(2) in its 4-argument form. Elsewhere (macOS and the BSDs have
//!   a sendfile with another signature, other unixes none) a file body goes
//!   the portable way: [`StreamedBody::read_chunk`], which for a file is one
//!   `pread`, into the buffer, then `write`. One copy more; the same bounds.
//! - `MSG_MORE` on the last write before a close. Elsewhere a plain write;
//!   the FIN then leaves in a segment of its own.
//!
//! Everything else is what mio offers on every unix it supports.

use crate::protocol::{Output, StreamedBody};
use crate::reactor::buffer::BufferPool;
use mio::net::TcpStream;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};

/// Size of the chunks a streamed body is read in, when it is not sent with
/// sendfile.
pub(crate) const BODY_CHUNK: usize = 64 * 1024;

/// Most bytes one sendfile(2) call may send: bounds the time one call can
/// spend reading a file that isn't in the page cache. The connection's
/// write budget per turn is smaller and bounds it further.
pub(crate) const SENDFILE_CHUNK: usize = 1024 * 1024;

/// True where file bodies go out with sendfile(2) (see the module docs).
const HAS_SENDFILE: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// What the queue would send next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Everything is sent.
    Nothing,
    /// Buffered bytes: [`SendQueue::write_buffered`].
    Buffered,
    /// A body that is a file region, on a platform with sendfile:
    /// [`SendQueue::send_file_chunk`].
    FileRegion,
    /// A body to pull the next chunk of into the buffer:
    /// [`SendQueue::refill`].
    Refill,
}

/// The responses a connection has produced and not yet sent.
#[derive(Debug)]
pub(crate) struct SendQueue {
    /// What the protocol produced; `output.as_bytes()[..written]` has
    /// already left.
    output: Output,
    /// How much of the buffered bytes the socket has taken. Tracking an
    /// offset instead of draining the front saves a copy after each partial
    /// write.
    written: usize,
    /// Send file regions with sendfile(2). True where the platform has it;
    /// tests turn it off to run the portable path on Linux.
    use_sendfile: bool,
}

impl Default for SendQueue {
    fn default() -> Self {
        SendQueue {
            output: Output::default(),
            written: 0,
            use_sendfile: HAS_SENDFILE,
        }
    }
}

impl SendQueue {
    /// The output for the protocol to append to, with a pooled buffer
    /// installed if it has none. It holds no bytes already sent: the
    /// connection only calls a protocol after a flush that sent everything,
    /// and if that ever changed the sent prefix is dropped here.
    pub(crate) fn output_for_protocol(&mut self, pool: &mut BufferPool) -> &mut Output {
        if self.output.capacity() == 0 {
            self.output.set_buffer(pool.take_output());
        }
        if self.written > 0 {
            let written = self.written.min(self.output.buffered_len());
            self.output.bytes_mut().drain(..written);
            self.written = 0;
        }
        &mut self.output
    }

    /// Buffered bytes not yet sent (not counting a streamed body).
    pub(crate) fn pending_len(&self) -> usize {
        self.output.buffered_len().saturating_sub(self.written)
    }

    /// True when there is nothing at all left to send.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending_len() == 0 && !self.output.has_body()
    }

    /// True while a streamed body is attached.
    pub(crate) fn has_body(&self) -> bool {
        self.output.has_body()
    }

    /// True if everything left fits in one write of at most `max` bytes:
    /// no body follows the buffered bytes, and they are at most `max`.
    pub(crate) fn ends_within(&self, max: usize) -> bool {
        !self.output.has_body() && self.pending_len() <= max
    }

    /// What to send next. Bytes already buffered go first; a body comes
    /// after them, from its file if it has one and the platform can.
    pub(crate) fn next(&mut self) -> Next {
        if self.pending_len() > 0 {
            return Next::Buffered;
        }
        let use_sendfile = self.use_sendfile;
        match self.output.body_mut() {
            None => Next::Nothing,
            Some(body) => {
                if use_sendfile && sendfile_can_send(body) {
                    Next::FileRegion
                } else {
                    Next::Refill
                }
            }
        }
    }

    /// One write of at most `max` buffered bytes; returns how many the
    /// socket took. With `before_close`, the connection closes or shuts
    /// down its write side as soon as these bytes are taken (see
    /// [`write_with_more`]).
    pub(crate) fn write_buffered(
        &mut self,
        mut socket: &TcpStream,
        max: usize,
        before_close: bool,
    ) -> io::Result<usize> {
        let sendfile_follows =
            self.use_sendfile && self.output.body_mut().is_some_and(sendfile_can_send);
        let pending = self
            .output
            .as_bytes()
            .get(self.written..)
            .unwrap_or_default();
        let allowed = pending.get(..max).unwrap_or(pending);
        // The head of a file sent with sendfile: hold it for the file's
        // first bytes, so that both leave in one segment.
        let file_follows = allowed.len() == pending.len() && sendfile_follows;
        let n = if before_close || file_follows {
            write_with_more(socket, allowed)?
        } else {
            socket.write(allowed)?
        };
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.sent_buffered(n);
        Ok(n)
    }

    /// The socket took `n` more buffered bytes. Once it has taken them all,
    /// the buffer starts over from its beginning.
    fn sent_buffered(&mut self, n: usize) {
        self.written += n;
        if self.written >= self.output.buffered_len() {
            self.output.bytes_mut().clear();
            self.written = 0;
        }
    }

    /// One sendfile(2) of at most `max` bytes of a file-backed body, straight
    /// from the page cache to `socket`; returns how many were sent. Only
    /// when [`SendQueue::next`] said [`Next::FileRegion`].
    pub(crate) fn send_file_chunk(&mut self, socket: &TcpStream, max: usize) -> io::Result<usize> {
        let Some(body) = self.output.body_mut() else {
            return Err(io::Error::other("no streamed body to send from its file"));
        };
        let remaining = body.remaining();
        let count = usize::try_from(remaining).unwrap_or(usize::MAX).min(max);
        let Some(file) = body.file_backed() else {
            return Err(io::Error::other("the streamed body is not a file region"));
        };
        let region = file.file_region();
        let sent = sendfile(socket.as_fd(), region.file, region.offset, count)?;
        if sent == 0 {
            // The file is shorter than the length the response announced.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file ended before the streamed body",
            ));
        }
        file.advance(sent as u64);
        if body.remaining() >= remaining {
            // Sending from the same offset again would repeat the bytes
            // forever: a bug in the body, which costs only this connection.
            return Err(io::Error::other(
                "a streamed body did not advance past the bytes sent from its file",
            ));
        }
        if body.remaining() == 0 {
            self.output.drop_body();
        }
        Ok(sent)
    }

    /// Pull the next chunk (at most `chunk_size` bytes) of the streamed body
    /// into the buffer, which must be empty. A body that ends before its
    /// announced length is an error: the response can't be framed.
    pub(crate) fn refill(&mut self, chunk_size: usize) -> io::Result<()> {
        debug_assert_eq!(
            self.pending_len(),
            0,
            "a body goes after the buffered bytes"
        );
        self.written = 0;
        let (bytes, body) = self.output.parts_mut();
        bytes.clear();
        let Some(body) = body else {
            return Ok(());
        };
        let want = usize::try_from(body.remaining())
            .unwrap_or(usize::MAX)
            .min(chunk_size);
        // No allocation once the pooled buffer has grown to a chunk.
        bytes.resize(want, 0);
        let n = match body.read_chunk(bytes) {
            Ok(n) => n.min(want),
            Err(err) => {
                bytes.clear();
                return Err(err);
            }
        };
        bytes.truncate(n);
        if n == 0 {
            self.output.drop_body();
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "streamed body ended early",
            ));
        }
        if body.remaining() == 0 {
            self.output.drop_body();
        }
        Ok(())
    }

    /// Give the buffer back to the pool if nothing is left to send, so an
    /// idle connection holds none (see `buffer`).
    pub(crate) fn release_if_empty(&mut self, pool: &mut BufferPool) {
        if self.is_empty() && self.output.capacity() > 0 {
            self.release(pool);
        }
    }

    /// Drop whatever is left and give the buffer back (closing).
    pub(crate) fn release(&mut self, pool: &mut BufferPool) {
        self.written = 0;
        pool.give_output(self.output.take_buffer());
    }

    /// Send file bodies the portable way (pread + write), as on a platform
    /// without sendfile.
    #[cfg(test)]
    pub(crate) fn without_sendfile(&mut self) {
        self.use_sendfile = false;
    }
}

/// True if `body` is a file region that sendfile(2) can reach: the offset
/// must fit the kernel's `off_t` (32 bits on some 32-bit platforms; past
/// it, the body is read and written instead).
fn sendfile_can_send(body: &mut (dyn StreamedBody + 'static)) -> bool {
    body.file_backed()
        .is_some_and(|file| libc::off_t::try_from(file.file_region().offset).is_ok())
}

/// sendfile(2), Linux's form: `count` bytes of `file` from `offset` to
/// `socket`, without a copy through user space. Returns the bytes sent
/// (`WouldBlock` when the socket's buffer is full).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn sendfile(
    socket: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: u64,
    count: usize,
) -> io::Result<usize> {
    // rustix's sendfile: the same one system call, on borrowed
    // descriptors, with no unsafe code of ours.
    let mut offset = offset;
    Ok(rustix::fs::sendfile(
        socket,
        file,
        Some(&mut offset),
        count,
    )?)
}

/// Without Linux's sendfile, file bodies are read and written instead
/// (`SendQueue::next` never says [`Next::FileRegion`] here).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn sendfile(_: BorrowedFd<'_>, _: BorrowedFd<'_>, _: u64, _: usize) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Write bytes that something else will follow at once: a close (or a
/// `shutdown(Write)`) after the last bytes of a connection, or the first
/// sendfile of a file after its response head.
///
/// On Linux, `MSG_MORE` tells the kernel to hold a short segment back for
/// more data. The FIN that a close adds is that "more", so the response
/// and the FIN leave as one segment instead of two; the file's first bytes
/// are, so the head and the start of the file leave as one segment (what
/// nginx gets from `tcp_nopush`, TCP_CORK, with two more system calls per
/// response). Every segment costs a transmit here and a receive at the
/// client (both on our CPU over loopback). The caller must send the "more"
/// right after the write completes, or the held bytes would wait (until
/// the kernel's 200 ms cork timer): `Connection::drive` does (close,
/// shutdown or sendfile in the same flush), and so does the reactor's
/// reject path.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn write_with_more(socket: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    // MSG_NOSIGNAL as in every other write (mio's): a peer that has gone
    // away is an EPIPE to handle, not a SIGPIPE.
    socket2::SockRef::from(socket).send_with_flags(bytes, libc::MSG_MORE | libc::MSG_NOSIGNAL)
}

/// The last bytes a connection will send, a close (or `shutdown(Write)`)
/// following as soon as they are all taken: see [`write_with_more`].
pub(crate) fn write_before_close(socket: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    write_with_more(socket, bytes)
}

/// Elsewhere there is no `MSG_MORE`: a plain write (mio's sockets are set
/// up so that it raises no SIGPIPE on any platform).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn write_with_more(mut socket: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    socket.write(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{FileBacked, FileRegion};
    use std::io::Read;
    use std::os::fd::AsFd;

    use crate::reactor::test_sockets::socket_pair;

    /// A file body whose `advance` forgets to move (it can no longer
    /// forget to implement it: `FileBacked` requires it).
    struct Stuck(std::fs::File);

    impl StreamedBody for Stuck {
        fn remaining(&self) -> u64 {
            4
        }
        fn read_chunk(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            buf[..4].copy_from_slice(b"data");
            Ok(4)
        }
        fn file_backed(&mut self) -> Option<&mut dyn FileBacked> {
            Some(self)
        }
    }

    impl FileBacked for Stuck {
        fn file_region(&self) -> FileRegion<'_> {
            FileRegion {
                file: self.0.as_fd(),
                offset: 0,
            }
        }
        fn advance(&mut self, _n: u64) {}
    }

    fn stuck_body() -> Box<dyn StreamedBody> {
        // Tests run in parallel: a path of its own for each call.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("reactord-stuck-{}-{call}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, b"data").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        Box::new(Stuck(file))
    }

    #[test]
    fn a_partial_write_resumes_where_it_stopped() {
        let (ours, mut client) = socket_pair();
        let mut pool = BufferPool::new(16, 4);
        let mut queue = SendQueue::default();
        queue.output_for_protocol(&mut pool).extend(b"hello");
        assert_eq!(queue.write_buffered(&ours, 3, false).unwrap(), 3);
        assert_eq!(queue.pending_len(), 2);
        assert_eq!(queue.next(), Next::Buffered);
        assert_eq!(queue.write_buffered(&ours, 3, true).unwrap(), 2);
        assert!(queue.is_empty());
        let mut got = [0u8; 5];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
    }

    /// The protocol never sees bytes that already left.
    #[test]
    fn a_protocol_is_handed_only_unsent_bytes() {
        let (ours, _client) = socket_pair();
        let mut pool = BufferPool::new(16, 4);
        let mut queue = SendQueue::default();
        queue.output_for_protocol(&mut pool).extend(b"sent rest");
        queue.write_buffered(&ours, 5, false).unwrap();
        assert_eq!(queue.output_for_protocol(&mut pool).as_bytes(), b"rest");
        assert_eq!(queue.pending_len(), 4);
    }

    /// A file body goes out with sendfile where the platform has it, and
    /// is read into the buffer (pread) and written everywhere else.
    #[test]
    fn a_file_body_uses_sendfile_only_where_the_platform_has_it() {
        let mut pool = BufferPool::new(16, 4);
        let mut queue = SendQueue::default();
        queue.output_for_protocol(&mut pool).stream(stuck_body());
        let native = if HAS_SENDFILE {
            Next::FileRegion
        } else {
            Next::Refill
        };
        assert_eq!(queue.next(), native);
        queue.without_sendfile();
        assert_eq!(queue.next(), Next::Refill);
        queue.refill(BODY_CHUNK).unwrap();
        assert_eq!(queue.output_for_protocol(&mut pool).as_bytes(), b"data");
    }

    /// A body that hands out a file region but does not move past what was
    /// sent from it would have the same bytes sent forever; the connection
    /// gets an error (and closes) instead.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn a_file_body_that_does_not_advance_is_an_error_not_a_loop() {
        let (ours, _client) = socket_pair();
        let mut pool = BufferPool::new(16, 4);
        let mut queue = SendQueue::default();
        queue.output_for_protocol(&mut pool).stream(stuck_body());
        assert_eq!(queue.next(), Next::FileRegion);
        let err = queue.send_file_chunk(&ours, SENDFILE_CHUNK).unwrap_err();
        assert!(err.to_string().contains("did not advance"), "{err}");
    }
}
