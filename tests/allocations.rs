//! The hello path allocates nothing at all in the steady state, not even
//! when the clock's second changes (which re-renders the Date header and
//! the canned hello response): a counting global allocator watches the
//! server's thread while a client makes 20,000 keep-alive requests spread
//! over several seconds. The assertion is on a count, never on time, so a
//! slow debug build passes or fails exactly like a fast release one.
//! At the end the server is stopped through its shutdown handle and its
//! thread joined, so the test leaves nothing running.

use reactord::protocol::http::{Http, HttpConfig};
use reactord::{Config, Server};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Counting;

static SERVER_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the server's thread only, so the client's allocations (and
    /// the test harness's) don't count.
    static COUNT_HERE: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: delegates to the system allocator; the counter has no effect on
// the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNT_HERE.try_with(Cell::get).unwrap_or(false) {
            SERVER_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: our caller's contract for `alloc` (a valid, non-zero
        // layout) is the system allocator's, passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above, which are the
        // system allocator's, with this layout (our caller's contract).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNT_HERE.try_with(Cell::get).unwrap_or(false) {
            SERVER_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as for `dealloc`, and `new_size` is valid for `layout`'s
        // alignment (our caller's contract).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
const HELLO: &[u8] = b"Hello from reactord\n";

/// Reads whole responses off a keep-alive connection, however the bytes
/// were split into reads: each response is framed by its head and its
/// Content-Length, as a client must, never by counting bytes per read.
struct Responses {
    stream: TcpStream,
    buffered: Vec<u8>,
    /// Every Date value seen, to show which seconds the server rendered.
    dates: BTreeSet<String>,
}

impl Responses {
    /// Read one complete response: check it is the hello, note its Date.
    fn next_hello(&mut self) {
        loop {
            if let Some(length) = self.take_one() {
                assert_eq!(length, HELLO.len());
                return;
            }
            let mut chunk = [0u8; 64 * 1024];
            let got = self.stream.read(&mut chunk).expect("read a response");
            assert!(got > 0, "the server closed the connection");
            self.buffered.extend_from_slice(&chunk[..got]);
        }
    }

    /// If a whole response is buffered, consume it and return its body
    /// length.
    fn take_one(&mut self) -> Option<usize> {
        let head_end = self.buffered.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = std::str::from_utf8(&self.buffered[..head_end]).expect("an ASCII head");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        let field = |name: &str| {
            head.split("\r\n")
                .find_map(|line| line.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {head}"))
                .to_string()
        };
        let length: usize = field("Content-Length: ").parse().expect("a length");
        let date = field("Date: ");
        if self.buffered.len() < head_end + length {
            return None;
        }
        assert_eq!(&self.buffered[head_end..head_end + length], HELLO);
        self.dates.insert(date);
        self.buffered.drain(..head_end + length);
        Some(length)
    }

    /// Send `n` requests, pipelined `depth` at a time, reading each batch's
    /// responses before the next batch.
    fn requests(&mut self, n: usize, depth: usize) {
        let batch = REQUEST.repeat(depth);
        for _ in 0..n / depth {
            self.stream.write_all(&batch).unwrap();
            for _ in 0..depth {
                self.next_hello();
            }
        }
        assert!(
            self.buffered.is_empty(),
            "{} stray bytes after the responses",
            self.buffered.len()
        );
    }
}

fn unix_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Wait (on the clock itself: the change of second is the event under
/// test) until the wall clock's second changes.
fn wait_for_the_next_second() {
    let start = unix_second();
    while unix_second() == start {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_hello_path_allocates_nothing_even_when_the_second_changes() {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stopped_tx, stopped) = std::sync::mpsc::channel();
    let server_thread = std::thread::spawn(move || {
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        let http = Http::new(&HttpConfig::default());
        let server = Server::bind(config, http).unwrap();
        tx.send((server.local_addr(), server.shutdown_handle()))
            .unwrap();
        COUNT_HERE.with(|c| c.set(true));
        let _ = stopped_tx.send(server.run());
    });
    let (addr, shutdown) = rx.recv().unwrap();
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut client = Responses {
        stream,
        buffered: Vec::new(),
        dates: BTreeSet::new(),
    };
    // Warm up: the buffer pool fills, buffers reach their size, the hello
    // page is rendered once.
    client.requests(2_000, 1);
    client.requests(2_000, 16);

    // Measured: four batches, each started in a new second, so the server
    // formats a new Date and re-renders the hello page at least three times
    // inside the window however fast or slow the requests are.
    client.dates.clear();
    let before = SERVER_ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..4 {
        wait_for_the_next_second();
        client.requests(2_500, 1);
        client.requests(2_500, 16);
    }
    let during = SERVER_ALLOCATIONS.load(Ordering::Relaxed) - before;
    eprintln!(
        "server allocations during 20,000 requests over {} seconds: {during}",
        client.dates.len()
    );
    assert!(
        client.dates.len() >= 4,
        "the responses show only {:?}: the second did not change inside the window",
        client.dates
    );
    assert_eq!(
        during,
        0,
        "{during} allocations for 20,000 requests over {} seconds",
        client.dates.len()
    );

    // The keep-alive connection is idle, so the drain closes it and `run`
    // returns at once (30 s is only a bound, so that a bug can't hang the
    // suite).
    shutdown.shutdown().unwrap();
    stopped
        .recv_timeout(Duration::from_secs(30))
        .expect("run() returned after shutdown()")
        .expect("run() returns Ok");
    server_thread.join().expect("the server's thread");
}
