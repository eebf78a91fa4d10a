//! --root with the open-file cache and openat2 path resolution, against the
//! real binary: symlinks of every kind, and a cached file changed, deleted
//! or replaced by a symlink leading out of the root while it is cached.
//!
//! Every wait is on the event itself (a response that changed, a /metrics
//! value), polled with a generous deadline: the cache revalidates at most
//! once a second, so a healthy server gets there in about a second and a
//! slow machine only takes longer, never fails.

mod util;

use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::time::Duration;
use util::{IO_TIMEOUT, Server, read_to_end, wait_until};

/// How long a change on disk may take to show: far more than the one
/// second the cache promises, so that only a broken cache fails.
const CHANGE_SHOWS_WITHIN: Duration = Duration::from_secs(20);

/// A root with files and links, and `outside/secret.txt` next to it.
struct Site {
    dir: PathBuf,
}

impl Site {
    fn new(name: &str) -> Site {
        let dir =
            std::env::temp_dir().join(format!("reactord-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(dir.join("outside")).unwrap();
        std::fs::write(dir.join("outside/secret.txt"), "SECRET outside the root\n").unwrap();
        std::fs::write(root.join("page.txt"), "version one\n").unwrap();
        std::fs::write(root.join("sub/inner.txt"), "inner\n").unwrap();
        std::fs::write(root.join("big.bin"), vec![b'x'; 16 << 20]).unwrap();
        // Links that lead out: relative, absolute, through a directory.
        symlink("../outside/secret.txt", root.join("rel-out")).unwrap();
        symlink("../../outside/secret.txt", root.join("sub/rel-out")).unwrap();
        symlink(dir.join("outside/secret.txt"), root.join("abs-out")).unwrap();
        symlink("../outside", root.join("dir-out")).unwrap();
        symlink("/proc/self/root/etc/hostname", root.join("magic")).unwrap();
        // Links that stay inside: relative, absolute, up and back in.
        symlink("sub/inner.txt", root.join("rel-in")).unwrap();
        symlink(root.join("sub/inner.txt"), root.join("abs-in")).unwrap();
        symlink("../sub/inner.txt", root.join("sub/up-and-in")).unwrap();
        symlink("sub", root.join("dir-in")).unwrap();
        Site { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    fn root_arg(&self) -> String {
        self.root().display().to_string()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn get(server: &Server, path: &str, headers: &str) -> String {
    let mut stream = server.connect();
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    String::from_utf8_lossy(&read_to_end(&mut stream).unwrap()).into_owned()
}

fn status(response: &str) -> &str {
    response.get(9..12).unwrap_or("")
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

/// Links that stay inside the root are followed, whatever their form
/// (relative, absolute, up and back in, a directory); links that lead out
/// are 404, whatever their form; `..` never gets out either. Asked twice,
/// so that the second answer comes from the cache where there is one.
#[test]
fn symlinks_inside_are_followed_and_symlinks_out_are_refused() {
    let site = Site::new("links");
    for cache in ["1000", "0"] {
        let server = Server::start(&["--root", &site.root_arg(), "--file-cache-entries", cache]);
        for _ in 0..2 {
            for path in ["/rel-in", "/abs-in", "/sub/up-and-in", "/dir-in/inner.txt"] {
                let response = get(&server, path, "");
                assert_eq!(
                    status(&response),
                    "200",
                    "{path} (cache {cache}): {response}"
                );
                assert_eq!(body(&response), "inner\n", "{path}");
            }
            for path in [
                "/rel-out",
                "/sub/rel-out",
                "/abs-out",
                "/dir-out/secret.txt",
                "/magic",
                "/../outside/secret.txt",
                "/sub/../../outside/secret.txt",
                "/%2e%2e/outside/secret.txt",
                "/dir-in/../../outside/secret.txt",
            ] {
                let response = get(&server, path, "");
                assert_eq!(
                    status(&response),
                    "404",
                    "{path} (cache {cache}): {response}"
                );
                assert!(!response.contains("SECRET"), "{path}");
            }
        }
    }
}

/// A cached file is answered from the cache (/metrics counts the hit),
/// with its validators, 304s and ranges as from the disk.
#[test]
fn cached_files_keep_validators_304_and_ranges() {
    let site = Site::new("hits");
    let server = Server::start(&["--root", &site.root_arg()]);
    let first = get(&server, "/page.txt", "");
    assert_eq!(status(&first), "200", "{first}");
    let etag = header(&first, "ETag").unwrap().to_string();
    let hits = server.metric("reactord_file_cache_hits_total");
    let second = get(&server, "/page.txt", "");
    assert_eq!(first, second, "the same answer from the cache");
    assert!(server.metric("reactord_file_cache_hits_total") > hits);
    assert_eq!(server.metric("reactord_file_cache_entries"), 1.0);
    assert_eq!(server.metric("reactord_file_cache_bytes"), 12.0);
    assert!(server.metric("reactord_file_cache_misses_total") >= 1.0);

    let not_modified = get(&server, "/page.txt", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(status(&not_modified), "304", "{not_modified}");
    assert_eq!(header(&not_modified, "ETag"), Some(etag.as_str()));
    assert!(header(&not_modified, "Content-Length").is_none());
    let failed = get(&server, "/page.txt", "If-Match: \"other\"\r\n");
    assert_eq!(status(&failed), "412", "{failed}");
    // A range of a small file (from memory) and of a larger one (sendfile).
    let part = get(&server, "/page.txt", "Range: bytes=8-10\r\n");
    assert_eq!(status(&part), "206", "{part}");
    assert_eq!(body(&part), "one");
    assert_eq!(header(&part, "Content-Range"), Some("bytes 8-10/12"));
    for _ in 0..2 {
        let part = get(&server, "/big.bin", "Range: bytes=16777206-\r\n");
        assert_eq!(status(&part), "206", "{part}");
        assert_eq!(body(&part), "xxxxxxxxxx");
        let whole = get(&server, "/big.bin", "");
        assert_eq!(body(&whole).len(), 16 << 20);
    }
    let head = {
        let mut stream = server.connect();
        stream
            .write_all(b"HEAD /page.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&read_to_end(&mut stream).unwrap()).into_owned()
    };
    assert!(
        head.ends_with("\r\n\r\n") && head.contains("Content-Length: 12\r\n"),
        "{head}"
    );
}

/// Poll `path` until `done` holds for a response, asserting `allowed` of
/// every response on the way; the last response.
fn poll(
    server: &Server,
    path: &str,
    allowed: impl Fn(&str) -> bool,
    done: impl Fn(&str) -> bool,
) -> String {
    let mut last = String::new();
    let finished = wait_until(CHANGE_SHOWS_WITHIN, || {
        last = get(server, path, "");
        assert!(allowed(&last), "unexpected answer for {path}: {last}");
        done(&last)
    });
    assert!(finished, "{path} never changed: {last}");
    last
}

#[test]
fn a_cached_file_changed_on_disk_is_served_fresh() {
    let site = Site::new("changed");
    let server = Server::start(&["--root", &site.root_arg()]);
    assert_eq!(body(&get(&server, "/page.txt", "")), "version one\n");
    // Rewritten in place (same inode), longer, then replaced by rename.
    // The rewrite truncates first: a request that lands in between may see
    // any prefix of the new text, never anything else.
    std::fs::write(site.root().join("page.txt"), "version two, longer\n").unwrap();
    let fresh = poll(
        &server,
        "/page.txt",
        |r| body(r) == "version one\n" || "version two, longer\n".starts_with(body(r)),
        |r| body(r) == "version two, longer\n",
    );
    assert_eq!(header(&fresh, "Content-Length"), Some("20"));
    let staged = site.dir.join("staged.txt");
    std::fs::write(&staged, "version three\n").unwrap();
    std::fs::rename(&staged, site.root().join("page.txt")).unwrap();
    poll(
        &server,
        "/page.txt",
        |r| matches!(body(r), "version two, longer\n" | "version three\n"),
        |r| body(r) == "version three\n",
    );
    assert!(server.metric("reactord_file_cache_revalidations_total") >= 2.0);
}

#[test]
fn a_cached_file_deleted_on_disk_becomes_a_404() {
    let site = Site::new("deleted");
    let server = Server::start(&["--root", &site.root_arg()]);
    assert_eq!(status(&get(&server, "/page.txt", "")), "200");
    std::fs::remove_file(site.root().join("page.txt")).unwrap();
    poll(
        &server,
        "/page.txt",
        |r| matches!(status(r), "200" | "404"),
        |r| status(r) == "404",
    );
    // The entry is gone, not just answered around.
    let entries = server.wait_for_metric("reactord_file_cache_entries", IO_TIMEOUT, |v| v == 0.0);
    assert_eq!(entries, 0.0);
}

#[test]
fn a_cached_file_replaced_by_a_symlink_out_of_the_root_is_refused() {
    let site = Site::new("swapped");
    let server = Server::start(&["--root", &site.root_arg()]);
    for (name, target) in [
        ("page.txt", PathBuf::from("../outside/secret.txt")),
        ("sub/inner.txt", site.dir.join("outside/secret.txt")),
    ] {
        let path = format!("/{name}");
        assert_eq!(status(&get(&server, &path, "")), "200", "{path}");
        let file = site.root().join(name);
        let staged = site.dir.join("staged-link");
        symlink(&target, &staged).unwrap();
        std::fs::rename(&staged, &file).unwrap();
        poll(
            &server,
            &path,
            |r| status(r) == "200" && !r.contains("SECRET") || status(r) == "404",
            |r| status(r) == "404",
        );
    }
}

/// Twenty downloads of one large cached file share the cache's one
/// descriptor, which stays open after they finish (the cache holds it).
#[test]
fn downloads_of_a_cached_file_share_one_descriptor() {
    let site = Site::new("shared");
    let server = Server::start(&["--root", &site.root_arg()]);
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
            .unwrap()
            .count()
    };
    let baseline = fds();
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut client = server.connect();
        client
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut some = [0u8; 1000];
        client.read_exact(&mut some).unwrap();
        clients.push(client);
    }
    assert_eq!(fds(), baseline + 20 + 1, "twenty sockets, one file");
    drop(clients);
    assert!(
        wait_until(IO_TIMEOUT, || fds() == baseline + 1),
        "{} open, {baseline} before",
        fds()
    );
}

/// The cache keys on the file a path names, in one spelling (issue 21: it
/// keyed on the path as sent): `/sub/` and `/sub/index.html`, `//` and
/// percent-encoded aliases all share one entry, so the first is the only
/// miss and the others are hits.
#[test]
fn every_spelling_of_a_path_shares_one_cache_entry() {
    let site = Site::new("spellings");
    std::fs::write(site.root().join("sub/index.html"), "<p>sub</p>\n").unwrap();
    let server = Server::start(&["--root", &site.root_arg()]);
    let spellings = [
        ("/sub/inner.txt", "inner\n"),
        ("//sub//inner.txt", "inner\n"),
        ("/%73ub/%69nner.txt", "inner\n"),
        ("http://t/sub/inner.txt", "inner\n"),
        ("/sub/", "<p>sub</p>\n"),
        ("/sub/index.html", "<p>sub</p>\n"),
        ("/sub//", "<p>sub</p>\n"),
        ("/%73ub/index.html?x=1", "<p>sub</p>\n"),
    ];
    for (path, expected) in spellings {
        let response = get(&server, path, "");
        assert_eq!(status(&response), "200", "{path}: {response}");
        assert_eq!(body(&response), expected, "{path}");
    }
    // Two files, two entries; everything after each first request a hit.
    // (Within the second an entry is trusted, so no revalidation can
    // interfere unless the machine stalls for a second between requests:
    // then a revalidation replaces a hit, and the miss count still holds.)
    assert_eq!(server.metric("reactord_file_cache_entries"), 2.0);
    assert_eq!(server.metric("reactord_file_cache_misses_total"), 2.0);
    let hits = server.metric("reactord_file_cache_hits_total");
    let revalidations = server.metric("reactord_file_cache_revalidations_total");
    assert_eq!(hits + revalidations, spellings.len() as f64 - 2.0);
}
