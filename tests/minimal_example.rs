//! examples/minimal.rs, the learner's first read, does what its comments
//! say: the real example binary on port 0, real sockets, each state of a
//! connection reached and checked from the outside, and its stderr trace
//! used to know when the server has reached a state (never a sleep).

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use util::{IO_TIMEOUT, Server, read_to_end_with_timeout};

const GREETING: &str = "Hola desde el servidor TCP\n";

/// The example on 127.0.0.1:0 with `args`, killed when dropped.
fn start(args: &[&str]) -> Server {
    let mut command = Command::new(util::example("minimal"));
    command.args(["--listen", "127.0.0.1:0"]).args(args);
    Server::spawn(command)
}

/// Read the whole reply until the server's FIN; a reset is an error.
fn reply(client: &mut TcpStream) -> Vec<u8> {
    read_to_end_with_timeout(client, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("reading the reply: {e}"))
}

#[test]
fn a_line_gets_the_greeting_then_a_clean_close() {
    let server = start(&[]);
    let mut client = server.connect();
    client.write_all(b"hello\n").unwrap();
    assert_eq!(String::from_utf8_lossy(&reply(&mut client)), GREETING);
    let key = server.connection_key(&client);
    // The server lingers in Closing until the client's own close: its
    // EOF says nothing more will come, so nothing can be left unread.
    drop(client);
    for step in [
        format!("conn {key}: Reading -> Writing (request complete)"),
        format!("conn {key}: Writing -> Closing (reply written)"),
        format!("conn {key}: Closing -> Closed (end of input)"),
        format!("conn {key}: removed"),
    ] {
        assert!(
            server.wait_for_log(&step, IO_TIMEOUT),
            "no {step:?}: {}",
            server.stderr_text()
        );
    }
}

#[test]
fn a_request_in_one_byte_pieces_is_answered_once_it_is_whole() {
    let server = start(&[]);
    let mut client = server.connect();
    let key = server.connection_key(&client);
    let read_one = format!("conn {key}: read 1 bytes");
    for (i, byte) in b"hello\n".iter().enumerate() {
        client.write_all(&[*byte]).unwrap();
        // Wait until the server has read this piece, so each one arrives
        // in a read of its own: a real split, not one the kernel merged.
        assert!(
            server.wait_for_lines(i + 1, IO_TIMEOUT, |line| line == read_one),
            "piece {i} never read alone: {}",
            server.stderr_text()
        );
        let answering = format!("conn {key}: Reading -> Writing");
        if i < 5 {
            // The server logs its reads and transitions in order, so once
            // this piece's read is logged, an answer to it would be too.
            let answered = server.logs().iter().any(|l| l.starts_with(&answering));
            assert!(
                !answered,
                "answered after {} of 6 bytes: {}",
                i + 1,
                server.stderr_text()
            );
        } else {
            // The transition is logged after the read: wait for it rather
            // than look once (the log reader may not have it yet).
            assert!(
                server.wait_for_lines(1, IO_TIMEOUT, |line| line.starts_with(&answering)),
                "never answered after the whole line: {}",
                server.stderr_text()
            );
        }
    }
    assert_eq!(String::from_utf8_lossy(&reply(&mut client)), GREETING);
}

#[test]
fn a_client_that_sends_more_than_a_line_gets_its_reply_without_a_reset() {
    let server = start(&[]);
    let mut client = server.connect();
    // 64 KiB after the line: more than the server reads as a request, so
    // still unread when the reply has been written.
    let mut request = b"hi\n".to_vec();
    request.extend(util::noise(64 * 1024, 17));
    client.write_all(&request).unwrap();
    let mut greeting = [0u8; GREETING.len()];
    client.read_exact(&mut greeting).unwrap();
    assert_eq!(String::from_utf8_lossy(&greeting), GREETING);
    // The client goes on sending after the reply. A server that closed
    // with input unread would have reset the connection: these writes
    // would fail (and a reply still in flight would be lost).
    for piece in util::noise(64 * 1024, 18).chunks(1024) {
        if let Err(e) = client.write_all(piece) {
            panic!(
                "write after the reply: {e} (a reset?): {}",
                server.stderr_text()
            );
        }
    }
    client.shutdown(Shutdown::Write).unwrap();
    let rest = reply(&mut client);
    assert!(rest.is_empty(), "after the greeting: {rest:?}");
    let key = server.connection_key(&client);
    let step = format!("conn {key}: Closing -> Closed (end of input)");
    assert!(
        server.wait_for_log(&step, IO_TIMEOUT),
        "no {step:?}: {}",
        server.stderr_text()
    );
}

#[test]
fn a_slow_reader_holds_the_server_in_writing_and_still_gets_every_byte() {
    // 27 MB: more than loopback's socket buffers hold, so the server must
    // stop at WouldBlock and resume on the writable edge.
    let repeat = 1_000_000;
    let server = start(&["--repeat", &repeat.to_string(), "--timeout-ms", "60000"]);
    let mut client = server.connect();
    client.write_all(b"big\n").unwrap();
    let key = server.connection_key(&client);
    // The client reads nothing until the server has hit a full buffer.
    let blocked = format!("conn {key}: write would block");
    assert!(
        server
            .wait_for_line(IO_TIMEOUT, |line| line.starts_with(&blocked))
            .is_some(),
        "the server never waited in Writing: {}",
        server.stderr_text()
    );
    let mut received = Vec::new();
    client.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    client.read_to_end(&mut received).unwrap();
    assert_eq!(received.len(), GREETING.len() * repeat);
    assert!(
        received
            .chunks(GREETING.len())
            .all(|g| g == GREETING.as_bytes()),
        "the reply is not {repeat} greetings in a row"
    );
}

#[test]
fn a_client_that_stops_reading_is_closed_at_the_timeout() {
    let server = start(&["--repeat", "1000000", "--timeout-ms", "300"]);
    let mut client = server.connect();
    client.write_all(b"big\n").unwrap();
    let key = server.connection_key(&client);
    // The client never reads: the reply stops at a full buffer, and no
    // progress comes to move the deadline.
    let step = format!("conn {key}: Writing -> Closed (timer fired)");
    assert!(
        server.wait_for_log(&step, IO_TIMEOUT),
        "no {step:?}: {}",
        server.stderr_text()
    );
    assert!(server.wait_for_log(&format!("conn {key}: removed"), IO_TIMEOUT));
}

#[test]
fn an_idle_client_is_closed_at_the_timeout() {
    let server = start(&["--timeout-ms", "300"]);
    let mut client = server.connect();
    // A client that connects and says nothing: its read ends with the
    // server's FIN once the connection's one timer fires.
    let got = read_to_end_with_timeout(&mut client, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}: {}", server.stderr_text()));
    assert!(got.is_empty(), "an idle client was sent {got:?}");
    let key = server.connection_key(&client);
    let step = format!("conn {key}: Reading -> Closed (timer fired)");
    assert!(
        server.wait_for_log(&step, IO_TIMEOUT),
        "no {step:?}: {}",
        server.stderr_text()
    );
}

#[test]
fn a_flag_out_of_bounds_is_refused() {
    let output = Command::new(util::example("minimal"))
        .args(["--repeat", "1000001"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--repeat: 1 to 1000000"));
}
