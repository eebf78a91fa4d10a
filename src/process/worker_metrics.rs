//! One /metrics for a server made of several worker processes: a shared
//! memory region with one slot of counters per worker.
//!
//! # How it works
//!
//! The supervisor creates the region (a `memfd`, mapped `MAP_SHARED`)
//! before it starts any worker and passes it to each worker as an inherited
//! descriptor, with the index of the worker's slot. A worker keeps counting
//! in its plain [`Metrics`] as a single process does, and copies them into
//! its own slot once per iteration of its loop, with relaxed atomic stores (on
//! x86 and ARM an ordinary store: the slot has one writer, and a reader
//! only needs each value to be one that was written). Whichever worker
//! answers /metrics adds up every slot.
//!
//! # Cost
//!
//! A single process (`--workers 1`) has no region: nothing changes per
//! request or per loop iteration. A worker pays a few dozen stores per
//! iteration of its loop, not per request, and a /metrics request a loop
//! over the slots.
//!
//! # The heartbeat
//!
//! [`WorkerCounters::publish`] also bumps the slot's heartbeat, a number
//! that changes on every iteration of the worker's loop. A worker's loop turns
//! at least once a second (its status report to the supervisor is a timer
//! of the loop), so a heartbeat that has not moved for many seconds means
//! the loop has stopped turning (stuck in a system call, an endless loop,
//! a stopped process) even though the process is alive: the supervisor
//! reads the heartbeats on its own tick and replaces such a worker (see
//! `supervisor`).
//!
//! # The header
//!
//! The region starts with a header the supervisor writes: a magic number,
//! the layout's version and the slot's size. A SIGHUP restart pairs a
//! running supervisor with workers of the binary now on disk, which may
//! lay the slots out differently (they grew from 256 to 384 bytes once):
//! read with another layout, every total would be garbage. A worker checks
//! the header before anything else and refuses to start on a mismatch, so
//! the restart is given up and the old workers serve on; such an upgrade
//! needs the whole service restarted. A supervisor older than the header
//! has none: its first slot's pid is not the magic number.
//!
//! # Slots outlive workers
//!
//! A worker that dies leaves its counters in its slot and its replacement
//! continues from them, so every total only ever grows (what Prometheus
//! expects of a counter); only the gauge of open connections is reset,
//! since a dead worker's connections are gone.

use crate::metrics::{
    MAX_PROTOCOL_COUNTERS, Metrics, ProcessShare, REACTOR_COUNTERS, ServerTotals,
};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// Values per slot after the pid: the reactor's seven counters, then up to
/// 24 of the protocol's own (HTTP: responses by status class, /echo's
/// counters, the open-file cache's).
pub const VALUES: usize = REACTOR_VALUES + PROTOCOL_VALUES;

/// The reactor's counters at the start of a slot, in [`Metrics::values`]
/// order.
pub const REACTOR_VALUES: usize = REACTOR_COUNTERS;

/// Room for a protocol's own counters in each slot.
pub const PROTOCOL_VALUES: usize = MAX_PROTOCOL_COUNTERS;

/// Index of `connections_active` in a slot (the only gauge): its place in
/// [`Metrics::values`] (a test checks it).
const ACTIVE: usize = 1;

/// One worker's counters: a pid, a heartbeat and [`VALUES`] numbers,
/// aligned so that two workers never write the same cache line.
#[repr(C, align(128))]
struct Slot {
    pid: AtomicU64,
    /// Bumped by every [`WorkerCounters::publish`]: see "The heartbeat".
    heartbeat: AtomicU64,
    values: [AtomicU64; VALUES],
}

/// The bytes of one slot in the shared region (what docs/operations.md
/// quotes).
pub const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

/// The start of the region: see "The header". A cache line of its own.
#[repr(C, align(128))]
struct Header {
    magic: AtomicU64,
    version: AtomicU64,
    slot_bytes: AtomicU64,
}

/// The bytes before the first slot.
const HEADER_BYTES: usize = std::mem::size_of::<Header>();

/// "reactord", the header's first word.
const MAGIC: u64 = u64::from_le_bytes(*b"reactord");

/// The layout's version: change it whenever a slot's contents change
/// meaning (a counter moved, added or removed), not only its size.
const LAYOUT_VERSION: u64 = 1;

/// What one slot held when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotValues {
    /// The slot's index: the `worker` label.
    pub index: usize,
    /// The pid of the last worker that wrote it.
    pub pid: u64,
    /// Its counters.
    pub values: [u64; VALUES],
}

/// A mapping of the shared region, and which slot is ours to write.
pub struct WorkerCounters {
    /// The mapping: a [`Header`], then `slots` [`Slot`]s.
    base: NonNull<Header>,
    slots: usize,
    /// The slot this process writes (None in the supervisor, which only
    /// reads).
    own: Option<usize>,
    /// What the slot held when this worker took it over (its
    /// predecessor's counts; the gauge excepted): added to every value
    /// published, so the slot's counters never go back.
    carried: [u64; VALUES],
    fd: OwnedFd,
}

// SAFETY: the mapping is only ever accessed through atomics (`Slot` holds
// nothing else), so sharing it between threads is as safe as sharing it
// between processes; the descriptor is an OwnedFd.
unsafe impl Send for WorkerCounters {}
// SAFETY: as above.
unsafe impl Sync for WorkerCounters {}

impl std::fmt::Debug for WorkerCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerCounters")
            .field("slots", &self.slots)
            .field("own", &self.own)
            .finish()
    }
}

impl WorkerCounters {
    /// Create a zeroed region of `slots` slots (the supervisor).
    pub fn create(slots: usize) -> io::Result<WorkerCounters> {
        let fd = memfd()?;
        let len = region_len(slots)?;
        // The new bytes read as 0.
        rustix::fs::ftruncate(&fd, u64::try_from(len).map_err(io::Error::other)?)?;
        let counters = WorkerCounters::map(fd, slots, None)?;
        let header = counters.header();
        header.version.store(LAYOUT_VERSION, Ordering::Relaxed);
        header
            .slot_bytes
            .store(SLOT_BYTES as u64, Ordering::Relaxed);
        header.magic.store(MAGIC, Ordering::Relaxed);
        Ok(counters)
    }

    /// Map a region passed down by the supervisor, as the writer of slot
    /// `own` (a worker). Refused when its header says another layout (see
    /// "The header"). The slot is claimed for this pid and its gauge of
    /// open connections reset.
    pub fn open(fd: OwnedFd, own: usize) -> io::Result<WorkerCounters> {
        let len = usize::try_from(rustix::fs::fstat(&fd)?.st_size).map_err(io::Error::other)?;
        let slots = len.saturating_sub(HEADER_BYTES) / SLOT_BYTES;
        if slots == 0 {
            return Err(another_layout("too small for a header and a slot"));
        }
        let mut counters = WorkerCounters::map(fd, slots, Some(own))?;
        let header = counters.header();
        let magic = header.magic.load(Ordering::Relaxed);
        let version = header.version.load(Ordering::Relaxed);
        let slot_bytes = header.slot_bytes.load(Ordering::Relaxed);
        if magic != MAGIC {
            return Err(another_layout("no header: a supervisor older than it"));
        }
        if version != LAYOUT_VERSION || slot_bytes != SLOT_BYTES as u64 {
            return Err(another_layout(&format!(
                "layout version {version} with {slot_bytes}-byte slots, this binary's is \
                 version {LAYOUT_VERSION} with {SLOT_BYTES}-byte slots"
            )));
        }
        if own >= slots {
            return Err(io::Error::other(format!(
                "worker slot {own} is outside the shared region ({slots} slots)"
            )));
        }
        let mut carried = [0u64; VALUES];
        if let Some(slot) = counters.slot(own) {
            for (value, cell) in carried.iter_mut().zip(&slot.values) {
                *value = cell.load(Ordering::Relaxed);
            }
            if let Some(active) = slot.values.get(ACTIVE) {
                active.store(0, Ordering::Relaxed);
            }
            slot.pid
                .store(u64::from(std::process::id()), Ordering::Relaxed);
        }
        if let Some(active) = carried.get_mut(ACTIVE) {
            *active = 0;
        }
        counters.carried = carried;
        Ok(counters)
    }

    fn map(fd: OwnedFd, slots: usize, own: Option<usize>) -> io::Result<WorkerCounters> {
        let len = region_len(slots)?;
        use rustix::mm::{MapFlags, ProtFlags};
        // SAFETY: a new shared mapping at an address the kernel picks (a
        // null hint), so it replaces no existing mapping; `len` bytes of a
        // file we own that has at least that size. Nothing in this process
        // reaches it but through this struct, which unmaps it on drop.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )?
        };
        let base = NonNull::new(ptr.cast::<Header>()).ok_or_else(|| io::Error::other("mmap"))?;
        Ok(WorkerCounters {
            base,
            slots,
            own,
            carried: [0; VALUES],
            fd,
        })
    }

    /// The descriptor to pass to a worker.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// How many slots the region has.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// The slot this process writes, if any.
    pub fn own(&self) -> Option<usize> {
        self.own
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a Header (`region_len`); Header
        // is only atomics, valid for any bytes, and shared references to
        // atomics may alias across processes.
        unsafe { self.base.as_ref() }
    }

    fn slot(&self, index: usize) -> Option<&Slot> {
        if index >= self.slots {
            return None;
        }
        // SAFETY: the slots follow the header (`region_len`), and the
        // header's size is a multiple of a slot's alignment (both 128), so
        // the first slot, just past it, is aligned; index < slots, and the
        // mapping holds `slots` slots. Slot is only atomics, valid for any
        // bytes (zero included), and shared references to atomics may
        // alias across processes.
        Some(unsafe { &*self.base.as_ptr().add(1).cast::<Slot>().add(index) })
    }

    /// Copy the reactor's counters into our slot, and bump its heartbeat.
    ///
    /// A worker calls this once per iteration of its loop (at least once a
    /// second, which the supervisor's stall check relies on: see "The
    /// heartbeat").
    pub fn publish(&self, metrics: &Metrics) {
        let Some(slot) = self.own.and_then(|own| self.slot(own)) else {
            return;
        };
        // One writer per slot: a load and a store, no atomic
        // read-modify-write (a locked instruction on x86) needed.
        let beat = slot.heartbeat.load(Ordering::Relaxed);
        slot.heartbeat
            .store(beat.wrapping_add(1), Ordering::Relaxed);
        let values = metrics.values();
        for ((cell, value), carried) in slot.values.iter().zip(values).zip(self.carried) {
            cell.store(carried.wrapping_add(value), Ordering::Relaxed);
        }
    }

    /// Copy a protocol's own counters (at most [`PROTOCOL_VALUES`]) into
    /// our slot.
    pub fn publish_protocol(&self, values: &[u64]) {
        let Some(slot) = self.own.and_then(|own| self.slot(own)) else {
            return;
        };
        let cells = slot.values.iter().zip(self.carried).skip(REACTOR_VALUES);
        for ((cell, carried), &value) in cells.zip(values) {
            cell.store(carried.wrapping_add(value), Ordering::Relaxed);
        }
    }

    /// The worker in `slot` has exited (the supervisor saw it): its
    /// connections are gone, so its gauge of open ones is zeroed. Its
    /// counters stay.
    pub fn worker_exited(&self, slot: usize) {
        if let Some(active) = self.slot(slot).and_then(|slot| slot.values.get(ACTIVE)) {
            active.store(0, Ordering::Relaxed);
        }
    }

    /// The heartbeat of the worker in `slot` (None for a slot outside the
    /// region): a number that changes on every iteration of its loop.
    pub fn heartbeat(&self, slot: usize) -> Option<u64> {
        Some(self.slot(slot)?.heartbeat.load(Ordering::Relaxed))
    }

    /// Connections open in every worker together (the gauge summed).
    pub fn connections_active(&self) -> u64 {
        self.read()
            .filter_map(|slot| slot.values.get(ACTIVE).copied())
            .fold(0, u64::wrapping_add)
    }

    /// Every slot a worker has written (pid set), in index order.
    pub fn read(&self) -> impl Iterator<Item = SlotValues> + '_ {
        (0..self.slots).filter_map(|index| {
            let slot = self.slot(index)?;
            let pid = slot.pid.load(Ordering::Relaxed);
            if pid == 0 {
                return None;
            }
            let mut values = [0u64; VALUES];
            for (value, cell) in values.iter_mut().zip(&slot.values) {
                *value = cell.load(Ordering::Relaxed);
            }
            Some(SlotValues { index, pid, values })
        })
    }

    /// The sum of every slot.
    pub fn totals(&self) -> [u64; VALUES] {
        let mut totals = [0u64; VALUES];
        for slot in self.read() {
            for (total, value) in totals.iter_mut().zip(slot.values) {
                *total = total.wrapping_add(value);
            }
        }
        totals
    }
}

/// /metrics under `--workers`: every slot added up.
impl ServerTotals for WorkerCounters {
    fn publish(&self, own: &Metrics) {
        WorkerCounters::publish(self, own);
    }

    fn publish_protocol(&self, own: &[u64]) {
        WorkerCounters::publish_protocol(self, own);
    }

    fn reactor_totals(&self) -> [u64; REACTOR_COUNTERS] {
        let mut values = [0u64; REACTOR_COUNTERS];
        for (value, total) in values.iter_mut().zip(self.totals()) {
            *value = total;
        }
        values
    }

    fn protocol_totals(&self, totals: &mut [u64]) {
        let sums = self.totals();
        for (value, total) in totals.iter_mut().zip(sums.iter().skip(REACTOR_VALUES)) {
            *value = *total;
        }
    }

    fn each_process(&self, row: &mut dyn FnMut(ProcessShare)) {
        for slot in self.read() {
            row(ProcessShare {
                index: slot.index,
                pid: slot.pid,
                accepted: slot.values.first().copied().unwrap_or(0),
                active: slot.values.get(ACTIVE).copied().unwrap_or(0),
            });
        }
    }
}

impl Drop for WorkerCounters {
    fn drop(&mut self) {
        if let Ok(len) = region_len(self.slots) {
            // SAFETY: the mapping made in `map`, of this length; no
            // reference into it outlives `self` (`slot` borrows `self`).
            let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), len) };
        }
    }
}

/// A header, then `slots` slots.
fn region_len(slots: usize) -> io::Result<usize> {
    slots
        .checked_mul(SLOT_BYTES)
        .filter(|&len| len > 0)
        .and_then(|len| len.checked_add(HEADER_BYTES))
        .ok_or_else(|| io::Error::other("bad number of worker slots"))
}

/// A worker's refusal of a region laid out by another version.
fn another_layout(why: &str) -> io::Error {
    io::Error::other(format!(
        "the supervisor's shared counters are laid out differently ({why}): restart the \
         whole service to upgrade across this change (a SIGHUP restart cannot)"
    ))
}

/// An anonymous file to share: a memfd on Linux.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn memfd() -> io::Result<OwnedFd> {
    use rustix::fs::MemfdFlags;
    Ok(rustix::fs::memfd_create(
        c"reactord-metrics",
        MemfdFlags::CLOEXEC,
    )?)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn memfd() -> io::Result<OwnedFd> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "--workers needs Linux (memfd_create)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn active_is_the_place_of_connections_active_in_a_slot() {
        let mut metrics = Metrics::new(Instant::now());
        metrics.connections_active = 42;
        assert_eq!(metrics.values()[ACTIVE], 42);
    }

    #[test]
    fn two_mappings_of_one_region_see_each_others_slots() -> io::Result<()> {
        let supervisor = WorkerCounters::create(4)?;
        let fd = supervisor.fd().try_clone_to_owned()?;
        let worker = WorkerCounters::open(fd, 2)?;
        let mut metrics = Metrics::new(Instant::now());
        metrics.connections_accepted = 5;
        metrics.bytes_written = 7;
        worker.publish(&metrics);
        worker.publish_protocol(&[0, 3]);
        let slots: Vec<_> = supervisor.read().collect();
        assert_eq!(slots.len(), 1);
        assert_eq!(slots[0].index, 2);
        assert_eq!(slots[0].pid, u64::from(std::process::id()));
        let totals = supervisor.totals();
        assert_eq!(totals[0], 5);
        assert_eq!(totals[6], 7);
        assert_eq!(totals[REACTOR_VALUES + 1], 3);
        // The supervisor writes nothing.
        supervisor.publish(&metrics);
        assert_eq!(supervisor.totals()[0], 5);
        Ok(())
    }

    #[test]
    fn a_replacement_counts_on_from_its_predecessors_values() -> io::Result<()> {
        let supervisor = WorkerCounters::create(1)?;
        let mut metrics = Metrics::new(Instant::now());
        metrics.connections_accepted = 5;
        metrics.connections_active = 2;
        {
            let dead = WorkerCounters::open(supervisor.fd().try_clone_to_owned()?, 0)?;
            dead.publish(&metrics);
            dead.publish_protocol(&[0, 4]);
        }
        let replacement = WorkerCounters::open(supervisor.fd().try_clone_to_owned()?, 0)?;
        assert_eq!(supervisor.totals()[ACTIVE], 0, "the gauge starts again");
        assert_eq!(supervisor.totals()[0], 5, "the counters do not");
        metrics.connections_accepted = 3;
        metrics.connections_active = 1;
        replacement.publish(&metrics);
        replacement.publish_protocol(&[0, 1]);
        let totals = supervisor.totals();
        assert_eq!(totals[0], 8);
        assert_eq!(totals[ACTIVE], 1);
        assert_eq!(totals[REACTOR_VALUES + 1], 5);
        Ok(())
    }

    #[test]
    fn every_publish_moves_the_heartbeat_and_the_open_gauge_is_named() -> io::Result<()> {
        let supervisor = WorkerCounters::create(2)?;
        let worker = WorkerCounters::open(supervisor.fd().try_clone_to_owned()?, 1)?;
        let mut metrics = Metrics::new(Instant::now());
        metrics.connections_active = 4;
        let before = supervisor.heartbeat(1);
        worker.publish(&metrics);
        let after = supervisor.heartbeat(1);
        assert_ne!(before, after, "a turn must move the heartbeat");
        worker.publish(&metrics);
        assert_ne!(after, supervisor.heartbeat(1));
        assert_eq!(supervisor.heartbeat(0), Some(0), "no turn, no beat");
        assert_eq!(supervisor.heartbeat(2), None);
        assert_eq!(supervisor.connections_active(), 4);
        Ok(())
    }

    #[test]
    fn a_slot_is_the_size_the_docs_say() {
        // docs/operations.md: "`SLOT_BYTES` (384 bytes)", and no two slots
        // share a cache line.
        assert_eq!(SLOT_BYTES, 384);
        assert_eq!(SLOT_BYTES % 128, 0);
    }

    #[test]
    fn the_header_is_a_cache_line_and_the_slots_stay_aligned() {
        assert_eq!(HEADER_BYTES, 128);
        assert_eq!(HEADER_BYTES % std::mem::align_of::<Slot>(), 0);
    }

    /// A region as a supervisor from before the header made it: slots
    /// from the first byte.
    fn a_region_without_a_header(slots: usize) -> io::Result<OwnedFd> {
        let fd = memfd()?;
        rustix::fs::ftruncate(&fd, (slots * SLOT_BYTES) as u64)?;
        Ok(fd)
    }

    #[test]
    fn a_region_of_another_layout_is_refused_with_the_remedy() -> io::Result<()> {
        let refusal = |fd| match WorkerCounters::open(fd, 0) {
            Ok(_) => panic!("a region of another layout was taken"),
            Err(err) => err.to_string(),
        };
        // An older supervisor's region: its first word is the first
        // slot's pid (none yet here).
        let said = refusal(a_region_without_a_header(3)?);
        assert!(said.contains("no header"), "{said}");
        assert!(said.contains("restart the whole service"), "{said}");

        // A header with another version, then another slot size.
        let supervisor = WorkerCounters::create(2)?;
        supervisor
            .header()
            .version
            .store(LAYOUT_VERSION + 1, Ordering::Relaxed);
        let said = refusal(supervisor.fd().try_clone_to_owned()?);
        assert!(said.contains("restart the whole service"), "{said}");
        supervisor
            .header()
            .version
            .store(LAYOUT_VERSION, Ordering::Relaxed);
        supervisor.header().slot_bytes.store(256, Ordering::Relaxed);
        let said = refusal(supervisor.fd().try_clone_to_owned()?);
        assert!(said.contains("256-byte slots"), "{said}");
        supervisor
            .header()
            .slot_bytes
            .store(SLOT_BYTES as u64, Ordering::Relaxed);
        assert!(WorkerCounters::open(supervisor.fd().try_clone_to_owned()?, 1).is_ok());
        Ok(())
    }

    #[test]
    fn a_slot_outside_the_region_is_refused() -> io::Result<()> {
        let supervisor = WorkerCounters::create(2)?;
        let fd = supervisor.fd().try_clone_to_owned()?;
        assert!(WorkerCounters::open(fd, 2).is_err());
        Ok(())
    }
}
