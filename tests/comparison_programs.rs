//! docs/comparison.md sets reactord beside other servers; each of them is
//! in the repository, and each must at least run and answer, or the page's
//! claims about it go stale. One bounded test per program: the thread per
//! connection version (examples/threaded.rs), the seed's Go servers
//! (benches/seed-go, needs `go`) and the tokio server (benches/tokio-hello).

mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use util::{IO_TIMEOUT, Server, read_to_end_with_timeout};

/// A server that announces its address on stdout (the Go programs print
/// "... escuchando en ADDR"), killed and reaped when dropped.
struct StdoutServer {
    child: Child,
    addr: SocketAddr,
}

impl StdoutServer {
    fn spawn(mut command: Command, marker: &'static str) -> StdoutServer {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(10));
        let addr = line
            .as_ref()
            .ok()
            .and_then(|line| line.split(marker).nth(1))
            .and_then(|addr| addr.trim().parse().ok());
        match addr {
            Some(addr) => StdoutServer { child, addr },
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no `{marker} ADDR` line within 10 s: {line:?}");
            }
        }
    }
}

impl Drop for StdoutServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Build benches/seed-go/NAME.go into the tests' scratch directory.
fn build_go(name: &str) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("benches/seed-go/{name}.go"));
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("seed-go");
    let binary = scratch.join(name);
    let cache = format!("GOCACHE={}", scratch.join("cache").display());
    let (status, output) = util::run_tool(
        "env",
        &[
            &cache,
            "go",
            "build",
            "-o",
            binary.to_str().expect("a UTF-8 path"),
            source.to_str().expect("a UTF-8 path"),
        ],
        Duration::from_secs(300),
    );
    assert!(status.success(), "go build {name}.go: {output}");
    binary
}

#[test]
fn the_thread_per_connection_example_answers_the_greeting_without_a_reset() {
    let mut command = Command::new(util::example("threaded"));
    command.args(["--listen", "127.0.0.1:0"]);
    let server = Server::spawn(command);
    let mut client = server.connect();
    let mut request = b"hi\n".to_vec();
    request.extend(util::noise(64 * 1024, 3));
    client.write_all(&request).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let reply = read_to_end_with_timeout(&mut client, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}: {}", server.stderr_text()));
    assert_eq!(String::from_utf8_lossy(&reply), util::DEFAULT_GREETING);
}

#[test]
fn the_seeds_go_greeting_server_answers() {
    if !util::require_tool("go", "golang-go") {
        return;
    }
    let mut command = Command::new(build_go("greeting"));
    command.arg("127.0.0.1:0");
    let server = StdoutServer::spawn(command, "escuchando en");
    let mut client = util::connect(server.addr);
    client.write_all(b"hello\n").unwrap();
    let reply = read_to_end_with_timeout(&mut client, IO_TIMEOUT).expect("the seed's reply");
    // The seed's text, without a newline.
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "Hola desde el servidor TCP"
    );
}

#[test]
fn the_go_net_http_hello_server_answers() {
    if !util::require_tool("go", "golang-go") {
        return;
    }
    let mut command = Command::new(build_go("hello"));
    command.arg("127.0.0.1:0");
    let server = StdoutServer::spawn(command, "escuchando en");
    let response = util::http_get(server.addr, "/");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.ends_with("\r\n\r\nHello from reactord\n"),
        "{response}"
    );
}

#[test]
fn the_tokio_hello_server_answers() {
    // A separate package (reactord never depends on tokio), built into the
    // tests' scratch directory; a few seconds once, a no-op afterwards.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/tokio-hello/Cargo.toml");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tokio-hello");
    let (status, output) = util::run_tool(
        env!("CARGO"),
        &[
            "build",
            "--quiet",
            "--manifest-path",
            manifest.to_str().expect("a UTF-8 path"),
            "--target-dir",
            target.to_str().expect("a UTF-8 path"),
        ],
        Duration::from_secs(600),
    );
    assert!(
        status.success(),
        "cargo build benches/tokio-hello: {output}"
    );
    let mut command = Command::new(target.join("debug/tokio-hello"));
    command.arg("127.0.0.1:0");
    let server = Server::spawn(command);
    let response = util::http_get(server.addr, "/");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.ends_with("\r\n\r\nHello from reactord\n"),
        "{response}"
    );
}
