//! The open-file cache: recently served files, kept open, with their
//! metadata, their validators and header lines rendered once, and, for
//! small files, their contents.
//!
//! A hit costs no system call: the head is copied from the entry, and the
//! body either from memory (a small file: head and body then leave in one
//! send) or with sendfile from the descriptor the entry keeps open. Without
//! the cache each request cost an open, a stat and a close (and, before
//! openat2, three readlinks).
//!
//! # Freshness
//!
//! An entry is trusted for [`REVALIDATE_AFTER`] at most. The first request
//! after that resolves the path again beneath the root (openat2 and a
//! stat: the same walk as a miss, so a file replaced by a symlink leading
//! out of the root is refused exactly as a new request for it would be)
//! and compares what it finds with the entry: same file, same size, same
//! modification and change times, and the entry is kept (its new
//! descriptor is closed); anything else, and the entry is replaced, or
//! removed if the path no longer leads to a regular file. So a change on
//! disk is served within a second (nginx's `open_file_cache_valid` does the
//! same, every 60 s by default).
//!
//! # Bounds
//!
//! At most `entries` entries (least recently used out first), and file
//! contents held only for files of at most `small_file_bytes`, up to
//! `total_bytes` for all of them together; a small file that doesn't fit is
//! cached like a large one (descriptor only). Entries hold descriptors, so
//! `entries` also bounds the descriptors the cache keeps open.

use super::response;
use lru::LruCache;
use std::fs::{File, Metadata};
use std::io::Write as _;
use std::num::NonZeroUsize;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant, UNIX_EPOCH};

/// How long an entry is served without looking at the disk again.
pub(super) const REVALIDATE_AFTER: Duration = Duration::from_secs(1);

/// An entry not asked for in this long is closed, as nginx's
/// `open_file_cache ... inactive=60s` does: a deleted file's disk space is
/// freed and idle descriptors don't pile up (see `FileCache::lookup`).
pub(super) const INACTIVE_AFTER: Duration = Duration::from_secs(60);

/// The cache's bounds (the --file-cache-* flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileCacheLimits {
    /// Most entries (open files) kept; 0 turns the cache off.
    pub entries: usize,
    /// Files of at most this many bytes are held in memory.
    pub small_file_bytes: u64,
    /// Most bytes of file contents held in memory, all entries together.
    pub total_bytes: u64,
}

impl Default for FileCacheLimits {
    fn default() -> FileCacheLimits {
        FileCacheLimits {
            entries: 1000,
            small_file_bytes: 16 * 1024,
            total_bytes: 16 * 1024 * 1024,
        }
    }
}

/// What identifies a file's version on disk: if none of this changed, the
/// entry still describes the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Version {
    fn of(meta: &Metadata) -> Version {
        Version {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// One open regular file, ready to be served.
#[derive(Debug)]
pub(super) struct CachedFile {
    /// The open file: what sendfile sends from.
    pub(super) file: File,
    /// Its size in bytes.
    pub(super) size: u64,
    /// Its modification time, whole seconds since the epoch.
    pub(super) mtime: u64,
    /// `"mtime-size"` in hex, quotes included.
    pub(super) etag: Box<str>,
    /// The Last-Modified value (an IMF-fixdate).
    pub(super) last_modified: Box<str>,
    /// The Content-Type value.
    pub(super) content_type: Box<str>,
    /// `Last-Modified`, `ETag` and `Accept-Ranges` header lines, in that
    /// order; a 304 repeats the first [`CachedFile::validator_lines`]
    /// bytes of them.
    pub(super) header_lines: Box<str>,
    /// Length of the `Last-Modified` and `ETag` lines in `header_lines`.
    pub(super) validator_lines: usize,
    /// The whole file, when it is small (see the module docs).
    pub(super) contents: Option<Box<[u8]>>,
    version: Version,
    /// When the disk was last looked at for this entry.
    checked: std::cell::Cell<Instant>,
}

impl CachedFile {
    /// Describe `file` (whose metadata is `meta`, a regular file found at
    /// `path`), reading it whole if it is at most `small_bytes` long.
    pub(super) fn new(
        file: File,
        meta: &Metadata,
        path: &Path,
        small_bytes: u64,
        now: Instant,
    ) -> CachedFile {
        let size = meta.len();
        let mtime = meta
            .modified()
            .unwrap_or(UNIX_EPOCH)
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let etag = format!("\"{mtime:x}-{size:x}\"");
        // Formatted like the Date header, clamped to year 9999: a file
        // stamped later must not panic the formatter (httpdate's does).
        let last_modified = response::imf_fixdate(mtime);
        let last_modified = std::str::from_utf8(&last_modified).unwrap_or("");
        let mut lines = Vec::with_capacity(96);
        let _ = write!(lines, "Last-Modified: {last_modified}\r\nETag: {etag}\r\n");
        let validator_lines = lines.len();
        lines.extend_from_slice(b"Accept-Ranges: bytes\r\n");
        let contents = (size <= small_bytes)
            .then(|| read_whole(&file, size))
            .flatten();
        CachedFile {
            size,
            mtime,
            etag: etag.into(),
            last_modified: last_modified.into(),
            content_type: content_type(path).into(),
            header_lines: String::from_utf8_lossy(&lines).into(),
            validator_lines,
            contents,
            version: Version::of(meta),
            checked: std::cell::Cell::new(now),
            file,
        }
    }

    /// Bytes of contents held in memory.
    fn memory(&self) -> u64 {
        self.contents.as_ref().map_or(0, |c| c.len() as u64)
    }

    /// The same entry, without its contents (they didn't fit the total).
    fn without_contents(self) -> CachedFile {
        CachedFile {
            contents: None,
            ..self
        }
    }
}

/// The whole file, if it reads back at exactly `size` bytes (a file
/// changing under us is then served from its descriptor instead).
fn read_whole(file: &File, size: u64) -> Option<Box<[u8]>> {
    let mut contents = vec![0; usize::try_from(size).ok()?];
    file.read_exact_at(&mut contents, 0).ok()?;
    Some(contents.into_boxed_slice())
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

/// What [`FileCache::lookup`] found.
pub(super) enum Lookup {
    /// A fresh entry: serve it.
    Fresh(Rc<CachedFile>),
    /// Nothing, or an entry due for revalidation: resolve the path, then
    /// [`FileCache::store`] what it leads to (or [`FileCache::forget`] it).
    Resolve {
        /// An entry was there, to compare the file found with.
        revalidating: bool,
    },
}

/// The cache itself. See the module docs.
#[derive(Debug)]
pub(super) struct FileCache {
    /// None when the cache is off (`entries` 0).
    entries: Option<LruCache<Box<str>, Rc<CachedFile>>>,
    limits: FileCacheLimits,
    /// Bytes of contents held by the entries in the cache.
    memory: u64,
    hits: u64,
    misses: u64,
    revalidations: u64,
}

impl FileCache {
    pub(super) fn new(limits: FileCacheLimits) -> FileCache {
        FileCache {
            entries: NonZeroUsize::new(limits.entries).map(LruCache::new),
            limits,
            memory: 0,
            hits: 0,
            misses: 0,
            revalidations: 0,
        }
    }

    /// Look `key` (a request path in its one spelling, `paths::cache_key`:
    /// every alias of a file is one key) up at `now`. A hit moves the entry to
    /// the front of the LRU order.
    pub(super) fn lookup(&mut self, key: &str, now: Instant) -> Lookup {
        let Some(entries) = &mut self.entries else {
            self.misses += 1;
            return Lookup::Resolve {
                revalidating: false,
            };
        };
        // Close the least recently used entry if nobody asked for it in a
        // minute: one check per lookup, so inactive entries go while there
        // is traffic, without a timer or a scan. (An entry in use is
        // revalidated every second, so `checked` is within a second of its
        // last use.)
        if entries.peek_lru().is_some_and(|(_, oldest)| {
            now.saturating_duration_since(oldest.checked.get()) >= INACTIVE_AFTER
        }) && let Some((_, gone)) = entries.pop_lru()
        {
            self.memory = self.memory.saturating_sub(gone.memory());
        }
        match entries.get(key) {
            Some(entry)
                if now.saturating_duration_since(entry.checked.get()) < REVALIDATE_AFTER =>
            {
                self.hits += 1;
                Lookup::Fresh(Rc::clone(entry))
            }
            Some(_) => {
                self.revalidations += 1;
                Lookup::Resolve { revalidating: true }
            }
            None => {
                self.misses += 1;
                Lookup::Resolve {
                    revalidating: false,
                }
            }
        }
    }

    /// The path `key` now leads to the regular file `file` (metadata
    /// `meta`, found at `path`): keep the cached entry if it still
    /// describes that file, else replace it. Returns the entry to serve.
    pub(super) fn store(
        &mut self,
        key: &str,
        file: File,
        meta: &Metadata,
        path: &Path,
        now: Instant,
    ) -> Rc<CachedFile> {
        if let Some(entries) = &mut self.entries
            && let Some(entry) = entries.get(key)
            && entry.version == Version::of(meta)
        {
            entry.checked.set(now);
            return Rc::clone(entry);
        }
        self.forget(key);
        let mut entry = CachedFile::new(file, meta, path, self.limits.small_file_bytes, now);
        let Some(entries) = &mut self.entries else {
            return Rc::new(entry);
        };
        if self.memory + entry.memory() > self.limits.total_bytes {
            entry = entry.without_contents();
        }
        self.memory += entry.memory();
        let entry = Rc::new(entry);
        if let Some((_, evicted)) = entries.push(key.into(), Rc::clone(&entry)) {
            self.memory = self.memory.saturating_sub(evicted.memory());
        }
        entry
    }

    /// The path `key` no longer leads to a regular file: drop its entry.
    pub(super) fn forget(&mut self, key: &str) {
        if let Some(entries) = &mut self.entries
            && let Some(entry) = entries.pop(key)
        {
            self.memory = self.memory.saturating_sub(entry.memory());
        }
    }

    /// How many values `counter_values` gives.
    pub(super) const COUNTERS: usize = 3;

    /// Hits, misses and revalidations, to share with the other workers.
    /// (The gauges, entries and bytes, describe this process's own cache:
    /// each worker has one.)
    pub(super) fn counter_values(&self) -> [u64; Self::COUNTERS] {
        [self.hits, self.misses, self.revalidations]
    }

    /// Append the cache's metrics in the Prometheus text format: its own
    /// gauges, and the counters from `counters` (`counter_values`' order;
    /// with workers, every worker's added up).
    pub(super) fn write_prometheus(&self, counters: &[u64], out: &mut Vec<u8>) {
        let mut counters = counters.iter().copied();
        let mut next = || counters.next().unwrap_or(0);
        let (hits, misses, revalidations) = (next(), next(), next());
        let entries = self.entries.as_ref().map_or(0, LruCache::len);
        for (name, kind, help, value) in [
            (
                "reactord_file_cache_entries",
                "gauge",
                "Files held open by the open-file cache (of the worker answering, with --workers).",
                entries as u64,
            ),
            (
                "reactord_file_cache_bytes",
                "gauge",
                "Bytes of small files' contents held in memory by the open-file cache (of the worker answering).",
                self.memory,
            ),
            (
                "reactord_file_cache_hits_total",
                "counter",
                "Static-file requests answered from a fresh cache entry.",
                hits,
            ),
            (
                "reactord_file_cache_misses_total",
                "counter",
                "Static-file requests whose path was not in the cache.",
                misses,
            ),
            (
                "reactord_file_cache_revalidations_total",
                "counter",
                "Cache entries checked against the disk again (at most once a second each).",
                revalidations,
            ),
        ] {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, contents: &[u8]) -> (std::path::PathBuf, File, Metadata) {
        let path =
            std::env::temp_dir().join(format!("reactord-cache-{name}-{}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        let file = File::open(&path).unwrap();
        let meta = file.metadata().unwrap();
        (path, file, meta)
    }

    #[test]
    fn entries_are_bounded_and_the_least_recently_used_goes_first() {
        let limits = FileCacheLimits {
            entries: 2,
            small_file_bytes: 4,
            total_bytes: 100,
        };
        let mut cache = FileCache::new(limits);
        let now = Instant::now();
        let (path, _, meta) = temp_file("lru", b"abcd");
        for key in ["/a", "/b"] {
            cache.store(key, File::open(&path).unwrap(), &meta, &path, now);
        }
        assert!(matches!(cache.lookup("/a", now), Lookup::Fresh(_)));
        cache.store("/c", File::open(&path).unwrap(), &meta, &path, now);
        assert!(matches!(cache.lookup("/b", now), Lookup::Resolve { .. }));
        assert!(matches!(cache.lookup("/a", now), Lookup::Fresh(_)));
        assert_eq!(cache.memory, 8, "two small files of 4 bytes");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn contents_are_held_within_the_total_only() {
        let limits = FileCacheLimits {
            entries: 10,
            small_file_bytes: 4,
            total_bytes: 6,
        };
        let mut cache = FileCache::new(limits);
        let now = Instant::now();
        let (path, file, meta) = temp_file("total", b"abcd");
        let first = cache.store("/a", file, &meta, &path, now);
        let second = cache.store("/b", File::open(&path).unwrap(), &meta, &path, now);
        assert_eq!(first.contents.as_deref(), Some(&b"abcd"[..]));
        assert!(second.contents.is_none(), "over the total");
        cache.forget("/a");
        assert_eq!(cache.memory, 0);
        std::fs::remove_file(&path).unwrap();
    }

    /// An entry nobody asked for in a minute is closed at the next lookup,
    /// so a deleted file's space is freed (found by review: a deleted
    /// 5 MB file stayed open until pushed out of the LRU, maybe never).
    #[test]
    fn an_entry_unused_for_a_minute_is_closed_at_the_next_lookup() {
        let mut cache = FileCache::new(FileCacheLimits::default());
        let then = Instant::now();
        let (path, file, meta) = temp_file("inactive", b"abcd");
        cache.store("/old", file, &meta, &path, then);
        let active = then + INACTIVE_AFTER / 2;
        cache.store("/new", File::open(&path).unwrap(), &meta, &path, active);
        assert!(matches!(cache.lookup("/new", active), Lookup::Fresh(_)));
        assert_eq!(cache.entries.as_ref().map(LruCache::len), Some(2));
        let later = then + INACTIVE_AFTER;
        assert!(matches!(
            cache.lookup("/new", later),
            Lookup::Resolve { revalidating: true }
        ));
        assert_eq!(
            cache.entries.as_ref().map(LruCache::len),
            Some(1),
            "/old closed"
        );
        assert_eq!(cache.memory, 4, "its contents let go");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn an_entry_is_revalidated_after_a_second_and_kept_if_unchanged() {
        let mut cache = FileCache::new(FileCacheLimits::default());
        let then = Instant::now();
        let (path, file, meta) = temp_file("fresh", b"abcd");
        let first = cache.store("/a", file, &meta, &path, then);
        let later = then + REVALIDATE_AFTER;
        assert!(matches!(
            cache.lookup("/a", later),
            Lookup::Resolve { revalidating: true }
        ));
        let again = cache.store("/a", File::open(&path).unwrap(), &meta, &path, later);
        assert!(Rc::ptr_eq(&first, &again), "unchanged: the same entry");
        assert!(matches!(cache.lookup("/a", later), Lookup::Fresh(_)));
        assert_eq!((cache.hits, cache.revalidations), (1, 1));
        std::fs::remove_file(&path).unwrap();
    }
}
