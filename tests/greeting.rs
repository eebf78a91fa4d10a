//! The greeting protocol against the real binary: one request, the
//! greeting, a clean close — never a reset.

mod util;

use std::io::Write;
use std::net::Shutdown;
use std::time::{Duration, Instant};
use util::{Server, read_to_end};

const GREETING: &[u8] = b"Hola desde el servidor TCP\n";

#[test]
fn greeting_replies_then_closes_cleanly() {
    let server = Server::start(&["--protocol", "greeting"]);
    let mut client = server.connect();
    client.write_all(b"hola\n").unwrap();
    assert_eq!(
        read_to_end(&mut client).expect("a FIN, not a reset"),
        GREETING
    );
}

#[test]
fn greeting_text_is_configurable() {
    let server = Server::start(&["--protocol", "greeting", "--greeting", "hi there\n"]);
    let mut client = server.connect();
    client.write_all(b"x\n").unwrap();
    assert_eq!(read_to_end(&mut client).unwrap(), b"hi there\n");
}

#[test]
fn greeting_survives_a_64k_request_without_reset() {
    for limit in ["16384", "100"] {
        let server = Server::start(&["--protocol", "greeting", "--max-request-bytes", limit]);
        let mut client = server.connect();
        let mut request = vec![b'a'; 64 * 1024];
        request.push(b'\n');
        client.write_all(&request).unwrap();
        let reply = read_to_end(&mut client)
            .unwrap_or_else(|e| panic!("limit {limit}: expected FIN, got {e}"));
        assert_eq!(reply, GREETING, "limit {limit}");
    }
}

#[test]
fn greeting_answers_a_client_that_shuts_down_without_a_newline() {
    let server = Server::start(&["--protocol", "greeting"]);
    for request in [&b"no newline"[..], b""] {
        let mut client = server.connect();
        client.write_all(request).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_end(&mut client).unwrap(), GREETING);
    }
}

#[test]
fn greeting_serves_500_concurrent_connections() {
    let server = Server::start(&["--protocol", "greeting"]);
    let mut clients: Vec<_> = (0..500).map(|_| server.connect()).collect();
    for client in &mut clients {
        client.write_all(b"hello\n").unwrap();
    }
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(read_to_end(client).unwrap(), GREETING, "client {i}");
    }
}

#[test]
fn greeting_closes_a_half_sent_line_at_the_request_timeout() {
    let server = Server::start(&["--protocol", "greeting", "--request-timeout", "300ms"]);
    let mut client = server.connect();
    client.write_all(b"half a li").unwrap();
    let started = Instant::now();
    let reply = read_to_end(&mut client).unwrap_or_default();
    assert!(reply.is_empty(), "no greeting for an incomplete request");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed by the timeout, not the test's"
    );
}
