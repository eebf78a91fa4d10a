//! `reactord-load`: a load generator whose every worker is a
//! single-threaded mio reactor, the client-side sibling of the server's
//! loop (same rules: register once, read until WouldBlock or a short read,
//! write until WouldBlock). One worker by default; `--workers N` runs N of
//! them on threads that share nothing until their statistics are added
//! (`worker.rs`). The short read is a Linux shortcut, not mio's rule:
//! Linux's epoll raises a new edge for any data queued after it (see
//! "Draining readiness" at the server's `Connection::read`). This tool is
//! for measuring on Linux.
//!
//!
//! # Layout
//! - `main.rs`: what the run sends and checks (`request_for`), the run,
//!   the report and the files it writes.
//! - `args.rs`: the flags, their bounds, the target.
//! - `reactor.rs`: one worker's loop (`Load`): connect, send, receive,
//!   time, expire, count what is lost.
//! - `request.rs`: the request bytes, built once from -m/-H/--body.
//! - `framing.rs`: where an HTTP/1.1 response ends, checked strictly.
//! - `response.rs`: the echo and greeting answers.
//! - `pacer.rs`: open loop's timerfd, for sends on time to the microsecond.
//! - `stats.rs`: histograms and counters, and their exact merge.
//! - `worker.rs`: `--workers`: each worker's share, threads, the merge.
//! - `report.rs`, `plot.rs`: text, JSON, `.hgrm`, CSV; the SVG.
//!
//! Closed loop by default: each connection keeps `--pipeline` requests in
//! flight and sends the next when an answer arrives (like wrk). With
//! `--rate R` it runs open loop: requests are *scheduled* at R per second
//! across all connections, and each latency is measured from the request's
//! intended send time, so a server that stalls shows up in the percentiles
//! instead of silently slowing the client down (no coordinated omission,
//! like wrk2). See docs/load.md.

mod args;
mod framing;
mod pacer;
mod plot;
mod reactor;
mod report;
mod request;
mod response;
mod stats;
mod worker;

use args::Args;
use clap::Parser;
use reactor::Exchange;
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

/// What each connection sends, and how its answers are checked.
fn request_for(args: &Args, host: &str, path: &str) -> Result<(Exchange, Vec<u8>), String> {
    match args.protocol.as_str() {
        "http" => {
            let body = match (&args.body, &args.body_file) {
                (Some(text), _) => Some(text.clone().into_bytes()),
                (None, Some(file)) => Some(read_body_file(file)?),
                (None, None) => None,
            };
            let (bytes, head) = request::build(request::Spec {
                method: &args.method,
                host,
                path,
                headers: &args.headers,
                body,
                close: args.close,
            })?;
            Ok((Exchange::Http { head }, bytes))
        }
        "echo" => {
            let payload: Vec<u8> = (0..args.payload_bytes)
                .map(|i| b'a' + (i % 26) as u8)
                .collect();
            Ok((Exchange::Echo(payload.clone()), payload))
        }
        "greeting" => Ok((
            Exchange::Greeting(args.expect.clone().into_bytes()),
            b"hello\n".to_vec(),
        )),
        other => Err(format!(
            "unknown protocol {other:?} (http, echo or greeting)"
        )),
    }
}

/// `--body-file`: at most [`request::MAX_BODY`] bytes, checked before
/// reading it all.
fn read_body_file(file: &std::path::Path) -> Result<Vec<u8>, String> {
    let size = std::fs::metadata(file)
        .map_err(|e| format!("--body-file {}: {e}", file.display()))?
        .len();
    if size > request::MAX_BODY as u64 {
        return Err(format!(
            "--body-file {}: {size} bytes, over the {} limit",
            file.display(),
            request::MAX_BODY
        ));
    }
    std::fs::read(file).map_err(|e| format!("--body-file {}: {e}", file.display()))
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    let usage = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    };
    if let Err(message) = args::validate(&args) {
        return usage(message);
    }
    let (addr, host, path) = match args::parse_target(&args.target) {
        Ok(target) => target,
        Err(message) => return usage(message),
    };
    let (exchange, request) = match request_for(&args, &host, &path) {
        Ok(chosen) => chosen,
        Err(message) => return usage(message),
    };
    let _ = reactord::process::rlimit::raise_nofile_limit();
    // No more workers than connections: a worker without one would idle.
    args.workers = args.workers.min(args.connections);
    let label = args::label(&args);
    let plan = worker::Plan {
        args: args.clone(),
        exchange,
        request: std::sync::Arc::new(request),
        addr,
    };
    let outcome = match worker::run_all(plan) {
        Ok(outcome) => outcome,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    if io::stderr().is_terminal() && !args.json {
        eprintln!();
    }
    let run = report::Run {
        stats: &outcome.stats,
        elapsed: outcome.elapsed,
        workers: outcome.worker_requests,
        target_rate: args.rate,
    };
    if let Err(message) = write_files(&args, &run) {
        eprintln!("error: {message}");
        return ExitCode::FAILURE;
    }
    if args.json {
        println!("{}", run.json());
    } else {
        print!("{}", run.text(&label));
    }
    if let Some((achieved, true)) = run.achieved_rate() {
        eprintln!(
            "warning: sent {achieved:.0} req/s, below 99% of the {} req/s asked",
            args.rate.unwrap_or_default()
        );
    }
    if !outcome.ever_connected {
        eprintln!("error: could not connect to {addr}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// --hist, --timeline and --plot.
fn write_files(args: &Args, run: &report::Run<'_>) -> Result<(), String> {
    let write = |path: &PathBuf, text: String| {
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    if let Some(path) = &args.hist {
        write(path, report::hgrm(&run.stats.latency))?;
    }
    if let Some(path) = &args.timeline {
        write(path, report::timeline_csv(run.stats))?;
    }
    if let Some(path) = &args.plot {
        write(path, plot::svg(run.stats, &args::label(args))?)?;
    }
    Ok(())
}
