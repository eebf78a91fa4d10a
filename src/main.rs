//! The `reactord` daemon: parse the command line, start logging, turn
//! SIGINT/SIGTERM into shutdown requests, run the server, and
//! turn the outcome into an exit code (0 after a clean shutdown, 1 when the
//! server could not start, 2 for a usage error, from clap).

use clap::ValueEnum;
use clap::builder::RangedU64ValueParser;
use clap::{CommandFactory, Parser};
use log::LevelFilter;
use reactord::config::{
    BACKLOG_CEILING, Config, FILE_CACHE_ENTRIES_CEILING, FILE_CACHE_SMALL_BYTES_CEILING,
    FILE_CACHE_TOTAL_BYTES_CEILING, MAX_BODY_BYTES_CEILING, MAX_CONNECTIONS_CEILING,
    MAX_REQUEST_BYTES_CEILING, parse_defer_accept, parse_shutdown_timeout, parse_timeout,
    parse_workers,
};
use reactord::process::loop_hooks::LoopHooks;
use reactord::process::service::Notifier;
use reactord::process::supervisor::{
    MIN_HEARTBEAT_TIMEOUT, Signal, Supervisor, SupervisorConfig, WorkerCommand, WorkerParts,
};
use reactord::protocol::http::{
    FileCacheLimits, Http, HttpConfig, MAX_ECHO_DELAY_CEILING, MAX_ECHO_SIZE_CEILING,
};
use reactord::protocol::{echo::Echo, greeting::Greeting};
use reactord::{AcceptWakeup, Protocol, Server};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use std::ffi::c_int;
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// A TCP server daemon whose whole server is one hand-written,
/// single-threaded event loop.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    // The accepted names and their help come from `ProtocolName` (clap's
    // ValueEnum): a new variant shows in --help with no edit here.
    /// The protocol to serve
    #[arg(long, value_enum, default_value_t = ProtocolName::Http, value_name = "NAME")]
    protocol: ProtocolName,
    /// Greeting reply
    #[arg(
        long,
        default_value = "Hola desde el servidor TCP\n",
        value_name = "TEXT",
        hide_default_value = true
    )]
    greeting: String,
    /// http: serve static files from DIR
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// http with --root: list directories that have no index.html
    #[arg(long)]
    autoindex: bool,
    /// http with --root: serve names starting with a dot (/.well-known/ is served without it)
    #[arg(long)]
    dotfiles: bool,
    /// http with --root: files kept open by the open-file cache (0: no cache)
    #[arg(
        long,
        default_value_t = 1000,
        value_name = "N",
        value_parser = RangedU64ValueParser::<usize>::new().range(0..=FILE_CACHE_ENTRIES_CEILING as u64)
    )]
    file_cache_entries: usize,
    /// http with --root: cached files of at most N bytes are served from memory
    #[arg(
        long,
        default_value_t = 16_384,
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(0..=FILE_CACHE_SMALL_BYTES_CEILING)
    )]
    file_cache_small_bytes: u64,
    /// http with --root: most bytes of small files held in memory in all
    #[arg(
        long,
        default_value_t = 16_777_216,
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(0..=FILE_CACHE_TOTAL_BYTES_CEILING)
    )]
    file_cache_total_bytes: u64,
    /// Connections beyond this are accepted and closed at once
    #[arg(
        long,
        default_value_t = 10_000,
        value_name = "N",
        value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_CONNECTIONS_CEILING as u64)
    )]
    max_connections: usize,
    /// A started request must complete within it
    #[arg(long, default_value = "10s", value_parser = parse_timeout, value_name = "DUR")]
    request_timeout: Duration,
    /// A connection with no traffic is closed
    #[arg(long, default_value = "60s", value_parser = parse_timeout, value_name = "DUR")]
    idle_timeout: Duration,
    /// Largest request head / greeting line
    #[arg(
        long,
        default_value_t = 16384,
        value_name = "N",
        value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_REQUEST_BYTES_CEILING as u64)
    )]
    max_request_bytes: usize,
    /// http: largest request body
    #[arg(
        long,
        default_value_t = 1_048_576,
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(0..=MAX_BODY_BYTES_CEILING)
    )]
    max_body_bytes: u64,
    /// Graceful drain on SIGINT/SIGTERM
    #[arg(long, default_value = "10s", value_parser = parse_shutdown_timeout, value_name = "DUR")]
    shutdown_timeout: Duration,
    /// Listen backlog
    #[arg(
        long,
        default_value_t = 1024,
        value_name = "N",
        value_parser = clap::value_parser!(i32).range(1..=i64::from(BACKLOG_CEILING))
    )]
    backlog: i32,
    /// SO_REUSEPORT, so several processes share one port
    #[arg(long)]
    reuse_port: bool,
    /// Linux: hand a connection to the server only once its first bytes
    /// have arrived (TCP_DEFER_ACCEPT); silent ones after about DUR
    #[arg(long, value_parser = parse_defer_accept, value_name = "DUR")]
    defer_accept: Option<Duration>,
    /// One Common Log Format line per http request
    #[arg(long)]
    access_log: bool,
    /// http: largest delay an /echo request may ask (longer ones are cut
    /// to it); at most 1h
    #[arg(long, default_value = "10s", value_parser = parse_max_echo_delay, value_name = "DUR")]
    max_echo_delay: Duration,
    /// http: largest /echo?size= body
    #[arg(
        long,
        default_value_t = 64 << 20,
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(0..=MAX_ECHO_SIZE_CEILING)
    )]
    max_echo_size: u64,
    /// http: parameters for /echo requests that carry none, e.g.
    /// 'status=503:10&delay=5ms'
    #[arg(long, value_name = "QUERY")]
    echo_default: Option<String>,
    /// off | error | warn | info | debug | trace
    #[arg(long, default_value = "info", value_name = "LEVEL")]
    log_level: LevelFilter,
    /// A supervisor and N single-threaded workers on one listening socket
    /// (`auto`: one per core); 1 is a single process, no supervisor
    #[arg(long, default_value = "1", value_parser = parse_workers, value_name = "N|auto")]
    workers: usize,
    /// With --workers: a new worker not ready within DUR is killed (a
    /// restart's whole new generation, the old one serving on); at most 1h
    #[arg(
        long,
        default_value = "60s",
        value_parser = parse_worker_ready_timeout,
        value_name = "DUR"
    )]
    worker_ready_timeout: Duration,
    /// With --workers: a worker whose loop has not turned for DUR is
    /// killed and replaced; 2s to 1h
    #[arg(
        long,
        default_value = "30s",
        value_parser = parse_worker_heartbeat_timeout,
        value_name = "DUR"
    )]
    worker_heartbeat_timeout: Duration,
}

/// The protocols `--protocol` can name. Adding one to the binary is this
/// enum (clap derives the flag's values from it) and its arm in
/// [`start`]; the protocol itself is any type implementing
/// `reactord::Protocol` (examples/kv.rs shows one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProtocolName {
    /// HTTP/1.1 (the default).
    Http,
    /// RFC 862 echo.
    Echo,
    /// The seed's "read a request, answer, close" greeting.
    Greeting,
}

/// How this process serves, decided at start.
enum Launch {
    /// One process, today's server (`--workers 1`).
    Single(Inherited),
    /// `--workers N`: the supervisor of N workers.
    Supervisor(Inherited, Workers),
    /// A worker started by a supervisor (`REACTORD_WORKER` set).
    Worker(WorkerParts),
}

impl Launch {
    /// Read (and remove) what the environment hands this process.
    ///
    /// # Safety
    ///
    /// As for `WorkerParts::from_env` and `Inherited::from_env`: one
    /// thread, and the inherited descriptors (3, and 4 and 5 for a worker)
    /// owned by nothing else. `main` calls it first thing.
    unsafe fn from_env(args: &Args) -> Result<Launch, String> {
        // SAFETY: passed on from our caller.
        if let Some(worker) = unsafe { WorkerParts::from_env() }? {
            return Ok(Launch::Worker(worker));
        }
        // SAFETY: passed on from our caller.
        let inherited = unsafe { Inherited::from_env(args.listen) }?;
        Ok(if args.workers > 1 {
            // The path as it is now, before an upgrade can replace the
            // file (see `reactord::process::supervisor`).
            let command = WorkerCommand::this_process()
                .map_err(|err| format!("cannot find this program's path: {err}"))?;
            let workers = Workers {
                count: args.workers,
                command,
                ready_timeout: args.worker_ready_timeout,
                heartbeat_timeout: args.worker_heartbeat_timeout,
            };
            Launch::Supervisor(inherited, workers)
        } else {
            Launch::Single(inherited)
        })
    }
}

/// The supervisor's settings besides the reactor's: how many workers, how
/// to start one, and how long one may take to be ready or go without a
/// heartbeat.
struct Workers {
    count: usize,
    command: WorkerCommand,
    ready_timeout: Duration,
    heartbeat_timeout: Duration,
}

/// What the process was handed at start, besides its flags: a listening
/// socket (from a service manager) and where to send notifications.
struct Inherited {
    /// The socket to serve instead of binding `--listen`, and the line
    /// logged after `listening on` to say where it came from.
    listener: Option<(std::net::TcpListener, String)>,
    /// `NOTIFY_SOCKET`, as a notifier.
    notifier: Option<Notifier>,
}

impl Inherited {
    /// Read (and remove) the service manager's variables.
    ///
    /// # Safety
    ///
    /// As for `inherited_listener` and `Notifier::from_env`: one thread,
    /// and descriptor 3 owned by nothing else.
    unsafe fn from_env(listen: SocketAddr) -> Result<Inherited, String> {
        // SAFETY: passed on from our caller.
        let listener = unsafe { reactord::process::service::inherited_listener() }
            .map_err(|err| format!("cannot use the socket from the service manager: {err}"))?
            .map(|listener| {
                let note = format!(
                    "listening socket inherited from the service manager (LISTEN_FDS); \
                     --listen {listen} not bound"
                );
                (listener, note)
            });
        // SAFETY: passed on from our caller.
        let notifier = unsafe { Notifier::from_env() }
            .map_err(|err| format!("cannot use NOTIFY_SOCKET: {err}"))?;
        Ok(Inherited { listener, notifier })
    }
}

/// Build the protocol `args` names, from its own flags, and serve it.
fn start(args: Args, config: Config, launch: Launch) -> Result<(), String> {
    match args.protocol {
        ProtocolName::Http => {
            let root = args.root.clone();
            let http = Http::from_config(&args.http_config()).map_err(|err| match root {
                Some(root) => format!("cannot serve --root {}: {err}", root.display()),
                None => err.to_string(),
            })?;
            serve(config, http, launch)
        }
        ProtocolName::Echo => serve(config, Echo, launch),
        ProtocolName::Greeting => serve(
            config,
            Greeting::new(args.greeting, args.max_request_bytes),
            launch,
        ),
    }
}

impl Args {
    /// The reactor's settings.
    fn server_config(&self) -> Config {
        Config {
            listen: self.listen,
            max_connections: self.max_connections,
            request_timeout: self.request_timeout,
            idle_timeout: self.idle_timeout,
            shutdown_timeout: self.shutdown_timeout,
            backlog: self.backlog,
            reuse_port: self.reuse_port,
            defer_accept: self.defer_accept,
            ..Config::default()
        }
    }

    /// The http protocol's settings.
    fn http_config(&self) -> HttpConfig {
        HttpConfig {
            max_request_bytes: self.max_request_bytes,
            max_body_bytes: self.max_body_bytes,
            access_log: self.access_log,
            root: self.root.clone(),
            autoindex: self.autoindex,
            dotfiles: self.dotfiles,
            max_echo_delay: self.max_echo_delay,
            max_echo_size: self.max_echo_size,
            echo_default: self.echo_default.clone(),
            file_cache: FileCacheLimits {
                entries: self.file_cache_entries,
                small_file_bytes: self.file_cache_small_bytes,
                total_bytes: self.file_cache_total_bytes,
            },
        }
    }
}

/// Log records to stderr, one line each: `TIMESTAMP LEVEL [TARGET] MESSAGE`
/// (the access log writes the same shape, `http/access_log.rs`). A worker
/// of `--workers` puts `worker SLOT (pid PID): ` before the message, so
/// every line on the stderr the workers share says whose it is (the
/// supervisor's own lines have no prefix).
///
/// env_logger formats a record into a buffer and writes it with one
/// `write(2)`, so the lines of several workers sharing the supervisor's
/// stderr never run together; and it drops a record it can't write, so a
/// closed stderr (a terminal gone, journald restarted) costs log lines,
/// not the server. (simple_logger wrote the text and the newline in two
/// writes, and panicked on a closed stderr.)
fn init_logger(level: LevelFilter, worker: Option<usize>) {
    use std::io::Write as _;
    let prefix = match worker {
        Some(slot) => format!("worker {slot} (pid {}): ", std::process::id()),
        None => String::new(),
    };
    // A logger that fails to install (one is already set) is not worth dying for.
    let _ = env_logger::Builder::new()
        .filter_level(level)
        .write_style(env_logger::WriteStyle::Never)
        .target(env_logger::Target::Stderr)
        .format(move |buf, record| {
            writeln!(
                buf,
                "{} {:<5} [{}] {prefix}{}",
                buf.timestamp_millis(),
                record.level(),
                record.target(),
                record.args()
            )
        })
        .try_init();
}

fn main() -> ExitCode {
    let args = Args::parse();
    // --echo-default is checked against --max-echo-size, so only once both
    // are parsed; a bad one is a usage error all the same (exit 2).
    if let Err(message) = args.http_config().validate() {
        Args::command()
            .error(clap::error::ErrorKind::ValueValidation, message)
            .exit();
    }
    // SAFETY: before anything else. The process has one thread (parsing
    // the command line starts none), and the descriptors it inherited are
    // owned by nothing yet (nothing has opened or taken any).
    let launch = match unsafe { Launch::from_env(&args) } {
        Ok(launch) => launch,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let worker = match &launch {
        Launch::Worker(parts) => Some(parts.slot),
        _ => None,
    };
    init_logger(args.log_level, worker);
    let config = args.server_config();
    match reactord::process::rlimit::raise_nofile_limit() {
        Ok(limit) => {
            log::info!("file descriptor limit: {limit}");
            // The open-file cache keeps its files open too (with --root).
            let cached_files = if args.root.is_some() {
                args.file_cache_entries as u64
            } else {
                0
            };
            let needed = config.max_connections as u64
                + cached_files
                + reactord::process::rlimit::RESERVED_DESCRIPTORS;
            if needed > limit {
                log::warn!(
                    "--max-connections {} (plus {cached_files} cached files) does not fit in \
                     the descriptor limit {limit}; accepts will fail with EMFILE before it is \
                     reached (raise LimitNOFILE)",
                    config.max_connections
                );
            }
        }
        Err(err) => log::warn!("cannot read or raise the descriptor limit: {err}"),
    }
    let result = start(args, config, launch);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // One plain line, not a log record: scripts match on `error:`.
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Serve `protocol` as `launch` says.
fn serve<P: Protocol>(config: Config, protocol: P, launch: Launch) -> Result<(), String> {
    match launch {
        Launch::Single(inherited) => serve_single(config, protocol, inherited),
        Launch::Worker(parts) => serve_worker(config, protocol, parts),
        Launch::Supervisor(inherited, workers) => {
            // The protocol was built to check its settings (a bad --root
            // fails here, once, not in every worker); the workers build
            // their own.
            let name = protocol.name();
            drop(protocol);
            supervise(config, name, workers, inherited)
        }
    }
}

/// `--workers N`: bind (or take the inherited socket), then supervise.
fn supervise(
    config: Config,
    protocol: &'static str,
    workers: Workers,
    inherited: Inherited,
) -> Result<(), String> {
    let (listener, note) = match inherited.listener {
        Some((listener, note)) => (listener, Some(note)),
        None => (
            reactord::listen(&config).map_err(|err| err.to_string())?,
            None,
        ),
    };
    let settings = SupervisorConfig {
        workers: workers.count,
        shutdown_timeout: config.shutdown_timeout,
        ready_timeout: workers.ready_timeout,
        heartbeat_timeout: workers.heartbeat_timeout,
        protocol,
        command: workers.command,
    };
    let mut supervisor = Supervisor::new(settings, listener)
        .map_err(|err| format!("cannot set up the supervisor: {err}"))?;
    if let Some(note) = note {
        supervisor.note_after_listening(note);
    }
    if let Some(notifier) = inherited.notifier {
        supervisor.notify_with(notifier);
    }
    watch_signals(&SUPERVISOR_SIGNALS, |stream, signal| {
        supervisor.on_signal(stream, signal)
    })?;
    supervisor.run()
}

/// One worker of a supervisor: today's server on the supervisor's socket.
fn serve_worker<P: Protocol>(
    config: Config,
    protocol: P,
    parts: WorkerParts,
) -> Result<(), String> {
    let mut server =
        Server::from_listener(config, protocol, parts.listener).map_err(|err| err.to_string())?;
    // Exclusive wake-ups unless a benchmark asks for the plain
    // registration (benches/workers.sh compares the two).
    let wakeup = match std::env::var("REACTORD_ACCEPT_WAKEUP").as_deref() {
        Ok("all") => AcceptWakeup::All,
        _ => AcceptWakeup::Exclusive,
    };
    server
        .serve_as_worker(parts.counters.clone(), wakeup)
        .map_err(|err| format!("cannot share the listening socket: {err}"))?;
    server.note_after_listening("serving its supervisor's socket");
    server.hook_into(
        LoopHooks::default()
            .notify(parts.notifier)
            .publish_to(parts.counters),
    );
    // A SIGHUP meant for the supervisor also reaches the workers when sent
    // to every reactord process (`pkill -HUP reactord`): its default action
    // would kill them and reset their connections. Logged, and served on.
    watch_signals_and_run(server)
}

fn serve_single<P: Protocol>(
    config: Config,
    protocol: P,
    inherited: Inherited,
) -> Result<(), String> {
    let mut server = match inherited.listener {
        Some((listener, note)) => {
            let mut server =
                Server::from_listener(config, protocol, listener).map_err(|err| err.to_string())?;
            server.note_after_listening(note);
            // systemd keeps the socket open across a restart: what is
            // queued on it is the next process's, not to be refused.
            server.hand_over_on_drain();
            server
        }
        None => Server::bind(config, protocol).map_err(|err| err.to_string())?,
    };
    if let Some(notifier) = inherited.notifier {
        server.hook_into(LoopHooks::default().notify(notifier));
    }
    // SIGHUP's default action would kill the process (exit 129, no log
    // line). A single process logs it and reloads what it can; under a
    // supervisor, SIGHUP goes to the supervisor, which restarts workers.
    watch_signals_and_run(server)
}

/// A server's signals (SIGINT/SIGTERM drain, SIGHUP reloads), then its
/// loop: the same for a single process and a worker.
fn watch_signals_and_run<P: Protocol>(mut server: Server<P>) -> Result<(), String> {
    // Before `run` logs `listening on`: whoever reads that line may signal
    // at once, and a SIGTERM without a handler would kill the process.
    watch_signals(&SERVER_SIGNALS, |stream, name| {
        server.shutdown_when_readable(stream, name)
    })?;
    watch_signals(&RELOAD_SIGNALS, |stream, name| {
        server.reload_when_readable(stream, name)
    })?;
    server
        .run()
        .map_err(|err| format!("event loop failed: {err}"))
}

/// --worker-ready-timeout: a second (the supervisor looks once a second) to
/// an hour.
fn parse_worker_ready_timeout(text: &str) -> Result<Duration, String> {
    parse_duration_between(text, Duration::from_secs(1), WORKER_TIMEOUT_CEILING)
}

/// --worker-heartbeat-timeout: from [`MIN_HEARTBEAT_TIMEOUT`] (a worker's
/// loop turns once a second, and the supervisor looks once a second) to an
/// hour.
fn parse_worker_heartbeat_timeout(text: &str) -> Result<Duration, String> {
    parse_duration_between(text, MIN_HEARTBEAT_TIMEOUT, WORKER_TIMEOUT_CEILING)
}

/// The largest `--worker-*-timeout`.
const WORKER_TIMEOUT_CEILING: Duration = Duration::from_secs(60 * 60);

/// A duration from `min` to `max` (the message says them as clap shows
/// other bounds: `2s`, `1h`).
fn parse_duration_between(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let value = reactord::config::parse_duration(text)?;
    if value < min {
        return Err(format!(
            "{} is less than the smallest accepted, {min:?}",
            text.trim()
        ));
    }
    if value > max {
        return Err(format!(
            "{} is more than the largest accepted, 1h",
            text.trim()
        ));
    }
    Ok(value)
}

/// --max-echo-delay: a duration up to [`MAX_ECHO_DELAY_CEILING`].
fn parse_max_echo_delay(text: &str) -> Result<Duration, String> {
    let value = reactord::config::parse_duration(text)?;
    if value > MAX_ECHO_DELAY_CEILING {
        return Err(format!(
            "{} is more than the largest accepted, 1h",
            text.trim()
        ));
    }
    Ok(value)
}

/// The signals a server (a single process, or a worker) handles: shutdown
/// requests, logged under their name. The first drains, a second exits at
/// once.
const SERVER_SIGNALS: [(c_int, &str); 2] = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")];

/// What a single process reloads on, and a worker logs and ignores (see
/// `Server::reload_when_readable`).
const RELOAD_SIGNALS: [(c_int, &str); 1] = [(SIGHUP, "SIGHUP")];

/// The signals the supervisor of `--workers` handles, and what each means
/// to it.
const SUPERVISOR_SIGNALS: [(c_int, Signal); 4] = [
    (SIGINT, Signal::Stop("SIGINT")),
    (SIGTERM, Signal::Stop("SIGTERM")),
    (SIGHUP, Signal::Reload),
    (SIGCHLD, Signal::Child),
];

/// Deliver each of `signals` to a loop, with its meaning: `watch` hands the
/// loop a stream that receives one byte per delivery
/// (`Server::shutdown_when_readable`, `Supervisor::on_signal`).
///
/// The library installs no signal handlers, so this is the binary's job,
/// and done without a thread: each signal gets a socket pair,
/// signal-hook's handler writes a byte to one end (a write(2), all a
/// signal handler may safely do), and the loop watches the other end like
/// any socket. The loop stays the process's only thread, and never runs
/// code inside a signal handler.
///
/// Call it before the loop logs `listening on`: whoever reads that line
/// may signal at once, and a SIGTERM without a handler would kill the
/// process.
fn watch_signals<T: Copy>(
    signals: &[(c_int, T)],
    mut watch: impl FnMut(mio::net::UnixStream, T) -> std::io::Result<()>,
) -> Result<(), String> {
    for &(number, meaning) in signals {
        signal_stream(number)
            .and_then(|stream| watch(stream, meaning))
            .map_err(|err| {
                let name = signal_hook::low_level::signal_name(number).unwrap_or("a signal");
                format!("cannot handle {name}: {err}")
            })?;
    }
    Ok(())
}

/// A stream that receives one byte per delivery of `signal`.
fn signal_stream(signal: c_int) -> std::io::Result<mio::net::UnixStream> {
    let (receiver, sender) = UnixStream::pair()?;
    receiver.set_nonblocking(true)?;
    // A full pipe must not block the handler: the byte is dropped, and
    // the bytes already waiting say enough.
    sender.set_nonblocking(true)?;
    signal_hook::low_level::pipe::register(signal, sender)?;
    Ok(mio::net::UnixStream::from_std(receiver))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reactord::process::supervisor::{DEFAULT_HEARTBEAT_TIMEOUT, DEFAULT_READY_TIMEOUT};

    #[test]
    fn the_worker_timeouts_default_to_the_supervisors_constants() {
        let args = Args::parse_from(["reactord"]);
        assert_eq!(args.worker_ready_timeout, DEFAULT_READY_TIMEOUT);
        assert_eq!(args.worker_heartbeat_timeout, DEFAULT_HEARTBEAT_TIMEOUT);
    }
}
