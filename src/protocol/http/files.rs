//! Static files under --root: safe path resolution, content types,
//! conditional requests (304), single ranges (206/416), and bodies streamed
//! from the file as the socket accepts them (sendfile on Linux).
//!
//! # Safety of paths
//!
//! The request path is percent-decoded once, then split on `/`. Any
//! segment that is empty (a doubled slash), `.` or `..`, starts with a dot
//! (hidden files), or contains a backslash or NUL is refused, as is an
//! encoded slash (`%2f`), which would otherwise smuggle a separator past the
//! split. What survives is joined under the root and canonicalised; if the
//! result (following symlinks) is not inside the canonical root, it is
//! refused too. Refusals answer 404, like a missing file, and are logged at
//! debug.

use super::request::Conditions;
use super::response::{self, Head, Persistence};
use super::route;
use crate::protocol::{Body, Output};
use log::debug;
use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// The file tree served under --root.
#[derive(Debug)]
pub struct StaticFiles {
    root: PathBuf,
    autoindex: bool,
}

/// What a request path resolved to.
#[derive(Debug)]
enum Resolved {
    File(PathBuf),
    /// A directory asked for without its trailing slash.
    Redirect,
    /// A directory without index.html, listed (--autoindex).
    Listing(PathBuf),
    NotFound,
}

/// A response, ready to be written: status, headers and body.
pub struct Reply {
    /// The status code.
    pub status: u16,
    content_type: String,
    extra: String,
    body: ReplyBody,
}

enum ReplyBody {
    Text(String),
    File(FileBody),
    /// No body, and no length to announce: a 304.
    Nothing,
}

impl StaticFiles {
    /// Serve `root`, which must exist and be a directory.
    pub fn new(root: &Path, autoindex: bool) -> io::Result<StaticFiles> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(StaticFiles { root, autoindex })
    }

    /// Answer `GET`/`HEAD` of `target` (as sent: origin- or absolute-form).
    pub fn reply(&self, target: &str, conditions: &Conditions<'_>) -> Reply {
        let path = route::path_of(target);
        match self.resolve(path) {
            Resolved::NotFound => text_reply(404, "404 Not Found\n"),
            Resolved::Redirect => {
                let mut reply = text_reply(301, "301 Moved Permanently\n");
                reply.extra = redirect_location(path, route::query_of(target));
                reply
            }
            Resolved::Listing(dir) => match listing(&dir, path) {
                Ok(html) => Reply {
                    status: 200,
                    content_type: "text/html; charset=utf-8".into(),
                    extra: String::new(),
                    body: ReplyBody::Text(html),
                },
                Err(err) => {
                    debug!("listing {}: {err}", dir.display());
                    text_reply(404, "404 Not Found\n")
                }
            },
            Resolved::File(file) => match file_reply(&file, conditions) {
                Ok(reply) => reply,
                Err(err) => {
                    debug!("open {}: {err}", file.display());
                    text_reply(404, "404 Not Found\n")
                }
            },
        }
    }

    fn resolve(&self, path: &str) -> Resolved {
        let Some(relative) = safe_relative_path(path) else {
            debug!("refused path {path:?}");
            return Resolved::NotFound;
        };
        let candidate = self.root.join(&relative);
        let Ok(real) = candidate.canonicalize() else {
            return Resolved::NotFound;
        };
        if !real.starts_with(&self.root) {
            debug!(
                "refused {path:?}: resolves outside the root to {}",
                real.display()
            );
            return Resolved::NotFound;
        }
        if !real.is_dir() {
            return if path.ends_with('/') {
                Resolved::NotFound
            } else {
                Resolved::File(real)
            };
        }
        if !path.ends_with('/') {
            return Resolved::Redirect;
        }
        let index = real.join("index.html");
        if index.is_file() {
            Resolved::File(index)
        } else if self.autoindex {
            Resolved::Listing(real)
        } else {
            Resolved::NotFound
        }
    }
}

impl Reply {
    /// Write the reply; returns the status and the body length sent.
    pub fn write(
        self,
        head_only: bool,
        persistence: Persistence,
        date: &[u8],
        out: &mut Output,
    ) -> (u16, u64) {
        let length = match &self.body {
            ReplyBody::Text(text) => text.len() as u64,
            ReplyBody::File(file) => file.remaining,
            ReplyBody::Nothing => 0,
        };
        let head = Head {
            status: self.status,
            content_type: (!self.content_type.is_empty()).then_some(self.content_type.as_str()),
            content_length: length,
            persistence,
            extra: &self.extra,
        };
        response::write_head(out.bytes_mut(), &head, date);
        if head_only || !response::has_body(self.status) {
            return (self.status, 0);
        }
        match self.body {
            ReplyBody::Text(text) => out.extend(text.as_bytes()),
            ReplyBody::File(file) if file.remaining > 0 => out.stream(Box::new(file)),
            ReplyBody::File(_) | ReplyBody::Nothing => {}
        }
        (self.status, length)
    }
}

/// The `Location` header that adds the slash a directory's path lacks. The
/// query goes along (`/sub?q=1` → `/sub/?q=1`): it is part of what the
/// client asked for, and dropping it would change the request (RFC 9110
/// §10.2.2 makes Location a URI reference, query included).
fn redirect_location(path: &str, query: Option<&str>) -> String {
    match query {
        Some(query) => format!("Location: {path}/?{query}\r\n"),
        None => format!("Location: {path}/\r\n"),
    }
}

fn text_reply(status: u16, text: &str) -> Reply {
    Reply {
        status,
        content_type: "text/plain; charset=utf-8".into(),
        extra: String::new(),
        body: ReplyBody::Text(text.into()),
    }
}

/// Percent-decode once, then keep only plain segments (see module docs).
fn safe_relative_path(path: &str) -> Option<PathBuf> {
    let rest = path.strip_prefix('/')?;
    let mut relative = PathBuf::new();
    let segments: Vec<&str> = rest.split('/').collect();
    for (i, raw) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if raw.is_empty() && last {
            break; // the trailing slash of a directory
        }
        let decoded = percent_encoding::percent_decode_str(raw).collect::<Vec<u8>>();
        let segment = String::from_utf8(decoded).ok()?;
        let bad =
            segment.is_empty() || segment.starts_with('.') || segment.contains(['/', '\\', '\0']);
        if bad {
            return None;
        }
        relative.push(segment);
    }
    Some(relative)
}

/// 200, 206, 304 or 416 for a regular file.
fn file_reply(path: &Path, conditions: &Conditions<'_>) -> io::Result<Reply> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let size = meta.len();
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    let mtime = modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let etag = format!("\"{mtime:x}-{size:x}\"");
    let last_modified = httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(mtime));
    let mut extra =
        format!("Last-Modified: {last_modified}\r\nETag: {etag}\r\nAccept-Ranges: bytes\r\n");

    if not_modified(conditions, &etag, mtime) {
        return Ok(Reply {
            status: 304,
            content_type: String::new(),
            extra,
            body: ReplyBody::Nothing,
        });
    }
    let content_type = content_type(path);
    let range_applies = match conditions.if_range {
        None => true,
        Some(value) => value == etag.as_bytes() || value == last_modified.as_bytes(),
    };
    let range = conditions
        .range
        .filter(|_| range_applies)
        .map(|r| parse_range(r, size));
    let (status, offset, length) = match range {
        Some(ByteRange::Unsatisfiable) => {
            let _ = write!(extra, "Content-Range: bytes */{size}\r\n");
            let mut reply = text_reply(416, "416 Range Not Satisfiable\n");
            reply.extra = extra;
            return Ok(reply);
        }
        Some(ByteRange::Within(start, end)) => {
            let _ = write!(extra, "Content-Range: bytes {start}-{end}/{size}\r\n");
            (206, start, end - start + 1)
        }
        Some(ByteRange::Whole) | None => (200, 0, size),
    };
    Ok(Reply {
        status,
        content_type,
        extra,
        body: ReplyBody::File(FileBody {
            file,
            offset,
            remaining: length,
        }),
    })
}

/// If-None-Match wins over If-Modified-Since when both are present.
fn not_modified(conditions: &Conditions<'_>, etag: &str, mtime: u64) -> bool {
    if let Some(list) = conditions.if_none_match {
        return list.split(|&b| b == b',').any(|tag| {
            let tag = tag.trim_ascii();
            let tag = tag.strip_prefix(b"W/").unwrap_or(tag);
            tag == b"*" || tag == etag.as_bytes()
        });
    }
    let since = conditions
        .if_modified_since
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    since.is_some_and(|since| UNIX_EPOCH + std::time::Duration::from_secs(mtime) <= since)
}

fn content_type(path: &Path) -> String {
    match mime_guess::from_path(path).first() {
        Some(mime) if mime.type_() == mime_guess::mime::TEXT => format!("{mime}; charset=utf-8"),
        Some(mime) if mime.essence_str() == "application/javascript" => {
            format!("{mime}; charset=utf-8")
        }
        Some(mime) => mime.to_string(),
        None => "application/octet-stream".into(),
    }
}

/// A `Range` header's meaning for a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum ByteRange {
    /// Inclusive byte positions.
    Within(u64, u64),
    /// Nothing of the file matches: 416.
    Unsatisfiable,
    /// Several ranges or a header we don't understand: send the whole file
    /// (RFC 9110 §14.2 allows ignoring Range).
    Whole,
}

/// Parse `Range: bytes=...` (RFC 9110 §14.1.1). The unit is matched
/// without regard to case (§14.1), and empty list elements are skipped
/// (§5.6.1: `bytes=0-1,` and `bytes=, 0-1` are one range). More than one
/// range is answered with the whole file: multipart/byteranges is not
/// implemented, and §14.2 lets a server ignore Range.
fn parse_range(value: &[u8], size: u64) -> ByteRange {
    let Some((unit, set)) = std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.split_once('='))
    else {
        return ByteRange::Whole;
    };
    if !unit.eq_ignore_ascii_case("bytes") {
        return ByteRange::Whole;
    }
    let mut specs = set
        .split(',')
        .map(|spec| spec.trim_matches([' ', '\t']))
        .filter(|spec| !spec.is_empty());
    match (specs.next(), specs.next()) {
        (Some(spec), None) => parse_range_spec(spec, size),
        _ => ByteRange::Whole,
    }
}

/// One range-spec: `a-b`, `a-` or `-n`.
fn parse_range_spec(spec: &str, size: u64) -> ByteRange {
    let Some((first, last)) = spec.split_once('-') else {
        return ByteRange::Whole;
    };
    let parse = |s: &str| {
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u64>().ok()
        } else {
            None
        }
    };
    match (first.is_empty(), last.is_empty()) {
        // -n: the last n bytes.
        (true, false) => match parse(last) {
            Some(0) => ByteRange::Unsatisfiable,
            Some(n) if size > 0 => ByteRange::Within(size - n.min(size), size - 1),
            Some(_) => ByteRange::Unsatisfiable,
            None => ByteRange::Whole,
        },
        // a-: from a to the end.
        (false, true) => match parse(first) {
            Some(a) if a < size => ByteRange::Within(a, size - 1),
            Some(_) => ByteRange::Unsatisfiable,
            None => ByteRange::Whole,
        },
        // a-b.
        (false, false) => match (parse(first), parse(last)) {
            (Some(a), Some(b)) if a > b => ByteRange::Whole,
            (Some(a), Some(_)) if a >= size => ByteRange::Unsatisfiable,
            (Some(a), Some(b)) => ByteRange::Within(a, b.min(size - 1)),
            _ => ByteRange::Whole,
        },
        (true, true) => ByteRange::Whole,
    }
}

/// A plain HTML listing of a directory; names are escaped and links
/// percent-encoded. Hidden entries are left out.
fn listing(dir: &Path, path: &str) -> io::Result<String> {
    let mut names: Vec<(String, bool)> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let is_dir = entry.file_type().ok()?.is_dir();
            (!name.starts_with('.')).then_some((name, is_dir))
        })
        .collect();
    names.sort();
    let title = escape_html(path);
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n<body><h1>Index of {title}</h1>\n<ul>\n<li><a href=\"../\">../</a></li>\n"
    );
    for (name, is_dir) in names {
        let slash = if is_dir { "/" } else { "" };
        let href = percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC);
        let _ = writeln!(
            html,
            "<li><a href=\"{href}{slash}\">{}{slash}</a></li>",
            escape_html(&name)
        );
    }
    html.push_str("</ul></body></html>\n");
    Ok(html)
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A region of an open file, sent as the socket accepts it. The file is
/// closed when this is dropped, which happens when the body is finished or
/// its connection closes, however it closes.
pub struct FileBody {
    file: File,
    offset: u64,
    remaining: u64,
}

impl Body for FileBody {
    fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Buffered path: one bounded `pread` per call, so a read never blocks
    /// the loop for more than one chunk (see architecture.md §12).
    fn read_chunk(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self
            .file
            .read_at(buf.get_mut(..want).unwrap_or_default(), self.offset)?;
        self.advance(n as u64);
        Ok(n)
    }

    fn file_region(&self) -> Option<(RawFd, u64)> {
        Some((self.file.as_raw_fd(), self.offset))
    }

    fn advance(&mut self, n: u64) {
        self.offset += n;
        self.remaining = self.remaining.saturating_sub(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A root holding `notes.txt` (20 bytes) and `sub/index.html`, removed
    /// when dropped.
    struct Tree(PathBuf);

    impl Tree {
        fn new(name: &str) -> Tree {
            let dir = std::env::temp_dir()
                .join(format!("reactord-files-unit-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("sub")).unwrap();
            std::fs::write(dir.join("notes.txt"), "0123456789abcdefghij").unwrap();
            std::fs::write(dir.join("sub/index.html"), "<p>sub</p>\n").unwrap();
            Tree(dir)
        }

        fn files(&self) -> StaticFiles {
            StaticFiles::new(&self.0, false).unwrap()
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Everything a reply puts in the output buffer, and whether it also
    /// attached a streamed body.
    fn written(reply: Reply, head_only: bool) -> (String, bool) {
        let mut out = Output::default();
        reply.write(head_only, Persistence::KeepAlive, b"DATE", &mut out);
        let text = String::from_utf8(out.bytes_mut().clone()).unwrap();
        (text, out.has_body())
    }

    /// The ETag `reply` gives `notes.txt`.
    fn etag_of_notes(files: &StaticFiles) -> String {
        let (text, _) = written(files.reply("/notes.txt", &Conditions::default()), true);
        text.lines()
            .find_map(|l| l.strip_prefix("ETag: "))
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_directory_redirect_keeps_the_query() {
        let tree = Tree::new("redirect");
        let files = tree.files();
        for (target, location) in [
            ("/sub", "Location: /sub/\r\n"),
            ("/sub?q=1&r=%20", "Location: /sub/?q=1&r=%20\r\n"),
            ("http://host/sub?q=1", "Location: /sub/?q=1\r\n"),
        ] {
            let reply = files.reply(target, &Conditions::default());
            assert_eq!(reply.status, 301, "{target}");
            assert_eq!(reply.extra, location, "{target}");
        }
    }

    #[test]
    fn a_304_has_neither_content_length_nor_body() {
        let tree = Tree::new("304");
        let files = tree.files();
        let etag = etag_of_notes(&files);
        let conditions = Conditions {
            if_none_match: Some(etag.as_bytes()),
            ..Conditions::default()
        };
        let reply = files.reply("/notes.txt", &conditions);
        assert_eq!(reply.status, 304);
        let (text, streamed) = written(reply, false);
        assert!(!text.contains("Content-Length"), "{text}");
        assert!(text.ends_with("\r\n\r\n") && !streamed, "{text}");
    }

    #[test]
    fn traversal_and_hidden_paths_are_refused() {
        for bad in [
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/x",
            "/a%2f..%2fb",
            "/a\\..\\b",
            "/a%00b",
            "//etc/passwd",
            "/a//b",
            "/.hidden",
            "/a/./b",
            "relative",
            "/%ff",
        ] {
            assert_eq!(safe_relative_path(bad), None, "{bad}");
        }
        assert_eq!(
            safe_relative_path("/a/b%20c.txt"),
            Some(PathBuf::from("a/b c.txt"))
        );
        assert_eq!(safe_relative_path("/dir/"), Some(PathBuf::from("dir")));
        assert_eq!(safe_relative_path("/"), Some(PathBuf::new()));
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range(b"bytes=0-9", 100), ByteRange::Within(0, 9));
        assert_eq!(parse_range(b"bytes=90-200", 100), ByteRange::Within(90, 99));
        assert_eq!(parse_range(b"bytes=95-", 100), ByteRange::Within(95, 99));
        assert_eq!(parse_range(b"bytes=-10", 100), ByteRange::Within(90, 99));
        assert_eq!(parse_range(b"bytes=-1000", 100), ByteRange::Within(0, 99));
        assert_eq!(parse_range(b"bytes=100-", 100), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-0", 100), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=0-1,5-6", 100), ByteRange::Whole);
        assert_eq!(parse_range(b"items=0-1", 100), ByteRange::Whole);
        assert_eq!(parse_range(b"bytes=5-1", 100), ByteRange::Whole);
        assert_eq!(parse_range(b"bytes=", 100), ByteRange::Whole);
        assert_eq!(parse_range(b"bytes=,", 100), ByteRange::Whole);
        assert_eq!(parse_range(b"bytes 0-1", 100), ByteRange::Whole);
    }

    #[test]
    fn the_range_unit_ignores_case_and_empty_list_elements_are_skipped() {
        for value in [
            "BYTES=0-1",
            "Bytes=0-1",
            "bytes=0-1,",
            "bytes=, 0-1",
            "bytes=,,0-1 ,\t,",
        ] {
            assert_eq!(
                parse_range(value.as_bytes(), 100),
                ByteRange::Within(0, 1),
                "{value}"
            );
        }
        assert_eq!(parse_range(b"BYTES=0-1, 5-6", 100), ByteRange::Whole);
    }

    #[test]
    fn if_none_match_wins_over_if_modified_since() {
        let stale = Conditions {
            if_none_match: Some(b"\"other\""),
            if_modified_since: Some(b"Sun, 06 Nov 2094 08:49:37 GMT"),
            ..Conditions::default()
        };
        assert!(!not_modified(&stale, "\"abc\"", 0));
        let fresh = Conditions {
            if_none_match: Some(b"\"x\", W/\"abc\""),
            ..Conditions::default()
        };
        assert!(not_modified(&fresh, "\"abc\"", 0));
        let by_date = Conditions {
            if_modified_since: Some(b"Sun, 06 Nov 1994 08:49:37 GMT"),
            ..Conditions::default()
        };
        assert!(not_modified(&by_date, "\"abc\"", 784_111_777));
        assert!(!not_modified(&by_date, "\"abc\"", 784_111_778));
    }

    #[test]
    fn names_in_a_listing_are_escaped() {
        assert_eq!(
            escape_html("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
    }
}
