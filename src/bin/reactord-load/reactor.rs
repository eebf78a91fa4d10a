//! One worker's reactor (`Load`): connect, send, receive, time, expire,
//! count what is lost; until the duration or the request count is reached.
//! `worker.rs` builds one per worker and merges what they measured.

use crate::args::Args;
use crate::framing::{Framer, Step};
use crate::pacer::Pacer;
use crate::response::{self, Answer};
use crate::stats::{self, Stats};
use crate::worker::Plan;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::collections::VecDeque;
use std::io::{self, IsTerminal, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often timeouts are checked and progress shown, and the longest
/// poll sleep.
const TICK: Duration = Duration::from_millis(100);

/// The token of the open loop's timer (connections use slab keys).
const PACER: Token = Token(usize::MAX);

/// The exchange being driven: what to send, how to recognise the answer.
/// (Not called `Protocol`: that is the library's trait for a server-side
/// protocol, a different thing.)
#[derive(Clone)]
pub enum Exchange {
    /// `head` if the request is a HEAD (its responses have no body).
    Http {
        head: bool,
    },
    Echo(Vec<u8>),
    Greeting(Vec<u8>),
}

/// One request sent and not yet answered.
struct InFlight {
    /// When its latency counts from: the send time, or in open loop the
    /// intended send time.
    from: Instant,
    /// Sent after the warm-up: its outcome is counted.
    counted: bool,
}

/// One client connection.
struct Client {
    socket: TcpStream,
    connected: bool,
    /// When connect() was called, for the connect-time statistics.
    connect_started: Instant,
    /// Bytes received and not yet consumed by the framing.
    input: Vec<u8>,
    /// Where the current HTTP response is (unused for echo and greeting).
    framer: Framer,
    /// Requests not yet written, and how much of them was.
    output: Vec<u8>,
    written: usize,
    /// One entry per request sent and not answered, oldest first.
    in_flight: VecDeque<InFlight>,
    /// Requests this connection may still send (1 with --close).
    quota: u64,
}

impl Client {
    /// Requests in flight whose loss must be counted.
    fn counted_in_flight(&self) -> u64 {
        self.in_flight.iter().filter(|r| r.counted).count() as u64
    }
}

/// What one worker (one reactor) is to do: its share of the run.
#[derive(Clone)]
pub struct Share {
    pub connections: usize,
    pub rate: Option<f64>,
    pub requests: Option<u64>,
}

/// One worker's reactor and everything it measures.
pub struct Load {
    /// Which worker this is (only worker 0 draws the progress line: its
    /// share is representative of the whole).
    index: usize,
    args: Args,
    share: Share,
    exchange: Exchange,
    request: Arc<Vec<u8>>,
    addr: SocketAddr,
    poll: Poll,
    /// Open loop's precise wake-up (None in closed loop).
    pacer: Option<Pacer>,
    clients: Slab<Client>,
    pub stats: Stats,
    /// Counted requests sent so far (to stop at --requests).
    sent: u64,
    /// Open loop: intended send times not yet given to a connection.
    queued: VecDeque<Instant>,
    /// Open loop: how many requests have been scheduled.
    scheduled: u64,
    pub ever_connected: bool,
    /// After a failed connect, wait a little before the next one.
    reconnect_at: Option<Instant>,
    start: Instant,
    /// The end of the warm-up: counting starts here.
    since: Instant,
    /// Open loop: the connection last offered a request, and a reused
    /// list of connection keys (no allocation per loop turn).
    last_served: usize,
    keys: Vec<usize>,
    /// Every read lands here first (64 KiB, allocated once: a fresh zeroed
    /// array per read would cost more than the read itself).
    scratch: Vec<u8>,
}

/// Why a connection must be closed after reading.
enum Closing {
    /// Done with it (quota spent, or the server asked to close): no error.
    Done,
    /// The server closed or reset it with answers owed.
    Reset,
    /// A response broke the rules.
    Bad(&'static str),
}

impl Load {
    /// Worker `index`'s reactor for its `share` of `plan`, ready to run
    /// from `start`.
    pub fn new(plan: &Plan, index: usize, share: Share, start: Instant) -> io::Result<Load> {
        let args = plan.args.clone();
        let poll = Poll::new()?;
        let pacer = match share.rate {
            Some(_) => Some(Pacer::new(poll.registry(), PACER)?),
            None => None,
        };
        let since = start + args.warmup;
        let timeline = args.timeline.is_some() || args.plot.is_some();
        let mut stats = Stats::new(since, timeline);
        if args.requests.is_none() {
            let seconds = args.duration.as_secs_f64().ceil() as usize;
            stats.last_second = Some(seconds.saturating_sub(1));
        }
        Ok(Load {
            index,
            share,
            exchange: plan.exchange.clone(),
            request: Arc::clone(&plan.request),
            addr: plan.addr,
            poll,
            pacer,
            clients: Slab::new(),
            stats,
            sent: 0,
            queued: VecDeque::new(),
            scheduled: 0,
            ever_connected: false,
            reconnect_at: None,
            start,
            since,
            last_served: 0,
            keys: Vec::new(),
            scratch: vec![0; 64 * 1024],
            args,
        })
    }

    fn open(&mut self) {
        let now = Instant::now();
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
                    self.stats.error(now, |e| &mut e.connect, 1);
                    return;
                }
                entry.insert(Client {
                    socket,
                    connected: false,
                    connect_started: now,
                    input: Vec::with_capacity(16 * 1024),
                    framer: Framer::new(),
                    output: Vec::with_capacity(4 * 1024),
                    written: 0,
                    in_flight: VecDeque::new(),
                    quota: if self.args.close || matches!(self.exchange, Exchange::Greeting(_)) {
                        1
                    } else {
                        u64::MAX
                    },
                });
            }
            Err(_) => {
                self.stats.error(now, |e| &mut e.connect, 1);
                self.reconnect_at = Some(now + Duration::from_millis(10));
            }
        }
    }

    /// Close `key`, counting its unanswered requests as `lost` errors, and
    /// open a replacement (unless connects are failing).
    fn replace(&mut self, key: usize, now: Instant, lost: fn(&mut stats::Errors) -> &mut u64) {
        if let Some(client) = self.clients.try_remove(key) {
            self.stats.error(now, lost, client.counted_in_flight());
        }
        if self.reconnect_at.is_none() {
            self.open();
        }
    }

    /// `now` is before the end of the run (duration mode).
    fn before_end(&self, now: Instant) -> bool {
        now < self.since + self.args.duration
    }

    fn may_send(&self, now: Instant) -> bool {
        match self.share.requests {
            Some(limit) => self.sent < limit || now < self.since,
            None => self.before_end(now),
        }
    }

    /// Queue requests on `key` up to its pipeline depth (closed loop), or
    /// hand it scheduled requests (open loop).
    fn fill(&mut self, key: usize, now: Instant) {
        let open_loop = self.share.rate.is_some();
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
            let from = if open_loop {
                match self.queued.pop_front() {
                    Some(intended) => {
                        // A clock read per open-loop send: the send lag is
                        // the generator's own lateness, measured exactly.
                        let sent_at = Instant::now();
                        self.stats.sent(sent_at, intended);
                        intended
                    }
                    None => return,
                }
            } else if self.may_send(now) {
                now
            } else {
                return;
            };
            let counted = from >= self.since;
            self.sent += u64::from(counted);
            let request = &self.request;
            let Some(client) = self.clients.get_mut(key) else {
                return;
            };
            client.output.extend_from_slice(request);
            client.in_flight.push_back(InFlight { from, counted });
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
    /// in flight. Returns why the connection must be replaced, if it must.
    ///
    /// Like the server, a read that returns less than it asked for has
    /// emptied the queue, and anything arriving later raises a new edge; so
    /// no second read just to hear `WouldBlock`, unless the event said the
    /// server closed its side (that EOF raises no new edge). wrk spends four
    /// syscalls per request (read, write, two epoll_ctl); this spends two.
    ///
    /// Bytes are framed straight from the read buffer when nothing is left
    /// over from an earlier read (the usual case: a whole response per
    /// read), and only a partial response's bytes are copied and kept.
    fn receive(&mut self, key: usize, read_closed: bool, now: Instant) -> Option<Closing> {
        let Load {
            clients,
            scratch,
            stats,
            exchange,
            ..
        } = self;
        let client = clients.get_mut(key)?;
        loop {
            match client.socket.read(scratch) {
                Ok(0) => return end_of_input(client, stats, exchange, now),
                Ok(n) => {
                    if stats.counting(now) {
                        stats.bytes += n as u64;
                    }
                    let fresh = scratch.get(..n).unwrap_or_default();
                    let drop = if client.input.is_empty() {
                        let used = match consume(client, stats, exchange, fresh, now) {
                            Ok(used) => used,
                            Err(drop) => return Some(drop),
                        };
                        client
                            .input
                            .extend_from_slice(fresh.get(used..).unwrap_or_default());
                        None
                    } else {
                        client.input.extend_from_slice(fresh);
                        let input = std::mem::take(&mut client.input);
                        let result = consume(client, stats, exchange, &input, now);
                        client.input = input;
                        match result {
                            Ok(used) => {
                                client.input.drain(..used);
                                None
                            }
                            Err(drop) => Some(drop),
                        }
                    };
                    if drop.is_some() {
                        return drop;
                    }
                    // A short read ends the edge: Linux epoll's behaviour,
                    // see the module docs.
                    if n < scratch.len() && !read_closed {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Some(Closing::Reset),
            }
        }
        if client.quota == 0 && client.in_flight.is_empty() {
            return Some(Closing::Done);
        }
        None
    }

    /// The client's event loop: schedule (open loop), reconnect, poll,
    /// handle each event, expire timed-out requests, show progress; until
    /// the duration or the request count is reached. Returns the time
    /// measured (after the warm-up).
    ///
    /// # Errors
    /// A failed poll other than `Interrupted` (a signal, retried) ends the
    /// run with that error: it would fail again at once, and retrying it
    /// would spin a core while measuring nothing.
    pub fn run(&mut self) -> io::Result<Duration> {
        let mut events = Events::with_capacity(1024);
        for _ in 0..self.share.connections {
            self.open();
        }
        let mut last_progress = self.start;
        let mut last_timeout_check = self.start;
        let progress = io::stderr().is_terminal() && !self.args.json && self.index == 0;
        loop {
            let now = Instant::now();
            if self.finished(now) {
                self.count_unfinished(now);
                return Ok(now.saturating_duration_since(self.since));
            }
            let timeout = self.send_scheduled(now);
            let timeout = self.poll_timeout(now, timeout);
            self.reconnect_if_due(now);
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in events.iter() {
                // A clock read per readiness event, not per poll batch: a
                // response handled late in a batch of 1,000 is stamped
                // when it is handled, not when the batch began.
                let now = Instant::now();
                if event.token() == PACER {
                    if let Some(pacer) = self.pacer.as_mut() {
                        pacer.fired();
                    }
                    continue;
                }
                self.on_event(event, now);
            }
            let now = Instant::now();
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
        let done = match self.share.requests {
            Some(limit) => {
                self.sent >= limit
                    && now >= self.since
                    && self.clients.iter().all(|(_, c)| c.in_flight.is_empty())
            }
            None => !self.before_end(now),
        };
        done || (!self.ever_connected && now > self.start + Duration::from_secs(2))
    }

    /// The run ended: requests still in flight, and scheduled requests no
    /// connection could take, are errors of their own kind; dropping them
    /// would hide exactly the slowest requests.
    fn count_unfinished(&mut self, now: Instant) {
        let in_flight: u64 = self
            .clients
            .iter()
            .map(|(_, c)| c.counted_in_flight())
            .sum();
        let unsent = self.queued.iter().filter(|&&t| t >= self.since).count() as u64;
        self.stats
            .error(now, |e| &mut e.end_of_run, in_flight + unsent);
        self.queued.clear();
        self.stats.pad_timeline();
    }

    /// Open loop (`--rate`): queue every request whose intended send time
    /// has come and send what the connections can take. Returns how long
    /// the poll may sleep: a tick at most; the pacer's timer wakes the
    /// loop precisely at the next intended send.
    fn send_scheduled(&mut self, now: Instant) -> Duration {
        let Some(rate) = self.share.rate else {
            return TICK;
        };
        let mut next = None;
        // Checked: a tiny rate puts the next send past what a Duration or
        // an Instant can hold; then nothing more is due.
        while let Some(intended) = Duration::try_from_secs_f64(self.scheduled as f64 / rate)
            .ok()
            .and_then(|offset| self.start.checked_add(offset))
        {
            if !self.may_send_scheduled(intended) {
                break;
            }
            if intended > now {
                next = Some(intended);
                break;
            }
            self.queued.push_back(intended);
            self.scheduled += 1;
        }
        if !self.queued.is_empty() {
            // Offer the requests to the connections in turn, starting after
            // the last one served: always starting from the first would
            // leave the last connections idle until the server's idle
            // timeout closed them (and the run paid for reconnecting).
            let mut keys = std::mem::take(&mut self.keys);
            keys.clear();
            keys.extend(self.clients.iter().map(|(k, _)| k));
            let start = keys.partition_point(|&k| k <= self.last_served);
            for &key in keys.iter().skip(start).chain(keys.iter().take(start)) {
                self.fill_and_flush(key, now);
                self.last_served = key;
                if self.queued.is_empty() {
                    break;
                }
            }
            self.keys = keys;
        }
        let end = self
            .share
            .requests
            .is_none()
            .then(|| self.since + self.args.duration);
        let wake = match (next, end) {
            (Some(next), Some(end)) => Some(next.min(end)),
            (next, end) => next.or(end),
        };
        if let (Some(wake), Some(pacer)) = (wake, self.pacer.as_mut())
            && wake.saturating_duration_since(now) < TICK
        {
            pacer.arm(wake, now);
        }
        TICK
    }

    /// How long the poll may sleep: a tick, or less when the run ends
    /// sooner (rounded up to mio's millisecond).
    fn poll_timeout(&self, now: Instant, timeout: Duration) -> Duration {
        match self.share.requests {
            Some(_) => timeout,
            None => timeout.min((self.since + self.args.duration).saturating_duration_since(now)),
        }
    }

    /// After failed connects, open the missing connections again.
    fn reconnect_if_due(&mut self, now: Instant) {
        if self.reconnect_at.is_some_and(|at| at <= now) {
            self.reconnect_at = None;
            let missing = self.share.connections.saturating_sub(self.clients.len());
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
                self.stats.error(now, |e| &mut e.connect, 1);
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
            let took = now.saturating_duration_since(client.connect_started);
            self.stats.connected(took);
            self.ever_connected = true;
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            match self.receive(key, event.is_read_closed(), now) {
                None => {}
                Some(Closing::Done) => {
                    // Requests pipelined past a `Connection: close` are lost.
                    self.replace(key, now, |e| &mut e.reset);
                    return;
                }
                Some(Closing::Reset) => {
                    self.replace(key, now, |e| &mut e.reset);
                    return;
                }
                Some(Closing::Bad(reason)) => {
                    // The bad answer is the oldest request's; stray bytes
                    // (nothing in flight) count once the warm-up is over.
                    let counted = match self
                        .clients
                        .get_mut(key)
                        .and_then(|c| c.in_flight.pop_front())
                    {
                        Some(request) => request.counted,
                        None => self.stats.counting(now),
                    };
                    if counted {
                        self.stats.bad_response(now, reason);
                    }
                    // The rest of the pipeline is lost with the connection.
                    self.replace(key, now, |e| &mut e.reset);
                    return;
                }
            }
        }
        self.fill_and_flush(key, now);
    }

    /// Queue what this connection may send, and write it.
    fn fill_and_flush(&mut self, key: usize, now: Instant) {
        self.fill(key, now);
        if self.flush(key).is_err() {
            self.replace(key, now, |e| &mut e.reset);
        }
    }

    /// A request older than --timeout closes its connection: it and the
    /// requests pipelined behind it are timeout errors.
    fn expire_timed_out(&mut self, now: Instant) {
        let expired: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| {
                c.in_flight
                    .front()
                    .is_some_and(|r| now.saturating_duration_since(r.from) > self.args.timeout)
            })
            .map(|(k, _)| k)
            .collect();
        for key in expired {
            self.replace(key, now, |e| &mut e.timeout);
        }
    }

    /// One line on a terminal, rewritten each second.
    fn show_progress(&self, now: Instant) {
        let secs = now
            .saturating_duration_since(self.since)
            .as_secs_f64()
            .max(1e-9);
        eprint!(
            "\r{secs:5.1}s  {} requests  {:.0} req/s  {} errors   ",
            self.stats.requests,
            self.stats.requests as f64 / secs,
            self.stats.errors.total()
        );
    }

    /// Open loop: whether a request intended at `intended` is part of the
    /// run.
    fn may_send_scheduled(&self, intended: Instant) -> bool {
        match self.share.requests {
            Some(limit) => intended < self.since || self.scheduled_counted() < limit,
            None => self.before_end(intended),
        }
    }

    /// Open loop: scheduled requests intended after the warm-up.
    fn scheduled_counted(&self) -> u64 {
        let rate = self.share.rate.unwrap_or(1.0);
        let warmup_slots = (self
            .since
            .saturating_duration_since(self.start)
            .as_secs_f64()
            * rate)
            .ceil() as u64;
        self.scheduled.saturating_sub(warmup_slots)
    }
}

/// Frame responses out of `input` (bytes received, oldest first) and
/// record each; returns how many bytes were consumed, or why the
/// connection must go.
fn consume(
    client: &mut Client,
    stats: &mut Stats,
    exchange: &Exchange,
    input: &[u8],
    now: Instant,
) -> Result<usize, Closing> {
    let mut consumed = 0;
    loop {
        let rest = input.get(consumed..).unwrap_or_default();
        if client.in_flight.is_empty() {
            let stray = !rest.is_empty()
                && (client.framer.at_start() || !matches!(exchange, Exchange::Http { .. }));
            return if stray {
                Err(Closing::Bad("bytes received with no request in flight"))
            } else {
                Ok(consumed)
            };
        }
        match exchange {
            Exchange::Http { head } => {
                let (used, step) = client.framer.feed(rest, *head);
                consumed += used;
                match step {
                    Step::More => return Ok(consumed),
                    Step::Bad(reason) => return Err(Closing::Bad(reason)),
                    Step::Done(response) => {
                        answered(client, stats, now, response.status);
                        if response.close {
                            return Err(Closing::Done);
                        }
                    }
                }
            }
            Exchange::Echo(payload) => match response::echo(rest, payload) {
                Answer::Partial => return Ok(consumed),
                Answer::Invalid => {
                    return Err(Closing::Bad("echo: the bytes differ from those sent"));
                }
                Answer::Complete { len, .. } => {
                    consumed += len;
                    answered(client, stats, now, 0);
                }
            },
            Exchange::Greeting(text) => match response::greeting(rest, text) {
                Answer::Partial => return Ok(consumed),
                Answer::Invalid => return Err(Closing::Bad("greeting: not the expected text")),
                Answer::Complete { .. } => {
                    answered(client, stats, now, 0);
                    return Err(Closing::Done);
                }
            },
        }
    }
}

/// The oldest request in flight got its answer.
fn answered(client: &mut Client, stats: &mut Stats, now: Instant, status: u16) {
    if let Some(request) = client.in_flight.pop_front()
        && request.counted
    {
        stats.record(now, now.saturating_duration_since(request.from), status);
    }
}

/// The server closed its side: a close-delimited response ends here; any
/// other answer still owed is lost.
fn end_of_input(
    client: &mut Client,
    stats: &mut Stats,
    exchange: &Exchange,
    now: Instant,
) -> Option<Closing> {
    if !client.input.is_empty() {
        let input = std::mem::take(&mut client.input);
        if let Err(drop) = consume(client, stats, exchange, &input, now) {
            return Some(drop);
        }
    }
    if let Exchange::Http { .. } = exchange
        && !client.in_flight.is_empty()
    {
        match client.framer.end_of_input() {
            Step::Done(response) => answered(client, stats, now, response.status),
            Step::Bad(reason) => return Some(Closing::Bad(reason)),
            Step::More => {}
        }
    }
    Some(if client.in_flight.is_empty() {
        Closing::Done
    } else {
        Closing::Reset
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::os::fd::AsRawFd;

    /// A poll that fails for good (here: its epoll descriptor replaced by
    /// a pipe, so epoll_wait answers EINVAL) ends the run with the error
    /// at once; it used to be retried in a busy loop until the run ended.
    #[test]
    fn a_failing_poll_ends_the_run_with_its_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap().to_string();
        let args = Args::parse_from(["reactord-load", "-c", "1", "-d", "30s", &target]);
        let plan = Plan {
            exchange: Exchange::Http { head: false },
            request: Arc::new(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec()),
            addr: listener.local_addr().unwrap(),
            args,
        };
        let share = Share {
            connections: 1,
            rate: None,
            requests: None,
        };
        let mut load = Load::new(&plan, 0, share, Instant::now()).unwrap();
        let (reader, _writer) = std::io::pipe().unwrap();
        // SAFETY: both descriptors are open and owned by this test; dup2
        // closes the epoll descriptor and puts the pipe's in its place,
        // which `load.poll` then owns (and closes when dropped).
        let rc = unsafe { libc::dup2(reader.as_raw_fd(), load.poll.as_raw_fd()) };
        assert!(rc >= 0, "dup2: {}", io::Error::last_os_error());
        let err = load
            .run()
            .expect_err("a poll that cannot work must end the run");
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
    }
}
