//! Command-line interface: argument parsing and the `serve` command.
//!
//! The binary is a thin shell around [`main`]; everything it does is
//! available from the library too.

pub mod logging;
pub mod python;

use crate::config;
use crate::config::listen::ListenAddr;
use crate::config::units::parse_size;
use crate::gateway::Gateway;
use crate::http::limits::HttpLimits;
use crate::runtime::grants::Grants;
use crate::runtime::reuse::Reuse;
use crate::runtime::{App, AppConfig, CompileCache, Runtime, RuntimeConfig};
use crate::server::{Server, ServerConfig};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Runs WSGI-style web applications compiled to WebAssembly components, each
/// request in a fresh sandboxed instance.
#[derive(Debug, Parser)]
#[command(name = "wasm-gateway", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve one application, or a whole gateway described by a TOML file.
    Serve(Box<ServeArgs>),
    /// Check an application or a gateway file without serving: load and
    /// compile everything, print the route table; exit 0 if all is well, 2
    /// otherwise.
    Check(CheckArgs),
    /// Python WSGI applications (Flask, bare callables) as components.
    #[command(subcommand)]
    Python(PythonCommand),
}

#[derive(Debug, Subcommand)]
enum PythonCommand {
    /// Build MODULE:CALLABLE (as gunicorn takes it) into a component with
    /// componentize-py: the module and what it imports are bundled with
    /// CPython, warm-up requests run at build time, and the report says
    /// what was bundled.
    Build(PythonBuildArgs),
}

#[derive(Debug, clap::Args)]
struct PythonBuildArgs {
    /// The WSGI callable, e.g. `flaskapp:app` (module `flaskapp`, variable
    /// `app`).
    target: String,

    /// Where the component goes.
    #[arg(short, long, value_name = "OUT.wasm")]
    output: PathBuf,

    /// The directory holding the application's modules.
    #[arg(long, default_value = ".", value_name = "DIR")]
    app_dir: PathBuf,

    /// A pip requirements file, installed into the build (pure-Python
    /// packages; C extensions cannot run in WebAssembly).
    #[arg(long, value_name = "FILE")]
    requirements: Option<PathBuf>,

    /// A path to request (GET) through the app at build time, so that what
    /// it imports lazily is in the component (repeatable) [default: /].
    #[arg(long, value_name = "PATH")]
    warmup: Vec<String>,

    /// Wrap the app in wsgiref.validate.validator, with its warnings as
    /// errors: any PEP 3333 violation becomes a 500 and a logged traceback.
    #[arg(long)]
    validate: bool,

    /// Do not import every submodule of the packages the app imports (they
    /// are imported by default, since frameworks import some lazily).
    #[arg(long)]
    no_import_packages: bool,

    /// The componentize-py executable [default: the one on PATH].
    #[arg(long, value_name = "PATH")]
    componentize_py: Option<PathBuf>,
}

/// Where compiled components are cached.
#[derive(Debug, clap::Args)]
struct CacheArgs {
    /// Directory of the compile cache [default: $WASM_GATEWAY_CACHE_DIR,
    /// else $XDG_CACHE_HOME/wasm-gateway, else ~/.cache/wasm-gateway].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// Compile every component at start, caching nothing on disk.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
}

impl CacheArgs {
    fn cache(&self) -> Option<CompileCache> {
        if self.no_cache {
            return None;
        }
        match &self.cache_dir {
            Some(directory) => Some(CompileCache {
                directory: directory.clone(),
                max_size: CompileCache::DEFAULT_MAX_SIZE,
            }),
            None => CompileCache::default_location(),
        }
    }
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// What to serve: a component built with wasm-gateway-sdk (`app.wasm`,
    /// served at the root of every host), or a gateway file (`gateway.toml`,
    /// see docs/configuration.md).
    #[arg(required_unless_present = "config", conflicts_with = "config")]
    app: Option<PathBuf>,

    /// A gateway file to serve (the same as giving it as APP).
    #[arg(long)]
    config: Option<PathBuf>,

    /// Address to listen on: HOST:PORT (a host name is resolved at start)
    /// or a bare PORT on 127.0.0.1 (default 127.0.0.1:8000, or the file's
    /// `[server] listen`); port 0 picks a free port. The bound address is
    /// printed as `http://HOST:PORT` once the server is ready.
    #[arg(long, env = "WASM_GATEWAY_LISTEN", value_name = "ADDR")]
    listen: Option<ListenAddr>,

    /// Access lines (Common Log Format) on stdout: `on` or `off`; errors and
    /// every other log line go to stderr either way [default: on, or the
    /// file's `[server] access-log`].
    #[arg(long, value_name = "on|off")]
    access_log: Option<crate::http::access_log::Switch>,

    /// One-app mode: wall-clock deadline of one request (e.g. 30s, 500ms);
    /// past it the instance is killed and the client gets 504 [default:
    /// 30s]. (In a gateway file: `[apps.NAME.limits] timeout`.)
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,

    /// One-app mode: most linear memory one instance may use (bytes;
    /// suffixes KiB, MiB, GiB) [default: 128MiB]. (In a gateway file:
    /// `[apps.NAME.limits] memory`.)
    #[arg(long, value_parser = parse_size)]
    memory: Option<usize>,

    /// One-app mode: most requests running at once [default: 100]. (In a
    /// gateway file: `[apps.NAME.limits] concurrency`.)
    #[arg(long)]
    concurrency: Option<usize>,

    /// One-app mode: most requests waiting for a slot; beyond, 503 at once
    /// [default: 1000]. (In a gateway file: `[apps.NAME.limits] queue`.)
    #[arg(long)]
    queue: Option<usize>,

    /// One-app mode: longest wait for a slot before 503 with Retry-After
    /// [default: 10s]. (In a gateway file: `[apps.NAME.limits] queue-timeout`.)
    #[arg(long, value_parser = humantime::parse_duration)]
    queue_timeout: Option<Duration>,

    /// Most instances alive at once, all applications together (default
    /// 1000, or the file's `[server] max-instances`).
    #[arg(long)]
    max_instances: Option<u32>,

    /// One-app mode: largest request body (suffixes KiB, MiB, GiB): a larger
    /// Content-Length gets 413 before the app runs; a chunked body is cut
    /// [default: 100MiB]. (In a gateway file: `[apps.NAME.limits] max-body`.)
    #[arg(long, value_parser = parse_size)]
    max_body: Option<usize>,

    /// One-app mode: a middleware component to stack in front of the app
    /// (repeatable, outermost first), with default settings; for its
    /// environ, limits or grants use a gateway file ([middleware.NAME]).
    #[arg(long, value_name = "MIDDLEWARE.wasm")]
    middleware: Vec<PathBuf>,

    #[command(flatten)]
    isolation: IsolationArgs,

    #[command(flatten)]
    limits: LimitArgs,

    #[command(flatten)]
    cache: CacheArgs,
}

/// One-app mode: the isolation settings of `[apps.NAME.limits]` and
/// `[apps.NAME.grants]` (docs/security.md).
#[derive(Debug, clap::Args)]
struct IsolationArgs {
    /// One-app mode: fuel per request (about one unit per WebAssembly
    /// instruction); past it the request traps with 500 [default: no
    /// limit]. Makes all guest code count fuel, a few percent slower.
    #[arg(long)]
    fuel: Option<u64>,

    /// One-app mode: most elements of one table of an instance [default:
    /// 20000].
    #[arg(long)]
    table_elements: Option<usize>,

    /// One-app mode: most bytes of response header lines an app may send
    /// (suffixes KiB, MiB) [default: 64KiB].
    #[arg(long, value_parser = parse_size)]
    max_response_head: Option<usize>,

    /// One-app mode: let one instance serve up to N requests (state then
    /// survives between them; see docs/security.md) [default: a fresh
    /// instance per request].
    #[arg(long, value_name = "N")]
    instance_reuse: Option<u64>,

    /// One-app mode, with --instance-reuse: replace an instance this long
    /// after it was created [default: 60s].
    #[arg(long, value_parser = humantime::parse_duration, requires = "instance_reuse")]
    instance_lifetime: Option<Duration>,

    /// One-app mode: grant a WASI environment variable (repeatable); the
    /// host's own environment is never passed.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_pair)]
    env: Vec<(String, String)>,

    /// One-app mode: grant read-only access to a host directory, seen by the
    /// app at the guest path (repeatable).
    #[arg(long = "dir", value_name = "GUEST=HOST", value_parser = parse_pair)]
    dirs: Vec<(String, String)>,

    /// One-app mode: capture the app's stdout into the log (line by line,
    /// tagged, rate-limited) instead of discarding it.
    #[arg(long)]
    stdout: bool,

    /// One-app mode: capture the app's stderr into the log.
    #[arg(long)]
    stderr: bool,

    /// One-app mode: load a component that imports interfaces it is not
    /// granted, with calls to them trapping (500) instead of refusing it.
    #[arg(long)]
    trap_unknown_imports: bool,
}

impl IsolationArgs {
    /// Whether any of these was given.
    fn any(&self) -> bool {
        self.fuel.is_some()
            || self.table_elements.is_some()
            || self.max_response_head.is_some()
            || self.instance_reuse.is_some()
            || !self.env.is_empty()
            || !self.dirs.is_empty()
            || self.stdout
            || self.stderr
            || self.trap_unknown_imports
    }

    fn apply(&self, config: &mut AppConfig) {
        if self.fuel.is_some() {
            config.fuel = self.fuel;
        }
        if let Some(elements) = self.table_elements {
            config.table_elements = elements;
        }
        if let Some(head) = self.max_response_head {
            config.max_response_head = head;
        }
        if let Some(requests) = self.instance_reuse {
            config.instance_reuse = Some(Reuse {
                requests,
                lifetime: self.instance_lifetime.unwrap_or(Reuse::DEFAULT_LIFETIME),
            });
        }
        config.grants = Grants {
            env: self.env.clone(),
            dirs: (!self.dirs.is_empty()).then(|| {
                self.dirs
                    .iter()
                    .map(|(guest, host)| (guest.clone(), PathBuf::from(host)))
                    .collect()
            }),
            stdout: self.stdout,
            stderr: self.stderr,
            trap_unknown_imports: self.trap_unknown_imports,
        };
    }
}

/// Parses `NAME=VALUE`.
fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// A component (`app.wasm`) or a gateway file (`gateway.toml`).
    path: PathBuf,

    /// One-app mode: the limits and grants it will be served with, so
    /// that `check` refuses exactly what `serve` would.
    #[command(flatten)]
    isolation: IsolationArgs,

    #[command(flatten)]
    cache: CacheArgs,
}

/// The HTTP limits of `docs/limits.md`. Given on the command line, they win
/// over the gateway file's `[server]` values.
#[derive(Debug, clap::Args)]
struct LimitArgs {
    /// Longest request line in bytes; longer gets 414 (at most 65534)
    /// [default: 8190].
    #[arg(long)]
    max_request_line: Option<usize>,

    /// Most header fields in a request; more gets 431 [default: 100].
    #[arg(long)]
    max_header_count: Option<usize>,

    /// Longest header field line (name, colon, value) in bytes; longer gets
    /// 431 [default: 8190].
    #[arg(long)]
    max_header_field: Option<usize>,

    /// Largest request head as a whole (suffixes KiB, MiB); larger gets 431
    /// [default: 64KiB].
    #[arg(long, value_parser = parse_size)]
    max_head_size: Option<usize>,

    /// Time from a request head's first byte to its end; past it, 408
    /// [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    header_timeout: Option<Duration>,

    /// Idle time allowed on a connection before its (next) request; past it
    /// the connection is closed [default: 5s].
    #[arg(long, value_parser = humantime::parse_duration)]
    keep_alive_timeout: Option<Duration>,

    /// Longest wait for more request body bytes while the app reads; past
    /// it the read fails and the client gets 408 [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    body_timeout: Option<Duration>,

    /// Longest a client may leave its response unread; past it the
    /// connection is dropped [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    send_timeout: Option<Duration>,

    /// Most open client connections; further ones wait in the listen
    /// backlog [default: 10000].
    #[arg(long)]
    max_connections: Option<usize>,
}

impl LimitArgs {
    /// `base` with the limits given on the command line.
    fn apply(&self, mut base: HttpLimits) -> HttpLimits {
        fn set<T: Copy>(field: &mut T, value: Option<T>) {
            if let Some(value) = value {
                *field = value;
            }
        }
        set(&mut base.max_request_line, self.max_request_line);
        set(&mut base.max_header_count, self.max_header_count);
        set(&mut base.max_header_field, self.max_header_field);
        set(&mut base.max_head_size, self.max_head_size);
        set(&mut base.header_timeout, self.header_timeout);
        set(&mut base.keep_alive_timeout, self.keep_alive_timeout);
        set(&mut base.body_timeout, self.body_timeout);
        set(&mut base.send_timeout, self.send_timeout);
        set(&mut base.max_connections, self.max_connections);
        base
    }
}

/// Whether `path` names a gateway file rather than a component.
fn is_config(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"))
}

/// Runs the command line; returns the process exit status (2 when the
/// configuration or an application cannot be loaded, or the address cannot
/// be bound).
pub fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Check(args) => check(args),
        Command::Python(PythonCommand::Build(args)) => python_build(args),
    }
}

fn python_build(args: PythonBuildArgs) -> ExitCode {
    let options = python::BuildOptions {
        target: args.target,
        output: args.output,
        app_dir: args.app_dir,
        requirements: args.requirements,
        warmup: if args.warmup.is_empty() {
            vec!["/".to_owned()]
        } else {
            args.warmup
        },
        validate: args.validate,
        import_packages: !args.no_import_packages,
        componentize_py: args.componentize_py,
    };
    let mut progress = std::io::stderr();
    match python::build(&options, &mut progress) {
        Ok(report) => {
            let size = std::fs::metadata(&options.output).map_or(0, |m| m.len());
            print!("{}", python::summary(&report, &options.output, size));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: cannot build {}: {err}", options.target);
            ExitCode::from(1)
        }
    }
}

/// What `serve` and `check` load: the gateway, and the server settings.
struct Loaded {
    gateway: Gateway,
    listen: Option<ListenAddr>,
    access_log: Option<crate::http::access_log::Switch>,
    limits: HttpLimits,
}

/// Loads a gateway file (`config`, or a `.toml` path) or a single
/// component, compiling everything.
fn load(
    path: &Path,
    config: bool,
    one_app: impl FnOnce(&mut AppConfig),
    middleware: &[PathBuf],
    max_instances: Option<u32>,
    cache: Option<CompileCache>,
) -> anyhow::Result<Loaded> {
    if max_instances == Some(0) {
        anyhow::bail!("--max-instances is 0: no request could run; use at least 1");
    }
    if config || is_config(path) {
        let config = config::load(path)?;
        let runtime = Runtime::new(&RuntimeConfig {
            compile_cache: cache,
            ..RuntimeConfig::for_apps(
                max_instances.unwrap_or(config.max_instances),
                config
                    .apps
                    .iter()
                    .filter(|app| matches!(app.kind, config::AppKind::Wasm(_)))
                    .map(|app| &app.config)
                    .chain(config.middleware.iter().map(|layer| &layer.config)),
            )
        })
        .map_err(|err| anyhow::anyhow!("cannot start the WebAssembly engine: {err:#}"))?;
        let gateway = Gateway::load(&config, &runtime)?;
        return Ok(Loaded {
            gateway,
            listen: config.listen,
            access_log: config.access_log,
            limits: config.limits,
        });
    }
    let stem = |path: &Path| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "app".into())
    };
    let mut config = AppConfig::new(stem(path));
    one_app(&mut config);
    config.validate().map_err(anyhow::Error::msg)?;
    let layer_configs: Vec<AppConfig> = middleware
        .iter()
        .map(|layer| AppConfig::new(stem(layer)))
        .collect();
    let runtime = Runtime::new(&RuntimeConfig {
        compile_cache: cache,
        ..RuntimeConfig::for_apps(
            max_instances.unwrap_or(RuntimeConfig::default().max_instances),
            std::iter::once(&config).chain(&layer_configs),
        )
    })
    .map_err(|err| anyhow::anyhow!("cannot start the WebAssembly engine: {err:#}"))?;
    let mut layers = Vec::with_capacity(middleware.len() + 1);
    for (layer, layer_config) in middleware.iter().zip(layer_configs) {
        let loaded = runtime
            .load_middleware(layer, &layer_config)
            .map_err(|err| anyhow::anyhow!("--middleware: {err}"))?;
        layers.push(Arc::new(App::new(&runtime, loaded, layer_config)));
    }
    let loaded = runtime.load(path, &config)?;
    layers.push(Arc::new(App::new(&runtime, loaded, config)));
    Ok(Loaded {
        gateway: Gateway::single_chain(Arc::from(layers)),
        listen: None,
        access_log: None,
        limits: HttpLimits::default(),
    })
}

fn check(args: CheckArgs) -> ExitCode {
    if is_config(&args.path) && args.isolation.any() {
        return fail(format_args!(
            "the limits and grants flags are for one app; a gateway file sets them per app in [apps.NAME.limits] and [apps.NAME.grants]"
        ));
    }
    let one_app = |config: &mut AppConfig| args.isolation.apply(config);
    match load(&args.path, false, one_app, &[], None, args.cache.cache()) {
        Ok(loaded) => {
            if let Err(problem) = loaded.limits.validate() {
                return fail(format_args!("{problem}"));
            }
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}: ok", args.path.display());
            for line in loaded.gateway.route_lines() {
                let _ = writeln!(out, "  {line}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => fail(format_args!("{err}")),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let Some(path) = args.config.as_ref().or(args.app.as_ref()) else {
        return fail(format_args!(
            "nothing to serve: give APP.wasm or a gateway file"
        ));
    };
    let config_file = args.config.is_some() || is_config(path);
    let one_app_flags = args.timeout.is_some()
        || args.memory.is_some()
        || args.max_body.is_some()
        || args.concurrency.is_some()
        || args.queue.is_some()
        || args.queue_timeout.is_some()
        || !args.middleware.is_empty()
        || args.isolation.any();
    if config_file && one_app_flags {
        return fail(format_args!(
            "--timeout, --memory, --max-body, --concurrency, --queue, --queue-timeout, --fuel, --table-elements, --max-response-head and --instance-reuse are for one app, and so are --middleware and the grants (--env, --dir, --stdout, --stderr, --trap-unknown-imports); in a gateway file set them per app in [apps.NAME.limits] and [apps.NAME.grants], and stack middleware with [middleware.NAME] and `middleware = [...]`"
        ));
    }
    let loaded = match load(
        path,
        config_file,
        |config| {
            if let Some(timeout) = args.timeout {
                config.timeout = timeout;
            }
            if let Some(memory) = args.memory {
                config.memory = memory;
            }
            if let Some(max_body) = args.max_body {
                config.max_body = max_body as u64;
            }
            if let Some(concurrency) = args.concurrency {
                config.concurrency = concurrency;
            }
            if let Some(queue) = args.queue {
                config.queue = queue;
            }
            if let Some(queue_timeout) = args.queue_timeout {
                config.queue_timeout = queue_timeout;
            }
            args.isolation.apply(config);
        },
        &args.middleware,
        args.max_instances,
        args.cache.cache(),
    ) {
        Ok(loaded) => loaded,
        Err(err) => return fail(format_args!("{err}")),
    };
    let limits = args.limits.apply(loaded.limits);
    if let Err(problem) = limits.validate() {
        return fail(format_args!("{problem}"));
    }
    raise_open_file_limit(limits.max_connections);
    let access_log = args.access_log.or(loaded.access_log);
    crate::http::access_log::set_enabled(access_log != Some(crate::http::access_log::Switch::Off));
    let listen = match args
        .listen
        .or(loaded.listen)
        .unwrap_or(ListenAddr::DEFAULT)
        .resolve()
    {
        Ok(addr) => addr,
        Err(problem) => return fail(format_args!("{problem}")),
    };
    let gateway = Arc::new(loaded.gateway);

    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => return fail(format_args!("cannot start the async runtime: {err}")),
    };
    let code = tokio.block_on(async {
        let server_config = ServerConfig {
            limits,
            ..ServerConfig::default()
        };
        let server = match Server::bind(listen, gateway, server_config).await {
            Ok(s) => s,
            Err(err) => return fail(format_args!("cannot listen on {listen}: {err}")),
        };
        let signals = match Signals::install() {
            Ok(signals) => signals,
            Err(err) => return fail(format_args!("cannot install signal handlers: {err}")),
        };
        let addr = match server.local_addr() {
            Ok(a) => a,
            Err(err) => return fail(format_args!("cannot read the bound address: {err}")),
        };
        // Scripts and tests read this line to find the port.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "http://{addr}");
        let _ = out.flush();
        drop(out);
        tracing::info!(serving = %path.display(), "serving on http://{addr}");
        serve_until_stopped(server, signals).await
    });
    // After a forced stop, guest tasks may still be running: they are
    // dropped, not waited for.
    tokio.shutdown_background();
    code
}

/// Raises the soft limit on open files to the hard limit: each connection
/// is a descriptor, and the common soft default (1024) is far below the
/// default connection limit. Says so when the limit stays too low.
fn raise_open_file_limit(max_connections: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < (max_connections as u64).saturating_add(64) => tracing::warn!(
            limit,
            max_connections,
            "the open-file limit is below max-connections; raise `ulimit -n` or lower --max-connections"
        ),
        Ok(_) => {}
        Err(err) => tracing::warn!(%err, "cannot raise the open-file limit"),
    }
}

fn fail(message: std::fmt::Arguments<'_>) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// The signals a serving process answers. Installed before the port is
/// announced, so none of them can kill the process with its default action
/// once it serves.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
                hangup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next SIGINT or SIGTERM. SIGHUP, which nginx and gunicorn use to
    /// reload, is logged and ignored until the gateway can reload: it must
    /// never end a server that hosts other tenants.
    async fn stop(&mut self, name: &str) {
        loop {
            #[cfg(unix)]
            tokio::select! {
                _ = self.interrupt.recv() => return tracing::info!("{name} (SIGINT)"),
                _ = self.term.recv() => return tracing::info!("{name} (SIGTERM)"),
                _ = self.hangup.recv() => tracing::warn!(
                    "SIGHUP received and ignored: this version cannot reload its configuration; restart the server to apply changes"
                ),
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
                return tracing::info!("{name}");
            }
        }
    }
}

/// Serves until a stop signal, then drains; a second stop signal during the
/// drain ends the process at once (as gunicorn and nginx do) instead of
/// waiting on slow requests.
async fn serve_until_stopped(server: Server, mut signals: Signals) -> ExitCode {
    let in_flight = server.in_flight();
    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    let run = server.run(async {
        let _ = drain_rx.await;
    });
    tokio::pin!(run);
    tokio::select! {
        result = &mut run => return served(result),
        () = signals.stop("shutting down gracefully; send the signal again to stop at once") => {}
    }
    let _ = drain_tx.send(());
    tokio::select! {
        result = &mut run => served(result),
        () = signals.stop("second stop signal") => {
            tracing::warn!(
                in_flight = in_flight.get(),
                "stopping now, abandoning the requests in flight"
            );
            ExitCode::from(1)
        }
    }
}

fn served(result: std::io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(format_args!("server error: {err}")),
    }
}
