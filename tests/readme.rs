//! The README's commands, as a new user runs them from the repository's top
//! directory: `--root ./site` serves the sample site shipped in `site/`.

mod util;

use std::process::Command;
use util::Server;

#[test]
fn the_readme_sample_site_is_served() {
    let mut command = Command::new(util::binary());
    command.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "--listen",
        "127.0.0.1:0",
        "--root",
        "./site",
    ]);
    let server = Server::spawn(command);
    let index = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/site/index.html"))
        .expect("site/index.html is in the repository");
    let response = util::http_get(server.addr, "/index.html");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with(&index), "{response}");
    let response = util::http_get(server.addr, "/docs");
    assert!(response.starts_with("HTTP/1.1 301 "), "{response}");
    assert!(response.contains("\r\nLocation: /docs/\r\n"), "{response}");
    let response = util::http_get(server.addr, "/docs/");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
}
