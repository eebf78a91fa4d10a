//! Server configuration: every knob, its default, and the parsing of the
//! human forms (`250ms`, `10s`, `2m`) the command line accepts.
//!
//! The defaults are the ones in the command-line contract (DESIGN.md); the
//! binary's flags and this struct must agree, so the binary builds a Config
//! from `Config::default()` and overrides only what was given.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

// # Bounds
//
// Every numeric setting has an upper bound, checked when the command line is
// parsed (a usage error, exit 2) and again by `Config::validate`, because a
// program that embeds the library builds its Config without the parser. A
// value nobody needs must not be able to overflow a clock or size a buffer:
// `--idle-timeout 10000000000000000000` used to start and then panic on the
// first connection, when `Instant + Duration` overflowed. (The deadline
// arithmetic is also checked, see `timer::deadline_after`, so even a Config
// that skipped validation cannot panic; the bounds make the behaviour
// sensible, not just safe.)

/// Longest `--request-timeout`, `--idle-timeout` and `--shutdown-timeout`
/// (and the linger limit): a year. A deadline is `now + timeout`, so an
/// unbounded timeout can overflow the clock; a year is as good as "never"
/// for any of them, and far from any clock's range.
pub const TIMEOUT_CEILING: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Longest `--defer-accept`: an hour. The kernel takes whole seconds as a C
/// int and turns them into a number of SYN-ACK retransmissions (at most 255,
/// backing off to two minutes apart), so beyond about eight hours a larger
/// value changes nothing; an hour is already far longer than any client
/// waits before it speaks.
pub const DEFER_ACCEPT_CEILING: Duration = Duration::from_secs(60 * 60);

/// Largest `--max-connections`: 2^20 = 1048576, the default ceiling on the
/// descriptors one process may hold (`fs.nr_open`); every connection is one
/// descriptor, so more could never be open at once.
pub const MAX_CONNECTIONS_CEILING: usize = 1 << 20;

/// Largest `--max-request-bytes`: 1 MiB. Each busy connection's read buffer
/// is sized from it, so the worst-case memory is `--max-connections` times
/// this; request heads are a few hundred bytes (nginx's default limit is
/// 8 KiB, ours 16 KiB).
pub const MAX_REQUEST_BYTES_CEILING: usize = 1 << 20;

/// Largest `--max-body-bytes`: 1 TiB. Bodies are discarded as they stream,
/// so this costs no memory; the bound keeps every body byte count far from
/// overflowing a `u64`.
pub const MAX_BODY_BYTES_CEILING: u64 = 1 << 40;

/// Largest `--file-cache-entries`: 2^20, like `--max-connections`, since
/// every entry holds a descriptor open.
pub const FILE_CACHE_ENTRIES_CEILING: usize = 1 << 20;

/// Largest `--file-cache-small-bytes`: 16 MiB. A small file is read whole,
/// in one pread on the loop thread, when it enters the cache; the bound
/// keeps that one read short.
pub const FILE_CACHE_SMALL_BYTES_CEILING: u64 = 16 << 20;

/// Largest `--file-cache-total-bytes`: 1 TiB, far from overflowing the
/// byte count; what a machine can hold is the operator's to judge.
pub const FILE_CACHE_TOTAL_BYTES_CEILING: u64 = 1 << 40;

/// Largest `--backlog`: 65535. listen(2) takes an int, and the kernel
/// silently caps it at `net.core.somaxconn` anyway (4096 by default on
/// recent kernels; 65535 was its historical maximum).
pub const BACKLOG_CEILING: i32 = 65535;

/// Largest `--workers`: 256. Each worker is a process with its own loop
/// and memory; beyond the machine's cores they only compete for them, and
/// 256 is more cores than the machines this runs on have. The bound keeps
/// the shared counters' region (three slots of 128 bytes per worker)
/// small.
pub const WORKERS_CEILING: usize = 256;

/// Parse `--workers`: `auto` (one per core the process may run on) or a
/// count from 1 to [`WORKERS_CEILING`].
pub fn parse_workers(text: &str) -> Result<usize, String> {
    let text = text.trim();
    if text == "auto" {
        return Ok(std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(WORKERS_CEILING));
    }
    let count: usize = text
        .parse()
        .map_err(|_| format!("expected a number or `auto`, not {text:?}"))?;
    check_count("--workers", count, 1, WORKERS_CEILING)?;
    Ok(count)
}

/// What the reactor itself needs to know: the address, the limits and
/// timeouts it enforces on every connection, and the listener's options.
///
/// Nothing about any protocol is here: each protocol has its own
/// configuration (`HttpConfig`, the greeting's text), and states through
/// `Protocol::max_buffered_input` how much input it may need buffered, which
/// is what sizes the read buffers. The binary maps the command line onto
/// both.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind; port 0 lets the kernel pick a free port.
    pub listen: SocketAddr,
    /// Connections beyond this many are accepted and closed at once, so they
    /// never wait unanswered in the backlog.
    pub max_connections: usize,
    /// A request that has started (or a new connection's first request) must
    /// arrive completely within this; the slowloris defence.
    pub request_timeout: Duration,
    /// A connection with no traffic in either direction for this long is
    /// closed: idle keep-alive clients, and readers that stopped reading.
    pub idle_timeout: Duration,
    /// After the last response of a closing connection, how long to keep
    /// discarding what the client still sends before closing. Closing with
    /// unread input makes the kernel send a reset that can destroy the
    /// response; this bounds how long a client can hold us in that state.
    pub linger_timeout: Duration,
    /// On SIGINT/SIGTERM, how long in-flight work may take to finish.
    pub shutdown_timeout: Duration,
    /// The listen backlog (the kernel caps it at net.core.somaxconn).
    pub backlog: i32,
    /// Set SO_REUSEPORT so several processes can share the port.
    pub reuse_port: bool,
    /// Linux TCP_DEFER_ACCEPT: the kernel hands over a connection only once
    /// its first bytes have arrived (or, for a silent client, after about
    /// this long), so the server wakes once per connection instead of twice.
    /// Every protocol here waits for the client to speak first, so nothing
    /// is lost; but silent connections then wait in the kernel, not in a
    /// connection slot, and are not counted until they are handed over.
    pub defer_accept: Option<Duration>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_connections: 10_000,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            linger_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            backlog: 1024,
            reuse_port: false,
            defer_accept: None,
        }
    }
}

impl Config {
    /// Reject values and combinations that cannot work, with a message
    /// naming the flag. The command line checks the same bounds while
    /// parsing; this is for programs that build a Config themselves.
    pub fn validate(&self) -> Result<(), String> {
        check_count(
            "--max-connections",
            self.max_connections,
            1,
            MAX_CONNECTIONS_CEILING,
        )?;
        check_count("--backlog", self.backlog, 1, BACKLOG_CEILING)?;
        for (flag, value) in [
            ("--request-timeout", self.request_timeout),
            ("--idle-timeout", self.idle_timeout),
        ] {
            check_duration(flag, value, true, TIMEOUT_CEILING)?;
        }
        check_duration(
            "--shutdown-timeout",
            self.shutdown_timeout,
            false,
            TIMEOUT_CEILING,
        )?;
        check_duration(
            "linger timeout",
            self.linger_timeout,
            false,
            TIMEOUT_CEILING,
        )?;
        if let Some(wait) = self.defer_accept {
            check_duration("--defer-accept", wait, false, DEFER_ACCEPT_CEILING)?;
        }
        if self.defer_accept.is_some() && !cfg!(any(target_os = "linux", target_os = "android")) {
            return Err("--defer-accept needs Linux (TCP_DEFER_ACCEPT)".into());
        }
        Ok(())
    }
}

/// `value` must lie in `min..=max`.
pub fn check_count<T: PartialOrd + fmt::Display>(
    flag: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), String> {
    if value < min || value > max {
        return Err(format!(
            "{flag} must be between {min} and {max}, not {value}"
        ));
    }
    Ok(())
}

/// `value` must be at most `max` (and, if `positive`, more than zero).
fn check_duration(
    flag: &str,
    value: Duration,
    positive: bool,
    max: Duration,
) -> Result<(), String> {
    if positive && value.is_zero() {
        return Err(format!("{flag} must be greater than zero"));
    }
    if value > max {
        return Err(format!(
            "{flag} must be at most {} ({} s), not {} s",
            format_duration(max),
            max.as_secs(),
            value.as_secs_f64()
        ));
    }
    Ok(())
}

/// A duration in the largest unit of [`parse_duration`]'s syntax that
/// shows it exactly: `8760h`, `90s`, `250ms`.
pub fn format_duration(value: Duration) -> String {
    let millis = value.as_millis();
    let seconds = value.as_secs();
    if !millis.is_multiple_of(1000) {
        format!("{millis}ms")
    } else if seconds != 0 && seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else if seconds != 0 && seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

/// Parse `--request-timeout` or `--idle-timeout`: more than zero, at most
/// [`TIMEOUT_CEILING`].
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    parse_bounded_duration(text, true, TIMEOUT_CEILING)
}

/// Parse `--shutdown-timeout`: zero (drop work in flight at once) up to
/// [`TIMEOUT_CEILING`].
pub fn parse_shutdown_timeout(text: &str) -> Result<Duration, String> {
    parse_bounded_duration(text, false, TIMEOUT_CEILING)
}

/// Parse `--defer-accept`: at most [`DEFER_ACCEPT_CEILING`].
pub fn parse_defer_accept(text: &str) -> Result<Duration, String> {
    parse_bounded_duration(text, false, DEFER_ACCEPT_CEILING)
}

/// [`parse_duration`], then the bounds; the parser (clap) puts the flag's
/// name in front of the message.
fn parse_bounded_duration(text: &str, positive: bool, max: Duration) -> Result<Duration, String> {
    let value = parse_duration(text)?;
    if positive && value.is_zero() {
        return Err("must be greater than zero".into());
    }
    if value > max {
        return Err(format!(
            "{} is more than the largest accepted, {} ({} s)",
            text.trim(),
            format_duration(max),
            max.as_secs()
        ));
    }
    Ok(value)
}

/// Parse a duration: `250ms`, `10s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?} (try 250ms, 10s, 2m)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {text:?} (use ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("duration {text:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_a_bounded_count_or_auto() {
        assert_eq!(parse_workers("2"), Ok(2));
        assert!(parse_workers("auto").is_ok_and(|n| (1..=WORKERS_CEILING).contains(&n)));
        assert!(parse_workers("0").is_err());
        assert!(parse_workers("257").is_err());
        assert!(parse_workers("lots").is_err());
    }

    #[test]
    fn durations_accept_the_documented_forms() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn durations_reject_garbage_with_a_message() {
        for bad in ["", "s", "10x", "-1s", "ten", "1e999"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn defaults_match_the_command_line_contract() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.max_connections, 10_000);
        assert_eq!(c.request_timeout, Duration::from_secs(10));
        assert_eq!(c.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(c.backlog, 1024);
        assert!(c.validate().is_ok());
    }

    /// Each bound, as the command line and `validate` both see it: the
    /// ceiling itself is accepted, one step past it is refused with a
    /// message naming the flag and the bound.
    #[test]
    fn validate_accepts_each_ceiling_and_refuses_one_past_it_naming_the_flag() {
        type Set = fn(&mut Config, bool);
        let cases: [(&str, &str, Set); 6] = [
            ("--max-connections", "1048576", |c, over| {
                c.max_connections = MAX_CONNECTIONS_CEILING + usize::from(over)
            }),
            ("--backlog", "65535", |c, over| {
                c.backlog = BACKLOG_CEILING + i32::from(over)
            }),
            ("--request-timeout", "8760h", |c, over| {
                c.request_timeout = TIMEOUT_CEILING + Duration::from_millis(u64::from(over))
            }),
            ("--idle-timeout", "8760h", |c, over| {
                c.idle_timeout = TIMEOUT_CEILING + Duration::from_millis(u64::from(over))
            }),
            ("--shutdown-timeout", "8760h", |c, over| {
                c.shutdown_timeout = TIMEOUT_CEILING + Duration::from_millis(u64::from(over))
            }),
            ("--defer-accept", "1h", |c, over| {
                c.defer_accept = Some(DEFER_ACCEPT_CEILING + Duration::from_millis(u64::from(over)))
            }),
        ];
        for (flag, bound, set) in cases {
            let mut at_ceiling = Config::default();
            set(&mut at_ceiling, false);
            assert_eq!(at_ceiling.validate(), Ok(()), "{flag} at its ceiling");
            let mut past = Config::default();
            set(&mut past, true);
            let message = past.validate().expect_err(flag);
            assert!(
                message.contains(flag) && message.contains(bound),
                "{flag}: {message:?} should name the flag and {bound}"
            );
        }
    }

    #[test]
    fn validate_refuses_zero_where_zero_cannot_work() {
        type Set = fn(&mut Config);
        let cases: [(&str, Set); 4] = [
            ("--max-connections", |c| c.max_connections = 0),
            ("--backlog", |c| c.backlog = 0),
            ("--request-timeout", |c| c.request_timeout = Duration::ZERO),
            ("--idle-timeout", |c| c.idle_timeout = Duration::ZERO),
        ];
        for (flag, set) in cases {
            let mut config = Config::default();
            set(&mut config);
            let message = config.validate().expect_err(flag);
            assert!(message.contains(flag), "{message:?}");
        }
    }

    #[test]
    fn the_duration_flags_parse_up_to_their_ceiling_and_no_further() {
        assert_eq!(parse_timeout("8760h"), Ok(TIMEOUT_CEILING));
        assert_eq!(parse_shutdown_timeout("8760h"), Ok(TIMEOUT_CEILING));
        assert_eq!(parse_shutdown_timeout("0"), Ok(Duration::ZERO));
        assert_eq!(parse_defer_accept("1h"), Ok(DEFER_ACCEPT_CEILING));
        for (parse, too_long, bound) in [
            (
                parse_timeout as fn(&str) -> Result<Duration, String>,
                "8761h",
                "8760h",
            ),
            (parse_timeout, "10000000000000000000", "8760h"),
            (parse_shutdown_timeout, "31536001", "8760h"),
            (parse_defer_accept, "3601s", "1h"),
        ] {
            let message = parse(too_long).expect_err(too_long);
            assert!(message.contains(bound), "{too_long}: {message:?}");
        }
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("0ms").is_err());
    }

    #[test]
    fn durations_are_shown_in_the_largest_exact_unit() {
        assert_eq!(format_duration(TIMEOUT_CEILING), "8760h");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
