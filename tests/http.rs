//! HTTP/1.1 against the real binary with raw sockets: framing, pipelining,
//! persistence and every error, byte for byte.

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;
use util::{IO_TIMEOUT, Server, read_to_end};

/// Read exactly `n` complete responses (heads plus Content-Length bodies)
/// from a keep-alive connection; returns them as text.
fn read_responses(stream: &mut TcpStream, n: usize) -> Vec<String> {
    let mut buf = Vec::new();
    let mut responses = Vec::new();
    let mut chunk = [0u8; 65536];
    while responses.len() < n {
        // Parse what we have.
        if let Some(head_end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            let is_continue = head.starts_with("HTTP/1.1 100");
            let total = head_end + 4 + if is_continue { 0 } else { length };
            if buf.len() >= total {
                responses.push(String::from_utf8_lossy(&buf[..total]).into_owned());
                buf.drain(..total);
                continue;
            }
        }
        let got = stream.read(&mut chunk).expect("read");
        assert!(
            got > 0,
            "server closed after {} of {n} responses",
            responses.len()
        );
        buf.extend_from_slice(&chunk[..got]);
    }
    assert!(
        buf.is_empty(),
        "unexpected trailing bytes: {:?}",
        String::from_utf8_lossy(&buf)
    );
    responses
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn status(response: &str) -> u16 {
    response[9..12].parse().unwrap()
}

#[test]
fn a_thousand_pipelined_requests_in_one_write_get_a_thousand_in_order_responses() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    let mut burst = Vec::new();
    for i in 0..1000 {
        let path = if i % 2 == 0 { "/" } else { "/missing" };
        write!(burst, "GET {path}?i={i} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    }
    client.write_all(&burst).unwrap();
    let responses = read_responses(&mut client, 1000);
    for (i, response) in responses.iter().enumerate() {
        assert_eq!(
            status(response),
            if i % 2 == 0 { 200 } else { 404 },
            "response {i}"
        );
    }
}

#[test]
fn bodies_are_discarded_and_the_pipelined_request_after_them_served() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client
        .write_all(
            b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello\
              GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n\
              GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .unwrap();
    let responses = read_responses(&mut client, 3);
    assert_eq!(
        responses.iter().map(|r| status(r)).collect::<Vec<_>>(),
        [405, 200, 200]
    );
    assert!(responses[0].contains("Allow: GET, HEAD\r\n"));
    assert!(responses[2].contains("reactord_http_responses_total"));
}

#[test]
fn a_body_split_across_many_writes_is_framed_correctly() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    // Each write its own segment: the pauses below are the splitting under
    // test, not synchronisation (the outcome is the same at any speed).
    client.set_nodelay(true).unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 30000\r\n\r\n")
        .unwrap();
    for _ in 0..30 {
        client.write_all(&[b'x'; 1000]).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    client
        .write_all(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let responses = read_responses(&mut client, 2);
    assert_eq!((status(&responses[0]), status(&responses[1])), (200, 404));
}

#[test]
fn every_error_gets_its_status_a_short_body_and_a_graceful_close() {
    let server = Server::start(&["--max-request-bytes", "1024", "--max-body-bytes", "100"]);
    let long_head = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(2000));
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec(),
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n".to_vec(),
            400,
        ),
        (b"NOT HTTP AT ALL\r\n\r\n".to_vec(), 400),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
            501,
        ),
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n".to_vec(), 505),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n".to_vec(),
            413,
        ),
        (long_head.into_bytes(), 414),
        // Found by differential testing against llhttp and h11 (issue 21).
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 01\r\n\r\nx"
                .to_vec(),
            400,
        ),
        (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 400),
        (b"GET /% HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 400),
    ];
    for (request, expected) in cases {
        let mut client = server.connect();
        client.write_all(&request).unwrap();
        // Send more after the bad request: the close must still be a FIN,
        // not a reset that destroys the response (and the server keeps
        // taking, and discarding, what we send until it closes).
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap_or_else(|e| panic!("{expected}: the server refused more bytes: {e}"));
        let response = read_to_end(&mut client)
            .unwrap_or_else(|e| panic!("{expected}: reset instead of FIN: {e}"));
        let response = String::from_utf8_lossy(&response);
        assert_eq!(status(&response), expected, "{response}");
        assert!(response.contains("Connection: close\r\n"), "{response}");
        let length: usize = response
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(response.split("\r\n\r\n").nth(1).unwrap().len(), length);
    }
    // And the server is still serving everyone else.
    assert!(util::http_get(server.addr, "/").starts_with("HTTP/1.1 200 OK"));
}

/// Issue 21's smuggling example, over a real socket: a bare LF after the
/// chunk data. A lenient reader takes the chunk `hello\r` and then answers
/// `GET /smuggled.txt` as a second request (what llhttp and h11 refuse);
/// the server must answer the first with a 400 and close, and never answer
/// the second.
#[test]
fn a_bare_lf_after_chunk_data_is_a_400_and_the_smuggled_request_is_never_answered() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client
        .write_all(
            b"POST /a.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
              6\r\nhello\r\n0\r\n\r\n\
              GET /smuggled.txt HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .unwrap();
    let response = read_to_end(&mut client).expect("a FIN, not a reset");
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{response}"
    );
    assert!(response.contains("Connection: close\r\n"), "{response}");
    assert_eq!(
        response.matches("HTTP/1.1 ").count(),
        1,
        "the smuggled request was answered: {response}"
    );
}

#[test]
fn http10_keep_alive_is_announced_and_kept() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    for _ in 0..3 {
        client
            .write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let response = &read_responses(&mut client, 1)[0];
        assert!(
            response.contains("Connection: keep-alive\r\n"),
            "{response}"
        );
    }
    client.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let rest = String::from_utf8(read_to_end(&mut client).unwrap()).unwrap();
    assert!(rest.contains("Connection: close\r\n") && rest.ends_with("Hello from reactord\n"));
}

#[test]
fn a_client_that_half_closes_after_its_request_still_gets_the_response() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let all = String::from_utf8(read_to_end(&mut client).unwrap()).unwrap();
    assert!(all.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(all.contains("HTTP/1.1 404 Not Found\r\n"));
}

#[test]
fn expect_100_continue_gets_a_100_before_the_body_is_sent() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    client
        .write_all(
            b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
    let interim = &read_responses(&mut client, 1)[0];
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    client.write_all(b"body").unwrap();
    assert_eq!(status(&read_responses(&mut client, 1)[0]), 200);
}

#[test]
fn beyond_max_connections_a_client_gets_503_and_a_close() {
    let server = Server::start(&["--max-connections", "2", "--log-level", "trace"]);
    let a = server.connect();
    let b = server.connect();
    // Both slots taken: the server has accepted both (not just the kernel).
    let keys = [server.connection_key(&a), server.connection_key(&b)];
    let mut third = server.connect();
    let response = read_to_end(&mut third).expect("a 503, then a FIN");
    let response = String::from_utf8(response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{response}"
    );
    drop((a, b));
    for key in keys {
        let removed = format!("conn {key}: removed");
        assert!(server.wait_for_log(&removed, IO_TIMEOUT), "no `{removed}`");
    }
    assert!(util::http_get(server.addr, "/").starts_with("HTTP/1.1 200 OK"));
    assert_eq!(server.metric("reactord_connections_rejected_total"), 1.0);
}

#[test]
fn the_access_log_has_one_common_log_format_line_per_request() {
    let server = Server::start(&["--access-log"]);
    util::http_get(server.addr, "/missing?q=1");
    assert!(server.wait_for_log(
        "\"GET /missing?q=1 HTTP/1.1\" 404 14",
        Duration::from_secs(5)
    ));
    let line = server
        .logs()
        .into_iter()
        .find(|l| l.contains("/missing"))
        .unwrap();
    assert!(line.contains("127.0.0.1 - - ["), "{line}");
    assert!(line.contains(" +0000] "), "{line}");
    // Formatted like the logger's own lines: UTC timestamp to the
    // millisecond, level, target.
    let (stamp, rest) = line.split_once(' ').unwrap();
    assert!(
        stamp.len() == 24 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
        "{line}"
    );
    assert!(rest.starts_with("INFO  [reactord::access] "), "{line}");
}

#[test]
fn access_log_lines_of_pipelined_requests_come_whole_and_in_order() {
    let server = Server::start(&["--access-log"]);
    let mut stream = server.connect();
    let burst: String = (0..3)
        .map(|i| format!("GET /p{i} HTTP/1.1\r\nHost: t\r\n\r\n"))
        .collect();
    stream.write_all(burst.as_bytes()).unwrap();
    assert!(server.wait_for_log("\"GET /p2 HTTP/1.1\" 404", Duration::from_secs(5)));
    let lines: Vec<String> = server
        .logs()
        .into_iter()
        .filter(|l| l.contains("[reactord::access]"))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (i, line) in lines.iter().enumerate() {
        assert!(
            line.ends_with(&format!("\"GET /p{i} HTTP/1.1\" 404 14")),
            "{lines:?}"
        );
    }
}

/// Closed connections leave the active count: once the five clients are
/// gone, the /metrics request's own connection is the only one counted.
#[test]
fn metrics_count_connections_and_requests_and_active_falls_to_the_metrics_connection() {
    let server = Server::start(&[]);
    for _ in 0..5 {
        util::http_get(server.addr, "/");
    }
    let active = server.wait_for_metric("reactord_connections_active", IO_TIMEOUT, |n| n == 1.0);
    assert_eq!(active, 1.0, "closed connections still counted as active");
    // From one response: every connection accepted but this one is closed.
    let metrics = util::http_get(server.addr, "/metrics");
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    let accepted = value("reactord_connections_accepted_total");
    let closed = value("reactord_connections_closed_total");
    assert_eq!(
        accepted - closed,
        1.0,
        "accepted {accepted}, closed {closed}"
    );
    assert!(accepted >= 7.0, "{accepted}");
    assert!(server.metric("reactord_http_responses_total{class=\"2xx\"}") >= 5.0);
}

/// The last response before a close is written with MSG_MORE, so the FIN
/// travels in the same segment. The client counts the segments it received
/// (TCP_INFO's tcpi_segs_in, Linux 4.2+): the SYN-ACK, perhaps a bare ACK
/// of the request, and the response with the FIN: three at most. A FIN of
/// its own would make four (as it did before).
#[cfg(target_os = "linux")]
#[test]
fn the_last_response_and_the_fin_arrive_in_one_segment() {
    use std::os::fd::AsRawFd;
    let server = Server::start(&[]);
    for _ in 0..5 {
        let mut stream = server.connect();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let response = read_to_end(&mut stream).unwrap();
        assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
        // SAFETY: tcp_info is plain integers, for which zero is valid.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `info`.
        let rc = unsafe {
            libc::getsockopt(
                stream.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
        // An older kernel fills less of the struct than libc declares.
        let filled = std::mem::offset_of!(libc::tcp_info, tcpi_segs_in) + 4;
        assert!(
            len as usize >= filled,
            "this kernel's tcp_info has no tcpi_segs_in"
        );
        let segs_in = info.tcpi_segs_in;
        assert!(segs_in <= 3, "{segs_in} segments: the FIN came on its own");
    }
}
