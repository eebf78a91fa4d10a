//! HTTP/1.1 (RFC 9112) as a pure state machine: keep-alive, pipelining,
//! request bodies framed and discarded (or echoed, on /echo), clear
//! errors, and the /echo benchmark target.
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
//! - `echo_endpoint` (with its `query` and `body`): the /echo benchmark
//!   target (not RFC 862's echo, which is `protocol::echo`).
//! - `files`: static files under --root: what to answer, and the body.
//! - `preconditions`: If-Match, If-None-Match and the dates (RFC 9110 §13).
//! - `ranges`: what a Range header asks of a file (RFC 9110 §14).
//! - `listing`: directory listings (--autoindex).
//! - `paths`: a request path's one spelling beneath --root, and what may
//!   not be asked for (`..`, hidden names; `/.well-known/` always served).
//! - `beneath`: opening a path beneath --root (openat2), never out of it.
//! - `file_cache`: the open-file cache (descriptors, validators, small
//!   files' contents), revalidated once a second.
//! - `access_log`: the Common Log Format lines, one write per loop turn.
//! - `counts`: responses by status class, HTTP's own metrics.

mod access_log;
mod beneath;
mod body;
mod counts;
mod echo_endpoint;
mod file_cache;
mod files;
mod listing;
mod paths;
mod preconditions;
mod ranges;
mod request;
mod response;
mod route;

use super::{Context, Output, Protocol, Verdict};
use crate::config::{
    FILE_CACHE_ENTRIES_CEILING, FILE_CACHE_SMALL_BYTES_CEILING, FILE_CACHE_TOTAL_BYTES_CEILING,
    MAX_BODY_BYTES_CEILING, MAX_REQUEST_BYTES_CEILING, check_count,
};
use access_log::AccessLog;
use body::{BodyError, RequestBody};
use counts::ResponseCounts;
use file_cache::FileCache;
pub use file_cache::FileCacheLimits;
use files::StaticFiles;
use request::{Conditions, Method, OwnedConditions, Parsed, Request};
use response::{Canned, DateCache, Head, Persistence};
use route::Route;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// The text/plain content type of every body this module writes itself.
const TEXT: &str = "text/plain; charset=utf-8";

/// The answer to `GET /` without --root.
const HELLO: &[u8] = b"Hello from reactord\n";

/// Status classes counted (1xx to 5xx).
const RESPONSE_CLASSES: usize = 5;

/// How many counters HTTP shares with the other workers: see
/// `Http::shared_counters`.
const SHARED_COUNTERS: usize =
    RESPONSE_CLASSES + echo_endpoint::EchoCounts::LEN + FileCache::COUNTERS;

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
    /// /echo: its limits, --echo-default, the random draw and the counters.
    echo: echo_endpoint::EchoSettings,
    /// The server is draining: every response says `Connection: close`.
    draining: bool,
    /// The counters last handed to the reactor to share with the other
    /// workers (see `shared_counters`).
    shared: [u64; SHARED_COUNTERS],
}

/// Per-connection state: only what must survive between calls.
#[derive(Debug)]
pub struct Session {
    peer: SocketAddr,
    /// A request body being discarded (or echoed), and the answer owed
    /// once it is. Boxed: about 190 bytes that only a request with a body
    /// needs, and every connection's session sits in the reactor's slab,
    /// idle or not (one allocation per request with a body keeps an idle
    /// keep-alive connection under 512 bytes, docs/benchmarks.md).
    in_body: Option<Box<(RequestBody, Pending)>>,
    /// An /echo answer owed after a delay, or the rest of a drip: what the
    /// connection's timer (`Verdict::Wait`) wakes us up for. Boxed for the
    /// same reason as `in_body`.
    owed: Option<Box<echo_endpoint::Owed>>,
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
    /// What becomes of the body's data.
    sink: BodySink,
}

/// What a request body's data is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodySink {
    /// Thrown away; the answer (`Pending::request`) is written at its end.
    Answer,
    /// Thrown away; the answer is already under way (/echo?size=).
    Discard,
    /// Copied to the response as it is (/echo, Content-Length in and out).
    EchoRaw,
    /// Copied to the response as chunks (/echo, chunked in and out).
    EchoChunked,
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
    /// --dotfiles: serve names that start with a dot (`/.well-known/` is
    /// served without it).
    pub dotfiles: bool,
    /// --max-echo-delay: longer /echo delays (and chunk intervals) are cut
    /// to it.
    pub max_echo_delay: Duration,
    /// --max-echo-size: the largest /echo?size=.
    pub max_echo_size: u64,
    /// --echo-default: the query of /echo requests that carry none.
    pub echo_default: Option<String>,
    /// --file-cache-entries, --file-cache-small-bytes,
    /// --file-cache-total-bytes: the open-file cache's bounds.
    pub file_cache: FileCacheLimits,
}

/// The largest --max-echo-delay: an hour is longer than any benchmark
/// wants a response held, and keeps every deadline far from the clock's end.
pub const MAX_ECHO_DELAY_CEILING: Duration = Duration::from_secs(3600);

/// The largest --max-echo-size (1 TiB): a generated body costs no memory,
/// so the bound only keeps a typo from promising a client years of bytes.
pub const MAX_ECHO_SIZE_CEILING: u64 = 1 << 40;

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            max_request_bytes: 16 * 1024,
            max_body_bytes: 1024 * 1024,
            access_log: false,
            root: None,
            autoindex: false,
            dotfiles: false,
            max_echo_delay: Duration::from_secs(10),
            max_echo_size: 64 << 20,
            echo_default: None,
            file_cache: FileCacheLimits::default(),
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
        )?;
        let cache = &self.file_cache;
        check_count(
            "--file-cache-entries",
            cache.entries,
            0,
            FILE_CACHE_ENTRIES_CEILING,
        )?;
        check_count(
            "--file-cache-small-bytes",
            cache.small_file_bytes,
            0,
            FILE_CACHE_SMALL_BYTES_CEILING,
        )?;
        check_count(
            "--file-cache-total-bytes",
            cache.total_bytes,
            0,
            FILE_CACHE_TOTAL_BYTES_CEILING,
        )?;
        check_count(
            "--max-echo-size",
            self.max_echo_size,
            0,
            MAX_ECHO_SIZE_CEILING,
        )?;
        if self.max_echo_delay > MAX_ECHO_DELAY_CEILING {
            return Err(format!(
                "--max-echo-delay: {:?} is more than the largest accepted, 1h",
                self.max_echo_delay
            ));
        }
        self.echo_default_query().map(|_| ())
    }

    /// The /echo limits these settings give.
    fn echo_limits(&self) -> echo_endpoint::EchoLimits {
        echo_endpoint::EchoLimits {
            max_delay: self.max_echo_delay,
            max_size: self.max_echo_size,
        }
    }

    /// --echo-default, parsed against the limits.
    fn echo_default_query(&self) -> Result<Option<echo_endpoint::EchoQuery>, String> {
        let Some(text) = self.echo_default.as_deref() else {
            return Ok(None);
        };
        let query = text.strip_prefix('?').unwrap_or(text);
        echo_endpoint::EchoQuery::parse(query, &self.echo_limits())
            .map(Some)
            .map_err(|error| format!("--echo-default: {error}"))
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
            // An invalid default is refused by `from_config` (and by the
            // command line); here it is ignored.
            echo: echo_endpoint::EchoSettings::new(
                config.echo_limits(),
                config.echo_default_query().ok().flatten(),
            ),
            draining: false,
            shared: [0; SHARED_COUNTERS],
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
            http.files = Some(StaticFiles::new(
                root,
                config.autoindex,
                config.dotfiles,
                config.file_cache,
            )?);
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
            && let Some(files) = &mut self.files
        {
            let reply = files.reply(target, conditions, ctx.now);
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
                    self.write_own_metrics(ctx.metrics);
                    (
                        200,
                        Some("text/plain; version=0.0.4; charset=utf-8"),
                        &self.scratch,
                        "",
                    )
                }
                // /echo is answered by `start_echo`, never from here.
                Route::NotFound | Route::Static | Route::Echo => {
                    (404, Some(TEXT), b"404 Not Found\n", "")
                }
                Route::EchoMethodNotAllowed => (
                    405,
                    Some(TEXT),
                    b"405 Method Not Allowed\n",
                    "Allow: GET, HEAD, POST, PUT\r\n",
                ),
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

    /// HTTP's counters in the order they are shared with the other workers
    /// (`--workers`): responses by status class, /echo's, then the
    /// open-file cache's (0 without --root).
    fn shared_counters(&self) -> [u64; SHARED_COUNTERS] {
        let files = self
            .files
            .as_ref()
            .map_or([0; FileCache::COUNTERS], StaticFiles::cache_counters);
        let echo = self.echo.counts.values();
        let mut values = [0; SHARED_COUNTERS];
        let all = self.responses.as_slice().iter().chain(&echo).chain(&files);
        for (value, own) in values.iter_mut().zip(all) {
            *value = *own;
        }
        values
    }

    /// Append HTTP's own metrics to the /metrics body in `scratch`: this
    /// process's counts, or with workers the whole server's (which
    /// `Metrics::add_up_protocol` sums).
    fn write_own_metrics(&mut self, metrics: &crate::metrics::Metrics) {
        let mut values = self.shared_counters();
        metrics.add_up_protocol(&mut values);
        let (responses, rest) = values.split_at(RESPONSE_CLASSES);
        let (echo, files) = rest.split_at(echo_endpoint::EchoCounts::LEN);
        ResponseCounts::write_prometheus(responses, &mut self.scratch);
        echo_endpoint::EchoCounts::from_values(echo).write_prometheus(&mut self.scratch);
        if let Some(static_files) = &self.files {
            static_files.write_prometheus(files, &mut self.scratch);
        }
    }

    /// Continue discarding a request body; answer once it is complete.
    fn continue_body(
        &mut self,
        session: &mut Session,
        input: &[u8],
        ctx: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        let Some((body, pending)) = session.in_body.as_deref_mut() else {
            return Verdict::NeedMore;
        };
        let limits = body::Limits {
            max_body: self.max_body_bytes,
            max_trailers: self.max_request_bytes,
        };
        let sink = pending.sink;
        let echoed = &mut self.echo.counts.bytes_echoed;
        let bytes = out.bytes_mut();
        let result = body.read(input, limits, &mut |data| match sink {
            BodySink::Answer | BodySink::Discard => {}
            BodySink::EchoRaw => {
                bytes.extend_from_slice(data);
                *echoed += data.len() as u64;
            }
            BodySink::EchoChunked => {
                echo_endpoint::write_chunk(bytes, data);
                *echoed += data.len() as u64;
            }
        });
        if sink != BodySink::Answer {
            return self.end_of_echoed_body(session, result, input.len(), out);
        }
        match result {
            Ok((0, false)) => Verdict::NeedMore,
            Ok((n, false)) => Verdict::Continue(n),
            Ok((n, true)) => {
                let Some((_, pending)) = session.in_body.take().map(|b| *b) else {
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
                let pending = session.in_body.take().map(|b| b.1);
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

    /// After a piece of a body whose response is already under way (/echo):
    /// the request ends with the body. An error in the body can't be
    /// answered any more (the head went out): the connection closes, and
    /// the client sees a response cut short.
    fn end_of_echoed_body(
        &mut self,
        session: &mut Session,
        result: Result<(usize, bool), BodyError>,
        shown: usize,
        out: &mut Output,
    ) -> Verdict {
        match result {
            Ok((0, false)) => Verdict::NeedMore,
            Ok((n, false)) => Verdict::Continue(n),
            Ok((n, true)) => {
                let Some((_, pending)) = session.in_body.take().map(|b| *b) else {
                    return Verdict::Continue(n);
                };
                if pending.sink == BodySink::EchoChunked {
                    out.extend(b"0\r\n\r\n");
                }
                let persistence = pending.request.persistence;
                session.clean_close = persistence == Persistence::Close;
                finish(persistence, n)
            }
            Err(error) => {
                log::debug!("/echo: request body {error:?} after the response began; closing");
                session.in_body = None;
                Verdict::Close(shown)
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
        let echo = route::is_echo(request.target);
        let answer = Answer {
            route: match request.method {
                _ if echo => route::echo_route(request.method_text),
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
        // Methods that get their answer, not a refusal: only those are
        // worth a `100 Continue` (DELETE /echo is a 405 like POST /).
        let served = match answer.route {
            Route::Echo => true,
            Route::EchoMethodNotAllowed => false,
            _ => matches!(request.method, Method::Get | Method::Head),
        };
        if answer.route == Route::Echo {
            return self.start_echo(session, &mut request, answer, head_len, ctx, out);
        }
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
        session.in_body = Some(Box::new((
            body,
            Pending {
                request: answer,
                log_line,
                static_request,
                sink: BodySink::Answer,
            },
        )));
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
            owed: None,
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
        session.in_body.is_some() || session.owed.is_some()
    }

    /// A delayed /echo answer, or the next chunk of a drip, is due.
    fn on_wake(
        &mut self,
        session: &mut Session,
        ctx: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        self.dates.update(ctx.wall);
        self.wake_echo(session, ctx, out)
    }

    fn on_reject(&mut self, input: &[u8], ctx: &mut Context<'_>, out: &mut Output) {
        self.dates.update(ctx.wall);
        self.refuse(503, request::is_head_request(input), out);
    }

    fn counters(&mut self) -> &[u64] {
        self.shared = self.shared_counters();
        &self.shared
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
