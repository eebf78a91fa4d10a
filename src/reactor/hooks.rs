//! What the process around the loop hears from it: a [`Hooks`] value the
//! process layer plugs in (`Server::hook_into`).
//!
//! The loop knows nothing of service managers, supervisors or shared
//! memory; imports run one way, process → reactor → protocol. What those
//! need from a running loop (a worker's counters copied out after every
//! loop iteration, `READY=1` once listening, a status line and a watchdog ping once
//! a second from the loop itself, `STOPPING=1` when the drain begins) the
//! loop offers as calls on this trait, and `src/process` implements it. A
//! server without hooks (a plain single process) checks one `Option` per
//! loop iteration and pays nothing else.

use crate::metrics::Metrics;
use std::time::Instant;

/// The loop's calls to the process around it. Every method has a default
/// that does nothing, so an implementation names only what it uses.
pub trait Hooks {
    /// The loop has logged `listening on` and is about to take
    /// connections (`READY=1`).
    fn listening(&mut self, _now: Instant) {}

    /// When [`Hooks::tick`] is next due, if ever. Asked after
    /// [`Hooks::listening`] and after each tick; the loop wakes up for it
    /// even when nothing else happens.
    fn next_tick(&self) -> Option<Instant> {
        None
    }

    /// The instant [`Hooks::next_tick`] named has come: called from the
    /// loop itself (not a thread), so a loop that stops turning stops
    /// ticking, which is what a watchdog wants to see.
    fn tick(&mut self, _now: Instant, _status: LoopStatus) {}

    /// Whether [`Hooks::before_sleep`] wants the counters at all. Asked
    /// once, when the hooks are plugged in: a process that only talks to a
    /// service manager does not make the protocol gather its counters
    /// (`Protocol::counters`) at the end of every loop iteration.
    fn wants_counters(&self) -> bool {
        false
    }

    /// The end of a loop iteration (its before-sleep step), when
    /// [`Hooks::wants_counters`]: `metrics` and the protocol's own counters
    /// (`Protocol::counters`) as they stand, for a worker to copy where the
    /// others can add them up.
    fn before_sleep(&mut self, _metrics: &Metrics, _protocol_counters: &[u64]) {}

    /// The drain has begun (`STOPPING=1`).
    fn draining(&mut self) {}
}

/// What the loop is doing, for a status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopStatus {
    /// The drain has begun.
    pub draining: bool,
    /// Connections open.
    pub connections_open: usize,
}
