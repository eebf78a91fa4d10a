//! --root: static files against the real binary, on a generated tree.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;
use util::{IO_TIMEOUT, Server, read_to_end, require_tool, run_tool, wait_until};

const BIG: u64 = 64 << 20;

/// A tree with one of everything, under a fresh temporary directory.
struct Site {
    dir: PathBuf,
}

impl Site {
    fn new(name: &str) -> Site {
        Site::build(name, false)
    }

    /// The same tree plus a 64 MiB file.
    fn with_big_file(name: &str) -> Site {
        Site::build(name, true)
    }

    fn build(name: &str, with_big_file: bool) -> Site {
        let dir = std::env::temp_dir().join(format!("reactord-site-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join("plain")).unwrap();
        std::fs::write(root.join("index.html"), "<h1>home</h1>\n").unwrap();
        std::fs::write(root.join("notes.txt"), "0123456789abcdefghij").unwrap();
        std::fs::write(root.join("style.css"), "body { color: red }\n").unwrap();
        std::fs::write(root.join("pixel.png"), b"\x89PNG\r\n\x1a\n fake").unwrap();
        std::fs::write(root.join("blob.unknownext"), b"\x00\x01").unwrap();
        std::fs::write(root.join("with space.txt"), "spaced\n").unwrap();
        std::fs::write(root.join("metrics"), "a file named metrics\n").unwrap();
        std::fs::write(root.join(".secret"), "hidden\n").unwrap();
        std::fs::create_dir_all(root.join(".well-known/acme-challenge")).unwrap();
        std::fs::write(root.join(".well-known/security.txt"), "Contact: x\n").unwrap();
        std::fs::write(root.join(".well-known/acme-challenge/t0ken"), "t0ken.key\n").unwrap();
        std::fs::write(root.join(".well-known/.hidden"), "hidden\n").unwrap();
        std::fs::write(root.join("sub/index.html"), "<p>sub</p>\n").unwrap();
        std::fs::write(root.join("plain/<b>&.txt"), "x").unwrap();
        std::fs::write(dir.join("outside.txt"), "outside the root\n").unwrap();
        std::os::unix::fs::symlink(dir.join("outside.txt"), root.join("escape")).unwrap();
        std::os::unix::fs::symlink(root.join("notes.txt"), root.join("inside-link")).unwrap();
        // A large file with real content (so a checksum means something),
        // written in 1 MiB blocks of a repeating pattern.
        if with_big_file {
            let mut big = std::fs::File::create(root.join("big.bin")).unwrap();
            let block = util::noise(1 << 20, 9);
            for _ in 0..BIG >> 20 {
                big.write_all(&block).unwrap();
            }
        }
        Site { dir }
    }

    fn root(&self) -> String {
        self.dir.join("root").display().to_string()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Send a raw request (so no client normalises the path) and return the
/// whole response.
fn raw(server: &Server, request: &str) -> String {
    let mut stream = server.connect();
    stream.write_all(request.as_bytes()).unwrap();
    String::from_utf8_lossy(&read_to_end(&mut stream).unwrap()).into_owned()
}

fn get(server: &Server, path: &str, headers: &str) -> String {
    raw(
        server,
        &format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n"),
    )
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

fn status(response: &str) -> &str {
    &response[9..12]
}

#[test]
fn files_get_their_content_type_and_validators() {
    let site = Site::new("types");
    let server = Server::start(&["--root", &site.root()]);
    for (path, kind) in [
        ("/notes.txt", "text/plain; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/pixel.png", "image/png"),
        ("/blob.unknownext", "application/octet-stream"),
        ("/with%20space.txt", "text/plain; charset=utf-8"),
    ] {
        let response = get(&server, path, "");
        assert_eq!(status(&response), "200", "{path}: {response}");
        assert_eq!(header(&response, "Content-Type"), Some(kind), "{path}");
        assert!(
            header(&response, "ETag").is_some() && header(&response, "Last-Modified").is_some()
        );
    }
    assert!(get(&server, "/with%20space.txt", "").ends_with("spaced\n"));
}

#[test]
fn directories_serve_index_redirect_without_slash_and_list_only_with_autoindex() {
    let site = Site::new("dirs");
    let server = Server::start(&["--root", &site.root()]);
    assert!(get(&server, "/", "").ends_with("<h1>home</h1>\n"));
    let redirect = get(&server, "/sub", "");
    assert_eq!(status(&redirect), "301");
    assert_eq!(header(&redirect, "Location"), Some("/sub/"));
    assert!(get(&server, "/sub/", "").ends_with("<p>sub</p>\n"));
    assert_eq!(status(&get(&server, "/plain/", "")), "404");

    let listing_server = Server::start(&["--root", &site.root(), "--autoindex"]);
    let listing = get(&listing_server, "/plain/", "");
    assert_eq!(status(&listing), "200");
    assert!(
        listing.contains("&lt;b&gt;&amp;.txt"),
        "names are escaped: {listing}"
    );
    assert!(!listing.contains("<b>&"), "{listing}");
    let top = get(&listing_server, "/sub/", "");
    assert!(
        top.ends_with("<p>sub</p>\n"),
        "index.html still wins over a listing"
    );
}

/// RFC 8615: `/.well-known/` is served always (ACME HTTP-01 challenges,
/// security.txt; issue 21: every dot name was refused); other names that
/// start with a dot only with --dotfiles, and a listing shows what is
/// served.
#[test]
fn well_known_is_served_and_other_dot_names_only_with_dotfiles() {
    let site = Site::new("dotfiles");
    let server = Server::start(&["--root", &site.root(), "--autoindex"]);
    let security = get(&server, "/.well-known/security.txt", "");
    assert_eq!(status(&security), "200", "{security}");
    assert!(security.ends_with("\r\n\r\nContact: x\n"), "{security}");
    let challenge = get(&server, "/.well-known/acme-challenge/t0ken", "");
    assert!(challenge.ends_with("\r\n\r\nt0ken.key\n"), "{challenge}");
    for hidden in ["/.secret", "/%2esecret", "/.well-known/.hidden"] {
        assert_eq!(status(&get(&server, hidden, "")), "404", "{hidden}");
    }
    let listing = get(&server, "/", "");
    assert_eq!(status(&listing), "200");
    let listing = get(&server, "/plain/", "");
    assert!(!listing.contains(".secret"), "{listing}");
    let well_known = get(&server, "/.well-known/", "");
    assert!(well_known.contains("security.txt"), "{well_known}");
    assert!(!well_known.contains(".hidden"), "{well_known}");

    let dotfiles = Server::start(&["--root", &site.root(), "--dotfiles", "--autoindex"]);
    for (path, body) in [
        ("/.secret", "hidden\n"),
        ("/%2esecret", "hidden\n"),
        ("/.well-known/.hidden", "hidden\n"),
        ("/.well-known/security.txt", "Contact: x\n"),
    ] {
        let response = get(&dotfiles, path, "");
        assert_eq!(status(&response), "200", "{path}: {response}");
        assert!(response.ends_with(&format!("\r\n\r\n{body}")), "{path}");
    }
    let well_known = get(&dotfiles, "/.well-known/", "");
    assert!(well_known.contains(".hidden"), "{well_known}");
    // Never `..`, whatever the flag.
    for path in [
        "/../outside.txt",
        "/%2e%2e/outside.txt",
        "/sub/../../outside.txt",
    ] {
        let response = get(&dotfiles, path, "");
        assert!(!response.contains("outside the root"), "{path}: {response}");
    }
}

/// `//` inside a path is `/` (nginx's merge_slashes; issue 21), and a
/// malformed percent-escape is a 400, not a 404.
#[test]
fn doubled_slashes_collapse_and_a_malformed_escape_is_400() {
    let site = Site::new("slashes");
    let server = Server::start(&["--root", &site.root()]);
    for (path, body) in [
        ("//notes.txt", "0123456789abcdefghij"),
        ("/sub//index.html", "<p>sub</p>\n"),
        ("//sub//", "<p>sub</p>\n"),
        ("/%6eotes.txt", "0123456789abcdefghij"),
    ] {
        let response = get(&server, path, "");
        assert_eq!(status(&response), "200", "{path}: {response}");
        assert!(response.ends_with(body), "{path}: {response}");
    }
    // The slash added to a directory's path never makes `//host`.
    let redirect = get(&server, "//sub", "");
    assert_eq!(status(&redirect), "301", "{redirect}");
    assert_eq!(header(&redirect, "Location"), Some("/sub/"));
    for path in ["/%", "/%zz", "/notes.txt%2", "/sub/%g0"] {
        let response = get(&server, path, "");
        assert_eq!(status(&response), "400", "{path}: {response}");
    }
}

/// The redirect that adds a directory's slash keeps the query: it is part
/// of what was asked for.
#[test]
fn a_directory_redirect_keeps_the_query() {
    let site = Site::new("redirect-query");
    let server = Server::start(&["--root", &site.root()]);
    for (target, location) in [
        ("/sub?q=1", "/sub/?q=1"),
        ("/sub?a=1&b=%2F", "/sub/?a=1&b=%2F"),
        ("/sub", "/sub/"),
    ] {
        let redirect = get(&server, target, "");
        assert_eq!(status(&redirect), "301", "{target}: {redirect}");
        assert_eq!(header(&redirect, "Location"), Some(location), "{target}");
    }
}

#[test]
fn no_request_reaches_outside_the_root_or_a_hidden_file() {
    let site = Site::new("escape");
    let server = Server::start(&["--root", &site.root()]);
    for path in [
        "/../outside.txt",
        "/sub/../../outside.txt",
        "/%2e%2e/outside.txt",
        "/sub/%2e%2e/%2e%2e/outside.txt",
        "/sub%2f..%2f..%2foutside.txt",
        "/..%5coutside.txt",
        "/sub\\..\\..\\outside.txt",
        "/notes.txt%00.html",
        "//etc/passwd",
        "/escape",
        "/.secret",
        "/%2esecret",
        "/.well-known/.hidden",
        "/sub/.well-known/security.txt",
    ] {
        let response = get(&server, path, "");
        assert!(
            matches!(status(&response), "403" | "404" | "400"),
            "{path}: {response}"
        );
        assert!(
            !response.contains("outside the root") && !response.contains("hidden"),
            "{path}"
        );
    }
    // A symlink that stays inside the root is fine.
    assert!(get(&server, "/inside-link", "").ends_with("0123456789abcdefghij"));
}

#[test]
fn conditional_requests_get_304_and_if_none_match_wins() {
    let site = Site::new("cond");
    let server = Server::start(&["--root", &site.root()]);
    let first = get(&server, "/notes.txt", "");
    let etag = header(&first, "ETag").unwrap().to_string();
    let modified = header(&first, "Last-Modified").unwrap().to_string();
    let not_modified = get(&server, "/notes.txt", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(status(&not_modified), "304");
    assert!(not_modified.ends_with("\r\n\r\n"), "no body with 304");
    assert_eq!(
        status(&get(
            &server,
            "/notes.txt",
            &format!("If-Modified-Since: {modified}\r\n")
        )),
        "304"
    );
    // If-None-Match wins: a stale tag with a fresh date is a 200.
    let both = get(
        &server,
        "/notes.txt",
        &format!("If-None-Match: \"stale\"\r\nIf-Modified-Since: {modified}\r\n"),
    );
    assert_eq!(status(&both), "200");
    assert_eq!(
        status(&get(
            &server,
            "/notes.txt",
            "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
        )),
        "200"
    );
}

/// RFC 9110 §13.1.1, §13.1.4: If-Match (strong comparison, `*` for any
/// existing file) and, without it, If-Unmodified-Since are preconditions;
/// when one fails the answer is 412 with a short body (none for HEAD), and
/// they are evaluated before If-None-Match (§13.2.2).
#[test]
fn if_match_and_if_unmodified_since_that_fail_get_412() {
    let site = Site::new("412");
    let server = Server::start(&["--root", &site.root()]);
    let first = get(&server, "/notes.txt", "");
    let etag = header(&first, "ETag").unwrap().to_string();
    let modified = header(&first, "Last-Modified").unwrap().to_string();
    let epoch = "Thu, 01 Jan 1970 00:00:00 GMT";
    let cases = [
        (format!("If-Match: {etag}\r\n"), "200"),
        ("If-Match: \"x\", *\r\n".to_string(), "412"),
        ("If-Match: *\r\n".to_string(), "200"),
        (format!("If-Match: \"x\", {etag}\r\n"), "200"),
        ("If-Match: \"x\"\r\n".to_string(), "412"),
        (format!("If-Match: W/{etag}\r\n"), "412"),
        (format!("If-Unmodified-Since: {modified}\r\n"), "200"),
        (format!("If-Unmodified-Since: {epoch}\r\n"), "412"),
        ("If-Unmodified-Since: not a date\r\n".to_string(), "200"),
        // If-Match decides alone when both are sent (§13.1.4).
        (
            format!("If-Match: {etag}\r\nIf-Unmodified-Since: {epoch}\r\n"),
            "200",
        ),
        // The preconditions come before If-None-Match (§13.2.2).
        (
            format!("If-Match: \"x\"\r\nIf-None-Match: {etag}\r\n"),
            "412",
        ),
        (
            format!("If-Match: {etag}\r\nIf-None-Match: {etag}\r\n"),
            "304",
        ),
    ];
    for (headers, expected) in &cases {
        let response = get(&server, "/notes.txt", headers);
        assert_eq!(status(&response), *expected, "{headers}: {response}");
    }
    let failed = get(&server, "/notes.txt", "If-Match: \"x\"\r\n");
    assert!(
        failed.starts_with("HTTP/1.1 412 Precondition Failed\r\n"),
        "{failed}"
    );
    assert!(
        failed.ends_with("\r\n\r\n412 Precondition Failed\n"),
        "{failed}"
    );

    // HEAD: the same head, no body, and the connection goes on.
    let response = raw(
        &server,
        "HEAD /notes.txt HTTP/1.1\r\nHost: t\r\nIf-Match: \"x\"\r\n\r\n\
         GET /notes.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let (failed_head, next) = response.split_once("\r\n\r\n").unwrap();
    assert_eq!(status(failed_head), "412", "{response}");
    assert!(next.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");

    // A missing file stays a 404 (§13.2.1).
    assert_eq!(
        status(&get(&server, "/missing.txt", "If-Match: *\r\n")),
        "404"
    );

    // The preconditions survive a request body, answered after it.
    let with_body = raw(
        &server,
        "GET /notes.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(status(&with_body), "412", "{with_body}");
    let with_body = raw(
        &server,
        "GET /notes.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         If-Match: \"x\"\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(status(&with_body), "412", "{with_body}");
}

/// RFC 9110 §8.6, §15.4.5: a 304 has no body, so it sends no
/// Content-Length (the `0` it used to send is a wrong length for a
/// 20-byte file), and the next response on the connection follows its head
/// at once.
#[test]
fn a_304_has_no_content_length_and_no_body_before_the_next_response() {
    let site = Site::new("304");
    let server = Server::start(&["--root", &site.root()]);
    let etag = header(&get(&server, "/notes.txt", ""), "ETag")
        .unwrap()
        .to_string();
    for method in ["GET", "HEAD"] {
        let response = raw(
            &server,
            &format!(
                "{method} /notes.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\n\r\n\
                 GET /notes.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            ),
        );
        let (not_modified, next) = response.split_once("\r\n\r\n").unwrap();
        assert_eq!(status(not_modified), "304", "{method}: {response}");
        assert!(
            !not_modified.contains("Content-Length"),
            "{method}: {not_modified}"
        );
        assert!(
            not_modified.contains(&format!("ETag: {etag}")),
            "{response}"
        );
        assert!(
            next.starts_with("HTTP/1.1 200 OK\r\n"),
            "{method}: {response}"
        );
        assert!(next.ends_with("\r\n\r\n0123456789abcdefghij"), "{response}");
    }
}

#[test]
fn ranges_get_206_unsatisfiable_ones_416_and_if_range_is_honoured() {
    let site = Site::new("ranges");
    let server = Server::start(&["--root", &site.root()]);
    let cases = [
        ("bytes=0-3", "0123", "bytes 0-3/20"),
        ("bytes=15-", "fghij", "bytes 15-19/20"),
        ("bytes=-2", "ij", "bytes 18-19/20"),
    ];
    for (range, body, content_range) in cases {
        let response = get(&server, "/notes.txt", &format!("Range: {range}\r\n"));
        assert_eq!(status(&response), "206", "{range}");
        assert_eq!(header(&response, "Content-Range"), Some(content_range));
        assert!(
            response.ends_with(&format!("\r\n\r\n{body}")),
            "{range}: {response}"
        );
    }
    let unsatisfiable = get(&server, "/notes.txt", "Range: bytes=20-\r\n");
    assert_eq!(status(&unsatisfiable), "416");
    assert_eq!(header(&unsatisfiable, "Content-Range"), Some("bytes */20"));
    assert_eq!(
        status(&get(&server, "/notes.txt", "Range: bytes=0-1,4-5\r\n")),
        "200",
        "multiple ranges: whole file"
    );
    let etag = header(&get(&server, "/notes.txt", ""), "ETag")
        .unwrap()
        .to_string();
    assert_eq!(
        status(&get(
            &server,
            "/notes.txt",
            &format!("Range: bytes=0-1\r\nIf-Range: {etag}\r\n")
        )),
        "206"
    );
    assert_eq!(
        status(&get(
            &server,
            "/notes.txt",
            "Range: bytes=0-1\r\nIf-Range: \"old\"\r\n"
        )),
        "200"
    );
}

/// RFC 9110 §14.1: the range unit is case-insensitive; §5.6.1: empty list
/// elements are tolerated, so each of these asks for one range.
#[test]
fn the_range_unit_ignores_case_and_empty_list_elements_are_tolerated() {
    let site = Site::new("range-syntax");
    let server = Server::start(&["--root", &site.root()]);
    for range in ["BYTES=0-1", "Bytes=0-1", "bytes=0-1,", "bytes=, 0-1"] {
        let response = get(&server, "/notes.txt", &format!("Range: {range}\r\n"));
        assert_eq!(status(&response), "206", "{range}: {response}");
        assert_eq!(header(&response, "Content-Range"), Some("bytes 0-1/20"));
        assert!(response.ends_with("\r\n\r\n01"), "{range}: {response}");
    }
}

#[test]
fn metrics_stay_reachable_and_shadow_a_file_named_metrics() {
    let site = Site::new("metrics");
    let server = Server::start(&["--root", &site.root()]);
    let response = get(&server, "/metrics", "");
    assert!(
        response.contains("reactord_connections_accepted_total"),
        "{response}"
    );
}

#[test]
fn a_large_file_downloads_intact_and_head_sends_no_body() {
    if !require_tool("curl", "curl") || !require_tool("sha256sum", "coreutils") {
        return;
    }
    let site = Site::with_big_file("big");
    let server = Server::start(&["--root", &site.root()]);
    let target = site.dir.join("downloaded.bin").display().to_string();
    let url = format!("http://{}/big.bin", server.addr);
    let (status, out) = run_tool(
        "curl",
        &["-sS", "-o", &target, &url],
        Duration::from_secs(60),
    );
    assert!(status.success(), "{out}");
    let sums = |path: &str| {
        run_tool("sha256sum", &[path], Duration::from_secs(30))
            .1
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(sums(&target), sums(&format!("{}/big.bin", site.root())));

    // HEAD: the GET's length, and not one byte of body before the close.
    let head = raw(
        &server,
        "HEAD /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(
        head.contains(&format!("Content-Length: {BIG}\r\n")),
        "{head}"
    );
    assert!(head.ends_with("\r\n\r\n"), "{head}");
    assert_eq!(head.matches("\r\n\r\n").count(), 1, "{head}");
}

#[test]
fn twenty_clients_stalled_in_a_64_mib_file_keep_memory_bounded_and_files_are_closed() {
    let site = Site::with_big_file("stall");
    // Without the open-file cache, each download holds its own descriptor
    // and closes it with its connection (with the cache, all twenty share
    // one, which the cache keeps: tests/file_cache.rs).
    let server = Server::start(&[
        "--root",
        &site.root(),
        "--log-level",
        "trace",
        "--file-cache-entries",
        "0",
    ]);
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
            .unwrap()
            .count()
    };
    let baseline = fds();
    let mut stalled: Vec<TcpStream> = Vec::new();
    for _ in 0..20 {
        let mut client = server.connect();
        client
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut some = vec![0u8; 256 * 1024];
        client.read_exact(&mut some).unwrap();
        stalled.push(client);
    }
    // Every download is streaming: it has filled its socket or spent a
    // whole turn's write budget (the two ways into Writing), so a server
    // that held files in memory would show it now.
    for client in &stalled {
        let key = server.connection_key(client);
        let streaming = format!("conn {key}: Reading -> Writing (");
        assert!(
            server.wait_for_log(&streaming, IO_TIMEOUT),
            "no `{streaming}`"
        );
    }
    let rss = server.rss_kib();
    assert!(rss < 128 * 1024, "RSS {rss} KiB with 20 stalled downloads");
    assert_eq!(
        fds(),
        baseline + 40,
        "one socket and one open file per stalled client"
    );
    drop(stalled);
    assert!(
        wait_until(IO_TIMEOUT, || fds() == baseline),
        "files and sockets closed with their connections: {} open, {baseline} before",
        fds()
    );
}
