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

impl Protocol for Greeting {
    type Session = ();

    /// The request line, up to --max-request-bytes.
    fn max_buffered_input(&self) -> usize {
        self.max_request_bytes
    }

    fn name(&self) -> &'static str {
        "greeting"
    }

    fn open(&mut self, _peer: std::net::SocketAddr) {}

    fn on_input(
        &mut self,
        _: &mut (),
        input: &[u8],
        _: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        let window = input.get(..self.max_request_bytes).unwrap_or(input);
        let request_len = match window.iter().position(|&b| b == b'\n') {
            Some(newline) => newline + 1,
            None if window.len() == self.max_request_bytes => window.len(),
            None => return Verdict::NeedMore,
        };
        out.extend(&self.reply);
        Verdict::Close(request_len)
    }

    fn on_eof(&mut self, _: &mut (), _input: &[u8], _: &mut Context<'_>, out: &mut Output) {
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
