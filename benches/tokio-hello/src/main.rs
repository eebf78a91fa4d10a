//! A tokio current_thread hello server: one task per connection, keep-alive
//! and pipelining, one write per batch of pipelined requests, like reactord.
//! Used only as a point of comparison (benches/compare.sh).

use std::io::Write;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BODY: &[u8] = b"Hello from reactord\n";

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8081".into());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("listening on {} (tokio-hello)", listener.local_addr()?);
    loop {
        let (socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        tokio::spawn(serve(socket));
    }
}

async fn serve(mut socket: TcpStream) {
    let mut input = vec![0u8; 16 * 1024];
    let mut filled = 0;
    let mut output = Vec::with_capacity(16 * 1024);
    loop {
        let n = match socket.read(&mut input[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        filled += n;
        let mut start = 0;
        let mut close = false;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&input[start..filled]) {
                Ok(httparse::Status::Complete(len)) => {
                    close = req.version == Some(0)
                        || req.headers.iter().any(|h| {
                            h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close")
                        });
                    let date = httpdate_now();
                    let connection = if close { "Connection: close\r\n" } else { "" };
                    let _ = write!(
                        output,
                        "HTTP/1.1 200 OK\r\nServer: tokio-hello\r\nDate: {date}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{connection}\r\n",
                        BODY.len()
                    );
                    output.extend_from_slice(BODY);
                    start += len;
                    if close {
                        break;
                    }
                }
                Ok(httparse::Status::Partial) => break,
                Err(_) => return,
            }
        }
        input.copy_within(start..filled, 0);
        filled -= start;
        if !output.is_empty() {
            if socket.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
        if close || filled == input.len() {
            // FIN before close, like the other servers, so the client sees a
            // clean end rather than a reset.
            let _ = socket.shutdown().await;
            return;
        }
    }
}

/// A fixed Date: formatting the real one per request would handicap this
/// server against the others, which cache it per second.
fn httpdate_now() -> &'static str {
    "Tue, 24 Nov 2026 00:00:00 GMT"
}
