//! `--workers N`: N share-nothing reactors, one OS thread each, each with
//! its own poll, connections, schedule and statistics; they share nothing
//! while running (no lock, no atomic on the hot path) and meet only at the
//! end, when their statistics are added exactly.
//!
//! Threads, not processes, because this is the *client*: the server's
//! no-threads rule is about the server being one reactor, while a load
//! generator just needs more cores than one; threads give that with the
//! results merged in memory (processes would need a pipe and a
//! serialisation of the histograms for the same outcome). Each worker
//! gets `connections / N` connections (the first ones one more when it
//! does not divide) and the same proportion of `--rate` and `--requests`,
//! so every worker carries the same load per connection.

use crate::args::Args;
use crate::reactor::{Exchange, Load, Share};
use crate::stats::Stats;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most workers `--workers` accepts.
pub const MAX_WORKERS: usize = 1024;

/// `--workers`: a number from 1 to [`MAX_WORKERS`], or `auto` (one per
/// available core).
pub fn parse_workers(text: &str) -> Result<usize, String> {
    if text == "auto" {
        return Ok(std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_WORKERS));
    }
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_WORKERS).contains(&n) => Ok(n),
        _ => Err(format!("expected auto or a number from 1 to {MAX_WORKERS}")),
    }
}

/// Everything a run needs, shared read-only by the workers.
pub struct Plan {
    pub args: Args,
    pub exchange: Exchange,
    pub request: Arc<Vec<u8>>,
    pub addr: SocketAddr,
}

/// A finished run, all workers merged.
pub struct Outcome {
    pub stats: Stats,
    /// The longest worker's measured time.
    pub elapsed: Duration,
    /// Each worker's answered requests.
    pub worker_requests: Vec<u64>,
    pub ever_connected: bool,
}

/// Worker `index`'s part of `total` split `parts` ways, larger parts first.
fn part(total: u64, parts: u64, index: u64) -> u64 {
    total / parts + u64::from(index < total % parts)
}

/// Worker `index`'s share of the run.
fn share(args: &Args, index: usize) -> Share {
    let workers = args.workers as u64;
    let connections = part(args.connections as u64, workers, index as u64);
    let fraction = connections as f64 / args.connections as f64;
    Share {
        connections: usize::try_from(connections).unwrap_or(usize::MAX),
        rate: args.rate.map(|r| r * fraction),
        requests: args.requests.map(|n| part(n, workers, index as u64)),
    }
}

/// Run every worker (worker 0 on this thread) and merge what they measured.
pub fn run_all(plan: Plan) -> io::Result<Outcome> {
    let start = Instant::now();
    let mut loads = Vec::with_capacity(plan.args.workers);
    for index in 0..plan.args.workers.max(1) {
        loads.push(Load::new(&plan, index, share(&plan.args, index), start)?);
    }
    let mut first = loads.remove(0);
    let handles: Vec<_> = loads
        .into_iter()
        .map(|mut load| {
            std::thread::spawn(move || {
                let elapsed = load.run();
                (load, elapsed)
            })
        })
        .collect();
    // A worker whose poll failed ends the run with its error; the others'
    // threads are not waited for (the process exits with the error).
    let elapsed = first.run()?;
    let mut finished = vec![(first, elapsed)];
    for handle in handles {
        match handle.join() {
            Ok((load, elapsed)) => finished.push((load, elapsed?)),
            Err(_) => return Err(io::Error::other("a worker thread panicked")),
        }
    }
    let mut stats = Stats::new(
        start + plan.args.warmup,
        plan.args.timeline.is_some() || plan.args.plot.is_some(),
    );
    let mut outcome_elapsed = Duration::ZERO;
    let mut worker_requests = Vec::new();
    let mut ever_connected = false;
    for (load, elapsed) in &finished {
        stats.merge(&load.stats);
        outcome_elapsed = outcome_elapsed.max(*elapsed);
        worker_requests.push(load.stats.requests);
        ever_connected |= load.ever_connected;
    }
    Ok(Outcome {
        stats,
        elapsed: outcome_elapsed,
        worker_requests,
        ever_connected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_add_up_and_differ_by_at_most_one() {
        for total in [0u64, 1, 7, 64, 1001] {
            for parts in 1..=9u64 {
                let all: Vec<u64> = (0..parts).map(|i| part(total, parts, i)).collect();
                assert_eq!(all.iter().sum::<u64>(), total);
                assert!(all.iter().max().unwrap() - all.iter().min().unwrap() <= 1);
            }
        }
    }

    #[test]
    fn workers_flag_bounds() {
        assert_eq!(parse_workers("2"), Ok(2));
        assert!(parse_workers("auto").unwrap() >= 1);
        for bad in ["0", "1025", "-1", "many", ""] {
            assert!(parse_workers(bad).is_err(), "{bad}");
        }
    }
}
