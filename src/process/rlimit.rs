//! The file-descriptor limit: every connection is a descriptor, and the
//! default soft limit (often 1024) is far below what a server needs.
//!
//! Like Go's runtime and nginx's `worker_rlimit_nofile`, reactord raises its
//! soft RLIMIT_NOFILE to the hard limit at start. Raising the hard limit
//! itself needs privileges (or a systemd `LimitNOFILE=`); see
//! docs/operations.md.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use std::io;

/// Raise the soft limit on open descriptors to the hard limit and return the
/// new soft limit (`u64::MAX` for no limit).
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut limit = getrlimit(Resource::Nofile);
    // None is RLIM_INFINITY, above every number.
    let below_hard = match (limit.current, limit.maximum) {
        (Some(soft), Some(hard)) => soft < hard,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if below_hard {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        setrlimit(Resource::Nofile, raised)?;
        limit = raised;
    }
    Ok(limit.current.unwrap_or(u64::MAX))
}

/// Descriptors the server needs besides its connections: stdio, the
/// listener, epoll, the shutdown waker, the binary's signal pipe, a few for
/// files being served.
pub const RESERVED_DESCRIPTORS: u64 = 32;
