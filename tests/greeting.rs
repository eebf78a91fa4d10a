//! The greeting protocol against the real binary: a request is one line, or
//! whatever came before the client's shutdown, or the first
//! `--max-request-bytes` bytes; the reply is the greeting, then a clean FIN,
//! never a reset however much the client sent.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use util::{DEFAULT_GREETING, IO_TIMEOUT, Server, read_to_end_with_timeout};

/// How long a test waits for a reply that should come at once.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

fn greeting_server(extra: &[&str]) -> Server {
    let mut args = vec!["--protocol", "greeting"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// Read to EOF and insist on exactly `expected` followed by a clean EOF.
fn assert_reply_then_eof(stream: &mut TcpStream, expected: &str, server: &Server) {
    match read_to_end_with_timeout(stream, REPLY_TIMEOUT) {
        Ok(reply) => assert_eq!(
            String::from_utf8_lossy(&reply),
            expected,
            "wrong reply; server stderr:\n{}",
            server.stderr_text()
        ),
        Err(e) => panic!(
            "expected {expected:?} then EOF, got an error: {e}; server stderr:\n{}",
            server.stderr_text()
        ),
    }
}

#[test]
fn greeting_replies_hola_then_closes_cleanly() {
    let server = greeting_server(&[]);
    let mut stream = server.connect();
    stream.write_all(b"hola\n").unwrap();
    assert_reply_then_eof(&mut stream, DEFAULT_GREETING, &server);
}

#[test]
fn greeting_flag_sets_the_reply() {
    let server = greeting_server(&["--greeting", "Bonjour depuis reactord\n"]);
    let mut stream = server.connect();
    stream.write_all(b"salut\n").unwrap();
    assert_reply_then_eof(&mut stream, "Bonjour depuis reactord\n", &server);
}

#[test]
fn greeting_answers_a_line_that_arrives_one_byte_at_a_time() {
    let server = greeting_server(&[]);
    let mut stream = server.connect();
    // Each byte its own segment; the pauses are the dribbling under test
    // (the reply must be the same at any speed).
    stream.set_nodelay(true).unwrap();
    for byte in b"hola, servidor\n" {
        stream.write_all(&[*byte]).unwrap();
        thread::sleep(Duration::from_millis(5));
    }
    assert_reply_then_eof(&mut stream, DEFAULT_GREETING, &server);
}

/// The server's own verdict on the partial line (its trace line) says it
/// waits; no timed silence is needed to show it did not answer.
#[test]
fn greeting_waits_for_the_newline_before_replying() {
    let server = greeting_server(&["--log-level", "trace"]);
    let mut stream = server.connect();
    let key = server.connection_key(&stream);
    stream.write_all(b"no newline yet").unwrap();
    let verdict = format!("conn {key}: protocol ");
    let line = server
        .wait_for_line(IO_TIMEOUT, |l| l.contains(&verdict))
        .unwrap_or_else(|| panic!("no `{verdict}` line: {}", server.stderr_text()));
    assert!(
        line.contains("protocol NeedMore"),
        "the server answered before the line was complete: {line}"
    );
    stream.set_nonblocking(true).unwrap();
    match stream.read(&mut [0u8; 64]) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("bytes before the line was complete: {other:?}"),
    }
    stream.set_nonblocking(false).unwrap();
    stream.write_all(b"\n").unwrap();
    assert_reply_then_eof(&mut stream, DEFAULT_GREETING, &server);
}

/// The seed answered a client that sent nothing and shut down; so do we.
#[test]
fn greeting_answers_a_client_that_shuts_down_without_sending() {
    let server = greeting_server(&[]);
    let mut stream = server.connect();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_reply_then_eof(&mut stream, DEFAULT_GREETING, &server);
}

#[test]
fn greeting_answers_a_partial_line_ended_by_shutdown() {
    let server = greeting_server(&[]);
    let mut stream = server.connect();
    stream.write_all(b"no newline, then shutdown").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_reply_then_eof(&mut stream, DEFAULT_GREETING, &server);
}

#[test]
fn greeting_answers_max_request_bytes_without_a_newline() {
    let server = greeting_server(&["--max-request-bytes", "100"]);
    let mut stream = server.connect();
    // Exactly the limit, no newline, no shutdown: the limit alone ends it.
    stream.write_all(&[b'a'; 100]).unwrap();
    assert_reply_then_eof(&mut stream, DEFAULT_GREETING, &server);
}

/// 64 KiB with no newline, then a newline, then read to the end: the server
/// answers at its limit and must keep discarding the rest until the client
/// is done, because closing with unread input makes the kernel send a reset
/// that destroys the greeting already sent.
fn survives_a_64k_request_without_reset(extra: &[&str]) {
    let server = greeting_server(extra);
    let mut stream = server.connect();
    let request = vec![b'x'; 64 * 1024];
    if let Err(e) = stream.write_all(&request) {
        panic!(
            "writing the 64 KiB request failed: {e}; server stderr:\n{}",
            server.stderr_text()
        );
    }
    if let Err(e) = stream.write_all(b"\n") {
        panic!(
            "writing the final newline failed: {e}; server stderr:\n{}",
            server.stderr_text()
        );
    }
    assert_reply_then_eof(&mut stream, DEFAULT_GREETING, &server);
}

#[test]
fn greeting_survives_a_64k_request_without_reset() {
    survives_a_64k_request_without_reset(&[]);
}

#[test]
fn greeting_survives_a_64k_request_without_reset_at_a_100_byte_limit() {
    survives_a_64k_request_without_reset(&["--max-request-bytes", "100"]);
}

/// A whole line closes the connection at once (no lingering) only when
/// nothing came after it: a line followed by 64 KiB in the same write must
/// still be drained, or the close would reset the greeting.
#[test]
fn greeting_survives_a_line_followed_by_64k_without_reset() {
    let server = greeting_server(&[]);
    let mut stream = server.connect();
    let mut request = b"hello\n".to_vec();
    request.extend(std::iter::repeat_n(b'x', 64 * 1024));
    if let Err(e) = stream.write_all(&request) {
        panic!(
            "writing the request failed: {e}; server stderr:\n{}",
            server.stderr_text()
        );
    }
    assert_reply_then_eof(&mut stream, DEFAULT_GREETING, &server);
}

#[test]
fn greeting_serves_500_concurrent_connections() {
    const CONNECTIONS: usize = 500;
    let server = greeting_server(&[]);
    let deadline = Instant::now() + Duration::from_secs(30);

    // All 500 are open at once before any is answered.
    let mut streams: Vec<TcpStream> = (0..CONNECTIONS).map(|_| server.connect()).collect();
    for (i, stream) in streams.iter_mut().enumerate() {
        stream
            .write_all(format!("client {i}\n").as_bytes())
            .unwrap_or_else(|e| panic!("write on connection {i}: {e}"));
    }

    let mut failures = Vec::new();
    for (i, stream) in streams.iter_mut().enumerate() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match read_to_end_with_timeout(stream, remaining.max(Duration::from_millis(1))) {
            Ok(reply) if reply == DEFAULT_GREETING.as_bytes() => {}
            Ok(reply) => failures.push(format!(
                "connection {i}: wrong reply {:?}",
                String::from_utf8_lossy(&reply)
            )),
            Err(e) => failures.push(format!("connection {i}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {CONNECTIONS} connections failed, first ones:\n{}\nserver stderr:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n"),
        server.stderr_text()
    );
}

/// Connect, send `sent`, and expect the server to close the connection by
/// itself after `--request-timeout 500ms`: not before (the timeout, not
/// something else, closed it), and within a bound generous for a slow
/// machine yet far below the next timeout that could close it (the 60 s
/// idle timeout).
fn closed_at_the_request_timeout(sent: &[u8]) {
    let server = greeting_server(&["--request-timeout", "500ms"]);
    let start = Instant::now();
    let mut stream = server.connect();
    stream.write_all(sent).unwrap();
    let result = read_to_end_with_timeout(&mut stream, IO_TIMEOUT);
    let elapsed = start.elapsed();
    match result {
        Ok(reply) => {
            assert!(
                elapsed >= Duration::from_millis(500),
                "closed after only {elapsed:?}, before the 500ms request timeout"
            );
            // A request that never completed is not answered.
            assert!(
                reply.is_empty(),
                "no greeting for an incomplete request, got {:?}",
                String::from_utf8_lossy(&reply)
            );
        }
        Err(e) => panic!(
            "expected EOF within {IO_TIMEOUT:?} of a 500ms request timeout, after sending {:?}: {e}; server stderr:\n{}",
            String::from_utf8_lossy(sent),
            server.stderr_text()
        ),
    }
}

#[test]
fn greeting_closes_a_silent_client_at_the_request_timeout() {
    closed_at_the_request_timeout(b"");
}

#[test]
fn greeting_closes_a_client_that_sent_half_a_line_at_the_request_timeout() {
    closed_at_the_request_timeout(b"half a li");
}
