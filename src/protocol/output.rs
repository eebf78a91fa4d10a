//! What a protocol produces: response bytes, and after them at most one
//! body that is streamed instead of held in memory.
//!
//! An [`Output`] is a value and nothing more. It does no I/O and knows
//! nothing of sockets: how much of it the socket has taken, when the next
//! chunk of a body is pulled, and which system call sends it (write,
//! send with `MSG_MORE`, sendfile) are the connection's business, in its
//! send queue (`src/reactor/send_queue.rs`). So a protocol stays a pure function of
//! its input, and a test can read everything it wrote straight out of the
//! `Output` (see [`crate::protocol::testing`]).

use std::io;
use std::os::fd::BorrowedFd;

/// A response body that is produced chunk by chunk as the socket accepts it,
/// instead of being held in memory whole (a file, say).
///
/// The connection asks for the next chunk only when the bytes before it have
/// been written, so memory per connection stays bounded by one chunk whatever
/// the body's size. (Not to be confused with a *request* body, which the
/// HTTP protocol frames and discards, or copies to the response for
/// /echo: `http::body::RequestBody`.)
pub trait StreamedBody {
    /// Bytes still to come. The body is finished when this reaches 0.
    fn remaining(&self) -> u64;

    /// Fill `buf` with the next bytes of the body and say how many were
    /// written. `Ok(0)` while `remaining() > 0` means the source ended early
    /// (a file truncated under us): the connection then closes, since the
    /// response can no longer be framed correctly.
    fn read_chunk(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// For a body that is a region of a file: the file's side of it. Where
    /// the platform has sendfile(2) (Linux) the connection then sends the
    /// body straight from the page cache to the socket, with no copy
    /// through our memory. Elsewhere it uses [`StreamedBody::read_chunk`]
    /// as for any other body. None (the default) means "always use
    /// read_chunk".
    ///
    /// A separate trait so that a body cannot offer a region without also
    /// saying how to move past the bytes sent from it: [`FileBacked`]
    /// requires both.
    fn file_backed(&mut self) -> Option<&mut dyn FileBacked> {
        None
    }
}

/// The file behind a [`StreamedBody`] that can be sent with sendfile(2):
/// where its next byte is, and how to move past bytes sent from there.
pub trait FileBacked {
    /// The file, borrowed, and the offset of the next byte to send.
    ///
    /// The descriptor is borrowed, not a raw number: it stays open for as
    /// long as the connection uses it, which is what makes handing it to the
    /// kernel sound without any `unsafe` on the body's side.
    fn file_region(&self) -> FileRegion<'_>;

    /// `n` bytes of the body were sent directly from
    /// [`FileBacked::file_region`]: move past them, so that the body's
    /// `remaining` and the region's offset both account for them. (One
    /// that didn't would be sent from the same offset again and again, so
    /// the connection closes instead.)
    fn advance(&mut self, n: u64);
}

/// Where the rest of a file-backed [`StreamedBody`] lies: which file, from
/// which offset. Its length is the body's [`StreamedBody::remaining`].
#[derive(Debug, Clone, Copy)]
pub struct FileRegion<'a> {
    /// The open file, borrowed from the body for the time of one send.
    pub file: BorrowedFd<'a>,
    /// Offset in the file of the next byte to send.
    pub offset: u64,
}

/// Where a protocol writes its responses.
///
/// Responses are appended in order; the connection writes them out with as
/// few `write` calls as it can (all the responses to one batch of pipelined
/// requests usually leave in one). A [`StreamedBody`] goes after all bytes
/// appended so far; until it has been sent, the protocol is not called
/// again. When a protocol is handed an `Output`, it holds nothing already
/// sent: what a protocol sees is only what it has appended and is still to
/// go.
#[derive(Default)]
pub struct Output {
    /// Response bytes, in order.
    bytes: Vec<u8>,
    /// Sent after `bytes`. Never a finished body (see [`Output::stream`]).
    body: Option<Box<dyn StreamedBody>>,
}

impl Output {
    /// Append bytes to the response stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// The buffer itself, for protocols that format into it (`write!`).
    /// Append only: what a protocol already wrote may be on its way out.
    pub fn bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// The bytes appended so far (not counting a streamed body).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Stream `body` after everything appended so far. A body with nothing
    /// left to send is dropped at once.
    ///
    /// Only one body can be in flight: a protocol that returns after calling
    /// this is not called again until the body has been written.
    pub fn stream(&mut self, body: Box<dyn StreamedBody>) {
        debug_assert!(self.body.is_none(), "one streamed body at a time");
        if body.remaining() > 0 {
            self.body = Some(body);
        }
    }

    /// Bytes appended and not yet sent (not counting a streamed body).
    pub fn buffered_len(&self) -> usize {
        self.bytes.len()
    }

    /// True when there is nothing at all to send.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.body.is_none()
    }

    /// True while a streamed body is attached.
    pub fn has_body(&self) -> bool {
        self.body.is_some()
    }

    /// The streamed body, if any, to pull from.
    pub(crate) fn body_mut(&mut self) -> Option<&mut (dyn StreamedBody + 'static)> {
        self.body.as_deref_mut()
    }

    /// The byte buffer and the body at once, for the send queue to pull a
    /// chunk of the one into the other.
    pub(crate) fn parts_mut(
        &mut self,
    ) -> (&mut Vec<u8>, Option<&mut (dyn StreamedBody + 'static)>) {
        (&mut self.bytes, self.body.as_deref_mut())
    }

    /// Drop the streamed body (finished, or the connection is closing).
    pub(crate) fn drop_body(&mut self) {
        self.body = None;
    }

    /// Hand the byte buffer's allocation back (for pooling) and reset.
    pub(crate) fn take_buffer(&mut self) -> Vec<u8> {
        self.body = None;
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Empty;

    impl StreamedBody for Empty {
        fn remaining(&self) -> u64 {
            0
        }
        fn read_chunk(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Ok(0)
        }
    }

    /// A finished body is never attached, so the send queue can take "a
    /// body is attached" to mean "there are bytes to send".
    #[test]
    fn an_empty_streamed_body_is_not_attached() {
        let mut out = Output::default();
        out.stream(Box::new(Empty));
        assert!(!out.has_body());
        assert!(out.is_empty());
    }
}
