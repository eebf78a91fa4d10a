//! Running under a service manager: the listening socket inherited with
//! the sd_listen_fds protocol, and the sd_notify messages (READY=1,
//! STOPPING=1, STATUS=, WATCHDOG=1). The test plays the service manager
//! itself (no systemd needed): it creates the socket and puts it on
//! descriptor 3 of the child, and binds the notification socket.

mod util;

use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use util::{Server, binary, http_get};

/// Put `fd` on descriptor 3 of the child (without close-on-exec) and set
/// LISTEN_FDS=1 and LISTEN_PID to the child's own pid, as systemd does.
/// The pid is only known in the child, so a shell sets it and then execs
/// reactord (the pid survives exec).
fn activated(fd: i32, args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" \"$@\"")
        .arg(binary())
        .args(args)
        .env("LISTEN_FDS", "1");
    // SAFETY: dup2 and fcntl are async-signal-safe, and touch only
    // descriptors.
    unsafe {
        command.pre_exec(move || {
            if fd == 3 {
                if libc::fcntl(3, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

#[test]
fn an_inherited_socket_is_served_and_listen_is_not_bound() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // --listen names a port that is taken: binding it would fail, so a
    // server that starts and answers is serving the inherited socket.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let server = Server::spawn(activated(listener.as_raw_fd(), &["--listen", &taken_addr]));
    drop(listener);
    assert_eq!(
        server.addr, addr,
        "the listening line names the inherited socket"
    );
    assert!(
        server.wait_for_log("from the service manager", Duration::from_secs(10)),
        "no line saying where the socket came from: {}",
        server.stderr_text()
    );
    let response = http_get(addr, "/");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[test]
fn without_listen_pid_the_variables_are_ignored() {
    // LISTEN_PID names another process: the variables were not meant for
    // us (a parent that forgot to unset them), so --listen is bound.
    let mut command = Command::new(binary());
    command
        .args(["--listen", "127.0.0.1:0"])
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", "1");
    let server = Server::spawn(command);
    assert!(!server.stderr_text().contains("service manager"));
    let response = http_get(server.addr, "/");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

/// A notification socket bound by the test, in its own temporary directory.
struct NotifySocket {
    dir: PathBuf,
    path: PathBuf,
    socket: UnixDatagram,
}

impl NotifySocket {
    fn new(name: &str) -> NotifySocket {
        let dir = std::env::temp_dir().join(format!("reactord-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        NotifySocket { dir, path, socket }
    }

    /// Wait (at most 10 s) for a message with a line equal to `line`;
    /// every message seen on the way is returned too.
    fn wait_for(&self, line: &str) -> Result<Vec<String>, Vec<String>> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let message = String::from_utf8_lossy(&buf[..n]).into_owned();
                let found = message.lines().any(|l| l == line);
                seen.push(message);
                if found {
                    return Ok(seen);
                }
            }
        }
        Err(seen)
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Kills the child when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ready_follows_the_listening_line_and_stopping_follows_sigterm() {
    let notify = NotifySocket::new("ready");
    let log = notify.dir.join("stderr");
    let mut child = Child(
        Command::new(binary())
            .args(["--listen", "127.0.0.1:0"])
            .env("NOTIFY_SOCKET", &notify.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let seen = notify.wait_for("READY=1").expect("READY=1 within 10 s");
    assert_eq!(seen.len(), 1, "READY=1 comes first: {seen:?}");
    // The log line is written (a completed write(2) to the file) before
    // READY=1 is sent.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("listening on 127.0.0.1:"), "{text}");

    let pid = i32::try_from(child.0.id()).unwrap();
    // SAFETY: our own unreaped child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    notify
        .wait_for("STOPPING=1")
        .expect("STOPPING=1 within 10 s of SIGTERM");
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_loop_sends_status_and_feeds_the_watchdog() {
    let notify = NotifySocket::new("watchdog");
    let mut command = Command::new(binary());
    command
        .args(["--listen", "127.0.0.1:0"])
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "200000");
    let server = Server::spawn(command);
    notify.wait_for("READY=1").expect("READY=1");
    let _client = server.connect();
    let mut pings = 0;
    let mut statuses = Vec::new();
    while pings < 3 {
        let seen = notify
            .wait_for("WATCHDOG=1")
            .unwrap_or_else(|seen| panic!("no WATCHDOG=1 within 10 s; seen {seen:?}"));
        pings += 1;
        statuses.extend(seen.into_iter().filter(|m| m.contains("STATUS=")));
    }
    assert!(
        statuses.iter().any(|m| m.contains("1 connections open")),
        "{statuses:?}"
    );
}

#[test]
fn a_supervisor_serves_the_inherited_socket_and_notifies_for_all_its_workers() {
    let notify = NotifySocket::new("workers");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut command = activated(
        listener.as_raw_fd(),
        &["--listen", "127.0.0.1:1", "--workers", "2"],
    );
    command
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "200000");
    let mut server = Server::spawn(command);
    drop(listener);
    assert_eq!(server.addr, addr);
    notify.wait_for("READY=1").expect("READY=1");
    // The supervisor's loop feeds the watchdog and reports its workers.
    let seen = notify
        .wait_for("WATCHDOG=1")
        .unwrap_or_else(|seen| panic!("no WATCHDOG=1; seen {seen:?}"));
    assert!(
        seen.iter().any(|m| m.contains("STATUS=2 workers, ")),
        "{seen:?}"
    );
    // READY=1 is sent once every worker is ready, not when the supervisor
    // starts listening.
    assert!(
        server.wait_for_log("all 2 workers ready", Duration::from_secs(10)),
        "{}",
        server.stderr_text()
    );
    let response = http_get(addr, "/");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    server.sigterm();
    notify
        .wait_for("STOPPING=1")
        .expect("STOPPING=1 after SIGTERM");
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

/// `reactord_http_responses_total{class="2xx"}` of the server at `addr`.
fn answered(addr: std::net::SocketAddr) -> u64 {
    let page = http_get(addr, "/metrics");
    page.lines()
        .find_map(|l| l.strip_prefix("reactord_http_responses_total{class=\"2xx\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no 2xx count in {page}"))
}

/// What `systemctl restart` does with a socket unit: the service manager
/// (here, the test) keeps the listening socket; the old process drains
/// and exits, then the new one starts on the same socket. Under open-loop
/// load, no request fails: connections that arrive in between wait in the
/// socket's backlog.
#[test]
fn a_restart_on_a_socket_the_service_manager_keeps_fails_no_request() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fd = listener.as_raw_fd();
    let mut old = Server::spawn(activated(fd, &[]));
    let target = format!("http://{addr}/");
    let mut load = Child(
        Command::new(env!("CARGO_BIN_EXE_reactord-load"))
            .args([
                "--rate",
                "2000",
                "--connections",
                "16",
                "--requests",
                "20000",
            ])
            .args(["--json", &target])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        util::wait_until(Duration::from_secs(30), || answered(addr) > 100),
        "the load did not start"
    );
    old.sigterm();
    let status = old.wait_exit(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let new = Server::spawn(activated(fd, &[]));
    assert_eq!(new.addr, addr);
    let mut out = String::new();
    assert!(
        util::wait_until(Duration::from_secs(120), || load
            .0
            .try_wait()
            .unwrap()
            .is_some()),
        "the load did not finish"
    );
    std::io::Read::read_to_string(&mut load.0.stdout.take().unwrap(), &mut out).unwrap();
    assert!(out.contains("\"requests\":20000"), "{out}");
    assert!(out.contains("\"total\":0"), "failed requests: {out}");
}
