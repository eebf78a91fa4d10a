//! The file-descriptor limit: every connection is a descriptor, and the
//! default soft limit (often 1024) is far below what a server needs.
//!
//! Like Go's runtime and nginx's `worker_rlimit_nofile`, reactord raises its
//! soft RLIMIT_NOFILE to the hard limit at start. Raising the hard limit
//! itself needs privileges (or a systemd `LimitNOFILE=`); see
//! docs/operations.md.

use std::io;

/// Raise the soft limit on open descriptors to the hard limit and return the
/// new soft limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and reads nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(io::Error::last_os_error());
        }
        limit = raised;
    }
    // rlim_t is u64 on Linux and macOS but i64 on FreeBSD and 32 bits on
    // some 32-bit platforms: convert, so this builds on every unix.
    #[allow(clippy::useless_conversion)]
    Ok(u64::try_from(limit.rlim_cur).unwrap_or(u64::MAX))
}

/// Descriptors the server needs besides its connections: stdio, the
/// listener, epoll, the shutdown waker, the binary's signal pipe, a few for
/// files being served.
pub const RESERVED_DESCRIPTORS: u64 = 32;
