//! reactord: a TCP server daemon whose whole server is one hand-written,
//! single-threaded event loop on mio.
//!
//! # Layout
//!
//! The layers are folders, and imports run one way: `process` → `reactor`
//! → the [`Protocol`] trait. The reactor knows no protocol; a protocol
//! knows no socket and no process topology.
//!
//! - [`config`]: the reactor's settings (address, limits, timeouts) and
//!   their bounds; parsing of `10s`-style durations. Each protocol has its
//!   own settings (`protocol::http::HttpConfig`, the greeting's text).
//! - `reactor/`: the event loop ([`Server`]). Start reading here.
//!   - `reactor/mod.rs`: the loop, one call per step (`Server::run`): poll,
//!     dispatch events by token, the out-of-budget list, timers, removal,
//!     the chores before sleep, the shutdown drain.
//!   - `listener`: the listening socket: binding, accepting, accept errors
//!     and pauses, parking, the drain's hand-over.
//!   - `connection`: one connection: its socket, its state machine
//!     (reading → writing → closing), its buffers.
//!   - `send_queue`: a connection's output on its way to the socket, and
//!     every call that sends it (write, `MSG_MORE`, sendfile).
//!   - `timer`: deadlines; the poll timeout is the time to the nearest one.
//!   - `buffer`: the read buffer and the pool that keeps idle connections
//!     small.
//!   - `shutdown`: the [`ShutdownHandle`] that asks a server to stop from
//!     any thread, through a `mio::Waker` (the library installs no signal
//!     handlers: the binary passes SIGINT/SIGTERM on, see next).
//!   - `signal_streams`: the loop's end of the binary's signal self-pipes
//!     (a byte per delivery), for the server and the supervisor alike.
//!   - `hooks`: the [`Hooks`] trait, what the process around the loop
//!     hears from it (ready, a tick, the end of each iteration, draining);
//!     the reactor's only way out to the process layer.
//!   - `os`: the raw system calls mio and socket2 don't wrap
//!     (`EPOLLEXCLUSIVE`, `TCP_DEFER_ACCEPT`).
//! - [`protocol`]: the pure protocol state machines (greeting, echo, http) and
//!   the [`Protocol`] trait that lets you add your own.
//! - [`process`]: what sits around one loop: the supervisor of `--workers`,
//!   the shared memory where the workers' counters meet, the service
//!   manager's glue (`LISTEN_FDS`, `sd_notify`), the open-file limit, and
//!   the [`Hooks`] the binary plugs into a loop (`loop_hooks`, with the
//!   status tick in `status`).
//! - [`metrics`]: counters shown at /metrics.
//!
//! # Using it as a library
//!
//! Bind, take a shutdown handle for whatever should stop the server (a
//! signal, an admin command, the end of a test), and run: `run` returns
//! once a shutdown request has drained the connections in flight.
//!
//! ```no_run
//! use reactord::{Config, Server, protocol::echo::Echo};
//! let config = Config::default();
//! let server = Server::bind(config, Echo).expect("bind");
//! println!("listening on {}", server.local_addr());
//! let handle = server.shutdown_handle();
//! let stopper = std::thread::spawn(move || {
//!     // ... later, from any thread: drain, then `run` returns Ok.
//!     handle.shutdown().expect("wake the server");
//! });
//! server.run().expect("run");
//! stopper.join().expect("the stopping thread");
//! ```

#![warn(missing_docs)]
// No panic may be reachable from the network: outside tests, no unwrap,
// no expect, no indexing that can go out of bounds.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod config;
pub mod metrics;
pub mod process;
pub mod protocol;
mod reactor;

pub use config::Config;
pub use protocol::{Context, FileBacked, FileRegion, Output, Protocol, StreamedBody, Verdict};
pub use reactor::hooks::{Hooks, LoopStatus};
pub use reactor::shutdown::ShutdownHandle;
pub use reactor::{AcceptWakeup, Server, StartError, listen};
