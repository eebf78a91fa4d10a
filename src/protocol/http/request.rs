//! Reading a request head: httparse tokenizes it, this module decides what
//! it means (method, target form, Host, persistence, body framing,
//! expectations) and which errors it earns, following RFC 9112 and RFC 9110.
//! Each rule names its section; docs/http.md lists them all.

use super::body::{Chunked, RequestBody};
use std::borrow::Cow;
use std::mem::MaybeUninit;

/// Header slots parsed on the stack. A request with more fields than this
/// is parsed again with room for as many as `--max-request-bytes` can hold:
/// the byte limit decides, not a count (real browsers send 10 to 20 fields,
/// so the second parse, and its allocation, is for unusual clients only).
pub const INLINE_HEADERS: usize = 64;

/// The shortest header field line: a one-letter name, a colon and a bare LF.
const SHORTEST_FIELD_LINE: usize = 3;

/// The methods this server tells apart (RFC 9110 §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET: served.
    Get,
    /// HEAD: served like GET, without the body.
    Head,
    /// A method RFC 9110 (or RFC 5789, PATCH) defines, which no resource
    /// here allows: 405 with `Allow`.
    NotAllowed,
    /// Any other well-formed method: 501, "not implemented" (§15.6.2).
    Unknown,
}

impl Method {
    fn classify(text: &str) -> Method {
        match text {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE" | "PATCH" => {
                Method::NotAllowed
            }
            _ => Method::Unknown,
        }
    }
}

/// What a request head says, once it is complete and valid.
#[derive(Debug)]
pub struct Request<'a> {
    /// The method, classified.
    pub method: Method,
    /// The method as sent, for the access log.
    pub method_text: &'a str,
    /// The request target as sent.
    pub target: &'a str,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Whether the client wants the connection kept after the response.
    pub keep_alive: bool,
    /// The body to discard after the head, if any.
    pub body: Option<RequestBody>,
    /// `Expect: 100-continue` on a request with a body.
    pub expect_continue: bool,
    /// The headers static files answer to (conditionals and ranges).
    pub conditions: Conditions<'a>,
}

/// The request headers that decide a static file's answer: 412
/// Precondition Failed, 304 Not Modified, 206 Partial Content or the whole
/// file. Borrowed from the input.
///
/// A list field (If-Match, If-None-Match) sent on several lines is one
/// list, its lines joined with commas in order (RFC 9110 §5.3): read it
/// with [`Conditions::if_match`] and [`Conditions::if_none_match`]. The
/// lines are joined only when asked for, from the head, so that the usual
/// request (one line or none) costs no copy, and this value stays `Copy`
/// and small: every request builds one (a `Cow` per list was measurably
/// slower on the hello path, docs/benchmarks.md). Any other field sent
/// twice counts by its last line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    /// `If-Match`, its first line.
    pub if_match: Option<&'a [u8]>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a [u8]>,
    /// `If-None-Match`, its first line.
    pub if_none_match: Option<&'a [u8]>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a [u8]>,
    /// `Range`.
    pub range: Option<&'a [u8]>,
    /// `If-Range`.
    pub if_range: Option<&'a [u8]>,
    /// The head the fields were read from, when a list field came on more
    /// than one line: where its other lines are found.
    pub(super) repeated: Repeated<'a>,
}

/// Which list fields came on more than one line, and the head that holds
/// them.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Repeated<'a> {
    head: &'a [u8],
    if_match: bool,
    if_none_match: bool,
}

impl<'a> Conditions<'a> {
    /// `If-Match`, every line of it as one list.
    #[inline]
    pub fn if_match(&self) -> Option<Cow<'a, [u8]>> {
        match (self.if_match, self.repeated.if_match) {
            (None, _) => None,
            (Some(line), false) => Some(Cow::Borrowed(line)),
            (Some(_), true) => Some(Cow::Owned(self.joined(b"if-match"))),
        }
    }

    /// `If-None-Match`, every line of it as one list.
    #[inline]
    pub fn if_none_match(&self) -> Option<Cow<'a, [u8]>> {
        match (self.if_none_match, self.repeated.if_none_match) {
            (None, _) => None,
            (Some(line), false) => Some(Cow::Borrowed(line)),
            (Some(_), true) => Some(Cow::Owned(self.joined(b"if-none-match"))),
        }
    }

    /// Every line of the field `name` in the head, the values trimmed and
    /// joined with `, ` in order.
    fn joined(&self, name: &[u8]) -> Vec<u8> {
        let mut joined = Vec::new();
        for line in self.repeated.head.split(|&b| b == b'\n') {
            let Some((field, value)) = line.split_once_at(b':') else {
                continue;
            };
            if field.eq_ignore_ascii_case(name) {
                if !joined.is_empty() {
                    joined.extend_from_slice(b", ");
                }
                joined.extend_from_slice(trim(value.strip_suffix(b"\r").unwrap_or(value)));
            }
        }
        joined
    }
}

/// Split a line at the first `byte`, without it.
trait SplitOnceAt {
    fn split_once_at(&self, byte: u8) -> Option<(&[u8], &[u8])>;
}

impl SplitOnceAt for [u8] {
    fn split_once_at(&self, byte: u8) -> Option<(&[u8], &[u8])> {
        let at = self.iter().position(|&b| b == byte)?;
        Some((self.get(..at)?, self.get(at + 1..)?))
    }
}

/// [`Conditions`] copied out of the input, for an answer that waits until
/// the request body has been read: by then the input is gone.
#[derive(Debug)]
pub struct OwnedConditions {
    if_match: Option<Box<[u8]>>,
    if_unmodified_since: Option<Box<[u8]>>,
    if_none_match: Option<Box<[u8]>>,
    if_modified_since: Option<Box<[u8]>>,
    range: Option<Box<[u8]>>,
    if_range: Option<Box<[u8]>>,
}

impl OwnedConditions {
    /// Copy each field present in `conditions`.
    pub fn new(conditions: &Conditions<'_>) -> OwnedConditions {
        let own = |value: Option<&[u8]>| value.map(Box::from);
        OwnedConditions {
            if_match: own(conditions.if_match().as_deref()),
            if_unmodified_since: own(conditions.if_unmodified_since),
            if_none_match: own(conditions.if_none_match().as_deref()),
            if_modified_since: own(conditions.if_modified_since),
            range: own(conditions.range),
            if_range: own(conditions.if_range),
        }
    }

    /// The same conditions, borrowed again.
    pub fn borrow(&self) -> Conditions<'_> {
        Conditions {
            if_match: self.if_match.as_deref(),
            if_unmodified_since: self.if_unmodified_since.as_deref(),
            if_none_match: self.if_none_match.as_deref(),
            if_modified_since: self.if_modified_since.as_deref(),
            range: self.range.as_deref(),
            if_range: self.if_range.as_deref(),
            // Already joined by `new`.
            repeated: Repeated::default(),
        }
    }
}

/// The outcome of looking at the start of the input.
// A `Request` is a few hundred bytes on the stack for one call; boxing it
// to shrink the enum would cost an allocation per request on the hello
// path (tests/allocations.rs).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parsed<'a> {
    /// The head isn't complete yet.
    Partial,
    /// A complete, valid head of this many bytes.
    Complete(Request<'a>, usize),
    /// An invalid head: answer with this status and close.
    Error(u16),
}

/// Parse the request head at the start of `input`.
pub fn parse(input: &[u8], max_head: usize, max_body: u64) -> Parsed<'_> {
    // Uninitialised header slots: zeroing them for every request cost more
    // than parsing the few a request really has.
    let mut inline = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; INLINE_HEADERS];
    if let Some(parsed) = parse_with(input, &mut inline, max_head, max_body) {
        return parsed;
    }
    // More fields than the inline slots: room for as many as the bytes at
    // hand (within the limit) can hold, so only --max-request-bytes decides.
    let slots = input.len().min(max_head) / SHORTEST_FIELD_LINE + 1;
    let mut spilled = vec![MaybeUninit::<httparse::Header<'_>>::uninit(); slots];
    parse_with(input, &mut spilled, max_head, max_body).unwrap_or(Parsed::Error(431))
}

/// Parse with these header slots; None if there are more fields than slots.
fn parse_with<'b>(
    input: &'b [u8],
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
    max_head: usize,
    max_body: u64,
) -> Option<Parsed<'b>> {
    let mut request = httparse::Request::new(&mut []);
    let head_len = match request.parse_with_uninit_headers(input, slots) {
        Ok(httparse::Status::Complete(len)) if len > max_head => {
            return Some(Parsed::Error(too_large(input, max_head)));
        }
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if input.len() >= max_head => {
            return Some(Parsed::Error(too_large(input, max_head)));
        }
        Ok(httparse::Status::Partial) => return Some(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => return None,
        Err(_) => {
            return Some(malformed(input).map_or(Parsed::Partial, Parsed::Error));
        }
    };
    let (Some(method_text), Some(target), Some(minor_version)) =
        (request.method, request.path, request.version)
    else {
        return Some(Parsed::Error(400));
    };
    let method = Method::classify(method_text);
    if !target_form_fits(method_text, target) || !valid_target(target.as_bytes()) {
        return Some(Parsed::Error(400));
    }
    Some(interpret(
        method,
        method_text,
        target,
        minor_version,
        request.headers,
        // httparse never reports a head longer than its input. Were it to,
        // the whole input stands in for the head: an empty one would say
        // "0 bytes consumed", and the same bytes would be parsed forever.
        input.get(..head_len).unwrap_or(input),
        max_body,
    ))
}

/// What the header fields of a well-formed request line say; `head` is the
/// whole head they were parsed from.
fn interpret<'b>(
    method: Method,
    method_text: &'b str,
    target: &'b str,
    minor_version: u8,
    headers: &[httparse::Header<'b>],
    head: &'b [u8],
    max_body: u64,
) -> Parsed<'b> {
    let mut hosts = 0;
    // The value as written, too: repeats must agree byte for byte.
    let mut content_length: Option<(u64, &[u8])> = None;
    let mut transfer_encoding = TransferEncoding::None;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;
    let mut conditions = Conditions {
        repeated: Repeated {
            head,
            ..Repeated::default()
        },
        ..Conditions::default()
    };
    for header in headers {
        let name = header.name;
        let value = header.value;
        if name.eq_ignore_ascii_case("host") {
            // RFC 9112 §3.2: a Host that is not `uri-host [":" port]` is a 400.
            if !valid_host(trim(value)) {
                return Parsed::Error(400);
            }
            hosts += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            // Repeated Content-Length is allowed only if every copy is the
            // same (RFC 9112 §6.3), written the same: `5` and `05` are one
            // number to us but maybe not to a proxy in front, and llhttp
            // and h11 refuse them. Anything but plain digits is invalid.
            let written = trim(value);
            let Some(length) = parse_content_length(written) else {
                return Parsed::Error(400);
            };
            if content_length.is_some_and(|(_, previous)| previous != written) {
                return Parsed::Error(400);
            }
            content_length = Some((length, written));
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = match transfer_encoding {
                TransferEncoding::None if trim(value).eq_ignore_ascii_case(b"chunked") => {
                    TransferEncoding::Chunked
                }
                _ => TransferEncoding::Unsupported,
            };
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',').map(trim) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue |= trim(value).eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case("if-match") {
            // Further lines are joined when asked for (`Conditions::joined`).
            conditions.repeated.if_match |= conditions.if_match.is_some();
            conditions.if_match = conditions.if_match.or(Some(trim(value)));
        } else if name.eq_ignore_ascii_case("if-unmodified-since") {
            conditions.if_unmodified_since = Some(trim(value));
        } else if name.eq_ignore_ascii_case("if-none-match") {
            conditions.repeated.if_none_match |= conditions.if_none_match.is_some();
            conditions.if_none_match = conditions.if_none_match.or(Some(trim(value)));
        } else if name.eq_ignore_ascii_case("if-modified-since") {
            conditions.if_modified_since = Some(trim(value));
        } else if name.eq_ignore_ascii_case("range") && method == Method::Get {
            // Range is defined for GET only (RFC 9110 §14.2): HEAD ignores
            // it and gets the headers GET without Range would (a 200).
            conditions.range = Some(trim(value));
        } else if name.eq_ignore_ascii_case("if-range") {
            conditions.if_range = Some(trim(value));
        }
    }

    // HTTP/1.1 requires exactly one Host; a second one is always an error.
    if hosts > 1 || (minor_version == 1 && hosts == 0) {
        return Parsed::Error(400);
    }
    let body = match (transfer_encoding, content_length.map(|(length, _)| length)) {
        // Both framings at once is the classic request-smuggling vector.
        (TransferEncoding::Chunked | TransferEncoding::Unsupported, Some(_)) => {
            return Parsed::Error(400);
        }
        // Transfer-Encoding did not exist in HTTP/1.0 (RFC 9112 §6.1).
        (TransferEncoding::Chunked | TransferEncoding::Unsupported, None) if minor_version == 0 => {
            return Parsed::Error(400);
        }
        (TransferEncoding::Unsupported, None) => return Parsed::Error(501),
        (TransferEncoding::Chunked, None) => Some(RequestBody::Chunked(Chunked::default())),
        (TransferEncoding::None, Some(length)) if length > max_body => return Parsed::Error(413),
        (TransferEncoding::None, Some(0) | None) => None,
        (TransferEncoding::None, Some(length)) => Some(RequestBody::Length(length)),
    };
    let keep_alive = !close && (minor_version == 1 || keep_alive_token);
    let expect_continue = expect_continue && minor_version == 1 && body.is_some();
    Parsed::Complete(
        Request {
            method,
            method_text,
            target,
            minor_version,
            keep_alive,
            body,
            expect_continue,
            conditions,
        },
        head.len(),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransferEncoding {
    None,
    Chunked,
    /// Any coding but a single `chunked`: we can't decode it (501), and the
    /// body can't be framed.
    Unsupported,
}

/// Content-Length is 1*DIGIT; we also refuse lengths that overflow u64.
fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The bytes of a request-target (RFC 9112 §3.2, RFC 3986): ASCII only,
/// since raw bytes above 0x7f are not URI characters (`/é` must come as
/// `/%C3%A9`; httparse lets UTF-8 through), and in the path every `%`
/// starts a two-hex-digit escape (`/%` and `/%zz` are malformed, a 400
/// rather than a 404). The query is left to its reader: /echo names the
/// parameter a bad escape is in.
fn valid_target(target: &[u8]) -> bool {
    // Every request's target comes through here: a plain byte costs one
    // table lookup, and only a target with a `%`, `?`, `#` or a byte above
    // 0x7f is looked at further.
    match target
        .iter()
        .position(|&b| TARGET_SPECIAL.get(usize::from(b)).copied().unwrap_or(true))
    {
        None => true,
        Some(at) => escapes_are_well_formed(target.get(at..).unwrap_or_default()),
    }
}

/// The rest of [`valid_target`], from its first special byte on.
fn escapes_are_well_formed(rest: &[u8]) -> bool {
    let mut in_path = true;
    let mut bytes = rest.iter();
    while let Some(&b) = bytes.next() {
        if !b.is_ascii() {
            return false;
        }
        if b == b'?' || b == b'#' {
            in_path = false;
        } else if b == b'%' && in_path {
            let hex = |b: Option<&u8>| b.is_some_and(u8::is_ascii_hexdigit);
            if !(hex(bytes.next()) && hex(bytes.next())) {
                return false;
            }
        }
    }
    true
}

/// The bytes of a request-target [`valid_target`] must look at further.
// Indexing in a const block is checked at compile time: it can't panic.
#[allow(clippy::indexing_slicing)]
static TARGET_SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = byte >= 0x80 || matches!(byte as u8, b'%' | b'?' | b'#');
        byte += 1;
    }
    table
};

/// Strip optional whitespace (spaces and tabs) from both ends.
fn trim(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    value.get(start..end).unwrap_or_default()
}

/// The request line: the first line that is not empty (RFC 9112 §2.2 lets
/// a server skip empty lines before it), without its line ending, and
/// whether its line ending has arrived.
fn request_line(input: &[u8]) -> (&[u8], bool) {
    let start = input
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(input.len());
    let rest = input.get(start..).unwrap_or_default();
    match rest.iter().position(|&b| b == b'\n') {
        Some(end) => {
            let line = rest.get(..end).unwrap_or_default();
            (line.strip_suffix(b"\r").unwrap_or(line), true)
        }
        // A CR at the end may be the first half of the line ending.
        None => (rest.strip_suffix(b"\r").unwrap_or(rest), false),
    }
}

/// A head over --max-request-bytes: 414 URI Too Long when the request line
/// alone doesn't fit (RFC 9110 §15.5.15; the target is what makes it long),
/// 431 when the header fields push it over (RFC 6585 §5).
fn too_large(input: &[u8], max_head: usize) -> u16 {
    match request_line(input) {
        (line, true) if line.len() < max_head => 431,
        _ => 414,
    }
}

/// The status for a head httparse refused, or None while the request line
/// is still arriving and could yet turn out well formed. Only a request
/// line that is well formed, `method SP target SP HTTP/DIGIT.DIGIT`, but
/// names a version other than 1.0 and 1.1 earns 505 (RFC 9110 §15.6.6);
/// anything malformed is 400 (RFC 9112 §3, §2.3): `G ET / HTTP/1.1`, a
/// target with a space, `HTTP/01.1`, `HTTP/1`.
fn malformed(input: &[u8]) -> Option<u16> {
    let (line, complete) = request_line(input);
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next();
    let version = parts.next();
    if parts.next().is_some()
        || !method.iter().all(|&b| is_tchar(b))
        || !target.unwrap_or_default().iter().all(u8::is_ascii_graphic)
    {
        return Some(400);
    }
    let Some(version) = version else {
        // Not even three parts: malformed if the line is complete.
        return complete.then_some(400);
    };
    if method.is_empty() || target.is_none_or(<[u8]>::is_empty) {
        return Some(400);
    }
    // `HTTP/` DIGIT `.` DIGIT, checked as far as it has arrived.
    let pattern_fits = |at: usize, b: &u8| match at {
        0..=4 => b"HTTP/".get(at) == Some(b),
        5 | 7 => b.is_ascii_digit(),
        6 => *b == b'.',
        _ => false,
    };
    if !version
        .iter()
        .enumerate()
        .all(|(at, b)| pattern_fits(at, b))
    {
        return Some(400);
    }
    if !complete {
        return None;
    }
    match version {
        b"HTTP/1.0" | b"HTTP/1.1" => Some(400),
        [_, _, _, _, _, _, _, _] => Some(505),
        _ => Some(400),
    }
}

/// RFC 9112 §3.2: which request-target forms a method may use.
/// origin-form (`/path?query`) and absolute-form (`http://host/path`) for
/// every method but CONNECT, which takes authority-form (`host:port`)
/// only; asterisk-form (`*`) for OPTIONS only. Anything else is a 400.
fn target_form_fits(method: &str, target: &str) -> bool {
    if method == "CONNECT" {
        return target.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && valid_host(target.as_bytes()) && !port.is_empty()
        });
    }
    if target == "*" {
        return method == "OPTIONS";
    }
    target.starts_with('/') || is_absolute_form(target)
}

/// `scheme "://" authority [path]`: the absolute-form clients send to
/// proxies, which servers must accept (RFC 9112 §3.2.2).
fn is_absolute_form(target: &str) -> bool {
    let Some((scheme, rest)) = target.split_once("://") else {
        return false;
    };
    let mut scheme = scheme.bytes();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    scheme.next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        // An empty host is invalid (RFC 9110 §4.2.1), and userinfo
        // (`user@host`) fails here: RFC 9110 §4.2.4 calls it an error.
        && !authority.is_empty()
        && valid_host(authority.as_bytes())
}

/// `uri-host [ ":" port ]` (RFC 9112 §3.2, RFC 3986 §3.2.2): an IP literal
/// in brackets, or a reg-name of unreserved characters, percent-escapes and
/// sub-delims (an IPv4 address is a reg-name too); then an optional port of
/// digits. An empty value is allowed: it is what a client sends when the
/// target has no authority.
fn valid_host(value: &[u8]) -> bool {
    let Some(literal) = value.strip_prefix(b"[") else {
        return valid_name_and_port(value);
    };
    let Some(close) = literal.iter().position(|&b| b == b']') else {
        return false;
    };
    let (inside, after) = literal.split_at(close);
    let ip_literal = !inside.is_empty()
        && inside
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'));
    match after.get(1..).unwrap_or_default().split_first() {
        _ if !ip_literal => false,
        None => true,
        Some((b':', port)) => port.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

/// `reg-name [":" port]` in one pass: every request's Host goes through
/// here, so it reads each byte once (three passes cost measurably more:
/// docs/benchmarks.md, "What the RFC checks cost").
fn valid_name_and_port(value: &[u8]) -> bool {
    let mut bytes = value.iter();
    while let Some(&b) = bytes.next() {
        if b == b':' {
            return bytes.all(u8::is_ascii_digit);
        }
        if !REG_NAME.get(usize::from(b)).copied().unwrap_or(false) {
            return false;
        }
        if b == b'%' {
            let hex = |b: Option<&u8>| b.is_some_and(u8::is_ascii_hexdigit);
            if !(hex(bytes.next()) && hex(bytes.next())) {
                return false;
            }
        }
    }
    true
}

/// The bytes a reg-name may hold (RFC 3986: unreserved, sub-delims, and
/// `%` starting a percent-escape), as a table: every request's Host goes
/// through here, and a lookup per byte is cheaper than a `match` per byte
/// (docs/benchmarks.md, "What the RFC checks cost").
// Indexing in a const block is checked at compile time: it can't panic.
#[allow(clippy::indexing_slicing)]
static REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
            );
        byte += 1;
    }
    table
};

/// A token character (RFC 9110 §5.6.2): what methods, field names and
/// chunk extension names are made of.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// True if the input begins a HEAD request, so that even an error answer
/// to it goes without a body (RFC 9110 §9.3.2): a client that sent HEAD
/// reads no body, and the bytes would be taken for the next response.
pub fn is_head_request(input: &[u8]) -> bool {
    request_line(input).0.starts_with(b"HEAD ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(input: &[u8]) -> u16 {
        match parse(input, 1024, 100) {
            Parsed::Error(status) => status,
            Parsed::Complete(..) => 200,
            Parsed::Partial => 0,
        }
    }

    #[test]
    fn invalid_heads_get_the_right_status() {
        let cases: &[(&[u8], u16)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", 0),
            (b"GET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET / HTTP/1.0\r\n\r\n", 200),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
            (b"GET / FTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 200),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length:  5 \r\n\r\n", 200),
            // The same number written differently (issue 21).
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 05\r\nContent-Length: 5\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", 413),
            (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            (b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
        ];
        for (input, expected) in cases {
            assert_eq!(
                status(input),
                *expected,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn a_target_over_the_limit_is_414_and_fields_over_it_431() {
        // RFC 9110 §15.5.15: the request line alone doesn't fit.
        let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "x".repeat(2000));
        assert_eq!(status(long.as_bytes()), 414);
        assert_eq!(status(&long.as_bytes()[..1500]), 414);
        // The line fits; the fields push the head over: 431.
        let fields = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "y".repeat(1100)
        );
        assert_eq!(status(fields.as_bytes()), 431);
        assert_eq!(status(&fields.as_bytes()[..1100]), 431);
    }

    #[test]
    fn the_byte_limit_decides_how_many_fields_not_a_count() {
        // 150 short fields: more than the inline slots, well under 16 KiB.
        let many: String = (0..150).map(|i| format!("X-{i}: y\r\n")).collect();
        let head = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
        assert!(matches!(
            parse(head.as_bytes(), 16384, 0),
            Parsed::Complete(..)
        ));
        // The shortest fields possible, as many as fit in the limit.
        let tiny: String = "a:\n".repeat(300);
        let head = format!("GET / HTTP/1.1\r\nHost: a\r\n{tiny}\r\n");
        assert!(matches!(
            parse(head.as_bytes(), 1024, 0),
            Parsed::Complete(..)
        ));
        // And past the limit it is the byte count that says 431.
        let head = format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", "a:\n".repeat(400));
        assert!(matches!(
            parse(head.as_bytes(), 1024, 0),
            Parsed::Error(431)
        ));
    }

    #[test]
    fn malformed_request_lines_are_400_and_only_other_versions_505() {
        let cases: &[(&[u8], u16)] = &[
            (b"G ET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/01.1\r\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/1.1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /\r\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505),
            (b"GET / HTTP/9.9\r\n\r\n", 505),
        ];
        for (input, expected) in cases {
            assert_eq!(
                status(input),
                *expected,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
        // A line still arriving is not judged before it can be.
        assert_eq!(status(b"GET / HTTP/3"), 0);
        assert_eq!(status(b"GET / HTTP/3.0\r"), 0);
        // But one that can't become valid is refused at once.
        assert_eq!(status(b"\x16\x03\x01\x02\x00"), 400);
        assert_eq!(status(b"GET / FTP"), 400);
    }

    #[test]
    fn target_forms_must_fit_the_method() {
        let cases: &[(&[u8], u16)] = &[
            (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 200),
            (b"GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n", 200),
            (b"GET http://a HTTP/1.1\r\nHost: a\r\n\r\n", 200),
            (b"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 200),
            (b"CONNECT [::1]:443 HTTP/1.1\r\nHost: a\r\n\r\n", 200),
            (b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ];
        for (input, expected) in cases {
            assert_eq!(
                status(input),
                *expected,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn host_must_be_a_host_and_an_optional_port() {
        for good in [
            "a",
            "example.com",
            "example.com:8080",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "a-b_c~d.e",
            "%41b",
            "",
            "x:",
        ] {
            let head = format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n");
            assert_eq!(status(head.as_bytes()), 200, "{good:?}");
        }
        for bad in [
            "a b", "a/b", "<x>", "x:port", "a@b", "[::1", "[zz]", "[::1]x", "%4", "a:1:2",
        ] {
            let head = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
            assert_eq!(status(head.as_bytes()), 400, "{bad:?}");
        }
    }

    #[test]
    fn methods_are_known_and_not_allowed_or_unknown() {
        let method = |input: &[u8]| match parse(input, 1024, 100) {
            Parsed::Complete(request, _) => request.method,
            other => panic!("{other:?}"),
        };
        assert_eq!(method(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), Method::Get);
        assert_eq!(method(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"), Method::Head);
        for known in ["POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH"] {
            let head = format!("{known} / HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(method(head.as_bytes()), Method::NotAllowed, "{known}");
        }
        // Methods are case-sensitive (RFC 9110 §9.1).
        for unknown in ["get", "BREW", "PROPFIND"] {
            let head = format!("{unknown} / HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(method(head.as_bytes()), Method::Unknown, "{unknown}");
        }
    }

    #[test]
    fn persistence_follows_the_version_and_the_connection_header() {
        let keep = |input: &[u8]| match parse(input, 1024, 100) {
            Parsed::Complete(request, _) => request.keep_alive,
            other => panic!("{other:?}"),
        };
        assert!(keep(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!keep(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        ));
        assert!(!keep(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n"
        ));
        assert!(!keep(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(keep(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }

    /// Raw bytes above 0x7f are not URI characters (issue 21: httparse
    /// lets UTF-8 through), and a `%` in the path must start an escape.
    #[test]
    fn a_target_is_ascii_and_its_path_well_escaped() {
        let cases: &[(&[u8], u16)] = &[
            (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /a?q=\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /%C3%A9 HTTP/1.1\r\nHost: a\r\n\r\n", 200),
            (b"GET /% HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /%zz/b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET http://a/%g0 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /a%2fb%00 HTTP/1.1\r\nHost: a\r\n\r\n", 200),
            // The query is /echo's to judge (it names the parameter).
            (b"GET /echo?status=%zz HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ];
        for (input, expected) in cases {
            assert_eq!(status(input), *expected, "{}", input.escape_ascii());
        }
    }

    /// If-Match, If-None-Match and Range, as parsed.
    type Lists = (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

    fn conditions_of(input: &[u8]) -> Lists {
        match parse(input, 1024, 100) {
            Parsed::Complete(request, _) => {
                let c = request.conditions;
                (
                    c.if_match().map(Cow::into_owned),
                    c.if_none_match().map(Cow::into_owned),
                    c.range.map(<[u8]>::to_vec),
                )
            }
            other => panic!("{other:?}"),
        }
    }

    /// RFC 9110 §5.3: a list field on several lines is one list (issue 21:
    /// the last line alone was judged).
    #[test]
    fn if_match_and_if_none_match_on_several_lines_are_one_list() {
        let (if_match, if_none_match, _) = conditions_of(
            b"GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"a\"\r\nIf-Match: \"x\"\r\nif-none-match:  \"b\", \"c\" \r\nIF-MATCH: \"y\"\r\n\r\n",
        );
        assert_eq!(if_none_match.as_deref(), Some(&b"\"a\", \"b\", \"c\""[..]));
        assert_eq!(if_match.as_deref(), Some(&b"\"x\", \"y\""[..]));
        let (if_match, if_none_match, _) =
            conditions_of(b"GET / HTTP/1.1\r\nHost: a\r\nIf-Match: \"x\"\r\n\r\n");
        assert_eq!(if_match.as_deref(), Some(&b"\"x\""[..]));
        assert_eq!(if_none_match, None);
    }

    /// RFC 9110 §14.2 defines Range for GET only (issue 21: HEAD got 206
    /// headers).
    #[test]
    fn range_counts_for_get_and_not_for_head() {
        let (_, _, range) = conditions_of(b"GET / HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\n\r\n");
        assert_eq!(range.as_deref(), Some(&b"bytes=0-1"[..]));
        let (_, _, range) =
            conditions_of(b"HEAD / HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\n\r\n");
        assert_eq!(range, None);
    }

    #[test]
    fn leading_empty_lines_before_a_request_are_skipped() {
        assert_eq!(status(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
    }
}
