//! Faults and hostile clients: the server keeps serving, loses nothing, and
//! its memory and connection count stay bounded. Each test is bounded in
//! seconds.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};
use util::{IO_TIMEOUT, Server, read_to_end, wait_until};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

/// CPU time (user + system) the process has used, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses).
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn get_ok(stream: &mut TcpStream) {
    stream.write_all(GET).unwrap();
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200 OK"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[test]
fn out_of_descriptors_the_loop_pauses_accepting_instead_of_spinning_and_recovers() {
    let mut command = Command::new(util::binary());
    command.args(["--listen", "127.0.0.1:0"]);
    // SAFETY: setrlimit is async-signal-safe; it runs in the child before exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 24,
                rlim_max: 24,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let server = Server::spawn(command);
    assert!(server.wait_for_log(
        "does not fit in the descriptor limit",
        Duration::from_secs(5)
    ));
    // More clients than descriptors: the extra ones wait in the backlog.
    let mut clients: Vec<TcpStream> = (0..40).map(|_| server.connect()).collect();
    assert!(
        server.wait_for_log("Too many open files", Duration::from_secs(5)),
        "{:?}",
        server.logs()
    );
    // The listener stays readable, yet the loop must not spin on it. (The
    // second of waiting is the measurement itself: CPU used over time.)
    let before = cpu_seconds(server.pid());
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_seconds(server.pid()) - before;
    assert!(
        used < 0.3,
        "the server used {used:.2} s of CPU in 1 s while out of descriptors"
    );
    let warnings = server
        .logs()
        .iter()
        .filter(|l| l.contains("Too many open files"))
        .count();
    // At most one a second since the first, which came after the start.
    let allowed = started.elapsed().as_secs() + 1;
    assert!(
        warnings as u64 <= allowed,
        "{warnings} warnings in {:?}: at most one a second",
        started.elapsed()
    );
    // Free descriptors: every waiting client is served, without a restart.
    // (About 17 descriptors are left for connections; keep fewer clients
    // than that, since each stays open after its request.)
    clients.drain(..30);
    for client in &mut clients {
        get_ok(client);
    }
}

#[test]
fn a_thousand_slowloris_clients_do_not_keep_a_normal_client_waiting_and_are_closed() {
    reactord::process::rlimit::raise_nofile_limit().unwrap();
    let server = Server::start(&["--request-timeout", "5s"]);
    let mut slow: Vec<TcpStream> = Vec::new();
    for i in 0..1000 {
        let mut client = server.connect();
        client
            .write_all(format!("GET /{i} HTTP/1.1\r\nHost: t\r\nX-Slow: ").as_bytes())
            .unwrap();
        slow.push(client);
    }
    // Served while every slow client still holds its connection: not one
    // has been closed yet (no timing, just the order of events).
    let mut normal = server.connect();
    get_ok(&mut normal);
    assert_eq!(
        server.metric("reactord_connections_timed_out_total"),
        0.0,
        "the normal client was only served once slow clients timed out"
    );
    // 1000 slow, the normal one, and the /metrics request.
    assert_eq!(server.metric("reactord_connections_active"), 1002.0);
    // One more byte each, as slowloris does: it doesn't buy more time.
    for (i, client) in slow.iter_mut().enumerate() {
        client
            .write_all(b"x")
            .unwrap_or_else(|e| panic!("slow client {i} was cut off early: {e}"));
    }
    let timed_out = server.wait_for_metric(
        "reactord_connections_timed_out_total",
        Duration::from_secs(30),
        |n| n >= 1000.0,
    );
    assert!(
        timed_out >= 1000.0,
        "{timed_out} slowloris clients closed at the request timeout, not 1000"
    );
    for (i, client) in slow.iter_mut().enumerate() {
        let rest = read_to_end(client)
            .unwrap_or_else(|e| panic!("slow client {i}: a FIN expected, got {e}"));
        assert_eq!(rest, b"", "slow client {i}: closed without a response");
    }
    get_ok(&mut normal);
}

#[test]
fn a_client_that_stops_reading_is_closed_after_the_idle_timeout_with_bounded_memory() {
    let server = Server::start(&["--idle-timeout", "1s"]);
    let mut reader_that_never_reads = server.connect();
    reader_that_never_reads.set_nonblocking(true).unwrap();
    // Pipeline requests without reading a byte until the kernel pushes back.
    let burst = GET.repeat(1000);
    let mut sent = 0usize;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match reader_that_never_reads.write(&burst) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50))
            }
            // The server gave up on us (the idle timeout): that is the point.
            Err(_) => break,
        }
        if sent > 64 << 20 {
            break;
        }
    }
    let rss = server.rss_kib();
    assert!(
        rss < 32 * 1024,
        "server RSS {rss} KiB with a stalled reader"
    );
    let timed_out =
        server.wait_for_metric("reactord_connections_timed_out_total", IO_TIMEOUT, |n| {
            n >= 1.0
        });
    assert!(timed_out >= 1.0, "stalled reader not closed");
    assert_eq!(server.metric("reactord_connections_active"), 1.0);
}

#[test]
fn resets_mid_request_and_mid_response_free_every_slot() {
    let server = Server::start(&[]);
    for i in 0..200 {
        let mut client = server.connect();
        if i % 2 == 0 {
            client.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
        } else {
            client.write_all(&GET.repeat(2000)).unwrap();
        }
        // SO_LINGER 0: close sends RST instead of FIN.
        socket2::SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(client);
    }
    let active = server.wait_for_metric("reactord_connections_active", IO_TIMEOUT, |n| n == 1.0);
    assert_eq!(
        active, 1.0,
        "active connections did not fall back to 1 (the /metrics request)"
    );
    let mut fresh = server.connect();
    get_ok(&mut fresh);
}

#[test]
fn shutdown_under_load_finishes_responses_in_flight_and_exits_0() {
    let mut server = Server::start(&["--shutdown-timeout", "10s", "--log-level", "trace"]);
    // A client with 20,000 pipelined requests not yet read: its responses
    // (about 3 MB) are in flight when the signal arrives.
    let mut busy = server.connect();
    let busy_key = server.connection_key(&busy);
    busy.write_all(&GET.repeat(20_000)).unwrap();
    let mut idle = server.connect();
    get_ok(&mut idle);
    // Wait until the requests are the server's business, not the kernel's:
    // it has read them all, or answered so much that the socket would take
    // no more (then it reads the rest as the client drains the answers).
    let stuck = format!("conn {busy_key}: Reading -> Writing (socket send buffer full)");
    let read_prefix = format!("conn {busy_key}: read ");
    let read_by_server = || -> usize {
        server
            .logs()
            .iter()
            .filter_map(|line| line.split(&read_prefix).nth(1)?.strip_suffix(" bytes"))
            .filter_map(|n| n.parse::<usize>().ok())
            .sum()
    };
    assert!(
        wait_until(IO_TIMEOUT, || read_by_server() == GET.len() * 20_000
            || server.logs().iter().any(|l| l.ends_with(&stuck))),
        "the server read {} of {} bytes and is not stuck writing",
        read_by_server(),
        GET.len() * 20_000
    );
    server.signal(libc::SIGTERM);
    assert!(server.wait_for_log("SIGTERM received", IO_TIMEOUT));
    // The listener closed at once...
    assert!(wait_until(IO_TIMEOUT, || TcpStream::connect(server.addr).is_err()));
    // ...the idle keep-alive connection was closed...
    assert_eq!(read_to_end(&mut idle).unwrap(), b"");
    // ...and every response in flight arrives whole.
    let all = read_to_end(&mut busy).expect("FIN after the last response");
    let responses = all.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count();
    assert_eq!(responses, 20_000);
    let status = server.wait_exit(Duration::from_secs(5)).expect("exit");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn reuse_port_lets_two_processes_share_one_port() {
    let first = Server::start(&["--reuse-port", "--access-log"]);
    let mut command = Command::new(util::binary());
    command.args([
        "--listen",
        &first.addr.to_string(),
        "--reuse-port",
        "--access-log",
    ]);
    let second = Server::spawn(command);
    assert_eq!(second.addr, first.addr);
    for _ in 0..64 {
        let mut client = first.connect();
        get_ok(&mut client);
    }
    let served = |s: &Server| {
        s.logs()
            .iter()
            .filter(|l| l.contains("\"GET / HTTP/1.1\" 200"))
            .count()
    };
    // Access log lines are written at the end of a loop turn: wait for them.
    wait_until(IO_TIMEOUT, || served(&first) + served(&second) >= 64);
    assert_eq!(served(&first) + served(&second), 64);
    assert!(
        served(&first) > 0 && served(&second) > 0,
        "{} / {}",
        served(&first),
        served(&second)
    );
}

#[test]
fn without_reuse_port_a_second_process_cannot_bind() {
    let first = Server::start(&[]);
    let (status, stderr) = util::run_to_exit(&["--listen", &first.addr.to_string()]);
    assert_eq!(status.code(), Some(1), "{stderr}");
}

#[test]
fn the_backlog_flag_reaches_listen() {
    if !util::require_tool("ss", "iproute2") {
        return;
    }
    let server = Server::start(&["--backlog", "77"]);
    let filter = format!("sport = :{}", server.addr.port());
    let (status, out) = util::run_tool("ss", &["-ltn", &filter], Duration::from_secs(5));
    assert!(status.success(), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("LISTEN"))
        .unwrap_or_else(|| panic!("{out}"));
    // For a listening socket, ss shows the backlog as Send-Q.
    assert_eq!(line.split_whitespace().nth(2), Some("77"), "{line}");
}

#[test]
fn sigterm_during_a_wrk_run_exits_0_promptly() {
    if !util::require_tool("wrk", "wrk") {
        return;
    }
    let mut server = Server::start(&[]);
    let url = format!("http://{}/", server.addr);
    let wrk = std::thread::spawn(move || {
        util::run_tool(
            "wrk",
            &["-t1", "-c32", "-d3s", &url],
            Duration::from_secs(30),
        )
    });
    // Requests are being served: then the signal.
    let served = server.wait_for_metric(
        "reactord_http_responses_total{class=\"2xx\"}",
        IO_TIMEOUT,
        |n| n >= 100.0,
    );
    assert!(served >= 100.0, "wrk was not served: {served}");
    server.signal(libc::SIGTERM);
    let status = server
        .wait_exit(Duration::from_secs(5))
        .expect("exit within the shutdown timeout");
    assert_eq!(status.code(), Some(0));
    let (_, out) = wrk.join().unwrap();
    // Requests were served before the signal; after it the listener is gone,
    // so wrk's reconnects fail, which it reports as connect errors only.
    assert!(out.contains("requests in"), "{out}");
    assert!(!out.contains("Non-2xx"), "{out}");
}

/// Start reactord with RLIMIT_NOFILE fixed at `limit` (soft and hard) and
/// return whether it warned that its limits don't fit the descriptors.
fn warns_of_descriptors(limit: u64, args: &[&str]) -> bool {
    let mut command = Command::new(util::binary());
    command.args(["--listen", "127.0.0.1:0"]).args(args);
    // SAFETY: setrlimit is async-signal-safe; it runs in the child before exec.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let server = Server::spawn(command);
    // The warning comes before the `listening on` line, which `spawn`
    // has seen: every earlier line is in the logs by now.
    server
        .logs()
        .iter()
        .any(|line| line.contains("does not fit in the descriptor limit"))
}

/// The open-file cache keeps up to --file-cache-entries files open: with
/// --root they count against the descriptor limit as connections do.
#[test]
fn the_descriptor_warning_counts_the_open_file_cache() {
    let root = env!("CARGO_MANIFEST_DIR");
    let connections = ["--max-connections", "1000"];
    assert!(!warns_of_descriptors(1100, &connections));
    let with_root = [&connections[..], &["--root", root]].concat();
    assert!(warns_of_descriptors(1100, &with_root));
    let without_cache = [&with_root[..], &["--file-cache-entries", "0"]].concat();
    assert!(!warns_of_descriptors(1100, &without_cache));
}
