//! Test support shared by the unit tests of the connection and the send
//! queue: real sockets, so the tests see what the kernel really does.

use mio::net::TcpStream;

/// A connected pair over loopback: (our end, non-blocking, as mio's
/// stream; the client's end).
pub(crate) fn socket_pair() -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (ours, _) = listener.accept().unwrap();
    ours.set_nonblocking(true).unwrap();
    (TcpStream::from_std(ours), client)
}
