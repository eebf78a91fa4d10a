//! Server configuration: every knob, its default, and the parsing of the
//! human forms (`250ms`, `10s`, `2m`) the command line accepts.
//!
//! The defaults are the ones in the command-line contract (DESIGN.md); the
//! binary's flags and this struct must agree, so the binary builds a Config
//! from `Config::default()` and overrides only what was given.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Which protocol the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolName {
    /// HTTP/1.1 (the default).
    Http,
    /// RFC 862 echo.
    Echo,
    /// The seed's "read a request, answer, close" greeting.
    Greeting,
}

impl ProtocolName {
    /// The name used on the command line and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolName::Http => "http",
            ProtocolName::Echo => "echo",
            ProtocolName::Greeting => "greeting",
        }
    }
}

impl std::str::FromStr for ProtocolName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "http" => Ok(ProtocolName::Http),
            "echo" => Ok(ProtocolName::Echo),
            "greeting" => Ok(ProtocolName::Greeting),
            other => Err(format!(
                "unknown protocol {other:?} (expected http, echo or greeting)"
            )),
        }
    }
}

impl fmt::Display for ProtocolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the server needs to know to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind; port 0 lets the kernel pick a free port.
    pub listen: SocketAddr,
    /// Protocol spoken on every connection.
    pub protocol: ProtocolName,
    /// The greeting protocol's reply.
    pub greeting: String,
    /// http: serve static files from here (None: built-in routes only).
    pub root: Option<PathBuf>,
    /// http with --root: list directories that have no index.html.
    pub autoindex: bool,
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
    /// Largest request head (http) or greeting line.
    pub max_request_bytes: usize,
    /// http: largest request body.
    pub max_body_bytes: u64,
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
    /// http: one Common Log Format line per request, at info.
    pub access_log: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            protocol: ProtocolName::Http,
            greeting: "Hola desde el servidor TCP\n".to_string(),
            root: None,
            autoindex: false,
            max_connections: 10_000,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            linger_timeout: Duration::from_secs(5),
            max_request_bytes: 16 * 1024,
            max_body_bytes: 1024 * 1024,
            shutdown_timeout: Duration::from_secs(10),
            backlog: 1024,
            reuse_port: false,
            defer_accept: None,
            access_log: false,
        }
    }
}

impl Config {
    /// Reject combinations that cannot work, with a message naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_connections == 0 {
            return Err("--max-connections must be at least 1".into());
        }
        if self.max_request_bytes == 0 {
            return Err("--max-request-bytes must be at least 1".into());
        }
        if self.backlog <= 0 {
            return Err("--backlog must be at least 1".into());
        }
        for (flag, value) in [
            ("--request-timeout", self.request_timeout),
            ("--idle-timeout", self.idle_timeout),
        ] {
            if value.is_zero() {
                return Err(format!("{flag} must be greater than zero"));
            }
        }
        if self.defer_accept.is_some() && !cfg!(any(target_os = "linux", target_os = "android")) {
            return Err("--defer-accept needs Linux (TCP_DEFER_ACCEPT)".into());
        }
        Ok(())
    }
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
        assert_eq!(c.protocol, ProtocolName::Http);
        assert_eq!(c.greeting, "Hola desde el servidor TCP\n");
        assert_eq!(c.max_connections, 10_000);
        assert_eq!(c.request_timeout, Duration::from_secs(10));
        assert_eq!(c.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.max_request_bytes, 16384);
        assert_eq!(c.max_body_bytes, 1_048_576);
        assert_eq!(c.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(c.backlog, 1024);
        assert!(c.validate().is_ok());
    }
}
