//! End to end over loopback: the real server binary as a child process, one
//! keep-alive connection, one request at a time. Measures a round trip
//! (client write, server read/parse/write, client read), so it includes
//! the kernel's share; compare it before and after a change, not with
//! other machines.

use criterion::{Criterion, criterion_group, criterion_main};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

struct Child_(Child);

impl Drop for Child_ {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(protocol: &str) -> (Child_, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_reactord"))
        .args(["--listen", "127.0.0.1:0", "--protocol", protocol])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start reactord");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("listening line").expect("read stderr");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (Child_(child), addr)
}

fn loopback(c: &mut Criterion) {
    let (_server, addr) = start("http");
    let mut client = TcpStream::connect(&addr).expect("connect");
    client.set_nodelay(true).expect("nodelay");
    let request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
    let mut buf = [0u8; 4096];
    c.bench_function("loopback/http_keep_alive_round_trip", |b| {
        b.iter(|| {
            client.write_all(request).expect("write");
            let mut got = 0;
            // The hello response is 155 bytes; read until all of it is in.
            while got < 155 {
                got += client.read(&mut buf[got..]).expect("read");
            }
        })
    });

    let (_echo, addr) = start("echo");
    let mut client = TcpStream::connect(&addr).expect("connect");
    client.set_nodelay(true).expect("nodelay");
    let payload = [b'x'; 64];
    c.bench_function("loopback/echo_64_bytes_round_trip", |b| {
        b.iter(|| {
            client.write_all(&payload).expect("write");
            client.read_exact(&mut buf[..64]).expect("read");
        })
    });
}

criterion_group!(benches, loopback);
criterion_main!(benches);
