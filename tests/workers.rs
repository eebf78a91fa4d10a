//! `--workers N`: a supervisor and N worker processes on one listening
//! socket. Both workers serve, /metrics adds them up, a killed worker is
//! replaced, SIGTERM drains them all, and ten SIGHUP restarts under load
//! fail no request.

mod util;

use std::io::Read;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use util::{Server, http_get, json_field, run_to_exit, wait_until};

/// Generous: debug builds on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(30);

/// `reactord --workers 2 ARGS`, once both workers said READY.
fn start_two(args: &[&str]) -> Server {
    let mut all = vec!["--workers", "2"];
    all.extend_from_slice(args);
    let server = Server::start(&all);
    expect_log(&server, "all 2 workers ready");
    server
}

/// Lines of the `/metrics` page that start with `name{` or `name `.
fn metric_lines(page: &str, name: &str) -> Vec<(String, u64)> {
    page.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            if !(rest.starts_with('{') || rest.starts_with(' ')) {
                return None;
            }
            let (labels, value) = rest.rsplit_once(' ')?;
            Some((labels.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn metrics(server: &Server) -> String {
    let page = http_get(server.addr, "/metrics");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    page
}

/// The value of an unlabelled metric.
fn total(page: &str, name: &str) -> u64 {
    metric_lines(page, name)
        .into_iter()
        .find(|(labels, _)| labels.is_empty())
        .unwrap_or_else(|| panic!("{name} in {page}"))
        .1
}

/// reactord-load, killed if the test ends first.
struct Load(Child);

impl Load {
    fn start(args: &[&str]) -> Load {
        Load(
            Command::new(env!("CARGO_BIN_EXE_reactord-load"))
                .args(args)
                .arg("--json")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("start reactord-load"),
        )
    }

    fn running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }

    /// Wait for the report (at most two minutes).
    fn report(mut self) -> String {
        assert!(
            wait_until(Duration::from_secs(120), || !self.running()),
            "reactord-load did not finish"
        );
        let mut out = String::new();
        self.0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        out
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn both_workers_serve_and_any_of_them_reports_the_whole_server() {
    let mut server = start_two(&[]);
    // /echo, so that HTTP's own counters (/echo's) are summed as well as
    // the reactor's and the status classes.
    let target = format!("http://{}/echo", server.addr);
    let mut requests = 0;
    // Which worker wakes for a connection is the kernel's choice: load
    // until both have accepted some (a handful of rounds at most).
    let both = wait_until(Duration::from_secs(60), || {
        let out = Load::start(&[
            "--close",
            "--connections",
            "16",
            "--requests",
            "2000",
            &target,
        ])
        .report();
        assert_eq!(json_field(&out, "total"), 0, "{out}");
        requests += json_field(&out, "requests");
        let page = metrics(&server);
        let per_worker = metric_lines(&page, "reactord_worker_connections_accepted_total");
        per_worker.len() == 2 && per_worker.iter().all(|(_, accepted)| *accepted > 0)
    });
    let page = metrics(&server);
    assert!(both, "one worker served nothing: {page}");
    // The totals are every worker's together: more 2xx than either worker
    // answered, at least every request the load made.
    let per_worker = metric_lines(&page, "reactord_worker_connections_accepted_total");
    let sum: u64 = per_worker.iter().map(|(_, v)| v).sum();
    assert_eq!(
        total(&page, "reactord_connections_accepted_total"),
        sum,
        "{page}"
    );
    let ok = metric_lines(&page, "reactord_http_responses_total")
        .into_iter()
        .find(|(labels, _)| labels == "{class=\"2xx\"}")
        .unwrap()
        .1;
    assert!(
        ok >= requests,
        "2xx {ok} < {requests} requests made: {page}"
    );
    let echoed = total(&page, "reactord_echo_requests_total");
    assert!(
        echoed >= requests,
        "/echo {echoed} < {requests} requests made: {page}"
    );

    stop_cleanly(&mut server);
    assert!(
        server.wait_for_lines(2, DEADLINE, |l| l.contains("exited after draining")),
        "{}",
        server.stderr_text()
    );
    assert!(
        server
            .stderr_text()
            .contains("shutdown complete: every worker has exited")
    );
}

#[test]
fn a_killed_worker_is_replaced_and_requests_keep_succeeding() {
    let mut server = start_two(&[]);
    for _ in 0..100 {
        let response = http_get(server.addr, "/");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    // Kill the worker that has accepted the most: its counts must survive
    // it (its replacement counts on from them).
    let page = metrics(&server);
    let before = total(&page, "reactord_connections_accepted_total");
    let pid: i32 = metric_lines(&page, "reactord_worker_connections_accepted_total")
        .into_iter()
        .max_by_key(|(_, accepted)| *accepted)
        .and_then(|(labels, _)| {
            let pid = labels.split("pid=\"").nth(1)?;
            pid.split('"').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no worker pid in {page}"));
    // SAFETY: kill(2) on a worker of our own child; the supervisor has not
    // reaped it, so the pid is still that worker's.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    assert!(
        server.wait_for_log(&format!("(pid {pid}) died"), DEADLINE),
        "{}",
        server.stderr_text()
    );
    assert!(
        server.wait_for_lines(3, DEADLINE, |l| l.contains(") ready")),
        "no replacement became ready: {}",
        server.stderr_text()
    );
    for _ in 0..20 {
        let response = http_get(server.addr, "/");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    // The dead worker's counts stay in its slot: totals never go back.
    let page = metrics(&server);
    let after = total(&page, "reactord_connections_accepted_total");
    assert!(after >= before + 20, "{before} -> {after}: {page}");
    // The dead worker's open connections are not counted any more: once
    // the clients above are gone, only the one asking is open.
    assert!(
        wait_until(DEADLINE, || total(
            &metrics(&server),
            "reactord_connections_active"
        ) == 1),
        "{}",
        metrics(&server)
    );

    stop_cleanly(&mut server);
}

#[test]
fn ten_sighup_restarts_under_open_loop_load_fail_no_request() {
    let mut server = start_two(&[]);
    let target = format!("http://{}/", server.addr);
    // 3000 requests/s for 20 s: far longer than ten restarts take, even
    // for debug builds on a loaded machine (checked below).
    let mut load = Load::start(&[
        "--rate",
        "3000",
        "--connections",
        "32",
        "--requests",
        "60000",
        &target,
    ]);
    assert!(
        wait_until(DEADLINE, || {
            let page = metrics(&server);
            metric_lines(&page, "reactord_http_responses_total")
                .iter()
                .any(|(labels, v)| labels == "{class=\"2xx\"}" && *v > 100)
        }),
        "the load did not start"
    );
    for round in 1..=10 {
        server.signal(libc::SIGHUP);
        assert!(
            server.wait_for_lines(round, DEADLINE, |l| l
                .contains("restart: 2 new workers ready")),
            "restart {round} did not complete: {}",
            server.stderr_text()
        );
        assert!(
            server.wait_for_lines(2 * round, DEADLINE, |l| l.contains("exited after draining")),
            "the old workers of restart {round} did not exit: {}",
            server.stderr_text()
        );
    }
    assert!(
        load.running(),
        "the load ended before the ten restarts did: they were not under load"
    );
    let out = load.report();
    assert_eq!(json_field(&out, "requests"), 60000, "{out}");
    assert_eq!(json_field(&out, "total"), 0, "failed requests: {out}");

    stop_cleanly(&mut server);
}

#[test]
fn workers_is_bounded_and_takes_auto() {
    for bad in ["0", "257", "many"] {
        let (status, out) = run_to_exit(&["--workers", bad, "--listen", "127.0.0.1:0"]);
        assert_eq!(status.code(), Some(2), "--workers {bad}: {out}");
        assert!(out.contains("--workers"), "{out}");
    }
    let mut server = Server::start(&["--workers", "auto"]);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores > 1 {
        let ready = format!("all {cores} workers ready");
        assert!(
            server.wait_for_log(&ready, DEADLINE),
            "{}",
            server.stderr_text()
        );
    }
    let response = http_get(server.addr, "/");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    server.sigterm();
    assert!(server.wait_exit(DEADLINE).is_some_and(|s| s.success()));
}

#[test]
fn the_worker_timeouts_have_lower_bounds() {
    for (flag, value, says) in [
        (
            "--worker-ready-timeout",
            "0",
            "less than the smallest accepted",
        ),
        (
            "--worker-heartbeat-timeout",
            "1s",
            "less than the smallest accepted, 2s",
        ),
    ] {
        let (status, out) = run_to_exit(&["--listen", "127.0.0.1:0", flag, value]);
        assert_eq!(status.code(), Some(2), "{flag} {value}: {out}");
        assert!(out.contains(flag) && out.contains(says), "{out}");
    }
}

#[test]
fn a_worker_that_cannot_start_stops_the_supervisor_with_exit_1() {
    // The supervisor checks the protocol's settings once, before any
    // worker: a bad --root is the usual start-up error.
    let (status, out) = run_to_exit(&[
        "--workers",
        "2",
        "--listen",
        "127.0.0.1:0",
        "--root",
        "/nonexistent/reactord",
    ]);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("error: cannot serve --root"), "{out}");
}

/// Read from `stream` until the end of an HTTP head; returns the head and
/// whatever of the body came with it.
fn read_head(stream: &mut std::net::TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end + 4]).into_owned();
            return (head, got[end + 4..].to_vec());
        }
        let n = stream.read(&mut buf).expect("read a response head");
        assert!(n > 0, "EOF before the end of a head: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

/// Wait until `needle` has been logged twice (by the two old workers of a
/// restart). Counted in the whole text, not per line: the logger writes a
/// line's text and its newline apart, so two workers logging at the same
/// instant can run two lines into one (seen).
fn logged_twice(server: &Server, needle: &str) -> bool {
    wait_until(DEADLINE, || {
        server.stderr_text().matches(needle).count() >= 2
    })
}

/// Send `GET /echo?delay=DELAY` on a new connection and wait until the
/// server has parsed it (counted at /metrics): a worker is then holding a
/// response it will write only at the end of the delay.
fn hold_a_delayed_echo(server: &Server, delay: &str) -> TcpStream {
    use std::io::Write;
    let mut client = server.connect();
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        client,
        "GET /echo?delay={delay} HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    let parsed = server.wait_for_metric("reactord_echo_delayed_requests_total", DEADLINE, |v| {
        v >= 1.0
    });
    assert!(parsed >= 1.0, "the delayed request was not parsed");
    client
}

/// The Content-Length of a head.
fn content_length(head: &str) -> u64 {
    head.lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .unwrap_or_else(|| panic!("Content-Length in {head}"))
        .trim()
        .parse()
        .unwrap()
}

/// A restart's old workers keep their promises. A response begun before
/// the drain (its head said keep-alive) that ends during it leaves its
/// connection open for the drain grace, so the client's next request is
/// answered (with `Connection: close`) instead of meeting a closed
/// connection; and a delayed /echo parsed before the drain, whose head is
/// written at wake time during it, says `Connection: close`.
#[test]
fn a_restart_keeps_the_keep_alive_promised_before_it_and_says_close_after() {
    use std::io::Write;
    let server = start_two(&[]);
    // A 64 MiB body the client does not read yet: it can't end before the
    // drain, whatever the machine's speed, and it ends when we read it.
    let mut big = server.connect();
    big.set_read_timeout(Some(DEADLINE)).unwrap();
    big.write_all(b"GET /echo?size=67108864 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, body_start) = read_head(&mut big);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!head.contains("Connection: close"), "{head}");
    // A delayed answer, parsed (counted) before the restart.
    let sent = std::time::Instant::now();
    let mut delayed = hold_a_delayed_echo(&server, "10s");

    server.signal(libc::SIGHUP);
    assert!(
        logged_twice(&server, ": shutting down, "),
        "the old workers did not begin to drain: {}",
        server.stderr_text()
    );
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "inconclusive: the restart took longer than the delay (10 s; it takes milliseconds)"
    );

    // The big response ends during the drain; the next request on its
    // connection is still answered.
    let mut left = content_length(&head) - body_start.len() as u64;
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        let n = big.read(&mut buf).expect("read the body");
        assert!(n > 0, "EOF with {left} bytes of the body left");
        left -= (n as u64).min(left);
    }
    big.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send the next request");
    let (next, _) = read_head(&mut big);
    assert!(next.starts_with("HTTP/1.1 200"), "{next}");
    assert!(next.contains("Connection: close"), "{next}");

    // The delayed head was written during the drain.
    let (late, _) = read_head(&mut delayed);
    assert!(late.starts_with("HTTP/1.1 200"), "{late}");
    assert!(late.contains("Connection: close"), "{late}");
}

/// A draining worker stops watching the shared socket, or the kernel would
/// keep giving it exclusive wake-ups it no longer acts on, and new clients
/// would wait. (mio's `deregister` can't remove the `EPOLLEXCLUSIVE`
/// registration in debug builds, which `cargo test` runs: the drain must
/// remove it the way it was added.) While an old worker drains a delayed
/// request, new connections are answered promptly.
#[test]
fn a_draining_worker_stops_watching_the_socket_and_new_clients_are_served() {
    use std::io::Write;
    let server = start_two(&["--log-level", "debug"]);
    let _held = hold_a_delayed_echo(&server, "5s");

    server.signal(libc::SIGHUP);
    assert!(
        logged_twice(&server, "drain: stopped watching the listening socket"),
        "{}",
        server.stderr_text()
    );
    assert!(
        !server.stderr_text().contains("cannot stop watching"),
        "{}",
        server.stderr_text()
    );
    // Generous per connection: the bug made them wait for good.
    for _ in 0..10 {
        let mut client = server.connect();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let (head, _) = read_head(&mut client);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
}

/// The pid of worker `slot` of the first start, from the supervisor's
/// `worker SLOT started (pid PID, generation 0)` line.
fn first_pid(server: &Server, slot: usize) -> u32 {
    let start = format!("worker {slot} started (pid ");
    let line = server
        .wait_for_line(DEADLINE, |l| l.contains(&start))
        .unwrap_or_else(|| panic!("no {start:?} line: {}", server.stderr_text()));
    line.split(&start)
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Every line a worker logs says which worker it is: slot and pid, the
/// same two the supervisor names it by.
#[test]
fn a_workers_log_lines_say_which_worker_and_pid() {
    let mut server = start_two(&[]);
    let pids = [first_pid(&server, 0), first_pid(&server, 1)];
    for (slot, pid) in pids.iter().enumerate() {
        let listening = format!(
            "[reactord::reactor] worker {slot} (pid {pid}): listening on {} (http)",
            server.addr
        );
        assert!(
            server.wait_for_log(&listening, DEADLINE),
            "no {listening:?}: {}",
            server.stderr_text()
        );
    }
    server.sigterm();
    assert!(server.wait_exit(DEADLINE).is_some_and(|s| s.success()));
    // Waited for, not looked up: the process has exited, but the thread
    // reading its stderr may not have read the last lines yet.
    for (slot, pid) in pids.iter().enumerate() {
        let prefix = format!("] worker {slot} (pid {pid}): ");
        for said in ["SIGTERM received: shutting down", "shutdown complete"] {
            assert!(
                server.wait_for_log(&format!("{prefix}{said}"), DEADLINE),
                "no {prefix:?}{said:?}: {}",
                server.stderr_text()
            );
        }
    }
    // The supervisor's own lines have no prefix.
    let text = server.stderr_text();
    assert!(text.contains("supervisor] listening on"), "{text}");
}

/// A stopped worker (SIGSTOP), continued and killed when dropped unless
/// the supervisor has already reaped it.
struct Stopped<'a> {
    server: &'a Server,
    pid: u32,
}

impl<'a> Stopped<'a> {
    fn new(server: &'a Server, pid: u32) -> Stopped<'a> {
        // SAFETY: kill(2) on a worker of our own child, which has not
        // reaped it (it is serving).
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGSTOP) }, 0);
        Stopped { server, pid }
    }
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        let gone = format!("(pid {}) died", self.pid);
        if !self.server.stderr_text().contains(&gone) {
            // SAFETY: not reaped yet (the supervisor logs a reaped
            // worker), so the pid is still the worker's.
            unsafe {
                libc::kill(self.pid as i32, libc::SIGCONT);
                libc::kill(self.pid as i32, libc::SIGKILL);
            }
        }
    }
}

/// Stop worker 0 (`pid`) with SIGSTOP, wait until the supervisor has
/// noticed its heartbeat stand still, killed it and started a replacement
/// that is ready; returns the replacement's pid.
fn stop_worker_0_until_replaced(server: &Server, pid: u32) -> u32 {
    let stopped = Stopped::new(server, pid);
    let stalled = format!("worker 0 (pid {pid}) stalled: its loop has not turned for");
    assert!(
        server.wait_for_log(&stalled, DEADLINE),
        "{}",
        server.stderr_text()
    );
    assert!(
        server.wait_for_log(&format!("(pid {pid}) died"), DEADLINE),
        "{}",
        server.stderr_text()
    );
    drop(stopped);
    // The replacement takes slot 0 again: the newest start in slot 0.
    let newest_in_slot_0 = || -> Option<u32> {
        let line = server
            .logs()
            .into_iter()
            .rfind(|l| l.contains("worker 0 started (pid "))?;
        line.split("(pid ").nth(1)?.split(',').next()?.parse().ok()
    };
    assert!(
        wait_until(DEADLINE, || newest_in_slot_0()
            .is_some_and(|new| new != pid)),
        "no replacement: {}",
        server.stderr_text()
    );
    let new = newest_in_slot_0().unwrap();
    assert!(
        server.wait_for_log(&format!("worker 0 (pid {new}) ready"), DEADLINE),
        "{}",
        server.stderr_text()
    );
    new
}

/// A worker whose loop stops turning without dying (here: stopped with
/// SIGSTOP) is noticed by its heartbeat, killed, and replaced by a worker
/// that serves; and a worker whose loop turns is never taken for stalled.
#[test]
fn a_worker_whose_loop_stopped_turning_is_replaced() {
    let mut server = start_two(&["--worker-heartbeat-timeout", "2s"]);
    let first = first_pid(&server, 0);
    let replacement = stop_worker_0_until_replaced(&server, first);

    // It serves: load until it has accepted connections (which worker
    // wakes is the kernel's choice; a handful of rounds at most).
    let target = format!("http://{}/", server.addr);
    let label = format!("{{worker=\"0\",pid=\"{replacement}\"}}");
    let served = wait_until(Duration::from_secs(60), || {
        let out = Load::start(&[
            "--close",
            "--connections",
            "16",
            "--requests",
            "500",
            &target,
        ])
        .report();
        assert_eq!(json_field(&out, "total"), 0, "{out}");
        metric_lines(
            &metrics(&server),
            "reactord_worker_connections_accepted_total",
        )
        .iter()
        .any(|(labels, accepted)| *labels == label && *accepted > 0)
    });
    assert!(
        served,
        "the replacement served nothing: {}",
        metrics(&server)
    );

    // Stop the replacement too. Its stall is noticed a whole heartbeat
    // timeout after it became ready, so by then worker 1 has been watched
    // for longer than two: had its heartbeat stood still (an idle loop
    // turns once a second, and every turn bumps it), it would have been
    // taken for stalled first.
    stop_worker_0_until_replaced(&server, replacement);
    let text = server.stderr_text();
    let stalled = text.lines().filter(|l| l.contains(" stalled: ")).count();
    assert_eq!(stalled, 2, "only the two stopped workers stalled: {text}");

    stop_cleanly(&mut server);
}

/// A directory of our own, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("reactord-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Put a copy of `from` at `path` the way an upgrade does: write a new
/// file beside it, then rename it over (a running binary's file can't be
/// written, but it can be replaced).
///
/// `cp` writes the copy, not this process: a descriptor open for writing
/// here would be inherited by any child another test's thread forks
/// meanwhile, and until that child execs, executing the file fails with
/// ETXTBSY.
fn install(path: &std::path::Path, from: &std::path::Path) {
    let next = path.with_extension("next");
    let copied = Command::new("cp")
        .arg(from)
        .arg(&next)
        .status()
        .expect("run cp");
    assert!(copied.success(), "cp {from:?} {next:?}: {copied}");
    let made_executable = Command::new("chmod")
        .arg("755")
        .arg(&next)
        .status()
        .expect("run chmod");
    assert!(made_executable.success());
    std::fs::rename(&next, path).unwrap();
}

/// Copy the binary into `dir` and start `--workers 2 ARGS` from the copy
/// (the supervisor starts workers from the path it was started by, which
/// a test can then replace); returns the path and the server, once both
/// workers are ready.
fn start_two_from_a_copy(dir: &TempDir, args: &[&str]) -> (std::path::PathBuf, Server) {
    let program = dir.0.join("reactord");
    install(&program, real_binary());
    let mut command = Command::new(&program);
    command
        .args(["--listen", "127.0.0.1:0", "--workers", "2"])
        .args(args);
    let server = Server::spawn(command);
    expect_log(&server, "all 2 workers ready");
    (program, server)
}

/// For [`install`]: the binary under test.
fn real_binary() -> &'static std::path::Path {
    std::path::Path::new(util::binary())
}

/// For [`install`]: a shell script running `text`, written in `dir` (never
/// executed from there).
fn script(dir: &TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.0.join("script.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{text}\n")).unwrap();
    path
}

/// SIGHUP with the real binary installed again: the restart completes.
fn restart_with_the_real_binary(server: &Server, program: &std::path::Path) {
    install(program, real_binary());
    let done = server
        .logs()
        .iter()
        .filter(|l| l.contains("restart: 2 new workers ready"))
        .count();
    server.signal(libc::SIGHUP);
    assert!(
        server.wait_for_lines(done + 1, DEADLINE, |l| l
            .contains("restart: 2 new workers ready, draining 2 old ones")),
        "{}",
        server.stderr_text()
    );
    let response = http_get(server.addr, "/");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

/// A restart whose new workers never say READY=1 (the binary on disk was
/// replaced by one that hangs) is given up after the readiness timeout:
/// the new workers are killed, the old ones go on serving, and a later
/// SIGHUP, with a good binary back, restarts as usual.
#[test]
fn a_restart_whose_workers_never_get_ready_is_given_up_and_the_old_ones_serve() {
    let dir = TempDir::new("ready-timeout");
    let (program, mut server) = start_two_from_a_copy(&dir, &["--worker-ready-timeout", "10s"]);

    install(&program, &script(&dir, "exec sleep 600"));
    server.signal(libc::SIGHUP);
    expect_log(&server, "restart given up: worker");
    assert!(
        server.wait_for_lines(2, DEADLINE, |l| l
            .contains("of the given-up restart exited")),
        "{}",
        server.stderr_text()
    );
    let response = http_get(server.addr, "/");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        !server.stderr_text().contains("exited after draining"),
        "an old worker was drained: {}",
        server.stderr_text()
    );

    restart_with_the_real_binary(&server, &program);

    stop_cleanly(&mut server);
}

/// Wait for a log line containing `text`, or fail with the whole log.
fn expect_log(server: &Server, text: &str) {
    assert!(
        server.wait_for_log(text, DEADLINE),
        "{}",
        server.stderr_text()
    );
}

/// SIGTERM, then the supervisor must exit 0 within the deadline.
fn stop_cleanly(server: &mut Server) {
    server.sigterm();
    let status = server.wait_exit(DEADLINE);
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {}",
        server.stderr_text()
    );
}

/// The pid in a `worker SLOT (pid PID) ...` line.
fn pid_in(line: &str) -> u32 {
    line.split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split([')', ',']).next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"))
}

/// A restart whose new workers exit at once (a binary that does not
/// start) is given up at the first such death, not retried for ever: the
/// old workers were never drained and serve on, and a later SIGHUP with a
/// good binary restarts as usual. The readiness timeout (60 s) is longer
/// than the test's wait: it is the death that gives the restart up.
#[test]
fn a_restart_whose_workers_exit_at_once_is_given_up_and_the_old_ones_serve() {
    let dir = TempDir::new("exit-at-once");
    let (program, mut server) = start_two_from_a_copy(&dir, &[]);

    install(&program, &script(&dir, "exit 3"));
    server.signal(libc::SIGHUP);
    expect_log(&server, "restart given up: worker");
    assert!(
        server.stderr_text().contains("exited before it was ready"),
        "{}",
        server.stderr_text()
    );
    for _ in 0..10 {
        let response = http_get(server.addr, "/");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    assert!(
        !server.stderr_text().contains("exited after draining"),
        "an old worker was drained: {}",
        server.stderr_text()
    );

    restart_with_the_real_binary(&server, &program);
    stop_cleanly(&mut server);
}

/// While a restart's new workers start (here: never, from a binary that
/// hangs), an old worker that dies is replaced, and from the old binary,
/// which the supervisor kept open: the path now holds the one that hangs.
#[test]
fn an_old_worker_that_dies_during_a_restart_is_replaced_from_the_old_binary() {
    let dir = TempDir::new("old-top-up");
    let (program, mut server) = start_two_from_a_copy(&dir, &[]);
    let old = first_pid(&server, 0);

    install(&program, &script(&dir, "exec sleep 600"));
    server.signal(libc::SIGHUP);
    assert!(
        server.wait_for_lines(2, DEADLINE, |l| l.contains("generation 1)")),
        "the new workers did not start: {}",
        server.stderr_text()
    );
    // SAFETY: kill(2) on a worker of our own child, serving (not reaped).
    assert_eq!(unsafe { libc::kill(old as i32, libc::SIGKILL) }, 0);
    assert!(
        server.wait_for_log(&format!("(pid {old}) died"), DEADLINE),
        "{}",
        server.stderr_text()
    );
    // Two first workers, then the replacement: the third start of
    // generation 0.
    let old_generation = |l: &str| l.contains(" started (pid ") && l.contains("generation 0)");
    assert!(
        server.wait_for_lines(3, DEADLINE, old_generation),
        "no replacement of generation 0: {}",
        server.stderr_text()
    );
    let replacement = server
        .logs()
        .into_iter()
        .rfind(|l| old_generation(l))
        .unwrap();
    let pid = pid_in(&replacement);
    assert!(
        server.wait_for_log(&format!("(pid {pid}) ready"), DEADLINE),
        "the replacement did not get ready: {}",
        server.stderr_text()
    );
    let response = http_get(server.addr, "/");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    stop_cleanly(&mut server);
}

/// A restart given up after some of its new workers said READY=1 drains
/// those (SIGTERM), as old ones: they are serving on the shared socket, and
/// a SIGKILL would reset their connections. Only the never-ready ones are
/// killed.
#[test]
fn giving_a_restart_up_drains_the_new_workers_that_were_ready() {
    let dir = TempDir::new("give-up-ready");
    let (program, mut server) = start_two_from_a_copy(&dir, &[]);
    // The first new worker runs the real binary; the second waits until
    // the test opens and closes the FIFO `go`, then exits before it is
    // ready, which gives the restart up.
    let go = dir.0.join("go");
    let made = Command::new("mkfifo").arg(&go).status().expect("mkfifo");
    assert!(made.success());
    let text = format!(
        "if mkdir '{first}' 2>/dev/null; then exec '{real}' \"$@\"; fi\ncat '{go}' >/dev/null\nexit 3",
        first = dir.0.join("first").display(),
        real = util::binary(),
        go = go.display(),
    );
    install(&program, &script(&dir, &text));
    server.signal(libc::SIGHUP);
    assert!(
        server.wait_for_lines(3, DEADLINE, |l| l.contains(") ready")),
        "the first new worker did not get ready: {}",
        server.stderr_text()
    );
    let ready = server
        .logs()
        .into_iter()
        .filter(|l| l.contains(") ready"))
        .nth(2)
        .unwrap();
    let pid = pid_in(&ready);
    // Opening a FIFO to write fails (ENXIO) until its reader has it open.
    let mut writer = None;
    assert!(
        wait_until(DEADLINE, || {
            use std::os::unix::fs::OpenOptionsExt;
            writer = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&go)
                .ok();
            writer.is_some()
        }),
        "the second new worker never opened the FIFO: {}",
        server.stderr_text()
    );
    drop(writer);
    expect_log(&server, "restart given up: worker");
    assert!(
        server.wait_for_log(&format!("(pid {pid}) exited after draining"), DEADLINE),
        "the ready new worker was not drained: {}",
        server.stderr_text()
    );
    let response = http_get(server.addr, "/");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    restart_with_the_real_binary(&server, &program);
    stop_cleanly(&mut server);
}

/// A SIGHUP that reaches a worker (`pkill -HUP reactord` signals every
/// process) is logged, and the worker serves on: its default action would
/// kill the worker and reset its connections.
#[test]
fn a_worker_logs_a_sighup_and_serves_on() {
    let mut server = start_two(&[]);
    let pid = first_pid(&server, 0);
    // SAFETY: kill(2) on a worker of our own child, serving (not reaped).
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGHUP) }, 0);
    assert!(
        server.wait_for_log(&format!("worker 0 (pid {pid}): SIGHUP received"), DEADLINE),
        "{}",
        server.stderr_text()
    );
    for _ in 0..10 {
        let response = http_get(server.addr, "/");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    stop_cleanly(&mut server);
    // Waited for: the thread reading stderr may lag behind the exit.
    assert!(
        server.wait_for_log(&format!("(pid {pid}) exited after draining"), DEADLINE),
        "{}",
        server.stderr_text()
    );
}
