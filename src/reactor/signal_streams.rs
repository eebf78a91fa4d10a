//! A loop's side of the signal self-pipes: streams whose every byte is one
//! delivery of a signal, each watched under a token of a range the loop
//! reserves for them.
//!
//! The program, not the library, decides what a signal means (see
//! `shutdown`, "Why a value and not a signal"): the `reactord` binary gives
//! the write end of a socket pair to a signal handler that writes one byte
//! per delivery (signal-hook's `low_level::pipe::register`, in
//! `watch_signals`), and the read end to a loop, with what the signal means
//! to that loop. Both loops take them here: the server
//! (`Server::shutdown_when_readable`, `Server::reload_when_readable`), with
//! its own meanings, and the supervisor of `--workers`
//! (`Supervisor::on_signal`), with its own. This module knows only that a
//! stream has a meaning, never what it is.
//!
//! # Tokens
//!
//! A loop reserves [`MAX_SIGNAL_STREAMS`] tokens, counting down from the
//! one it names ([`SignalTokens::counting_down_from`]): the first stream
//! watched gets that token, the next the one below, and so on. Telling
//! whether an event is a signal's is then a comparison with constants
//! ([`SignalTokens::contains`]), cheap enough to ask of every event a loop
//! dispatches.
//!
//! # Draining readiness
//!
//! Streams are registered edge-triggered like every other source: after an
//! event, [`SignalStreams::drain`] reads until `WouldBlock`, so that
//! deliveries that arrived in one burst are all counted, and none is left
//! behind to wait for the next signal's edge.

use crate::reactor::connection::interrupted;
use mio::net::UnixStream;
use mio::{Interest, Registry, Token};
use std::io::{self, Read};

/// Signal streams one loop takes, at most (one per signal is the use: the
/// supervisor takes four).
pub(crate) const MAX_SIGNAL_STREAMS: usize = 8;

/// The tokens a loop reserves for its signal streams:
/// [`MAX_SIGNAL_STREAMS`] of them, counting down from the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SignalTokens {
    first: usize,
}

impl SignalTokens {
    /// The range whose highest token is `first`. A loop keeps it in a
    /// constant, so that [`SignalTokens::contains`] compares with
    /// constants. `first` must be at least `MAX_SIGNAL_STREAMS - 1`, which
    /// a range at the top of the token space (where loops put theirs, far
    /// from slab keys) always is.
    pub(crate) const fn counting_down_from(first: Token) -> SignalTokens {
        SignalTokens { first: first.0 }
    }

    /// Whether `token` is one of the range: one subtraction and one
    /// comparison, with constants when the range is a constant.
    pub(crate) const fn contains(self, token: Token) -> bool {
        self.first.wrapping_sub(token.0) < MAX_SIGNAL_STREAMS
    }

    /// The token of the `index`th stream watched.
    fn token(self, index: usize) -> Token {
        Token(self.first - index)
    }

    /// Which stream `token` belongs to (by the order they were watched in),
    /// if it is one of the range.
    fn index(self, token: Token) -> Option<usize> {
        let index = self.first.wrapping_sub(token.0);
        (index < MAX_SIGNAL_STREAMS).then_some(index)
    }
}

/// What one drain of a stream found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deliveries<T> {
    /// What the stream's signal means to the loop.
    pub(crate) meaning: T,
    /// How many times it was delivered since the last drain: one per byte
    /// (two signals before the loop looked are two bytes; the handler drops
    /// a byte only when the stream's buffer is full).
    pub(crate) count: usize,
}

/// The signal streams of one loop, each with what its signal means there.
pub(crate) struct SignalStreams<T> {
    tokens: SignalTokens,
    /// Indexed by the order they were watched in: the `i`th has token
    /// `tokens.token(i)`.
    streams: Vec<(UnixStream, T)>,
}

impl<T: Copy> SignalStreams<T> {
    /// No stream yet; those watched later get `tokens`, in order.
    pub(crate) fn new(tokens: SignalTokens) -> SignalStreams<T> {
        SignalStreams {
            tokens,
            streams: Vec::new(),
        }
    }

    /// Register `stream` (readable, edge-triggered) under the next token of
    /// the range; every byte that arrives on it will be one delivery of a
    /// signal that means `meaning`. Refused once [`MAX_SIGNAL_STREAMS`] are
    /// watched: another token would fall outside the range.
    pub(crate) fn watch(
        &mut self,
        registry: &Registry,
        mut stream: UnixStream,
        meaning: T,
    ) -> io::Result<()> {
        let index = self.streams.len();
        if index >= MAX_SIGNAL_STREAMS {
            return Err(io::Error::other("too many signal streams"));
        }
        registry.register(&mut stream, self.tokens.token(index), Interest::READABLE)?;
        self.streams.push((stream, meaning));
        Ok(())
    }

    /// After an event for `token`: read its stream until `WouldBlock` (or
    /// end of input, or an error: the stream has nothing more to say) and
    /// say how many deliveries that was. None when `token` is no stream's,
    /// or nothing was waiting.
    pub(crate) fn drain(&mut self, token: Token) -> Option<Deliveries<T>> {
        let index = self.tokens.index(token)?;
        let (stream, meaning) = self.streams.get_mut(index)?;
        let mut bytes = [0u8; 16];
        let mut count = 0;
        loop {
            match stream.read(&mut bytes) {
                Ok(0) => break,
                Ok(n) => count += n,
                Err(err) if interrupted(&err) => continue,
                Err(_) => break,
            }
        }
        (count > 0).then_some(Deliveries {
            meaning: *meaning,
            count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::test_sockets::unix_pair;
    use mio::{Events, Poll};
    use std::io::Write;
    use std::time::Duration;

    const FIRST: Token = Token(usize::MAX - 2);
    const TOKENS: SignalTokens = SignalTokens::counting_down_from(FIRST);

    /// Long enough for a byte written on this machine to be reported,
    /// however loaded; the tests only wait this long when they fail.
    const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

    /// The tokens `poll` reports next (waiting for at least one event).
    fn next_tokens(poll: &mut Poll) -> Vec<Token> {
        let mut events = Events::with_capacity(16);
        poll.poll(&mut events, Some(EVENT_TIMEOUT)).unwrap();
        events.iter().map(|event| event.token()).collect()
    }

    #[test]
    fn the_range_is_eight_tokens_counting_down_from_the_first() {
        assert!(TOKENS.contains(FIRST));
        assert!(TOKENS.contains(Token(FIRST.0 - (MAX_SIGNAL_STREAMS - 1))));
        assert!(!TOKENS.contains(Token(FIRST.0 - MAX_SIGNAL_STREAMS)));
        // Above the first: the loop's other reserved tokens.
        assert!(!TOKENS.contains(Token(FIRST.0 + 1)));
        assert!(!TOKENS.contains(Token(usize::MAX)));
        // A slab key.
        assert!(!TOKENS.contains(Token(0)));
        // A range at the very top is exact too.
        let top = SignalTokens::counting_down_from(Token(usize::MAX));
        assert!(top.contains(Token(usize::MAX)));
        assert!(top.contains(Token(usize::MAX - 7)));
        assert!(!top.contains(Token(usize::MAX - 8)));
        assert!(!top.contains(Token(0)));
    }

    #[test]
    fn a_byte_is_one_delivery_of_its_streams_meaning() {
        let mut poll = Poll::new().unwrap();
        let mut streams = SignalStreams::new(TOKENS);
        let (first, _first_writer) = unix_pair();
        let (second, mut second_writer) = unix_pair();
        streams.watch(poll.registry(), first, "first").unwrap();
        streams.watch(poll.registry(), second, "second").unwrap();

        second_writer.write_all(b"x").unwrap();
        assert_eq!(next_tokens(&mut poll), [Token(FIRST.0 - 1)]);
        assert_eq!(
            streams.drain(Token(FIRST.0 - 1)),
            Some(Deliveries {
                meaning: "second",
                count: 1
            })
        );
        // Drained: nothing is left for a second look.
        assert_eq!(streams.drain(Token(FIRST.0 - 1)), None);
        // The other stream had nothing.
        assert_eq!(streams.drain(FIRST), None);
    }

    #[test]
    fn bytes_arriving_in_one_burst_are_all_drained() {
        let mut poll = Poll::new().unwrap();
        let mut streams = SignalStreams::new(TOKENS);
        let (stream, mut writer) = unix_pair();
        streams.watch(poll.registry(), stream, "burst").unwrap();

        // Many more bytes than one read takes: an edge-triggered stream
        // reports them with one event, so one drain must count them all.
        writer.write_all(&[0; 100]).unwrap();
        assert_eq!(next_tokens(&mut poll), [FIRST]);
        assert_eq!(
            streams.drain(FIRST),
            Some(Deliveries {
                meaning: "burst",
                count: 100
            })
        );
        assert_eq!(streams.drain(FIRST), None);

        // And the next delivery raises a new edge.
        writer.write_all(b"x").unwrap();
        assert_eq!(next_tokens(&mut poll), [FIRST]);
        assert_eq!(streams.drain(FIRST).map(|found| found.count), Some(1));
    }

    #[test]
    fn a_ninth_stream_is_refused_and_the_eight_go_on() {
        let mut poll = Poll::new().unwrap();
        let mut streams = SignalStreams::new(TOKENS);
        let mut writers = Vec::new();
        for index in 0..MAX_SIGNAL_STREAMS {
            let (stream, writer) = unix_pair();
            streams.watch(poll.registry(), stream, index).unwrap();
            writers.push(writer);
        }
        // A ninth would have a token outside the range: refused (and
        // dropped, so its writer's next byte fails, as a handler's would).
        let (ninth, mut ninth_writer) = unix_pair();
        assert!(streams.watch(poll.registry(), ninth, 8).is_err());
        assert!(ninth_writer.write_all(b"x").is_err());

        // The eight go on: the last one's byte comes under the range's
        // lowest token.
        writers[MAX_SIGNAL_STREAMS - 1].write_all(b"x").unwrap();
        let lowest = Token(FIRST.0 - (MAX_SIGNAL_STREAMS - 1));
        assert_eq!(next_tokens(&mut poll), [lowest]);
        assert_eq!(
            streams.drain(lowest),
            Some(Deliveries {
                meaning: MAX_SIGNAL_STREAMS - 1,
                count: 1
            })
        );
    }

    #[test]
    fn a_token_outside_the_range_or_not_yet_given_drains_nothing() {
        let poll = Poll::new().unwrap();
        let mut streams = SignalStreams::new(TOKENS);
        let (stream, mut writer) = unix_pair();
        streams.watch(poll.registry(), stream, "only").unwrap();
        writer.write_all(b"x").unwrap();

        assert_eq!(streams.drain(Token(FIRST.0 - 1)), None);
        assert_eq!(streams.drain(Token(FIRST.0 + 1)), None);
        assert_eq!(streams.drain(Token(0)), None);
        // The byte is still there for its own token.
        assert_eq!(streams.drain(FIRST).map(|found| found.count), Some(1));
    }

    #[test]
    fn a_closed_writer_ends_the_drain() {
        let poll = Poll::new().unwrap();
        let mut streams = SignalStreams::new(TOKENS);
        let (stream, mut writer) = unix_pair();
        streams.watch(poll.registry(), stream, "closed").unwrap();
        writer.write_all(b"xy").unwrap();
        drop(writer);

        // The bytes, then end of input: the drain stops there.
        assert_eq!(streams.drain(FIRST).map(|found| found.count), Some(2));
        assert_eq!(streams.drain(FIRST), None);
    }
}
