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
//! the file is opened at, and the open-file cache's key, so `/a//b`,
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

/// The open-file cache's key for a path: its relative path, or for a
/// directory path the relative path of its index file, written into `key`.
pub(super) fn cache_key(relative: &str, directory: bool, key: &mut String) {
    key.clear();
    key.push_str(relative);
    if directory {
        if !key.is_empty() {
            key.push('/');
        }
        key.push_str(INDEX);
    }
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
            let (relative, directory) = plain(path).unwrap();
            let mut key = String::new();
            cache_key(&relative, directory, &mut key);
            key
        };
        assert_eq!(key("/"), "index.html");
        assert_eq!(key("/index.html"), "index.html");
        assert_eq!(key("/%69ndex.html"), "index.html");
        assert_eq!(key("/sub/"), "sub/index.html");
        assert_eq!(key("//sub//index.html"), "sub/index.html");
        assert_eq!(key("/sub"), "sub");
    }

    #[test]
    fn a_location_never_starts_with_two_slashes() {
        assert_eq!(merge_slashes("//evil.example//x"), "/evil.example/x");
        assert_eq!(merge_slashes("/a/b"), "/a/b");
    }
}
