//! From a request path to a path beneath --root: what may be asked for,
//! and the one spelling every alias of a file comes down to.
//!
//! # What can't be asked for
//!
//! The path is percent-decoded once, segment by segment, after splitting
//! on `/`. A segment that is `.` or `..`, or holds a backslash, a NUL or an
//! encoded slash (`%2f`, which would otherwise smuggle a separator past the
//! split) is refused, as is a segment that isn't UTF-8 once decoded. So is
//! a name that starts with a dot (hidden files: `.git`, `.env`), unless
//! `--dotfiles` is given, with one exception: a first segment
//! `.well-known` is always served (RFC 8615: ACME HTTP-01 challenges,
//! security.txt). A malformed escape (`/%`, `/%zz`) never gets here: the
//! request line is refused with 400 (`request::valid_target`).
//!
//! # One spelling
//!
//! Empty segments are dropped: `//` inside a path is `/`, as nginx's
//! `merge_slashes` (on by default) does. What remains, decoded and joined
//! with single slashes, without a leading or trailing one, is the path
//! the file is opened at, and the open-file cache's key (`add_index`), so `/a//b`,
//! `/a/%62` and `/a/b` are one entry. A path that ends in `/` names a
//! directory's `index.html`, and its key is that file's: `/` and
//! `/index.html` are one entry too. (A symlink stays a name of its own:
//! what it leads to is only known by opening it.)

/// Which names starting with a dot may be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DotFiles {
    /// Only `/.well-known/` (the default).
    WellKnownOnly,
    /// Every one (`--dotfiles`); `.` and `..` never.
    Served,
}

impl DotFiles {
    /// Whether the name `segment`, at `depth` (0 for the root's entries),
    /// may be served.
    pub(super) fn allows(self, segment: &str, depth: usize) -> bool {
        !segment.starts_with('.')
            || (depth == 0 && segment == ".well-known")
            || (self == DotFiles::Served && segment != "." && segment != "..")
    }
}

/// Index file served for a path ending in `/`.
pub(super) const INDEX: &str = "index.html";

/// Decode `path` (origin-form, starting with `/`) into `relative`, cleared
/// first: the path beneath the root in its one spelling (see the module
/// docs). Returns whether the path names a directory (it ends in `/`), or
/// `None` if it may not be asked for.
pub(super) fn relative_path(path: &str, dots: DotFiles, relative: &mut String) -> Option<bool> {
    relative.clear();
    let rest = path.strip_prefix('/')?;
    if is_plain(rest) {
        relative.push_str(rest.strip_suffix('/').unwrap_or(rest));
        return Some(path.ends_with('/'));
    }
    let segments = rest.split('/').filter(|segment| !segment.is_empty());
    for (depth, raw) in segments.enumerate() {
        if depth > 0 {
            relative.push('/');
        }
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .ok()?;
        if decoded == "."
            || decoded == ".."
            || decoded.contains(['/', '\\', '\0'])
            || !dots.allows(&decoded, depth)
        {
            return None;
        }
        relative.push_str(&decoded);
    }
    Some(path.ends_with('/'))
}

/// True when `rest` (a path after its first `/`) is already in its one
/// spelling and may be asked for: no escape, backslash or NUL, no empty
/// segment, no segment starting with a dot (a trailing slash is fine).
/// That is nearly every request, and one pass over its bytes then does
/// what decoding segment by segment would.
fn is_plain(rest: &str) -> bool {
    let mut segment_start = true;
    for &b in rest.as_bytes() {
        match b {
            b'%' | b'\\' | b'\0' => return false,
            b'.' | b'/' if segment_start => return false,
            _ => {}
        }
        segment_start = b == b'/';
    }
    true
}

/// A request path's open-file cache key (see the module docs).
pub(super) struct Key<'p> {
    /// The key: the path beneath the root, and for a directory its index
    /// file.
    pub(super) key: &'p str,
    /// How much of `key` is the path beneath the root.
    pub(super) relative_len: usize,
    /// The path ended in `/`.
    pub(super) directory: bool,
}

impl<'p> Key<'p> {
    /// The path beneath the root (for a directory, without the index).
    pub(super) fn relative(&self) -> &'p str {
        self.key.get(..self.relative_len).unwrap_or_default()
    }
}

/// The key of `path` (origin-form), or `None` if it may not be asked for.
/// A plain file path (nearly every request) is its own key, borrowed; any
/// other is spelled out in `buffer`.
pub(super) fn cache_key<'p>(
    path: &'p str,
    dots: DotFiles,
    buffer: &'p mut String,
) -> Option<Key<'p>> {
    if let Some(rest) = path.strip_prefix('/')
        && !rest.is_empty()
        && !rest.ends_with('/')
        && is_plain(rest)
    {
        return Some(Key {
            key: rest,
            relative_len: rest.len(),
            directory: false,
        });
    }
    let directory = relative_path(path, dots, buffer)?;
    let relative_len = buffer.len();
    if directory {
        add_index(buffer);
    }
    Some(Key {
        key: buffer.as_str(),
        relative_len,
        directory,
    })
}

/// Make a directory's relative path (from [`relative_path`]) its index
/// file's: the open-file cache's key for a path ending in `/`, so that `/`
/// and `/index.html` are one entry.
fn add_index(relative: &mut String) {
    if !relative.is_empty() {
        relative.push('/');
    }
    relative.push_str(INDEX);
}

/// `path` with every run of slashes made one, for a redirect's Location
/// (a Location that starts with `//` would name another host).
pub(super) fn merge_slashes(path: &str) -> String {
    let mut merged = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && merged.ends_with('/')) {
            merged.push(c);
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(path: &str, dots: DotFiles) -> Option<(String, bool)> {
        let mut relative = String::from("left over");
        let directory = relative_path(path, dots, &mut relative)?;
        Some((relative, directory))
    }

    fn plain(path: &str) -> Option<(String, bool)> {
        resolve(path, DotFiles::WellKnownOnly)
    }

    #[test]
    fn traversal_and_hidden_paths_are_refused() {
        for bad in [
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/x",
            "/a%2f..%2fb",
            "/a%2fb",
            "/a\\..\\b",
            "/a%00b",
            "/.hidden",
            "/a/./b",
            "/a/.well-known/x",
            "relative",
            "/%ff",
        ] {
            assert_eq!(plain(bad), None, "{bad}");
        }
    }

    #[test]
    fn plain_paths_decode_to_one_spelling() {
        let file = |s: &str| Some((s.to_string(), false));
        let dir = |s: &str| Some((s.to_string(), true));
        assert_eq!(plain("/a/b%20c.txt"), file("a/b c.txt"));
        assert_eq!(plain("/dir/"), dir("dir"));
        assert_eq!(plain("/"), dir(""));
        // nginx's merge_slashes: `//` is `/`, wherever it is.
        assert_eq!(plain("//a//b.txt"), file("a/b.txt"));
        assert_eq!(plain("/a%2Fb"), None, "an encoded slash is no separator");
        assert_eq!(plain("/a/%62.txt"), file("a/b.txt"));
        assert_eq!(plain("/sub//"), dir("sub"));
        assert_eq!(plain("//"), dir(""));
    }

    /// RFC 8615: `/.well-known/` is served whatever --dotfiles says; any
    /// other dot name only with --dotfiles; `.` and `..` never.
    #[test]
    fn well_known_is_always_served_and_other_dot_names_with_dotfiles() {
        let file = |s: &str| Some((s.to_string(), false));
        assert_eq!(
            plain("/.well-known/acme-challenge/tok3n"),
            file(".well-known/acme-challenge/tok3n")
        );
        assert_eq!(
            plain("/%2Ewell-known/security.txt"),
            file(".well-known/security.txt")
        );
        assert_eq!(plain("/.well-known/.hidden"), None);
        assert_eq!(plain("/.env"), None);
        let served = DotFiles::Served;
        assert_eq!(resolve("/.env", served), file(".env"));
        assert_eq!(resolve("/a/.b/.c", served), file("a/.b/.c"));
        for bad in ["/.", "/..", "/a/../b", "/%2e%2e/x", "/a/./b"] {
            assert_eq!(resolve(bad, served), None, "{bad}");
        }
    }

    #[test]
    fn a_directory_path_and_its_index_share_a_key() {
        let key = |path: &str| {
            let mut buffer = String::new();
            let key = cache_key(path, DotFiles::WellKnownOnly, &mut buffer).unwrap();
            assert_eq!(key.relative(), plain(path).unwrap().0, "{path}");
            key.key.to_string()
        };
        assert_eq!(key("/"), "index.html");
        assert_eq!(key("/index.html"), "index.html");
        assert_eq!(key("/%69ndex.html"), "index.html");
        assert_eq!(key("/sub/"), "sub/index.html");
        assert_eq!(key("//sub//index.html"), "sub/index.html");
        assert_eq!(key("/sub"), "sub");
    }

    /// The fast path agrees with decoding segment by segment.
    #[test]
    fn plain_paths_take_the_fast_path_and_agree_with_the_slow_one() {
        for plain in ["", "a", "a/b.txt", "sub/", "a-b_c~d/e.f", "x/y/z/"] {
            assert!(is_plain(plain), "{plain}");
        }
        for not in ["/a", "a//b", ".a", "a/.b", "a%20b", "a\\b", "a/b//"] {
            assert!(!is_plain(not), "{not}");
        }
        // Each plain path, and the same path with one letter escaped
        // (which takes the slow path), come to the same spelling.
        for path in ["/", "/a", "/a/b.txt", "/sub/", "/x/y/z/"] {
            let mut fast = String::new();
            let fast_directory = relative_path(path, DotFiles::WellKnownOnly, &mut fast);
            let escaped = path.replacen('a', "%61", 1).replacen('x', "%78", 1);
            let mut slow = String::new();
            let slow_directory = relative_path(&escaped, DotFiles::WellKnownOnly, &mut slow);
            assert_eq!(fast, slow, "{path} and {escaped}");
            assert_eq!(fast_directory, slow_directory, "{path}");
            assert_eq!(fast_directory, Some(path.ends_with('/')), "{path}");
        }
    }

    #[test]
    fn a_location_never_starts_with_two_slashes() {
        assert_eq!(merge_slashes("//evil.example//x"), "/evil.example/x");
        assert_eq!(merge_slashes("/a/b"), "/a/b");
    }
}
