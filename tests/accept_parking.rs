//! Parking the listener (see `reactor`'s module docs): while accepted
//! connections wait for their first bytes, the listener is taken out of
//! epoll so that each new handshake does not wake the loop; every wake-up
//! accepts instead. The hazard is a new client arriving while the waiting
//! connections stay silent: nothing wakes the loop, so the park deadline
//! must bring the listener back. Each test is bounded in seconds.

mod util;

use std::io::Write;
use std::time::{Duration, Instant};
use util::{Server, read_to_end_with_timeout};

const GET_CLOSE: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

/// Two silent connections park the listener; a third client must still be
/// answered long before the silent ones' request timeout (60 s) would wake
/// the loop. Without the park deadline it would wait that long.
#[test]
fn a_new_client_is_answered_while_silent_connections_keep_the_listener_parked() {
    let server = Server::start(&[
        "--protocol",
        "http",
        "--log-level",
        "trace",
        "--request-timeout",
        "60s",
    ]);
    let silent: Vec<_> = (0..2).map(|_| server.connect()).collect();
    assert!(
        server.wait_for_log("listener parked", Duration::from_secs(20)),
        "two connections not yet heard from did not park the listener:\n{}",
        server.stderr_text()
    );
    let started = Instant::now();
    let mut client = server.connect();
    client.write_all(GET_CLOSE).unwrap();
    let response = read_to_end_with_timeout(&mut client, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}; server stderr:\n{}", server.stderr_text()));
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "answered only after the silent connections' timeout"
    );
    assert!(
        server.wait_for_log("listener unparked", Duration::from_secs(20)),
        "{}",
        server.stderr_text()
    );
    drop(silent);
}

/// Connection per request from many clients at once (the case parking is
/// for): every request answered, none lost between parked and unparked.
#[test]
fn many_concurrent_connections_per_request_are_all_answered() {
    let server = Server::start(&["--protocol", "http"]);
    let addr = server.addr;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let mut stream = util::connect(addr);
                    stream.write_all(GET_CLOSE).unwrap();
                    let response =
                        read_to_end_with_timeout(&mut stream, Duration::from_secs(30)).unwrap();
                    assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}
