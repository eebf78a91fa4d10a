//! reactord-load against the real server: every protocol and mode counts
//! its requests and sees no errors, and a server that answers garbage is
//! counted as bad responses.

mod util;

use std::io::{Read, Write};
use std::time::Duration;
use util::{Server, json_field, run_tool};

fn load(args: &[&str]) -> String {
    let (status, out) = run_tool(
        env!("CARGO_BIN_EXE_reactord-load"),
        args,
        Duration::from_secs(60),
    );
    assert!(status.success(), "{out}");
    out
}

#[test]
fn every_protocol_and_mode_completes_its_requests_without_errors() {
    let http = Server::start(&[]);
    let echo = Server::start(&["--protocol", "echo"]);
    let greeting = Server::start(&["--protocol", "greeting"]);
    let url = format!("http://{}/", http.addr);
    let (echo_addr, greeting_addr) = (echo.addr.to_string(), greeting.addr.to_string());
    let runs: Vec<Vec<&str>> = vec![
        vec!["--requests", "2000", "--connections", "8", &url],
        vec![
            "--requests",
            "4000",
            "--connections",
            "8",
            "--pipeline",
            "16",
            &url,
        ],
        vec!["--requests", "500", "--connections", "8", "--close", &url],
        vec![
            "--requests",
            "300",
            "--connections",
            "4",
            "--rate",
            "1000",
            &url,
        ],
        vec![
            "--protocol",
            "echo",
            "--requests",
            "2000",
            "--payload-bytes",
            "1000",
            &echo_addr,
        ],
        vec![
            "--protocol",
            "greeting",
            "--requests",
            "300",
            "--connections",
            "8",
            &greeting_addr,
        ],
    ];
    for mut args in runs {
        args.insert(0, "--json");
        let report = load(&args);
        let expected: u64 = args[args.iter().position(|a| *a == "--requests").unwrap() + 1]
            .parse()
            .unwrap();
        assert_eq!(
            json_field(&report, "requests"),
            expected,
            "{args:?}: {report}"
        );
        assert_eq!(json_field(&report, "total"), 0, "{args:?}: {report}");
    }
}

#[test]
fn a_server_that_answers_garbage_is_counted_as_bad_responses() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"this is not HTTP\r\n\r\n");
        }
    });
    let report = load(&[
        "--json",
        "--connections",
        "2",
        "--duration",
        "500ms",
        &format!("http://{addr}/"),
    ]);
    assert!(json_field(&report, "bad_response") > 0, "{report}");
    assert_eq!(json_field(&report, "requests"), 0, "{report}");
}

#[test]
fn nothing_listening_is_a_connect_error_and_exit_1() {
    // A socket bound but never listening holds the port for the whole
    // test, so no other process can start listening on it meanwhile.
    let holder = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let any_port: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    holder.bind(&any_port.into()).unwrap();
    let port = holder.local_addr().unwrap().as_socket().unwrap().port();
    let (status, out) = run_tool(
        env!("CARGO_BIN_EXE_reactord-load"),
        &["--json", "--duration", "1s", &format!("127.0.0.1:{port}")],
        Duration::from_secs(30),
    );
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(json_field(&out, "connect") > 0, "{out}");
}

// ---- issue 15: requests, framings, accounting, outputs, workers ----

/// Run reactord-load with `--json` and parse its report.
fn load_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = load(&all);
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in {out}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn num(report: &serde_json::Value, path: &str) -> u64 {
    let mut value = report;
    for key in path.split('.') {
        value = &value[key];
    }
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{path} in {report}"))
}

#[test]
fn an_echo_status_mix_is_counted_per_status_with_every_latency() {
    let server = Server::start(&[]);
    let url = format!("http://{}/echo?status=503:50", server.addr);
    let report = load_json(&["--requests", "400", "-c", "4", &url]);
    let (ok, unavailable) = (num(&report, "statuses.200"), num(&report, "statuses.503"));
    assert_eq!(ok + unavailable, 400, "{report}");
    // 400 fair draws: the chance that either count is under 100 is ~1e-24.
    assert!(ok >= 100 && unavailable >= 100, "{report}");
    assert_eq!(num(&report, "requests"), 400, "{report}");
    assert_eq!(num(&report, "errors.status"), unavailable, "{report}");
    assert_eq!(num(&report, "errors.total"), unavailable, "{report}");
    assert!(num(&report, "latency_us.max") > 0, "{report}");
}

#[test]
fn chunked_head_delayed_and_closing_echo_responses_are_all_framed() {
    let server = Server::start(&[]);
    let base = format!("http://{}/echo", server.addr);
    let chunked = format!("{base}?size=5000&chunks=7");
    let big = format!("{base}?size=300000&chunks=3");
    let head = format!("{base}?size=1000");
    let close = format!("{base}?close=1");
    let delayed = format!("{base}?delay=20ms");
    let runs: Vec<Vec<&str>> = vec![
        vec!["--requests", "300", "-c", "4", &chunked],
        vec!["--requests", "300", "-c", "2", "--pipeline", "8", &chunked],
        vec!["--requests", "20", "-c", "2", &big],
        vec!["--requests", "300", "-c", "4", "-m", "HEAD", &head],
        vec!["--requests", "100", "-c", "4", &close],
        vec!["--requests", "20", "-c", "4", &delayed],
    ];
    for args in runs {
        let report = load_json(&args);
        let expected: u64 = args[1].parse().unwrap();
        assert_eq!(num(&report, "requests"), expected, "{args:?}: {report}");
        assert_eq!(num(&report, "statuses.200"), expected, "{args:?}: {report}");
        assert_eq!(num(&report, "errors.total"), 0, "{args:?}: {report}");
    }
    // The bodies were read, not just the heads: 20 x 300,000 bytes.
    let report = load_json(&["--requests", "20", "-c", "2", &big]);
    assert!(num(&report, "bytes") >= 20 * 300_000, "{report}");
    // A HEAD response announces a body it does not carry.
    let report = load_json(&["--requests", "50", "-c", "1", "-m", "HEAD", &head]);
    assert!(num(&report, "bytes") < 50 * 1000, "{report}");
    // Every request of the delayed run waited at least its 20 ms.
    let report = load_json(&["--requests", "20", "-c", "4", &delayed]);
    assert!(num(&report, "latency_us.p50") >= 20_000, "{report}");
}

#[test]
fn a_post_body_is_sent_and_echoed_back_whole() {
    let server = Server::start(&[]);
    let url = format!("http://{}/echo", server.addr);
    let body = "x".repeat(10_000);
    let report = load_json(&[
        "--requests",
        "100",
        "-c",
        "2",
        "-m",
        "POST",
        "--body",
        &body,
        &url,
    ]);
    assert_eq!(num(&report, "statuses.200"), 100, "{report}");
    assert_eq!(num(&report, "errors.total"), 0, "{report}");
    // Each response carries the 10,000 bytes sent.
    assert!(num(&report, "bytes") >= 100 * 10_000, "{report}");
}

/// A one-connection server that records the first request it receives
/// (head and `Content-Length` body) and answers each with `response`.
fn capture_server(response: &'static [u8]) -> (String, std::sync::mpsc::Receiver<Vec<u8>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut received = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            let Ok(n) = stream.read(&mut buf) else { return };
            if n == 0 {
                return;
            }
            received.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&received).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map_or(0, |v| v.parse().unwrap());
                if received.len() >= end + 4 + length {
                    let _ = tx.send(received[..end + 4 + length].to_vec());
                    let _ = stream.write_all(response);
                    return;
                }
            }
        }
    });
    (addr.to_string(), rx)
}

#[test]
fn method_headers_and_body_file_are_sent_as_given() {
    let (addr, requests) = capture_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let file = std::env::temp_dir().join(format!("reactord-load-body-{}", std::process::id()));
    std::fs::write(&file, b"{\"a\": 1}\n").unwrap();
    let report = load_json(&[
        "--requests",
        "1",
        "-c",
        "1",
        "-m",
        "PUT",
        "-H",
        "X-Test: yes",
        "-H",
        "Content-Type: application/json",
        "--body-file",
        file.to_str().unwrap(),
        &format!("http://{addr}/put/here?q=1"),
    ]);
    let _ = std::fs::remove_file(&file);
    let sent = requests.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(
        String::from_utf8(sent).unwrap(),
        format!(
            "PUT /put/here?q=1 HTTP/1.1\r\nHost: {addr}\r\nX-Test: yes\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{{\"a\": 1}}\n"
        )
    );
    assert_eq!(num(&report, "statuses.200"), 1, "{report}");
}

/// A server answering every request on every connection with `response`,
/// closing after each one if `close`. Serves at most 1,000 connections.
fn scripted_server(response: &'static [u8], close: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1000) {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        if stream.write_all(response).is_err() || close {
                            return;
                        }
                    }
                }
            });
        }
    });
    format!("http://{addr}/")
}

#[test]
fn close_delimited_and_interim_responses_are_complete_answers() {
    let close_delimited =
        scripted_server(b"HTTP/1.1 200 OK\r\n\r\nthe body runs to the close", true);
    let report = load_json(&["--requests", "50", "-c", "2", &close_delimited]);
    assert_eq!(num(&report, "statuses.200"), 50, "{report}");
    assert_eq!(num(&report, "errors.total"), 0, "{report}");
    let interim = scripted_server(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: 1\r\n\r\n",
        false,
    );
    let report = load_json(&["--requests", "200", "-c", "2", "--pipeline", "4", &interim]);
    assert_eq!(num(&report, "statuses.201"), 200, "{report}");
    assert_eq!(num(&report, "errors.total"), 0, "{report}");
}

#[test]
fn malformed_chunked_framing_is_a_bad_response_with_its_reason() {
    const BAD: &[u8] =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nnot-hex\r\n";
    let url = scripted_server(BAD, false);
    let report = load_json(&["-c", "2", "--requests", "5", &url]);
    assert_eq!(num(&report, "errors.bad_response"), 5, "{report}");
    assert_eq!(
        num(&report, "bad_reasons.malformed chunk-size line"),
        num(&report, "errors.bad_response"),
        "{report}"
    );
    assert_eq!(num(&report, "requests"), 0, "{report}");
    // The text report names the reason on one line.
    let url = scripted_server(BAD, false);
    let text = load(&["-c", "1", "--requests", "1", &url]);
    assert!(
        text.lines().any(|l| l
            .trim()
            .starts_with("bad response: malformed chunk-size line (")),
        "{text}"
    );
}

#[test]
fn lost_requests_are_counted_by_kind() {
    // Never answers: with a short --timeout the requests time out...
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    // (--requests: the run ends when every request has an outcome, so
    // nothing here races a deadline.)
    let report = load_json(&["-c", "2", "--requests", "4", "--timeout", "100ms", &url]);
    assert_eq!(num(&report, "errors.timeout"), 4, "{report}");
    assert_eq!(num(&report, "errors.total"), 4, "{report}");
    // ...and with a long one each connection's request is still owed at
    // the end of the run (the kernel completes loopback connects without
    // the listener accepting, so all three send at once).
    let report = load_json(&["-c", "3", "-d", "2s", "--timeout", "60s", &url]);
    assert_eq!(num(&report, "errors.end_of_run"), 3, "{report}");
    assert_eq!(num(&report, "errors.timeout"), 0, "{report}");
    drop(silent);
    // Closes without answering: each request in flight is lost to a reset.
    let closer = scripted_server(b"", true);
    let report = load_json(&["-c", "1", "--requests", "3", &closer]);
    assert_eq!(num(&report, "errors.reset"), 3, "{report}");
    assert_eq!(num(&report, "requests"), 0, "{report}");
}

#[test]
fn hist_timeline_plot_and_json_files_are_well_formed() {
    let server = Server::start(&[]);
    let url = format!("http://{}/echo?status=500:10", server.addr);
    let dir = std::env::temp_dir().join(format!("reactord-load-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (hist, timeline, plot) = (dir.join("l.hgrm"), dir.join("l.csv"), dir.join("l.svg"));
    let report = load_json(&[
        "-c",
        "2",
        "-d",
        "2s",
        "-R",
        "200",
        "--warmup",
        "300ms",
        "--hist",
        hist.to_str().unwrap(),
        "--timeline",
        timeline.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
        &url,
    ]);
    let requests = num(&report, "requests");
    assert!(requests > 0, "{report}");
    assert!(
        report["open_loop"]["send_lag_us"]["p99"].is_u64(),
        "{report}"
    );
    assert!(report["connect_us"]["p50"].is_u64(), "{report}");

    let hgrm = std::fs::read_to_string(&hist).unwrap();
    let mut lines = hgrm.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    );
    assert_eq!(lines.next(), Some(""));
    let rows: Vec<Vec<f64>> = lines
        .clone()
        .take_while(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().map(|f| f.parse().unwrap()).collect())
        .collect();
    assert!(rows.iter().all(|r| r.len() == 4 || r.len() == 3), "{hgrm}");
    assert_eq!(rows.last().unwrap()[2] as u64, requests, "{hgrm}");
    assert!(
        hgrm.contains(&format!("Total count    = {requests:>12}]")),
        "{hgrm}"
    );

    let csv = std::fs::read_to_string(&timeline).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("second,requests,errors,p50_us,p99_us,max_us")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2, "one row per second of a 2 s run: {csv}");
    assert!(rows.iter().all(|r| r.len() == 6), "{csv}");
    let counted: u64 = rows.iter().map(|r| r[1].parse::<u64>().unwrap()).sum();
    assert_eq!(counted, requests, "{csv}");

    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("latency by percentile") && svg.contains("throughput"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_workers_split_the_work_and_merge_it_exactly() {
    let server = Server::start(&[]);
    let url = format!("http://{}/echo?status=404:30", server.addr);
    let report = load_json(&["--requests", "1000", "-c", "4", "-t", "2", &url]);
    assert_eq!(num(&report, "requests"), 1000, "{report}");
    let workers: Vec<u64> = report["worker_requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(workers, [500, 500], "{report}");
    assert_eq!(
        num(&report, "statuses.200") + num(&report, "statuses.404"),
        1000,
        "{report}"
    );
    let hist =
        std::env::temp_dir().join(format!("reactord-load-workers-{}.hgrm", std::process::id()));
    let report = load_json(&[
        "--requests",
        "600",
        "-c",
        "2",
        "--workers",
        "2",
        "--hist",
        hist.to_str().unwrap(),
        &url,
    ]);
    let hgrm = std::fs::read_to_string(&hist).unwrap();
    let _ = std::fs::remove_file(&hist);
    assert!(
        hgrm.contains(&format!("Total count    = {:>12}]", 600)),
        "{hgrm}"
    );
    assert_eq!(num(&report, "requests"), 600, "{report}");
}

#[test]
fn help_describes_the_load_generator_and_bad_flags_exit_2() {
    let (status, out) = run_tool(
        env!("CARGO_BIN_EXE_reactord-load"),
        &["--help"],
        Duration::from_secs(30),
    );
    assert!(status.success(), "{out}");
    for text in [
        "load generator",
        "--rate",
        "--workers",
        "--header",
        "--plot",
        "open loop",
    ] {
        assert!(out.contains(text), "{text}: {out}");
    }
    for args in [
        &["--workers", "0", "127.0.0.1:1"][..],
        &["--workers", "1025", "127.0.0.1:1"],
        &["-c", "1000001", "127.0.0.1:1"],
        &["--pipeline", "70000", "127.0.0.1:1"],
        &["-R", "1e9", "127.0.0.1:1"],
        &["--warmup", "25h", "127.0.0.1:1"],
        &["-d", "721h", "127.0.0.1:1"],
        &["-d", "9999999999h", "127.0.0.1:1"],
        &["-m", "GE T", "127.0.0.1:1"],
        &["-H", "no colon", "127.0.0.1:1"],
        &["-H", "Content-Length: 5", "127.0.0.1:1"],
        &["--body", "x", "--body-file", "/dev/null", "127.0.0.1:1"],
    ] {
        let (status, out) = run_tool(
            env!("CARGO_BIN_EXE_reactord-load"),
            args,
            Duration::from_secs(30),
        );
        assert_eq!(status.code(), Some(2), "{args:?}: {out}");
    }
}

#[test]
fn the_warm_up_is_not_counted() {
    let server = Server::start(&[]);
    let url = format!("http://{}/", server.addr);
    // Requests answered during the 300 ms warm-up are not among the 200.
    for extra in [&[][..], &["-R", "2000"]] {
        let mut args = vec!["--requests", "200", "-c", "2", "--warmup", "300ms"];
        args.extend_from_slice(extra);
        args.push(&url);
        let report = load_json(&args);
        assert_eq!(num(&report, "requests"), 200, "{args:?}: {report}");
        assert_eq!(num(&report, "statuses.200"), 200, "{args:?}: {report}");
        assert_eq!(num(&report, "errors.total"), 0, "{args:?}: {report}");
    }
}
