//! Stopping a server from code: a `Server` runs in a thread of the test,
//! and a `ShutdownHandle` called from the test's own thread drains it
//! (the first call) or stops it at once (a second call). The same rules
//! the binary follows for SIGTERM, whose tests are in tests/cli.rs; these
//! need no process and no signal.
//!
//! Every wait is bounded, and the bounds are far from what the server
//! should take (seconds against a shutdown timeout of an hour), so a slow
//! machine doesn't fail them and a server that ignores a request does.

mod util;

use reactord::protocol::http::{Http, HttpConfig};
use reactord::{Config, Server, ShutdownHandle};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;
use util::{IO_TIMEOUT, connect, read_to_end, wait_until};

/// How long `run` may take to return after being told to stop. The drains
/// below have nothing (left) to wait for, and the second request must not
/// wait at all: anything near this bound is a bug, not a slow machine.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A shutdown (and request) timeout no test reaches: a server that returns
/// within [`STOP_TIMEOUT`] did not wait for it.
const AN_HOUR: Duration = Duration::from_secs(3600);

const HELLO_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

/// A request whose head asks for `100 Continue` before its 2-byte body:
/// the interim response proves the server has read the head, so the
/// request is in flight on the server's side, not just in a socket buffer.
const HEAD_EXPECTING_CONTINUE: &[u8] =
    b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n";
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// An HTTP server running in a thread of this test.
struct Running {
    addr: SocketAddr,
    handle: ShutdownHandle,
    /// What `run` returned, sent by the server's thread.
    outcome: mpsc::Receiver<io::Result<()>>,
    thread: JoinHandle<()>,
}

/// Bind a server (built in its own thread: a `Server` is not `Send`),
/// hand its address and a shutdown handle back, and run it.
fn start(shutdown_timeout: Duration, before_run: fn(&ShutdownHandle)) -> Running {
    let (started_tx, started) = mpsc::channel();
    let (outcome_tx, outcome) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            shutdown_timeout,
            // Nor may a timeout end the request in flight: only a second
            // shutdown request can cut the drain short.
            request_timeout: AN_HOUR,
            idle_timeout: AN_HOUR,
            ..Config::default()
        };
        let server = Server::bind(config, Http::new(&HttpConfig::default())).unwrap();
        let handle = server.shutdown_handle();
        before_run(&handle);
        started_tx.send((server.local_addr(), handle)).unwrap();
        let _ = outcome_tx.send(server.run());
    });
    let (addr, handle) = started
        .recv_timeout(IO_TIMEOUT)
        .expect("the server started");
    Running {
        addr,
        handle,
        outcome,
        thread,
    }
}

impl Running {
    /// Wait (at most [`STOP_TIMEOUT`]) for `run` to return, and join its
    /// thread: no test leaves a server behind.
    fn stopped(self) -> io::Result<()> {
        let outcome = self
            .outcome
            .recv_timeout(STOP_TIMEOUT)
            .expect("run() returned in time");
        self.thread.join().expect("the server's thread");
        outcome
    }

    /// Wait until the drain has begun: the listening socket is closed then,
    /// so a new connection is refused (polled, with a deadline).
    fn wait_until_draining(&self) {
        let mut last = None;
        let refused = wait_until(IO_TIMEOUT, || {
            match TcpStream::connect_timeout(&self.addr, IO_TIMEOUT) {
                Err(err) if err.kind() == ErrorKind::ConnectionRefused => true,
                other => {
                    last = Some(format!("{other:?}"));
                    false
                }
            }
        });
        assert!(refused, "still accepting after shutdown(): {last:?}");
    }
}

/// Read exactly `expected.len()` bytes and compare.
fn expect_bytes(stream: &mut TcpStream, expected: &[u8]) {
    let mut got = vec![0; expected.len()];
    stream.read_exact(&mut got).expect("a response");
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
}

/// Send a request the server can answer and read the head's status line
/// back, leaving the connection open (keep-alive).
fn get_hello(stream: &mut TcpStream) -> String {
    stream.write_all(HELLO_REQUEST).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0; 4096];
    while !got.ends_with(b"Hello from reactord\n") {
        let n = stream.read(&mut chunk).expect("the hello response");
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn shutdown_from_another_thread_makes_run_return_ok() {
    let server = start(AN_HOUR, |_| {});
    let mut client = connect(server.addr);
    assert!(get_hello(&mut client).starts_with("HTTP/1.1 200 OK\r\n"));

    server.handle.shutdown().unwrap();
    // The keep-alive connection is idle: the drain closes it at once.
    assert_eq!(read_to_end(&mut client).unwrap(), b"");
    server.stopped().expect("run() returns Ok after a drain");
}

#[test]
fn a_request_in_flight_is_still_answered_after_shutdown_begins() {
    let server = start(AN_HOUR, |_| {});
    let mut client = connect(server.addr);
    client.write_all(HEAD_EXPECTING_CONTINUE).unwrap();
    expect_bytes(&mut client, CONTINUE);

    server.handle.shutdown().unwrap();
    server.wait_until_draining();
    // The body arrives during the drain: the request is finished and
    // answered, then the connection closes and the server stops.
    client.write_all(b"ok").unwrap();
    let response = read_to_end(&mut client).unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("Hello from reactord\n"), "{response}");
    // The server lingers until the client's EOF (so that closing can't
    // reset the response), as a real client closes after reading.
    drop(client);
    server.stopped().expect("run() returns Ok after a drain");
}

#[test]
fn a_second_shutdown_stops_at_once_with_a_request_in_flight() {
    let server = start(AN_HOUR, |_| {});
    let mut client = connect(server.addr);
    client.write_all(HEAD_EXPECTING_CONTINUE).unwrap();
    expect_bytes(&mut client, CONTINUE);

    server.handle.shutdown().unwrap();
    server.wait_until_draining();
    // The body never comes, and the drain would wait an hour for it.
    server.handle.clone().shutdown().unwrap();
    server
        .stopped()
        .expect("run() returns Ok at a second request");
}

#[test]
fn two_requests_before_the_loop_wakes_still_count_as_two() {
    let server = start(AN_HOUR, |_| {});
    let mut client = connect(server.addr);
    client.write_all(HEAD_EXPECTING_CONTINUE).unwrap();
    expect_bytes(&mut client, CONTINUE);

    // Back to back: the loop may see both in one wake-up.
    server.handle.shutdown().unwrap();
    server.handle.shutdown().unwrap();
    server
        .stopped()
        .expect("run() returns Ok at a second request");
}

#[test]
fn a_shutdown_asked_before_run_drains_as_soon_as_it_runs() {
    let server = start(AN_HOUR, |handle| handle.shutdown().unwrap());
    server.stopped().expect("run() returns Ok at once");
}

/// A shutdown stream (how the binary delivers signals without a thread):
/// one byte begins the drain, which finishes the request in flight; a
/// second byte ends the loop at once, with a connection still open.
#[test]
fn bytes_on_a_shutdown_stream_drain_then_stop() {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        shutdown_timeout: AN_HOUR,
        request_timeout: AN_HOUR,
        idle_timeout: AN_HOUR,
        ..Config::default()
    };
    let (receiver, mut sender) = std::os::unix::net::UnixStream::pair().unwrap();
    receiver.set_nonblocking(true).unwrap();
    let (addr_tx, addr_rx) = mpsc::channel();
    let (outcome_tx, outcome) = mpsc::channel();
    // The server is built on its own thread (it isn't Send); the stream is.
    let thread = std::thread::spawn(move || {
        let mut server = Server::bind(config, Http::new(&HttpConfig::default())).unwrap();
        server
            .shutdown_when_readable(mio::net::UnixStream::from_std(receiver), "SIGTEST")
            .unwrap();
        addr_tx.send(server.local_addr()).unwrap();
        let _ = outcome_tx.send(server.run().map_err(|e| e.to_string()));
    });
    let addr = addr_rx.recv_timeout(STOP_TIMEOUT).unwrap();
    // A request in flight: the head is in (the 100 proves it), the body not.
    let mut client = connect(addr);
    client.write_all(HEAD_EXPECTING_CONTINUE).unwrap();
    let mut continue_line = vec![0u8; CONTINUE.len()];
    client.read_exact(&mut continue_line).unwrap();
    assert_eq!(continue_line, CONTINUE);
    sender.write_all(b"x").unwrap();
    // The drain has begun once new clients are refused.
    assert!(
        wait_until(STOP_TIMEOUT, || TcpStream::connect(addr).is_err()),
        "the listener is still open after the first byte"
    );
    assert!(
        outcome.try_recv().is_err(),
        "the loop stopped with a request in flight"
    );
    sender.write_all(b"x").unwrap();
    let result = outcome
        .recv_timeout(STOP_TIMEOUT)
        .expect("a second byte stops the loop at once");
    assert_eq!(result, Ok(()));
    thread.join().unwrap();
}
