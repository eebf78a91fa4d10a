//! The greeting server the way most programs would write it: blocking
//! sockets from `std::net` and a thread per connection. The same protocol
//! as examples/minimal.rs and `reactord --protocol greeting` (a line, the
//! greeting, a close without a reset), for docs/comparison.md.
//!
//! ```text
//! cargo run --example threaded -- --listen 127.0.0.1:7879
//! ```
//!
//! Compare it with examples/minimal.rs: the same steps, in straight-line
//! code, because each connection has a thread that can wait. What the
//! waiting costs is a kernel task and a stack per connection, and nothing
//! here limits how many there are.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

const GREETING: &[u8] = b"Hola desde el servidor TCP\n";
/// The longest request, as in examples/minimal.rs.
const MAX_REQUEST: usize = 1024;
/// A client silent for this long loses its connection (and its thread).
/// Blocking sockets make a timeout a property of each socket.
const IDLE: Duration = Duration::from_secs(10);

fn main() {
    if let Err(e) = serve() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// `--listen ADDR`, default 127.0.0.1:7879 (next to the minimal example's).
fn serve() -> io::Result<()> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 7879));
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--listen", Some(addr)) => {
                listen = addr.parse().map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
                })?
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "usage: threaded [--listen ADDR]",
                ));
            }
        }
    }
    let listener = TcpListener::bind(listen)?;
    eprintln!("listening on {} (threaded)", listener.local_addr()?);
    for stream in listener.incoming() {
        match stream {
            // One thread per connection. If the thread can't be created,
            // the closure and the connection in it are dropped: closed.
            Ok(stream) => {
                if let Err(e) = std::thread::Builder::new().spawn(move || greet(stream)) {
                    eprintln!("spawn: {e}");
                }
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
    Ok(())
}

/// Read a request, answer, close: one function, top to bottom.
fn greet(mut stream: TcpStream) {
    if let Err(e) = stream
        .set_read_timeout(Some(IDLE))
        .and_then(|()| stream.set_write_timeout(Some(IDLE)))
        .and_then(|()| answer(&mut stream))
    {
        eprintln!("connection: {e}");
    }
}

fn answer(stream: &mut TcpStream) -> io::Result<()> {
    // The request: read until a newline, the client's EOF or MAX_REQUEST
    // bytes. Each `read` blocks this thread (only this one) until bytes come.
    let mut request = [0u8; MAX_REQUEST];
    let mut len = 0;
    while let Some(room) = request.get_mut(len..).filter(|room| !room.is_empty()) {
        let n = stream.read(room)?;
        let newline = room.get(..n).is_some_and(|got| got.contains(&b'\n'));
        len += n;
        if n == 0 || newline {
            break;
        }
    }
    // `write_all` loops over short writes and blocks while the kernel's
    // buffer is full: backpressure, by waiting.
    stream.write_all(GREETING)?;
    // No reset: shut down our side, drain until EOF, then close (on drop).
    stream.shutdown(Shutdown::Write)?;
    let mut sink = [0u8; 4096];
    while stream.read(&mut sink)? > 0 {}
    Ok(())
}
