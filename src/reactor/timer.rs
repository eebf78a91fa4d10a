//! Deadlines: which connection must be looked at next, and when.
//!
//! The loop sleeps in `poll` for exactly the time to the nearest deadline,
//! so a timeout costs nothing until it fires: there is no periodic tick and
//! no scan of every connection.
//!
//! # Cost
//!
//! Deadlines live in an ordered set (a B-tree), so arming, moving and firing
//! one is O(log n) in the number of connections. Most deadline changes are
//! cheaper still: a keep-alive connection pushes its idle deadline later on
//! every request, and moving a deadline *later* touches nothing here. The
//! set keeps the old, earlier entry; when it fires, the owner is checked,
//! found not yet due, and the entry is re-armed at the true deadline. So a
//! busy connection costs one tree operation per idle-timeout period, not one
//! per request. Moving a deadline *earlier* replaces the entry at once.
//!
//! # Stale entries
//!
//! An entry names its connection by slab key *and* serial number. A slab key
//! is reused as soon as its connection is removed; the serial never is, so an
//! entry left behind by a closed connection can't fire on the new connection
//! that took its slot.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How far ahead a deadline goes when `start + wait` does not fit the clock:
/// a year ([`crate::config::TIMEOUT_CEILING`]), which is "never" for every
/// timeout here.
const FAR_FUTURE: Duration = crate::config::TIMEOUT_CEILING;

/// The deadline `wait` after `start`, without the panic of `Instant + Duration`
/// when the sum does not fit the clock.
///
/// # Checked arithmetic
///
/// Every deadline in the server is computed here. The configuration bounds
/// each timeout (see `config`), but a program using the library may build a
/// Config without validating it, and no value may crash the loop: a sum that
/// overflows becomes a deadline a year away ([`FAR_FUTURE`]), and if even that
/// does not fit, `start` itself (a clock that close to its end has no future
/// to offer).
pub(crate) fn deadline_after(start: Instant, wait: Duration) -> Instant {
    start
        .checked_add(wait)
        .or_else(|| start.checked_add(FAR_FUTURE))
        .unwrap_or(start)
}

/// Which connection a timer entry belongs to: its slab key, and the serial
/// number that tells it apart from later connections in the same slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId {
    /// Unique for the life of the process.
    pub serial: u64,
    /// The slab key (and mio token) of the connection.
    pub key: usize,
}

/// One connection's view of its deadline: when it is really due, and where
/// its entry sits in the set (which may be earlier, see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct TimerSlot {
    due: Option<Instant>,
    armed: Option<Instant>,
}

/// The set of armed deadlines, earliest first.
#[derive(Debug, Default)]
pub struct Timers {
    entries: BTreeSet<(Instant, TimerId)>,
    /// The `now` of the latest [`Timers::pop_expired`]: no entry is armed
    /// earlier than that (see "No starving" on [`Timers::schedule`]).
    not_before: Option<Instant>,
}

impl Timers {
    /// An empty set.
    pub fn new() -> Timers {
        Timers::default()
    }

    /// `at`, or the time of the latest pass if `at` is earlier: where a
    /// deadline that a protocol chose (`Verdict::Wait`) is armed.
    ///
    /// # No starving
    ///
    /// The loop fires a bounded number of due entries per iteration,
    /// earliest first. Entries re-armed in the past by a busy protocol (a
    /// `Wait` for an old instant) would go before an entry left due by the
    /// budget, on every pass, and it would never fire. Armed no earlier
    /// than the latest pass, they go after it. (The reactor's own deadlines
    /// are `now` plus a timeout, never in the past: they skip this.)
    pub fn not_before_last_pass(&self, at: Instant) -> Instant {
        self.not_before.map_or(at, |floor| at.max(floor))
    }

    /// Make `slot` due at `due`. Moving it later is free; moving it earlier
    /// (or arming it) is one O(log n) replacement.
    pub fn schedule(&mut self, slot: &mut TimerSlot, due: Instant, id: TimerId) {
        slot.due = Some(due);
        match slot.armed {
            // The entry in the set fires first; it will be moved then.
            Some(armed) if armed <= due => {}
            Some(armed) => {
                self.entries.remove(&(armed, id));
                self.entries.insert((due, id));
                slot.armed = Some(due);
            }
            None => {
                self.entries.insert((due, id));
                slot.armed = Some(due);
            }
        }
    }

    /// Forget `slot`'s deadline (its connection is gone).
    pub fn cancel(&mut self, slot: &mut TimerSlot, id: TimerId) {
        if let Some(armed) = slot.armed.take() {
            self.entries.remove(&(armed, id));
        }
        slot.due = None;
    }

    /// The earliest armed entry: the loop must wake up by then.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.entries.first().map(|&(at, _)| at)
    }

    /// Remove and return the earliest entry if it is due at `now`.
    ///
    /// The caller must then call [`Timers::settle`] with the owner's slot: the
    /// entry may have been stale (the deadline moved later).
    pub fn pop_expired(&mut self, now: Instant) -> Option<TimerId> {
        self.not_before = Some(self.not_before.map_or(now, |floor| floor.max(now)));
        let &(at, id) = self.entries.first()?;
        if at > now {
            return None;
        }
        self.entries.pop_first();
        Some(id)
    }

    /// After [`Timers::pop_expired`] returned `id`: true if the slot's
    /// deadline has really passed; otherwise re-arm it at its true deadline
    /// and return false.
    pub fn settle(&mut self, slot: &mut TimerSlot, id: TimerId, now: Instant) -> bool {
        slot.armed = None;
        match slot.due {
            Some(due) if due <= now => {
                slot.due = None;
                true
            }
            Some(due) => {
                self.schedule(slot, due, id);
                false
            }
            None => false,
        }
    }

    /// Number of entries in the set.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is armed.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(key: usize) -> TimerId {
        TimerId {
            serial: key as u64 + 100,
            key,
        }
    }

    /// Fire everything due at `now`, the way the reactor does.
    fn fire(timers: &mut Timers, slots: &mut [TimerSlot], now: Instant) -> Vec<usize> {
        let mut fired = Vec::new();
        while let Some(id) = timers.pop_expired(now) {
            if timers.settle(&mut slots[id.key], id, now) {
                fired.push(id.key);
            }
        }
        fired
    }

    #[test]
    fn an_entry_left_over_by_the_budget_fires_before_one_rearmed_in_the_past() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(10);
        let mut timers = Timers::new();
        let mut slots = [TimerSlot::default(); 2];
        timers.schedule(&mut slots[0], t0 + Duration::from_secs(5), id(0));
        timers.schedule(&mut slots[1], t0 + Duration::from_secs(6), id(1));
        // A pass with a budget of one: entry 0 fires, entry 1 is left due.
        let first = timers.pop_expired(now).unwrap();
        assert_eq!(first.key, 0);
        assert!(timers.settle(&mut slots[0], first, now));
        // Entry 0's owner waits again, at an instant long past.
        let again = timers.not_before_last_pass(t0);
        timers.schedule(&mut slots[0], again, id(0));
        let next = timers.pop_expired(now).unwrap();
        assert_eq!(next.key, 1, "the left-over entry goes first");
    }

    #[test]
    fn deadlines_fire_in_order_and_only_when_due() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let mut slots = [TimerSlot::default(); 3];
        for (key, secs) in [(0, 3), (1, 1), (2, 2)] {
            timers.schedule(&mut slots[key], t0 + Duration::from_secs(secs), id(key));
        }
        assert_eq!(timers.next_wakeup(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(fire(&mut timers, &mut slots, t0), Vec::<usize>::new());
        assert_eq!(
            fire(&mut timers, &mut slots, t0 + Duration::from_secs(2)),
            vec![1, 2]
        );
        assert_eq!(
            fire(&mut timers, &mut slots, t0 + Duration::from_secs(9)),
            vec![0]
        );
        assert!(timers.is_empty());
    }

    #[test]
    fn moving_a_deadline_later_keeps_one_entry_and_fires_at_the_new_time() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let mut slots = [TimerSlot::default()];
        for secs in 1..=50 {
            timers.schedule(&mut slots[0], t0 + Duration::from_secs(secs), id(0));
        }
        assert_eq!(timers.len(), 1, "moving later must not add entries");
        // The stale entry at 1 s fires, is found early, and is re-armed at 50 s.
        assert!(fire(&mut timers, &mut slots, t0 + Duration::from_secs(10)).is_empty());
        assert_eq!(timers.next_wakeup(), Some(t0 + Duration::from_secs(50)));
        assert_eq!(
            fire(&mut timers, &mut slots, t0 + Duration::from_secs(50)),
            vec![0]
        );
    }

    #[test]
    fn moving_a_deadline_earlier_replaces_the_entry() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let mut slots = [TimerSlot::default()];
        timers.schedule(&mut slots[0], t0 + Duration::from_secs(60), id(0));
        timers.schedule(&mut slots[0], t0 + Duration::from_secs(10), id(0));
        assert_eq!(timers.len(), 1);
        assert_eq!(
            fire(&mut timers, &mut slots, t0 + Duration::from_secs(10)),
            vec![0]
        );
    }

    #[test]
    fn a_cancelled_deadline_never_fires() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let mut slots = [TimerSlot::default(); 2];
        timers.schedule(&mut slots[0], t0, id(0));
        timers.schedule(&mut slots[1], t0, id(1));
        timers.cancel(&mut slots[0], id(0));
        assert_eq!(fire(&mut timers, &mut slots, t0), vec![1]);
    }

    #[test]
    fn an_entry_for_a_previous_owner_of_the_slot_does_not_fire_for_the_new_one() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let mut slots = [TimerSlot::default()];
        let old = TimerId { serial: 1, key: 0 };
        let new = TimerId { serial: 2, key: 0 };
        timers.schedule(&mut slots[0], t0, old);
        // The old connection is removed without cancel (the reactor always
        // cancels; this checks the serial is part of the identity anyway).
        // Dropping such an entry is the reactor's job: see its test
        // `a_stale_timer_entry_does_not_act_on_the_next_connection_in_its_slot`.
        slots[0] = TimerSlot::default();
        timers.schedule(&mut slots[0], t0 + Duration::from_secs(5), new);
        let popped = timers.pop_expired(t0).unwrap();
        assert_eq!(popped, old);
        assert_ne!(popped, new);
    }

    /// `Instant + Duration::MAX` panics; a deadline never does.
    #[test]
    fn a_deadline_past_the_end_of_the_clock_is_capped_not_a_panic() {
        let start = Instant::now();
        assert_eq!(deadline_after(start, Duration::MAX), start + FAR_FUTURE);
        assert_eq!(
            deadline_after(start, Duration::from_secs(5)),
            start + Duration::from_secs(5)
        );
    }
}
