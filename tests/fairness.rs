//! Fairness: one client that the server could keep busy forever does not
//! make the others wait. Reads are capped per turn (READS_PER_TURN) and so
//! are writes (WRITE_BUDGET_PER_TURN); a connection that runs out of budget
//! goes on the loop's out-of-budget list and continues after the others.
//!
//! What this file can and cannot prove: without the write budget the
//! server still yields whenever the kernel's send buffer fills, and whether
//! a fast reader lets it fill depends on the relative speed of two threads.
//! So the proof that one turn writes at most the budget is a unit test over
//! a loopback pair (`connection::tests`), independent of speed. This file
//! shows what the budget buys a client end to end, and it fails for sure
//! if a connection stopped by its budget is not continued from the ready
//! list: no new edge comes for a socket that still has room, and the
//! download stalls after its first turn's budget.

mod util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use util::{Server, read_to_end};

/// The big file: sparse, so it costs no disk, and far larger than anything
/// loopback moves in the seconds this test runs.
const BIG: u64 = 64 << 30;

/// How much of the download must have arrived before the small request is
/// sent: proof that the download is under way and the client is fast.
const UNDER_WAY: u64 = 16 << 20;

/// A --root with a sparse 64 GiB `big.bin` and a small `small.txt`.
struct Root(PathBuf);

impl Root {
    fn new() -> Root {
        let dir = std::env::temp_dir().join(format!("reactord-fairness-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::File::create(dir.join("big.bin"))
            .unwrap()
            .set_len(BIG)
            .unwrap();
        std::fs::write(dir.join("small.txt"), "small\n").unwrap();
        Root(dir)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Wait until `done()` or `limit` passes; true if it happened.
fn wait_until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    done()
}

#[test]
fn a_small_request_is_answered_while_a_fast_client_downloads_a_huge_file() {
    let root = Root::new();
    let server = Server::start(&["--root", root.0.to_str().unwrap()]);

    // The fast client: reads as fast as it can, counting bytes.
    let mut big = server.connect();
    big.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let reader = {
        let mut big = big.try_clone().unwrap();
        let received = Arc::clone(&received);
        let finished = Arc::clone(&finished);
        thread::spawn(move || {
            // The head, read normally.
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && big.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            assert!(
                head.starts_with(b"HTTP/1.1 200 "),
                "{}",
                String::from_utf8_lossy(&head)
            );
            // The body, discarded by the kernel without a copy (MSG_TRUNC):
            // this client reads faster than any server writes. Ends at EOF,
            // or with an error once the test shuts the socket.
            loop {
                // SAFETY: recv(2) with MSG_TRUNC on a TCP socket discards
                // up to `len` bytes and writes nothing to the (null) buffer.
                let n = unsafe {
                    libc::recv(
                        big.as_raw_fd(),
                        std::ptr::null_mut(),
                        1 << 30,
                        libc::MSG_TRUNC,
                    )
                };
                if n <= 0 {
                    break;
                }
                received.fetch_add(n as u64, Ordering::Relaxed);
            }
            finished.store(true, Ordering::Relaxed);
        })
    };
    assert!(
        wait_until(Duration::from_secs(20), || received.load(Ordering::Relaxed)
            >= UNDER_WAY),
        "the download did not get under way: {} bytes; stderr:\n{}",
        received.load(Ordering::Relaxed),
        server.stderr_text()
    );

    // Meanwhile, on another connection, a small request.
    let mut small = server.connect();
    small
        .write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let response = read_to_end(&mut small).unwrap_or_else(|e| {
        panic!(
            "the small request was not answered while the download ran ({} bytes of it \
             so far): {e}",
            received.load(Ordering::Relaxed)
        )
    });
    let so_far = received.load(Ordering::Relaxed);
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 200 ") && response.ends_with("\r\n\r\nsmall\n"),
        "{response}"
    );
    // Answered while the download was still going, not after it.
    assert!(
        !finished.load(Ordering::Relaxed) && so_far < BIG,
        "the small response came only after the download ended ({so_far} bytes)"
    );

    big.shutdown(Shutdown::Both).unwrap();
    reader.join().unwrap();
}
