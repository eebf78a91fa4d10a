//! `reactord-load`: a load generator that is itself a single-threaded mio
//! reactor, the client-side sibling of the server's loop (same rules:
//! register once, read until WouldBlock or a short read, write until
//! WouldBlock, no threads). The short read is a Linux shortcut, not mio's
//! rule: Linux's epoll raises a new edge for any data queued after it (see
//! "Draining readiness" at the server's `Connection::read`). This tool is
//! for measuring on Linux.
//!
//! Closed loop by default: each connection keeps `--pipeline` requests in
//! flight and sends the next when an answer arrives (like wrk). With
//! `--rate R` it runs open loop: requests are *scheduled* at R per second
//! across all connections, and each latency is measured from the request's
//! intended send time, so a server that stalls shows up in the percentiles
//! instead of silently slowing the client down (no coordinated omission,
//! like wrk2). See docs/load.md.

mod response;
mod stats;

use clap::Parser;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use reactord::config::parse_duration;
use response::Answer;
use slab::Slab;
use stats::Stats;
use std::collections::VecDeque;
use std::io::{self, IsTerminal, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Load generator for reactord (and any http, echo or greeting server).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// http | echo | greeting
    #[arg(long, default_value = "http")]
    protocol: String,
    /// Concurrent connections
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long to run (ignored with --requests)
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Stop after this many requests instead of after --duration
    #[arg(long)]
    requests: Option<u64>,
    /// Requests in flight per connection
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// A new connection per request
    #[arg(long)]
    close: bool,
    /// echo: bytes per request
    #[arg(long, default_value_t = 64)]
    payload_bytes: usize,
    /// Open loop at this many requests per second in total
    #[arg(long)]
    rate: Option<f64>,
    /// greeting: the expected reply
    #[arg(long, default_value = "Hola desde el servidor TCP\n")]
    expect: String,
    /// An answer taking longer than this is a timeout error
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print one JSON object instead of the report
    #[arg(long)]
    json: bool,
    /// host:port, or http://host:port/path
    target: String,
}

/// How often timeouts are checked and progress shown, and the longest
/// poll sleep.
const TICK: Duration = Duration::from_millis(100);

/// The protocol being driven: what to send, how to recognise the answer.
enum Protocol {
    Http,
    Echo(Vec<u8>),
    Greeting(Vec<u8>),
}

/// One client connection.
struct Client {
    socket: TcpStream,
    connected: bool,
    /// Bytes received and not yet matched to an answer.
    input: Vec<u8>,
    /// Requests not yet written, and how much of them was.
    output: Vec<u8>,
    written: usize,
    /// One entry per request sent and not answered: the time its latency
    /// counts from (the send time, or the intended time in open loop).
    in_flight: VecDeque<Instant>,
    /// Requests this connection may still send (1 with --close).
    quota: u64,
}

struct Load {
    args: Args,
    protocol: Protocol,
    request: Vec<u8>,
    addr: SocketAddr,
    poll: Poll,
    clients: Slab<Client>,
    stats: Stats,
    /// Requests sent so far (to stop at --requests).
    sent: u64,
    /// Open loop: intended send times not yet given to a connection.
    queued: VecDeque<Instant>,
    /// Open loop: how many requests have been scheduled.
    scheduled: u64,
    ever_connected: bool,
    /// After a failed connect, wait a little before the next one.
    reconnect_at: Option<Instant>,
    start: Instant,
    /// Every read lands here first (64 KiB, allocated once: a fresh zeroed
    /// array per read would cost more than the read itself).
    scratch: Vec<u8>,
}

impl Load {
    fn open(&mut self) {
        match TcpStream::connect(self.addr) {
            Ok(mut socket) => {
                let entry = self.clients.vacant_entry();
                let key = entry.key();
                if self
                    .poll
                    .registry()
                    .register(
                        &mut socket,
                        Token(key),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                    .is_err()
                {
                    self.stats.errors.connect += 1;
                    return;
                }
                entry.insert(Client {
                    socket,
                    connected: false,
                    input: Vec::with_capacity(16 * 1024),
                    output: Vec::with_capacity(4 * 1024),
                    written: 0,
                    in_flight: VecDeque::new(),
                    quota: if self.args.close || matches!(self.protocol, Protocol::Greeting(_)) {
                        1
                    } else {
                        u64::MAX
                    },
                });
            }
            Err(_) => {
                self.stats.errors.connect += 1;
                self.reconnect_at = Some(Instant::now() + Duration::from_millis(10));
            }
        }
    }

    /// Close `key` and open a replacement (unless the run is over).
    fn replace(&mut self, key: usize) {
        if self.clients.contains(key) {
            self.clients.remove(key);
        }
        if self.reconnect_at.is_none() {
            self.open();
        }
    }

    fn may_send(&self, now: Instant) -> bool {
        match self.args.requests {
            Some(limit) => self.sent < limit,
            None => now < self.start + self.args.duration,
        }
    }

    /// Queue requests on `key` up to its pipeline depth (closed loop), or
    /// hand it scheduled requests (open loop).
    fn fill(&mut self, key: usize, now: Instant) {
        let open_loop = self.args.rate.is_some();
        loop {
            let Some(client) = self.clients.get(key) else {
                return;
            };
            if !client.connected
                || client.in_flight.len() >= self.args.pipeline
                || client.quota == 0
            {
                return;
            }
            let sent_at = if open_loop {
                match self.queued.pop_front() {
                    Some(intended) => intended,
                    None => return,
                }
            } else if self.may_send(now) {
                now
            } else {
                return;
            };
            self.sent += 1;
            let request = &self.request;
            let Some(client) = self.clients.get_mut(key) else {
                return;
            };
            client.output.extend_from_slice(request);
            client.in_flight.push_back(sent_at);
            client.quota -= 1;
        }
    }

    /// Write pending requests until done or WouldBlock.
    fn flush(&mut self, key: usize) -> io::Result<()> {
        let Some(client) = self.clients.get_mut(key) else {
            return Ok(());
        };
        while client.written < client.output.len() {
            match client.socket.write(&client.output[client.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => client.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        client.output.clear();
        client.written = 0;
        Ok(())
    }

    /// Read until the receive queue is empty and match answers to requests
    /// in flight. Returns false if the connection must be replaced.
    ///
    /// Like the server, a read that returns less than it asked for has
    /// emptied the queue, and anything arriving later raises a new edge; so
    /// no second read just to hear `WouldBlock`, unless the event said the
    /// server closed its side (that EOF raises no new edge). wrk spends four
    /// syscalls per request (read, write, two epoll_ctl); this spends two.
    fn receive(&mut self, key: usize, read_closed: bool, now: Instant) -> bool {
        let mut eof = false;
        loop {
            let Some(client) = self.clients.get_mut(key) else {
                return false;
            };
            match client.socket.read(&mut self.scratch) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    client.input.extend_from_slice(&self.scratch[..n]);
                    self.stats.bytes += n as u64;
                    // A short read ends the edge: Linux epoll's behaviour,
                    // see the module docs.
                    if n < self.scratch.len() && !read_closed {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.stats.errors.reset += 1;
                    return false;
                }
            }
        }
        let Some(client) = self.clients.get_mut(key) else {
            return false;
        };
        let mut consumed = 0;
        let mut keep = true;
        while let Some(&sent_at) = client.in_flight.front() {
            let rest = &client.input[consumed..];
            let answer = match &self.protocol {
                Protocol::Http => response::http(rest),
                Protocol::Echo(payload) => response::echo(rest, payload),
                Protocol::Greeting(text) => response::greeting(rest, text),
            };
            match answer {
                Answer::Partial => break,
                Answer::Invalid => {
                    self.stats.errors.bad_response += 1;
                    return false;
                }
                Answer::Complete { len, ok, close } => {
                    consumed += len;
                    client.in_flight.pop_front();
                    if ok {
                        self.stats.record(now.saturating_duration_since(sent_at));
                    } else {
                        self.stats.errors.status += 1;
                    }
                    if close {
                        keep = false;
                        break;
                    }
                }
            }
        }
        client.input.drain(..consumed);
        if !client.in_flight.is_empty() && (eof || !keep) {
            // The server went away with answers owed.
            self.stats.errors.reset += 1;
            return false;
        }
        if eof || !keep || (client.quota == 0 && client.in_flight.is_empty()) {
            return false;
        }
        true
    }

    /// The client's event loop: schedule (open loop), reconnect, poll,
    /// handle each event, expire timed-out requests, show progress; until
    /// the duration or the request count is reached. Returns the time run.
    fn run(&mut self) -> Duration {
        let mut events = Events::with_capacity(1024);
        for _ in 0..self.args.connections {
            self.open();
        }
        let mut last_progress = self.start;
        let mut last_timeout_check = self.start;
        let progress = io::stderr().is_terminal() && !self.args.json;
        loop {
            let now = Instant::now();
            if self.finished(now) {
                return now - self.start;
            }
            let timeout = self.send_scheduled(now);
            self.reconnect_if_due(now);
            if self.poll.poll(&mut events, Some(timeout)).is_err() {
                continue;
            }
            let now = Instant::now();
            for event in events.iter() {
                self.on_event(event, now);
            }
            // Checked once a tick, not after every poll: a scan of every
            // connection per poll would cost as much as the requests.
            if now.duration_since(last_timeout_check) >= TICK {
                last_timeout_check = now;
                self.expire_timed_out(now);
                if progress && now.duration_since(last_progress) >= Duration::from_secs(1) {
                    last_progress = now;
                    self.show_progress(now);
                }
            }
        }
    }

    /// The run is over: every request of `--requests` answered, or the
    /// duration spent; or nothing could connect within two seconds.
    fn finished(&self, now: Instant) -> bool {
        let done = match self.args.requests {
            Some(limit) => {
                self.sent >= limit && self.clients.iter().all(|(_, c)| c.in_flight.is_empty())
            }
            None => now >= self.start + self.args.duration,
        };
        done || (!self.ever_connected && now > self.start + Duration::from_secs(2))
    }

    /// Open loop (`--rate`): queue every request whose intended send time
    /// has come and send what the connections can take. Returns how long
    /// the poll may sleep: until the next intended send, at most a tick.
    fn send_scheduled(&mut self, now: Instant) -> Duration {
        let mut timeout = TICK;
        let Some(rate) = self.args.rate else {
            return timeout;
        };
        loop {
            let intended = self.start + Duration::from_secs_f64(self.scheduled as f64 / rate);
            if intended > now || !self.may_send_scheduled(now) {
                timeout = timeout.min(intended.saturating_duration_since(now));
                break;
            }
            self.queued.push_back(intended);
            self.scheduled += 1;
        }
        let keys: Vec<usize> = self.clients.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.fill_and_flush(key, now);
        }
        timeout
    }

    /// After failed connects, open the missing connections again.
    fn reconnect_if_due(&mut self, now: Instant) {
        if self.reconnect_at.is_some_and(|at| at <= now) {
            self.reconnect_at = None;
            let missing = self.args.connections.saturating_sub(self.clients.len());
            for _ in 0..missing {
                self.open();
            }
        }
    }

    /// One readiness event: finish a connect, read responses, send more.
    fn on_event(&mut self, event: &mio::event::Event, now: Instant) {
        let key = event.token().0;
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        if !client.connected {
            if event.is_error() || client.socket.take_error().ok().flatten().is_some() {
                self.stats.errors.connect += 1;
                self.clients.remove(key);
                self.reconnect_at
                    .get_or_insert(now + Duration::from_millis(10));
                return;
            }
            if !event.is_writable() || client.socket.peer_addr().is_err() {
                return;
            }
            client.connected = true;
            let _ = client.socket.set_nodelay(true);
            self.ever_connected = true;
        }
        if (event.is_readable() || event.is_read_closed() || event.is_error())
            && !self.receive(key, event.is_read_closed(), now)
        {
            self.replace(key);
            return;
        }
        self.fill_and_flush(key, now);
    }

    /// Queue what this connection may send, and write it.
    fn fill_and_flush(&mut self, key: usize, now: Instant) {
        self.fill(key, now);
        if self.flush(key).is_err() {
            self.stats.errors.reset += 1;
            self.replace(key);
        }
    }

    /// A request older than --timeout closes its connection (counted).
    fn expire_timed_out(&mut self, now: Instant) {
        let expired: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| {
                c.in_flight
                    .front()
                    .is_some_and(|&t| now.saturating_duration_since(t) > self.args.timeout)
            })
            .map(|(k, _)| k)
            .collect();
        for key in expired {
            self.stats.errors.timeout += 1;
            self.replace(key);
        }
    }

    /// One line on a terminal, rewritten each second.
    fn show_progress(&self, now: Instant) {
        let secs = now.duration_since(self.start).as_secs_f64();
        eprint!(
            "\r{secs:5.1}s  {} requests  {:.0} req/s  {} errors   ",
            self.stats.requests,
            self.stats.requests as f64 / secs,
            self.stats.errors.total()
        );
    }

    fn may_send_scheduled(&self, now: Instant) -> bool {
        match self.args.requests {
            Some(limit) => self.scheduled < limit,
            None => now < self.start + self.args.duration,
        }
    }
}

/// `host:port` or `http://host:port/path` → address, Host header, path.
fn parse_target(target: &str) -> Result<(SocketAddr, String, String), String> {
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

/// What each connection sends, and how its answers are checked.
fn request_for(args: &Args, host: &str, path: &str) -> Result<(Protocol, Vec<u8>), String> {
    match args.protocol.as_str() {
        "http" => {
            let close = if args.close {
                "Connection: close\r\n"
            } else {
                ""
            };
            Ok((
                Protocol::Http,
                format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{close}\r\n").into_bytes(),
            ))
        }
        "echo" => {
            let payload: Vec<u8> = (0..args.payload_bytes)
                .map(|i| b'a' + (i % 26) as u8)
                .collect();
            Ok((Protocol::Echo(payload.clone()), payload))
        }
        "greeting" => Ok((
            Protocol::Greeting(args.expect.clone().into_bytes()),
            b"hello\n".to_vec(),
        )),
        other => Err(format!(
            "unknown protocol {other:?} (http, echo or greeting)"
        )),
    }
}

/// The report's first line: what was run.
fn label(args: &Args) -> String {
    format!(
        "{} {} ({} connections, pipeline {}{}{})",
        args.protocol,
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
            .unwrap_or_default()
    )
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (addr, host, path) = match parse_target(&args.target) {
        Ok(target) => target,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if args.connections == 0
        || args.pipeline == 0
        || args.rate.is_some_and(|r| r.is_nan() || r <= 0.0)
    {
        eprintln!("error: --connections, --pipeline and --rate must be positive");
        return ExitCode::from(2);
    }
    let _ = reactord::rlimit::raise_nofile_limit();
    let (protocol, request) = match request_for(&args, &host, &path) {
        Ok(chosen) => chosen,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let poll = match Poll::new() {
        Ok(poll) => poll,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let label = label(&args);
    let mut load = Load {
        args,
        protocol,
        request,
        addr,
        poll,
        clients: Slab::new(),
        stats: Stats::new(),
        sent: 0,
        queued: VecDeque::new(),
        scheduled: 0,
        ever_connected: false,
        reconnect_at: None,
        start: Instant::now(),
        scratch: vec![0; 64 * 1024],
    };
    let elapsed = load.run();
    if io::stderr().is_terminal() && !load.args.json {
        eprintln!();
    }
    if load.args.json {
        println!("{}", load.stats.json(elapsed));
    } else {
        print!("{}", load.stats.text(elapsed, &label));
    }
    if !load.ever_connected {
        eprintln!("error: could not connect to {}", load.addr);
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
