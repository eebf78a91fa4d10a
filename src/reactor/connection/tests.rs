//! One connection driven over a real loopback socket pair, with a test
//! protocol that answers any input with a large streamed body.

use super::*;
use crate::protocol::{FileBacked, FileRegion, Output, StreamedBody};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

/// Far more than [`WRITE_BUDGET_PER_TURN`].
const BIG_BODY: u64 = 32 << 20;

/// A body of zeros, pulled through the output buffer (the path of
/// every body that is not a file region).
struct Zeros(u64);

impl StreamedBody for Zeros {
    fn remaining(&self) -> u64 {
        self.0
    }
    fn read_chunk(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(usize::try_from(self.0).unwrap_or(usize::MAX));
        buf[..n].fill(0);
        self.0 -= n as u64;
        Ok(n)
    }
}

/// A part of a file: sent with sendfile(2) where the platform has it,
/// else (or with sendfile turned off) read with pread and written.
struct FilePart {
    file: std::fs::File,
    offset: u64,
    remaining: u64,
}

impl StreamedBody for FilePart {
    fn remaining(&self) -> u64 {
        self.remaining
    }
    fn read_chunk(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(usize::try_from(self.remaining).unwrap());
        let n = self.file.read_at(&mut buf[..want], self.offset)?;
        self.advance(n as u64);
        Ok(n)
    }
    fn file_backed(&mut self) -> Option<&mut dyn FileBacked> {
        Some(self)
    }
}

impl FileBacked for FilePart {
    fn file_region(&self) -> FileRegion<'_> {
        FileRegion {
            file: self.file.as_fd(),
            offset: self.offset,
        }
    }
    fn advance(&mut self, n: u64) {
        self.offset += n;
        self.remaining -= n;
    }
}

/// Answers any input with `head\n` and then one body made by
/// `make_body`.
struct BigResponse {
    make_body: Box<dyn Fn() -> Box<dyn StreamedBody>>,
}

impl BigResponse {
    fn new(make_body: impl Fn() -> Box<dyn StreamedBody> + 'static) -> BigResponse {
        BigResponse {
            make_body: Box::new(make_body),
        }
    }
}

impl Protocol for BigResponse {
    type Session = ();
    fn name(&self) -> &'static str {
        "big-response"
    }
    fn open(&mut self, _peer: SocketAddr) {}
    fn on_input(
        &mut self,
        _session: &mut (),
        input: &[u8],
        _ctx: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        out.extend(b"head\n");
        out.stream((self.make_body)());
        Verdict::Continue(input.len())
    }
}

/// How a file body is sent: the platform's way (sendfile on Linux), or
/// the portable way every other unix takes (pread + write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FilePath {
    Native,
    Portable,
}

use crate::reactor::test_sockets::socket_pair;

/// How many bytes a fresh loopback connection takes before `WouldBlock`
/// while its peer reads nothing (about 4 MiB with Linux's default
/// buffer limits): what one turn would write without a budget.
fn loopback_capacity() -> usize {
    let (mut ours, _client) = socket_pair();
    let chunk = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        match ours.write(&chunk) {
            Ok(n) => total += n,
            Err(err) if would_block(&err) => return total,
            Err(err) => panic!("calibration write: {err}"),
        }
    }
}

/// A file of `len` bytes holding `pattern(i)` at offset `i`, already
/// removed from the directory (the descriptor keeps it).
fn temp_file(name: &str, len: usize, pattern: impl Fn(usize) -> u8) -> std::fs::File {
    let path = std::env::temp_dir().join(format!("reactord-{name}-{}", std::process::id()));
    let bytes: Vec<u8> = (0..len).map(pattern).collect();
    std::fs::write(&path, &bytes).unwrap();
    let opened = std::fs::File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    opened
}

/// A connection serving `protocol`, with one request already in its
/// receive queue, and the client's socket (which must stay open: its
/// close would reset).
fn requested(path: FilePath) -> (Connection<()>, std::net::TcpStream) {
    let (ours, mut client) = socket_pair();
    client.write_all(b"go\n").unwrap();
    let peer = client.local_addr().unwrap();
    let mut conn = Connection::new(0, 0, ours, peer, (), Instant::now());
    if path == FilePath::Portable {
        conn.send_queue.without_sendfile();
    }
    // The request is already in the receive queue; both edges would say
    // so (as with --defer-accept).
    conn.assume_ready();
    (conn, client)
}

/// Drive `conn` once; returns the turn and how many bytes it wrote.
fn drive_once(conn: &mut Connection<()>, protocol: &mut BigResponse) -> (Progress, u64) {
    let now = Instant::now();
    let mut metrics = Metrics::new(now);
    let mut pool = BufferPool::new(16 * 1024, 4);
    let mut scratch = vec![0u8; 1024];
    let mut env = Env {
        protocol,
        metrics: &mut metrics,
        pool: &mut pool,
        scratch: &mut scratch,
        now,
        wall: SystemTime::now(),
    };
    let turn = conn.drive(&mut env);
    (turn, metrics.bytes_written)
}

/// Send one request to a fresh connection serving `protocol`, drive it
/// once. Returns what that turn wrote, the turn, the connection, and
/// the client's socket.
fn one_turn(
    mut protocol: BigResponse,
    path: FilePath,
) -> (u64, Progress, Connection<()>, std::net::TcpStream) {
    let (mut conn, client) = requested(path);
    let (turn, written) = drive_once(&mut conn, &mut protocol);
    (written, turn, conn, client)
}

/// # Fairness (writes)
///
/// One turn of a connection whose client would take megabytes writes at
/// most the budget, and asks to be continued (the out-of-budget list), since no
/// writable edge will come while the socket still has room. Every body
/// path: bytes through the output buffer, a file with sendfile(2), and
/// a file read and written as on platforms without sendfile.
#[test]
fn one_turn_writes_at_most_the_budget_then_asks_for_more_work() {
    let capacity = loopback_capacity();
    assert!(
        capacity > 2 * WRITE_BUDGET_PER_TURN,
        "this machine's loopback takes only {capacity} bytes unread; the test needs \
         more than twice the budget ({WRITE_BUDGET_PER_TURN}) to tell them apart"
    );
    let file = std::env::temp_dir().join(format!("reactord-budget-{}", std::process::id()));
    std::fs::File::create(&file)
        .unwrap()
        .set_len(BIG_BODY)
        .unwrap();
    // Opened before removal: the descriptor keeps the (sparse) file.
    let opened = std::sync::Arc::new(std::fs::File::open(&file).unwrap());
    std::fs::remove_file(&file).unwrap();
    let file_part = move || -> Box<dyn StreamedBody> {
        Box::new(FilePart {
            file: opened.try_clone().unwrap(),
            offset: 0,
            remaining: BIG_BODY,
        })
    };

    let cases = [
        (
            "buffered",
            BigResponse::new(|| Box::new(Zeros(BIG_BODY))),
            FilePath::Native,
        ),
        (
            "file, native",
            BigResponse::new(file_part.clone()),
            FilePath::Native,
        ),
        (
            "file, pread + write",
            BigResponse::new(file_part),
            FilePath::Portable,
        ),
    ];
    for (path, protocol, file_path) in cases {
        let (written, turn, mut conn, _client) = one_turn(protocol, file_path);
        assert!(
            written <= WRITE_BUDGET_PER_TURN as u64,
            "{path}: one turn wrote {written} bytes, more than the budget \
             ({WRITE_BUDGET_PER_TURN}); the socket would take {capacity}"
        );
        assert_eq!(turn, Progress::MoreWork, "{path}: {written} bytes written");
        assert_eq!(conn.state(), State::Writing, "{path}");
        // The budget stopped it, not the kernel: the socket takes more.
        let more = conn.socket.write(&[0u8; 1024]);
        assert!(
            more.as_ref().is_ok_and(|&n| n > 0),
            "{path}: the socket was full after {written} bytes: {more:?}"
        );
    }
}

/// The turn after a spent budget goes on writing without a new edge.
#[test]
fn the_next_turn_continues_where_the_budget_stopped() {
    let mut protocol = BigResponse::new(|| Box::new(Zeros(BIG_BODY)));
    let (mut conn, _client) = requested(FilePath::Native);
    let (turn, first) = drive_once(&mut conn, &mut protocol);
    assert_eq!(turn, Progress::MoreWork);
    let (turn, second) = drive_once(&mut conn, &mut protocol);
    assert_eq!(turn, Progress::MoreWork);
    assert!(
        second > 0 && second <= WRITE_BUDGET_PER_TURN as u64,
        "second turn wrote {second} bytes (first {first})"
    );
}

/// # Platforms
///
/// A part of a file (not from its start, not to its end, longer than
/// a turn's budget and than a read chunk) arrives whole and in order,
/// both sent with sendfile(2) and read and written the portable way
/// that platforms without Linux's sendfile take. Each turn's bytes are
/// read before the next turn, so the test waits on nothing but data.
#[test]
fn a_file_body_arrives_whole_and_in_order_with_or_without_sendfile() {
    const LEN: usize = 3 * WRITE_BUDGET_PER_TURN + 12_345;
    const START: usize = 1_001;
    let pattern = |i: usize| (i % 251) as u8;
    let file = std::sync::Arc::new(temp_file("file-part", START + LEN + 999, pattern));
    let expected: Vec<u8> = b"head\n"
        .iter()
        .copied()
        .chain((START..START + LEN).map(pattern))
        .collect();
    for path in [FilePath::Native, FilePath::Portable] {
        let file = file.clone();
        let mut protocol = BigResponse::new(move || {
            Box::new(FilePart {
                file: file.try_clone().unwrap(),
                offset: START as u64,
                remaining: LEN as u64,
            })
        });
        let (mut conn, mut client) = requested(path);
        let mut received = Vec::new();
        while received.len() < expected.len() {
            let (_, written) = drive_once(&mut conn, &mut protocol);
            let mut turn = vec![0u8; usize::try_from(written).unwrap()];
            client.read_exact(&mut turn).unwrap();
            received.extend_from_slice(&turn);
            assert!(
                written > 0 || conn.send_queue.is_empty(),
                "{path:?}: a turn wrote nothing"
            );
            // The client made room: as a writable edge would say.
            conn.assume_ready();
        }
        assert!(conn.send_queue.is_empty(), "{path:?}");
        assert_ne!(conn.state(), State::Closed, "{path:?}");
        assert_eq!(received.len(), expected.len(), "{path:?}");
        assert!(received == expected, "{path:?}: the bytes differ");
    }
}

/// Acknowledges each line at once, then waits an hour before saying
/// "done": a protocol that answers `Verdict::Wait`.
struct Delayer;

impl Protocol for Delayer {
    type Session = ();
    fn name(&self) -> &'static str {
        "delayer"
    }
    fn open(&mut self, _peer: SocketAddr) {}
    fn on_input(
        &mut self,
        _session: &mut (),
        input: &[u8],
        ctx: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            return Verdict::NeedMore;
        };
        out.extend(b"ack ");
        out.extend(&input[..=end]);
        Verdict::Wait(end + 1, ctx.now + Duration::from_secs(3600))
    }
    fn on_wake(&mut self, _session: &mut (), _ctx: &mut Context<'_>, out: &mut Output) -> Verdict {
        out.extend(b"done\n");
        Verdict::Continue(0)
    }
}

fn drive_with<P: Protocol<Session = ()>>(conn: &mut Connection<()>, protocol: &mut P) -> Progress {
    let now = Instant::now();
    let mut metrics = Metrics::new(now);
    let mut pool = BufferPool::new(16 * 1024, 4);
    let mut scratch = vec![0u8; 1024];
    let mut env = Env {
        protocol,
        metrics: &mut metrics,
        pool: &mut pool,
        scratch: &mut scratch,
        now,
        wall: SystemTime::now(),
    };
    conn.drive(&mut env)
}

fn read_exactly(client: &mut std::net::TcpStream, len: usize) -> String {
    let mut buf = vec![0u8; len];
    client.read_exact(&mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

/// # Waiting
///
/// A protocol's `Wait` parks the connection on its wake-up deadline:
/// what came before is sent, the request pipelined behind it is neither
/// read nor answered, events change nothing, and only the timer
/// (`wake`) moves it on: `on_wake` first, then the next request.
#[test]
fn a_waiting_connection_answers_nothing_until_its_timer_fires() {
    let (ours, mut client) = socket_pair();
    client.write_all(b"one\ntwo\n").unwrap();
    let peer = client.local_addr().unwrap();
    let mut conn = Connection::new(0, 0, ours, peer, (), Instant::now());
    conn.assume_ready();
    let timeouts = Timeouts {
        request: Duration::from_secs(1),
        idle: Duration::from_secs(1),
        linger: Duration::from_secs(1),
        drain_grace: None,
    };
    let mut protocol = Delayer;
    assert_eq!(drive_with(&mut conn, &mut protocol), Progress::Done);
    assert_eq!(conn.state(), State::Waiting);
    let (due, kind) = conn.deadline(&timeouts).unwrap();
    assert_eq!(kind, DeadlineKind::Wake);
    assert!(
        due > Instant::now() + Duration::from_secs(3000),
        "not the request timeout"
    );
    assert_eq!(read_exactly(&mut client, 8), "ack one\n");
    // Readiness events while waiting: nothing is read or answered.
    conn.assume_ready();
    drive_with(&mut conn, &mut protocol);
    assert_eq!(conn.state(), State::Waiting);
    client.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    assert!(client.read(&mut byte).is_err_and(|e| would_block(&e)));
    client.set_nonblocking(false).unwrap();
    // The timer fires: what was owed, then the next request, in order.
    conn.wake(Instant::now());
    drive_with(&mut conn, &mut protocol);
    assert_eq!(read_exactly(&mut client, 13), "done\nack two\n");
    assert_eq!(conn.state(), State::Waiting);
}

/// Answers one line with "bye" and expects nothing more, so its
/// connection closes at once (no linger).
struct OneLine;

impl Protocol for OneLine {
    type Session = ();
    fn name(&self) -> &'static str {
        "one-line"
    }
    fn open(&mut self, _peer: SocketAddr) {}
    fn on_input(
        &mut self,
        _session: &mut (),
        input: &[u8],
        _ctx: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            return Verdict::NeedMore;
        };
        out.extend(b"bye\n");
        Verdict::Close(end + 1)
    }
    fn expects_more_input(&self, _session: &()) -> bool {
        false
    }
}

/// A connection closed at once decided that nothing was unread; bytes
/// that come between that decision and the close (after the batch)
/// are read away, so the client gets its answer and a FIN, not a reset
/// (found by review: 2-5 resets in 2,000 greeting connections whose
/// clients sent a second line).
#[test]
fn bytes_that_come_before_a_close_at_once_are_read_away_not_reset() {
    let (ours, mut client) = socket_pair();
    client.write_all(b"hello\n").unwrap();
    let peer = client.local_addr().unwrap();
    let mut conn = Connection::new(0, 0, ours, peer, (), Instant::now());
    conn.assume_ready();
    drive_with(&mut conn, &mut OneLine);
    assert_eq!(conn.state(), State::Closed);
    // The client speaks again before the close: wait until its bytes
    // are in our receive queue.
    client.write_all(b"late\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut peek = [0u8; 8];
    while !conn.socket.peek(&mut peek).is_ok_and(|n| n > 0) {
        assert!(Instant::now() < deadline, "the late bytes never arrived");
        std::thread::yield_now();
    }
    conn.discard_late_input(&mut [0u8; 1024]);
    drop(conn);
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(read_exactly(&mut client, 4), "bye\n");
    let mut rest = [0u8; 16];
    let end = client.read(&mut rest);
    assert!(matches!(end, Ok(0)), "{end:?}: a reset instead of a FIN");
}

/// A Config that skipped validation can't crash the deadline either.
#[test]
fn deadlines_past_the_end_of_the_clock_do_not_panic() {
    let (ours, client) = socket_pair();
    let now = Instant::now();
    let conn: Connection<()> = Connection::new(0, 0, ours, client.local_addr().unwrap(), (), now);
    let forever = Timeouts {
        request: Duration::MAX,
        idle: Duration::MAX,
        linger: Duration::MAX,
        drain_grace: None,
    };
    let (due, _) = conn.deadline(&forever).unwrap();
    assert!(due > now);
}

/// A worker's drain grace applies between requests only, and counts
/// from the later of the drain's start and the last progress.
#[test]
fn the_drain_grace_counts_from_when_the_connection_became_idle() {
    let (ours, client) = socket_pair();
    let accepted = Instant::now();
    let mut conn: Connection<()> =
        Connection::new(0, 0, ours, client.local_addr().unwrap(), (), accepted);
    let grace = Duration::from_secs(1);
    let began = accepted + Duration::from_secs(5);
    let mut timeouts = Timeouts {
        request: Duration::from_secs(30),
        idle: Duration::from_secs(60),
        linger: Duration::from_secs(1),
        drain_grace: Some((began, grace)),
    };
    // Waiting for its first request: the request clock, no grace.
    assert_eq!(
        conn.deadline(&timeouts),
        Some((accepted + timeouts.request, DeadlineKind::Request))
    );
    // Idle since before the drain: a second from the drain's start.
    conn.request_started = None;
    assert_eq!(
        conn.deadline(&timeouts),
        Some((began + grace, DeadlineKind::DrainGrace))
    );
    // Became idle during the drain: a second from then.
    let idle_since = began + Duration::from_millis(700);
    conn.last_progress = idle_since;
    assert_eq!(
        conn.deadline(&timeouts),
        Some((idle_since + grace, DeadlineKind::DrainGrace))
    );
    // A shorter --idle-timeout still wins.
    timeouts.idle = Duration::from_millis(100);
    assert_eq!(
        conn.deadline(&timeouts),
        Some((idle_since + timeouts.idle, DeadlineKind::Idle))
    );
}
