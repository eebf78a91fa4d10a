//! The echo protocol against the real binary: bytes intact and in order,
//! half-close, backpressure with bounded memory, idle timeout.

mod util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};
use util::{Server, noise, read_to_end};

#[test]
fn echo_returns_a_mebibyte_intact_while_reading_and_writing_concurrently() {
    let server = Server::start(&["--protocol", "echo"]);
    let client = server.connect();
    let data = noise(1 << 20, 42);
    let mut writer = client.try_clone().unwrap();
    let sent = data.clone();
    let writing = std::thread::spawn(move || {
        for chunk in sent.chunks(7_919) {
            writer.write_all(chunk).unwrap();
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut reader = client;
    let echoed = read_to_end(&mut reader).unwrap();
    writing.join().unwrap();
    assert_eq!(echoed.len(), data.len());
    assert!(echoed == data, "echoed bytes differ");
}

#[test]
fn echo_sends_the_rest_and_closes_after_a_half_close() {
    let server = Server::start(&["--protocol", "echo"]);
    let mut client = server.connect();
    client.write_all(b"last words").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut client).unwrap(), b"last words");
}

#[test]
fn echo_holds_8_mib_from_a_client_that_does_not_read_without_losing_any_or_growing() {
    let server = Server::start(&["--protocol", "echo"]);
    let client = server.connect();
    let data = noise(8 << 20, 7);
    let mut writer = client.try_clone().unwrap();
    writer
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let sent = data.clone();
    let writing = std::thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    // Don't read for a while: the server must stop reading, not buffer 8 MiB.
    std::thread::sleep(Duration::from_millis(800));
    let rss_while_stalled = server.rss_kib();
    let mut reader = client;
    reader
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut echoed = Vec::with_capacity(data.len());
    reader.read_to_end(&mut echoed).unwrap();
    writing.join().unwrap();
    assert_eq!(echoed.len(), data.len());
    assert!(echoed == data, "echoed bytes differ");
    assert!(
        rss_while_stalled < 32 * 1024,
        "server RSS {rss_while_stalled} KiB while the client stalled"
    );
}

#[test]
fn echo_closes_a_connection_idle_past_the_idle_timeout() {
    let server = Server::start(&["--protocol", "echo", "--idle-timeout", "300ms"]);
    let mut client = server.connect();
    client.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    let started = Instant::now();
    assert_eq!(
        read_to_end(&mut client).unwrap(),
        b"",
        "closed with nothing more"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_silent_client_is_closed_at_the_request_timeout() {
    let server = Server::start(&["--protocol", "echo", "--request-timeout", "300ms"]);
    let mut client = server.connect();
    let started = Instant::now();
    assert_eq!(read_to_end(&mut client).unwrap(), b"");
    assert!(started.elapsed() < Duration::from_secs(5));
}
