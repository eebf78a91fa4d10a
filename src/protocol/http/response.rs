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
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
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
        418 => "I'm a teapot",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
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
    write_head_framed(out, head, date, false);
}

/// [`write_head`], or with `chunked`, a head that frames its body with
/// `Transfer-Encoding: chunked` instead of a Content-Length (for a status
/// that has a body at all: [`has_body`] decides here too).
pub fn write_head_framed(out: &mut Vec<u8>, head: &Head<'_>, date: &[u8], chunked: bool) {
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
    if has_body(head.status) && chunked {
        out.extend_from_slice(b"\r\nTransfer-Encoding: chunked");
    } else if has_body(head.status) {
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
///
/// A re-render reuses the buffer: `clear` keeps its capacity and the
/// response has the same length every second (the date is fixed-width), so
/// only the very first render allocates.
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

/// The three-letter month names of IMF-fixdate and the Common Log Format.
const MONTHS: [[u8; 3]; 12] = [
    *b"Jan", *b"Feb", *b"Mar", *b"Apr", *b"May", *b"Jun", *b"Jul", *b"Aug", *b"Sep", *b"Oct",
    *b"Nov", *b"Dec",
];

/// The three-letter day names of IMF-fixdate, Sunday first.
const WEEKDAYS: [[u8; 3]; 7] = [
    *b"Sun", *b"Mon", *b"Tue", *b"Wed", *b"Thu", *b"Fri", *b"Sat",
];

/// 9999-12-31T23:59:59Z: the last second a four-digit year can show. A
/// clock set later than that is shown as this second rather than overflow
/// the formats (httpdate panics there).
const LAST_FOUR_DIGIT_SECOND: u64 = 253_402_300_799;

/// The Date header value (IMF-fixdate) and the access log's dates,
/// formatted at most once a second rather than once per request.
///
/// # No allocation
///
/// Formatting writes into fixed arrays: a new second costs some arithmetic
/// and no heap allocation, so the hello path allocates nothing at all in
/// the steady state, second changes included (tests/allocations.rs counts).
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
        let time = Civil::from_unix_seconds(second);
        self.imf = time.imf_fixdate();
        self.clf = time.common_log();
        self.iso = time.iso8601();
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

/// The IMF-fixdate of a Unix time (`Last-Modified`), clamped to year 9999.
pub fn imf_fixdate(unix_seconds: u64) -> [u8; 29] {
    Civil::from_unix_seconds(unix_seconds).imf_fixdate()
}

/// A UTC calendar date and time of day, to the second: the fields every
/// date format here is assembled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    /// 1970..=9999.
    year: u16,
    /// 1..=12.
    month: u8,
    /// 1..=31.
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    /// 0 is Sunday.
    weekday: u8,
}

impl Civil {
    /// The calendar fields of a Unix time (clamped to year 9999).
    ///
    /// The date comes from the day count with Howard Hinnant's
    /// `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>):
    /// shift the epoch to 0000-03-01 so that the leap day ends the year,
    /// then split into 400-year eras, years, and 153-day five-month runs.
    fn from_unix_seconds(seconds: u64) -> Civil {
        let seconds = seconds.min(LAST_FOUR_DIGIT_SECOND);
        let days = seconds / 86_400;
        let of_day = seconds % 86_400;
        let shifted = days + 719_468;
        let era = shifted / 146_097;
        let day_of_era = shifted % 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
        let month = if month_from_march < 10 {
            month_from_march + 3
        } else {
            month_from_march - 9
        };
        let year = era * 400 + year_of_era + u64::from(month <= 2);
        // Every value below is range-checked by the arithmetic above (the
        // clamp keeps the year to four digits); the fallbacks never apply.
        Civil {
            year: u16::try_from(year).unwrap_or(9999),
            month: u8::try_from(month).unwrap_or(12),
            day: u8::try_from(day).unwrap_or(31),
            hour: u8::try_from(of_day / 3_600).unwrap_or(23),
            minute: u8::try_from(of_day / 60 % 60).unwrap_or(59),
            second: u8::try_from(of_day % 60).unwrap_or(59),
            // 1970-01-01 was a Thursday.
            weekday: u8::try_from((days + 4) % 7).unwrap_or(0),
        }
    }

    fn month_name(&self) -> [u8; 3] {
        let index = usize::from(self.month).saturating_sub(1);
        MONTHS.get(index).copied().unwrap_or(*b"???")
    }

    /// RFC 9110 §5.6.7: `Sun, 06 Nov 1994 08:49:37 GMT`.
    fn imf_fixdate(&self) -> [u8; 29] {
        let [w0, w1, w2] = WEEKDAYS
            .get(usize::from(self.weekday))
            .copied()
            .unwrap_or(*b"???");
        let [d0, d1] = two_digits(self.day);
        let [m0, m1, m2] = self.month_name();
        let [y0, y1, y2, y3] = four_digits(self.year);
        let [h0, h1] = two_digits(self.hour);
        let [n0, n1] = two_digits(self.minute);
        let [s0, s1] = two_digits(self.second);
        [
            w0, w1, w2, b',', b' ', d0, d1, b' ', m0, m1, m2, b' ', y0, y1, y2, y3, b' ', h0, h1,
            b':', n0, n1, b':', s0, s1, b' ', b'G', b'M', b'T',
        ]
    }

    /// The Common Log Format's `06/Nov/1994:08:49:37 +0000`.
    fn common_log(&self) -> [u8; 26] {
        let [d0, d1] = two_digits(self.day);
        let [m0, m1, m2] = self.month_name();
        let [y0, y1, y2, y3] = four_digits(self.year);
        let [h0, h1] = two_digits(self.hour);
        let [n0, n1] = two_digits(self.minute);
        let [s0, s1] = two_digits(self.second);
        [
            d0, d1, b'/', m0, m1, m2, b'/', y0, y1, y2, y3, b':', h0, h1, b':', n0, n1, b':', s0,
            s1, b' ', b'+', b'0', b'0', b'0', b'0',
        ]
    }

    /// The log lines' `1994-11-06T08:49:37`.
    fn iso8601(&self) -> [u8; 19] {
        let [y0, y1, y2, y3] = four_digits(self.year);
        let [o0, o1] = two_digits(self.month);
        let [d0, d1] = two_digits(self.day);
        let [h0, h1] = two_digits(self.hour);
        let [n0, n1] = two_digits(self.minute);
        let [s0, s1] = two_digits(self.second);
        [
            y0, y1, y2, y3, b'-', o0, o1, b'-', d0, d1, b'T', h0, h1, b':', n0, n1, b':', s0, s1,
        ]
    }
}

/// `n` (below 100) as two ASCII digits.
fn two_digits(n: u8) -> [u8; 2] {
    [b'0' + n / 10 % 10, b'0' + n % 10]
}

/// `n` (below 10,000) as four ASCII digits.
fn four_digits(n: u16) -> [u8; 4] {
    let digit = |divisor: u16| b'0' + (n / divisor % 10) as u8;
    [digit(1000), digit(100), digit(10), digit(1)]
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

    /// httpdate is the reference for the header; the log formats must name
    /// the same day and time.
    #[test]
    fn every_date_agrees_with_httpdate_across_leap_years_and_centuries() {
        let mut cache = DateCache::default();
        // Every 7 hours 13 minutes 17 seconds from 1970 to 2110: each
        // weekday, month end, leap day (2000 is a leap year, 2100 is not)
        // and time of day comes up many times.
        let step = 7 * 3_600 + 13 * 60 + 17;
        let mut checked = 0;
        for second in (0..4_354_819_200u64).step_by(step) {
            cache.update(UNIX_EPOCH + Duration::from_secs(second));
            let expected = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(second));
            assert_eq!(cache.imf(), expected.as_bytes(), "second {second}");
            let (day, month, year, time) = (
                &expected[5..7],
                &expected[8..11],
                &expected[12..16],
                &expected[17..25],
            );
            assert_eq!(cache.clf(), format!("{day}/{month}/{year}:{time} +0000"));
            let number = 1 + MONTHS.iter().position(|m| m == month.as_bytes()).unwrap();
            assert_eq!(cache.iso(), format!("{year}-{number:02}-{day}T{time}"));
            checked += 1;
        }
        assert!(checked > 150_000);
        for (second, imf) in [
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (4_107_542_399, "Sun, 28 Feb 2100 23:59:59 GMT"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ] {
            cache.update(UNIX_EPOCH + Duration::from_secs(second));
            assert_eq!(cache.imf(), imf.as_bytes());
        }
    }

    /// A clock past year 9999 can't be written with four digits: the last
    /// second that can stands in, instead of a panic.
    #[test]
    fn a_clock_beyond_year_9999_shows_the_last_four_digit_second() {
        let mut cache = DateCache::default();
        cache.update(UNIX_EPOCH + Duration::from_secs(300_000_000_000));
        assert_eq!(cache.imf(), b"Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(cache.iso(), "9999-12-31T23:59:59");
        cache.update(UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!(cache.imf(), b"Thu, 01 Jan 1970 00:00:00 GMT");
    }

    /// A new second re-renders a canned response into the buffer it
    /// already has: same allocation, same capacity.
    #[test]
    fn last_modified_of_any_mtime_is_formatted_without_panic() {
        assert_eq!(&imf_fixdate(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&imf_fixdate(u64::MAX), b"Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn a_canned_response_is_re_rendered_in_place() {
        let head = Head {
            status: 200,
            content_type: Some("text/plain"),
            content_length: 3,
            persistence: Persistence::KeepAlive,
            extra: "",
        };
        let mut dates = DateCache::default();
        let mut canned = Canned::default();
        dates.update(UNIX_EPOCH + Duration::from_secs(784_111_777));
        let first = canned.get(&dates, &head, b"hi\n").as_ptr();
        let capacity = canned.bytes.capacity();
        for second in 784_111_778..784_111_800 {
            dates.update(UNIX_EPOCH + Duration::from_secs(second));
            assert_eq!(canned.get(&dates, &head, b"hi\n").as_ptr(), first);
            assert_eq!(canned.bytes.capacity(), capacity);
        }
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
