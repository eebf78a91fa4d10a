//! Every numeric flag has an upper bound, checked while the command line is
//! parsed: a value past it is a usage error (exit 2) naming the flag and the
//! bound, and no accepted value can crash the server later.
//!
//! The regression: `--idle-timeout 10000000000000000000` used to start, then
//! panic on the first connection (`Instant + Duration` overflowed computing
//! the deadline); a huge `--shutdown-timeout` did the same on SIGTERM.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use util::run_to_exit;

/// (flag, the smallest value past its bound, the bound as the message shows it)
const TOO_LARGE: &[(&str, &str, &str)] = &[
    ("--max-connections", "1048577", "1048576"),
    ("--max-request-bytes", "1048577", "1048576"),
    ("--max-body-bytes", "1099511627777", "1099511627776"),
    ("--backlog", "65536", "65535"),
    ("--request-timeout", "8761h", "8760h"),
    ("--idle-timeout", "31536001", "8760h"),
    ("--shutdown-timeout", "8761h", "8760h"),
    ("--defer-accept", "3601s", "1h"),
    ("--max-echo-delay", "3601s", "1h"),
    ("--max-echo-size", "1099511627777", "1099511627776"),
    ("--file-cache-entries", "1048577", "1048576"),
    ("--file-cache-small-bytes", "16777217", "16777216"),
    ("--file-cache-total-bytes", "1099511627777", "1099511627776"),
    ("--worker-ready-timeout", "3601s", "1h"),
    ("--worker-heartbeat-timeout", "3601s", "1h"),
    // Not in the at-the-bound test below: 256 workers are 256 processes.
    ("--workers", "257", "256"),
];

#[test]
fn a_value_past_each_flags_bound_exits_2_naming_the_flag_and_the_bound() {
    for &(flag, value, bound) in TOO_LARGE {
        let (status, stderr) = run_to_exit(&["--listen", "127.0.0.1:0", flag, value]);
        assert_eq!(
            status.code(),
            Some(2),
            "{flag} {value} was not a usage error:\n{stderr}"
        );
        assert!(
            stderr.contains(flag) && stderr.contains(bound),
            "the message for {flag} {value} should name the flag and the bound {bound}:\n{stderr}"
        );
    }
}

/// The bound itself is accepted: the server starts with every flag at its
/// ceiling at once, and serves.
#[test]
fn every_flag_at_its_bound_is_accepted_and_the_server_serves() {
    let mut server = start_or_refusal(&[
        "--max-connections",
        "1048576",
        "--max-request-bytes",
        "1048576",
        "--max-body-bytes",
        "1099511627776",
        "--backlog",
        "65535",
        "--request-timeout",
        "8760h",
        "--idle-timeout",
        "8760h",
        "--shutdown-timeout",
        "8760h",
        "--defer-accept",
        "1h",
        "--max-echo-delay",
        "1h",
        "--max-echo-size",
        "1099511627776",
        "--file-cache-entries",
        "1048576",
        "--file-cache-small-bytes",
        "16777216",
        "--file-cache-total-bytes",
        "1099511627776",
        "--worker-ready-timeout",
        "1h",
        "--worker-heartbeat-timeout",
        "1h",
    ])
    .unwrap_or_else(|(code, stderr)| panic!("refused (exit {code:?}):\n{stderr}"));
    server.two_requests_on_one_connection_then_sigterm_exits_0();
}

/// Whatever timeout the parser accepts, the server serves requests with it
/// and shuts down cleanly; what it cannot honour is refused at parse time.
/// Before the bounds, the huge values started and then panicked: on the
/// first connection (request and idle timeouts, deadline arithmetic) or on
/// SIGTERM (the shutdown deadline).
#[test]
fn no_timeout_the_parser_accepts_can_crash_the_server() {
    for flag in ["--request-timeout", "--idle-timeout", "--shutdown-timeout"] {
        for value in ["8760h", "10000000000000000000", "18446744073709551615"] {
            match start_or_refusal(&[flag, value]) {
                Ok(mut server) => server.two_requests_on_one_connection_then_sigterm_exits_0(),
                Err((code, stderr)) => {
                    assert_ne!(value, "8760h", "{flag} 8760h (the bound) was refused");
                    assert_eq!(code, Some(2), "{flag} {value}:\n{stderr}");
                    assert!(stderr.contains(flag), "{flag} {value}:\n{stderr}");
                }
            }
        }
    }
}

/// A server started by [`start_or_refusal`]; killed when dropped.
struct Running {
    child: Child,
    addr: SocketAddr,
    /// The server's stderr lines after the `listening on` line.
    stderr: mpsc::Receiver<String>,
}

impl Running {
    /// Two GETs on one keep-alive connection (each computes a new deadline),
    /// then SIGTERM (which computes the shutdown deadline): exit 0.
    fn two_requests_on_one_connection_then_sigterm_exits_0(&mut self) {
        let mut stream = util::connect(self.addr);
        for _ in 0..2 {
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
            let head = read_head(&mut stream);
            assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        }
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child, not yet reaped (see Drop).
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = wait_with_timeout(&mut self.child, Duration::from_secs(10));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "after SIGTERM: {status:?}; stderr:\n{}",
            self.stderr.try_iter().collect::<Vec<_>>().join("\n")
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `reactord --listen 127.0.0.1:0 ARGS`: `Ok` once it logs its
/// `listening on` line, `Err((exit code, stderr))` if it exits first.
fn start_or_refusal(args: &[&str]) -> Result<Running, (Option<i32>, String)> {
    let mut child = Command::new(util::binary())
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start reactord");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        // Drain stderr for the server's whole life: were the pipe closed, its
        // next log line would fail to write.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut running = Running {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        stderr: received,
    };
    let mut seen = String::new();
    loop {
        match running.stderr.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => {
                if let Some(addr) = line
                    .split("listening on ")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                {
                    running.addr = addr.parse().expect("address in the listening line");
                    return Ok(running);
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            // stderr closed: the process has exited (or is about to).
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = wait_with_timeout(&mut running.child, Duration::from_secs(10));
                return Err((status.and_then(|s| s.code()), seen));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{args:?}: neither listening nor exited within 10 s:\n{seen}")
            }
        }
    }
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Read one response head and its Content-Length body.
fn read_head(stream: &mut std::net::TcpStream) -> String {
    let mut received = Vec::new();
    let mut byte = [0u8; 1];
    while !received.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => panic!(
                "connection closed after {:?}",
                String::from_utf8_lossy(&received)
            ),
            Ok(_) => received.push(byte[0]),
            Err(e) => panic!("{e} after {:?}", String::from_utf8_lossy(&received)),
        }
    }
    let head = String::from_utf8_lossy(&received).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .expect("Content-Length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("body");
    head
}
