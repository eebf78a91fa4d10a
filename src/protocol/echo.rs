//! The echo protocol (RFC 862): every byte comes back, in order, as it
//! arrives, for as long as the client stays.
//!
//! The protocol itself is one line: consume everything, append it to the
//! output. What makes echo interesting is everything it leaves to the
//! connection: a client that writes without reading would make the output
//! grow without bound, so the connection stops handing it input (and stops
//! reading the socket) once a bounded amount of output is pending, and
//! resumes when the client drains it. When the client shuts down its write
//! side, the rest is sent and the connection closes.

use super::{Context, Output, Protocol, Verdict};

/// Sends every byte back.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Protocol for Echo {
    type Session = ();

    fn name(&self) -> &'static str {
        "echo"
    }

    fn open(&mut self, _peer: std::net::SocketAddr) {}

    fn on_input(
        &mut self,
        _: &mut (),
        input: &[u8],
        _: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        if input.is_empty() {
            return Verdict::NeedMore;
        }
        out.extend(input);
        Verdict::Continue(input.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::{Run, run_splits};

    #[test]
    fn every_byte_comes_back_in_order_whatever_the_split() {
        let input: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        run_splits(
            || Echo,
            &input,
            false,
            |run: &Run| {
                assert_eq!(run.output, input);
                assert_eq!(run.consumed, input.len());
                assert!(!run.closed);
            },
        );
    }

    #[test]
    fn end_of_input_closes_after_the_rest_is_sent() {
        run_splits(
            || Echo,
            b"bye",
            true,
            |run: &Run| {
                assert_eq!(run.output, b"bye");
                assert!(run.closed);
            },
        );
    }
}
