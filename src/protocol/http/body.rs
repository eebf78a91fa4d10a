//! Request bodies, framed and thrown away as they stream in.
//!
//! This server has no use for request bodies (it serves GET and HEAD), but
//! it must still find where a body ends, or the next request on the
//! connection would be read from the middle of this one's body. So a body is
//! *framed* (by Content-Length or chunked encoding, RFC 9112 §6–7) and
//! *discarded* chunk by chunk: it is never held in memory, whatever its size.

/// Longest chunk-size line (size, extensions, CRLF) or trailer line we accept.
/// Real clients send a few bytes; this bounds what a hostile one can make us
/// scan.
const MAX_LINE: usize = 4096;

/// Why a body could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Malformed chunked encoding: answer 400.
    Malformed,
    /// More than --max-body-bytes: answer 413.
    TooLarge,
}

/// A request body being discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Content-Length: this many bytes still to come.
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked(Chunked),
}

impl Body {
    /// Discard what `input` holds of the body. Returns the bytes consumed and
    /// whether the body is complete.
    pub fn discard(&mut self, input: &[u8], max_body: u64) -> Result<(usize, bool), BodyError> {
        match self {
            Body::Length(remaining) => {
                let n = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                *remaining -= n as u64;
                Ok((n, *remaining == 0))
            }
            Body::Chunked(chunked) => chunked.discard(input, max_body),
        }
    }
}

/// Where the chunked decoder is (RFC 9112 §7.1):
///
/// ```text
/// chunked-body = *chunk last-chunk trailer-section CRLF
/// chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
/// last-chunk   = 1*("0") [ chunk-ext ] CRLF
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Reading the hex digits of a chunk size.
    Size {
        digits: usize,
    },
    /// After the size: skipping a chunk extension (`;name=value`) to the LF.
    Extension,
    /// Saw CR at the end of the size line; LF must follow.
    SizeLf,
    /// Inside chunk data: this many bytes left.
    Data(u64),
    /// After chunk data: CR then LF.
    DataCr,
    DataLf,
    /// In the trailer section, at the start of a line (an empty line ends
    /// the body).
    TrailerLineStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// CR at the start of a trailer line: LF ends the body.
    FinalLf,
    /// CR inside a trailer field line.
    TrailerLf,
}

/// The state of a chunked body being discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunked {
    step: Step,
    /// Size of the chunk whose size line is being read.
    size: u64,
    /// Bytes of the current control line, bounded by [`MAX_LINE`].
    line: usize,
    /// Data bytes so far, bounded by --max-body-bytes.
    total: u64,
}

impl Default for Chunked {
    fn default() -> Chunked {
        Chunked {
            step: Step::Size { digits: 0 },
            size: 0,
            line: 0,
            total: 0,
        }
    }
}

impl Chunked {
    fn discard(&mut self, input: &[u8], max_body: u64) -> Result<(usize, bool), BodyError> {
        let mut pos = 0;
        while pos < input.len() {
            // Chunk data is skipped in bulk; everything else byte by byte.
            if let Step::Data(remaining) = self.step {
                let n = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len() - pos);
                pos += n;
                let left = remaining - n as u64;
                self.step = if left == 0 {
                    Step::DataCr
                } else {
                    Step::Data(left)
                };
                continue;
            }
            let Some(&byte) = input.get(pos) else { break };
            pos += 1;
            self.line += 1;
            if self.line > MAX_LINE {
                return Err(BodyError::Malformed);
            }
            self.step = match (self.step, byte) {
                (Step::Size { digits }, b) if b.is_ascii_hexdigit() => {
                    let digit = u64::from(hex_value(b));
                    self.size = self
                        .size
                        .checked_mul(16)
                        .and_then(|s| s.checked_add(digit))
                        .ok_or(BodyError::TooLarge)?;
                    Step::Size { digits: digits + 1 }
                }
                (Step::Size { digits: 0 }, _) => return Err(BodyError::Malformed),
                // Whitespace before an extension is tolerated (BWS in the
                // chunk-ext grammar).
                (Step::Size { .. }, b';' | b' ' | b'\t') | (Step::Extension, _)
                    if byte != b'\r' && byte != b'\n' =>
                {
                    Step::Extension
                }
                (Step::Size { .. } | Step::Extension, b'\r') => Step::SizeLf,
                (Step::Size { .. } | Step::Extension | Step::SizeLf, b'\n') => {
                    self.end_of_size_line(max_body)?
                }
                (Step::DataCr, b'\r') => Step::DataLf,
                (Step::DataCr | Step::DataLf, b'\n') => {
                    self.line = 0;
                    Step::Size { digits: 0 }
                }
                (Step::TrailerLineStart, b'\r') => Step::FinalLf,
                (Step::TrailerLineStart | Step::FinalLf, b'\n') => {
                    *self = Chunked::default();
                    return Ok((pos, true));
                }
                (Step::TrailerLineStart | Step::TrailerLine, b)
                    if b != b'\r' && b != b'\n' && b != 0 =>
                {
                    Step::TrailerLine
                }
                (Step::TrailerLine, b'\r') => Step::TrailerLf,
                (Step::TrailerLine | Step::TrailerLf, b'\n') => {
                    self.line = 0;
                    Step::TrailerLineStart
                }
                _ => return Err(BodyError::Malformed),
            };
        }
        Ok((pos, false))
    }

    /// The size line ended: a zero size starts the trailer section,
    /// anything else is chunk data (counted against the body limit).
    fn end_of_size_line(&mut self, max_body: u64) -> Result<Step, BodyError> {
        let size = std::mem::take(&mut self.size);
        self.line = 0;
        if size == 0 {
            return Ok(Step::TrailerLineStart);
        }
        self.total = self.total.checked_add(size).ok_or(BodyError::TooLarge)?;
        if self.total > max_body {
            return Err(BodyError::TooLarge);
        }
        Ok(Step::Data(size))
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Discard `input` split at every point; all splits must agree.
    fn discard_all_splits(input: &[u8], max: u64) -> Result<usize, BodyError> {
        let whole = {
            let mut c = Chunked::default();
            match c.discard(input, max) {
                Ok((n, true)) => Ok(n),
                Ok((_, false)) => Err(BodyError::Malformed),
                Err(e) => Err(e),
            }
        };
        for split in 1..input.len() {
            let mut c = Chunked::default();
            let (a, b) = input.split_at(split);
            let result = c.discard(a, max).and_then(|(n, done)| {
                if done {
                    return Ok(n);
                }
                assert_eq!(n, a.len(), "an unfinished body consumes all it is shown");
                match c.discard(b, max)? {
                    (m, true) => Ok(n + m),
                    (_, false) => Err(BodyError::Malformed),
                }
            });
            assert_eq!(result, whole, "split at {split}");
        }
        whole
    }

    #[test]
    fn chunks_with_extensions_and_trailers_end_at_the_final_crlf() {
        let body = b"5;name=value\r\nhello\r\n6 ; x\r\n world\r\n0\r\nTrailer: yes\r\nMore: 1\r\n\r\nGET /";
        assert_eq!(discard_all_splits(body, 1000), Ok(body.len() - 5));
    }

    #[test]
    fn the_smallest_chunked_body_is_a_zero_chunk_and_an_empty_line() {
        assert_eq!(discard_all_splits(b"0\r\n\r\n", 0), Ok(5));
    }

    #[test]
    fn bare_lf_line_endings_are_tolerated() {
        assert_eq!(discard_all_splits(b"3\nabc\n0\n\n", 10), Ok(9));
    }

    #[test]
    fn malformed_chunks_are_rejected() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"3\r\nabcX",
            b"3\r\nabc\rX",
            b"0\r\nbad\0trailer\r\n\r\n",
        ] {
            assert_eq!(
                discard_all_splits(bad, 100),
                Err(BodyError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_body_over_the_limit_is_too_large_even_split() {
        assert_eq!(
            discard_all_splits(b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 9),
            Err(BodyError::TooLarge)
        );
        assert_eq!(
            discard_all_splits(b"ffffffffffffffffff\r\n", u64::MAX),
            Err(BodyError::TooLarge)
        );
    }

    #[test]
    fn an_endless_size_line_is_cut_off() {
        let mut line = b"1;".to_vec();
        line.extend(std::iter::repeat_n(b'x', MAX_LINE));
        assert_eq!(
            Chunked::default().discard(&line, 100),
            Err(BodyError::Malformed)
        );
    }

    #[test]
    fn content_length_bodies_count_down() {
        let mut body = Body::Length(10);
        assert_eq!(body.discard(b"12345", 0), Ok((5, false)));
        assert_eq!(body.discard(b"67890GET", 0), Ok((5, true)));
    }
}
