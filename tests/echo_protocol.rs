//! The echo protocol (RFC 862) against the real binary: every byte comes
//! back in order as it arrives; after the client's shutdown the rest comes
//! back and the connection closes; a client that stops reading makes the
//! server stop reading (bounded memory) without losing a byte.

mod util;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use util::{IO_TIMEOUT, Server, first_difference, noise, read_to_end_with_timeout};

fn echo_server(extra: &[&str]) -> Server {
    let mut args = vec!["--protocol", "echo"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// Write `data` on a thread in chunks of varying size, then shut down the
/// write side. The thread returns how long the whole write took.
fn spawn_writer(
    stream: &TcpStream,
    data: Vec<u8>,
    write_timeout: Duration,
) -> thread::JoinHandle<io::Result<Duration>> {
    let mut writer = stream.try_clone().expect("clone stream");
    writer.set_write_timeout(Some(write_timeout)).unwrap();
    thread::spawn(move || {
        let start = Instant::now();
        let sizes = [1, 7, 1500, 4096, 65536, 100_000];
        let mut offset = 0;
        let mut turn = 0;
        while offset < data.len() {
            let end = (offset + sizes[turn % sizes.len()]).min(data.len());
            writer.write_all(&data[offset..end])?;
            offset = end;
            turn += 1;
        }
        writer.shutdown(Shutdown::Write)?;
        Ok(start.elapsed())
    })
}

fn assert_same_bytes(expected: &[u8], actual: &[u8], server: &Server) {
    if let Some(at) = first_difference(expected, actual) {
        panic!(
            "echoed bytes differ from sent bytes at offset {at}: sent {} bytes, got back {}; server stderr:\n{}",
            expected.len(),
            actual.len(),
            server.stderr_text()
        );
    }
}

#[test]
fn echo_returns_bytes_as_they_arrive_before_any_shutdown() {
    let server = echo_server(&[]);
    let mut stream = server.connect();
    for word in [&b"ping"[..], b"\x00\xffbinary\r\n", b"x"] {
        stream.write_all(word).unwrap();
        let mut back = vec![0u8; word.len()];
        stream
            .read_exact(&mut back)
            .unwrap_or_else(|e| panic!("no echo of {word:?} while the connection stays open: {e}"));
        assert_eq!(back, word);
    }
}

#[test]
fn echo_half_close_returns_everything_then_eof() {
    let server = echo_server(&[]);
    let mut stream = server.connect();
    stream.write_all(b"every byte comes back").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    match read_to_end_with_timeout(&mut stream, Duration::from_secs(5)) {
        Ok(back) => assert_eq!(back, b"every byte comes back"),
        Err(e) => panic!(
            "expected the bytes then EOF after a half-close: {e}; server stderr:\n{}",
            server.stderr_text()
        ),
    }
}

#[test]
fn echo_returns_1_mib_of_random_bytes_intact_with_concurrent_read_and_write() {
    let server = echo_server(&[]);
    let data = noise(1024 * 1024, 0x5eed_0001);
    let mut stream = server.connect();
    let writer = spawn_writer(&stream, data.clone(), Duration::from_secs(20));
    let back = read_to_end_with_timeout(&mut stream, Duration::from_secs(20)).unwrap_or_else(|e| {
        panic!(
            "reading the echo: {e}; server stderr:\n{}",
            server.stderr_text()
        )
    });
    writer.join().unwrap().expect("writer");
    assert_same_bytes(&data, &back, &server);
}

/// A client writes `total` bytes on a thread but does not read for `stall`;
/// meanwhile the server's resident memory is sampled. Then the client reads
/// everything back. Returns the largest RSS seen (KiB) and the baseline.
fn stalled_reader(server: &Server, total: usize, stall: Duration) -> (u64, u64) {
    let baseline = server.rss_kib();
    let data = noise(total, 0x5eed_0002 ^ total as u64);
    let mut stream = server.connect();
    // The writer blocks while nobody reads: its timeout must cover the stall.
    let writer = spawn_writer(&stream, data.clone(), Duration::from_secs(30));

    let mut peak = baseline;
    let stall_end = Instant::now() + stall;
    while Instant::now() < stall_end {
        peak = peak.max(server.rss_kib());
        thread::sleep(Duration::from_millis(50));
    }
    let writer_done_during_stall = writer.is_finished();

    let back = read_to_end_with_timeout(&mut stream, Duration::from_secs(30)).unwrap_or_else(|e| {
        panic!(
            "reading {total} echoed bytes after a {stall:?} stall: {e}; server stderr:\n{}",
            server.stderr_text()
        )
    });
    let write_time = writer.join().unwrap().unwrap_or_else(|e| {
        panic!(
            "writing {total} bytes: {e} (writer finished during the stall: {writer_done_during_stall})"
        )
    });
    assert_same_bytes(&data, &back, server);
    println!(
        "{total} bytes: server RSS baseline {baseline} KiB, peak during stall {peak} KiB; \
         writer finished during stall: {writer_done_during_stall}; write took {write_time:?}"
    );
    (peak, baseline)
}

#[test]
fn echo_delivers_8_mib_intact_to_a_client_that_stalls_before_reading() {
    let server = echo_server(&[]);
    let (peak, baseline) = stalled_reader(&server, 8 * 1024 * 1024, Duration::from_secs(1));
    assert!(
        peak < 64 * 1024,
        "server RSS reached {peak} KiB (baseline {baseline} KiB) while a client stalled on 8 MiB"
    );
}

/// 64 MiB is more than the loopback socket buffers can hold, so a server
/// that kept reading into memory while the client does not read would show
/// it in its RSS; the contract caps output pending per connection.
#[test]
fn echo_memory_stays_bounded_when_64_mib_meet_a_stalled_reader() {
    let server = echo_server(&[]);
    let (peak, baseline) = stalled_reader(&server, 64 * 1024 * 1024, Duration::from_secs(1));
    assert!(
        peak < 32 * 1024,
        "server RSS reached {peak} KiB (baseline {baseline} KiB) while a client stalled on 64 MiB: \
         pending output is not capped"
    );
}

/// Expect the server to close `stream` by itself, not before `at_least`
/// after `since` (so the timeout under test, not something else, closed
/// it), and within a bound generous for a slow machine.
fn assert_closed_by_server(
    stream: &mut TcpStream,
    since: Instant,
    at_least: Duration,
    server: &Server,
) {
    let result = read_to_end_with_timeout(stream, IO_TIMEOUT);
    let elapsed = since.elapsed();
    match result {
        Ok(rest) => {
            assert!(
                rest.is_empty(),
                "unexpected bytes before the close: {rest:?}"
            );
            assert!(
                elapsed >= at_least,
                "closed after only {elapsed:?}, before the timeout under test"
            );
        }
        Err(e) => panic!(
            "expected the server to close the connection (EOF) within {IO_TIMEOUT:?}: {e}; server stderr:\n{}",
            server.stderr_text()
        ),
    }
}

#[test]
fn echo_closes_a_silent_client_at_the_idle_timeout() {
    let server = echo_server(&["--idle-timeout", "500ms"]);
    let connecting = Instant::now();
    let mut stream = server.connect();
    assert_closed_by_server(&mut stream, connecting, Duration::from_millis(500), &server);
}

#[test]
fn echo_closes_a_client_at_the_idle_timeout_after_traffic() {
    let server = echo_server(&["--idle-timeout", "500ms"]);
    let mut stream = server.connect();
    let writing = Instant::now();
    stream.write_all(b"ping").unwrap();
    let mut back = [0u8; 4];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"ping");
    // The server's last traffic (the echo) came after `writing`.
    assert_closed_by_server(&mut stream, writing, Duration::from_millis(500), &server);
}

#[test]
fn echo_client_that_keeps_talking_outlives_the_idle_timeout() {
    let server = echo_server(&["--idle-timeout", "1500ms"]);
    let mut stream = server.connect();
    // 10 round trips 300 ms apart: 3 s in all, two idle timeouts, but never
    // 1.5 s without traffic (a margin of 1.2 s for a slow round trip).
    for i in 0..10u8 {
        stream
            .write_all(&[b'a' + i])
            .unwrap_or_else(|e| panic!("write {i}: {e}"));
        let mut back = [0u8; 1];
        stream.read_exact(&mut back).unwrap_or_else(|e| {
            panic!(
                "round trip {i}: the connection was closed although it was never idle for 1.5 s: {e}"
            )
        });
        assert_eq!(back[0], b'a' + i);
        // Traffic spread over time is what is under test.
        thread::sleep(Duration::from_millis(300));
    }
    stream.shutdown(Shutdown::Write).unwrap();
    let rest = read_to_end_with_timeout(&mut stream, Duration::from_secs(5)).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn echo_closes_a_silent_client_at_the_request_timeout() {
    let server = echo_server(&["--request-timeout", "500ms"]);
    let connecting = Instant::now();
    let mut stream = server.connect();
    assert_closed_by_server(&mut stream, connecting, Duration::from_millis(500), &server);
}
