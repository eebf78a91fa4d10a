//! HTTP/1.1 response framing for the load generator: where one response
//! ends, whatever way the server framed it, checked as strictly as a
//! client must (RFC 9112 §6.3).
//!
//! A [`Framer`] belongs to one connection and is fed the bytes as they
//! arrive. It consumes a body as it goes and keeps none of it, so a 64 MiB
//! chunked body costs no more memory than a 64-byte one; only a response
//! *head* has to be whole in the caller's buffer before it is parsed (by
//! httparse: zero-copy, no allocation, well fuzzed).
//!
//! Framings handled, in the order RFC 9112 §6.3 decides them:
//! - no body: a response to HEAD, 1xx, 204 and 304;
//! - `Transfer-Encoding: chunked` (chunk extensions and trailers allowed
//!   and skipped); any other transfer coding is a violation;
//! - `Content-Length` (several equal values are allowed, differing ones are
//!   a violation, and so is a Content-Length beside Transfer-Encoding);
//! - neither: the body runs to the end of the connection (close-delimited).
//!
//! 1xx interim responses (100 Continue, 103 Early Hints) are skipped: the
//! request's answer is the final response after them. 101 is a violation
//! here (this tool asks for no upgrade). `Connection: close`, and HTTP/1.0
//! without `keep-alive`, mark the response as the connection's last.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

/// The longest response head (status line and headers) accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header fields in one head, or in a chunked body's trailers.
const MAX_HEADERS: usize = 100;
/// The longest chunk-size line (size, extensions, CRLF) accepted.
const MAX_CHUNK_LINE: usize = 4 * 1024;

/// What the bytes fed so far amount to.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Step {
    /// The response is not complete: feed more bytes (or call
    /// [`Framer::end_of_input`] at EOF).
    More,
    /// A final response is complete.
    Done(Response),
    /// The server broke the framing rules; the one-line reason says how.
    /// The connection cannot be trusted any further.
    Bad(&'static str),
}

/// A complete final response.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Response {
    pub status: u16,
    /// The server will close the connection after this response.
    pub close: bool,
}

/// Where the framer is within the current response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a whole status line and header block.
    Head,
    /// This many body bytes still to come (Content-Length).
    Fixed(u64),
    /// Waiting for a chunk-size line.
    ChunkSize,
    /// This many bytes of the current chunk's data still to come.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// The trailer section after the last chunk, up to its empty line.
    Trailers,
    /// The body runs until the server closes the connection.
    UntilClose,
}

/// The framing state of one connection's current response.
#[derive(Debug)]
pub struct Framer {
    state: State,
    /// The final response's status and close flag, once its head is read.
    response: Response,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

impl Framer {
    pub fn new() -> Framer {
        Framer {
            state: State::Head,
            response: Response {
                status: 0,
                close: false,
            },
        }
    }

    /// Nothing of a response has been consumed yet: bytes arriving now
    /// with no request in flight would be unsolicited.
    pub fn at_start(&self) -> bool {
        self.state == State::Head
    }

    /// Consume what can be consumed from `input`, the bytes received and
    /// not yet consumed. `head_request` says the request being answered was
    /// a HEAD (its response has no body whatever its headers say).
    ///
    /// Returns how many bytes were consumed and what they amount to. The
    /// caller drops the consumed bytes and calls again with the rest (more
    /// than one response may be in `input` when requests are pipelined).
    pub fn feed(&mut self, input: &[u8], head_request: bool) -> (usize, Step) {
        let mut consumed = 0;
        loop {
            let rest = input.get(consumed..).unwrap_or_default();
            let (used, step) = match self.state {
                State::Head => self.head(rest, head_request),
                State::Fixed(left) => {
                    let used = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let left = left - used as u64;
                    if left == 0 {
                        (used, self.finish())
                    } else {
                        self.state = State::Fixed(left);
                        (used, Step::More)
                    }
                }
                State::ChunkSize => self.chunk_size(rest),
                State::ChunkData(left) => {
                    let used = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let left = left - used as u64;
                    self.state = if left == 0 {
                        State::ChunkEnd
                    } else {
                        State::ChunkData(left)
                    };
                    (used, Step::More)
                }
                State::ChunkEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        self.state = State::ChunkSize;
                        (2, Step::More)
                    }
                    [] | [b'\r'] => return (consumed, Step::More),
                    _ => (0, Step::Bad("chunk data not followed by CRLF")),
                },
                State::Trailers => self.trailers(rest),
                State::UntilClose => (rest.len(), Step::More),
            };
            consumed += used;
            match step {
                Step::More if used > 0 && consumed < input.len() => continue,
                Step::More => return (consumed, Step::More),
                done_or_bad => return (consumed, done_or_bad),
            }
        }
    }

    /// The server closed the connection: a close-delimited body ends here;
    /// anything else left unfinished was cut short.
    pub fn end_of_input(&mut self) -> Step {
        match self.state {
            State::UntilClose => self.finish(),
            State::Head => Step::More,
            _ => Step::Bad("connection closed in the middle of a response body"),
        }
    }

    /// The response is complete: get ready for the next one.
    fn finish(&mut self) -> Step {
        self.state = State::Head;
        Step::Done(self.response)
    }

    /// Parse a response head, if it is all here, and choose the framing.
    fn head(&mut self, input: &[u8], head_request: bool) -> (usize, Step) {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let len = match response.parse(input) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if input.len() > MAX_HEAD => {
                return (0, Step::Bad("response head longer than 64 KiB"));
            }
            Ok(httparse::Status::Partial) => return (0, Step::More),
            Err(httparse::Error::TooManyHeaders) => {
                return (0, Step::Bad("more than 100 header fields"));
            }
            Err(_) => return (0, Step::Bad("malformed status line or header field")),
        };
        let status = response.code.unwrap_or(0);
        let framing = match choose_framing(&response, head_request) {
            Ok(framing) => framing,
            Err(reason) => return (len, Step::Bad(reason)),
        };
        if status == 101 {
            return (
                len,
                Step::Bad("101 Switching Protocols without an upgrade request"),
            );
        }
        if (100..200).contains(&status) {
            // Interim: the final response follows on the same request.
            return (len, Step::More);
        }
        self.response = Response {
            status,
            close: wants_close(&response),
        };
        match framing {
            Framing::Empty => (len, self.finish()),
            Framing::Length(0) => (len, self.finish()),
            Framing::Length(n) => {
                self.state = State::Fixed(n);
                (len, Step::More)
            }
            Framing::Chunked => {
                self.state = State::ChunkSize;
                (len, Step::More)
            }
            Framing::UntilClose => {
                self.response.close = true;
                self.state = State::UntilClose;
                (len, Step::More)
            }
        }
    }

    /// A chunk-size line: the next chunk's length, or the last chunk.
    fn chunk_size(&mut self, input: &[u8]) -> (usize, Step) {
        match httparse::parse_chunk_size(input) {
            Ok(httparse::Status::Complete((len, 0))) => {
                self.state = State::Trailers;
                (len, Step::More)
            }
            Ok(httparse::Status::Complete((len, size))) => {
                self.state = State::ChunkData(size);
                (len, Step::More)
            }
            Ok(httparse::Status::Partial) if input.len() > MAX_CHUNK_LINE => {
                (0, Step::Bad("chunk-size line longer than 4 KiB"))
            }
            Ok(httparse::Status::Partial) => (0, Step::More),
            Err(_) => (0, Step::Bad("malformed chunk-size line")),
        }
    }

    /// The trailer section (often empty) and the CRLF that ends the body.
    fn trailers(&mut self, input: &[u8]) -> (usize, Step) {
        if input.starts_with(b"\r\n") {
            return (2, self.finish());
        }
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match httparse::parse_headers(input, &mut fields) {
            Ok(httparse::Status::Complete((len, _))) => (len, self.finish()),
            Ok(httparse::Status::Partial) if input.len() > MAX_HEAD => {
                (0, Step::Bad("trailer section longer than 64 KiB"))
            }
            Ok(httparse::Status::Partial) => (0, Step::More),
            Err(_) => (0, Step::Bad("malformed trailer field")),
        }
    }
}

/// How a response's body is delimited.
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// RFC 9112 §6.3, in its order: HEAD and 1xx/204/304 have no body;
/// Transfer-Encoding must end in chunked and excludes Content-Length;
/// Content-Length values must agree; else the body is close-delimited.
fn choose_framing(
    response: &httparse::Response<'_, '_>,
    head_request: bool,
) -> Result<Framing, &'static str> {
    let status = response.code.unwrap_or(0);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let value = parse_length(header.value).ok_or("malformed Content-Length")?;
            if length.is_some_and(|earlier| earlier != value) {
                return Err("Content-Length values differ");
            }
            length = Some(value);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            let value =
                std::str::from_utf8(header.value).map_err(|_| "malformed Transfer-Encoding")?;
            let last = value.rsplit(',').next().unwrap_or_default().trim();
            chunked = last.eq_ignore_ascii_case("chunked");
        }
    }
    if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    if transfer_encoding {
        if length.is_some() {
            return Err("both Transfer-Encoding and Content-Length");
        }
        if !chunked {
            return Err("Transfer-Encoding whose last coding is not chunked");
        }
        return Ok(Framing::Chunked);
    }
    Ok(match length {
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    })
}

/// A Content-Length value: digits only (possibly a comma-separated list of
/// equal values, which RFC 9112 §6.3 lets a recipient accept).
fn parse_length(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    let mut result = None;
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = part.parse().ok()?;
        if result.is_some_and(|r| r != n) {
            return None;
        }
        result = Some(n);
    }
    result
}

/// `Connection: close`, or HTTP/1.0 without `Connection: keep-alive`.
fn wants_close(response: &httparse::Response<'_, '_>) -> bool {
    let mut close = response.version == Some(0);
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && response.version == Some(0) {
                    close = false;
                }
            }
        }
    }
    close
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `input` in pieces split at `split`, collecting every step that
    /// is not More; then end of input if `eof`.
    fn run(input: &[u8], split: usize, head: bool, eof: bool) -> Vec<Step> {
        let mut framer = Framer::new();
        let mut buffer = Vec::new();
        let mut steps = Vec::new();
        for piece in [&input[..split], &input[split..]] {
            buffer.extend_from_slice(piece);
            loop {
                let (used, step) = framer.feed(&buffer, head);
                buffer.drain(..used);
                match step {
                    Step::More => break,
                    Step::Bad(_) => {
                        steps.push(step);
                        return steps;
                    }
                    done => steps.push(done),
                }
                if buffer.is_empty() {
                    break;
                }
            }
        }
        if eof {
            let step = framer.end_of_input();
            if step != Step::More {
                steps.push(step);
            }
        }
        steps
    }

    fn done(status: u16, close: bool) -> Step {
        Step::Done(Response { status, close })
    }

    /// Every framing gives the same answer at every split of its bytes.
    fn at_every_split(input: &[u8], head: bool, eof: bool, expected: &[Step]) {
        for split in 0..=input.len() {
            assert_eq!(run(input, split, head, eof), expected, "split {split}");
        }
    }

    #[test]
    fn content_length_responses_pipelined() {
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nConnection: close\r\n\r\n";
        at_every_split(two, false, false, &[done(200, false), done(404, true)]);
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let body = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\nHTTP/1.1 503 x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n";
        at_every_split(body, false, false, &[done(200, false), done(503, false)]);
    }

    #[test]
    fn close_delimited_ends_at_eof() {
        let body = b"HTTP/1.1 200 OK\r\n\r\nsome bytes until the end";
        at_every_split(body, false, true, &[done(200, true)]);
        assert_eq!(run(body, 3, false, false), vec![]);
    }

    #[test]
    fn head_interim_and_bodiless_statuses() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
        at_every_split(head, true, false, &[done(200, false)]);
        let interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.0 304 Not Modified\r\n\r\n";
        at_every_split(interim, false, false, &[done(204, false), done(304, true)]);
        let keep = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        at_every_split(keep, false, false, &[done(200, false)]);
    }

    #[test]
    fn violations_are_bad_with_a_reason() {
        let cases: [(&[u8], &str); 8] = [
            (
                b"this is not HTTP\r\n\r\n",
                "malformed status line or header field",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "malformed chunk-size line",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
                "chunk data not followed by CRLF",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                "Transfer-Encoding whose last coding is not chunked",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                "both Transfer-Encoding and Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                "Content-Length values differ",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n",
                "malformed Content-Length",
            ),
            (
                b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
                "101 Switching Protocols without an upgrade request",
            ),
        ];
        for (input, reason) in cases {
            assert_eq!(
                run(input, input.len(), false, false),
                vec![Step::Bad(reason)],
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let cut = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert_eq!(
            run(cut, cut.len(), false, true),
            vec![Step::Bad(
                "connection closed in the middle of a response body"
            )]
        );
        let huge = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; MAX_HEAD]].concat();
        assert_eq!(
            run(&huge, huge.len(), false, false),
            vec![Step::Bad("response head longer than 64 KiB")]
        );
    }

    #[test]
    fn a_large_body_is_consumed_without_being_kept() {
        let mut framer = Framer::new();
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
        assert_eq!(framer.feed(head, false), (head.len(), Step::More));
        let block = [b'x'; 4096];
        let mut left = 1_000_000usize;
        while left > block.len() {
            assert_eq!(framer.feed(&block, false), (block.len(), Step::More));
            left -= block.len();
        }
        assert_eq!(framer.feed(&block, false), (left, done(200, false)));
    }
}
