//! An independent strict client: Python's h11 drives every route and status
//! the server produces (GET and HEAD of /, /metrics, files, directories,
//! 206/304/404/405/412/416 and every error, keep-alive, pipelined) and
//! fails on any framing complaint or stray byte. The cases are in
//! tests/strict_client.py; this file builds the tree, starts the servers
//! and runs the script.
//!
//! Without h11 the test fails under CI (.ci/run installs python3-h11) and
//! is skipped elsewhere with a one-line hint.

mod util;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use util::{Server, run_tool};

/// The body of /notes.txt; the script checks ranges against it.
const NOTES: &str = "0123456789abcdefghij";

/// A Python interpreter that can `import h11`: the one on PATH may be a
/// pyenv build without Debian's packages, so the system one is tried too.
fn python_with_h11() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import h11"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The served tree, removed when dropped.
struct Site {
    dir: PathBuf,
}

impl Site {
    fn new() -> Site {
        let dir = std::env::temp_dir().join(format!("reactord-strict-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::create_dir_all(dir.join("plain")).unwrap();
        std::fs::write(dir.join("index.html"), "<h1>home</h1>\n").unwrap();
        std::fs::write(dir.join("notes.txt"), NOTES).unwrap();
        std::fs::write(dir.join("sub/index.html"), "<p>sub</p>\n").unwrap();
        std::fs::write(dir.join("plain/a.txt"), "a\n").unwrap();
        Site { dir }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn h11_accepts_every_response_the_server_produces() {
    let Some(python) = python_with_h11() else {
        util::skip_without("h11", "python3-h11");
        return;
    };
    let site = Site::new();
    let root = site.dir.display().to_string();
    let limits = ["--max-request-bytes", "1024", "--max-body-bytes", "100"];
    let plain = Server::start(&limits);
    let mut with_root = vec!["--root", root.as_str(), "--autoindex"];
    with_root.extend(limits);
    let files = Server::start(&with_root);
    // With --defer-accept (Linux) a refused client's request is always in
    // when the server answers 503, so HEAD can be told apart.
    let deferred = cfg!(target_os = "linux");
    let mut full_args = vec!["--max-connections", "1"];
    if deferred {
        full_args.extend(["--defer-accept", "1s"]);
    }
    let full = Server::start(&full_args);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/strict_client.py");
    let (status, out) = run_tool(
        python,
        &[
            script,
            &plain.addr.to_string(),
            &files.addr.to_string(),
            &full.addr.to_string(),
            &NOTES.len().to_string(),
            if deferred { "yes" } else { "no" },
        ],
        Duration::from_secs(120),
    );
    println!("{out}");
    let failures: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        status.success() && failures.is_empty(),
        "h11 found {} failing cases ({status}); the script's whole report is above:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
