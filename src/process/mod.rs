//! What sits around one event loop: the supervisor that runs N workers,
//! the shared memory where their counters meet, what a service manager
//! hands over and expects back, and the process's resource limits.
//!
//! Imports run one way: this layer uses the reactor (`crate::Server`) and
//! the reactor never uses it. What the process needs to hear from a
//! running loop it gets by plugging in `loop_hooks::LoopHooks` (the
//! reactor's `Hooks` trait); what /metrics needs from the shared counters
//! it gets through `metrics::ServerTotals`, which `worker_metrics`
//! implements.

pub mod loop_hooks;
pub mod rlimit;
pub mod service;
pub mod status;
pub mod supervisor;
pub mod worker_metrics;
