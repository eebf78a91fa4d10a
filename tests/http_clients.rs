//! HTTP against the real binary with the clients people actually use:
//! curl, Python's http.client, wrk and ab. Each must see zero errors. These
//! assert correctness only; speed is measured by benches/compare.sh.
//!
//! A missing tool fails the test under CI (.ci/run installs them) and skips
//! it elsewhere with a one-line hint.

mod util;

use std::time::Duration;
use util::{IO_TIMEOUT, Server, require_tool, run_tool};

fn url(server: &Server, path: &str) -> String {
    format!("http://{}{path}", server.addr)
}

#[test]
fn curl_http11_and_http10_get_the_hello() {
    if !require_tool("curl", "curl") {
        return;
    }
    let server = Server::start(&[]);
    for version in ["--http1.1", "--http1.0"] {
        let (status, out) = run_tool(
            "curl",
            &["-sS", "-i", version, &url(&server, "/")],
            Duration::from_secs(10),
        );
        assert!(status.success(), "{out}");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(
            out.contains("Content-Type: text/plain; charset=utf-8\r\n"),
            "{out}"
        );
        assert!(out.ends_with("Hello from reactord\n"), "{out}");
    }
    let (_, out) = run_tool(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url(&server, "/nope"),
        ],
        Duration::from_secs(10),
    );
    assert_eq!(out, "404");
}

#[test]
fn curl_reuses_one_connection_for_several_urls_and_uploads_a_body() {
    if !require_tool("curl", "curl") {
        return;
    }
    let server = Server::start(&[]);
    let (status, out) = run_tool(
        "curl",
        &[
            "-sS",
            "-v",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            &url(&server, "/"),
            &url(&server, "/metrics"),
            &url(&server, "/"),
        ],
        Duration::from_secs(10),
    );
    assert!(status.success(), "{out}");
    assert!(
        out.contains("Re-using existing connection") || out.matches("Connected to").count() == 1,
        "{out}"
    );
    // Bodies sent with Expect: 100-continue: one under --max-body-bytes
    // (discarded, then answered), one over it (413 before it is sent).
    let dir = std::env::temp_dir().join(format!("reactord-curl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (size, expected) in [(200_000, "405"), (2_000_000, "413")] {
        let file = dir.join(format!("body-{size}"));
        std::fs::write(&file, vec![b'x'; size]).unwrap();
        let data = format!("@{}", file.display());
        let (status, out) = run_tool(
            "curl",
            &[
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-H",
                "Expect: 100-continue",
                "--data-binary",
                &data,
                &url(&server, "/upload"),
            ],
            Duration::from_secs(10),
        );
        assert!(status.success(), "{out}");
        assert_eq!(out, expected, "{size}-byte body");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn python_http_client_makes_100_requests_on_one_connection() {
    if !require_tool("python3", "python3") {
        return;
    }
    let server = Server::start(&[]);
    let script = format!(
        r#"
import http.client
conn = http.client.HTTPConnection("{host}", {port}, timeout=10)
for i in range(100):
    conn.request("GET" if i % 3 else "HEAD", "/?i=%d" % i)
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200, r.status
    assert r.getheader("Content-Length") == "20"
    assert body == (b"" if i % 3 == 0 else b"Hello from reactord\n"), body
    assert r.getheader("Date") and r.getheader("Server") == "reactord"
conn.request("POST", "/", body=b"x" * 1000)
r = conn.getresponse(); r.read()
assert r.status == 405 and r.getheader("Allow") == "GET, HEAD"
conn.request("GET", "/")
r = conn.getresponse(); r.read()
assert r.status == 200
print("sockets", 1 if conn.sock is not None else 0)
"#,
        host = server.addr.ip(),
        port = server.addr.port()
    );
    let (status, out) = run_tool("python3", &["-c", &script], Duration::from_secs(30));
    assert!(status.success(), "{out}");
    assert_eq!(
        server.metric("reactord_connections_accepted_total"),
        2.0,
        "100 requests, one connection (+ /metrics)"
    );
}

#[test]
fn wrk_reports_no_errors_with_64_keep_alive_connections() {
    if !require_tool("wrk", "wrk") {
        return;
    }
    let server = Server::start(&[]);
    let (status, out) = run_tool(
        "wrk",
        &["-t1", "-c64", "-d2s", &url(&server, "/")],
        Duration::from_secs(30),
    );
    assert!(status.success(), "{out}");
    assert!(out.contains("requests in"), "{out}");
    assert!(!out.contains("Socket errors"), "{out}");
    assert!(!out.contains("Non-2xx"), "{out}");
    let active = server.wait_for_metric("reactord_connections_active", IO_TIMEOUT, |n| n == 1.0);
    assert_eq!(active, 1.0, "every wrk connection was closed and removed");
}

#[test]
fn wrk_reports_no_errors_for_connection_per_request() {
    if !require_tool("wrk", "wrk") {
        return;
    }
    let server = Server::start(&[]);
    let (status, out) = run_tool(
        "wrk",
        &[
            "-t1",
            "-c16",
            "-d2s",
            "-H",
            "Connection: close",
            &url(&server, "/"),
        ],
        Duration::from_secs(30),
    );
    assert!(status.success(), "{out}");
    assert!(
        !out.contains("Socket errors") && !out.contains("Non-2xx"),
        "{out}"
    );
}

#[test]
fn ab_keep_alive_and_not_report_no_failures() {
    if !require_tool("ab", "apache2-utils") {
        return;
    }
    let server = Server::start(&[]);
    for keep_alive in [true, false] {
        let mut args = vec!["-n", "5000", "-c", "32"];
        if keep_alive {
            args.push("-k");
        }
        let target = url(&server, "/");
        args.push(&target);
        let (status, out) = run_tool("ab", &args, Duration::from_secs(60));
        assert!(status.success(), "{out}");
        assert!(out.contains("Complete requests:      5000"), "{out}");
        assert!(out.contains("Failed requests:        0"), "{out}");
        assert!(!out.contains("Non-2xx"), "{out}");
        if keep_alive {
            assert!(out.contains("Keep-Alive requests:    5000"), "{out}");
        }
    }
}
