//! The hello path allocates nothing per request in the steady state: a
//! counting global allocator watches the server's thread while a client
//! makes thousands of keep-alive requests (an assertion on a count, not on
//! time).

use reactord::protocol::http::Http;
use reactord::{Config, Server};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};

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
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNT_HERE.try_with(Cell::get).unwrap_or(false) {
            SERVER_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Send `n` requests, pipelined `depth` at a time, and read the responses.
fn requests(client: &mut TcpStream, n: usize, depth: usize) {
    let batch = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n".repeat(depth);
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..n / depth {
        client.write_all(&batch).unwrap();
        let mut seen = 0;
        while seen < depth {
            let got = client.read(&mut buf).unwrap();
            assert!(got > 0);
            seen += buf[..got].windows(9).filter(|w| w == b"HTTP/1.1 ").count();
        }
    }
}

#[test]
fn the_hello_path_allocates_nothing_per_request_in_steady_state() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        let http = Http::new(&config);
        let server = Server::bind(config, http).unwrap();
        tx.send(server.local_addr()).unwrap();
        COUNT_HERE.with(|c| c.set(true));
        let _ = server.run();
    });
    let addr = rx.recv().unwrap();
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    // Warm up: the pool fills, the Date is formatted, buffers reach size.
    requests(&mut client, 2_000, 1);
    requests(&mut client, 2_000, 16);
    let before = SERVER_ALLOCATIONS.load(Ordering::Relaxed);
    requests(&mut client, 10_000, 1);
    requests(&mut client, 10_000, 16);
    let during = SERVER_ALLOCATIONS.load(Ordering::Relaxed) - before;
    // A Date header reformatted when the second changes allocates once
    // (httpdate returns a String); that is per second, not per request.
    eprintln!("server allocations during 20,000 requests: {during}");
    assert!(during <= 4, "{during} allocations for 20,000 requests");
}
