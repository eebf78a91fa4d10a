//! Static files under --root: safe path resolution, content types,
//! preconditions (412, 304) evaluated in the order of RFC 9110 §13.2.2,
//! single ranges (206/416), and bodies from memory (small cached files) or
//! streamed from the file as the socket accepts them (sendfile on Linux).
//!
//! # Safety of paths
//!
//! The request path is percent-decoded once, then split on `/`. Any
//! segment that is empty (a doubled slash), `.` or `..`, starts with a dot
//! (hidden files), or contains a backslash or NUL is refused, as is an
//! encoded slash (`%2f`), which would otherwise smuggle a separator past the
//! split. What survives is opened beneath the root (`beneath.rs`: openat2
//! with `RESOLVE_BENEATH` on Linux, canonicalize-and-compare elsewhere), so
//! that a symlink leading out of the root is refused too. Refusals answer
//! 404, like a missing file, and are logged at debug.
//!
//! Files found are kept open in the open-file cache (`file_cache.rs`),
//! which is looked at before any of this and revalidated once a second.

use super::beneath::Root;
use super::file_cache::{CachedFile, FileCache, FileCacheLimits, Lookup};
use super::request::Conditions;
use super::response::{self, Head, Persistence};
use super::route;
use crate::protocol::{FileBacked, FileRegion, Output, StreamedBody};
use log::debug;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Instant, UNIX_EPOCH};

/// The file tree served under --root.
#[derive(Debug)]
pub struct StaticFiles {
    root: Root,
    autoindex: bool,
    cache: FileCache,
}

/// What a request path resolved to.
#[derive(Debug)]
enum Resolved {
    /// A regular file, open, with its metadata and the path it was found
    /// at (relative to the root; its name gives the content type).
    File(File, Metadata, PathBuf),
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
    content_type: ContentType,
    extra: Extra,
    body: ReplyBody,
}

/// The Content-Type value, if any.
enum ContentType {
    /// None: a 304.
    None,
    Static(&'static str),
    /// A cached file's.
    Cached(Rc<CachedFile>),
}

/// Header lines besides the framing ones.
enum Extra {
    None,
    Owned(String),
    /// The first `n` bytes of a cached file's header lines.
    Cached(Rc<CachedFile>, usize),
}

enum ReplyBody {
    Text(Cow<'static, str>),
    /// Bytes `offset..offset + length` of a small file held in memory.
    Memory(Rc<CachedFile>, usize, usize),
    File(FileBody),
    /// No body, and no length to announce: a 304.
    Nothing,
}

impl StaticFiles {
    /// Serve `root`, which must exist and be a directory, with an open-file
    /// cache bounded by `limits`.
    pub fn new(root: &Path, autoindex: bool, limits: FileCacheLimits) -> io::Result<StaticFiles> {
        Ok(StaticFiles {
            root: Root::open(root)?,
            autoindex,
            cache: FileCache::new(limits),
        })
    }

    /// Answer `GET`/`HEAD` of `target` (as sent: origin- or absolute-form)
    /// at `now` (which decides whether a cached entry is still fresh).
    pub fn reply(&mut self, target: &str, conditions: &Conditions<'_>, now: Instant) -> Reply {
        let path = route::path_of(target);
        let revalidating = match self.cache.lookup(path, now) {
            Lookup::Fresh(entry) => return file_reply(entry, conditions),
            Lookup::Resolve { revalidating } => revalidating,
        };
        let resolved = self.resolve(path);
        if revalidating && !matches!(resolved, Resolved::File(..)) {
            debug!("{path:?} is no longer a file beneath the root: dropped from the cache");
            self.cache.forget(path);
        }
        match resolved {
            Resolved::NotFound => text_reply(404, "404 Not Found\n"),
            Resolved::Redirect => {
                let mut reply = text_reply(301, "301 Moved Permanently\n");
                reply.extra = Extra::Owned(redirect_location(path, route::query_of(target)));
                reply
            }
            Resolved::Listing(dir) => match listing(&dir, path) {
                // A listing has no validators: only `*` can match it.
                Ok(html) => {
                    precondition_reply(conditions, &Validators::NONE, None).unwrap_or(Reply {
                        status: 200,
                        content_type: ContentType::Static("text/html; charset=utf-8"),
                        extra: Extra::None,
                        body: ReplyBody::Text(Cow::Owned(html)),
                    })
                }
                Err(err) => {
                    debug!("listing {}: {err}", dir.display());
                    text_reply(404, "404 Not Found\n")
                }
            },
            Resolved::File(file, meta, relative) => {
                let entry = self.cache.store(path, file, &meta, &relative, now);
                file_reply(entry, conditions)
            }
        }
    }

    /// Append the open-file cache's metrics (Prometheus text format).
    pub fn write_prometheus(&self, counters: &[u64], out: &mut Vec<u8>) {
        self.cache.write_prometheus(counters, out);
    }

    /// The open-file cache's counters, to share with the other workers.
    pub fn cache_counters(&self) -> [u64; FileCache::COUNTERS] {
        self.cache.counter_values()
    }

    fn resolve(&self, path: &str) -> Resolved {
        let Some(relative) = safe_relative_path(path) else {
            debug!("refused path {path:?}");
            return Resolved::NotFound;
        };
        let (file, meta) = match self.open(&relative) {
            Ok(opened) => opened,
            Err(err) => {
                debug!("open {path:?}: {err}");
                return Resolved::NotFound;
            }
        };
        if meta.is_file() {
            return if path.ends_with('/') {
                Resolved::NotFound
            } else {
                Resolved::File(file, meta, relative)
            };
        }
        if !meta.is_dir() {
            debug!("refused {path:?}: not a regular file");
            return Resolved::NotFound;
        }
        if !path.ends_with('/') {
            return Resolved::Redirect;
        }
        let index = relative.join("index.html");
        match self.open(&index) {
            Ok((file, meta)) if meta.is_file() => Resolved::File(file, meta, index),
            _ if self.autoindex => Resolved::Listing(self.root.canonical().join(relative)),
            _ => Resolved::NotFound,
        }
    }

    /// Open `relative` beneath the root and stat what was opened: two
    /// system calls on Linux (openat2, statx).
    fn open(&self, relative: &Path) -> io::Result<(File, Metadata)> {
        let file = self.root.open_beneath(relative)?;
        let meta = file.metadata()?;
        Ok((file, meta))
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
            ReplyBody::Memory(_, _, length) => *length as u64,
            ReplyBody::File(file) => file.remaining,
            ReplyBody::Nothing => 0,
        };
        let extra = match &self.extra {
            Extra::None => "",
            Extra::Owned(text) => text,
            Extra::Cached(entry, n) => entry.header_lines.get(..*n).unwrap_or_default(),
        };
        let head = Head {
            status: self.status,
            content_type: match &self.content_type {
                ContentType::None => None,
                ContentType::Static(text) => Some(text),
                ContentType::Cached(entry) => Some(&entry.content_type),
            },
            content_length: length,
            persistence,
            extra,
        };
        response::write_head(out.bytes_mut(), &head, date);
        if !response::sends_body(self.status, head_only) {
            return (self.status, 0);
        }
        match self.body {
            ReplyBody::Text(text) => out.extend(text.as_bytes()),
            // Head and body in one buffer: one send for the whole response.
            ReplyBody::Memory(entry, offset, length) => {
                let contents = entry.contents.as_deref().unwrap_or_default();
                out.extend(contents.get(offset..offset + length).unwrap_or_default());
            }
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

fn text_reply(status: u16, text: &'static str) -> Reply {
    Reply {
        status,
        content_type: ContentType::Static("text/plain; charset=utf-8"),
        extra: Extra::None,
        body: ReplyBody::Text(Cow::Borrowed(text)),
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

/// 200, 206, 304, 412 or 416 for a regular file, from its cache entry.
fn file_reply(entry: Rc<CachedFile>, conditions: &Conditions<'_>) -> Reply {
    let size = entry.size;
    let validators = Validators {
        etag: Some(&entry.etag),
        modified: Some(entry.mtime),
    };
    if let Some(reply) = precondition_reply(conditions, &validators, Some(&entry)) {
        return reply;
    }
    // Only now, with every precondition passed, does Range count (RFC 9110
    // §13.2.2 step 5): If-Range decides whether it applies.
    let range_applies = match conditions.if_range {
        None => true,
        Some(value) => value == entry.etag.as_bytes() || value == entry.last_modified.as_bytes(),
    };
    let range = conditions
        .range
        .filter(|_| range_applies)
        .map(|r| parse_range(r, size));
    let (status, offset, length, extra) = match range {
        Some(ByteRange::Unsatisfiable) => {
            let mut extra = entry.header_lines.to_string();
            let _ = write!(extra, "Content-Range: bytes */{size}\r\n");
            let mut reply = text_reply(416, "416 Range Not Satisfiable\n");
            reply.extra = Extra::Owned(extra);
            return reply;
        }
        Some(ByteRange::Within(start, end)) => {
            let mut extra = entry.header_lines.to_string();
            let _ = write!(extra, "Content-Range: bytes {start}-{end}/{size}\r\n");
            (206, start, end - start + 1, Extra::Owned(extra))
        }
        Some(ByteRange::Whole) | None => {
            let all = entry.header_lines.len();
            (200, 0, size, Extra::Cached(Rc::clone(&entry), all))
        }
    };
    let body = match (
        &entry.contents,
        usize::try_from(offset),
        usize::try_from(length),
    ) {
        (Some(_), Ok(offset), Ok(length)) => ReplyBody::Memory(Rc::clone(&entry), offset, length),
        _ => ReplyBody::File(FileBody {
            entry: Rc::clone(&entry),
            offset,
            remaining: length,
        }),
    };
    Reply {
        status,
        content_type: ContentType::Cached(entry),
        extra,
        body,
    }
}

/// What a resource offers for preconditions to compare against (RFC 9110
/// §8.8): a file has both, a directory listing neither.
struct Validators<'a> {
    /// The entity tag, quotes included; always strong here.
    etag: Option<&'a str>,
    /// The modification time in whole seconds since the epoch: the
    /// precision of Last-Modified, so that a date the client copied from it
    /// compares equal.
    modified: Option<u64>,
}

impl Validators<'_> {
    const NONE: Validators<'static> = Validators {
        etag: None,
        modified: None,
    };
}

/// The outcome of a request's preconditions.
#[derive(Debug, PartialEq, Eq)]
enum Precondition {
    /// Every precondition sent holds: go on to Range and the 200 or 206.
    Passed,
    /// 304 Not Modified: the client's copy is current.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// The 304 or 412 the preconditions call for, if any; `extra` is the
/// validator headers a 304 repeats (RFC 9110 §15.4.5: ETag, and
/// Last-Modified, which caches use to update what they hold; nothing that
/// describes a body, as nginx).
fn precondition_reply(
    conditions: &Conditions<'_>,
    validators: &Validators<'_>,
    file: Option<&Rc<CachedFile>>,
) -> Option<Reply> {
    match evaluate(conditions, validators) {
        Precondition::Passed => None,
        Precondition::NotModified => Some(Reply {
            status: 304,
            content_type: ContentType::None,
            extra: match file {
                Some(entry) => Extra::Cached(Rc::clone(entry), entry.validator_lines),
                None => Extra::None,
            },
            body: ReplyBody::Nothing,
        }),
        Precondition::Failed => Some(text_reply(412, "412 Precondition Failed\n")),
    }
}

/// Evaluate the preconditions in the order of RFC 9110 §13.2.2, for a
/// GET or HEAD of a resource that exists (a 404 or 301 never gets here:
/// §13.2.1 says preconditions only apply to what would otherwise be a 2xx).
///
/// 1. If-Match (§13.1.1), strong comparison: false → 412.
/// 2. Without If-Match, If-Unmodified-Since (§13.1.4): false → 412.
/// 3. If-None-Match (§13.1.2), weak comparison: false → 304 (GET, HEAD).
/// 4. Without If-None-Match, If-Modified-Since (§13.1.3): false → 304.
///
/// A date that doesn't parse is ignored (§13.1.3, §13.1.4), as is a date
/// condition on a resource without a modification time.
fn evaluate(conditions: &Conditions<'_>, validators: &Validators<'_>) -> Precondition {
    if let Some(list) = conditions.if_match {
        let matches = if list.trim_ascii() == b"*" {
            true // the resource exists
        } else {
            validators.etag.is_some_and(|etag| {
                entity_tags(list).any(|tag| !tag.weak && tag.opaque == etag.as_bytes())
            })
        };
        if !matches {
            return Precondition::Failed;
        }
    } else if let (Some(since), Some(modified)) = (
        conditions.if_unmodified_since.and_then(http_date),
        validators.modified,
    ) && modified > since
    {
        return Precondition::Failed;
    }
    if let Some(list) = conditions.if_none_match {
        let matches = if list.trim_ascii() == b"*" {
            true
        } else {
            validators
                .etag
                .is_some_and(|etag| entity_tags(list).any(|tag| tag.opaque == etag.as_bytes()))
        };
        if matches {
            return Precondition::NotModified;
        }
    } else if let (Some(since), Some(modified)) = (
        conditions.if_modified_since.and_then(http_date),
        validators.modified,
    ) && modified <= since
    {
        return Precondition::NotModified;
    }
    Precondition::Passed
}

/// An HTTP-date (any of the three forms of RFC 9110 §5.6.7) in seconds
/// since the epoch; `None` if it isn't one.
fn http_date(value: &[u8]) -> Option<u64> {
    let date = httpdate::parse_http_date(std::str::from_utf8(value).ok()?).ok()?;
    date.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// One entity tag of a list (RFC 9110 §8.8.3).
#[derive(Debug, PartialEq, Eq)]
struct EntityTag<'a> {
    /// `W/` in front: only a weak comparison can match it.
    weak: bool,
    /// The opaque tag, quotes included.
    opaque: &'a [u8],
}

/// The entity tags of an If-Match or If-None-Match list, in order. Empty
/// list elements are skipped (RFC 9110 §5.6.1); the list ends at the first
/// element that isn't an entity tag, since a quoted tag may hold a comma
/// and nothing after a malformed one can be split reliably.
fn entity_tags(list: &[u8]) -> impl Iterator<Item = EntityTag<'_>> {
    let mut rest = list;
    std::iter::from_fn(move || {
        let start = rest
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b','))?;
        let element = rest.get(start..)?;
        let (weak, quoted) = match element.strip_prefix(b"W/") {
            Some(quoted) => (true, quoted),
            None => (false, element),
        };
        let after_quote = quoted.strip_prefix(b"\"")?;
        let length = after_quote.iter().position(|&b| b == b'"')? + 2;
        let opaque = quoted.get(..length)?;
        let after = quoted.get(length..)?.trim_ascii();
        if !(after.is_empty() || after.starts_with(b",")) {
            return None;
        }
        rest = after;
        Some(EntityTag { weak, opaque })
    })
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

/// Directory entries read for one `--autoindex` listing, at most.
const MAX_LISTED: usize = 1000;

/// A plain HTML listing of a directory; names are escaped and links
/// percent-encoded. Hidden entries are left out.
fn listing(dir: &Path, path: &str) -> io::Result<String> {
    // Bounded: reading a directory is a blocking call on the loop thread,
    // and a listing is built whole in memory. Past the bound the listing
    // says it was cut (architecture.md §12).
    let mut entries = std::fs::read_dir(dir)?.filter_map(Result::ok);
    let mut names: Vec<(String, bool)> = entries
        .by_ref()
        .take(MAX_LISTED)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let is_dir = entry.file_type().ok()?.is_dir();
            (!name.starts_with('.')).then_some((name, is_dir))
        })
        .collect();
    let cut = entries.next().is_some();
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
    if cut {
        let _ = writeln!(
            html,
            "<li>(only the first {MAX_LISTED} entries are listed)</li>"
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

/// A region of an open file, sent as the socket accepts it. The file stays
/// open while this holds its cache entry, which it drops when the body is
/// finished or its connection closes, however it closes; the file is closed
/// when the cache has let go of the entry too.
pub struct FileBody {
    entry: Rc<CachedFile>,
    offset: u64,
    remaining: u64,
}

impl StreamedBody for FileBody {
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
            .entry
            .file
            .read_at(buf.get_mut(..want).unwrap_or_default(), self.offset)?;
        self.advance(n as u64);
        Ok(n)
    }

    fn file_backed(&mut self) -> Option<&mut dyn FileBacked> {
        Some(self)
    }
}

impl FileBacked for FileBody {
    fn file_region(&self) -> FileRegion<'_> {
        FileRegion {
            file: self.entry.file.as_fd(),
            offset: self.offset,
        }
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
            StaticFiles::new(&self.0, false, FileCacheLimits::default()).unwrap()
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    impl StaticFiles {
        fn reply_now(&mut self, target: &str, conditions: &Conditions<'_>) -> Reply {
            self.reply(target, conditions, Instant::now())
        }
    }

    /// Everything a reply puts in the output buffer, and whether it also
    /// attached a streamed body.
    fn written(reply: Reply, head_only: bool) -> (String, bool) {
        let mut out = Output::default();
        reply.write(head_only, Persistence::KeepAlive, b"DATE", &mut out);
        let text = String::from_utf8(out.as_bytes().to_vec()).unwrap();
        (text, out.has_body())
    }

    /// The ETag `reply` gives `notes.txt`.
    fn etag_of_notes(files: &mut StaticFiles) -> String {
        let (text, _) = written(files.reply_now("/notes.txt", &Conditions::default()), true);
        text.lines()
            .find_map(|l| l.strip_prefix("ETag: "))
            .unwrap()
            .to_string()
    }

    /// A small file's body goes into the output buffer after its head (one
    /// send for both); a file over --file-cache-small-bytes is streamed.
    #[test]
    fn small_files_go_out_with_their_head_and_larger_ones_are_streamed() {
        let tree = Tree::new("small");
        let mut files = tree.files();
        let (text, streamed) =
            written(files.reply_now("/notes.txt", &Conditions::default()), false);
        assert!(
            text.ends_with("\r\n\r\n0123456789abcdefghij") && !streamed,
            "{text}"
        );
        let limits = FileCacheLimits {
            small_file_bytes: 19,
            ..FileCacheLimits::default()
        };
        let mut files = StaticFiles::new(&tree.0, false, limits).unwrap();
        let (text, streamed) =
            written(files.reply_now("/notes.txt", &Conditions::default()), false);
        assert!(text.ends_with("\r\n\r\n") && streamed, "{text}");
    }

    #[test]
    fn a_directory_redirect_keeps_the_query() {
        let tree = Tree::new("redirect");
        let mut files = tree.files();
        for (target, location) in [
            ("/sub", "Location: /sub/\r\n"),
            ("/sub?q=1&r=%20", "Location: /sub/?q=1&r=%20\r\n"),
            ("http://host/sub?q=1", "Location: /sub/?q=1\r\n"),
        ] {
            let reply = files.reply_now(target, &Conditions::default());
            assert_eq!(reply.status, 301, "{target}");
            assert!(
                matches!(&reply.extra, Extra::Owned(l) if l == location),
                "{target}"
            );
        }
    }

    #[test]
    fn a_304_has_neither_content_length_nor_body() {
        let tree = Tree::new("304");
        let mut files = tree.files();
        let etag = etag_of_notes(&mut files);
        let conditions = Conditions {
            if_none_match: Some(etag.as_bytes()),
            ..Conditions::default()
        };
        let reply = files.reply_now("/notes.txt", &conditions);
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

    /// A file's validators: ETag `"abc"`, modified at 1994-11-06 08:49:37.
    const FILE: Validators<'static> = Validators {
        etag: Some("\"abc\""),
        modified: Some(784_111_777),
    };
    const BEFORE: &[u8] = b"Sun, 06 Nov 1994 08:49:36 GMT";
    const AT: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn outcome(headers: &[(&str, &[u8])], validators: &Validators<'_>) -> Precondition {
        let mut conditions = Conditions::default();
        for &(name, value) in headers {
            let field = match name {
                "If-Match" => &mut conditions.if_match,
                "If-Unmodified-Since" => &mut conditions.if_unmodified_since,
                "If-None-Match" => &mut conditions.if_none_match,
                "If-Modified-Since" => &mut conditions.if_modified_since,
                other => panic!("{other}"),
            };
            *field = Some(value);
        }
        evaluate(&conditions, validators)
    }

    #[test]
    fn if_match_compares_strongly_and_star_matches_what_exists() {
        use Precondition::{Failed, Passed};
        for (value, expected) in [
            (&b"\"abc\""[..], Passed),
            (b"\"x\", \"abc\"", Passed),
            (b", ,\"abc\",", Passed),
            (b"*", Passed),
            (b"W/\"abc\"", Failed),
            (b"\"x\"", Failed),
            (b"\"abc", Failed),
            (b"abc", Failed),
            (b"\"x\"junk, \"abc\"", Failed),
            (b"", Failed),
        ] {
            let shown = String::from_utf8_lossy(value);
            assert_eq!(outcome(&[("If-Match", value)], &FILE), expected, "{shown}");
        }
        // A listing has no ETag: only `*` matches it.
        assert_eq!(outcome(&[("If-Match", b"*")], &Validators::NONE), Passed);
        assert_eq!(
            outcome(&[("If-Match", b"\"abc\"")], &Validators::NONE),
            Failed
        );
    }

    #[test]
    fn if_unmodified_since_fails_for_a_newer_file_and_ignores_bad_dates() {
        use Precondition::{Failed, Passed};
        assert_eq!(outcome(&[("If-Unmodified-Since", AT)], &FILE), Passed);
        assert_eq!(outcome(&[("If-Unmodified-Since", BEFORE)], &FILE), Failed);
        assert_eq!(
            outcome(&[("If-Unmodified-Since", b"yesterday")], &FILE),
            Passed
        );
        let no_date = Validators::NONE;
        assert_eq!(
            outcome(&[("If-Unmodified-Since", BEFORE)], &no_date),
            Passed
        );
        // Only without If-Match (§13.1.4): a matching If-Match wins.
        let both = [
            ("If-Match", &b"\"abc\""[..]),
            ("If-Unmodified-Since", BEFORE),
        ];
        assert_eq!(outcome(&both, &FILE), Passed);
    }

    #[test]
    fn if_none_match_compares_weakly_and_wins_over_if_modified_since() {
        use Precondition::{NotModified, Passed};
        for (value, expected) in [
            (&b"\"abc\""[..], NotModified),
            (b"W/\"abc\"", NotModified),
            (b"\"x\", W/\"abc\"", NotModified),
            (b"*", NotModified),
            (b"\"x\"", Passed),
            (b"\"a,bc\", \"abc\"", NotModified),
        ] {
            let shown = String::from_utf8_lossy(value);
            assert_eq!(
                outcome(&[("If-None-Match", value)], &FILE),
                expected,
                "{shown}"
            );
        }
        let stale_tag_fresh_date = [("If-None-Match", &b"\"x\""[..]), ("If-Modified-Since", AT)];
        assert_eq!(outcome(&stale_tag_fresh_date, &FILE), Passed);
        assert_eq!(outcome(&[("If-Modified-Since", AT)], &FILE), NotModified);
        assert_eq!(outcome(&[("If-Modified-Since", BEFORE)], &FILE), Passed);
        assert_eq!(outcome(&[("If-Modified-Since", b"soon")], &FILE), Passed);
    }

    #[test]
    fn preconditions_are_evaluated_in_the_order_of_rfc_9110_13_2_2() {
        use Precondition::{Failed, NotModified};
        // A failed If-Match is a 412 even when If-None-Match would be a 304.
        let both = [("If-Match", &b"\"x\""[..]), ("If-None-Match", b"\"abc\"")];
        assert_eq!(outcome(&both, &FILE), Failed);
        // A failed If-Unmodified-Since likewise wins over If-Modified-Since.
        let dates = [("If-Unmodified-Since", BEFORE), ("If-Modified-Since", AT)];
        assert_eq!(outcome(&dates, &FILE), Failed);
        // Passed If-Match, then a matching If-None-Match: 304.
        let both = [("If-Match", &b"\"abc\""[..]), ("If-None-Match", b"\"abc\"")];
        assert_eq!(outcome(&both, &FILE), NotModified);
    }

    #[test]
    fn a_failed_precondition_is_a_412_with_a_short_body_except_for_head() {
        let tree = Tree::new("412");
        let mut files = tree.files();
        let conditions = Conditions {
            if_match: Some(b"\"other\""),
            ..Conditions::default()
        };
        let reply = files.reply_now("/notes.txt", &conditions);
        assert_eq!(reply.status, 412);
        let (text, streamed) = written(reply, false);
        assert!(
            text.starts_with("HTTP/1.1 412 Precondition Failed\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n412 Precondition Failed\n") && !streamed);
        let (head, streamed) = written(files.reply_now("/notes.txt", &conditions), true);
        assert!(head.ends_with("\r\n\r\n") && !streamed, "{head}");
        // Preconditions only apply to what would be a 2xx: a 404 stays one.
        assert_eq!(files.reply_now("/missing.txt", &conditions).status, 404);
        let etag = etag_of_notes(&mut files);
        let matching = Conditions {
            if_match: Some(etag.as_bytes()),
            ..Conditions::default()
        };
        assert_eq!(files.reply_now("/notes.txt", &matching).status, 200);
    }

    #[test]
    fn a_listing_reads_a_bounded_number_of_entries_and_says_it_was_cut() {
        let dir = std::env::temp_dir().join(format!("reactord-listing-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..MAX_LISTED + 5 {
            std::fs::write(dir.join(format!("f{i}")), "").unwrap();
        }
        let html = listing(&dir, "/big/").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // Every entry's link plus the parent's.
        assert_eq!(html.matches("<li><a href=").count(), MAX_LISTED + 1);
        assert!(html.contains("only the first 1000 entries are listed"));
    }

    #[test]
    fn names_in_a_listing_are_escaped() {
        assert_eq!(
            escape_html("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
    }
}
