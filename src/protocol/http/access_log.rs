//! The access log: one Common Log Format line per request, batched per loop
//! turn.
//!
//! # Why not through the `log` crate
//!
//! The line looks exactly like the server's other log lines (timestamp,
//! level, target) and obeys `--log-level` like them; but going through the
//! logger would cost a write(2) and allocations per request (the logger
//! formats each record into a buffer of its own and writes it at once).
//! So the lines of one loop turn are formatted into one reused buffer and written together by [`AccessLog::flush`],
//! which the protocol calls from `Protocol::end_of_turn`: one write(2) per
//! turn. Measured in docs/http.md ("Access log").
//!
//! This module is the one place that knows the line format; if the
//! server's logger changes its format, this is what must follow.

use super::response::DateCache;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The log target of access log lines (for --log-level and for grep).
pub const TARGET: &str = "reactord::access";

/// Bytes buffered before they are written even mid-turn: bounds the buffer
/// when one turn answers a great many requests.
const FLUSH_BYTES: usize = 64 * 1024;

/// The access log's switch and this turn's lines.
#[derive(Debug, Default)]
pub struct AccessLog {
    /// --access-log.
    enabled: bool,
    /// Lines not yet written.
    lines: Vec<u8>,
}

impl AccessLog {
    /// An access log that writes only if `enabled` (and info is logged).
    pub fn new(enabled: bool) -> AccessLog {
        AccessLog {
            enabled,
            lines: Vec::new(),
        }
    }

    /// True if a line recorded now would be written: the flag is on and
    /// --log-level lets info through for the access target.
    pub fn is_on(&self) -> bool {
        self.enabled && log::log_enabled!(target: TARGET, log::Level::Info)
    }

    /// Append one request's line (if the log is on), in the server's log
    /// format followed by the Common Log Format fields.
    pub fn record(
        &mut self,
        dates: &DateCache,
        peer: SocketAddr,
        request_line: std::fmt::Arguments<'_>,
        status: u16,
        bytes: u64,
        wall: SystemTime,
    ) {
        if !self.is_on() {
            return;
        }
        let millis = wall
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_millis())
            .unwrap_or(0);
        // Writing into a Vec can't fail.
        let _ = writeln!(
            self.lines,
            "{}.{millis:03}Z INFO  [{TARGET}] {} - - [{}] \"{request_line}\" {status} {bytes}",
            dates.iso(),
            peer.ip(),
            dates.clf()
        );
        if self.lines.len() >= FLUSH_BYTES {
            self.flush();
        }
    }

    /// Write the buffered lines to stderr with one write(2).
    pub fn flush(&mut self) {
        if !self.lines.is_empty() {
            // As with any logger: a log that can't be written is not a
            // reason to stop serving.
            let _ = std::io::stderr().lock().write_all(&self.lines);
            self.lines.clear();
        }
    }
}
