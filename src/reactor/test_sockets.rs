//! Test support shared by the unit tests of the connection, the send queue
//! and the signal streams: real sockets, so the tests see what the kernel
//! really does.

use mio::net::{TcpStream, UnixStream};

/// A connected pair over loopback: (our end, non-blocking, as mio's
/// stream; the client's end).
pub(crate) fn socket_pair() -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (ours, _) = listener.accept().unwrap();
    ours.set_nonblocking(true).unwrap();
    (TcpStream::from_std(ours), client)
}

/// A connected Unix socket pair, as the binary makes for each signal:
/// (our end, non-blocking, as mio's stream; the writer's end).
pub(crate) fn unix_pair() -> (UnixStream, std::os::unix::net::UnixStream) {
    let (ours, writer) = std::os::unix::net::UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    (UnixStream::from_std(ours), writer)
}
