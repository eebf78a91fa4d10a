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
    Signal, Supervisor, SupervisorConfig, WorkerCommand, WorkerParts,
};
use reactord::protocol::http::{
    FileCacheLimits, Http, HttpConfig, MAX_ECHO_DELAY_CEILING, MAX_ECHO_SIZE_CEILING,
};
use reactord::protocol::{echo::Echo, greeting::Greeting};
use reactord::{AcceptWakeup, Protocol, Server};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
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
    /// Protocol: http | echo | greeting
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
    /// `--workers N`: the supervisor of N workers, and how to start one.
    Supervisor(Inherited, usize, WorkerCommand),
    /// A worker started by a supervisor (`REACTORD_WORKER` set).
    Worker(WorkerParts),
}

impl Launch {
    /// Read (and remove) what the environment hands this process. Called
    /// first thing in `main`, while the process has one thread.
    fn from_env(args: &Args) -> Result<Launch, String> {
        if let Some(worker) = WorkerParts::from_env()? {
            return Ok(Launch::Worker(worker));
        }
        let inherited = Inherited::from_env(args.listen)?;
        Ok(if args.workers > 1 {
            // The path as it is now, before an upgrade can replace the
            // file (see `reactord::process::supervisor`).
            let command = WorkerCommand::this_process()
                .map_err(|err| format!("cannot find this program's path: {err}"))?;
            Launch::Supervisor(inherited, args.workers, command)
        } else {
            Launch::Single(inherited)
        })
    }
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
    /// Read (and remove) the service manager's variables. Called first
    /// thing in `main`, while the process has one thread.
    fn from_env(listen: SocketAddr) -> Result<Inherited, String> {
        let listener = reactord::process::service::inherited_listener()
            .map_err(|err| format!("cannot use the socket from the service manager: {err}"))?
            .map(|listener| {
                let note = format!(
                    "listening socket inherited from the service manager (LISTEN_FDS); \
                     --listen {listen} not bound"
                );
                (listener, note)
            });
        let notifier =
            Notifier::from_env().map_err(|err| format!("cannot use NOTIFY_SOCKET: {err}"))?;
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
/// (the access log writes the same shape, `http/access_log.rs`).
///
/// env_logger formats a record into a buffer and writes it with one
/// `write(2)`, so the lines of several workers sharing the supervisor's
/// stderr never run together; and it drops a record it can't write, so a
/// closed stderr (a terminal gone, journald restarted) costs log lines,
/// not the server. (simple_logger wrote the text and the newline in two
/// writes, and panicked on a closed stderr.)
fn init_logger(level: LevelFilter) {
    use std::io::Write as _;
    // A logger that fails to install (one is already set) is not worth dying for.
    let _ = env_logger::Builder::new()
        .filter_level(level)
        .write_style(env_logger::WriteStyle::Never)
        .target(env_logger::Target::Stderr)
        .format(|buf, record| {
            writeln!(
                buf,
                "{} {:<5} [{}] {}",
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
    // Before anything else: the environment is read while the process
    // has one thread.
    let launch = match Launch::from_env(&args) {
        Ok(launch) => launch,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    init_logger(args.log_level);
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
        Launch::Supervisor(inherited, workers, command) => {
            // The protocol was built to check its settings (a bad --root
            // fails here, once, not in every worker); the workers build
            // their own.
            let name = protocol.name();
            drop(protocol);
            supervise(config, name, workers, command, inherited)
        }
    }
}

/// `--workers N`: bind (or take the inherited socket), then supervise.
fn supervise(
    config: Config,
    protocol: &'static str,
    workers: usize,
    command: WorkerCommand,
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
        workers,
        shutdown_timeout: config.shutdown_timeout,
        protocol,
        command,
    };
    let mut supervisor = Supervisor::new(settings, listener)
        .map_err(|err| format!("cannot set up the supervisor: {err}"))?;
    if let Some(note) = note {
        supervisor.note_after_listening(note);
    }
    if let Some(notifier) = inherited.notifier {
        supervisor.notify_with(notifier);
    }
    let signals = [
        (SIGINT, Signal::Stop("SIGINT")),
        (SIGTERM, Signal::Stop("SIGTERM")),
        (SIGHUP, Signal::Reload),
        (SIGCHLD, Signal::Child),
    ];
    for (number, signal) in signals {
        let stream =
            signal_stream(number).map_err(|err| format!("cannot handle signals: {err}"))?;
        supervisor
            .on_signal(stream, signal)
            .map_err(|err| format!("cannot handle signals: {err}"))?;
    }
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
    server.note_after_listening(format!(
        "worker {} (pid {}) serving its supervisor's socket",
        parts.slot,
        std::process::id()
    ));
    server.hook_into(
        LoopHooks::default()
            .notify(parts.notifier)
            .publish_to(parts.counters),
    );
    pass_signals_to(&mut server).map_err(|err| format!("cannot handle SIGINT/SIGTERM: {err}"))?;
    server
        .run()
        .map_err(|err| format!("event loop failed: {err}"))
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
    // Before `run` logs `listening on`: whoever reads that line may signal
    // at once, and a SIGTERM without a handler would kill the process.
    pass_signals_to(&mut server).map_err(|err| format!("cannot handle SIGINT/SIGTERM: {err}"))?;
    // SIGHUP's default action would kill the process (exit 129, no log
    // line). A single process logs it and reloads what it can; under a
    // supervisor, SIGHUP goes to the supervisor, which restarts workers.
    server
        .reload_when_readable(
            signal_stream(SIGHUP).map_err(|err| format!("cannot handle SIGHUP: {err}"))?,
            "SIGHUP",
        )
        .map_err(|err| format!("cannot handle SIGHUP: {err}"))?;
    server
        .run()
        .map_err(|err| format!("event loop failed: {err}"))
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

/// SIGINT and SIGTERM become shutdown requests: the first drains, a second
/// exits at once.
///
/// The library installs no signal handlers, so this is the binary's job,
/// done without a thread: each signal gets a socket pair, signal-hook's
/// handler writes a byte to one end (a write(2), all a signal handler may
/// safely do), and the server watches the other end like any socket
/// (`Server::shutdown_when_readable`). The loop stays the process's only
/// thread, and never runs code inside a signal handler.
fn pass_signals_to<P: Protocol>(server: &mut Server<P>) -> std::io::Result<()> {
    for (signal, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
        server.shutdown_when_readable(signal_stream(signal)?, name)?;
    }
    Ok(())
}

/// A stream that receives one byte per delivery of `signal`.
fn signal_stream(signal: i32) -> std::io::Result<mio::net::UnixStream> {
    let (receiver, sender) = UnixStream::pair()?;
    receiver.set_nonblocking(true)?;
    // A full pipe must not block the handler: the byte is dropped, and
    // the bytes already waiting say enough.
    sender.set_nonblocking(true)?;
    signal_hook::low_level::pipe::register(signal, sender)?;
    Ok(mio::net::UnixStream::from_std(receiver))
}
