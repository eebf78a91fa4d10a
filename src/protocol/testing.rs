//! A harness that drives a protocol the way a connection does, without a
//! socket: for unit tests that feed a protocol every split of an input.
//!
//! Public so that protocols written outside this crate (see `examples/`) can
//! be tested the same way.

use super::{Context, Output, Protocol, Verdict};
use crate::metrics::Metrics;
use std::time::{Instant, SystemTime};

/// What a protocol produced for one way of splitting the input.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Run {
    /// Every byte the protocol wrote, streamed bodies included.
    pub output: Vec<u8>,
    /// Input bytes consumed in total.
    pub consumed: usize,
    /// True if the protocol asked to close (or end of input was delivered).
    pub closed: bool,
}

/// Feed `input` to a fresh protocol from `make`, arriving in the given
/// `chunks` (byte lengths; the rest arrives as a last chunk), then end of
/// input if `eof`. Drives the protocol exactly as a connection does: after
/// each chunk, call `on_input` until it needs more, drop consumed bytes,
/// stop at `Close`.
///
/// # Panics
///
/// On a protocol that breaks the contract: `Continue(0)` (a connection would
/// spin) or consuming more bytes than it was shown.
pub fn run_chunks<P: Protocol>(
    make: impl Fn() -> P,
    input: &[u8],
    chunks: &[usize],
    eof: bool,
) -> Run {
    let mut protocol = make();
    let mut session = protocol.open(std::net::SocketAddr::from(([127, 0, 0, 1], 40000)));
    let metrics = Metrics::new(Instant::now());
    let mut out = Output::default();
    let mut run = Run::default();
    let mut buffered: Vec<u8> = Vec::new();
    let mut rest = input;
    let mut sizes = chunks.iter().copied().chain(std::iter::once(usize::MAX));
    while !run.closed {
        let Some(size) = sizes.next() else { break };
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        buffered.extend_from_slice(chunk);
        while !buffered.is_empty() {
            let mut ctx = Context {
                now: Instant::now(),
                wall: SystemTime::now(),
                metrics: &metrics,
            };
            let verdict = protocol.on_input(&mut session, &buffered, &mut ctx, &mut out);
            drain(&mut out, &mut run.output);
            let n = verdict.consumed();
            assert!(
                n <= buffered.len(),
                "{verdict:?} consumed more than the {} bytes shown",
                buffered.len()
            );
            buffered.drain(..n);
            run.consumed += n;
            match verdict {
                Verdict::NeedMore => break,
                Verdict::Continue(0) => panic!("Continue(0) would make a connection spin"),
                Verdict::Continue(_) => {}
                Verdict::Close(_) => {
                    run.closed = true;
                    break;
                }
                Verdict::Wait(..) => {
                    // The timer fires at once here: a test of the protocol
                    // checks what it answers, not when.
                    if wake_until_done(&mut protocol, &mut session, &metrics, &mut out, &mut run) {
                        run.closed = true;
                        break;
                    }
                }
            }
        }
        if rest.is_empty() {
            break;
        }
    }
    if eof && !run.closed {
        let mut ctx = Context {
            now: Instant::now(),
            wall: SystemTime::now(),
            metrics: &metrics,
        };
        protocol.on_eof(&mut session, &buffered, &mut ctx, &mut out);
        drain(&mut out, &mut run.output);
        run.closed = true;
    }
    run
}

/// Run `input` through a fresh protocol in one piece, in every split into two
/// pieces, and one byte at a time, and call `check` on each run. Also checks
/// that every split produced the same result as the one-piece run, which is
/// the property that matters most: the network decides the splits.
pub fn run_splits<P: Protocol>(
    make: impl Fn() -> P,
    input: &[u8],
    eof: bool,
    check: impl Fn(&Run),
) {
    let whole = run_chunks(&make, input, &[], eof);
    check(&whole);
    for split in 1..input.len() {
        let run = run_chunks(&make, input, &[split], eof);
        assert_eq!(
            run, whole,
            "split at {split} differs from the one-piece run"
        );
    }
    let ones = vec![1; input.len()];
    let run = run_chunks(&make, input, &ones, eof);
    assert_eq!(run, whole, "byte-at-a-time differs from the one-piece run");
}

/// Move everything out of `out` (bytes, then a streamed body) into `sink`.
/// Call `on_wake` until the protocol stops waiting; true if it then asked
/// to close.
fn wake_until_done<P: Protocol>(
    protocol: &mut P,
    session: &mut P::Session,
    metrics: &Metrics,
    out: &mut Output,
    run: &mut Run,
) -> bool {
    loop {
        let mut ctx = Context {
            now: Instant::now(),
            wall: SystemTime::now(),
            metrics,
        };
        let verdict = protocol.on_wake(session, &mut ctx, out);
        drain(out, &mut run.output);
        assert_eq!(verdict.consumed(), 0, "on_wake has no input to consume");
        match verdict {
            Verdict::Wait(..) => continue,
            Verdict::Close(_) => return true,
            Verdict::NeedMore | Verdict::Continue(_) => return false,
        }
    }
}

fn drain(out: &mut Output, sink: &mut Vec<u8>) {
    sink.extend_from_slice(out.as_bytes());
    out.bytes_mut().clear();
    if let Some(body) = out.body_mut() {
        let mut chunk = [0u8; 4096];
        while body.remaining() > 0 {
            match body.read_chunk(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
        }
    }
    out.drop_body();
}
