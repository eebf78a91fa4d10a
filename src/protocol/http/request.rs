//! Reading a request head: httparse tokenizes it, this module decides what
//! it means (persistence, body framing, expectations) and which errors it
//! earns, following RFC 9112.

use super::body::{Body, Chunked};

/// Header fields accepted per request; more is answered with 431. nginx and
/// hyper allow about 100; real browsers send 10 to 20.
pub const MAX_HEADERS: usize = 64;

/// The methods this server tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET: served.
    Get,
    /// HEAD: served like GET, without the body.
    Head,
    /// Any other well-formed method: 405.
    Other,
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
    pub body: Option<Body>,
    /// `Expect: 100-continue` on a request with a body.
    pub expect_continue: bool,
    /// The headers static files answer to (conditionals and ranges).
    pub conditions: Conditions<'a>,
}

/// The request headers that decide a static file's answer: 412
/// Precondition Failed, 304 Not Modified, 206 Partial Content or the whole
/// file. Borrowed from the input. A field sent twice counts by its last
/// line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    /// `If-Match`.
    pub if_match: Option<&'a [u8]>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a [u8]>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a [u8]>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a [u8]>,
    /// `Range`.
    pub range: Option<&'a [u8]>,
    /// `If-Range`.
    pub if_range: Option<&'a [u8]>,
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
            if_match: own(conditions.if_match),
            if_unmodified_since: own(conditions.if_unmodified_since),
            if_none_match: own(conditions.if_none_match),
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
        }
    }
}

/// The outcome of looking at the start of the input.
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
    // Uninitialised header slots: zeroing 64 of them (2 KiB) for every
    // request cost more than parsing the few a request really has.
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let head_len = match request.parse_with_uninit_headers(input, &mut headers) {
        Ok(httparse::Status::Complete(len)) if len > max_head => return Parsed::Error(431),
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if input.len() >= max_head => return Parsed::Error(431),
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Error(431),
        Err(httparse::Error::Version) if looks_like_other_http_version(input) => {
            return Parsed::Error(505);
        }
        Err(_) => return Parsed::Error(400),
    };
    let (Some(method_text), Some(target), Some(minor_version)) =
        (request.method, request.path, request.version)
    else {
        return Parsed::Error(400);
    };
    let method = match method_text {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => Method::Other,
    };

    let mut hosts = 0;
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = TransferEncoding::None;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;
    let mut conditions = Conditions::default();
    for header in request.headers.iter() {
        let name = header.name;
        let value = header.value;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            // Repeated Content-Length is allowed only if every copy agrees
            // (RFC 9112 §6.3); anything but plain digits is invalid.
            let Some(length) = parse_content_length(value) else {
                return Parsed::Error(400);
            };
            if content_length.is_some_and(|previous| previous != length) {
                return Parsed::Error(400);
            }
            content_length = Some(length);
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
            conditions.if_match = Some(trim(value));
        } else if name.eq_ignore_ascii_case("if-unmodified-since") {
            conditions.if_unmodified_since = Some(trim(value));
        } else if name.eq_ignore_ascii_case("if-none-match") {
            conditions.if_none_match = Some(trim(value));
        } else if name.eq_ignore_ascii_case("if-modified-since") {
            conditions.if_modified_since = Some(trim(value));
        } else if name.eq_ignore_ascii_case("range") {
            conditions.range = Some(trim(value));
        } else if name.eq_ignore_ascii_case("if-range") {
            conditions.if_range = Some(trim(value));
        }
    }

    // HTTP/1.1 requires exactly one Host; a second one is always an error.
    if hosts > 1 || (minor_version == 1 && hosts == 0) {
        return Parsed::Error(400);
    }
    let body = match (transfer_encoding, content_length) {
        // Both framings at once is the classic request-smuggling vector.
        (TransferEncoding::Chunked | TransferEncoding::Unsupported, Some(_)) => {
            return Parsed::Error(400);
        }
        // Transfer-Encoding did not exist in HTTP/1.0 (RFC 9112 §6.1).
        (TransferEncoding::Chunked | TransferEncoding::Unsupported, None) if minor_version == 0 => {
            return Parsed::Error(400);
        }
        (TransferEncoding::Unsupported, None) => return Parsed::Error(501),
        (TransferEncoding::Chunked, None) => Some(Body::Chunked(Chunked::default())),
        (TransferEncoding::None, Some(length)) if length > max_body => return Parsed::Error(413),
        (TransferEncoding::None, Some(0) | None) => None,
        (TransferEncoding::None, Some(length)) => Some(Body::Length(length)),
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
        head_len,
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
    let value = trim(value);
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

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

/// httparse only knows HTTP/1.0 and 1.1. A request line that ends in
/// another `HTTP/x.y` deserves 505, not 400.
fn looks_like_other_http_version(input: &[u8]) -> bool {
    let line_end = input
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(input.len());
    let line = input.get(..line_end).unwrap_or_default();
    let Some(at) = line.windows(6).rposition(|w| w == b" HTTP/") else {
        return false;
    };
    line.get(at + 6..)
        .is_some_and(|v| v.first().is_some_and(u8::is_ascii_digit))
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
    fn heads_over_the_limit_are_431_complete_or_not() {
        let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "x".repeat(2000));
        assert_eq!(status(long.as_bytes()), 431);
        assert_eq!(status(&long.as_bytes()[..1500]), 431);
        let many: String = (0..70).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(
            status(format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n").as_bytes()),
            431
        );
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

    #[test]
    fn leading_empty_lines_before_a_request_are_skipped() {
        assert_eq!(status(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
    }
}
