//! What the load generator sends, and how it recognises a complete, valid
//! answer in the bytes received so far, for each protocol.

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

/// Parse one HTTP/1.x response framed by Content-Length. Chunked responses
/// are not expected from the servers this tool is for; they count as
/// invalid rather than being misread.
pub fn http(input: &[u8]) -> Answer {
    let Some(head_end) = input.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if input.len() > 64 * 1024 {
            Answer::Invalid
        } else {
            Answer::Partial
        };
    };
    let Ok(head) = std::str::from_utf8(&input[..head_end]) else {
        return Answer::Invalid;
    };
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = match status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
    {
        Some(rest) => match rest.get(..3).and_then(|s| s.parse::<u16>().ok()) {
            Some(status) => status,
            None => return Answer::Invalid,
        },
        None => return Answer::Invalid,
    };
    let mut length = None;
    let mut close = status_line.starts_with("HTTP/1.0");
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Answer::Invalid;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            match value.parse::<usize>() {
                Ok(n) => length = Some(n),
                Err(_) => return Answer::Invalid,
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Answer::Invalid;
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    // 1xx, 204 and 304 have no body; everything else we expect is framed.
    let length = match (status, length) {
        (100..=199 | 204 | 304, _) => 0,
        (_, Some(n)) => n,
        (_, None) => return Answer::Invalid,
    };
    let len = head_end + 4 + length;
    if input.len() < len {
        return Answer::Partial;
    }
    Answer::Complete {
        len,
        ok: (200..300).contains(&status),
        close,
    }
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
    fn http_responses_are_found_at_every_split() {
        let one = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
        let two = [
            &one[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nConnection: close\r\n\r\n",
        ]
        .concat();
        for split in 0..one.len() {
            assert_eq!(http(&one[..split]), Answer::Partial, "split {split}");
        }
        assert_eq!(
            http(one),
            Answer::Complete {
                len: one.len(),
                ok: true,
                close: false
            }
        );
        assert_eq!(
            http(&two),
            Answer::Complete {
                len: one.len(),
                ok: true,
                close: false
            }
        );
        assert_eq!(
            http(&two[one.len()..]),
            Answer::Complete {
                len: two.len() - one.len(),
                ok: false,
                close: true
            }
        );
    }

    #[test]
    fn unframed_or_garbled_http_is_invalid() {
        assert_eq!(http(b"HTTP/1.1 200 OK\r\n\r\n"), Answer::Invalid);
        assert_eq!(
            http(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Answer::Invalid
        );
        assert_eq!(http(b"garbage\r\n\r\n"), Answer::Invalid);
        assert_eq!(
            http(b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n"),
            Answer::Invalid
        );
        assert_eq!(
            http(b"HTTP/1.1 304 Not Modified\r\n\r\n"),
            Answer::Complete {
                len: 29,
                ok: false,
                close: false
            }
        );
    }

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
