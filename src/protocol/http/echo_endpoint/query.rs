//! The `/echo` query string: what a request asks for, parsed and checked
//! before anything is answered, and the draw that turns its distributions
//! into one plan.
//!
//! Pure functions of the query text and the limits, so every rule here is a
//! unit test (and a property: no query, however hostile, panics).
//!
//! # Grammar
//!
//! ```text
//! query     = param *( "&" param )           ; empty pieces are skipped
//! param     = name "=" value                 ; value percent-decoded, "+" is a space
//! status    = dist(CODE)                     ; 200..=599, the rest: 200
//! delay     = dist(DUR)                      ; the rest: no delay; clamped to --max-echo-delay
//! size      = dist(N)                        ; at most --max-echo-size; the rest: echo the body
//! close     = "1" / "true" / "0" / "false"
//! header    = NAME ":" VALUE                 ; repeatable; NAME a token, VALUE no control characters
//! chunks    = K                              ; 1..=MAX_CHUNKS, needs size
//! interval  = DUR                            ; needs chunks; at least 1ms; the whole drip
//!                                              ; clamped to --max-echo-delay (see `pace`)
//! dist(T)   = T / T ":" PERCENT *( "," T ":" PERCENT )   ; percentages add up to ≤ 100
//! ```
//!
//! A parameter given twice (other than `header`) is an error rather than a
//! silent "last one wins": a script with a typo should hear about it.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// Most chunks a `chunks=` may ask for: each costs a size line and, with
/// `interval`, one timer wake-up; a million is more than any drip needs.
pub const MAX_CHUNKS: u64 = 1 << 20;

/// The shortest pause between the chunks of a drip: see `EchoQuery::pace`.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// Most entries in one distribution: enough for any realistic mix, few
/// enough that the linear draw stays trivial.
pub const MAX_DIST_ENTRIES: usize = 64;

/// Most `header=` parameters one request may add.
pub const MAX_HEADERS: usize = 64;

/// What an /echo query may ask for at most (--max-echo-delay,
/// --max-echo-size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoLimits {
    /// Delays (and chunk intervals) longer than this are cut to it.
    pub max_delay: Duration,
    /// A `size=` above this is a 400.
    pub max_size: u64,
}

/// A parameter that could not be used: which one, and why. Shown to the
/// client in the body of the 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// The parameter's name, as sent (decoded).
    pub param: String,
    /// What is wrong with it.
    pub why: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "parameter {:?}: {}", self.param, self.why)
    }
}

impl QueryError {
    fn new(param: &str, why: impl Into<String>) -> QueryError {
        QueryError {
            param: param.to_string(),
            why: why.into(),
        }
    }
}

/// A value, or values with the percentage of requests that get each.
#[derive(Debug, Clone, PartialEq)]
pub enum Dist<T> {
    /// Every request gets this value.
    One(T),
    /// Each value with its cumulative percentage (the last at most 100):
    /// a draw `r` in `[0, 100)` gets the first value whose bound exceeds
    /// it; beyond the last bound, the parameter's default.
    Many(Vec<(T, f64)>),
}

impl<T: Copy> Dist<T> {
    /// The value for a draw `r` in `[0, 100)`; None: the default.
    pub fn pick(&self, r: f64) -> Option<T> {
        match self {
            Dist::One(value) => Some(*value),
            Dist::Many(entries) => entries
                .iter()
                .find(|(_, bound)| r < *bound)
                .map(|&(value, _)| value),
        }
    }

    /// True when requests may get different values.
    fn is_random(&self) -> bool {
        matches!(self, Dist::Many(_))
    }
}

/// Everything an /echo query asked for, checked, before the draw.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EchoQuery {
    /// `status=`; None: 200.
    pub status: Option<Dist<u16>>,
    /// `delay=`, already clamped; None: no delay.
    pub delay: Option<Dist<Duration>>,
    /// `size=`; None: echo the request body.
    pub size: Option<Dist<u64>>,
    /// `close=1`.
    pub close: bool,
    /// `header=NAME:VALUE`, rendered as header lines (`Name: value\r\n`).
    pub headers: String,
    /// `chunks=`.
    pub chunks: Option<u64>,
    /// `interval=`, already clamped.
    pub interval: Option<Duration>,
}

/// One request's answer: the query with every distribution drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The status to answer with.
    pub status: u16,
    /// How long to wait before answering (zero: at once).
    pub delay: Duration,
    /// A generated body of this many bytes; None: echo the request body.
    pub size: Option<u64>,
    /// Answer with `Connection: close`, and close.
    pub close: bool,
    /// Send the generated body chunked, in this many chunks.
    pub chunks: Option<u64>,
    /// The pause between chunks (zero: none).
    pub interval: Duration,
}

impl EchoQuery {
    /// Parse and check `query` (the text after `?`, still percent-encoded).
    pub fn parse(query: &str, limits: &EchoLimits) -> Result<EchoQuery, QueryError> {
        let mut parsed = EchoQuery::default();
        // Which of the known names were given (bit i: KNOWN[i]).
        let mut seen = 0u32;
        for piece in query.split('&').filter(|piece| !piece.is_empty()) {
            let (raw_name, raw_value) = piece.split_once('=').unwrap_or((piece, ""));
            let name = decode(raw_name).map_err(|why| QueryError::new(raw_name, why))?;
            let value = decode(raw_value).map_err(|why| QueryError::new(&name, why))?;
            if let Some(bit) = KNOWN.iter().position(|known| *known == name)
                && name != "header"
            {
                if seen & (1 << bit) != 0 {
                    return Err(QueryError::new(&name, "given more than once"));
                }
                seen |= 1 << bit;
            }
            parsed.apply(&name, &value, limits)?;
        }
        parsed.check_combinations()?;
        parsed.pace(limits)?;
        Ok(parsed)
    }

    /// Take in one `name=value`.
    fn apply(&mut self, name: &str, value: &str, limits: &EchoLimits) -> Result<(), QueryError> {
        let fail = |why: String| QueryError::new(name, why);
        match name {
            "status" => self.status = Some(parse_dist(value, parse_status).map_err(fail)?),
            "delay" => {
                let clamp = |text: &str| parse_echo_duration(text).map(|d| d.min(limits.max_delay));
                self.delay = Some(parse_dist(value, clamp).map_err(fail)?);
            }
            "size" => {
                let max = limits.max_size;
                let size = |text: &str| parse_size(text, max);
                self.size = Some(parse_dist(value, size).map_err(fail)?);
            }
            "close" => {
                self.close = match value {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => return Err(fail(format!("{value:?} is not 1, true, 0 or false"))),
                }
            }
            "header" => self.add_header(value).map_err(fail)?,
            "chunks" => {
                let chunks = parse_u64(value)?;
                if !(1..=MAX_CHUNKS).contains(&chunks) {
                    return Err(fail(format!("{chunks} is not in 1..={MAX_CHUNKS}")));
                }
                self.chunks = Some(chunks);
            }
            "interval" => {
                self.interval = Some(
                    parse_echo_duration(value)
                        .map_err(fail)?
                        .min(limits.max_delay),
                )
            }
            _ => {
                return Err(fail(format!(
                    "unknown parameter (known: {})",
                    KNOWN.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// `header=NAME:VALUE`: checked and rendered as a header line.
    fn add_header(&mut self, value: &str) -> Result<(), String> {
        let Some((name, field)) = value.split_once(':') else {
            return Err(format!("{value:?} is not NAME:VALUE"));
        };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(format!("{name:?} is not a header name (a token)"));
        }
        // CR, LF and NUL would end or break the header; the other control
        // characters are refused too, as RFC 9110's field-value grammar
        // (and a strict client such as h11) requires.
        if field.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(format!(
                "the value of {name} holds a control character (CR, LF, NUL or another)"
            ));
        }
        // The framing headers are the server's: a second Content-Length or
        // a Transfer-Encoding would make the response unreadable.
        for framing in ["content-length", "transfer-encoding", "connection"] {
            if name.eq_ignore_ascii_case(framing) {
                return Err(format!(
                    "{name} is set by the server (use close=1 for Connection)"
                ));
            }
        }
        if self.headers.matches("\r\n").count() >= MAX_HEADERS {
            return Err(format!("more than {MAX_HEADERS} headers"));
        }
        self.headers.push_str(name);
        self.headers.push_str(": ");
        self.headers.push_str(field.trim_matches([' ', '\t']));
        self.headers.push_str("\r\n");
        Ok(())
    }

    /// Rules between parameters.
    fn check_combinations(&self) -> Result<(), QueryError> {
        if self.chunks.is_some() && self.size.is_none() {
            return Err(QueryError::new("chunks", "needs size= (chunks of what?)"));
        }
        if self.interval.is_some() && self.chunks.is_none() {
            return Err(QueryError::new(
                "interval",
                "needs chunks= (the pause is between chunks)",
            ));
        }
        Ok(())
    }

    /// Bound a drip, so that one request can't hold a connection (or wake
    /// the loop) for longer than any delay may: the interval is at least
    /// [`MIN_INTERVAL`] (the loop's timers have millisecond resolution; a
    /// shorter one would only wake it more often for nothing), and the
    /// whole drip, `chunks - 1` intervals, lasts at most `--max-echo-delay`
    /// (the interval is cut to fit, as a delay is). A drip that can't fit
    /// even at the shortest interval is refused: fewer chunks are needed.
    fn pace(&mut self, limits: &EchoLimits) -> Result<(), QueryError> {
        let (Some(interval), Some(chunks)) = (self.interval, self.chunks) else {
            return Ok(());
        };
        if interval.is_zero() {
            return Ok(());
        }
        let pauses = u32::try_from(chunks.saturating_sub(1)).unwrap_or(u32::MAX);
        let Some(longest) = limits.max_delay.checked_div(pauses) else {
            // One chunk: no pause at all.
            return Ok(());
        };
        if longest < MIN_INTERVAL {
            return Err(QueryError::new(
                "interval",
                format!(
                    "{chunks} chunks at least {MIN_INTERVAL:?} apart would last longer than \
                     --max-echo-delay ({:?}); ask for fewer chunks",
                    limits.max_delay
                ),
            ));
        }
        self.interval = Some(interval.clamp(MIN_INTERVAL, longest));
        Ok(())
    }

    /// True when answers differ from one request to the next (a draw is
    /// needed).
    pub fn is_random(&self) -> bool {
        self.status.as_ref().is_some_and(Dist::is_random)
            || self.delay.as_ref().is_some_and(Dist::is_random)
            || self.size.as_ref().is_some_and(Dist::is_random)
    }

    /// Draw one plan. `draw` returns a number in `[0, 100)`; it is called
    /// once per distribution, so the parameters are independent.
    pub fn plan(&self, mut draw: impl FnMut() -> f64) -> Plan {
        let status = self.status.as_ref().and_then(|d| d.pick(draw()));
        let delay = self.delay.as_ref().and_then(|d| d.pick(draw()));
        let size = self.size.as_ref().and_then(|d| d.pick(draw()));
        let (status, delay) = (status.unwrap_or(200), delay.unwrap_or(Duration::ZERO));
        Plan {
            status,
            delay,
            size,
            close: self.close,
            chunks: self.chunks.filter(|_| size.is_some()),
            interval: self.interval.unwrap_or(Duration::ZERO),
        }
    }
}

/// `VALUE` or `VALUE:PERCENT,VALUE:PERCENT,...`.
fn parse_dist<T>(text: &str, value: impl Fn(&str) -> Result<T, String>) -> Result<Dist<T>, String> {
    if !text.contains(':') {
        return value(text).map(Dist::One);
    }
    let mut entries = Vec::new();
    let mut total = 0.0;
    for entry in text.split(',') {
        let Some((v, percent)) = entry.rsplit_once(':') else {
            return Err(format!("{entry:?} is not VALUE:PERCENT"));
        };
        let percent: f64 = match percent.parse() {
            Ok(p)
                if (0.0..=100.0).contains(&p)
                    && percent.bytes().all(|b| b.is_ascii_digit() || b == b'.') =>
            {
                p
            }
            _ => return Err(format!("{percent:?} is not a percentage (0 to 100)")),
        };
        total += percent;
        if total > 100.0 + 1e-9 {
            return Err("the percentages add up to more than 100".into());
        }
        if entries.len() >= MAX_DIST_ENTRIES {
            return Err(format!("more than {MAX_DIST_ENTRIES} values"));
        }
        entries.push((value(v)?, total));
    }
    Ok(Dist::Many(entries))
}

fn parse_status(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(code) if (200..=599).contains(&code) && text.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(code)
        }
        _ => Err(format!("{text:?} is not a status from 200 to 599")),
    }
}

fn parse_size(text: &str, max: u64) -> Result<u64, String> {
    let size = parse_digits(text).ok_or_else(|| format!("{text:?} is not a byte count"))?;
    if size > max {
        return Err(format!("{size} is more than --max-echo-size ({max})"));
    }
    Ok(size)
}

fn parse_u64(text: &str) -> Result<u64, QueryError> {
    parse_digits(text).ok_or_else(|| QueryError::new("chunks", format!("{text:?} is not a count")))
}

/// Decimal digits only (no sign, no space), without overflow.
fn parse_digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A duration as on the command line (`250ms`, `10s`, `2m`, `1h`, a bare
/// number of seconds) or in microseconds (`500us`).
pub fn parse_echo_duration(text: &str) -> Result<Duration, String> {
    if !text.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return Err(format!("{text:?} is not a duration (try 250ms, 1s, 500us)"));
    }
    if let Some(micros) = text.strip_suffix("us") {
        let value: f64 = micros
            .parse()
            .ok()
            .filter(|_| micros.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
            .ok_or_else(|| format!("{text:?} is not a duration"))?;
        return Duration::try_from_secs_f64(value / 1e6)
            .map_err(|_| format!("{text:?} is out of range"));
    }
    crate::config::parse_duration(text)
}

/// The parameters there are.
const KNOWN: [&str; 7] = [
    "status", "delay", "size", "close", "header", "chunks", "interval",
];

/// Percent-decode a query piece, `+` as a space (what browsers, curl
/// `--data-urlencode` and Go's `url.ParseQuery`, fortio's parser, agree
/// on). The result must be UTF-8. Borrowed when there is nothing to
/// decode (the common case: no allocation).
fn decode(text: &str) -> Result<Cow<'_, str>, String> {
    let bytes = text.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || b == b'+') {
        return Ok(Cow::Borrowed(text));
    }
    if bytes.contains(&b'%') {
        let mut chars = bytes.split(|&b| b == b'%').skip(1);
        if chars.any(|rest| rest.len() < 2 || !rest.iter().take(2).all(u8::is_ascii_hexdigit)) {
            return Err(format!("{text:?} has a % not followed by two hex digits"));
        }
    }
    let plus_as_space = text.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8()
        .map(|decoded| Cow::Owned(decoded.into_owned()))
        .map_err(|_| format!("{text:?} does not decode to UTF-8"))
}

/// A token character (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: EchoLimits = EchoLimits {
        max_delay: Duration::from_secs(10),
        max_size: 1 << 20,
    };

    fn parse(query: &str) -> Result<EchoQuery, QueryError> {
        EchoQuery::parse(query, &LIMITS)
    }

    fn err(query: &str) -> QueryError {
        parse(query).expect_err(query)
    }

    #[test]
    fn single_values_apply_to_every_request() {
        let q = parse("status=503&delay=250ms&size=10&close=1&header=X-A:b").unwrap();
        let plan = q.plan(|| 99.9);
        assert_eq!(plan.status, 503);
        assert_eq!(plan.delay, Duration::from_millis(250));
        assert_eq!(plan.size, Some(10));
        assert!(plan.close);
        assert_eq!(q.headers, "X-A: b\r\n");
        assert!(!q.is_random());
    }

    #[test]
    fn an_empty_query_is_a_plain_echo() {
        for query in ["", "&", "&&"] {
            let plan = parse(query).unwrap().plan(|| 0.0);
            assert_eq!(plan.status, 200);
            assert_eq!(plan.delay, Duration::ZERO);
            assert_eq!(plan.size, None);
            assert!(!plan.close);
        }
    }

    #[test]
    fn a_distribution_picks_by_cumulative_percentage_and_the_rest_is_the_default() {
        let q = parse("status=503:10,429:5.5").unwrap();
        assert!(q.is_random());
        let status = |r: f64| q.plan(|| r).status;
        assert_eq!(status(0.0), 503);
        assert_eq!(status(9.99), 503);
        assert_eq!(status(10.0), 429);
        assert_eq!(status(15.49), 429);
        assert_eq!(status(15.5), 200);
        assert_eq!(status(99.99), 200);
        let q = parse("delay=1s:100").unwrap();
        assert_eq!(q.plan(|| 99.99).delay, Duration::from_secs(1));
        let q = parse("size=5:50").unwrap();
        assert_eq!(q.plan(|| 60.0).size, None, "the rest echoes");
    }

    #[test]
    fn delays_and_intervals_are_clamped_to_the_limit() {
        let plan = parse("delay=1h&size=3&chunks=2&interval=99s")
            .unwrap()
            .plan(|| 0.0);
        assert_eq!(plan.delay, LIMITS.max_delay);
        assert_eq!(plan.interval, LIMITS.max_delay);
        assert_eq!(
            parse("delay=30s:50").unwrap().plan(|| 0.0).delay,
            LIMITS.max_delay
        );
    }

    /// A drip lasts no longer than a delay may, and wakes the loop at most
    /// once a millisecond: one request can't hold a connection past the
    /// limit or keep the loop busy (found by review: chunks=1048576 with
    /// interval=10s held a connection for 121 days; interval=1us woke the
    /// loop every millisecond for a million chunks).
    #[test]
    fn a_drip_is_bounded_by_the_delay_limit_and_a_millisecond() {
        let interval = |query: &str| parse(query).ok().map(|q| q.plan(|| 0.0).interval);
        // 10 chunks, 9 pauses of at most 10s / 9.
        assert_eq!(
            interval("size=10&chunks=10&interval=5s"),
            Some(LIMITS.max_delay / 9)
        );
        assert_eq!(
            interval("size=10&chunks=10&interval=1us"),
            Some(MIN_INTERVAL)
        );
        assert_eq!(
            interval("size=10&chunks=10&interval=100ms"),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            interval("size=10&chunks=1&interval=1h"),
            Some(LIMITS.max_delay)
        );
        assert_eq!(
            interval("size=10&chunks=10&interval=0s"),
            Some(Duration::ZERO)
        );
        let refused = parse("size=1048576&chunks=1048576&interval=10s").unwrap_err();
        assert_eq!(refused.param, "interval", "{refused}");
    }

    #[test]
    fn durations_take_the_command_line_forms_and_microseconds() {
        for (text, expected) in [
            ("250ms", Duration::from_millis(250)),
            ("2", Duration::from_secs(2)),
            ("1.5s", Duration::from_millis(1500)),
            ("500us", Duration::from_micros(500)),
            ("1m", Duration::from_secs(60)),
        ] {
            assert_eq!(parse_echo_duration(text), Ok(expected), "{text}");
        }
        for bad in ["", "-1s", "1x", "us", "1.2.3us", "+1s", " 1s"] {
            assert!(parse_echo_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_are_percent_decoded_with_plus_as_space() {
        let q = parse("header=X-Msg%3Ahello+world%21&status=%35%30%33").unwrap();
        assert_eq!(q.headers, "X-Msg: hello world!\r\n");
        assert_eq!(q.plan(|| 0.0).status, 503);
        let q = parse("status=503%3A100").unwrap();
        assert_eq!(q.plan(|| 50.0).status, 503);
    }

    #[test]
    fn every_malformed_parameter_is_named_with_a_reason() {
        for (query, param, why) in [
            ("bogus=1", "bogus", "unknown parameter"),
            ("status=99", "status", "200 to 599"),
            ("status=600", "status", "200 to 599"),
            ("status=abc", "status", "200 to 599"),
            ("status=503:101", "status", "percentage"),
            ("status=503:60,500:50", "status", "more than 100"),
            ("status=503:x", "status", "percentage"),
            ("status=503:-1", "status", "percentage"),
            ("status=503:10,500", "status", "VALUE:PERCENT"),
            ("delay=soon", "delay", "duration"),
            ("delay=1s:50,x:10", "delay", "duration"),
            ("size=-1", "size", "byte count"),
            ("size=2000000", "size", "--max-echo-size"),
            ("size=99999999999999999999999", "size", "byte count"),
            ("close=yes", "close", "not 1"),
            ("header=NoColon", "header", "NAME:VALUE"),
            ("header=Bad%20Name:v", "header", "token"),
            ("header=:v", "header", "token"),
            ("header=X:a%0Db", "header", "control character"),
            ("header=X:a%0Ab", "header", "control character"),
            ("header=X:a%00b", "header", "control character"),
            ("header=X:a%01b", "header", "control character"),
            ("header=X:a%7Fb", "header", "control character"),
            ("header=Content-Length:5", "header", "set by the server"),
            ("chunks=4", "chunks", "needs size"),
            ("size=10&chunks=0", "chunks", "1..="),
            ("size=10&chunks=x", "chunks", "count"),
            ("size=1&interval=1s", "interval", "needs chunks"),
            ("size=1&chunks=1&interval=x", "interval", "duration"),
            ("status=200&status=500", "status", "more than once"),
            ("status=%zz", "status", "two hex digits"),
            ("status=%ff", "status", "UTF-8"),
        ] {
            let error = err(query);
            assert_eq!(error.param, param, "{query}");
            assert!(error.why.contains(why), "{query}: {}", error.why);
        }
    }

    #[test]
    fn headers_repeat() {
        let q = parse("header=A:1&header=B:%202%20").unwrap();
        assert_eq!(q.headers, "A: 1\r\nB: 2\r\n");
    }

    proptest! {
        /// Whatever the query, parsing answers (Ok or a named error) and
        /// drawing a plan from what parsed stays within the limits.
        #[test]
        fn parsing_never_panics(query in ".{0,80}", r in 0.0f64..100.0) {
            if let Ok(q) = parse(&query) {
                let plan = q.plan(|| r);
                prop_assert!((200..=599).contains(&plan.status));
                prop_assert!(plan.delay <= LIMITS.max_delay);
                prop_assert!(plan.size.is_none_or(|s| s <= LIMITS.max_size));
            }
        }

        #[test]
        fn parsing_structured_queries_never_panics(
            pieces in proptest::collection::vec(
                (prop_oneof![Just("status"), Just("delay"), Just("size"), Just("close"),
                             Just("header"), Just("chunks"), Just("interval")],
                 "[0-9a-zA-Z:,.%+-]{0,12}"),
                0..6),
        ) {
            let query: Vec<String> = pieces.iter().map(|(n, v)| format!("{n}={v}")).collect();
            let _ = parse(&query.join("&"));
        }
    }
}
