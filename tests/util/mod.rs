//! Helpers shared by the integration tests: start the real binary on port 0,
//! find its address in the `listening on` line, talk to it, and make sure
//! it is killed whatever happens.
//!
//! Every helper is bounded in time: sockets get read and write timeouts,
//! waits take a timeout, and a [`Server`] kills and reaps its child when it
//! is dropped, so a failing test never leaks a process or hangs the run.
#![allow(dead_code)] // each test file uses a different subset

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Socket timeouts: generous, so a slow CI machine doesn't fail a test,
/// but bounded, so a bug never hangs the suite.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The greeting the contract names as the default reply.
pub const DEFAULT_GREETING: &str = "Hola desde el servidor TCP\n";

/// The reactord binary built for these tests.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_reactord")
}

/// A running server, killed when dropped.
pub struct Server {
    child: Child,
    /// The address from the `listening on` line.
    pub addr: SocketAddr,
    /// The protocol named in the `listening on ADDR (PROTOCOL)` line.
    pub protocol: String,
    logs: Arc<Mutex<Vec<String>>>,
}

/// How often the `wait_*` helpers look again: polling a condition with a
/// deadline, not a sleep standing in for the event.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Poll `condition` until it holds or `timeout` passes; true if it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

impl Server {
    /// Start `reactord --listen 127.0.0.1:0 ARGS` and wait for it to listen.
    pub fn start(args: &[&str]) -> Server {
        let mut command = Command::new(binary());
        command.args(["--listen", "127.0.0.1:0"]).args(args);
        Server::spawn(command)
    }

    /// Start a prepared command (its own --listen included) and wait (at
    /// most 10 s) for the `listening on` line.
    pub fn spawn(mut command: Command) -> Server {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start reactord");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&logs);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening on ") {
                    let _ = tx.send(line.clone());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().ok();
                // The child is gone, so its stderr ends: the reader thread
                // finishes once it has collected the last lines.
                let _ = reader.join();
                panic!(
                    "no `listening on` line within 10 s ({e}); exit status {status:?}; stderr: {:?}",
                    logs.lock().unwrap()
                );
            }
        };
        let (addr, protocol) = parse_listening_line(&line)
            .unwrap_or_else(|| panic!("cannot parse the listening line {line:?}"));
        Server {
            child,
            addr,
            protocol,
            logs,
        }
    }

    /// A connected client socket with read and write timeouts.
    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal (libc::SIGTERM, ...).
    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid; the child is not reaped
        // before wait()/Drop, so the pid cannot have been reused.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill failed");
    }

    /// Send SIGTERM.
    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Send SIGINT (what Ctrl-C sends).
    pub fn sigint(&self) {
        self.signal(libc::SIGINT);
    }

    /// Wait for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Every stderr line so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// The stderr captured so far as one string, for failure messages.
    pub fn stderr_text(&self) -> String {
        self.logs().join("\n")
    }

    /// Wait until a stderr line contains `needle`, at most `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        self.wait_for_line(timeout, |line| line.contains(needle))
            .is_some()
    }

    /// Wait until a stderr line satisfies `matches`, at most `timeout`;
    /// returns the first such line.
    pub fn wait_for_line(
        &self,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let mut found = None;
        wait_until(timeout, || {
            found = self.logs().into_iter().find(|line| matches(line));
            found.is_some()
        });
        found
    }

    /// Wait until at least `count` stderr lines satisfy `matches`, at most
    /// `timeout`; true if they did.
    pub fn wait_for_lines(
        &self,
        count: usize,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> bool {
        wait_until(timeout, || {
            self.logs().iter().filter(|line| matches(line)).count() >= count
        })
    }

    /// The slab key (`conn N` in trace lines) the server gave to `client`,
    /// from its `accepted from` line. Needs `--log-level trace`. Waiting for
    /// that line is also how a test knows the server has accepted `client`
    /// (a connection still in the backlog proves nothing).
    pub fn connection_key(&self, client: &TcpStream) -> usize {
        let suffix = format!(": accepted from {}", client.local_addr().unwrap());
        let line = self
            .wait_for_line(IO_TIMEOUT, |line| line.ends_with(&suffix))
            .unwrap_or_else(|| {
                panic!(
                    "no `{suffix}` line (is --log-level trace set?): {}",
                    self.stderr_text()
                )
            });
        line.split("conn ")
            .nth(1)
            .and_then(|rest| rest.split(':').next())
            .and_then(|key| key.parse().ok())
            .unwrap_or_else(|| panic!("no connection key in {line:?}"))
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// Poll a /metrics value until `condition` holds, at most `timeout`;
    /// returns the last value read (check it with `condition` again).
    pub fn wait_for_metric(
        &self,
        name: &str,
        timeout: Duration,
        condition: impl Fn(f64) -> bool,
    ) -> f64 {
        let mut value = f64::NAN;
        wait_until(timeout, || {
            value = self.metric(name);
            condition(value)
        });
        value
    }

    /// One value from /metrics (http servers only), over a fresh connection.
    pub fn metric(&self, name: &str) -> f64 {
        let response = http_get(self.addr, "/metrics");
        response
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("metric {name} not found in {response}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Both fail harmlessly if the child already exited and was reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parse `... listening on 127.0.0.1:43210 (echo)` into the address and the
/// protocol name.
pub fn parse_listening_line(line: &str) -> Option<(SocketAddr, String)> {
    let rest = line.split("listening on ").nth(1)?;
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
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Run the binary with `args` to completion (for usage and start-up
/// errors); returns its exit status and stderr followed by stdout. Killed
/// after 10 s.
pub fn run_to_exit(args: &[&str]) -> (ExitStatus, String) {
    run_tool(binary(), args, Duration::from_secs(10))
}

/// Read until EOF; the error (a reset, say) is returned rather than hidden.
pub fn read_to_end(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Read until EOF, giving up after `timeout` in total (not per read).
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

/// A one-shot `GET path` with `Connection: close`; returns the whole response.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = connect(addr);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    String::from_utf8_lossy(&read_to_end(&mut stream).expect("read response")).into_owned()
}

/// Pseudo-random bytes (xorshift), so tests need no rand crate.
pub fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
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

/// A test is skipped for want of a tool: fail under CI (which must have
/// installed it, see .ci/run), otherwise say so where a plain `cargo test`
/// shows it. libtest captures `println!` and `eprintln!` and shows them
/// only for a failing test (or with `--nocapture`), and a skipped test
/// passes; so the hint is written to the process's stderr directly, which
/// the harness doesn't capture: it appears among the `test ... ok` lines.
pub fn skip_without(tool: &str, package: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{tool} is required under CI: apt-get install -y {package}");
    }
    let _ = writeln!(
        io::stderr(),
        "skipping: install {tool} (apt-get install -y {package})"
    );
}

/// Is an external tool available? If not, [`skip_without`] it.
pub fn require_tool(tool: &str, package: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        skip_without(tool, package);
    }
    found
}

/// Run an external command with a time limit; returns (status, stdout+stderr).
pub fn run_tool(program: &str, args: &[&str], limit: Duration) -> (ExitStatus, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = out_thread.join().unwrap() + &err_thread.join().unwrap();
    (status, output)
}

/// The path of example `name`, built first if it isn't (a no-op when it is
/// up to date). `cargo test` builds the examples before running any test,
/// but `cargo test --test NAME` doesn't, so the test asks cargo itself, with
/// the profile its own executable was built in: target/PROFILE/deps/TEST
/// becomes target/PROFILE/examples/NAME, whatever the machine or profile.
pub fn example(name: &str) -> std::path::PathBuf {
    // One build per example per test process: tests run in parallel, and
    // each concurrent cargo would only wait for the others' lock.
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the test runs from target/PROFILE/deps");
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let mut args = vec![
        "build",
        "--quiet",
        "--manifest-path",
        manifest,
        "--example",
        name,
    ];
    let profile = profile_dir.file_name().and_then(|p| p.to_str());
    match profile {
        Some("debug") => {}
        Some("release") => args.push("--release"),
        Some(other) => args.extend(["--profile", other]),
        None => panic!("no profile directory in {}", exe.display()),
    }
    if !built.iter().any(|b| b == name) {
        // Bounded like every wait here: a build (or a lock) that never
        // ends fails the test instead of hanging the suite.
        let (status, output) = run_tool(env!("CARGO"), &args, Duration::from_secs(600));
        assert!(status.success(), "cargo build --example {name}: {output}");
        built.push(name.to_string());
    }
    let path = profile_dir.join("examples").join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A numeric field of reactord-load's one-line JSON report (`--json`),
/// e.g. `"requests":2000`.
pub fn json_field(json: &str, name: &str) -> u64 {
    let at = json
        .find(&format!("\"{name}\":"))
        .unwrap_or_else(|| panic!("{name} in {json}"));
    json[at + name.len() + 3..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}
