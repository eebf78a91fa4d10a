//! The bodies /echo makes up: `size=N` bytes of printable ASCII, plain or
//! cut into `chunks=K` with the chunked framing, produced as the socket
//! takes them so that memory stays flat whatever N.
//!
//! A drip (`interval=`) sends its chunks one at a time, each a
//! [`Generated`] body of one chunk, so the same code frames both.

use crate::protocol::StreamedBody;
use std::io;

/// What the bytes look like: printable, so a terminal or a log shows them
/// harmlessly, and varied, so a compressing proxy can't make them free.
const PATTERN: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// How `size` bytes are cut into chunks: the first `size % chunks` chunks
/// are one byte longer than the others. Never a chunk of 0 bytes (which
/// would end the body early): there are at most `size` chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunking {
    /// Data bytes in all.
    pub size: u64,
    /// How many chunks (at most `size`; 0 when `size` is 0).
    pub chunks: u64,
}

impl Chunking {
    /// `size` bytes in `chunks` chunks (fewer if `size` is smaller).
    pub fn new(size: u64, chunks: u64) -> Chunking {
        Chunking {
            size,
            chunks: chunks.min(size),
        }
    }

    /// Data bytes of chunk `index`.
    fn chunk_size(&self, index: u64) -> u64 {
        match self.chunks {
            0 => 0,
            n => self.size / n + u64::from(index < self.size % n),
        }
    }

    /// Data bytes before chunk `index` (its offset in the pattern).
    fn offset_of(&self, index: u64) -> u64 {
        match self.chunks {
            0 => 0,
            n => index * (self.size / n) + index.min(self.size % n),
        }
    }

    /// Bytes on the wire of chunks `from..to`, framing included, plus the
    /// last-chunk line and the empty trailer section if `last`.
    fn wire_len(&self, from: u64, to: u64, last: bool) -> u64 {
        let framed = |size: u64| hex_len(size) + 2 + size + 2;
        let n = self.chunks.max(1);
        let extra = self.size % n;
        let big = to.min(extra).saturating_sub(from.min(extra));
        let small = to.saturating_sub(from).saturating_sub(big);
        let base = self.size / n;
        big * framed(base + 1) + small * framed(base) + if last { 5 } else { 0 }
    }
}

/// Digits of `n` in hex.
fn hex_len(n: u64) -> u64 {
    u64::from((64 - n.leading_zeros()).div_ceil(4).max(1))
}

/// A body made up on the fly: `size` bytes of [`PATTERN`], or chunks of
/// them with their framing.
#[derive(Debug)]
pub struct Generated {
    /// Wire bytes still to produce.
    remaining: u64,
    /// Offset in the pattern of the next data byte.
    offset: u64,
    /// Data bytes left in the current chunk (or in the plain body).
    data_left: u64,
    /// Chunked framing: the layout, the next chunk to start, the end of the
    /// range, and whether the last-chunk line follows it.
    chunked: Option<(Chunking, u64, u64, bool)>,
    /// Framing bytes produced but not yet handed out (a size line, a CRLF).
    framing: [u8; 24],
    framing_start: usize,
    framing_end: usize,
}

impl Generated {
    /// `size` bytes, no framing (with a Content-Length).
    pub fn plain(size: u64) -> Generated {
        Generated {
            remaining: size,
            offset: 0,
            data_left: size,
            chunked: None,
            framing: [0; 24],
            framing_start: 0,
            framing_end: 0,
        }
    }

    /// Chunks `from..to` of `layout`, framed, and the end of the body if
    /// `last`.
    pub fn chunks(layout: Chunking, from: u64, to: u64, last: bool) -> Generated {
        let to = to.min(layout.chunks);
        let from = from.min(to);
        Generated {
            remaining: layout.wire_len(from, to, last),
            offset: layout.offset_of(from),
            data_left: 0,
            chunked: Some((layout, from, to, last)),
            framing: [0; 24],
            framing_start: 0,
            framing_end: 0,
        }
    }

    /// Queue framing bytes (at most 24: a 16-digit size line).
    fn push_framing(&mut self, bytes: std::fmt::Arguments<'_>) {
        let mut cursor = io::Cursor::new(&mut self.framing[..]);
        let _ = io::Write::write_fmt(&mut cursor, bytes);
        self.framing_start = 0;
        self.framing_end = usize::try_from(cursor.position()).unwrap_or(0);
    }

    /// Decide what comes after the current piece: the CRLF after chunk
    /// data, the next size line, or the last-chunk line. False at the end.
    fn next_piece(&mut self, after_data: bool) -> bool {
        let Some((layout, next, to, last)) = self.chunked.as_mut() else {
            return false;
        };
        if after_data {
            self.push_framing(format_args!("\r\n"));
            return true;
        }
        if *next < *to {
            let size = layout.chunk_size(*next);
            *next += 1;
            self.data_left = size;
            self.push_framing(format_args!("{size:x}\r\n"));
            return true;
        }
        if std::mem::take(last) {
            self.push_framing(format_args!("0\r\n\r\n"));
            return true;
        }
        false
    }

    /// Fill `buf` with the next bytes; returns how many.
    fn fill(&mut self, buf: &mut [u8]) -> usize {
        let mut written = 0;
        while written < buf.len() {
            let Some(room) = buf.get_mut(written..) else {
                break;
            };
            if self.framing_start < self.framing_end {
                let pending = self
                    .framing
                    .get(self.framing_start..self.framing_end)
                    .unwrap_or_default();
                let n = pending.len().min(room.len());
                if let (Some(dst), Some(src)) = (room.get_mut(..n), pending.get(..n)) {
                    dst.copy_from_slice(src);
                }
                self.framing_start += n;
                written += n;
            } else if self.data_left > 0 {
                let n = usize::try_from(self.data_left)
                    .unwrap_or(usize::MAX)
                    .min(room.len());
                fill_pattern(room.get_mut(..n).unwrap_or_default(), self.offset);
                self.offset += n as u64;
                self.data_left -= n as u64;
                written += n;
                if self.data_left == 0 && self.chunked.is_some() {
                    self.next_piece(true);
                }
            } else if !self.next_piece(false) {
                break;
            }
        }
        self.remaining = self.remaining.saturating_sub(written as u64);
        written
    }

    /// Append the whole body to `out` (for small bodies: no box, no refill).
    pub fn write_all(mut self, out: &mut Vec<u8>) {
        let len = usize::try_from(self.remaining).unwrap_or(0);
        let start = out.len();
        out.resize(start + len, 0);
        let n = self.fill(out.get_mut(start..).unwrap_or_default());
        out.truncate(start + n);
    }

    /// Wire bytes still to come.
    pub fn len(&self) -> u64 {
        self.remaining
    }
}

/// The pattern, repeated: any run of up to [`TILE_RUN`] bytes starting
/// anywhere in the first period is one slice of it, so filling is a
/// memcpy per run instead of a loop per byte (the cost before and after,
/// measured: docs/echo.md, "Benchmarks").
const TILE_RUN: usize = 4096;
static TILE: [u8; TILE_RUN + PATTERN.len()] = tile();

// Evaluated at compile time: an index out of bounds would fail the build.
#[allow(clippy::indexing_slicing)]
const fn tile() -> [u8; TILE_RUN + PATTERN.len()] {
    let mut tile = [0u8; TILE_RUN + PATTERN.len()];
    let mut i = 0;
    while i < tile.len() {
        tile[i] = PATTERN[i % PATTERN.len()];
        i += 1;
    }
    tile
}

/// The pattern from `offset` on, into `dst`.
fn fill_pattern(dst: &mut [u8], offset: u64) {
    let period = PATTERN.len();
    let mut at = usize::try_from(offset % period as u64).unwrap_or(0);
    for run in dst.chunks_mut(TILE_RUN) {
        if let Some(src) = TILE.get(at..at + run.len()) {
            run.copy_from_slice(src);
        }
        at = (at + run.len()) % period;
    }
}

impl StreamedBody for Generated {
    fn remaining(&self) -> u64 {
        self.remaining
    }

    fn read_chunk(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.fill(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(mut body: Generated, step: usize) -> Vec<u8> {
        let expected = body.remaining();
        let mut out = Vec::new();
        let mut buf = vec![0u8; step];
        while body.remaining() > 0 {
            let n = body.read_chunk(&mut buf).unwrap();
            assert!(n > 0, "a body with bytes left produced none");
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out.len() as u64, expected, "remaining() was exact");
        out
    }

    /// Decode a chunked body; returns the chunk sizes and the data.
    fn dechunk(mut wire: &[u8]) -> (Vec<usize>, Vec<u8>) {
        let (mut sizes, mut data) = (Vec::new(), Vec::new());
        loop {
            let line_end = wire.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&wire[..line_end]).unwrap(), 16).unwrap();
            wire = &wire[line_end + 2..];
            if size == 0 {
                assert_eq!(wire, b"\r\n");
                return (sizes, data);
            }
            sizes.push(size);
            data.extend_from_slice(&wire[..size]);
            assert_eq!(&wire[size..size + 2], b"\r\n");
            wire = &wire[size + 2..];
        }
    }

    #[test]
    fn a_plain_body_is_printable_and_exactly_sized() {
        for size in [0u64, 1, 61, 62, 63, 100_000] {
            for step in [1, 7, 4096] {
                let bytes = collect(Generated::plain(size), step);
                assert_eq!(bytes.len() as u64, size);
                assert!(bytes.iter().all(|b| b.is_ascii_alphanumeric()));
            }
        }
    }

    #[test]
    fn chunks_split_the_same_bytes_evenly_whatever_the_read_size() {
        let plain = collect(Generated::plain(1000), 4096);
        for chunks in [1u64, 3, 7, 1000, 5000] {
            for step in [1, 5, 4096] {
                let layout = Chunking::new(1000, chunks);
                let (sizes, data) =
                    dechunk(&collect(Generated::chunks(layout, 0, chunks, true), step));
                assert_eq!(sizes.len() as u64, chunks.min(1000));
                assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
                assert_eq!(data, plain, "{chunks} chunks, reads of {step}");
            }
        }
    }

    #[test]
    fn a_drip_one_chunk_at_a_time_is_the_same_body() {
        let layout = Chunking::new(100, 7);
        let whole = collect(Generated::chunks(layout, 0, 7, true), 4096);
        let mut drip = Vec::new();
        for i in 0..7 {
            drip.extend(collect(Generated::chunks(layout, i, i + 1, i == 6), 3));
        }
        assert_eq!(drip, whole);
    }

    #[test]
    fn an_empty_chunked_body_is_the_last_chunk_alone() {
        let layout = Chunking::new(0, 4);
        assert_eq!(
            collect(Generated::chunks(layout, 0, 4, true), 64),
            b"0\r\n\r\n"
        );
    }

    #[test]
    fn write_all_matches_streaming() {
        let layout = Chunking::new(300, 4);
        let mut out = b"head".to_vec();
        Generated::chunks(layout, 0, 4, true).write_all(&mut out);
        assert_eq!(&out[4..], collect(Generated::chunks(layout, 0, 4, true), 9));
    }
}
