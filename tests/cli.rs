//! The command-line contract: exit codes, error lines, signals.

mod util;

use std::io::Write;
use std::time::{Duration, Instant};
use util::{Server, run_to_exit};

#[test]
fn sigterm_exits_0() {
    let mut server = Server::start(&[]);
    server.signal(libc::SIGTERM);
    let status = server
        .wait_exit(Duration::from_secs(5))
        .expect("exit after SIGTERM");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigint_with_an_idle_client_exits_0_promptly() {
    let mut server = Server::start(&["--protocol", "greeting"]);
    let _idle = server.connect();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    server.signal(libc::SIGINT);
    let status = server
        .wait_exit(Duration::from_secs(5))
        .expect("exit after SIGINT");
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "idle connections close at once"
    );
}

#[test]
fn shutdown_finishes_a_request_in_flight_then_exits_0() {
    let mut server = Server::start(&["--protocol", "greeting"]);
    let mut client = server.connect();
    client.write_all(b"half a line").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.signal(libc::SIGTERM);
    assert!(server.wait_for_log("SIGTERM received", Duration::from_secs(5)));
    client.write_all(b" and the rest\n").unwrap();
    assert_eq!(
        util::read_to_end(&mut client).unwrap(),
        b"Hola desde el servidor TCP\n"
    );
    // The server lingers until the client's EOF (or 5 s), so that closing
    // can't reset the reply; a real client closes after reading.
    drop(client);
    let status = server.wait_exit(Duration::from_secs(5)).expect("exit");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_second_signal_exits_at_once() {
    let mut server = Server::start(&["--protocol", "greeting", "--shutdown-timeout", "60s"]);
    let mut busy = server.connect();
    busy.write_all(b"request in progress").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.signal(libc::SIGTERM);
    assert!(server.wait_for_log("SIGTERM received", Duration::from_secs(5)));
    assert!(
        server.wait_exit(Duration::from_millis(300)).is_none(),
        "waits for the request in flight"
    );
    server.signal(libc::SIGTERM);
    assert!(
        server.wait_exit(Duration::from_secs(3)).is_some(),
        "second signal exits"
    );
}

#[test]
fn port_in_use_exits_1_with_an_error_line_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (status, stderr) = run_to_exit(&["--listen", &addr]);
    assert_eq!(status.code(), Some(1));
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .expect("an error: line");
    assert!(line.contains(&addr), "{line}");
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
fn usage_errors_exit_2() {
    for args in [
        &["--no-such-flag"][..],
        &["--idle-timeout", "banana"],
        &["--protocol", "gopher"],
        &["--listen", "nowhere"],
    ] {
        let (status, stderr) = run_to_exit(args);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
    }
}

#[test]
fn help_and_version_exit_0() {
    let (status, out) = run_to_exit(&["--help"]);
    assert_eq!(status.code(), Some(0));
    assert!(out.contains("--listen") && out.contains("--request-timeout"));
    let (status, out) = run_to_exit(&["--version"]);
    assert_eq!(status.code(), Some(0));
    assert!(out.contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn the_listening_line_shows_the_real_port_and_protocol() {
    let server = Server::start(&["--protocol", "echo"]);
    assert_ne!(server.addr.port(), 0);
    assert!(
        server
            .logs()
            .iter()
            .any(|l| l.contains(&format!("listening on {} (echo)", server.addr)))
    );
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
