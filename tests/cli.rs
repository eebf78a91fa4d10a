//! The command-line contract: the `listening on` line, exit codes for
//! signals, usage errors and bind failures, `--help` and `--version`.

mod util;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use util::{
    DEFAULT_GREETING, IO_TIMEOUT, Server, read_to_end, read_to_end_with_timeout, run_to_exit,
    wait_until,
};

/// How long a process that should exit now may take.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Wait for the server's trace line saying it read `n` bytes from `client`
/// (the server runs with `--log-level trace`): only then is a partial
/// request known to be in the server's hands rather than in a socket buffer.
fn wait_until_read(server: &Server, client: &TcpStream, n: usize) {
    let key = server.connection_key(client);
    let line = format!("conn {key}: read {n} bytes");
    assert!(
        server.wait_for_log(&line, IO_TIMEOUT),
        "no `{line}`; stderr:\n{}",
        server.stderr_text()
    );
}

#[test]
fn the_listening_line_names_the_real_port_and_protocol() {
    for protocol in ["greeting", "echo"] {
        let server = Server::start(&["--protocol", protocol]);
        assert_ne!(
            server.addr.port(),
            0,
            "the log shows port 0, not the real port"
        );
        assert_eq!(
            server.protocol,
            protocol,
            "stderr:\n{}",
            server.stderr_text()
        );
        // The address in the log is the one that answers, with that protocol.
        let mut stream = server.connect();
        stream.write_all(b"ping\n").unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let reply = read_to_end_with_timeout(&mut stream, IO_TIMEOUT).unwrap();
        let expected = if protocol == "echo" {
            "ping\n"
        } else {
            DEFAULT_GREETING
        };
        assert_eq!(String::from_utf8_lossy(&reply), expected, "{protocol}");
    }
}

#[test]
fn sigterm_exits_zero() {
    let mut server = Server::start(&["--protocol", "greeting"]);
    server.sigterm();
    let status = server.wait_exit(EXIT_TIMEOUT);
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "after SIGTERM: {status:?}; stderr:\n{}",
        server.stderr_text()
    );
}

#[test]
fn sigint_exits_zero() {
    let mut server = Server::start(&["--protocol", "greeting"]);
    server.sigint();
    let status = server.wait_exit(EXIT_TIMEOUT);
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "after SIGINT: {status:?}; stderr:\n{}",
        server.stderr_text()
    );
}

/// An idle client has no response in flight, so it must not hold up a
/// graceful shutdown (the default --shutdown-timeout is 10 s; we allow 5).
/// SIGHUP never kills a single process (its default action would, with
/// exit 129 and no log line): it is logged, the server goes on answering,
/// and SIGTERM still ends it with exit 0.
#[test]
fn sighup_is_logged_and_the_server_keeps_serving() {
    let mut server = Server::start(&["--protocol", "echo"]);
    server.signal(libc::SIGHUP);
    assert!(
        server.wait_for_log("SIGHUP received: nothing to reload yet", IO_TIMEOUT),
        "no SIGHUP line; stderr:\n{}",
        server.stderr_text()
    );
    let mut stream = server.connect();
    stream.write_all(b"still here\n").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let reply = read_to_end_with_timeout(&mut stream, IO_TIMEOUT).unwrap();
    assert_eq!(reply, b"still here\n");
    server.sigterm();
    let status = server.wait_exit(EXIT_TIMEOUT);
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "after SIGHUP then SIGTERM: {status:?}; stderr:\n{}",
        server.stderr_text()
    );
}

#[test]
fn sigterm_exits_zero_promptly_while_a_silent_greeting_client_is_connected() {
    let mut server = Server::start(&["--protocol", "greeting", "--log-level", "trace"]);
    let mut stream = server.connect();
    // Make sure the server has accepted it: a connection in the backlog only
    // would prove nothing.
    server.connection_key(&stream);
    server.sigterm();
    let status = server.wait_exit(EXIT_TIMEOUT);
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "after SIGTERM with an idle client connected: {status:?}; stderr:\n{}",
        server.stderr_text()
    );
    // And the client sees a clean close: no reply (it asked nothing), no reset.
    let rest =
        read_to_end_with_timeout(&mut stream, IO_TIMEOUT).expect("a FIN, not a reset or silence");
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn sigterm_exits_zero_promptly_while_an_idle_echo_client_is_connected() {
    let mut server = Server::start(&["--protocol", "echo"]);
    let mut stream = server.connect();
    stream.write_all(b"ping").unwrap();
    let mut back = [0u8; 4];
    stream.read_exact(&mut back).unwrap();
    server.sigterm();
    let status = server.wait_exit(EXIT_TIMEOUT);
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "after SIGTERM with an idle echo client connected: {status:?}; stderr:\n{}",
        server.stderr_text()
    );
    let rest =
        read_to_end_with_timeout(&mut stream, IO_TIMEOUT).expect("a FIN, not a reset or silence");
    assert!(rest.is_empty(), "{rest:?}");
}

/// An echo client that writes and never reads: the server has output in
/// flight that cannot drain, so a graceful shutdown has to wait for it. The
/// server must run with `--log-level trace`: the client is returned once
/// the server has output for it that it cannot write at once (the socket
/// is full, or a turn's write budget is spent: the two ways into Writing).
fn start_stuck_echo_client(
    server: &Server,
) -> (TcpStream, usize, thread::JoinHandle<io::Result<()>>) {
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    writer
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let handle = thread::spawn(move || {
        let chunk = vec![b'z'; 64 * 1024];
        // 64 MiB: far more than socket buffers hold, so the writer blocks
        // and the server is left with output it cannot deliver.
        for _ in 0..1024 {
            writer.write_all(&chunk)?;
        }
        Ok(())
    });
    let key = server.connection_key(&stream);
    let writing = format!("conn {key}: Reading -> Writing (");
    assert!(
        server.wait_for_log(&writing, IO_TIMEOUT),
        "the server never had output it could not write at once: {}",
        server.stderr_text()
    );
    (stream, key, handle)
}

/// Show that the server's loop still turns *now* and still serves
/// `stream`, the stuck echo client it calls `conn {key}`: read some of the
/// echo until the server logs an event for that connection that came after
/// this call began (the reading opens the window, which raises a writable
/// edge). A server that had exited, or stopped serving the connection,
/// logs no such event.
fn assert_still_serving(server: &Server, stream: &mut TcpStream, key: usize) {
    let seen = server.logs().len();
    let event = format!("conn {key}: event");
    let new_event = || server.logs()[seen..].iter().any(|l| l.contains(&event));
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    let mut chunk = vec![0u8; 64 * 1024];
    while !new_event() {
        assert!(
            std::time::Instant::now() < deadline,
            "no event for conn {key}: the loop no longer serves it; stderr:\n{}",
            server.stderr_text()
        );
        match stream.read(&mut chunk) {
            // Everything flushed and closed: its last writes were events.
            Ok(0) => {
                assert!(wait_until(IO_TIMEOUT, new_event), "closed with no event");
                return;
            }
            Ok(n) => assert!(chunk[..n].iter().all(|&b| b == b'z'), "echo differs"),
            Err(e) => panic!("reading the echo in flight: {e}"),
        }
    }
}

#[test]
fn a_second_signal_exits_at_once() {
    let mut server = Server::start(&[
        "--protocol",
        "echo",
        "--shutdown-timeout",
        "30s",
        "--log-level",
        "trace",
    ]);
    let (mut stream, key, writer) = start_stuck_echo_client(&server);

    server.sigterm();
    assert!(server.wait_for_log("SIGTERM received", IO_TIMEOUT));
    // The first signal does not stop the response in flight.
    assert_still_serving(&server, &mut stream, key);

    server.sigterm();
    let status = server.wait_exit(EXIT_TIMEOUT);
    assert!(
        status.is_some(),
        "the server did not exit at a second SIGTERM (--shutdown-timeout 30s); stderr:\n{}",
        server.stderr_text()
    );
    drop(stream);
    // The server is gone, so the writer's next write fails at once.
    let _ = writer.join();
}

/// After the first signal the server stops accepting (the listening socket
/// is closed, so a new connection is refused) while old ones drain.
#[test]
fn sigterm_stops_accepting_new_connections_while_draining() {
    let server = Server::start(&[
        "--protocol",
        "echo",
        "--shutdown-timeout",
        "30s",
        "--log-level",
        "trace",
    ]);
    let (mut stream, key, writer) = start_stuck_echo_client(&server);
    server.sigterm();
    assert!(server.wait_for_log("SIGTERM received", IO_TIMEOUT));

    let mut last = None;
    let refused = wait_until(IO_TIMEOUT, || {
        match TcpStream::connect_timeout(&server.addr, IO_TIMEOUT) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => true,
            other => {
                last = Some(format!("{other:?}"));
                false
            }
        }
    });
    assert!(
        refused,
        "connections still accepted while draining: {last:?}"
    );
    // Refused by a server that is still draining, not by one that is gone.
    assert_still_serving(&server, &mut stream, key);
    drop(stream);
    drop(server);
    let _ = writer.join();
}

/// The first signal waits for a request in flight: the client may still
/// finish it, gets its reply, and then the server exits 0.
#[test]
fn shutdown_finishes_a_request_in_flight_then_exits_0() {
    let mut server = Server::start(&["--protocol", "greeting", "--log-level", "trace"]);
    let mut client = server.connect();
    client.write_all(b"half a line").unwrap();
    // A request still in the socket buffer is not "in flight" for the
    // server: it must have read it before the signal.
    wait_until_read(&server, &client, "half a line".len());
    server.sigterm();
    assert!(
        server.wait_for_log("SIGTERM received", Duration::from_secs(5)),
        "stderr:\n{}",
        server.stderr_text()
    );
    client.write_all(b" and the rest\n").unwrap();
    assert_eq!(
        read_to_end(&mut client).unwrap(),
        DEFAULT_GREETING.as_bytes()
    );
    // The server lingers until the client's EOF (or 5 s), so that closing
    // can't reset the reply; a real client closes after reading.
    drop(client);
    let status = server.wait_exit(EXIT_TIMEOUT).expect("exit");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_second_signal_exits_at_once_while_a_request_is_half_read() {
    let mut server = Server::start(&[
        "--protocol",
        "greeting",
        "--shutdown-timeout",
        "60s",
        "--log-level",
        "trace",
    ]);
    let mut busy = server.connect();
    busy.write_all(b"request in progress").unwrap();
    wait_until_read(&server, &busy, "request in progress".len());
    let mut other = server.connect();
    other.write_all(b"another").unwrap();
    wait_until_read(&server, &other, "another".len());
    server.sigterm();
    assert!(server.wait_for_log("SIGTERM received", IO_TIMEOUT));
    // Still serving after the first signal: `other` finishes its request and
    // gets its reply, while `busy` keeps the server draining.
    other.write_all(b"\n").unwrap();
    assert_eq!(
        read_to_end_with_timeout(&mut other, IO_TIMEOUT).expect("a reply, then EOF"),
        DEFAULT_GREETING.as_bytes()
    );
    assert!(server.is_running(), "exited with `busy` still in flight");
    server.sigterm();
    assert!(
        server.wait_exit(EXIT_TIMEOUT).is_some(),
        "the second signal must exit at once, not after the 60 s shutdown timeout"
    );
    drop(busy);
}

#[test]
fn a_port_in_use_exits_1_with_an_error_line_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (status, stderr) = run_to_exit(&["--listen", &addr, "--protocol", "greeting"]);
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        error_lines.len(),
        1,
        "expected exactly one line starting `error:`; stderr:\n{stderr}"
    );
    assert!(
        error_lines[0].contains(&addr),
        "the error line does not name {addr}: {:?}",
        error_lines[0]
    );
    drop(taken);
}

/// The IPv4 addresses of this machine's interfaces (getifaddrs(3)).
fn local_ipv4_addresses() -> Vec<Ipv4Addr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we free below.
    assert_eq!(unsafe { libc::getifaddrs(&mut list) }, 0, "getifaddrs");
    let mut addresses = Vec::new();
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list getifaddrs returned; an
        // AF_INET ifa_addr points to a sockaddr_in.
        unsafe {
            let addr = (*entry).ifa_addr;
            if !addr.is_null() && i32::from((*addr).sa_family) == libc::AF_INET {
                let v4 = &*addr.cast::<libc::sockaddr_in>();
                addresses.push(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)));
            }
            entry = (*entry).ifa_next;
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    addresses
}

/// An address that is certainly not ours: a documentation address (RFC
/// 5737, never routed) that no interface here carries, checked rather than
/// assumed.
#[test]
fn an_address_that_is_not_ours_exits_1() {
    let nonlocal_bind = std::fs::read_to_string("/proc/sys/net/ipv4/ip_nonlocal_bind");
    if nonlocal_bind.is_ok_and(|v| v.trim() != "0") {
        println!("skipping: net.ipv4.ip_nonlocal_bind lets any address be bound here");
        return;
    }
    let local = local_ipv4_addresses();
    let not_ours = ["192.0.2.1", "198.51.100.1", "203.0.113.1"]
        .into_iter()
        .map(|a| a.parse::<Ipv4Addr>().unwrap())
        .find(|a| !local.contains(a))
        .expect("every documentation address is assigned here");
    let addr = format!("{not_ours}:80");
    let (status, stderr) = run_to_exit(&["--listen", &addr]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("error:") && l.contains(&addr)),
        "{stderr}"
    );
}

#[test]
fn an_unknown_flag_exits_2() {
    let (status, stderr) = run_to_exit(&["--no-such-flag"]);
    assert_eq!(status.code(), Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("--no-such-flag"),
        "the message should name the flag:\n{stderr}"
    );
}

#[test]
fn a_bad_duration_exits_2() {
    let (status, stderr) = run_to_exit(&["--listen", "127.0.0.1:0", "--idle-timeout", "banana"]);
    assert_eq!(status.code(), Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("banana"),
        "the message should show the bad value:\n{stderr}"
    );
}

/// Each form of DUR, given to --idle-timeout, is the time a silent echo
/// client is kept: not less (a unit read too small) and, within a bound far
/// below the misreadings (250 s for 250ms, 3 minutes for 3), not more.
/// "2m" is checked to be still open after the others closed.
#[test]
fn durations_accept_milliseconds_seconds_minutes_and_bare_numbers() {
    let cases = [
        ("250ms", Some(Duration::from_millis(250))),
        ("2s", Some(Duration::from_secs(2))),
        ("3", Some(Duration::from_secs(3))),
        ("2m", None),
    ];
    let mut clients: Vec<_> = cases
        .iter()
        .map(|&(text, expected)| {
            let server = Server::start(&["--protocol", "echo", "--idle-timeout", text]);
            // Before connecting: the server's clock for this client starts
            // later, at accept.
            let connecting = std::time::Instant::now();
            let client = server.connect();
            (text, expected, server, client, connecting)
        })
        .collect();
    for (text, expected, server, client, connected) in &mut clients {
        let Some(expected) = *expected else { continue };
        let rest = read_to_end_with_timeout(client, Duration::from_secs(30)).unwrap_or_else(|e| {
            panic!(
                "--idle-timeout {text}: not closed within 30 s: {e}; {}",
                server.stderr_text()
            )
        });
        assert!(rest.is_empty());
        let kept = connected.elapsed();
        assert!(
            kept >= expected,
            "--idle-timeout {text}: closed after only {kept:?}"
        );
    }
    let (_, _, server, client, _) = &mut clients[3];
    client.set_nonblocking(true).unwrap();
    match client.read(&mut [0u8; 1]) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!(
            "--idle-timeout 2m: closed within seconds ({other:?}); {}",
            server.stderr_text()
        ),
    }
}

#[test]
fn an_unknown_protocol_exits_2() {
    let (status, stderr) = run_to_exit(&["--listen", "127.0.0.1:0", "--protocol", "gopher"]);
    assert_eq!(status.code(), Some(2), "stderr:\n{stderr}");
}

#[test]
fn an_unparsable_listen_address_exits_2() {
    let (status, stderr) = run_to_exit(&["--listen", "nowhere"]);
    assert_eq!(status.code(), Some(2), "stderr:\n{stderr}");
}

#[test]
fn help_exits_0_and_mentions_listen() {
    for flag in ["--help", "-h"] {
        let (status, out) = run_to_exit(&[flag]);
        assert_eq!(status.code(), Some(0), "{flag}:\n{out}");
        assert!(
            out.contains("--listen") && out.contains("--request-timeout"),
            "{flag} output does not list the flags:\n{out}"
        );
    }
}

/// The names `--protocol` accepts are a contract (scripts pass them), and
/// the help lists exactly the names accepted, once: both come from the
/// `ProtocolName` enum, so a protocol added to the binary shows in `-h`
/// with no hand-written list to forget (one said "http | echo | greeting"
/// beside the derived list).
#[test]
fn the_protocol_help_lists_exactly_the_accepted_names() {
    let possible = |text: &str| -> Vec<String> {
        let list = text
            .split("[possible values: ")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .unwrap_or_else(|| panic!("no possible values in {text}"));
        list.split(", ").map(str::to_string).collect()
    };
    let (_, help) = run_to_exit(&["-h"]);
    let line = help
        .lines()
        .find(|l| l.trim_start().starts_with("--protocol"))
        .unwrap_or_else(|| panic!("no --protocol in -h:\n{help}"));
    let listed = possible(line);
    for name in ["http", "echo", "greeting"] {
        assert!(listed.iter().any(|n| n == name), "{name} in {line}");
    }
    // The help text before clap's brackets names none of them.
    let words = line.split('[').next().unwrap_or_default();
    for name in &listed {
        assert!(!words.contains(name.as_str()), "{name} in {words}");
    }
    let (status, refused) = run_to_exit(&["--protocol", "bogus"]);
    assert_eq!(status.code(), Some(2), "{refused}");
    assert_eq!(possible(&refused), listed, "{refused}");
}

#[test]
fn version_exits_0_and_prints_the_version() {
    for flag in ["--version", "-V"] {
        let (status, out) = run_to_exit(&[flag]);
        assert_eq!(status.code(), Some(0), "{flag}:\n{out}");
        assert!(
            out.contains(env!("CARGO_PKG_VERSION")),
            "{flag} output lacks the version {}:\n{out}",
            env!("CARGO_PKG_VERSION")
        );
    }
}

#[test]
fn a_root_that_is_not_a_directory_exits_1_naming_it() {
    let (status, stderr) = run_to_exit(&[
        "--listen",
        "127.0.0.1:0",
        "--root",
        "/nonexistent/reactord-root",
    ]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("error:") && l.contains("/nonexistent/reactord-root")),
        "{stderr}"
    );
}

/// A closed stderr (the terminal gone, journald restarted) costs log
/// lines, not the server: it keeps serving, logs nothing more, and exits 0
/// on SIGTERM, whose drain logs two lines into the closed pipe. (With
/// simple_logger, which panics on a failed write, it exited 101.)
#[test]
fn a_closed_stderr_costs_log_lines_not_the_server() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(util::binary())
        .args(["--listen", "127.0.0.1:0", "--log-level", "debug"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start reactord");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("a listening line before stderr ends")
            .expect("read stderr");
        if let Some((addr, _)) = util::parse_listening_line(&line) {
            break addr;
        }
    };
    // Close the read end: every later log write fails with EPIPE.
    drop(lines);
    // Debug logging writes lines for this connection.
    let page = util::http_get(addr, "/");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    // SAFETY: kill(2) on the child we started and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no exit within 30 s of SIGTERM");
        }
        thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
}
