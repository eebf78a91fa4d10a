//! HTTP/1.1 request rules, probed over a raw socket against the real binary:
//! each row is a request a lenient server would wrongly serve or misname,
//! and the status RFC 9110/9112 asks for. docs/http.md lists the rules.

mod util;

use std::io::{Read, Write};
use std::time::{Duration, Instant};
use util::{Server, read_to_end};

/// Send `request`, read to EOF (every case here ends with a close, or is
/// followed by a `Connection: close` request), return the response text.
fn exchange(server: &Server, request: &[u8]) -> String {
    let mut client = server.connect();
    client.write_all(request).unwrap();
    let response = read_to_end(&mut client)
        .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(request)));
    String::from_utf8_lossy(&response).into_owned()
}

fn status(response: &str) -> u16 {
    response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not a response: {response:?}"))
}

#[test]
fn malformed_requests_get_the_status_the_rfc_names() {
    let server = Server::start(&[]);
    let many_fields: String = (0..100).map(|i| format!("X-Field-{i}: v\r\n")).collect();
    let close = "Connection: close\r\n";
    let cases: Vec<(String, u16)> = vec![
        // RFC 9112 §3, §2.3: a malformed request line is 400, not 505.
        ("G ET / HTTP/1.1\r\nHost: a\r\n\r\n".to_string(), 400),
        ("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n".to_string(), 400),
        ("GET / HTTP/01.1\r\nHost: a\r\n\r\n".to_string(), 400),
        ("GET / HTTP/1\r\nHost: a\r\n\r\n".to_string(), 400),
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n".to_string(), 505),
        // RFC 9110 §15.5.15: a target longer than the limit.
        (
            format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "x".repeat(17_000)),
            414,
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
                "y".repeat(17_000)
            ),
            431,
        ),
        // RFC 9112 §3.2: the Host value is `uri-host [":" port]`.
        ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n".to_string(), 400),
        ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n".to_string(), 400),
        ("GET / HTTP/1.1\r\nHost: <x>\r\n\r\n".to_string(), 400),
        ("GET / HTTP/1.1\r\nHost: x:port\r\n\r\n".to_string(), 400),
        (
            format!("GET / HTTP/1.1\r\nHost: x:8080\r\n{close}\r\n"),
            200,
        ),
        // RFC 9112 §3.2: target forms.
        ("GET * HTTP/1.1\r\nHost: a\r\n\r\n".to_string(), 400),
        (
            "GET a.example:80 HTTP/1.1\r\nHost: a\r\n\r\n".to_string(),
            400,
        ),
        (
            "GET index.html HTTP/1.1\r\nHost: a\r\n\r\n".to_string(),
            400,
        ),
        (
            format!("GET http://a.example/ HTTP/1.1\r\nHost: a\r\n{close}\r\n"),
            200,
        ),
        // The byte limit decides the number of fields.
        (
            format!("GET / HTTP/1.1\r\nHost: a\r\n{many_fields}{close}\r\n"),
            200,
        ),
        // RFC 9110 §9.1: unknown method 501, known but not allowed 405.
        (format!("BREW / HTTP/1.1\r\nHost: a\r\n{close}\r\n"), 501),
        (format!("DELETE / HTTP/1.1\r\nHost: a\r\n{close}\r\n"), 405),
        // RFC 9112 §7.1: junk after a chunk size, a control byte in an
        // extension, a trailer line without a colon.
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 x\r\na\r\n0\r\n\r\n".to_string(),
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;e\x01\r\na\r\n0\r\n\r\n".to_string(),
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nnocolon\r\n\r\n".to_string(),
            400,
        ),
    ];
    for (request, expected) in cases {
        let response = exchange(&server, request.as_bytes());
        let shown = request.get(..request.len().min(60)).unwrap_or_default();
        assert_eq!(status(&response), expected, "{shown:?} got {response:?}");
    }
}

#[test]
fn an_error_to_head_has_no_body() {
    let server = Server::start(&[]);
    for request in [
        "HEAD / HTTP/1.1\r\n\r\n",
        "HEAD / HTTP/1.1\r\nHost: a b\r\n\r\n",
        "HEAD / HTTP/3.0\r\nHost: a\r\n\r\n",
        "HEAD / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    ] {
        let response = exchange(&server, request.as_bytes());
        assert!(status(&response) >= 400, "{response}");
        assert!(
            response.ends_with("\r\n\r\n"),
            "a body after the head: {response:?}"
        );
    }
}

/// --request-timeout covers the whole request, body included: a body sent
/// a byte at a time, each byte well inside the timeout, still can't hold
/// the connection past it.
#[test]
fn a_body_dribbled_slowly_is_cut_off_at_the_request_timeout() {
    let server = Server::start(&["--request-timeout", "1s"]);
    let mut client = server.connect();
    let body_len = 40;
    client
        .write_all(
            format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {body_len}\r\n\r\n").as_bytes(),
        )
        .unwrap();
    client.set_nonblocking(true).unwrap();
    let started = Instant::now();
    let mut sent = 0;
    let mut byte = [0u8; 64];
    let closed = loop {
        // Pacing, not synchronisation: a gap shorter than the timeout, so
        // only the whole-request rule can close the connection (each byte
        // would restart a per-read clock).
        std::thread::sleep(Duration::from_millis(250));
        match client.read(&mut byte) {
            Ok(0) => break true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break true,
            Ok(_) => break false, // a response: the body was let through
        }
        if sent == body_len {
            break false;
        }
        if client.write(b"x").is_err() {
            break true;
        }
        sent += 1;
    };
    assert!(
        closed,
        "{sent} of {body_len} body bytes went through in {:?} without the 1 s request timeout closing the connection",
        started.elapsed()
    );
    assert_eq!(server.metric("reactord_connections_timed_out_total"), 1.0);
}

/// The read buffer is sized from what the protocol declares it may need
/// (`Protocol::max_buffered_input`, for HTTP `--max-request-bytes`), not a
/// fixed size: a head larger than the default 16 KiB read buffer, but
/// within the flag, is served.
#[test]
fn a_head_larger_than_the_default_buffer_is_served_within_the_flag() {
    let server = Server::start(&["--max-request-bytes", "65536"]);
    let request = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(40_000)
    );
    let response = exchange(&server, request.as_bytes());
    assert_eq!(status(&response), 200, "{response:?}");
}
