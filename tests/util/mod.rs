//! Shared helpers for the integration tests: start the real `reactord`
//! binary on port 0, talk to it with plain blocking sockets, signal it and
//! watch it exit.
//!
//! Every helper is bounded in time: sockets get read and write timeouts,
//! waits take a timeout, and a [`Server`] kills and reaps its child when it
//! is dropped, so a failing test never leaks a process or hangs the run.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The greeting the contract names as the default reply.
pub const DEFAULT_GREETING: &str = "Hola desde el servidor TCP\n";

/// How long a server may take to print its `listening on` line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Read and write timeout of the sockets [`Server::connect`] returns: long
/// enough for a loaded CI machine, short enough that a hang fails the test.
pub const SOCKET_TIMEOUT: Duration = Duration::from_secs(5);

/// The path Cargo built the server binary at.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_reactord")
}

/// A running `reactord` child process listening on a free port.
pub struct Server {
    child: Child,
    /// The real bound address, parsed from the `listening on` log line.
    pub addr: SocketAddr,
    /// The protocol named in the `listening on ADDR (PROTOCOL)` line.
    pub protocol: String,
    /// Every stderr line so far; a background thread keeps appending.
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Spawn `reactord --listen 127.0.0.1:0 ARGS...` and wait (at most 10 s)
    /// for its `listening on ADDR (PROTOCOL)` line on stderr.
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(binary())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn reactord");

        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (listening_tx, listening_rx) = mpsc::channel::<String>();
        let pipe = child.stderr.take().expect("piped stderr");
        let lines = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut listening_tx = Some(listening_tx);
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening on ")
                    && let Some(tx) = listening_tx.take()
                {
                    let _ = tx.send(line.clone());
                }
                lines.lock().unwrap().push(line);
            }
            // Dropping the sender (if still here) tells start() that stderr
            // closed without a listening line.
        });

        let line = match listening_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().ok();
                // Give the reader thread a moment to collect the last lines.
                thread::sleep(Duration::from_millis(50));
                panic!(
                    "reactord {args:?} printed no `listening on` line ({e}); exit status {status:?}; stderr:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
        };
        let (addr, protocol) = parse_listening_line(&line)
            .unwrap_or_else(|| panic!("cannot parse the listening line {line:?}"));
        Server {
            child,
            addr,
            protocol,
            stderr,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A blocking connection with read and write timeouts.
    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }

    /// Every stderr line the server has written so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// The stderr captured so far, for failure messages.
    pub fn stderr_text(&self) -> String {
        self.stderr_lines().join("\n")
    }

    /// Send SIGTERM.
    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Send SIGINT (what Ctrl-C sends).
    pub fn sigint(&self) {
        self.signal(libc::SIGINT);
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our
        // own child, which is not reaped until wait()/Drop, so it cannot
        // have been reused by another process.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            rc,
            0,
            "kill({pid}, {signal}): {}",
            io::Error::last_os_error()
        );
    }

    /// Wait at most `timeout` for the server to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// The server's resident set size in KiB, from /proc/PID/status.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Never leak a server, whatever happened in the test. Both calls fail
        // harmlessly if the child already exited and was reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parse `... listening on 127.0.0.1:43210 (echo)` into the address and the
/// protocol name.
fn parse_listening_line(line: &str) -> Option<(SocketAddr, String)> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let mut words = rest.split_whitespace();
    let addr = words.next()?.parse().ok()?;
    let protocol = words
        .next()
        .map(|w| w.trim_start_matches('(').trim_end_matches(')').to_string())
        .unwrap_or_default();
    Some((addr, protocol))
}

/// A blocking connection to `addr` with read and write timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, SOCKET_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(SOCKET_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(SOCKET_TIMEOUT)).unwrap();
    stream
}

/// Read until EOF, giving up after `timeout` in total.
///
/// On error (a reset, a timeout) the error message says how many bytes had
/// arrived and shows the start of them: "got half the greeting, then a
/// reset" is a different bug from "got nothing".
pub fn read_to_end_with_timeout(stream: &mut TcpStream, timeout: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut received = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(partial(io::ErrorKind::TimedOut.into(), &received, timeout));
        }
        stream.set_read_timeout(Some(remaining))?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(received),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(partial(e, &received, timeout)),
        }
    }
}

fn partial(e: io::Error, received: &[u8], timeout: Duration) -> io::Error {
    let shown = &received[..received.len().min(80)];
    io::Error::new(
        e.kind(),
        format!(
            "{e} (within {timeout:?}) after {} bytes: {:?}",
            received.len(),
            String::from_utf8_lossy(shown)
        ),
    )
}

/// Run the binary with exactly `args` (no `--listen` added) and wait at most
/// `timeout` for it to exit; kills it and panics if it does not.
pub fn run_to_exit(args: &[&str], timeout: Duration) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn reactord");
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err_reader.join().unwrap_or_default();
            panic!(
                "reactord {args:?} did not exit within {timeout:?}; stderr:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// Resident set size of process `pid` in KiB (VmRSS in /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// `len` pseudo-random bytes from a xorshift64 generator: reproducible,
/// incompressible enough, and no `rand` dependency.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Where two byte strings first differ, for readable failure messages about
/// megabytes of data.
pub fn first_difference(expected: &[u8], actual: &[u8]) -> Option<usize> {
    expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .or_else(|| (expected.len() != actual.len()).then(|| expected.len().min(actual.len())))
}

/// Whether an external tool (curl, wrk, ...) is installed. If not: panic
/// when the `CI` environment variable is set (CI must install it), otherwise
/// print one line saying how to install it and return false so the test can
/// return early.
pub fn require_tool(tool: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(tool)))
    });
    if found {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{tool} is required in CI: install it (apt-get install -y {tool})");
    }
    println!("skipping: install {tool} (apt-get install -y {tool})");
    false
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
