//! `/echo`: the benchmark target (fortio's echo server, go-httpbin's
//! `/delay`, `/status`, `/bytes`, `/drip`, in one endpoint).
//!
//! A request's query (`query`) is parsed and its
//! distributions drawn as soon as its head arrives. Then:
//!
//! - **delay**: the protocol answers `Verdict::Wait(head, at)`, keeps what
//!   it owes in the session ([`Owed`]), and the connection waits on a timer
//!   (`State::Waiting`): no thread, no sleep, no read meanwhile. At `at`,
//!   [`Http::wake_echo`] gives the answer.
//! - **size=N**: a [`Generated`] body, streamed as the socket takes it;
//!   `chunks=K` frames it chunked, and `interval=DUR` sends one chunk per
//!   wake-up (a drip), each on the reactor's timers.
//! - **no size**: the request body comes back as the response body, in the
//!   framing it came with. Each piece is copied from the input to the
//!   output as the body is framed (`RequestBody::read`), and the connection
//!   stops calling the protocol (and so reading) while 64 KiB of output are
//!   pending: the backpressure that keeps a connection's memory bounded
//!   whatever the body's length.

mod body;
mod query;

use self::body::{Chunking, Generated};
use self::query::Plan;
pub(super) use self::query::{EchoLimits, EchoQuery};
use super::body::RequestBody;
use super::response::{self, Head, Persistence};
use super::{Answer, BodySink, Http, Pending, Session, TEXT, finish};
use crate::protocol::{Context, Output, Verdict};
use crate::reactor::timer::deadline_after;
use std::io::Write;
use std::time::Duration;

/// Bodies up to this size are written straight into the output buffer
/// (one memcpy, no box); larger ones are streamed chunk by chunk.
const INLINE_BODY: u64 = 16 * 1024;

/// The content type of every /echo body.
const OCTETS: &str = "application/octet-stream";

/// What /echo is told at start.
#[derive(Debug)]
pub(super) struct EchoSettings {
    pub(super) limits: EchoLimits,
    /// --echo-default, parsed: for requests without a query.
    pub(super) default: Option<EchoQuery>,
    /// Seeded once; draws the distributions.
    rng: fastrand::Rng,
    pub(super) counts: EchoCounts,
}

impl EchoSettings {
    pub(super) fn new(limits: EchoLimits, default: Option<EchoQuery>) -> EchoSettings {
        EchoSettings {
            limits,
            default,
            rng: fastrand::Rng::new(),
            counts: EchoCounts::default(),
        }
    }
}

/// /echo's counters, shown at /metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct EchoCounts {
    /// Requests to /echo answered (or being answered), 400s included.
    pub(super) requests: u64,
    /// Of those, the ones that waited.
    pub(super) delayed: u64,
    /// Delay injected in all, in microseconds (shown in seconds).
    pub(super) delay_micros: u64,
    /// Request body bytes sent back.
    pub(super) bytes_echoed: u64,
}

impl EchoCounts {
    /// How many values `values` gives.
    pub(super) const LEN: usize = 4;

    /// The counters in a fixed order, to share with the other workers.
    pub(super) fn values(&self) -> [u64; Self::LEN] {
        [
            self.requests,
            self.delayed,
            self.delay_micros,
            self.bytes_echoed,
        ]
    }

    /// The counters from `values` (in their order; missing ones are 0):
    /// with workers, every worker's added up.
    pub(super) fn from_values(values: &[u64]) -> EchoCounts {
        let mut values = values.iter().copied();
        let mut next = || values.next().unwrap_or(0);
        EchoCounts {
            requests: next(),
            delayed: next(),
            delay_micros: next(),
            bytes_echoed: next(),
        }
    }

    /// Append the counters in the Prometheus text format.
    pub(super) fn write_prometheus(&self, out: &mut Vec<u8>) {
        let _ = write!(
            out,
            "# HELP reactord_echo_requests_total Requests to /echo.\n\
             # TYPE reactord_echo_requests_total counter\n\
             reactord_echo_requests_total {}\n\
             # HELP reactord_echo_delayed_requests_total /echo requests answered after a delay.\n\
             # TYPE reactord_echo_delayed_requests_total counter\n\
             reactord_echo_delayed_requests_total {}\n\
             # HELP reactord_echo_delay_seconds_total Delay injected by /echo, in all.\n\
             # TYPE reactord_echo_delay_seconds_total counter\n\
             reactord_echo_delay_seconds_total {}.{:06}\n\
             # HELP reactord_echo_bytes_total Request body bytes /echo sent back.\n\
             # TYPE reactord_echo_bytes_total counter\n\
             reactord_echo_bytes_total {}\n",
            self.requests,
            self.delayed,
            self.delay_micros / 1_000_000,
            self.delay_micros % 1_000_000,
            self.bytes_echoed,
        );
    }
}

/// An /echo answer decided and not yet given, kept in the session while
/// the connection waits: across a delay, or between the chunks of a drip.
#[derive(Debug)]
pub(super) struct Owed {
    plan: Plan,
    /// `header=` lines, rendered.
    headers: String,
    head_only: bool,
    persistence: Persistence,
    /// The request body, still to come (echoed or discarded).
    body: Option<RequestBody>,
    /// The client sent `Expect: 100-continue` and waits for our word.
    expect_continue: bool,
    /// HTTP/1.0 has no chunked framing: chunks= is ignored.
    http10: bool,
    /// "GET /echo?... HTTP/1.1", kept only when the access log is on.
    log_line: Option<String>,
    /// Once the head is out, in a drip: the next chunk to send.
    next_chunk: Option<u64>,
}

impl Http {
    /// A request for /echo: parse its query, draw its plan, and answer now
    /// or after the delay.
    pub(super) fn start_echo(
        &mut self,
        session: &mut Session,
        request: &mut super::request::Request<'_>,
        answer: Answer,
        head_len: usize,
        ctx: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        self.echo.counts.requests += 1;
        let query = super::route::query_of(request.target).filter(|q| !q.is_empty());
        let parsed = match query.map(|q| EchoQuery::parse(q, &self.echo.limits)) {
            Some(Err(error)) => {
                return self
                    .refuse_echo_query(session, request, answer, &error, head_len, ctx, out);
            }
            Some(Ok(parsed)) => Some(parsed),
            None => None,
        };
        let echo = &mut self.echo;
        let (plan, headers) = match parsed.as_ref().or(echo.default.as_ref()) {
            Some(q) => {
                let rng = &mut echo.rng;
                let plan = if q.is_random() {
                    q.plan(|| rng.f64() * 100.0)
                } else {
                    q.plan(|| 0.0)
                };
                (plan, q.headers.clone())
            }
            None => (EchoQuery::default().plan(|| 0.0), String::new()),
        };
        let persistence = if plan.close {
            Persistence::Close
        } else {
            answer.persistence
        };
        let owed = Owed {
            plan,
            headers,
            head_only: answer.head_only,
            persistence,
            body: request.body.take(),
            expect_continue: request.expect_continue,
            http10: request.minor_version == 0,
            log_line: self.access.is_on().then(|| {
                format!(
                    "{} {} HTTP/1.{}",
                    request.method_text, request.target, request.minor_version
                )
            }),
            next_chunk: None,
        };
        if plan.delay > Duration::ZERO {
            self.echo.counts.delayed += 1;
            let micros = u64::try_from(plan.delay.as_micros()).unwrap_or(u64::MAX);
            self.echo.counts.delay_micros = self.echo.counts.delay_micros.saturating_add(micros);
            session.owed = Some(Box::new(owed));
            return Verdict::Wait(head_len, deadline_after(handled_now(ctx), plan.delay));
        }
        self.give_echo(session, owed, head_len, ctx, out)
    }

    /// The timer of a delay or of a drip's next chunk fired.
    pub(super) fn wake_echo(
        &mut self,
        session: &mut Session,
        ctx: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        let Some(owed) = session.owed.take().map(|b| *b) else {
            return Verdict::Continue(0);
        };
        match owed.next_chunk {
            None => self.give_echo(session, owed, 0, ctx, out),
            Some(index) => self.drip(session, owed, index, 0, ctx, out),
        }
    }

    /// Write the head, then the body (or start it), and go on to whatever
    /// of the request body is still to come.
    fn give_echo(
        &mut self,
        session: &mut Session,
        mut owed: Owed,
        consumed: usize,
        ctx: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        // A delayed answer's head is written now, at wake time: if the
        // server began to drain meanwhile, it says `Connection: close`,
        // as every head written during a drain does.
        if self.draining {
            owed.persistence = Persistence::Close;
        }
        let plan = owed.plan;
        if owed.expect_continue && owed.body.is_some() {
            out.extend(b"HTTP/1.1 100 Continue\r\n\r\n");
            self.responses.count(100);
        }
        let chunking = match (plan.size, plan.chunks) {
            (Some(size), Some(chunks)) if !owed.http10 => Some(Chunking::new(size, chunks)),
            _ => None,
        };
        let echo_chunked = plan.size.is_none()
            && !owed.http10
            && matches!(owed.body, Some(RequestBody::Chunked(_)));
        let length = match (plan.size, &owed.body) {
            (Some(size), _) => size,
            (None, Some(RequestBody::Length(n))) => *n,
            (None, _) => 0,
        };
        let head = Head {
            status: plan.status,
            content_type: Some(OCTETS),
            content_length: length,
            persistence: owed.persistence,
            extra: &owed.headers,
        };
        let chunked = chunking.is_some() || echo_chunked;
        response::write_head_framed(out.bytes_mut(), &head, self.dates.imf(), chunked);
        self.responses.count(plan.status);
        let sends = response::sends_body(plan.status, owed.head_only);
        let line = owed.log_line.as_deref().unwrap_or("-");
        self.access.record(
            &self.dates,
            session.peer,
            format_args!("{line}"),
            plan.status,
            if sends { length } else { 0 },
            ctx.wall,
        );
        if sends && plan.size.is_some() {
            match chunking {
                Some(layout) if plan.interval > Duration::ZERO && layout.chunks > 1 => {
                    return self.drip(session, owed, 0, consumed, ctx, out);
                }
                Some(layout) => send(Generated::chunks(layout, 0, layout.chunks, true), out),
                None => send(Generated::plain(length), out),
            }
        }
        let sink = match (sends, plan.size, echo_chunked) {
            (true, None, false) => BodySink::EchoRaw,
            (true, None, true) => BodySink::EchoChunked,
            _ => BodySink::Discard,
        };
        self.after_echo(session, owed, sink, consumed)
    }

    /// Send chunk `index` of a drip; wait for the next, or finish.
    fn drip(
        &mut self,
        session: &mut Session,
        mut owed: Owed,
        index: u64,
        consumed: usize,
        ctx: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        let layout = Chunking::new(owed.plan.size.unwrap_or(0), owed.plan.chunks.unwrap_or(1));
        let last = index + 1 >= layout.chunks;
        send(Generated::chunks(layout, index, index + 1, last), out);
        if last {
            return self.after_echo(session, owed, BodySink::Discard, consumed);
        }
        owed.next_chunk = Some(index + 1);
        let at = deadline_after(handled_now(ctx), owed.plan.interval);
        session.owed = Some(Box::new(owed));
        Verdict::Wait(consumed, at)
    }

    /// The response is under way: read (echo or discard) the request body
    /// if there is one, else the request is done.
    fn after_echo(
        &mut self,
        session: &mut Session,
        owed: Owed,
        sink: BodySink,
        consumed: usize,
    ) -> Verdict {
        let answer = Answer {
            route: super::route::Route::Echo,
            head_only: owed.head_only,
            persistence: owed.persistence,
        };
        match owed.body {
            Some(body) => {
                session.in_body = Some(Box::new((
                    body,
                    Pending {
                        request: answer,
                        log_line: None,
                        static_request: None,
                        sink,
                    },
                )));
                Verdict::Continue(consumed)
            }
            None => {
                session.clean_close = owed.persistence == Persistence::Close;
                finish(owed.persistence, consumed)
            }
        }
    }

    /// A query that can't be used: 400, with which parameter and why.
    #[allow(clippy::too_many_arguments)]
    fn refuse_echo_query(
        &mut self,
        session: &mut Session,
        request: &super::request::Request<'_>,
        answer: Answer,
        error: &query::QueryError,
        head_len: usize,
        ctx: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        // A body we won't read would be taken for the next request: close.
        let persistence = if request.body.is_some() {
            Persistence::Close
        } else {
            answer.persistence
        };
        let body = format!("400 Bad Request\n{error}\n");
        let head = Head {
            status: 400,
            content_type: Some(TEXT),
            content_length: body.len() as u64,
            persistence,
            extra: "",
        };
        let sent = response::write_response(
            out.bytes_mut(),
            &head,
            self.dates.imf(),
            body.as_bytes(),
            answer.head_only,
        );
        self.responses.count(400);
        let (method, target, minor) = (request.method_text, request.target, request.minor_version);
        self.log(
            session.peer,
            format_args!("{method} {target} HTTP/1.{minor}"),
            400,
            sent,
            ctx.wall,
        );
        session.clean_close = persistence == Persistence::Close && request.body.is_none();
        finish(persistence, head_len)
    }
}

/// The instant a delay counts from: the clock read now, not the turn's
/// `ctx.now`. A turn that reads ten thousand requests takes milliseconds,
/// and a delay counted from its start would answer the last of them early
/// by that much (how early, measured: docs/echo.md, "Benchmarks"). One
/// clock_gettime (vDSO) per delayed request keeps "never before the delay
/// after the request arrived" exact.
fn handled_now(ctx: &Context<'_>) -> std::time::Instant {
    std::time::Instant::now().max(ctx.now)
}

/// Queue a generated body: small ones inline, large ones streamed.
fn send(body: Generated, out: &mut Output) {
    if body.len() <= INLINE_BODY {
        body.write_all(out.bytes_mut());
    } else {
        out.stream(Box::new(body));
    }
}

/// Append one piece of an echoed chunked body, framed as a chunk.
pub(super) fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}
