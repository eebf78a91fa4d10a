//! The floor (benches/floor.c), the yardstick docs/benchmarks.md divides
//! reactord's CPU per request by: it must build and answer the clients it
//! is measured with (curl, wrk, a pipelined batch) correctly, or the
//! figures beside it mean nothing.

mod util;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use util::Server;

const ANSWER: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\nHello from reactord\n";

/// Build benches/floor.c into the tests' scratch directory (once per test
/// process: the tests run in parallel and share the binary).
fn floor() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/floor.c");
            let binary = Path::new(env!("CARGO_TARGET_TMPDIR")).join("floor");
            let (status, output) = util::run_tool(
                "cc",
                &[
                    "-O2",
                    "-Wall",
                    "-Wextra",
                    "-Werror",
                    "-o",
                    binary.to_str().expect("a UTF-8 path"),
                    source.to_str().expect("a UTF-8 path"),
                ],
                Duration::from_secs(120),
            );
            assert!(status.success(), "cc benches/floor.c: {output}");
            binary
        })
        .clone()
}

fn start_floor() -> Server {
    let mut command = Command::new(floor());
    command.arg("0");
    Server::spawn(command)
}

#[test]
fn curl_gets_two_answers_on_one_connection() {
    if !util::require_tool("curl", "curl") {
        return;
    }
    let server = start_floor();
    let url = format!("http://{}/", server.addr);
    let (status, output) = util::run_tool(
        "curl",
        &["-sS", "--max-time", "10", "-v", &url, &format!("{url}b")],
        Duration::from_secs(20),
    );
    assert!(status.success(), "{output}");
    assert_eq!(
        output.matches("Hello from reactord\n").count(),
        2,
        "{output}"
    );
    assert!(output.contains("Re-using existing connection"), "{output}");
}

#[test]
fn wrk_reports_no_errors() {
    if !util::require_tool("wrk", "wrk") {
        return;
    }
    let server = start_floor();
    let url = format!("http://{}/", server.addr);
    let (status, output) = util::run_tool(
        "wrk",
        &["-t1", "-c4", "-d1s", &url],
        Duration::from_secs(30),
    );
    assert!(status.success(), "{output}");
    assert!(output.contains(" requests in "), "{output}");
    assert!(!output.contains("Socket errors"), "{output}");
    assert!(!output.contains("Non-2xx"), "{output}");
}

/// Heads split anywhere (here inside the blank line) still count once, and
/// answers that don't fit the send buffer all arrive: none lost, none cut.
#[test]
fn a_pipelined_batch_is_answered_whole_in_order() {
    let server = start_floor();
    let mut client = server.connect();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r")
        .unwrap();
    client
        .write_all(b"\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut two = vec![0; 2 * ANSWER.len()];
    client.read_exact(&mut two).unwrap();
    assert_eq!(String::from_utf8_lossy(&two), ANSWER.repeat(2));

    // All written before any is read: the answers (8 MB) overflow the
    // send and receive buffers, so the floor's sends come back short or
    // with EAGAIN, and the rest must follow on the writable edges.
    const MANY: usize = 100_000;
    client
        .write_all(&b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(MANY))
        .unwrap();
    let mut answers = vec![0; MANY * ANSWER.len()];
    client.read_exact(&mut answers).unwrap();
    assert_eq!(
        util::first_difference(ANSWER.repeat(MANY).as_bytes(), &answers),
        None
    );
}
