//! HTTP/1.1 (RFC 9112) as a pure state machine: keep-alive, pipelining,
//! request bodies framed and discarded, and clear errors.
//!
//! Each call to [`Http::on_input`] handles at most one request: it parses
//! the head, answers it (or, when the request has a body, first discards the
//! body over as many calls as it takes, then answers) and returns how many
//! bytes it consumed. The connection calls again with the rest, so every
//! request already buffered is answered in order, and all their responses
//! leave in one write. docs/http.md lists how each rule of the RFC is
//! handled.
//!
//! # Layout
//!
//! - `request`: the request head (httparse) and what it means.
//! - `body`: framing and discarding request bodies.
//! - `response`: writing status lines and headers; the cached Date.
//! - `route`: which handler answers which path.
//! - `files`: static files under --root.
//! - `access_log`: the Common Log Format lines, one write per loop turn.
//! - `counts`: responses by status class, HTTP's own metrics.

mod access_log;
mod body;
mod counts;
mod files;
mod request;
mod response;
mod route;

use super::{Context, Output, Protocol, Verdict};
use crate::config::{MAX_BODY_BYTES_CEILING, MAX_REQUEST_BYTES_CEILING, check_count};
use access_log::AccessLog;
use body::{BodyError, RequestBody};
use counts::ResponseCounts;
use files::StaticFiles;
use request::{Conditions, Method, OwnedConditions, Parsed, Request};
use response::{Canned, DateCache, Head, Persistence};
use route::Route;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::SystemTime;

/// The text/plain content type of every body this module writes itself.
const TEXT: &str = "text/plain; charset=utf-8";

/// The answer to `GET /` without --root.
const HELLO: &[u8] = b"Hello from reactord\n";

/// The HTTP/1.1 protocol. One value serves every connection.
#[derive(Debug)]
pub struct Http {
    max_request_bytes: usize,
    max_body_bytes: u64,
    dates: DateCache,
    /// --access-log, and this turn's lines.
    access: AccessLog,
    /// Responses by status class, for /metrics.
    responses: ResponseCounts,
    /// The hello page, kept whole (see `Canned`), one per `Persistence`.
    hello: [Canned; 3],
    /// The file tree under --root, if serving one.
    files: Option<StaticFiles>,
    /// Reused buffer for bodies whose length must be known before the head
    /// is written (/metrics).
    scratch: Vec<u8>,
    /// The server is draining: every response says `Connection: close`.
    draining: bool,
}

/// Per-connection state: only what must survive between calls.
#[derive(Debug)]
pub struct Session {
    peer: SocketAddr,
    /// A request body being discarded, and the answer owed once it is.
    in_body: Option<(RequestBody, Pending)>,
    /// Set when the last response closed the connection after a complete
    /// request whose client asked for the close: it will send nothing more.
    clean_close: bool,
}

/// An answer decided when a request's head arrived, sent once its body has
/// been discarded (so that an error in the body can still be reported).
#[derive(Debug)]
struct Pending {
    request: Answer,
    /// "GET /path HTTP/1.1", kept only when the access log is on.
    log_line: Option<String>,
    /// For a static file: the target and the conditional headers, copied
    /// out of the input (which is gone by the time the body has been read).
    static_request: Option<(String, OwnedConditions)>,
}

/// What to answer a valid request with.
#[derive(Debug, Clone, Copy)]
struct Answer {
    route: Route,
    head_only: bool,
    persistence: Persistence,
}

/// What the HTTP protocol is told at start: its limits, the access log,
/// and the tree to serve. The reactor's own settings (address, timeouts,
/// connection limit) are in [`crate::Config`].
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// --max-request-bytes: the largest request head (and trailer section).
    /// It is also what this protocol declares it may need buffered
    /// ([`Protocol::max_buffered_input`]).
    pub max_request_bytes: usize,
    /// --max-body-bytes: the largest request body.
    pub max_body_bytes: u64,
    /// --access-log: one Common Log Format line per request, at info.
    pub access_log: bool,
    /// --root: serve static files from here (None: built-in routes only).
    pub root: Option<PathBuf>,
    /// --autoindex: list directories that have no index.html.
    pub autoindex: bool,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            max_request_bytes: 16 * 1024,
            max_body_bytes: 1024 * 1024,
            access_log: false,
            root: None,
            autoindex: false,
        }
    }
}

impl HttpConfig {
    /// Reject limits out of their bounds, naming the flag (the command line
    /// checks the same bounds while parsing).
    pub fn validate(&self) -> Result<(), String> {
        check_count(
            "--max-request-bytes",
            self.max_request_bytes,
            1,
            MAX_REQUEST_BYTES_CEILING,
        )?;
        check_count(
            "--max-body-bytes",
            self.max_body_bytes,
            0,
            MAX_BODY_BYTES_CEILING,
        )
    }
}

impl Http {
    /// The protocol with its built-in routes only (`/`, `/metrics`),
    /// configured from `config` (limits, access log); `config.root` is not
    /// looked at. See [`Http::from_config`] for static files.
    pub fn new(config: &HttpConfig) -> Http {
        Http {
            max_request_bytes: config.max_request_bytes,
            max_body_bytes: config.max_body_bytes,
            dates: DateCache::default(),
            access: AccessLog::new(config.access_log),
            responses: ResponseCounts::default(),
            hello: Default::default(),
            files: None,
            scratch: Vec::new(),
            draining: false,
        }
    }

    /// The protocol as `config` asks, serving static files from
    /// `config.root` when set. Fails if a limit is out of bounds or the
    /// root is not a readable directory.
    pub fn from_config(config: &HttpConfig) -> std::io::Result<Http> {
        config
            .validate()
            .map_err(|message| std::io::Error::new(std::io::ErrorKind::InvalidInput, message))?;
        let mut http = Http::new(config);
        if let Some(root) = &config.root {
            http.files = Some(StaticFiles::new(root, config.autoindex)?);
        }
        Ok(http)
    }

    /// Write the response for `answer`; returns the status and body length.
    fn respond(
        &mut self,
        answer: Answer,
        target: &str,
        conditions: &Conditions<'_>,
        ctx: &mut Context<'_>,
        out: &mut Output,
    ) -> (u16, u64) {
        if answer.route == Route::Static
            && let Some(files) = &self.files
        {
            let reply = files.reply(target, conditions);
            let (status, bytes) =
                reply.write(answer.head_only, answer.persistence, self.dates.imf(), out);
            self.responses.count(status);
            return (status, bytes);
        }
        let out = out.bytes_mut();
        let (status, content_type, body, extra): (u16, Option<&str>, &[u8], &str) =
            match answer.route {
                Route::Hello => (200, Some(TEXT), HELLO, ""),
                Route::Metrics => {
                    self.scratch.clear();
                    ctx.metrics.write_prometheus(ctx.now, &mut self.scratch);
                    self.responses
                        .write_prometheus(ctx.metrics.workers(), &mut self.scratch);
                    (
                        200,
                        Some("text/plain; version=0.0.4; charset=utf-8"),
                        &self.scratch,
                        "",
                    )
                }
                Route::NotFound | Route::Static => (404, Some(TEXT), b"404 Not Found\n", ""),
                Route::MethodNotAllowed => (
                    405,
                    Some(TEXT),
                    b"405 Method Not Allowed\n",
                    "Allow: GET, HEAD\r\n",
                ),
                Route::NotImplemented => (501, Some(TEXT), b"501 Not Implemented\n", ""),
            };
        let head = Head {
            status,
            content_type,
            content_length: body.len() as u64,
            persistence: answer.persistence,
            extra,
        };
        if answer.route == Route::Hello && !answer.head_only {
            let canned = match answer.persistence {
                Persistence::KeepAlive => &mut self.hello[0],
                Persistence::KeepAlive10 => &mut self.hello[1],
                Persistence::Close => &mut self.hello[2],
            };
            out.extend_from_slice(canned.get(&self.dates, &head, body));
            self.responses.count(status);
            return (status, body.len() as u64);
        }
        let sent = response::write_response(out, &head, self.dates.imf(), body, answer.head_only);
        self.responses.count(status);
        (status, sent)
    }

    /// Answer an invalid request with `status` and a short body (none to
    /// HEAD), and close.
    fn refuse(&mut self, status: u16, head_only: bool, out: &mut Output) {
        let mut body = [0u8; 64];
        let len = {
            let mut cursor = std::io::Cursor::new(&mut body[..]);
            let _ = std::io::Write::write_fmt(
                &mut cursor,
                format_args!("{status} {}\n", response::reason(status)),
            );
            usize::try_from(cursor.position()).unwrap_or(0)
        };
        let body = body.get(..len).unwrap_or_default();
        let head = Head {
            status,
            content_type: Some(TEXT),
            content_length: len as u64,
            persistence: Persistence::Close,
            extra: "",
        };
        response::write_response(out.bytes_mut(), &head, self.dates.imf(), body, head_only);
        self.responses.count(status);
    }

    /// Answer a request whose head is at hand, and log it.
    fn respond_and_log(
        &mut self,
        answer: Answer,
        request: &Request<'_>,
        peer: SocketAddr,
        ctx: &mut Context<'_>,
        out: &mut Output,
    ) {
        let (status, bytes) = self.respond(answer, request.target, &request.conditions, ctx, out);
        let (method, target, minor) = (request.method_text, request.target, request.minor_version);
        self.log(
            peer,
            format_args!("{method} {target} HTTP/1.{minor}"),
            status,
            bytes,
            ctx.wall,
        );
    }

    /// One access log line for a request (see `access_log`).
    fn log(
        &mut self,
        peer: SocketAddr,
        request_line: std::fmt::Arguments<'_>,
        status: u16,
        bytes: u64,
        wall: SystemTime,
    ) {
        self.access
            .record(&self.dates, peer, request_line, status, bytes, wall);
    }

    /// Continue discarding a request body; answer once it is complete.
    fn continue_body(
        &mut self,
        session: &mut Session,
        input: &[u8],
        ctx: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        let Some((body, _)) = session.in_body.as_mut() else {
            return Verdict::NeedMore;
        };
        let limits = body::Limits {
            max_body: self.max_body_bytes,
            max_trailers: self.max_request_bytes,
        };
        match body.discard(input, limits) {
            Ok((0, false)) => Verdict::NeedMore,
            Ok((n, false)) => Verdict::Continue(n),
            Ok((n, true)) => {
                let Some((_, pending)) = session.in_body.take() else {
                    return Verdict::Continue(n);
                };
                let (target, conditions) = match &pending.static_request {
                    Some((target, conditions)) => (target.as_str(), conditions.borrow()),
                    None => ("", Conditions::default()),
                };
                let (status, bytes) = self.respond(pending.request, target, &conditions, ctx, out);
                let line = pending.log_line.as_deref().unwrap_or("-");
                self.log(
                    session.peer,
                    format_args!("{line}"),
                    status,
                    bytes,
                    ctx.wall,
                );
                session.clean_close = pending.request.persistence == Persistence::Close;
                finish(pending.request.persistence, n)
            }
            Err(error) => {
                let status = match error {
                    BodyError::Malformed => 400,
                    BodyError::TooLarge => 413,
                    BodyError::TrailersTooLarge => 431,
                };
                let pending = session.in_body.take().map(|(_, p)| p);
                let head_only = pending.as_ref().is_some_and(|p| p.request.head_only);
                self.refuse(status, head_only, out);
                let line = pending
                    .as_ref()
                    .and_then(|p| p.log_line.as_deref())
                    .unwrap_or("-");
                self.log(session.peer, format_args!("{line}"), status, 0, ctx.wall);
                Verdict::Close(input.len())
            }
        }
    }

    /// A complete head: decide the answer, then send it now or after the body.
    fn start_request(
        &mut self,
        session: &mut Session,
        mut request: Request<'_>,
        head_len: usize,
        ctx: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        let served = matches!(request.method, Method::Get | Method::Head);
        let answer = Answer {
            route: match request.method {
                Method::Get | Method::Head => route::route(request.target, self.files.is_some()),
                Method::NotAllowed => Route::MethodNotAllowed,
                Method::Unknown => Route::NotImplemented,
            },
            head_only: request.method == Method::Head,
            persistence: match (request.keep_alive && !self.draining, request.minor_version) {
                (false, _) => Persistence::Close,
                (true, 0) => Persistence::KeepAlive10,
                (true, _) => Persistence::KeepAlive,
            },
        };
        let Some(body) = request.body.take() else {
            self.respond_and_log(answer, &request, session.peer, ctx, out);
            session.clean_close = answer.persistence == Persistence::Close;
            return finish(answer.persistence, head_len);
        };
        if request.expect_continue {
            if !served {
                // The client waits for our word before sending the body; a
                // refusal means it never comes, so answer and close rather
                // than wait for a body that isn't coming.
                let refused = Answer {
                    persistence: Persistence::Close,
                    ..answer
                };
                self.respond_and_log(refused, &request, session.peer, ctx, out);
                return Verdict::Close(head_len);
            }
            out.extend(b"HTTP/1.1 100 Continue\r\n\r\n");
            self.responses.count(100);
        }
        let log_line = self.access.is_on().then(|| {
            format!(
                "{} {} HTTP/1.{}",
                request.method_text, request.target, request.minor_version
            )
        });
        let static_request = (answer.route == Route::Static).then(|| {
            (
                request.target.to_string(),
                OwnedConditions::new(&request.conditions),
            )
        });
        session.in_body = Some((
            body,
            Pending {
                request: answer,
                log_line,
                static_request,
            },
        ));
        Verdict::Continue(head_len)
    }
}

/// Keep the connection or close it after this response.
fn finish(persistence: Persistence, consumed: usize) -> Verdict {
    match persistence {
        Persistence::Close => Verdict::Close(consumed),
        Persistence::KeepAlive | Persistence::KeepAlive10 => Verdict::Continue(consumed),
    }
}

impl Protocol for Http {
    type Session = Session;

    fn name(&self) -> &'static str {
        "http"
    }

    /// A whole request head: the protocol answers nothing until it has one.
    fn max_buffered_input(&self) -> usize {
        self.max_request_bytes
    }

    fn open(&mut self, peer: SocketAddr) -> Session {
        Session {
            peer,
            in_body: None,
            clean_close: false,
        }
    }

    fn on_input(
        &mut self,
        session: &mut Session,
        input: &[u8],
        ctx: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        self.dates.update(ctx.wall);
        if session.in_body.is_some() {
            return self.continue_body(session, input, ctx, out);
        }
        match request::parse(input, self.max_request_bytes, self.max_body_bytes) {
            Parsed::Partial => Verdict::NeedMore,
            Parsed::Complete(request, head_len) => {
                self.start_request(session, request, head_len, ctx, out)
            }
            Parsed::Error(status) => {
                self.refuse(status, request::is_head_request(input), out);
                self.log(session.peer, format_args!("-"), status, 0, ctx.wall);
                Verdict::Close(input.len())
            }
        }
    }

    /// A client that closes in the middle of a request gets no answer (as
    /// with nginx): there is nobody left to read it.
    fn on_eof(&mut self, _: &mut Session, _: &[u8], _: &mut Context<'_>, _: &mut Output) {}

    fn expects_more_input(&self, session: &Session) -> bool {
        !session.clean_close
    }

    fn request_in_progress(&self, session: &Session) -> bool {
        session.in_body.is_some()
    }

    fn on_reject(&mut self, input: &[u8], ctx: &mut Context<'_>, out: &mut Output) {
        self.dates.update(ctx.wall);
        self.refuse(503, request::is_head_request(input), out);
    }

    fn counters(&self) -> &[u64] {
        self.responses.as_slice()
    }

    fn begin_drain(&mut self) {
        self.draining = true;
    }

    fn end_of_turn(&mut self) {
        self.access.flush();
    }
}

#[cfg(test)]
mod tests;
