//! The http protocol's `/echo` benchmark target, from outside: every query
//! parameter, the distributions, clamping, every 400, HEAD, a pipelined
//! request behind a delayed one, bodies echoed in both framings, and
//! backpressure on a client that sends but doesn't read.
//!
//! (tests/echo.rs is the RFC 862 echo *protocol*; this is HTTP's /echo.)
//!
//! No assertion here is a timing beyond a lower bound ("the delayed answer
//! did not come before its delay"): when an answer comes, the test waits
//! for it with the generous socket timeouts of `util`.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};
use util::{Server, require_tool, run_tool};

/// One response as read off the wire.
#[derive(Debug)]
struct Response {
    status: u16,
    /// Header lines, names lowercased.
    headers: Vec<(String, String)>,
    /// The body, de-chunked.
    body: Vec<u8>,
    /// Sizes of the chunks, for a chunked body.
    chunks: Vec<usize>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Read one response from `reader`; `head_only` for the answer to HEAD.
fn read_response(reader: &mut impl BufRead, head_only: bool) -> Response {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("header colon");
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
        chunks: Vec::new(),
    };
    if head_only || matches!(status, 204 | 304) {
        return response;
    }
    if response.header("transfer-encoding") == Some("chunked") {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).expect("chunk size");
            let size = usize::from_str_radix(size.trim_end(), 16).expect("hex size");
            if size == 0 {
                let mut end = String::new();
                reader.read_line(&mut end).expect("end of trailers");
                assert_eq!(end, "\r\n");
                return response;
            }
            let mut data = vec![0; size + 2];
            reader.read_exact(&mut data).expect("chunk data");
            assert_eq!(&data[size..], b"\r\n");
            response.body.extend_from_slice(&data[..size]);
            response.chunks.push(size);
        }
    }
    let length: usize = response
        .header("content-length")
        .expect("a Content-Length or chunked")
        .parse()
        .expect("length");
    response.body = vec![0; length];
    reader.read_exact(&mut response.body).expect("body");
    response
}

/// Send `request` on a new connection and read one response.
fn exchange(server: &Server, request: &str) -> Response {
    let mut stream = server.connect();
    stream.write_all(request.as_bytes()).unwrap();
    let head_only = request.starts_with("HEAD ");
    read_response(&mut BufReader::new(stream), head_only)
}

/// `GET target`, keep-alive, on a new connection.
fn get(server: &Server, target: &str) -> Response {
    exchange(server, &format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n"))
}

#[test]
fn single_values_set_status_headers_and_a_printable_body() {
    let server = Server::start(&[]);
    let r = get(
        &server,
        "/echo?status=503&header=X-Test:a%20b&header=X-Two:2",
    );
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-test"), Some("a b"));
    assert_eq!(r.header("x-two"), Some("2"));
    assert_eq!(r.body, b"");

    let r = get(&server, "/echo/any/path?size=100000");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.body.len(), 100_000);
    assert!(r.body.iter().all(|b| b.is_ascii_graphic()));

    // No query: an empty 200 (a GET has no body to echo).
    let r = get(&server, "/echo");
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(r.header("content-length"), Some("0"));
}

#[test]
fn close_1_says_connection_close_and_closes() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    stream
        .write_all(
            b"GET /echo?close=1 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    let r = read_response(&mut reader, false);
    assert_eq!(r.header("connection"), Some("close"));
    let mut rest = Vec::new();
    reader
        .read_to_end(&mut rest)
        .expect("EOF after the response");
    assert!(rest.is_empty(), "a second response came: {rest:?}");
}

#[test]
fn chunks_split_the_body_and_an_interval_paces_them() {
    let server = Server::start(&[]);
    let r = get(&server, "/echo?size=1000&chunks=4");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.chunks, vec![250; 4]);
    assert_eq!(r.body, get(&server, "/echo?size=1000").body);

    // A drip: 3 chunks, 150 ms apart; the whole cannot come before 300 ms.
    let started = Instant::now();
    let r = get(&server, "/echo?size=10&chunks=3&interval=150ms");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.chunks, vec![4, 3, 3]);
}

#[test]
fn a_delayed_answer_does_not_come_before_its_delay_and_is_counted() {
    let server = Server::start(&[]);
    let started = Instant::now();
    let r = get(&server, "/echo?delay=300ms&status=201");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status, 201);
    let started = Instant::now();
    let r = get(&server, "/echo?delay=200000us");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(r.status, 200);
    assert_eq!(server.metric("reactord_echo_delayed_requests_total"), 2.0);
    assert_eq!(server.metric("reactord_echo_delay_seconds_total"), 0.5);
    assert_eq!(server.metric("reactord_echo_requests_total"), 2.0);
}

#[test]
fn delays_are_clamped_to_max_echo_delay() {
    let server = Server::start(&["--max-echo-delay", "200ms"]);
    let started = Instant::now();
    let r = get(&server, "/echo?delay=1h");
    assert_eq!(r.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(server.metric("reactord_echo_delay_seconds_total"), 0.2);
}

/// The waiting connection is parked on a timer: while it waits (an hour),
/// another connection is served, many times.
#[test]
fn other_connections_are_served_while_one_waits() {
    let server = Server::start(&["--max-echo-delay", "1h", "--idle-timeout", "2h"]);
    let mut waiting = server.connect();
    waiting
        .write_all(b"GET /echo?delay=1h HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    server.wait_for_metric(
        "reactord_echo_delayed_requests_total",
        util::IO_TIMEOUT,
        |v| v == 1.0,
    );
    for _ in 0..20 {
        assert_eq!(get(&server, "/echo?size=10").body.len(), 10);
    }
    waiting.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let early = waiting.read(&mut byte);
    assert!(
        early
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "the delayed answer came early: {early:?}"
    );
}

#[test]
fn a_pipelined_request_behind_a_delayed_one_is_answered_after_it_in_order() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    let started = Instant::now();
    stream
        .write_all(
            b"GET /echo?delay=300ms&header=X-N:1 HTTP/1.1\r\nHost: t\r\n\r\n\
              POST /echo?header=X-N:2 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc\
              GET /echo?header=X-N:3&size=5 HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    let first = read_response(&mut reader, false);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let second = read_response(&mut reader, false);
    let third = read_response(&mut reader, false);
    assert_eq!(first.header("x-n"), Some("1"));
    assert_eq!(
        (second.header("x-n"), second.body.as_slice()),
        (Some("2"), &b"abc"[..])
    );
    assert_eq!((third.header("x-n"), third.body.len()), (Some("3"), 5));
}

#[test]
fn distributions_at_0_and_100_percent_are_exact() {
    let server = Server::start(&[]);
    for _ in 0..20 {
        assert_eq!(get(&server, "/echo?status=503:100").status, 503);
        assert_eq!(get(&server, "/echo?status=503:0").status, 200);
        assert_eq!(get(&server, "/echo?status=429:0,503:100").status, 503);
        assert_eq!(get(&server, "/echo?size=7:100").body.len(), 7);
    }
}

/// 400 draws at 50%: the count of 503s is binomial (mean 200, standard
/// deviation 10); 100..=300 is ten deviations either side.
#[test]
fn a_50_percent_status_is_drawn_about_half_the_time() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    let request = "GET /echo?status=503:50 HTTP/1.1\r\nHost: t\r\n\r\n".repeat(400);
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let unavailable = (0..400)
        .filter(|_| read_response(&mut reader, false).status == 503)
        .count();
    assert!((100..=300).contains(&unavailable), "{unavailable} of 400");
}

#[test]
fn echo_default_applies_to_requests_without_a_query() {
    let server = Server::start(&["--echo-default", "status=503:100&header=X-D:yes"]);
    let r = get(&server, "/echo");
    assert_eq!((r.status, r.header("x-d")), (503, Some("yes")));
    let r = get(&server, "/echo?status=202");
    assert_eq!((r.status, r.header("x-d")), (202, None));
}

#[test]
fn every_malformed_query_is_a_400_naming_the_parameter() {
    let server = Server::start(&["--max-echo-size", "1000"]);
    for (query, param) in [
        ("nope=1", "nope"),
        ("status=600", "status"),
        ("status=503:70,429:40", "status"),
        ("delay=soon", "delay"),
        ("size=1001", "size"),
        ("size=-5", "size"),
        ("close=maybe", "close"),
        ("header=Bad%20Name:x", "header"),
        ("header=X:a%0D%0AInjected:1", "header"),
        ("chunks=3", "chunks"),
        ("size=10&chunks=0", "chunks"),
        ("size=10&chunks=2&interval=x", "interval"),
        ("status=%zz", "status"),
    ] {
        let r = get(&server, &format!("/echo?{query}"));
        let body = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, 400, "{query}: {body}");
        assert!(body.contains(&format!("\"{param}\"")), "{query}: {body}");
        assert_eq!(r.header("injected"), None);
    }
}

#[test]
fn head_gets_the_headers_of_get_and_no_body() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    stream
        .write_all(
            b"HEAD /echo?size=100 HTTP/1.1\r\nHost: t\r\n\r\n\
              HEAD /echo?size=100&chunks=2 HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /echo?size=3 HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    let r = read_response(&mut reader, true);
    assert_eq!(r.header("content-length"), Some("100"));
    let r = read_response(&mut reader, true);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    // Had a body followed either HEAD, this would read it as a response.
    let r = read_response(&mut reader, false);
    assert_eq!((r.status, r.body.len()), (200, 3));
}

#[test]
fn other_methods_are_405_with_allow() {
    let server = Server::start(&[]);
    for method in ["DELETE", "OPTIONS", "PATCH"] {
        let r = exchange(
            &server,
            &format!("{method} /echo HTTP/1.1\r\nHost: t\r\n\r\n"),
        );
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD, POST, PUT"));
    }
}

#[test]
fn echo_shadows_a_file_of_that_name_under_root() {
    let dir = std::env::temp_dir().join(format!("reactord-echo-root-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("echo"), "a file").unwrap();
    std::fs::write(dir.join("other"), "other file").unwrap();
    let server = Server::start(&["--root", dir.to_str().unwrap()]);
    let r = get(&server, "/echo?size=4");
    let other = get(&server, "/other");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(r.body.len(), 4);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(other.body, b"other file");
}

/// A body of `len` bytes: a pattern with a long period, so a byte lost or
/// repeated shows.
fn pattern(offset: u64) -> u8 {
    (offset % 251) as u8 ^ (offset >> 12) as u8
}

/// Send a `len`-byte body from a thread (framed by `chunked`, or with a
/// Content-Length) while reading the echo here; checks every byte.
fn echo_round_trip(server: &Server, len: u64, chunked: bool) -> Response {
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let framing = if chunked {
            "Transfer-Encoding: chunked".to_string()
        } else {
            format!("Content-Length: {len}")
        };
        write!(
            writer,
            "POST /echo HTTP/1.1\r\nHost: t\r\n{framing}\r\n\r\n"
        )
        .unwrap();
        let mut sent = 0u64;
        while sent < len {
            let n = (len - sent).min(7_919);
            let piece: Vec<u8> = (sent..sent + n).map(pattern).collect();
            if chunked {
                write!(writer, "{n:x}\r\n").unwrap();
            }
            writer.write_all(&piece).unwrap();
            if chunked {
                writer.write_all(b"\r\n").unwrap();
            }
            sent += n;
        }
        if chunked {
            writer.write_all(b"0\r\n\r\n").unwrap();
        }
    });
    let r = read_response(&mut BufReader::new(stream), false);
    sender.join().unwrap();
    assert_eq!(r.body.len() as u64, len);
    let wrong = (0..len).find(|&i| r.body[i as usize] != pattern(i));
    assert_eq!(wrong, None, "first wrong byte");
    r
}

#[test]
fn a_content_length_body_comes_back_with_the_same_length() {
    let server = Server::start(&[]);
    let r = echo_round_trip(&server, 1_000_000, false);
    assert_eq!(r.header("content-length"), Some("1000000"));
    assert_eq!(server.metric("reactord_echo_bytes_total"), 1_000_000.0);
}

#[test]
fn a_chunked_body_comes_back_chunked() {
    let server = Server::start(&[]);
    let r = echo_round_trip(&server, 700_001, true);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
}

#[test]
fn a_body_over_max_body_bytes_is_413() {
    let server = Server::start(&["--max-body-bytes", "100"]);
    let r = exchange(
        &server,
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n",
    );
    assert_eq!(r.status, 413);
}

/// # Backpressure
///
/// A client that sends a large body and reads nothing: the server echoes
/// until its output is full, then stops reading, so the client's writes
/// stall after what the kernel's buffers hold, and the server's memory does
/// not grow with the body. Then the client reads, and every byte arrives.
#[test]
fn a_client_that_sends_but_does_not_read_is_throttled_not_buffered() {
    const LEN: u64 = 256 << 20;
    // Moving 256 MiB takes a debug build about the default request
    // timeout (10 s) on a loaded machine: this test is about backpressure,
    // so no timeout may end it.
    let server = Server::start(&[
        "--max-body-bytes",
        "1073741824",
        "--idle-timeout",
        "1h",
        "--request-timeout",
        "1h",
    ]);
    let rss_before = server.rss_kib();
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    // A write that makes no progress for this long has stalled: the server
    // stopped reading. (A slow machine stalls sooner, never later.)
    writer
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    write!(
        writer,
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {LEN}\r\n\r\n"
    )
    .unwrap();
    let piece: Vec<u8> = (0..65_536).map(pattern).collect();
    let mut sent = 0u64;
    while sent < LEN {
        match writer.write(&piece) {
            Ok(n) => sent += n as u64,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) => panic!("write: {e}"),
        }
        if !sent.is_multiple_of(65_536) {
            break; // a short write: the buffers are full
        }
    }
    let rss_stalled = server.rss_kib();
    assert!(
        sent < LEN / 4,
        "the client wrote {sent} of {LEN} bytes without reading a byte"
    );
    assert!(
        rss_stalled < rss_before + 16 * 1024,
        "RSS grew from {rss_before} KiB to {rss_stalled} KiB while stalled"
    );
    // Now read, and finish sending from a thread: every byte comes back.
    writer.set_write_timeout(Some(util::IO_TIMEOUT)).unwrap();
    let sender = std::thread::spawn(move || {
        let mut sent = sent;
        while sent < LEN {
            let offset = (sent % 65_536) as usize;
            let n = writer.write(&piece[offset..]).unwrap();
            sent += n as u64;
        }
    });
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
    }
    let mut received = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    while received < LEN {
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0, "EOF after {received} bytes");
        for (i, &b) in buf[..n].iter().enumerate() {
            let offset = received + i as u64;
            assert_eq!(b, pattern(offset % 65_536), "byte {offset}");
        }
        received += n as u64;
    }
    sender.join().unwrap();
    let rss_after = server.rss_kib();
    assert!(
        rss_after < rss_before + 16 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB echoing {LEN} bytes"
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &["--max-echo-delay", "2h"][..],
        &["--max-echo-delay", "soon"],
        &["--max-echo-size", "1099511627777"],
        &["--echo-default", "bogus=1"],
        &["--echo-default", "size=2000", "--max-echo-size", "1000"],
    ] {
        let (status, stderr) = util::run_to_exit(args);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
    }
}

#[test]
fn curl_reads_generated_chunked_and_echoed_bodies() {
    if !require_tool("curl", "curl") {
        return;
    }
    let server = Server::start(&[]);
    let base = format!("http://{}", server.addr);
    let (status, out) = run_tool(
        "curl",
        &[
            "-sS",
            "--fail",
            &format!("{base}/echo?size=5000&chunks=7&interval=1ms"),
        ],
        util::IO_TIMEOUT,
    );
    assert!(status.success(), "{out}");
    assert_eq!(out.len(), 5000);
    let (status, out) = run_tool(
        "curl",
        &[
            "-sS",
            "--fail",
            "--data-binary",
            "echo me",
            &format!("{base}/echo"),
        ],
        util::IO_TIMEOUT,
    );
    assert!(status.success(), "{out}");
    assert_eq!(out, "echo me");
    let (status, out) = run_tool(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{base}/echo?status=503&delay=10ms"),
        ],
        util::IO_TIMEOUT,
    );
    assert!(status.success(), "{out}");
    assert_eq!(out, "503");
}

/// `size=` is streamed: while a client reads a 64 MiB body, the server's
/// memory never holds more than a little of it (a server that built the
/// body first would have grown by 64 MiB before the head arrived).
#[test]
fn a_large_size_is_streamed_with_flat_memory() {
    const SIZE: usize = 64 << 20;
    let server = Server::start(&[]);
    let rss_before = server.rss_kib();
    let mut stream = server.connect();
    write!(stream, "GET /echo?size={SIZE} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut line = String::new();
    while line != "\r\n" {
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    let mut peak = server.rss_kib();
    let mut buf = vec![0u8; 1 << 16];
    let mut received = 0;
    while received < SIZE {
        let n = reader
            .read(&mut buf[..(SIZE - received).min(1 << 16)])
            .unwrap();
        assert!(n > 0, "EOF after {received} bytes");
        assert!(buf[..n].iter().all(|b| b.is_ascii_alphanumeric()));
        received += n;
        if received % (8 << 20) < n {
            peak = peak.max(server.rss_kib());
        }
    }
    assert!(
        peak < rss_before + 16 * 1024,
        "RSS grew from {rss_before} KiB to {peak} KiB sending a {SIZE}-byte body"
    );
}
