//! Writing responses: status line, headers, body, straight into the
//! connection's output buffer, with no allocation.

use std::time::{SystemTime, UNIX_EPOCH};

/// The headers that vary between responses; the rest (Server, Date) are the
/// same for all.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Content-Type of the body, if there is one.
    pub content_type: Option<&'a str>,
    /// Content-Length: the body's length (also sent for HEAD, where the
    /// body itself is left out). Not sent at all for a status that has no
    /// body (see [`has_body`]).
    pub content_length: u64,
    /// Persistence, and how to say it (see [`Persistence`]).
    pub persistence: Persistence,
    /// Extra header lines, each ending in CRLF (e.g. `Allow: GET, HEAD\r\n`).
    pub extra: &'a str,
}

/// What the response says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// HTTP/1.1 keep-alive: nothing to say, it is the default.
    KeepAlive,
    /// HTTP/1.0 keep-alive: must be said (`Connection: keep-alive`), or a
    /// 1.0 client such as `ab -k` waits for a close that never comes.
    KeepAlive10,
    /// `Connection: close`: the connection closes after this response.
    Close,
}

/// The reason phrase for the statuses this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        414 => "URI Too Long",
        408 => "Request Timeout",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Whether a response with this status has a body at all. 1xx, 204 and
/// 304 never do, whatever their headers say (RFC 9112 §6.3), and none of
/// them carries a Content-Length: RFC 9110 §8.6 forbids it for 1xx and 204,
/// and for 304 allows only the length the 200 would have had. Deciding
/// this here, in the module that writes every response, means no handler
/// can get it wrong (hyper's `role.rs` does the same).
pub fn has_body(status: u16) -> bool {
    !matches!(status, 100..=199 | 204 | 304)
}

/// Whether a response's body goes on the wire: only if its status has one
/// ([`has_body`]) and the request was not HEAD (RFC 9110 §9.3.2: the same
/// headers as for GET, Content-Length included, and no body).
pub fn sends_body(status: u16, head_only: bool) -> bool {
    !head_only && has_body(status)
}

/// Append a whole response held in memory: the head, then the body if
/// [`sends_body`] says so. Returns the body bytes written (for the access
/// log).
pub fn write_response(
    out: &mut Vec<u8>,
    head: &Head<'_>,
    date: &[u8],
    body: &[u8],
    head_only: bool,
) -> u64 {
    write_head(out, head, date);
    if sends_body(head.status, head_only) {
        out.extend_from_slice(body);
        body.len() as u64
    } else {
        0
    }
}

/// Append a status line and headers (and the blank line that ends them).
pub fn write_head(out: &mut Vec<u8>, head: &Head<'_>, date: &[u8]) {
    let mut number = itoa::Buffer::new();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(number.format(head.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(head.status).as_bytes());
    out.extend_from_slice(b"\r\nServer: reactord\r\nDate: ");
    out.extend_from_slice(date);
    if let Some(content_type) = head.content_type {
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(content_type.as_bytes());
    }
    if has_body(head.status) {
        out.extend_from_slice(b"\r\nContent-Length: ");
        out.extend_from_slice(number.format(head.content_length).as_bytes());
    }
    out.extend_from_slice(match head.persistence {
        Persistence::KeepAlive => b"\r\n".as_slice(),
        Persistence::KeepAlive10 => b"\r\nConnection: keep-alive\r\n",
        Persistence::Close => b"\r\nConnection: close\r\n",
    });
    out.extend_from_slice(head.extra.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A whole response that changes only with the Date header: rendered once a
/// second, then copied with a single memcpy per request instead of being
/// assembled from a dozen small pieces. The hello page keeps one, since it
/// is the response a benchmark asks for millions of times.
#[derive(Debug, Default)]
pub struct Canned {
    /// The `DateCache` second it was rendered for.
    second: Option<u64>,
    bytes: Vec<u8>,
}

impl Canned {
    /// The response for `dates`' current second, re-rendered if the second
    /// has changed since the last call. Callers pass the same head and body
    /// every time: only the date is checked.
    pub fn get(&mut self, dates: &DateCache, head: &Head<'_>, body: &[u8]) -> &[u8] {
        if self.second != Some(dates.second) {
            self.second = Some(dates.second);
            self.bytes.clear();
            write_head(&mut self.bytes, head, dates.imf());
            self.bytes.extend_from_slice(body);
        }
        &self.bytes
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The Date header value (IMF-fixdate) and the access log's date, formatted
/// at most once a second rather than once per request.
#[derive(Debug)]
pub struct DateCache {
    second: u64,
    imf: [u8; 29],
    clf: [u8; 26],
    iso: [u8; 19],
}

impl Default for DateCache {
    fn default() -> DateCache {
        let mut cache = DateCache {
            second: u64::MAX,
            imf: [b' '; 29],
            clf: [b' '; 26],
            iso: [b' '; 19],
        };
        cache.update(UNIX_EPOCH);
        cache
    }
}

impl DateCache {
    /// Bring the cache up to `now` (cheap when the second hasn't changed).
    pub fn update(&mut self, now: SystemTime) {
        let second = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if second == self.second {
            return;
        }
        self.second = second;
        // "Sun, 06 Nov 1994 08:49:37 GMT": always 29 bytes.
        let imf = httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(second));
        if let Ok(bytes) = <[u8; 29]>::try_from(imf.as_bytes()) {
            self.imf = bytes;
        }
        // The Common Log Format wants "06/Nov/1994:08:49:37 +0000": the same
        // fields in another order.
        let f = |range: std::ops::Range<usize>| self.imf.get(range).unwrap_or_default();
        let clf = [
            f(5..7),
            b"/",
            f(8..11),
            b"/",
            f(12..16),
            b":",
            f(17..25),
            b" +0000",
        ]
        .concat();
        if let Ok(bytes) = <[u8; 26]>::try_from(clf.as_slice()) {
            self.clf = bytes;
        }
        // And the log lines' "1994-11-06T08:49:37": the month as a number.
        let month = MONTHS
            .iter()
            .position(|name| f(8..11) == name.as_bytes())
            .map_or(0, |index| index + 1);
        let month = [b'0' + month as u8 / 10, b'0' + month as u8 % 10];
        let iso = [f(12..16), b"-", &month, b"-", f(5..7), b"T", f(17..25)].concat();
        if let Ok(bytes) = <[u8; 19]>::try_from(iso.as_slice()) {
            self.iso = bytes;
        }
    }

    /// The Date header value.
    pub fn imf(&self) -> &[u8] {
        &self.imf
    }

    /// The access log's timestamp.
    pub fn clf(&self) -> &str {
        std::str::from_utf8(&self.clf).unwrap_or("-")
    }

    /// The log line's timestamp, to the second: `1994-11-06T08:49:37`.
    pub fn iso(&self) -> &str {
        std::str::from_utf8(&self.iso).unwrap_or("-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_canned_response_is_the_assembled_one_and_follows_the_date() {
        let head = Head {
            status: 200,
            content_type: Some("text/plain"),
            content_length: 3,
            persistence: Persistence::KeepAlive,
            extra: "",
        };
        let mut dates = DateCache::default();
        let mut canned = Canned::default();
        for second in [784_111_777, 784_111_777, 784_111_778] {
            dates.update(UNIX_EPOCH + Duration::from_secs(second));
            let mut assembled = Vec::new();
            write_head(&mut assembled, &head, dates.imf());
            assembled.extend_from_slice(b"hi\n");
            assert_eq!(canned.get(&dates, &head, b"hi\n"), assembled.as_slice());
        }
    }

    #[test]
    fn dates_are_formatted_for_the_header_and_the_log() {
        let mut cache = DateCache::default();
        cache.update(UNIX_EPOCH + Duration::from_secs(784_111_777));
        assert_eq!(cache.imf(), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(cache.clf(), "06/Nov/1994:08:49:37 +0000");
        assert_eq!(cache.iso(), "1994-11-06T08:49:37");
        cache.update(UNIX_EPOCH + Duration::from_secs(1_796_083_200));
        assert_eq!(cache.iso(), "2026-12-01T00:00:00");
    }

    #[test]
    fn a_304_has_no_content_length_whatever_the_length_given() {
        let mut out = Vec::new();
        let head = Head {
            status: 304,
            content_type: None,
            content_length: 20,
            persistence: Persistence::KeepAlive,
            extra: "ETag: \"x\"\r\n",
        };
        write_head(&mut out, &head, b"DATE");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 304 Not Modified\r\nServer: reactord\r\nDate: DATE\r\nETag: \"x\"\r\n\r\n"
        );
    }

    #[test]
    fn a_head_has_status_server_date_type_length_and_persistence() {
        let mut out = Vec::new();
        let head = Head {
            status: 405,
            content_type: Some("text/plain"),
            content_length: 12,
            persistence: Persistence::KeepAlive10,
            extra: "Allow: GET, HEAD\r\n",
        };
        write_head(&mut out, &head, b"DATE");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 405 Method Not Allowed\r\nServer: reactord\r\nDate: DATE\r\nContent-Type: text/plain\r\n\
             Content-Length: 12\r\nConnection: keep-alive\r\nAllow: GET, HEAD\r\n\r\n"
        );
    }
}
