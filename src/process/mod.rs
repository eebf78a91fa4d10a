//! What sits around one event loop: the supervisor that runs N workers,
//! the shared memory where their counters meet, what a service manager
//! hands over and expects back, and the process's resource limits.
//!
//! Imports run one way: this layer uses the reactor (`crate::Server`) and
//! the reactor never uses it.

pub mod rlimit;
pub mod service;
pub mod supervisor;
pub mod worker_metrics;
