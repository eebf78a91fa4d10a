//! reactord-load against the real server: every protocol and mode counts
//! its requests and sees no errors, and a server that answers garbage is
//! counted as bad responses.

mod util;

use std::io::{Read, Write};
use std::time::Duration;
use util::{Server, run_tool};

fn load(args: &[&str]) -> String {
    let (status, out) = run_tool(
        env!("CARGO_BIN_EXE_reactord-load"),
        args,
        Duration::from_secs(60),
    );
    assert!(status.success(), "{out}");
    out
}

/// A field of the one-line JSON report, e.g. `"requests":2000`.
fn field(json: &str, name: &str) -> u64 {
    let at = json
        .find(&format!("\"{name}\":"))
        .unwrap_or_else(|| panic!("{name} in {json}"));
    json[at + name.len() + 3..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

#[test]
fn every_protocol_and_mode_completes_its_requests_without_errors() {
    let http = Server::start(&[]);
    let echo = Server::start(&["--protocol", "echo"]);
    let greeting = Server::start(&["--protocol", "greeting"]);
    let url = format!("http://{}/", http.addr);
    let (echo_addr, greeting_addr) = (echo.addr.to_string(), greeting.addr.to_string());
    let runs: Vec<Vec<&str>> = vec![
        vec!["--requests", "2000", "--connections", "8", &url],
        vec![
            "--requests",
            "4000",
            "--connections",
            "8",
            "--pipeline",
            "16",
            &url,
        ],
        vec!["--requests", "500", "--connections", "8", "--close", &url],
        vec![
            "--requests",
            "300",
            "--connections",
            "4",
            "--rate",
            "1000",
            &url,
        ],
        vec![
            "--protocol",
            "echo",
            "--requests",
            "2000",
            "--payload-bytes",
            "1000",
            &echo_addr,
        ],
        vec![
            "--protocol",
            "greeting",
            "--requests",
            "300",
            "--connections",
            "8",
            &greeting_addr,
        ],
    ];
    for mut args in runs {
        args.insert(0, "--json");
        let report = load(&args);
        let expected: u64 = args[args.iter().position(|a| *a == "--requests").unwrap() + 1]
            .parse()
            .unwrap();
        assert_eq!(field(&report, "requests"), expected, "{args:?}: {report}");
        assert_eq!(field(&report, "total"), 0, "{args:?}: {report}");
    }
}

#[test]
fn a_server_that_answers_garbage_is_counted_as_bad_responses() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"this is not HTTP\r\n\r\n");
        }
    });
    let report = load(&[
        "--json",
        "--connections",
        "2",
        "--duration",
        "500ms",
        &format!("http://{addr}/"),
    ]);
    assert!(field(&report, "bad_response") > 0, "{report}");
    assert_eq!(field(&report, "requests"), 0, "{report}");
}

#[test]
fn nothing_listening_is_a_connect_error_and_exit_1() {
    // A socket bound but never listening holds the port for the whole
    // test, so no other process can start listening on it meanwhile.
    let holder = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let any_port: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    holder.bind(&any_port.into()).unwrap();
    let port = holder.local_addr().unwrap().as_socket().unwrap().port();
    let (status, out) = run_tool(
        env!("CARGO_BIN_EXE_reactord-load"),
        &["--json", "--duration", "1s", &format!("127.0.0.1:{port}")],
        Duration::from_secs(30),
    );
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(field(&out, "connect") > 0, "{out}");
}
