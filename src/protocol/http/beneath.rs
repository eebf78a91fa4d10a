//! Opening a request's path beneath --root, so that no path can lead out
//! of it.
//!
//! The root is opened once, at start (`O_PATH | O_DIRECTORY`). On Linux
//! each request's path is then opened relative to it with one openat2(2)
//! and `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`: the kernel refuses any
//! step of the walk that would leave the root (`..` above it, a symlink
//! whose target is outside, an absolute symlink, a `/proc` magic link),
//! and it does so during the open itself, so nothing can be swapped
//! between a check and the open. That is one system call where the
//! portable way (canonicalize, compare, open) makes one per path component
//! plus two.
//!
//! # Symlinks
//!
//! A symlink inside the root whose target is also inside the root is
//! followed, as before openat2 was used: trees often link `latest` to a
//! release directory. A relative one is resolved by openat2 itself. An
//! absolute one is refused by `RESOLVE_BENEATH` (`EXDEV`) even when it
//! points inside the root; such a path then goes the portable way
//! (canonicalize, check that the result is beneath the canonical root,
//! open), which serves it when its target is inside and refuses it
//! otherwise. Whatever leads out of the root is refused either way.
//!
//! # Fallbacks
//!
//! - A kernel without openat2 (before 5.6: `ENOSYS`) or a seccomp filter
//!   that forbids it (`ENOSYS` or `EPERM`): the portable way, from then on.
//! - `EAGAIN` (the kernel saw a concurrent rename during a walk with `..`,
//!   which cannot happen here since no segment is `..`, but the call is
//!   documented to return it): the portable way, for this path.
//! - Other platforms: the portable way always.
//!
//! Every file is opened `O_NONBLOCK`, so that a FIFO left in the tree can't
//! block the loop in open(2) (regular files ignore the flag), and refused
//! afterwards for not being a regular file.

use log::debug;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The --root directory, open, and how to open paths beneath it.
#[derive(Debug)]
pub(super) struct Root {
    /// The root, canonical (symlinks resolved): what the portable way
    /// compares against, and where directory listings are read.
    canonical: PathBuf,
    /// The root opened `O_PATH | O_DIRECTORY`: what openat2 resolves from.
    #[cfg(target_os = "linux")]
    dir: std::os::fd::OwnedFd,
    /// False once openat2 turned out to be missing or forbidden.
    #[cfg(target_os = "linux")]
    openat2: std::cell::Cell<bool>,
}

/// Flags for every file opened the portable way (see the module docs;
/// openat2 is given the same).
fn open_flags() -> i32 {
    libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC
}

impl Root {
    /// Open `root`, which must be a directory.
    pub(super) fn open(root: &Path) -> io::Result<Root> {
        let canonical = root.canonicalize()?;
        if !canonical.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", canonical.display()),
            ));
        }
        Ok(Root {
            #[cfg(target_os = "linux")]
            dir: OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
                .open(&canonical)?
                .into(),
            #[cfg(target_os = "linux")]
            openat2: std::cell::Cell::new(true),
            canonical,
        })
    }

    /// The canonical root directory.
    pub(super) fn canonical(&self) -> &Path {
        &self.canonical
    }

    /// Open `relative` (plain segments only: no `..`, no leading `/`; see
    /// `paths::relative_path`) for reading, if it lies beneath the
    /// root. A path that leads out is an error of kind `PermissionDenied`.
    pub(super) fn open_beneath(&self, relative: &Path) -> io::Result<File> {
        #[cfg(target_os = "linux")]
        if self.openat2.get() {
            match self.openat2(relative) {
                Ok(file) => return Ok(file),
                Err(err) => match err.raw_os_error() {
                    Some(libc::ENOSYS | libc::EPERM) => {
                        debug!("openat2 unavailable ({err}): resolving paths the portable way");
                        self.openat2.set(false);
                    }
                    // An absolute symlink, or a way out: let the portable
                    // way tell the two apart (module docs, Symlinks).
                    Some(libc::EXDEV | libc::EAGAIN) => {}
                    _ => return Err(err),
                },
            }
        }
        self.open_portably(relative)
    }

    /// One openat2(2) beneath the root.
    #[cfg(target_os = "linux")]
    fn openat2(&self, relative: &Path) -> io::Result<File> {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        let name = if relative.as_os_str().is_empty() {
            Path::new(".")
        } else {
            relative
        };
        let fd = rustix::fs::openat2(
            &self.dir,
            name,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        )?;
        Ok(File::from(fd))
    }

    /// The portable way: canonicalize (following symlinks), check that the
    /// result is beneath the canonical root, open it.
    fn open_portably(&self, relative: &Path) -> io::Result<File> {
        let real = self.canonical.join(relative).canonicalize()?;
        if !real.starts_with(&self.canonical) {
            debug!(
                "refused {}: resolves outside the root to {}",
                relative.display(),
                real.display()
            );
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "resolves outside the root",
            ));
        }
        OpenOptions::new()
            .read(true)
            .custom_flags(open_flags())
            .open(real)
    }

    /// Use the portable way from now on, as if openat2 were missing.
    #[cfg(test)]
    pub(super) fn without_openat2(self) -> Root {
        #[cfg(target_os = "linux")]
        self.openat2.set(false);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// `outside/secret` next to `root/`, with links of every kind in the
    /// root; removed when dropped.
    struct Tree(PathBuf);

    impl Tree {
        fn new(name: &str) -> Tree {
            let base = std::env::temp_dir()
                .join(format!("reactord-beneath-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&base);
            let root = base.join("root");
            std::fs::create_dir_all(root.join("sub")).unwrap();
            std::fs::create_dir_all(base.join("outside")).unwrap();
            std::fs::write(base.join("outside/secret"), "secret").unwrap();
            std::fs::write(root.join("sub/inner.txt"), "inner").unwrap();
            symlink("../outside/secret", root.join("escape")).unwrap();
            symlink("../../outside/secret", root.join("sub/escape")).unwrap();
            symlink(base.join("outside/secret"), root.join("absolute-out")).unwrap();
            symlink(root.join("sub/inner.txt"), root.join("absolute-in")).unwrap();
            symlink("sub/inner.txt", root.join("relative-in")).unwrap();
            symlink("../sub/inner.txt", root.join("sub/up-and-in")).unwrap();
            symlink("/proc/self/root/etc/hostname", root.join("magic")).unwrap();
            symlink("../outside", root.join("dir-out")).unwrap();
            Tree(base)
        }

        fn root(&self) -> Root {
            Root::open(&self.0.join("root")).unwrap()
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn read(root: &Root, path: &str) -> io::Result<String> {
        let mut text = String::new();
        io::Read::read_to_string(&mut root.open_beneath(Path::new(path))?, &mut text)?;
        Ok(text)
    }

    /// Both ways agree: links that stay inside are followed, links that
    /// lead out are refused, whatever their form.
    #[test]
    fn links_that_stay_inside_are_followed_and_links_out_are_refused() {
        let tree = Tree::new("links");
        for root in [tree.root(), tree.root().without_openat2()] {
            for inside in [
                "sub/inner.txt",
                "relative-in",
                "sub/up-and-in",
                "absolute-in",
            ] {
                assert_eq!(read(&root, inside).unwrap(), "inner", "{inside}");
            }
            for outside in [
                "escape",
                "sub/escape",
                "absolute-out",
                "dir-out/secret",
                "magic",
            ] {
                assert!(read(&root, outside).is_err(), "{outside} was served");
            }
            assert!(root.open_beneath(Path::new("")).is_ok(), "the root itself");
        }
    }

    /// `..` never reaches here (the request path refuses it first), but
    /// if it did, openat2 would still not leave the root.
    #[cfg(target_os = "linux")]
    #[test]
    fn dot_dot_cannot_leave_the_root_even_unfiltered() {
        let tree = Tree::new("dotdot");
        let root = tree.root();
        let err = root.openat2(Path::new("../outside/secret")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EXDEV), "{err}");
        assert!(root.open_beneath(Path::new("../outside/secret")).is_err());
        assert_eq!(read(&root, "sub/../sub/inner.txt").unwrap(), "inner");
    }
}
