//! The greeting protocol, kept from the project's seed: a Go server that
//! reads one request, writes "Hola desde el servidor TCP" and closes.
//!
//! What counts as the request is made precise here, because the seed's single
//! `Read` of up to 1024 bytes took whatever one read happened to return:
//!
//! - a line ending in `\n`, or
//! - whatever arrived before the client shut down its write side (even
//!   nothing: the seed answered a client that sent nothing, and so do we), or
//! - the first `max_request_bytes` bytes when no newline comes before them.
//!
//! Then the greeting is written and the connection closes gracefully: the
//! connection shuts down its write side and discards whatever the client
//! still sends, so a client that sent far more than one line still receives
//! the whole greeting and a clean FIN, never a reset.
//!
//! One case needs no lingering: the request was a whole line, nothing came
//! after it, and the kernel's receive queue is empty (the connection
//! checks the last two). The client has said all a greeting client says,
//! like an HTTP request with `Connection: close`, so the connection closes
//! at once (a plain FIN after the greeting), as the seed's server did. That
//! saves a shutdown, a wake-up and a read per connection, a third of the
//! system calls of the seed's own scenario (see docs/benchmarks.md).

use super::{Context, Output, Protocol, Verdict};

/// Answers every request with a fixed greeting, then closes.
#[derive(Debug, Clone)]
pub struct Greeting {
    reply: Vec<u8>,
    max_request_bytes: usize,
}

impl Greeting {
    /// A greeting protocol that replies `reply` to requests of at most
    /// `max_request_bytes` bytes (longer ones are cut there).
    pub fn new(reply: impl Into<Vec<u8>>, max_request_bytes: usize) -> Greeting {
        Greeting {
            reply: reply.into(),
            max_request_bytes: max_request_bytes.max(1),
        }
    }
}

/// One greeting connection's state: how its request ended.
#[derive(Debug, Clone, Copy, Default)]
pub struct Session {
    /// The request was a whole line (it ended with `\n`): a client that
    /// speaks the protocol sends nothing more (see the module docs).
    line_ended: bool,
}

impl Protocol for Greeting {
    type Session = Session;

    /// The request line, up to --max-request-bytes.
    fn max_buffered_input(&self) -> usize {
        self.max_request_bytes
    }

    fn name(&self) -> &'static str {
        "greeting"
    }

    fn open(&mut self, _peer: std::net::SocketAddr) -> Session {
        Session::default()
    }

    fn on_input(
        &mut self,
        session: &mut Session,
        input: &[u8],
        _: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        let window = input.get(..self.max_request_bytes).unwrap_or(input);
        let request_len = match window.iter().position(|&b| b == b'\n') {
            Some(newline) => {
                session.line_ended = true;
                newline + 1
            }
            None if window.len() == self.max_request_bytes => window.len(),
            None => return Verdict::NeedMore,
        };
        out.extend(&self.reply);
        Verdict::Close(request_len)
    }

    /// Only a request cut at the byte limit (the rest of its line may be
    /// on the way) or ended by EOF leaves the connection lingering.
    fn expects_more_input(&self, session: &Session) -> bool {
        !session.line_ended
    }

    fn on_eof(&mut self, _: &mut Session, _input: &[u8], _: &mut Context<'_>, out: &mut Output) {
        out.extend(&self.reply);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::{Run, run_splits};

    fn greeting() -> Greeting {
        Greeting::new("hi\n", 8)
    }

    #[test]
    fn a_line_is_answered_and_the_connection_closes() {
        run_splits(greeting, b"hello\nextra", false, |run: &Run| {
            assert_eq!(run.output, b"hi\n");
            assert_eq!(run.consumed, 6);
            assert!(run.closed);
        });
    }

    /// A whole line is all a client says: the connection may close at once.
    /// A request cut at the limit may have the rest of its line on the way,
    /// and one ended by EOF closes anyway: both linger.
    #[test]
    fn only_a_whole_line_lets_the_connection_close_without_lingering() {
        let metrics = crate::metrics::Metrics::new(std::time::Instant::now());
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
        let cases: [(&[u8], bool); 3] =
            [(b"hello\n", false), (b"0123456789", true), (b"hel", true)];
        for (input, expected) in cases {
            let mut protocol = greeting();
            let mut session = protocol.open(peer);
            let mut ctx = Context {
                now: std::time::Instant::now(),
                wall: std::time::SystemTime::now(),
                metrics: &metrics,
            };
            let _verdict = protocol.on_input(&mut session, input, &mut ctx, &mut Output::default());
            assert_eq!(
                protocol.expects_more_input(&session),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn no_newline_before_the_limit_means_the_limit_is_the_request() {
        run_splits(greeting, b"0123456789abcdef", false, |run: &Run| {
            assert_eq!(run.output, b"hi\n");
            assert_eq!(run.consumed, 8);
            assert!(run.closed);
        });
    }

    #[test]
    fn a_newline_exactly_at_the_limit_ends_the_request_there() {
        run_splits(greeting, b"0123456\nrest", false, |run: &Run| {
            assert_eq!(run.consumed, 8);
            assert_eq!(run.output, b"hi\n");
        });
    }

    #[test]
    fn a_partial_line_waits_for_more() {
        run_splits(greeting, b"hel", false, |run: &Run| {
            assert!(run.output.is_empty());
            assert!(!run.closed);
        });
    }

    #[test]
    fn end_of_input_answers_whatever_arrived_even_nothing() {
        for input in [&b"partial"[..], b""] {
            run_splits(greeting, input, true, |run: &Run| {
                assert_eq!(run.output, b"hi\n");
                assert!(run.closed);
            });
        }
    }
}
