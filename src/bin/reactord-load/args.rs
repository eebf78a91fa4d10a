//! The command line: the flags, their bounds (exit 2 past them), the
//! target's parsing and the report's label. Nothing here runs a load.

use crate::worker;
use clap::Parser;
use reactord::config::parse_duration;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// The command line. Flags wrk users know keep wrk's short names
/// (-c -d -t -R -H); -m as in oha and hey.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "reactord-load",
    version,
    about = "HTTP/1.1 load generator (also echo and greeting): closed or open loop, \
             every response validated, latency from HDR histograms",
    long_about = "HTTP/1.1 load generator (also echo and greeting).\n\n\
        Closed loop by default: each connection keeps --pipeline requests in flight \
        (like wrk). With --rate it runs open loop: requests are scheduled at fixed times \
        and timed from when they should have been sent (like wrk2), so server stalls show \
        up in the percentiles. Every response is checked (Content-Length, chunked, \
        close-delimited, HEAD, 1xx); a violation is a \"bad response\" with a reason. \
        See docs/load.md.\n\n\
        Examples:\n  reactord-load -c 64 -d 10s http://127.0.0.1:8080/\n  \
        reactord-load -t auto -R 20000 -d 30s --hist out.hgrm --plot out.svg http://127.0.0.1:8080/\n  \
        reactord-load -m POST -H 'Content-Type: text/plain' --body hello http://127.0.0.1:8080/echo"
)]
pub struct Args {
    /// http | echo | greeting
    #[arg(long, default_value = "http")]
    pub protocol: String,
    /// Concurrent connections (in total, shared among the workers)
    #[arg(short = 'c', long, default_value_t = 64)]
    pub connections: usize,
    /// How long to measure, after --warmup (ignored with --requests)
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Stop after this many requests instead of after --duration
    #[arg(long)]
    pub requests: Option<u64>,
    /// Requests in flight per connection
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// A new connection per request
    #[arg(long)]
    pub close: bool,
    /// echo: bytes per request
    #[arg(long, default_value_t = 64)]
    pub payload_bytes: usize,
    /// Open loop at this many requests per second in total
    #[arg(short = 'R', long)]
    pub rate: Option<f64>,
    /// greeting: the expected reply
    #[arg(long, default_value = "Hola desde el servidor TCP\n")]
    pub expect: String,
    /// An answer taking longer than this is a timeout error
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Print one JSON object instead of the report
    #[arg(long)]
    pub json: bool,
    /// Share-nothing reactors, one thread each: a number, or auto (one per core)
    #[arg(short = 't', long, default_value = "1", value_parser = worker::parse_workers)]
    pub workers: usize,
    /// http: the request method
    #[arg(short = 'm', long, default_value = "GET")]
    pub method: String,
    /// http: an extra request header "Name: value" (repeatable)
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// http: the request body (Content-Length is set for you)
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// http: the request body, read from a file (at most 64 MiB)
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    /// Run this long before measuring; nothing in it is counted (connect
    /// times excepted)
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Write the latency distribution here (HdrHistogram .hgrm text, ms)
    #[arg(long)]
    pub hist: Option<PathBuf>,
    /// Write a per-second CSV here: requests, errors, p50, p99, max
    #[arg(long)]
    pub timeline: Option<PathBuf>,
    /// Draw latency by percentile and throughput over time (SVG)
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// host:port, or http://host:port/path
    pub target: String,
}

/// Upper bounds of the numeric flags (exit 2 past them): far beyond any
/// useful run, low enough that no product or allocation overflows.
const MAX_CONNECTIONS: usize = 1_000_000;
const MAX_PIPELINE: usize = 65_536;
const MAX_RATE: f64 = 100_000_000.0;
const MAX_WARMUP: Duration = Duration::from_secs(24 * 3600);
/// 30 days: the end of the run (start + warm-up + duration) must be an
/// Instant the clock can represent.
const MAX_DURATION: Duration = Duration::from_secs(720 * 3600);

/// Checks clap cannot express; an error message for exit status 2.
pub fn validate(args: &Args) -> Result<(), String> {
    if args.connections == 0
        || args.pipeline == 0
        || args.rate.is_some_and(|r| r.is_nan() || r <= 0.0)
    {
        return Err("--connections, --pipeline and --rate must be positive".into());
    }
    if args.connections > MAX_CONNECTIONS {
        return Err(format!("--connections: at most {MAX_CONNECTIONS}"));
    }
    if args.pipeline > MAX_PIPELINE {
        return Err(format!("--pipeline: at most {MAX_PIPELINE}"));
    }
    if args.rate.is_some_and(|r| r > MAX_RATE) {
        return Err(format!("--rate: at most {MAX_RATE}"));
    }
    if args.warmup > MAX_WARMUP {
        return Err("--warmup: at most 24h".into());
    }
    if args.duration > MAX_DURATION {
        return Err("--duration: at most 720h".into());
    }
    let http_only = args.method != "GET"
        || !args.headers.is_empty()
        || args.body.is_some()
        || args.body_file.is_some();
    if http_only && args.protocol != "http" {
        return Err("--method, --header, --body and --body-file are for --protocol http".into());
    }
    Ok(())
}

/// `host:port` or `http://host:port/path` → address, Host header, path.
pub fn parse_target(target: &str) -> Result<(SocketAddr, String, String), String> {
    let rest = target.strip_prefix("http://").unwrap_or(target);
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let with_port = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("no address for {authority}"))?;
    Ok((addr, authority.to_string(), path.to_string()))
}

/// The report's first line: what was run.
pub fn label(args: &Args) -> String {
    format!(
        "{} {}{} ({} connections, pipeline {}{}{}{}{})",
        args.protocol,
        if args.protocol == "http" && args.method != "GET" {
            format!("{} ", args.method)
        } else {
            String::new()
        },
        args.target,
        args.connections,
        args.pipeline,
        if args.close {
            ", connection per request"
        } else {
            ""
        },
        args.rate
            .map(|r| format!(", open loop at {r} req/s"))
            .unwrap_or_default(),
        if args.workers > 1 {
            format!(", {} workers", args.workers)
        } else {
            String::new()
        },
        if args.warmup.is_zero() {
            String::new()
        } else {
            format!(", after {:?} warm-up", args.warmup)
        }
    )
}
