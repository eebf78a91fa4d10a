//! `--workers N`: a small supervisor process that owns the listening
//! socket and keeps N single-threaded workers serving it.
//!
//! # Shape
//!
//! The supervisor binds the socket (or inherits it from the service
//! manager), creates the shared counters (`worker_metrics`), and starts
//! each worker by running the binary again (`fork` + `exec`) with three
//! inherited descriptors and a marker in its environment:
//!
//! | fd | what |
//! |---|---|
//! | 3 | the listening socket |
//! | 4 | the shared counters (a memfd) |
//! | 5 | a datagram socket pair back to the supervisor, for `READY=1` and `STOPPING=1` |
//! | 6 | the executable it runs (what is executed; the worker closes it) |
//!
//! and `REACTORD_WORKER=SLOT`. A worker is today's server: one thread, one
//! loop, with its listener registered for exclusive wake-ups (see
//! `Server::serve_as_worker`).
//!
//! # Why exec, not a bare fork
//!
//! A forked child would be a copy of the supervisor's memory, running the
//! supervisor's code: an upgraded binary would never run until the whole
//! service restarted. Running the program again means SIGHUP starts
//! workers from whatever binary is on disk now. The supervisor remembers
//! the program's path at start (`argv[0]` when it names a path, else the
//! resolved `/proc/self/exe`): after an upgrade that replaced the file,
//! `/proc/self/exe` names the old, deleted inode, while the path names the
//! new file.
//!
//! Each generation runs its own binary, though: the supervisor opens the
//! file at the path when it starts and at each SIGHUP, and starts every
//! worker of a generation, replacements included, from that generation's
//! descriptor (executed as `/proc/self/fd/6`). So while a restart's new
//! binary fails to start, the old generation is topped up from the old
//! binary, not from the broken one now at the path.
//!
//! # The loop
//!
//! The supervisor is a mio loop too, with no thread: the binary's signal
//! handlers write a byte to socket pairs this loop watches (SIGINT,
//! SIGTERM, SIGHUP, SIGCHLD), each worker's channel is one more source, and
//! the only timers are a replacement's back-off, the tick (status, watchdog,
//! readiness and heartbeat checks) and the stop deadline.
//!
//! - **SIGCHLD**: reap. A worker that exits while it should be serving is
//!   replaced, at once if it had lived a while, else after a back-off that
//!   doubles up to ten seconds (a worker that dies at start-up does not
//!   spin the machine). A worker of the first start that dies before it is
//!   ready is fatal: the configuration is wrong, and the supervisor exits 1.
//!   By the same rule, a restart's new worker that dies before it is ready
//!   gives the restart up (below).
//! - **SIGHUP**: start a new generation of N workers; once all of them have
//!   said `READY=1`, send SIGTERM to the old ones, which drain (finish what
//!   they hold, hand the queued connections to the new ones) and exit. The
//!   socket never closes, so nothing is refused. Until then the old
//!   generation serves, and one of its workers that dies is replaced (from
//!   the old binary).
//! - **A restart given up**: when a new worker dies before it is ready, or
//!   the restart is not complete within the readiness timeout of the
//!   SIGHUP (one deadline for the whole restart), the new workers that
//!   never said `READY=1` are killed, those that did drain like old ones
//!   (they are serving: killing them would reset their connections), and
//!   the old generation serves on, topped up. A broken binary on disk must
//!   not block every later SIGHUP.
//! - **The tick** (once a second): a restart past its deadline is given
//!   up; any other worker that has not said `READY=1` within the readiness
//!   timeout is killed. A ready worker whose heartbeat (`worker_metrics`,
//!   bumped on every iteration of its loop, which turns at least once a second)
//!   has not moved for the heartbeat timeout is stuck though alive: it is
//!   killed, and replaced like a worker that died.
//! - **SIGINT/SIGTERM**: SIGTERM to every worker, close our copy of the
//!   socket, wait for them (up to the shutdown timeout and a grace), exit
//!   0. A second signal kills them at once.

use crate::process::service::Notifier;
use crate::process::status::{STATUS_INTERVAL, StatusTick};
use crate::process::worker_metrics::WorkerCounters;
use crate::reactor::signal_streams::{Deliveries, SignalStreams, SignalTokens};
use crate::reactor::timer::deadline_after;
use log::{error, info, warn};
use mio::{Events, Interest, Poll, Token};
use std::ffi::OsString;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The environment variable that makes the binary a worker; its value is
/// the worker's slot in the shared counters.
pub const WORKER_ENV: &str = "REACTORD_WORKER";
/// A worker's listening socket.
pub const LISTENER_FD: RawFd = 3;
/// A worker's shared counters.
pub const COUNTERS_FD: RawFd = 4;
/// A worker's channel to the supervisor.
pub const CHANNEL_FD: RawFd = 5;
/// The executable a worker was started from, open in the child only to
/// be executed (see "Why exec" in the module docs); the worker closes it.
pub const PROGRAM_FD: RawFd = 6;
/// What the child executes: [`PROGRAM_FD`], by the one path that names an
/// open descriptor. Left open across the exec (not close-on-exec), so
/// that a script installed as the program can be read by its interpreter,
/// which opens this path again.
const PROGRAM_PATH: &str = "/proc/self/fd/6";

/// Descriptors handed to workers are kept at or above this in the
/// supervisor, so that putting them on 3, 4 and 5 in the child never
/// overwrites one not yet moved.
const FIRST_PRIVATE_FD: RawFd = 10;

/// Slots in the shared counters per wanted worker: the running ones, the
/// ones a restart starts, and old ones still draining.
const SLOTS_PER_WORKER: usize = 3;

/// A worker that lived at least this long before dying is replaced at once.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// The first back-off after a quick death, doubled each time, up to
/// [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long after the workers' own shutdown timeout they are killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// `--worker-ready-timeout`'s default: how long a new worker may take to
/// say `READY=1`. Generous (a worker is ready in milliseconds; systemd
/// gives a whole service 90 s by default): it exists to end a restart that
/// will never complete, not to hurry a slow one.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// `--worker-heartbeat-timeout`'s default: how long a ready worker's loop
/// may go without turning before it is replaced (gunicorn's worker
/// `--timeout` is 30 s too). A turn never takes that long unless the loop
/// is stuck.
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(30);

/// The shortest heartbeat timeout accepted: a worker's loop turns at least
/// once a second, and the supervisor looks once a second.
pub const MIN_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);

/// A tick later than planned by more than this is not used to judge the
/// workers (see `Supervisor::tick`).
const LATE_TICK: Duration = Duration::from_secs(3);

/// The tokens of the signal streams: the top of the token space, counting
/// down (see `reactor::signal_streams`); worker channels are their slot
/// numbers.
const SIGNAL_STREAMS: SignalTokens = SignalTokens::counting_down_from(Token(usize::MAX));

/// What a signal stream means to the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT, SIGTERM (named for the log): stop every worker and exit.
    Stop(&'static str),
    /// SIGHUP: replace every worker from the binary on disk.
    Reload,
    /// SIGCHLD: a worker exited.
    Child,
}

/// What a worker gets from its supervisor: the other end of
/// [`Supervisor::run`]'s descriptors.
#[derive(Debug)]
pub struct WorkerParts {
    /// The worker's slot in the shared counters (its `worker` label).
    pub slot: usize,
    /// The shared listening socket.
    pub listener: std::net::TcpListener,
    /// The shared counters, with this worker's slot claimed.
    pub counters: Arc<WorkerCounters>,
    /// The channel for `READY=1` and `STOPPING=1`.
    pub notifier: Notifier,
}

impl WorkerParts {
    /// When `REACTORD_WORKER` is set, this process is a worker: take the
    /// descriptors its supervisor left on 3, 4 and 5 (and remove the
    /// variable), and close the one it was executed from, on 6. None
    /// otherwise.
    ///
    /// # Safety
    ///
    /// - No other thread may exist: this changes the environment, which
    ///   another thread could be reading (`std::env::remove_var`).
    /// - When `REACTORD_WORKER` is set, descriptors 3, 4, 5 and 6 must be
    ///   the ones a [`Supervisor`] passed (6 may be closed: a supervisor
    ///   older than [`PROGRAM_FD`] passed none), and nothing else in the
    ///   process may own or use them: they are taken over (and closed on
    ///   drop). The
    ///   `reactord` binary calls this first thing in `main`.
    pub unsafe fn from_env() -> Result<Option<WorkerParts>, String> {
        let Some(slot) = std::env::var_os(WORKER_ENV) else {
            return Ok(None);
        };
        // SAFETY: the caller promises a single thread.
        unsafe { std::env::remove_var(WORKER_ENV) };
        let slot: usize = slot
            .to_str()
            .and_then(|slot| slot.parse().ok())
            .ok_or_else(|| format!("{WORKER_ENV} is not a slot number"))?;
        let broken = |err: io::Error| format!("worker {slot}: {err}");
        let [listener, counters, channel] = [LISTENER_FD, COUNTERS_FD, CHANNEL_FD].map(|fd| {
            // SAFETY: the caller promises these are the supervisor's
            // descriptors, open and owned by nothing else here.
            unsafe { crate::process::service::take_inherited(fd) }
        });
        // SAFETY: as above; closed at once, and not an error when absent.
        drop(unsafe { crate::process::service::take_inherited(PROGRAM_FD) });
        let listener =
            crate::process::service::listener_from_fd(listener.map_err(broken)?).map_err(broken)?;
        let counters = WorkerCounters::open(counters.map_err(broken)?, slot).map_err(broken)?;
        let channel = UnixDatagram::from(channel.map_err(broken)?);
        let notifier = Notifier::connected(channel).map_err(broken)?;
        Ok(Some(WorkerParts {
            slot,
            listener,
            counters: Arc::new(counters),
            notifier,
        }))
    }
}

/// What to run as a worker.
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    /// The program: see "Why exec" in the module docs.
    pub program: PathBuf,
    /// Its arguments (the supervisor's own command line).
    pub args: Vec<OsString>,
}

impl WorkerCommand {
    /// This process's own command line, with the program path resolved as
    /// the module docs say. Call it at start, before any upgrade can
    /// replace the file.
    pub fn this_process() -> io::Result<WorkerCommand> {
        let mut args = std::env::args_os();
        let argv0 = args.next().map(PathBuf::from);
        let program = match argv0 {
            Some(path) if path.components().count() > 1 => std::path::absolute(path)?,
            _ => std::env::current_exe()?,
        };
        Ok(WorkerCommand {
            program,
            args: args.collect(),
        })
    }
}

/// The supervisor's settings.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// How many workers to keep running.
    pub workers: usize,
    /// The workers' own drain limit (`--shutdown-timeout`).
    pub shutdown_timeout: Duration,
    /// How long a new worker may take to say `READY=1`
    /// (`--worker-ready-timeout`, [`DEFAULT_READY_TIMEOUT`]).
    pub ready_timeout: Duration,
    /// How long a ready worker's heartbeat may stand still
    /// (`--worker-heartbeat-timeout`, [`DEFAULT_HEARTBEAT_TIMEOUT`]).
    pub heartbeat_timeout: Duration,
    /// For the `listening on ADDR (PROTOCOL)` line.
    pub protocol: &'static str,
    /// What to run.
    pub command: WorkerCommand,
}

/// One running worker.
struct Worker {
    child: Child,
    generation: u64,
    channel: mio::net::UnixDatagram,
    ready: bool,
    draining: bool,
    /// Killed because the restart it belonged to was given up before it
    /// was ready: not replaced when it exits.
    abandoned: bool,
    /// Killed for a timeout (never ready, or a stalled heartbeat), not yet
    /// reaped: not checked again (a process in uninterruptible sleep
    /// outlives SIGKILL for a while), and replaced when reaped.
    killed: bool,
    started: Instant,
    /// When it must have said `READY=1` (see `check_readiness`).
    ready_by: Instant,
    /// The heartbeat last read in its slot, and when it was first seen
    /// with that value (None until the worker is ready).
    heartbeat: Option<(u64, Instant)>,
}

/// A SIGHUP restart under way; its new generation is
/// `Supervisor::generation`.
#[derive(Debug, Clone, Copy)]
struct Restart {
    /// The generation that serves until the new one is ready.
    serving: u64,
    /// When the whole restart is given up unless every new worker is
    /// ready: one deadline for the restart, whatever happens to its
    /// single workers (see `Supervisor::give_up_restart`).
    deadline: Instant,
}

/// The supervisor: see the module docs.
pub struct Supervisor {
    config: SupervisorConfig,
    poll: Poll,
    /// Our copy of the listening socket; dropped when stopping, so the
    /// socket closes with the last worker.
    listener: Option<OwnedFd>,
    local_addr: SocketAddr,
    listen_note: Option<String>,
    counters: WorkerCounters,
    /// The counters' descriptor, moved above the ones workers get.
    counters_fd: OwnedFd,
    /// Indexed by slot.
    workers: Vec<Option<Worker>>,
    /// The generation new workers join: the serving one, or a restart's
    /// until it is ready or given up.
    generation: u64,
    /// Some while a SIGHUP restart's generation starts.
    restart: Option<Restart>,
    /// Each generation that may still start workers, with its executable
    /// (see "Why exec" in the module docs): the current one, and during a
    /// restart the serving one.
    programs: Vec<(u64, OwnedFd)>,
    /// Generations numbered so far (a given-up restart's number is not
    /// reused, so its unreaped workers are never mistaken for new ones).
    generations_started: u64,
    /// The binary's signal self-pipes, each with its [`Signal`].
    signals: SignalStreams<Signal>,
    notifier: Option<Notifier>,
    /// Replacements to start: when, and of which generation.
    replacements: Vec<(Instant, u64)>,
    backoff: Backoff,
    /// Some once stopping: when the remaining workers are killed.
    stop_deadline: Option<Instant>,
    /// Whether every worker of the first generation has been ready once.
    started: bool,
    /// When the next STATUS= (and WATCHDOG=1) is due, and with it the
    /// next tick (see [`Supervisor::tick`]).
    status: StatusTick,
    /// When the last tick ran (see [`LATE_TICK`]).
    last_tick: Option<Instant>,
}

impl Supervisor {
    /// Take the listening socket (bound or inherited) and prepare the
    /// shared counters; nothing starts until [`Supervisor::run`].
    pub fn new(
        config: SupervisorConfig,
        listener: std::net::TcpListener,
    ) -> io::Result<Supervisor> {
        let local_addr = listener.local_addr()?;
        let listener = above_inherited(OwnedFd::from(listener))?;
        let slots = config
            .workers
            .checked_mul(SLOTS_PER_WORKER)
            .ok_or_else(|| io::Error::other("too many workers"))?;
        let counters = WorkerCounters::create(slots)?;
        let counters_fd = above_inherited(counters.fd().try_clone_to_owned()?)?;
        let program = open_program(&config.command.program)?;
        Ok(Supervisor {
            restart: None,
            programs: vec![(0, program)],
            counters_fd,
            poll: Poll::new()?,
            listener: Some(listener),
            local_addr,
            listen_note: None,
            counters,
            workers: (0..slots).map(|_| None).collect(),
            generation: 0,
            generations_started: 0,
            signals: SignalStreams::new(SIGNAL_STREAMS),
            notifier: None,
            replacements: Vec::new(),
            backoff: Backoff::default(),
            stop_deadline: None,
            started: false,
            status: StatusTick::at(Instant::now()),
            last_tick: None,
            config,
        })
    }

    /// The listening socket's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A line logged after `listening on` (where the socket came from).
    pub fn note_after_listening(&mut self, note: impl Into<String>) {
        self.listen_note = Some(note.into());
    }

    /// Tell the service manager: READY=1 once every worker is ready (and
    /// again after each restart), STOPPING=1, STATUS= and WATCHDOG=1.
    pub fn notify_with(&mut self, notifier: Notifier) {
        self.notifier = Some(notifier);
    }

    /// Every byte on `stream` is one `signal` (the binary's signal-hook
    /// self-pipes, as for `Server::shutdown_when_readable`).
    pub fn on_signal(&mut self, stream: mio::net::UnixStream, signal: Signal) -> io::Result<()> {
        self.signals.watch(self.poll.registry(), stream, signal)
    }

    /// Start the workers and supervise them until a stop signal has
    /// drained them all. An error means the workers could not be started.
    pub fn run(mut self) -> Result<(), String> {
        info!(
            "listening on {} ({})",
            self.local_addr, self.config.protocol
        );
        if let Some(note) = &self.listen_note {
            info!("{note}");
        }
        info!(
            "supervisor (pid {}): starting {} workers from {}",
            std::process::id(),
            self.config.workers,
            self.config.command.program.display()
        );
        for _ in 0..self.config.workers {
            self.start_worker(0)
                .map_err(|err| format!("cannot start a worker: {err}"))?;
        }
        let mut events = Events::with_capacity(64);
        loop {
            let timeout = self.poll_timeout(Instant::now());
            if let Err(err) = self.poll.poll(&mut events, Some(timeout)) {
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("supervisor loop failed: {err}"));
            }
            for event in events.iter() {
                let token = event.token();
                if SIGNAL_STREAMS.contains(token) {
                    // Each byte is one signal, acted on in turn.
                    if let Some(Deliveries { meaning, count }) = self.signals.drain(token) {
                        for _ in 0..count {
                            if self.on_signal_received(meaning)? == Control::Exit {
                                return Ok(());
                            }
                        }
                    }
                } else {
                    self.read_channel(token.0);
                }
            }
            let now = Instant::now();
            // A SIGCHLD can be merged with another: reaping is cheap, so
            // look every turn.
            self.reap()?;
            self.start_due_replacements(now);
            if now >= self.status.due() {
                self.tick(now);
            }
            if self.stop_deadline.is_some() {
                if self.workers.iter().all(Option::is_none) {
                    info!("shutdown complete: every worker has exited");
                    return Ok(());
                }
                if self.stop_deadline.is_some_and(|deadline| now >= deadline) {
                    warn!("workers still running after the shutdown timeout: killing them");
                    self.kill_all();
                    return Ok(());
                }
            }
        }
    }

    fn poll_timeout(&self, now: Instant) -> Duration {
        let mut next = self.status.due();
        for &(due, _) in &self.replacements {
            next = next.min(due);
        }
        if let Some(deadline) = self.stop_deadline {
            next = next.min(deadline);
        }
        next.saturating_duration_since(now)
    }

    fn on_signal_received(&mut self, signal: Signal) -> Result<Control, String> {
        match signal {
            Signal::Stop(name) => {
                if self.stop_deadline.is_some() {
                    warn!("{name} received again: killing every worker now");
                    self.kill_all();
                    return Ok(Control::Exit);
                }
                self.stop(name);
            }
            Signal::Reload => self.reload(),
            Signal::Child => self.reap()?,
        }
        Ok(Control::Continue)
    }

    /// Begin the final drain.
    fn stop(&mut self, name: &str) {
        let running = self.workers.iter().flatten().count();
        info!(
            "{name} received: stopping {running} workers, waiting up to {:?}",
            self.config.shutdown_timeout
        );
        if let Some(notifier) = &self.notifier {
            notifier.notify("STOPPING=1");
        }
        self.listener = None;
        self.replacements.clear();
        self.restart = None;
        self.stop_deadline =
            Some(Instant::now() + self.config.shutdown_timeout.saturating_add(STOP_GRACE));
        for worker in self.workers.iter_mut().flatten() {
            worker.draining = true;
            terminate(&worker.child);
        }
    }

    /// SIGHUP: start a new generation from the binary on disk now; the old
    /// one drains once the new one is ready (see `after_ready`), or serves
    /// on if it never is (see `give_up_restart`).
    fn reload(&mut self) {
        if self.stop_deadline.is_some() {
            return;
        }
        if !self.started {
            warn!("SIGHUP received while the first workers are still starting: ignored");
            return;
        }
        if self.restart.is_some() {
            warn!(
                "SIGHUP received while a restart is under way: ignored (it is given up unless \
                 its workers are ready within {:?} of its start)",
                self.config.ready_timeout
            );
            return;
        }
        let free = self.workers.iter().filter(|w| w.is_none()).count();
        if free < self.config.workers {
            warn!("SIGHUP received while old workers are still draining: ignored");
            return;
        }
        let path = &self.config.command.program;
        let program = match open_program(path) {
            Ok(program) => program,
            Err(err) => {
                error!(
                    "SIGHUP received: cannot open {}: {err}; the running workers serve on",
                    path.display()
                );
                return;
            }
        };
        info!(
            "SIGHUP received: starting {} new workers from {}",
            self.config.workers,
            path.display()
        );
        let now = Instant::now();
        self.restart = Some(Restart {
            serving: self.generation,
            deadline: deadline_after(now, self.config.ready_timeout),
        });
        self.generations_started += 1;
        self.generation = self.generations_started;
        self.programs.push((self.generation, program));
        for _ in 0..self.config.workers {
            if let Err(err) = self.start_worker(self.generation) {
                self.give_up_restart(format!("cannot start a new worker: {err}"));
                return;
            }
        }
    }

    /// Start one worker of `generation` in a free slot, from that
    /// generation's executable.
    fn start_worker(&mut self, generation: u64) -> io::Result<()> {
        let Some(listener) = self.listener.as_ref() else {
            return Err(io::Error::other("stopping"));
        };
        let Some((_, program)) = self.programs.iter().find(|(g, _)| *g == generation) else {
            return Err(io::Error::other(format!(
                "generation {generation} is not serving"
            )));
        };
        let slot = self
            .workers
            .iter()
            .position(Option::is_none)
            .ok_or_else(|| io::Error::other("no free worker slot"))?;
        let (ours, theirs) = UnixDatagram::pair()?;
        let theirs = above_inherited(OwnedFd::from(theirs))?;
        let fds = [
            (listener.as_raw_fd(), LISTENER_FD),
            (self.counters_fd.as_raw_fd(), COUNTERS_FD),
            (theirs.as_raw_fd(), CHANNEL_FD),
            (program.as_raw_fd(), PROGRAM_FD),
        ];
        let supervisor = std::process::id();
        let mut command = Command::new(PROGRAM_PATH);
        command
            // What `ps` shows, and what a script sees as its name.
            .arg0(&self.config.command.program)
            .args(&self.config.command.args)
            .env(WORKER_ENV, slot.to_string())
            .stdin(Stdio::null())
            // Its own process group: a Ctrl-C in a terminal reaches the
            // supervisor only, which stops the workers once (a worker that
            // got SIGINT and then our SIGTERM would take the second signal
            // as "exit now").
            .process_group(0);
        // SAFETY: `child_setup` runs in the child between fork and exec,
        // where only async-signal-safe calls are sound (another thread of
        // ours may have held a lock at the fork). It makes three kinds of
        // system call, dup2, prctl and getppid, each a bare syscall, on
        // integers captured by value, and allocates nothing: its errors
        // are raw OS error codes. The path it leaves for exec (`PROGRAM_PATH`)
        // was made a C string by `Command` before the fork.
        unsafe {
            command.pre_exec(move || child_setup(&fds, supervisor));
        }
        let child = command.spawn()?;
        drop(theirs);
        ours.set_nonblocking(true)?;
        let mut channel = mio::net::UnixDatagram::from_std(ours);
        self.poll
            .registry()
            .register(&mut channel, Token(slot), Interest::READABLE)?;
        info!(
            "worker {slot} started (pid {}, generation {generation})",
            child.id(),
        );
        if let Some(entry) = self.workers.get_mut(slot) {
            *entry = Some(Worker {
                child,
                generation,
                channel,
                ready: false,
                draining: false,
                abandoned: false,
                killed: false,
                started: Instant::now(),
                ready_by: deadline_after(Instant::now(), self.config.ready_timeout),
                heartbeat: None,
            });
        }
        Ok(())
    }

    /// Read a worker's notifications.
    fn read_channel(&mut self, slot: usize) {
        let Some(Some(worker)) = self.workers.get_mut(slot) else {
            return;
        };
        let mut buf = [0u8; 256];
        let mut became_ready = false;
        loop {
            match worker.channel.recv(&mut buf) {
                // Workers never send an empty message: this is the end.
                Ok(0) => break,
                Ok(n) => {
                    let message = buf.get(..n).unwrap_or_default();
                    if message
                        .split(|&b| b == b'\n')
                        .any(|line| line == b"READY=1")
                        && !worker.ready
                    {
                        worker.ready = true;
                        became_ready = true;
                        info!("worker {slot} (pid {}) ready", worker.child.id());
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        if became_ready {
            self.after_ready();
        }
    }

    /// Once the whole current generation is ready: tell the service
    /// manager, and drain the previous generation.
    fn after_ready(&mut self) {
        let current = self.generation;
        let ready = self
            .workers
            .iter()
            .flatten()
            .filter(|w| w.generation == current && w.ready)
            .count();
        if ready < self.config.workers || self.stop_deadline.is_some() {
            return;
        }
        // The restart is complete: only the new generation starts workers
        // from now on.
        self.restart = None;
        self.programs.retain(|(g, _)| *g == current);
        self.replacements.retain(|(_, g)| *g == current);
        let mut drained = 0;
        for worker in self.workers.iter_mut().flatten() {
            if worker.generation < current && !worker.draining {
                worker.draining = true;
                terminate(&worker.child);
                drained += 1;
            }
        }
        if !self.started {
            self.started = true;
            info!("all {ready} workers ready");
        } else if drained > 0 {
            info!("restart: {ready} new workers ready, draining {drained} old ones");
        }
        if let Some(notifier) = &self.notifier {
            notifier.notify("READY=1");
        }
    }

    /// Collect the workers that exited, and replace those that should not
    /// have. Fatal only when a first-generation worker dies before the
    /// server ever was ready; a restart's new worker that dies before it
    /// is ready gives the restart up, by the same rule (the binary on disk
    /// does not start).
    fn reap(&mut self) -> Result<(), String> {
        let now = Instant::now();
        for slot in 0..self.workers.len() {
            let Some(Some(worker)) = self.workers.get_mut(slot) else {
                continue;
            };
            let status = match worker.child.try_wait() {
                Ok(Some(status)) => status,
                Ok(None) => continue,
                Err(err) => {
                    warn!("waiting for worker {slot}: {err}");
                    continue;
                }
            };
            let Some(Some(mut worker)) = self.workers.get_mut(slot).map(Option::take) else {
                continue;
            };
            let _ = self.poll.registry().deregister(&mut worker.channel);
            self.counters.worker_exited(slot);
            let pid = worker.child.id();
            if worker.draining {
                info!("worker {slot} (pid {pid}) exited after draining ({status})");
                continue;
            }
            if worker.abandoned {
                info!("worker {slot} (pid {pid}) of the given-up restart exited ({status})");
                continue;
            }
            if !self.started && !worker.ready {
                self.kill_all();
                return Err(format!(
                    "worker {slot} (pid {pid}) failed to start ({})",
                    describe(status)
                ));
            }
            let restarting = self.restart.is_some() && worker.generation == self.generation;
            if restarting && !worker.ready {
                self.give_up_restart(format!(
                    "worker {slot} (pid {pid}) exited before it was ready ({})",
                    describe(status)
                ));
                continue;
            }
            let serving = self.restart.map(|r| r.serving);
            if worker.generation != self.generation && Some(worker.generation) != serving {
                // Of a generation that neither serves nor starts: nothing
                // to replace it with.
                warn!("old worker {slot} (pid {pid}) died ({status})");
                continue;
            }
            let wait = self
                .backoff
                .after_death(now.saturating_duration_since(worker.started));
            warn!(
                "worker {slot} (pid {pid}) died ({}); starting a replacement in {wait:?}",
                describe(status),
            );
            self.schedule_replacement(now, wait, worker.generation);
        }
        Ok(())
    }

    fn schedule_replacement(&mut self, now: Instant, wait: Duration, generation: u64) {
        self.replacements
            .push((deadline_after(now, wait), generation));
    }

    fn start_due_replacements(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .replacements
            .iter()
            .filter(|(at, _)| *at <= now)
            .map(|&(_, generation)| generation)
            .collect();
        if due.is_empty() {
            return;
        }
        self.replacements.retain(|(at, _)| *at > now);
        for generation in due {
            if let Err(err) = self.start_worker(generation) {
                let wait = self.backoff.after_failure();
                error!("cannot start a replacement worker: {err}; retrying in {wait:?}");
                self.schedule_replacement(now, wait, generation);
            }
        }
    }

    /// The once-a-second work: watch the workers, and report to the
    /// service manager.
    ///
    /// A tick much later than planned means this process did not run for
    /// a while (the machine was overloaded, the VM paused), and the
    /// workers most likely did not either: their silence then says nothing
    /// about them, so instead of judging it, every readiness deadline is
    /// moved on by the gap and every heartbeat is watched afresh. "Much
    /// later" is [`LATE_TICK`], or half the heartbeat timeout when that is
    /// less: with a short timeout, a smaller gap is already a good part of
    /// the silence a worker is allowed.
    fn tick(&mut self, now: Instant) {
        let planned = self.last_tick.map(|at| deadline_after(at, STATUS_INTERVAL));
        let late = planned.map_or(Duration::ZERO, |at| now.saturating_duration_since(at));
        self.last_tick = Some(now);
        if late > LATE_TICK.min(self.config.heartbeat_timeout / 2) {
            warn!(
                "the supervisor did not run for {:.1} s: the workers' silence is forgiven",
                late.as_secs_f64()
            );
            for worker in self.workers.iter_mut().flatten() {
                worker.ready_by = deadline_after(worker.ready_by, late);
                worker.heartbeat = None;
            }
            if let Some(restart) = &mut self.restart {
                restart.deadline = deadline_after(restart.deadline, late);
            }
        } else {
            self.check_readiness(now);
            self.check_heartbeats(now);
        }
        self.report_status(now);
    }

    /// A restart not complete by its deadline is given up (see
    /// [`Supervisor::give_up_restart`]). Any other worker that has not said
    /// `READY=1` within the readiness timeout (the first start's, a
    /// replacement's) is killed, and its exit handled as a death: fatal at
    /// the first start, else replaced after the back-off.
    fn check_readiness(&mut self, now: Instant) {
        if self.stop_deadline.is_some() {
            return;
        }
        let timeout = self.config.ready_timeout;
        if self.restart.is_some_and(|restart| now >= restart.deadline) {
            let current = self.generation;
            let late = self.workers.iter().enumerate().find_map(|(slot, worker)| {
                let worker = worker.as_ref()?;
                (worker.generation == current && !worker.ready)
                    .then(|| format!("worker {slot} (pid {})", worker.child.id()))
            });
            let late = late.unwrap_or_else(|| "a new worker".to_string());
            self.give_up_restart(format!("{late} not ready after {timeout:?}"));
        }
        for (slot, entry) in self.workers.iter_mut().enumerate() {
            let Some(worker) = entry else {
                continue;
            };
            let waiting = !worker.ready && !worker.draining && !worker.abandoned;
            if waiting && !worker.killed && now >= worker.ready_by {
                warn!(
                    "worker {slot} (pid {}) not ready after {timeout:?}: killing it",
                    worker.child.id()
                );
                worker.killed = true;
                let _ = worker.child.kill();
            }
        }
    }

    /// A restart's new generation will not be ready (`why` says what
    /// happened): go back to the generation that serves, topping it up if
    /// some of its workers died meanwhile. The new workers that never
    /// said `READY=1` are killed; those that did are serving, so they drain
    /// like any old worker (killing them would reset their connections).
    /// A later SIGHUP starts a restart again.
    fn give_up_restart(&mut self, why: String) {
        let Some(restart) = self.restart.take() else {
            return;
        };
        let current = self.generation;
        let (mut killed, mut drained) = (0, 0);
        for worker in self.workers.iter_mut().flatten() {
            if worker.generation != current || worker.abandoned || worker.draining {
                continue;
            }
            if worker.ready {
                worker.draining = true;
                terminate(&worker.child);
                drained += 1;
            } else {
                worker.abandoned = true;
                let _ = worker.child.kill();
                killed += 1;
            }
        }
        let previous = restart.serving;
        self.generation = previous;
        self.programs.retain(|(g, _)| *g == previous);
        self.replacements.retain(|(_, g)| *g == previous);
        let serving = self
            .workers
            .iter()
            .flatten()
            .filter(|w| w.generation == previous && !w.draining)
            .count();
        let pending = self.replacements.len();
        warn!(
            "restart given up: {why}; killed the {killed} new workers not ready, draining the \
             {drained} ready ones; the {serving} old ones keep serving"
        );
        let now = Instant::now();
        for _ in (serving + pending)..self.config.workers {
            self.schedule_replacement(now, Duration::ZERO, previous);
        }
    }

    /// Kill the ready workers whose heartbeat has not moved for the
    /// heartbeat timeout: their loop stopped turning though the process
    /// lives. Each is replaced when reaped, like a worker that died.
    fn check_heartbeats(&mut self, now: Instant) {
        let timeout = self.config.heartbeat_timeout;
        for (slot, entry) in self.workers.iter_mut().enumerate() {
            let Some(worker) = entry else {
                continue;
            };
            if !worker.ready || worker.killed {
                continue;
            }
            let Some(beat) = self.counters.heartbeat(slot) else {
                continue;
            };
            match worker.heartbeat {
                Some((seen, since)) if seen == beat => {
                    let still = now.saturating_duration_since(since);
                    if still >= timeout {
                        warn!(
                            "worker {slot} (pid {}) stalled: its loop has not turned for \
                             {} s; killing it",
                            worker.child.id(),
                            still.as_secs()
                        );
                        worker.killed = true;
                        let _ = worker.child.kill();
                    }
                }
                _ => worker.heartbeat = Some((beat, now)),
            }
        }
    }

    fn report_status(&mut self, now: Instant) {
        let running = self.workers.iter().flatten().count();
        let open = self.counters.connections_active();
        self.status.report(
            self.notifier.as_ref(),
            now,
            &format!("{running} workers, {open} connections open"),
        );
    }

    /// SIGKILL every worker and reap them.
    fn kill_all(&mut self) {
        for worker in self.workers.iter_mut().filter_map(Option::take) {
            let mut child = worker.child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How long to wait before replacing a worker: nothing after a worker
/// that ran [`STABLE_AFTER`] or more, else [`MIN_BACKOFF`] doubling up to
/// [`MAX_BACKOFF`], so a worker that dies at start-up cannot spin the
/// machine.
#[derive(Debug, Default)]
struct Backoff {
    /// The wait for the next quick death.
    next: Duration,
}

impl Backoff {
    /// A worker died after running `lived`: the wait before its replacement.
    fn after_death(&mut self, lived: Duration) -> Duration {
        if lived >= STABLE_AFTER {
            self.next = Duration::ZERO;
        }
        self.grow()
    }

    /// Starting a replacement failed: the wait before trying again (never
    /// zero).
    fn after_failure(&mut self) -> Duration {
        self.grow().max(MIN_BACKOFF)
    }

    /// The current wait; the next one doubles.
    fn grow(&mut self) -> Duration {
        let wait = self.next;
        self.next = self.next.saturating_mul(2).clamp(MIN_BACKOFF, MAX_BACKOFF);
        wait
    }
}

/// Whether the loop goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Continue,
    Exit,
}

/// Ask a worker to drain.
fn terminate(child: &Child) {
    use rustix::process::{Pid, Signal, kill_process};
    // Our own unreaped child: the pid is still its.
    let _ = kill_process(Pid::from_child(child), Signal::TERM);
}

/// "exit status 1", "signal 9 (SIGKILL)": std's wording.
fn describe(status: ExitStatus) -> String {
    status.to_string()
}

/// Open the executable at `path` for a generation's workers to be
/// started from, whatever is installed at `path` later (see "Why exec" in
/// the module docs). `O_PATH`: executing needs no read permission, and
/// this descriptor is never read.
fn open_program(path: &std::path::Path) -> io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(path)?;
    above_inherited(OwnedFd::from(file))
}

/// Move `fd` to a descriptor at or above [`FIRST_PRIVATE_FD`],
/// close-on-exec.
fn above_inherited(fd: OwnedFd) -> io::Result<OwnedFd> {
    Ok(rustix::io::fcntl_dupfd_cloexec(&fd, FIRST_PRIVATE_FD)?)
}

/// In the child, between fork and exec: put each descriptor in place
/// (dup2 clears close-on-exec on the copy, so the executable's copy on
/// [`PROGRAM_FD`] is there for the exec of [`PROGRAM_PATH`] that follows,
/// and for a script's interpreter after it), and ask for SIGTERM when the
/// supervisor dies, so a killed supervisor does not leave workers behind.
///
/// Only async-signal-safe calls belong between fork and exec: bare system
/// calls, no allocation (another thread may have held the allocator's lock
/// at the fork), so every error here is a raw OS error code
/// (`io::Error::other` would allocate).
fn child_setup(fds: &[(RawFd, RawFd); 4], supervisor: u32) -> io::Result<()> {
    for &(from, to) in fds {
        // SAFETY: dup2(2) on integers, no memory touched. `from` is open
        // (the parent owns it until spawn returns) and above every `to`,
        // so no `from` is overwritten before it is moved; `to` (3 to 6)
        // is owned by nothing in the child, which only execs after this.
        if unsafe { libc::dup2(from, to) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::process::{Signal, getppid, set_parent_process_death_signal};
        set_parent_process_death_signal(Some(Signal::TERM))?;
        // The supervisor may have died before the prctl (the child was
        // then reparented, and no signal will come).
        let parent = rustix::process::Pid::as_raw(getppid());
        if u32::try_from(parent).ok() != Some(supervisor) {
            return Err(rustix::io::Errno::SRCH.into());
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = supervisor;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_deaths_back_off_and_a_stable_worker_resets_the_wait() {
        let mut backoff = Backoff::default();
        let quick = Duration::from_millis(50);
        let waits: Vec<_> = (0..10).map(|_| backoff.after_death(quick)).collect();
        assert_eq!(
            waits[0],
            Duration::ZERO,
            "the first death is replaced at once"
        );
        assert_eq!(waits[1], MIN_BACKOFF);
        assert_eq!(waits[2], MIN_BACKOFF * 2);
        assert_eq!(waits[9], MAX_BACKOFF, "capped");
        assert_eq!(backoff.after_death(STABLE_AFTER), Duration::ZERO);
        assert_eq!(backoff.after_death(quick), MIN_BACKOFF);
    }

    #[test]
    fn a_failed_start_is_never_retried_at_once() {
        let mut backoff = Backoff::default();
        assert_eq!(backoff.after_failure(), MIN_BACKOFF);
        assert_eq!(backoff.after_failure(), MIN_BACKOFF);
        assert_eq!(backoff.after_failure(), MIN_BACKOFF * 2);
    }

    /// A supervisor whose workers are killed when it is dropped, even by a
    /// failing test.
    struct Supervised(Supervisor);

    impl Drop for Supervised {
        fn drop(&mut self) {
            self.0.kill_all();
        }
    }

    /// A supervisor of one ready "worker" (a `sleep`, which publishes
    /// nothing: its heartbeat stands still), not started by `run`.
    fn supervising_a_silent_worker(heartbeat_timeout: Duration) -> io::Result<Supervised> {
        supervising_silent_workers(1, true, heartbeat_timeout)
    }

    /// A supervisor of `count` silent "workers", `ready` or not (and then
    /// already late), not started by `run`.
    fn supervising_silent_workers(
        count: usize,
        ready: bool,
        heartbeat_timeout: Duration,
    ) -> io::Result<Supervised> {
        let config = SupervisorConfig {
            workers: count,
            shutdown_timeout: Duration::from_secs(1),
            ready_timeout: DEFAULT_READY_TIMEOUT,
            heartbeat_timeout,
            protocol: "test",
            command: WorkerCommand::this_process()?,
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let mut supervised = Supervised(Supervisor::new(config, listener)?);
        for slot in 0..count {
            let child = Command::new("sleep")
                .arg("60")
                .stdin(Stdio::null())
                .spawn()?;
            let (ours, _theirs) = UnixDatagram::pair()?;
            let now = Instant::now();
            supervised.0.workers[slot] = Some(Worker {
                child,
                generation: 0,
                channel: mio::net::UnixDatagram::from_std(ours),
                ready,
                draining: false,
                abandoned: false,
                killed: false,
                started: now,
                ready_by: now,
                heartbeat: None,
            });
        }
        Ok(supervised)
    }

    fn stalled(supervisor: &Supervisor) -> bool {
        supervisor.workers[0].as_ref().is_some_and(|w| w.killed)
    }

    #[test]
    fn a_still_heartbeat_is_judged_only_on_ticks_that_came_on_time() -> io::Result<()> {
        let mut supervised = supervising_a_silent_worker(Duration::from_secs(2))?;
        let supervisor = &mut supervised.0;
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        supervisor.tick(at(0));
        supervisor.tick(at(1));
        assert!(!stalled(supervisor), "still for 1 s of 2");
        // The supervisor itself did not run for ten seconds: the worker's
        // silence is forgiven, and watched afresh.
        supervisor.tick(at(11));
        assert!(!stalled(supervisor), "a late tick judged the worker");
        supervisor.tick(at(12));
        supervisor.tick(at(13));
        assert!(
            !stalled(supervisor),
            "still for 1 s of 2 since watched afresh"
        );
        supervisor.tick(at(14));
        assert!(stalled(supervisor), "still for 2 s of 2");
        Ok(())
    }

    /// With a short heartbeat timeout, a tick late by less than
    /// [`LATE_TICK`] is already a good part of the silence allowed: it is
    /// forgiven too (a late tick is forgiven past half the timeout).
    #[test]
    fn a_tick_late_by_half_a_short_heartbeat_timeout_forgives() -> io::Result<()> {
        let mut supervised = supervising_a_silent_worker(Duration::from_secs(2))?;
        let supervisor = &mut supervised.0;
        let t0 = Instant::now();
        let at = |millis| t0 + Duration::from_millis(millis);
        supervisor.tick(at(0));
        supervisor.tick(at(1000));
        // Planned at 2 s, came at 3.5 s: the worker's loop (and its
        // heartbeat) most likely stood still with the supervisor.
        supervisor.tick(at(3500));
        assert!(!stalled(supervisor), "a tick 1.5 s late judged the worker");
        supervisor.tick(at(4500));
        supervisor.tick(at(5500));
        assert!(
            !stalled(supervisor),
            "still for 1 s of 2 since watched afresh"
        );
        supervisor.tick(at(6500));
        assert!(stalled(supervisor), "still for 2 s of 2");
        Ok(())
    }

    /// Every worker late to say `READY=1` is killed on the same tick, and
    /// marked, so that one that outlives its SIGKILL (uninterruptible
    /// sleep) is not found again, hiding the others.
    #[test]
    fn every_late_worker_is_killed_once() -> io::Result<()> {
        let mut supervised = supervising_silent_workers(2, false, DEFAULT_HEARTBEAT_TIMEOUT)?;
        let supervisor = &mut supervised.0;
        supervisor.tick(Instant::now());
        let killed = supervisor.workers.iter().flatten().filter(|w| w.killed);
        assert_eq!(killed.count(), 2);
        Ok(())
    }

    #[test]
    fn the_worker_command_names_the_program_by_a_path() -> io::Result<()> {
        let command = WorkerCommand::this_process()?;
        assert!(command.program.is_absolute(), "{:?}", command.program);
        Ok(())
    }
}
