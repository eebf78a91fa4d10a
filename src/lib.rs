//! reactord: a TCP server daemon whose whole server is one hand-written,
//! single-threaded event loop on mio.
//!
//! # Layout
//!
//! - [`config`]: every knob and its default; parsing of `10s`-style durations.
//! - `reactor`: the event loop: poll, accept, dispatch events by token,
//!   timers, signals, shutdown. Start reading here.
//! - `connection`: one connection: its socket, its state machine
//!   (reading → writing → closing), its buffers.
//! - `send_queue`: a connection's output on its way to the socket, and
//!   every call that sends it (write, `MSG_MORE`, sendfile).
//! - `timer`: deadlines; the poll timeout is the time to the nearest one.
//! - `buffer`: the read buffer and the pool that keeps idle connections small.
//! - [`protocol`]: the pure protocol state machines (greeting, echo, http) and
//!   the [`Protocol`] trait that lets you add your own.
//! - [`metrics`]: counters shown at /metrics.
//! - [`rlimit`]: raising the open-file limit at start.
//!
//! # Using it as a library
//!
//! ```no_run
//! use reactord::{Config, Server, protocol::echo::Echo};
//! let config = Config::default();
//! let server = Server::bind(config, Echo).expect("bind");
//! println!("listening on {}", server.local_addr());
//! server.run().expect("run");
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
pub mod protocol;
pub mod rlimit;

pub use config::{Config, ProtocolName};
pub use protocol::{Context, FileRegion, Output, Protocol, StreamedBody, Verdict};

mod buffer;
mod connection;
mod reactor;
mod send_queue;
mod timer;

pub use reactor::{Server, StartError};
