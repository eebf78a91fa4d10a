//! `--defer-accept` (Linux TCP_DEFER_ACCEPT): the kernel hands a connection
//! to the server only once its first bytes have arrived, and the server then
//! answers it on its first turn, without waiting for an event. Each test is
//! bounded in seconds.

mod util;

use std::io::{Read, Write};
use std::time::{Duration, Instant};
use util::{DEFAULT_GREETING, Server, read_to_end};

const GET_CLOSE: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

/// The status line and whether the body is the hello text.
fn assert_hello(response: &[u8]) {
    let text = String::from_utf8_lossy(response);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
    assert!(text.ends_with("Hello from reactord\n"), "{text:?}");
}

#[test]
fn connection_per_request_is_answered_and_every_connection_freed() {
    let server = Server::start(&["--protocol", "http", "--defer-accept", "1s"]);
    for _ in 0..50 {
        let mut stream = server.connect();
        stream.write_all(GET_CLOSE).unwrap();
        assert_hello(&read_to_end(&mut stream).unwrap());
    }
    // Keep-alive and pipelining still work after a first turn that answered
    // straight from accept: three requests, the last one closes.
    let mut stream = server.connect();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 64];
    let n = stream.read(&mut first).unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
    stream.write_all(GET_CLOSE).unwrap();
    let rest = read_to_end(&mut stream).unwrap();
    let all = [&first[..n], &rest[..]].concat();
    assert_eq!(
        String::from_utf8_lossy(&all)
            .matches("HTTP/1.1 200 OK")
            .count(),
        3
    );

    assert_eq!(server.metric("reactord_connections_accepted_total"), 52.0);
    // Only the /metrics connection itself is still open.
    assert_eq!(server.metric("reactord_connections_active"), 1.0);
}

#[test]
fn greeting_and_echo_work_with_deferred_accept() {
    let server = Server::start(&["--protocol", "greeting", "--defer-accept", "1s"]);
    let mut stream = server.connect();
    stream.write_all(b"hola\n").unwrap();
    assert_eq!(
        read_to_end(&mut stream).unwrap(),
        DEFAULT_GREETING.as_bytes()
    );

    let server = Server::start(&["--protocol", "echo", "--defer-accept", "1s"]);
    let mut stream = server.connect();
    stream.write_all(b"ping\n").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut stream).unwrap(), b"ping\n");
}

/// A client that connects and says nothing waits in the kernel, not in one
/// of the server's connection slots; after about the --defer-accept time it
/// is handed over and the request timeout closes it as usual.
#[test]
fn a_silent_client_waits_in_the_kernel_then_times_out() {
    let server = Server::start(&[
        "--protocol",
        "http",
        "--defer-accept",
        "1s",
        "--max-connections",
        "1",
        "--request-timeout",
        "1s",
    ]);
    let started = Instant::now();
    let mut silent = server.connect();

    // With the only slot taken by the silent client this would be a 503;
    // deferred, the slot is still free.
    let mut stream = server.connect();
    stream.write_all(GET_CLOSE).unwrap();
    assert_hello(&read_to_end(&mut stream).unwrap());

    // Handed over after about a second, then closed by the request timeout.
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 64];
    let closed = match silent.read(&mut buf) {
        Ok(0) => true,
        Err(err) => err.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    };
    assert!(closed, "the silent client was not closed");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "closed after {waited:?}: before the defer period and the request timeout"
    );
    assert_eq!(server.metric("reactord_connections_timed_out_total"), 1.0);
}

/// A client refused for --max-connections gets the whole 503 even though its
/// request had already arrived (with --defer-accept it always has): closing
/// with those bytes unread would make the kernel send a reset, which can
/// destroy the 503 before the client reads it.
#[test]
fn a_refused_client_whose_request_arrived_reads_the_whole_503() {
    let server = Server::start(&[
        "--protocol",
        "http",
        "--defer-accept",
        "1s",
        "--max-connections",
        "1",
    ]);
    // Take the only slot with a keep-alive connection.
    let mut holder = server.connect();
    holder
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 256];
    assert!(holder.read(&mut buf).unwrap() > 0);

    for attempt in 0..20 {
        let mut stream = server.connect();
        stream.write_all(GET_CLOSE).unwrap();
        let response = read_to_end(&mut stream)
            .unwrap_or_else(|err| panic!("attempt {attempt}: {err} instead of a 503"));
        let text = String::from_utf8_lossy(&response);
        assert!(
            text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "attempt {attempt}: {text:?}"
        );
        // Linux keeps received data readable even after a reset, so the
        // read above can succeed anyway; but a reset that arrives after the
        // FIN leaves its mark as a pending socket error. The server's close
        // follows its FIN at once, and the absence of a reset has no event
        // to wait for: give it 20 ms to arrive. (A slow machine can only
        // make this pass wrongly, never fail a correct server.)
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            stream.take_error().unwrap().is_none(),
            "attempt {attempt}: the server reset the connection"
        );
    }
    drop(holder);
}
