//! The command-line contract: the `listening on` line, exit codes for
//! signals, usage errors and bind failures, `--help` and `--version`.

mod util;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use util::{DEFAULT_GREETING, Server, read_to_end, read_to_end_with_timeout, run_to_exit};

/// How long a process that should exit now may take.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

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
        // The address in the log is the one that answers.
        let mut stream = server.connect();
        stream.shutdown(Shutdown::Write).unwrap();
        read_to_end_with_timeout(&mut stream, Duration::from_secs(5)).unwrap();
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
#[test]
fn sigterm_exits_zero_promptly_while_a_silent_greeting_client_is_connected() {
    let mut server = Server::start(&["--protocol", "greeting"]);
    let mut stream = server.connect();
    // Make sure the server has accepted it: a connection in the backlog only
    // would prove nothing.
    thread::sleep(Duration::from_millis(100));
    server.sigterm();
    let status = server.wait_exit(EXIT_TIMEOUT);
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "after SIGTERM with an idle client connected: {status:?}; stderr:\n{}",
        server.stderr_text()
    );
    // And the client is not left hanging.
    let _ = read_to_end_with_timeout(&mut stream, Duration::from_secs(2));
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
}

/// An echo client that writes and never reads: the server has output in
/// flight that cannot drain, so a graceful shutdown has to wait for it.
fn start_stuck_echo_client(server: &Server) -> (TcpStream, thread::JoinHandle<io::Result<()>>) {
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
    // Let the buffers fill up.
    thread::sleep(Duration::from_millis(500));
    (stream, handle)
}

#[test]
fn a_second_signal_exits_at_once() {
    let mut server = Server::start(&["--protocol", "echo", "--shutdown-timeout", "30s"]);
    let (stream, writer) = start_stuck_echo_client(&server);

    server.sigterm();
    thread::sleep(Duration::from_millis(300));
    assert!(
        server.is_running(),
        "the server exited on the first SIGTERM although a response was in flight \
         (--shutdown-timeout 30s); stderr:\n{}",
        server.stderr_text()
    );

    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(2));
    assert!(
        status.is_some(),
        "the server did not exit within 2 s of a second SIGTERM; stderr:\n{}",
        server.stderr_text()
    );
    drop(stream);
    // The server is gone, so the writer's next write fails at once.
    let _ = writer.join();
}

/// After the first signal the server stops accepting: a new connection is
/// refused, or at least never served, while old ones drain.
#[test]
fn sigterm_stops_accepting_new_connections_while_draining() {
    let mut server = Server::start(&["--protocol", "echo", "--shutdown-timeout", "30s"]);
    let (stream, writer) = start_stuck_echo_client(&server);
    server.sigterm();
    thread::sleep(Duration::from_millis(300));
    assert!(
        server.is_running(),
        "exited although a response was in flight"
    );

    match TcpStream::connect_timeout(&server.addr, Duration::from_secs(2)) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "connect: {e}"),
        Ok(mut late) => {
            late.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let _ = late.write_all(b"late");
            let mut buf = [0u8; 4];
            match late.read(&mut buf) {
                Ok(n) if n > 0 => panic!(
                    "a connection made after SIGTERM was served: got {:?}",
                    String::from_utf8_lossy(&buf[..n])
                ),
                // EOF, reset or silence: not served.
                _ => {}
            }
        }
    }
    drop(stream);
    drop(server);
    let _ = writer.join();
}

/// The first signal waits for a request in flight: the client may still
/// finish it, gets its reply, and then the server exits 0.
#[test]
fn shutdown_finishes_a_request_in_flight_then_exits_0() {
    let mut server = Server::start(&["--protocol", "greeting"]);
    let mut client = server.connect();
    client.write_all(b"half a line").unwrap();
    thread::sleep(Duration::from_millis(100));
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
    let mut server = Server::start(&["--protocol", "greeting", "--shutdown-timeout", "60s"]);
    let mut busy = server.connect();
    busy.write_all(b"request in progress").unwrap();
    thread::sleep(Duration::from_millis(100));
    server.sigterm();
    assert!(server.wait_for_log("SIGTERM received", Duration::from_secs(5)));
    assert!(
        server.wait_exit(Duration::from_millis(300)).is_none(),
        "waits for the request in flight"
    );
    server.sigterm();
    assert!(
        server.wait_exit(Duration::from_secs(2)).is_some(),
        "second signal exits"
    );
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

#[test]
fn an_address_that_is_not_ours_exits_1() {
    let (status, stderr) = run_to_exit(&["--listen", "192.0.2.1:80"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("error:") && l.contains("192.0.2.1:80")),
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

#[test]
fn durations_accept_milliseconds_seconds_minutes_and_bare_numbers() {
    for duration in ["250ms", "2s", "2m", "3"] {
        let mut server = Server::start(&["--protocol", "echo", "--idle-timeout", duration]);
        assert!(
            server.is_running(),
            "--idle-timeout {duration} was rejected"
        );
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
