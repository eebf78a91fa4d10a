//! Static files under --root: safe path resolution, the reply for what a
//! path leads to (a file, a redirect, a listing, a 404), and bodies from
//! memory (small cached files) or streamed from the file as the socket
//! accepts them (sendfile on Linux). What the conditional headers decide
//! is in `preconditions` (304, 412) and `ranges` (206, 416), listings are
//! in `listing`: separate RFC topics, as nginx's not-modified and range
//! filters are separate.
//!
//! # Safety of paths
//!
//! The request path is decoded into one spelling, and what may not be
//! asked for (`..`, hidden names but `/.well-known/` without --dotfiles,
//! an encoded slash) is refused, in `paths`. What survives is opened
//! beneath the root (`beneath.rs`: openat2 with `RESOLVE_BENEATH` on
//! Linux, canonicalize-and-compare elsewhere), so that a symlink leading
//! out of the root is refused too. Refusals answer 404, like a missing
//! file, and are logged at debug.
//!
//! Files found are kept open in the open-file cache (`file_cache.rs`),
//! keyed by that one spelling (so `/` and `/index.html` share an entry),
//! looked at before any open and revalidated once a second.

use super::beneath::Root;
use super::file_cache::{CachedFile, FileCache, FileCacheLimits, Lookup};
use super::listing::listing;
use super::paths::{self, DotFiles, INDEX};
use super::preconditions::{Precondition, Validators, evaluate};
use super::ranges::{ByteRange, parse_range};
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
use std::time::Instant;

/// The file tree served under --root.
#[derive(Debug)]
pub struct StaticFiles {
    tree: Tree,
    /// --dotfiles: whether names starting with a dot are served.
    dots: DotFiles,
    cache: FileCache,
    /// Where the open-file cache key of a request is spelled out when its
    /// path isn't its own key (see `paths::cache_key`); kept to reuse its
    /// allocation.
    key: String,
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
    /// cache bounded by `limits`; names starting with a dot only under
    /// `/.well-known/` unless `dotfiles`.
    pub fn new(
        root: &Path,
        autoindex: bool,
        dotfiles: bool,
        limits: FileCacheLimits,
    ) -> io::Result<StaticFiles> {
        Ok(StaticFiles {
            tree: Tree {
                root: Root::open(root)?,
                autoindex,
            },
            dots: if dotfiles {
                DotFiles::Served
            } else {
                DotFiles::WellKnownOnly
            },
            cache: FileCache::new(limits),
            key: String::new(),
        })
    }

    /// Answer `GET`/`HEAD` of `target` (as sent: origin- or absolute-form)
    /// at `now` (which decides whether a cached entry is still fresh).
    pub fn reply(&mut self, target: &str, conditions: &Conditions<'_>, now: Instant) -> Reply {
        let path = route::path_of(target);
        let Some(spelled) = paths::cache_key(path, self.dots, &mut self.key) else {
            debug!("refused path {path:?}");
            return text_reply(404, "404 Not Found\n");
        };
        let (key, relative, directory) = (spelled.key, spelled.relative(), spelled.directory);
        let revalidating = match self.cache.lookup(key, now) {
            Lookup::Fresh(entry) => return file_reply(entry, conditions),
            Lookup::Resolve { revalidating } => revalidating,
        };
        let resolved = self.tree.resolve(relative, directory);
        if revalidating && !matches!(resolved, Resolved::File(..)) {
            debug!("{path:?} is no longer a file beneath the root: dropped from the cache");
            self.cache.forget(key);
        }
        match resolved {
            Resolved::NotFound => text_reply(404, "404 Not Found\n"),
            Resolved::Redirect => {
                let mut reply = text_reply(301, "301 Moved Permanently\n");
                let path = paths::merge_slashes(path);
                reply.extra = Extra::Owned(redirect_location(&path, route::query_of(target)));
                reply
            }
            Resolved::Listing(dir) => match listing(&dir, path, self.dots, relative.is_empty()) {
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
                let entry = self.cache.store(key, file, &meta, &relative, now);
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
}

/// The directory served, and whether its directories are listed.
#[derive(Debug)]
struct Tree {
    root: Root,
    autoindex: bool,
}

impl Tree {
    /// What `relative` (decoded by `paths`; `directory` if the request
    /// path ended in `/`) leads to beneath the root.
    fn resolve(&self, relative: &str, directory: bool) -> Resolved {
        let relative = Path::new(relative);
        let (file, meta) = match self.open(relative) {
            Ok(opened) => opened,
            Err(err) => {
                debug!("open {relative:?}: {err}");
                return Resolved::NotFound;
            }
        };
        if meta.is_file() {
            return if directory {
                Resolved::NotFound
            } else {
                Resolved::File(file, meta, relative.to_path_buf())
            };
        }
        if !meta.is_dir() {
            debug!("refused {relative:?}: not a regular file");
            return Resolved::NotFound;
        }
        if !directory {
            return Resolved::Redirect;
        }
        let index = relative.join(INDEX);
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
            StaticFiles::new(&self.0, false, false, FileCacheLimits::default()).unwrap()
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
        let mut files = StaticFiles::new(&tree.0, false, false, limits).unwrap();
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
}
