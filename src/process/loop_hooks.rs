//! How the process layer hears from a server's loop: the [`Hooks`] the
//! binary plugs into a single process (service-manager notifications) and
//! into each worker (notifications to its supervisor, and its shared
//! counters copied out once per loop iteration).

use crate::metrics::Metrics;
use crate::process::service::Notifier;
use crate::process::status::StatusTick;
use crate::process::worker_metrics::WorkerCounters;
use crate::reactor::hooks::{Hooks, LoopStatus};
use std::sync::Arc;
use std::time::Instant;

/// A server's notifications and, for a worker, its shared counters.
#[derive(Debug, Default)]
pub struct LoopHooks {
    /// The service manager (single process) or the supervisor (worker).
    notifier: Option<Notifier>,
    /// When the next `STATUS=`/`WATCHDOG=1` is due (with a notifier).
    status: Option<StatusTick>,
    /// A worker's slot in the shared counters.
    counters: Option<Arc<WorkerCounters>>,
}

impl LoopHooks {
    /// Tell `notifier` about the server's life: `READY=1` once listening,
    /// `STATUS=` with the connections open once a second, `WATCHDOG=1`
    /// from the loop itself when the notifier has a watchdog interval (so
    /// a stuck loop is noticed), and `STOPPING=1` when the drain begins.
    pub fn notify(mut self, notifier: Notifier) -> LoopHooks {
        self.notifier = Some(notifier);
        self
    }

    /// A worker: copy its counters (the reactor's and the protocol's)
    /// into its slot of `counters` at the end of every loop iteration, so any
    /// worker's /metrics can add them up.
    pub fn publish_to(mut self, counters: Arc<WorkerCounters>) -> LoopHooks {
        self.counters = Some(counters);
        self
    }
}

impl Hooks for LoopHooks {
    fn listening(&mut self, now: Instant) {
        if let Some(notifier) = &self.notifier {
            notifier.notify("READY=1");
            self.status = Some(StatusTick::start(Some(notifier), now));
        }
    }

    fn next_tick(&self) -> Option<Instant> {
        self.status.map(|status| status.due())
    }

    fn tick(&mut self, now: Instant, status: LoopStatus) {
        let Some(tick) = &mut self.status else {
            return;
        };
        let state = if status.draining {
            "draining"
        } else {
            "serving"
        };
        tick.report(
            self.notifier.as_ref(),
            now,
            &format!("{state}, {} connections open", status.connections_open),
        );
    }

    fn wants_counters(&self) -> bool {
        self.counters.is_some()
    }

    fn before_sleep(&mut self, metrics: &Metrics, protocol_counters: &[u64]) {
        if let Some(counters) = &self.counters {
            counters.publish(metrics);
            counters.publish_protocol(protocol_counters);
        }
    }

    fn draining(&mut self) {
        if let Some(notifier) = &self.notifier {
            notifier.notify("STOPPING=1");
        }
    }
}
