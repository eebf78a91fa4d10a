//! How the load generator recognises a complete, valid answer in the
//! bytes received so far, for the echo and greeting protocols (HTTP's
//! framing is `framing.rs`).

/// The result of looking at the start of the received bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Not complete yet.
    Partial,
    /// A complete answer of this many bytes. `ok` is false for a valid but
    /// unsuccessful answer (HTTP non-2xx); `close` if the server said it will
    /// close the connection after it.
    Complete { len: usize, ok: bool, close: bool },
    /// Not what the protocol allows: counted as a bad response.
    Invalid,
}

/// An echo answer is the payload itself.
pub fn echo(input: &[u8], payload: &[u8]) -> Answer {
    let n = input.len().min(payload.len());
    if input[..n] != payload[..n] {
        return Answer::Invalid;
    }
    if n < payload.len() {
        return Answer::Partial;
    }
    Answer::Complete {
        len: payload.len(),
        ok: true,
        close: false,
    }
}

/// A greeting answer is the expected text, then the server closes.
pub fn greeting(input: &[u8], expected: &[u8]) -> Answer {
    let n = input.len().min(expected.len());
    if input[..n] != expected[..n] || input.len() > expected.len() {
        return Answer::Invalid;
    }
    if n < expected.len() {
        return Answer::Partial;
    }
    Answer::Complete {
        len: expected.len(),
        ok: true,
        close: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_and_greeting_answers_are_checked_byte_for_byte() {
        assert_eq!(echo(b"abc", b"abcd"), Answer::Partial);
        assert_eq!(
            echo(b"abcd", b"abcd"),
            Answer::Complete {
                len: 4,
                ok: true,
                close: false
            }
        );
        assert_eq!(echo(b"abX", b"abcd"), Answer::Invalid);
        assert_eq!(greeting(b"Hola", b"Hola\n"), Answer::Partial);
        assert_eq!(
            greeting(b"Hola\n", b"Hola\n"),
            Answer::Complete {
                len: 5,
                ok: true,
                close: true
            }
        );
        assert_eq!(greeting(b"Hola\nmore", b"Hola\n"), Answer::Invalid);
    }
}
