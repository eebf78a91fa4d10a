//! Request bodies, framed and thrown away as they stream in.
//!
//! This server has no use for request bodies (it serves GET and HEAD), but
//! it must still find where a body ends, or the next request on the
//! connection would be read from the middle of this one's body. So a body is
//! *framed* (by Content-Length or chunked encoding, RFC 9112 §6–7) and
//! *discarded* chunk by chunk: it is never held in memory, whatever its size.

use super::request::is_tchar;

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
    /// A trailer section larger than --max-request-bytes: answer 431, as
    /// for header fields (the trailer section is more header fields).
    TrailersTooLarge,
}

/// The limits a body is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// --max-body-bytes: the most data a body may carry.
    pub max_body: u64,
    /// --max-request-bytes: the most bytes a chunked body's trailer section
    /// may take, like the head it extends.
    pub max_trailers: usize,
}

/// A request body being framed (and discarded, or echoed by /echo), by
/// the framing it came with.
/// (The other direction, a response body sent as the socket takes it, is a
/// [`crate::protocol::StreamedBody`].)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    /// Content-Length: this many bytes still to come.
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked(Chunked),
}

impl RequestBody {
    /// Discard what `input` holds of the body. Returns the bytes consumed and
    /// whether the body is complete.
    #[cfg(test)]
    pub fn discard(&mut self, input: &[u8], limits: Limits) -> Result<(usize, bool), BodyError> {
        self.read(input, limits, &mut |_| {})
    }

    /// Frame what `input` holds of the body, handing each piece of its data
    /// (without the chunked framing) to `data`, in order: /echo copies them
    /// into its response. Returns the bytes consumed and whether the body
    /// is complete.
    pub fn read(
        &mut self,
        input: &[u8],
        limits: Limits,
        data: &mut dyn FnMut(&[u8]),
    ) -> Result<(usize, bool), BodyError> {
        match self {
            RequestBody::Length(remaining) => {
                let n = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                *remaining -= n as u64;
                if n > 0 {
                    data(input.get(..n).unwrap_or_default());
                }
                Ok((n, *remaining == 0))
            }
            RequestBody::Chunked(chunked) => chunked.read(input, limits, data),
        }
    }
}

/// Where the chunked decoder is (RFC 9112 §7.1):
///
/// ```text
/// chunked-body    = *chunk last-chunk trailer-section CRLF
/// chunk           = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
/// last-chunk      = 1*("0") [ chunk-ext ] CRLF
/// chunk-ext       = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
/// chunk-ext-val   = token / quoted-string
/// trailer-section = *( field-line CRLF )
/// field-line      = field-name ":" OWS field-value OWS
/// ```
///
/// Every byte of a size line and of the trailer section is checked against
/// this grammar: junk after a size (`5 x`), a control byte in an extension
/// or a trailer line without a colon is a 400. Leniency here is how request
/// smuggling starts: a proxy in front that reads the line differently
/// would see a different body end than we do.
///
/// Every line ending in chunked framing is CRLF, and a bare LF is a 400:
/// RFC 9112 §2.2 lets a recipient accept a bare LF in the start line and
/// header fields only, and §7.1 writes CRLF. A bare LF after chunk data is
/// the chunk-terminator desync: read leniently, `6\r\nhello\r\n0...` is
/// the chunk `hello\r` and what follows a new request to one parser, and
/// the middle of the body to another (llhttp and h11 both refuse it), which
/// a front end that frames differently turns into request smuggling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Reading the hex digits of a chunk size.
    Size {
        digits: usize,
    },
    /// Whitespace after the size or after an extension: `;` or the line end
    /// may follow.
    AfterSize,
    /// After `;`: whitespace, then an extension name.
    ExtNameStart,
    /// Inside an extension name.
    ExtName,
    /// Whitespace after an extension name: `=`, `;` or the line end follow.
    AfterExtName,
    /// After `=`: whitespace, then a token or a quoted string.
    ExtValueStart,
    /// Inside a token value.
    ExtValue,
    /// Inside a quoted-string value.
    Quoted,
    /// After a backslash inside a quoted string.
    QuotedPair,
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
    /// Inside a trailer field name.
    TrailerName,
    /// After the colon of a trailer field line.
    TrailerValue,
    /// CR at the start of a trailer line: LF ends the body.
    FinalLf,
    /// CR at the end of a trailer field line.
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
    /// Bytes of the trailer section so far, bounded by --max-request-bytes.
    trailers: usize,
}

impl Default for Chunked {
    fn default() -> Chunked {
        Chunked {
            step: Step::Size { digits: 0 },
            size: 0,
            line: 0,
            total: 0,
            trailers: 0,
        }
    }
}

impl Chunked {
    fn read(
        &mut self,
        input: &[u8],
        limits: Limits,
        data: &mut dyn FnMut(&[u8]),
    ) -> Result<(usize, bool), BodyError> {
        let mut pos = 0;
        while pos < input.len() {
            // Chunk data is skipped in bulk; everything else byte by byte.
            if let Step::Data(remaining) = self.step {
                let n = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len() - pos);
                if n > 0 {
                    data(input.get(pos..pos + n).unwrap_or_default());
                }
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
            let in_trailers = self.in_trailers();
            if in_trailers {
                self.trailers += 1;
                if self.trailers > limits.max_trailers {
                    return Err(BodyError::TrailersTooLarge);
                }
            }
            if self.line > MAX_LINE {
                // A trailer line is a header field line, and an oversized
                // one earns what an oversized header does (431); a size
                // line that long is just malformed.
                return Err(if in_trailers {
                    BodyError::TrailersTooLarge
                } else {
                    BodyError::Malformed
                });
            }
            match self.next_step(byte, limits.max_body)? {
                Some(step) => self.step = step,
                None => {
                    *self = Chunked::default();
                    return Ok((pos, true));
                }
            }
        }
        Ok((pos, false))
    }

    fn in_trailers(&self) -> bool {
        matches!(
            self.step,
            Step::TrailerLineStart
                | Step::TrailerName
                | Step::TrailerValue
                | Step::TrailerLf
                | Step::FinalLf
        )
    }

    /// The step after `byte`, or None when it ended the body.
    fn next_step(&mut self, byte: u8, max_body: u64) -> Result<Option<Step>, BodyError> {
        let is_ws = byte == b' ' || byte == b'\t';
        let step = match (self.step, byte) {
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

            // The line ends: after the size, an extension name or value.
            (
                Step::Size { .. }
                | Step::AfterSize
                | Step::ExtName
                | Step::AfterExtName
                | Step::ExtValue,
                b'\r',
            ) => Step::SizeLf,
            (Step::SizeLf, b'\n') => self.end_of_size_line(max_body)?,

            // chunk-ext, one piece of the grammar per arm.
            (Step::Size { .. } | Step::AfterSize | Step::ExtValue, _) if is_ws => Step::AfterSize,
            (
                Step::Size { .. }
                | Step::AfterSize
                | Step::ExtName
                | Step::AfterExtName
                | Step::ExtValue,
                b';',
            ) => Step::ExtNameStart,
            (Step::ExtNameStart, _) if is_ws => Step::ExtNameStart,
            (Step::ExtNameStart | Step::ExtName, b) if is_tchar(b) => Step::ExtName,
            (Step::ExtName | Step::AfterExtName, _) if is_ws => Step::AfterExtName,
            (Step::ExtName | Step::AfterExtName, b'=') => Step::ExtValueStart,
            (Step::ExtValueStart, _) if is_ws => Step::ExtValueStart,
            (Step::ExtValueStart, b'"') => Step::Quoted,
            (Step::ExtValueStart | Step::ExtValue, b) if is_tchar(b) => Step::ExtValue,
            (Step::Quoted, b'"') => Step::AfterSize,
            (Step::Quoted, b'\\') => Step::QuotedPair,
            (Step::Quoted, b) if is_field_text(b) => Step::Quoted,
            (Step::QuotedPair, b) if is_field_text(b) => Step::Quoted,

            // The CRLF after chunk data.
            (Step::DataCr, b'\r') => Step::DataLf,
            (Step::DataLf, b'\n') => {
                self.line = 0;
                Step::Size { digits: 0 }
            }

            // The trailer section: field lines, then an empty line.
            (Step::TrailerLineStart, b'\r') => Step::FinalLf,
            (Step::FinalLf, b'\n') => return Ok(None),
            (Step::TrailerLineStart | Step::TrailerName, b) if is_tchar(b) => Step::TrailerName,
            (Step::TrailerName, b':') => Step::TrailerValue,
            (Step::TrailerValue, b'\r') => Step::TrailerLf,
            (Step::TrailerLf, b'\n') => {
                self.line = 0;
                Step::TrailerLineStart
            }
            (Step::TrailerValue, b) if is_field_text(b) => Step::TrailerValue,

            _ => return Err(BodyError::Malformed),
        };
        Ok(Some(step))
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

/// A byte allowed in a field value or a quoted string: visible ASCII,
/// space, tab, and obs-text (RFC 9110 §5.5); never a control byte.
fn is_field_text(b: u8) -> bool {
    b == b' ' || b == b'\t' || b.is_ascii_graphic() || b >= 0x80
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

    impl Chunked {
        fn read_all(&mut self, input: &[u8], limits: Limits) -> Result<(usize, bool), BodyError> {
            self.read(input, limits, &mut |_| {})
        }
    }

    #[test]
    fn the_data_of_a_chunked_body_is_handed_out_without_its_framing() {
        let body = b"5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n";
        for split in 1..body.len() {
            let mut chunked = RequestBody::Chunked(Chunked::default());
            let mut data = Vec::new();
            let mut sink = |piece: &[u8]| data.extend_from_slice(piece);
            let (a, b) = body.split_at(split);
            let (n, done) = chunked.read(a, limits(100), &mut sink).unwrap();
            assert_eq!(n, a.len());
            if !done {
                assert_eq!(chunked.read(b, limits(100), &mut sink), Ok((b.len(), true)));
            }
            assert_eq!(data, b"hello world", "split at {split}");
        }
    }

    fn limits(max_body: u64) -> Limits {
        Limits {
            max_body,
            max_trailers: 64,
        }
    }

    /// Discard `input` split at every point; all splits must agree.
    fn discard_all_splits(input: &[u8], max: u64) -> Result<usize, BodyError> {
        let whole = {
            let mut c = Chunked::default();
            match c.read_all(input, limits(max)) {
                Ok((n, true)) => Ok(n),
                Ok((_, false)) => Err(BodyError::Malformed),
                Err(e) => Err(e),
            }
        };
        for split in 1..input.len() {
            let mut c = Chunked::default();
            let (a, b) = input.split_at(split);
            let result = c.read_all(a, limits(max)).and_then(|(n, done)| {
                if done {
                    return Ok(n);
                }
                assert_eq!(n, a.len(), "an unfinished body consumes all it is shown");
                match c.read_all(b, limits(max))? {
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
        let body = b"5;name=value\r\nhello\r\n6 ; x\r\n world\r\n7;a=\"q \\\" s\";b\r\nsmuggle\r\n0\r\nTrailer: yes\r\nMore:1\r\n\r\nGET /";
        assert_eq!(discard_all_splits(body, 1000), Ok(body.len() - 5));
    }

    #[test]
    fn the_smallest_chunked_body_is_a_zero_chunk_and_an_empty_line() {
        assert_eq!(discard_all_splits(b"0\r\n\r\n", 0), Ok(5));
    }

    /// RFC 9112 §7.1: CRLF everywhere in chunked framing (found by
    /// differential testing against llhttp and h11, issue 21).
    #[test]
    fn a_bare_lf_anywhere_in_chunked_framing_is_malformed() {
        for bad in [
            // After a chunk size.
            &b"3\nabc\r\n0\r\n\r\n"[..],
            // After a chunk extension, name or value.
            b"3;a\nabc\r\n0\r\n\r\n",
            b"3;a=b\nabc\r\n0\r\n\r\n",
            b"3 \nabc\r\n0\r\n\r\n",
            // After chunk data: the smuggling example of issue 21.
            b"6\r\nhello\r\n0\r\n\r\n",
            b"3\r\nabc\n0\r\n\r\n",
            // After the last chunk.
            b"0\n\r\n",
            // Ending the trailer section, and ending a trailer line.
            b"0\r\n\n",
            b"0\r\nT: 1\n\r\n",
            // All of them at once, as a lenient parser took it before.
            b"3\nabc\n0\n\n",
        ] {
            assert_eq!(
                discard_all_splits(bad, 100),
                Err(BodyError::Malformed),
                "{}",
                bad.escape_ascii()
            );
        }
    }

    #[test]
    fn malformed_chunks_are_rejected() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"3\r\nabcX",
            b"3\r\nabc\rX",
            b"0\r\nbad\0trailer\r\n\r\n",
            // Junk after the size, whitespace or not (RFC 9112 §7.1).
            b"5x\r\nhello\r\n0\r\n\r\n",
            b"5 x\r\nhello\r\n0\r\n\r\n",
            b"5;\r\nhello\r\n0\r\n\r\n",
            b"5;a=\r\nhello\r\n0\r\n\r\n",
            b"5;a b\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"open\r\nhello\r\n0\r\n\r\n",
            // Control bytes in an extension.
            b"5;a\x01\r\nhello\r\n0\r\n\r\n",
            b"5;a=b\x7f\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"b\x00\"\r\nhello\r\n0\r\n\r\n",
            // Trailer lines must be field lines: a name, then a colon.
            b"0\r\nno colon here\r\n\r\n",
            b"0\r\n: no name\r\n\r\n",
            b"0\r\n folded: line\r\n\r\n",
            b"0\r\nName: a\x01b\r\n\r\n",
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
            Chunked::default().read_all(&line, limits(100)),
            Err(BodyError::Malformed)
        );
    }

    /// A single trailer line over [`MAX_LINE`] is an oversized header
    /// field line: 431, not 400 (issue 21), even when the trailer section
    /// as a whole may be larger.
    #[test]
    fn one_trailer_line_over_the_line_limit_is_too_large() {
        let line = format!("X: {}\r\n", "a".repeat(MAX_LINE));
        let body = [&b"0\r\n"[..], line.as_bytes(), b"\r\n"].concat();
        let mut chunked = Chunked::default();
        let roomy = Limits {
            max_body: 100,
            max_trailers: 4 * MAX_LINE,
        };
        assert_eq!(
            chunked.read_all(&body, roomy),
            Err(BodyError::TrailersTooLarge)
        );
        // One that fits is fine.
        let line = format!("X: {}\r\n", "a".repeat(MAX_LINE - 10));
        let body = [&b"0\r\n"[..], line.as_bytes(), b"\r\n"].concat();
        assert_eq!(
            Chunked::default().read_all(&body, roomy),
            Ok((body.len(), true))
        );
    }

    #[test]
    fn a_trailer_section_over_the_request_limit_is_too_large() {
        // 64 bytes allowed (see `limits`): 6 lines of 11 bytes is 66.
        let mut body = b"0\r\n".to_vec();
        for _ in 0..6 {
            body.extend_from_slice(b"X-Tr: 1234\r\n");
        }
        body.extend_from_slice(b"\r\n");
        assert_eq!(
            discard_all_splits(&body, 100),
            Err(BodyError::TrailersTooLarge)
        );
        // Five fit.
        let fits = [&b"0\r\n"[..], &b"X-Tr: 1234\r\n".repeat(5), b"\r\n"].concat();
        assert_eq!(discard_all_splits(&fits, 100), Ok(fits.len()));
    }

    #[test]
    fn content_length_bodies_count_down() {
        let mut body = RequestBody::Length(10);
        assert_eq!(body.discard(b"12345", limits(0)), Ok((5, false)));
        assert_eq!(body.discard(b"67890GET", limits(0)), Ok((5, true)));
    }
}
