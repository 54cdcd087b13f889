//! Command-line interface: argument parsing and the `serve` command.
//!
//! The binary is a thin shell around [`main`]; everything it does is
//! available from the library too.

pub mod logging;
pub mod python;

use crate::config;
use crate::config::listen::ListenAddr;
use crate::config::options::{AppGrants, AppLimits, ServerOptions, ServerSettings, flag_list};
use crate::gateway::Gateway;
use crate::http::access_log::Format as AccessFormat;
use crate::ops::reload::{Reloader, Source};
use crate::ops::{Admin, Ops};
use crate::runtime::{App, AppConfig, CompileCache, Runtime, RuntimeConfig};
use crate::server::{Server, ServerConfig};
use clap::{Parser, Subcommand};
use logging::LogFormat;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Runs WSGI-style web applications compiled to WebAssembly components, each
/// request in a fresh sandboxed instance.
#[derive(Debug, Parser)]
#[command(name = "wasm-gateway", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// The server's own log on stderr: `text`, or `json` (one object per
    /// line: time, level, target, message, fields, and inside a request
    /// its app and request number). Access lines are set apart by
    /// --access-log.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "WASM_GATEWAY_LOG_FORMAT",
        default_value_t = LogFormat::Text,
        value_name = "FORMAT"
    )]
    log_format: LogFormat,
}

impl Cli {
    /// The format `--log-format` (or `WASM_GATEWAY_LOG_FORMAT`) asks for:
    /// read before anything else, since logging starts first.
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve one application, or a whole gateway described by a TOML file.
    Serve(Box<ServeArgs>),
    /// Check an application or a gateway file without serving: load and
    /// compile everything, print the route table; exit 0 if all is well, 2
    /// otherwise.
    Check(Box<CheckArgs>),
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
    /// it imports and builds lazily is in the snapshot, not redone by every
    /// fresh instance (repeatable) [default: /].
    #[arg(long, value_name = "PATH")]
    warmup: Vec<String>,

    /// Wrap the app in wsgiref.validate.validator, with its warnings as
    /// errors: any PEP 3333 violation becomes a 500 and a logged traceback.
    #[arg(long)]
    validate: bool,

    /// Also import, at build time, every submodule of the packages the app
    /// imports: a larger snapshot, and no first-import cost at run time for
    /// what frameworks import lazily (any module is importable at run time
    /// either way, from the code store).
    #[arg(long)]
    import_packages: bool,

    /// The componentize-py executable [default: the one on PATH].
    #[arg(long, value_name = "PATH")]
    componentize_py: Option<PathBuf>,
}

/// Where compiled components are cached.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Compile cache")]
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

    /// Server settings; given here, they win over the gateway file's
    /// `[server]` values.
    #[command(flatten)]
    server: ServerOptions,

    #[command(flatten)]
    one_app: OneAppArgs,

    #[command(flatten)]
    cache: CacheArgs,

    /// Reload when the gateway file or a component changes (their
    /// directories are watched), as SIGHUP and `POST /reload` do.
    #[arg(long)]
    watch: bool,
}

/// The settings of the one app `serve APP.wasm` (or `check APP.wasm`)
/// runs; a gateway file sets them per app instead.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "One-app mode (a gateway file sets these per app)")]
struct OneAppArgs {
    /// One-app mode: a middleware component to stack in front of the app
    /// (repeatable, outermost first), with default settings; for its
    /// environ, limits or grants use a gateway file ([middleware.NAME]).
    #[arg(long, value_name = "MIDDLEWARE.wasm")]
    middleware: Vec<PathBuf>,

    #[command(flatten)]
    limits: AppLimits,

    #[command(flatten)]
    grants: AppGrants,
}

impl OneAppArgs {
    /// Whether any was given.
    fn any(&self) -> bool {
        !self.middleware.is_empty()
            || self.limits != AppLimits::default()
            || self.grants != AppGrants::default()
    }

    /// Why they cannot go with a gateway file, naming every such flag.
    fn refused_with_a_file() -> String {
        let mut flags = flag_list::<AppLimits>();
        flags.extend(flag_list::<AppGrants>());
        flags.push("--middleware".to_owned());
        format!(
            "{} are for one app; in a gateway file set them per app in [apps.NAME.limits] and [apps.NAME.grants], and stack middleware with [middleware.NAME] and `middleware = [...]`",
            flags.join(", ")
        )
    }

    /// Applies the limits and grants to the app's settings, with the
    /// default key-value store in `data_dir` (the only one there is without
    /// a gateway file).
    fn apply(&self, config: &mut AppConfig, data_dir: &Path) -> Result<(), String> {
        self.limits.apply(config);
        let stores = crate::kv::Catalog::new(Default::default(), data_dir);
        self.grants
            .apply(config, Path::new(""), &stores)
            .map_err(|err| {
                format!("{err} (with one app, only \"default\" exists; declare other stores in a gateway file)")
            })
    }
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// A component (`app.wasm`) or a gateway file (`gateway.toml`).
    path: PathBuf,

    /// The server settings it will be served with (the component caps
    /// among them), so that `check` refuses exactly what `serve` would.
    #[command(flatten)]
    server: ServerOptions,

    /// One-app mode: the middleware, limits and grants it will be served
    /// with.
    #[command(flatten)]
    one_app: OneAppArgs,

    #[command(flatten)]
    cache: CacheArgs,
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
        Command::Check(args) => check(*args),
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
        import_packages: args.import_packages,
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

/// What `serve` and `check` load: the gateway, the server settings, the
/// runtime the apps run in, and where a reload reads them again.
struct Loaded {
    gateway: Gateway,
    server: ServerSettings,
    runtime: Arc<Runtime>,
    source: Source,
}

/// Loads a gateway file (`config`, or a `.toml` path) or a single
/// component with `one_app`'s settings, compiling everything; `server`
/// (the command line's) wins over the file's `[server]`.
fn load(
    path: &Path,
    config: bool,
    one_app: &OneAppArgs,
    server: &ServerOptions,
    cache: Option<CompileCache>,
) -> anyhow::Result<Loaded> {
    if config || is_config(path) {
        if one_app.any() {
            anyhow::bail!("{}", OneAppArgs::refused_with_a_file());
        }
        let config = config::load_with(path, server)?;
        let mut settings = config.server.clone();
        server.apply(&mut settings);
        settings.validate().map_err(anyhow::Error::msg)?;
        let apps = || {
            config
                .apps
                .iter()
                .filter(|app| matches!(app.kind, config::AppKind::Wasm(_)))
                .map(|app| &app.config)
                .chain(config.middleware.iter().map(|layer| &layer.config))
        };
        crate::runtime::warn_on_oversubscription(settings.max_instances, apps());
        let runtime = Runtime::new(&RuntimeConfig {
            compile_cache: cache,
            caps: settings.caps,
            outbound_ca: settings.outbound_ca.clone(),
            ..RuntimeConfig::for_apps(settings.max_instances, apps())
        })
        .map_err(|err| anyhow::anyhow!("cannot start the WebAssembly engine: {err:#}"))?;
        let gateway = Gateway::load(&config, &runtime)?;
        return Ok(Loaded {
            gateway,
            server: settings,
            runtime: Arc::new(runtime),
            source: Source::File {
                path: path.to_path_buf(),
                overrides: Box::new(server.clone()),
            },
        });
    }
    let mut settings = ServerSettings::default();
    server.apply(&mut settings);
    settings.validate().map_err(anyhow::Error::msg)?;
    let stem = |path: &Path| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "app".into())
    };
    let mut config = AppConfig::new(stem(path));
    one_app
        .apply(&mut config, &settings.data_dir)
        .map_err(anyhow::Error::msg)?;
    one_app.grants.validate().map_err(anyhow::Error::msg)?;
    config.validate().map_err(anyhow::Error::msg)?;
    let layer_configs: Vec<AppConfig> = one_app
        .middleware
        .iter()
        .map(|layer| AppConfig::new(stem(layer)))
        .collect();
    let apps = || std::iter::once(&config).chain(&layer_configs);
    crate::runtime::warn_on_oversubscription(settings.max_instances, apps());
    let runtime = Runtime::new(&RuntimeConfig {
        compile_cache: cache,
        caps: settings.caps,
        outbound_ca: settings.outbound_ca.clone(),
        ..RuntimeConfig::for_apps(settings.max_instances, apps())
    })
    .map_err(|err| anyhow::anyhow!("cannot start the WebAssembly engine: {err:#}"))?;
    let mut layers = Vec::with_capacity(layer_configs.len() + 1);
    let mut sources = Vec::with_capacity(layer_configs.len());
    for (layer, layer_config) in one_app.middleware.iter().zip(layer_configs) {
        let loaded = runtime
            .load_middleware(layer, &layer_config)
            .map_err(|err| anyhow::anyhow!("--middleware: {err}"))?;
        sources.push((layer.clone(), layer_config.clone()));
        layers.push(Arc::new(App::new(&runtime, loaded, layer_config)));
    }
    let loaded = runtime.load(path, &config)?;
    let source = Source::OneApp {
        layers: sources,
        app: Box::new((path.to_path_buf(), config.clone())),
    };
    layers.push(Arc::new(App::new(&runtime, loaded, config)));
    crate::runtime::check_chain(&layers)?;
    Ok(Loaded {
        gateway: Gateway::single_chain(Arc::from(layers)),
        server: settings,
        runtime: Arc::new(runtime),
        source,
    })
}

fn check(args: CheckArgs) -> ExitCode {
    let server = &args.server;
    match load(&args.path, false, &args.one_app, server, args.cache.cache()) {
        Ok(loaded) => {
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
    let loaded = match load(
        path,
        config_file,
        &args.one_app,
        &args.server,
        args.cache.cache(),
    ) {
        Ok(loaded) => loaded,
        Err(err) => return fail(format_args!("{err}")),
    };
    let settings = loaded.server.clone();
    raise_open_file_limit(settings.limits.max_connections);
    crate::http::access_log::set_format(settings.access_log.unwrap_or(AccessFormat::Common));
    let listen = match settings
        .listen
        .clone()
        .unwrap_or(ListenAddr::DEFAULT)
        .resolve()
    {
        Ok(addr) => addr,
        Err(problem) => return fail(format_args!("{problem}")),
    };
    let admin_listen = match settings.admin_listen.clone().map(|addr| addr.resolve()) {
        None => None,
        Some(Ok(addr)) => Some(addr),
        Some(Err(problem)) => return fail(format_args!("admin-listen: {problem}")),
    };
    let Loaded {
        gateway,
        runtime,
        source,
        ..
    } = loaded;
    let gateway = Arc::new(gateway);

    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => return fail(format_args!("cannot start the async runtime: {err}")),
    };
    let watch = args.watch;
    let code = tokio.block_on(async {
        let server_config = ServerConfig {
            limits: settings.limits.clone(),
            shutdown_grace: settings.shutdown_grace,
        };
        let server = match Server::bind(listen, gateway, server_config).await {
            Ok(s) => s,
            Err(err) => return fail(format_args!("cannot listen on {listen}: {err}")),
        };
        let reloader = Arc::new(Reloader::new(
            source,
            runtime.clone(),
            settings.clone(),
            server.gateway(),
        ));
        let ops = Arc::new(Ops::new(
            server.gateway(),
            server.stats(),
            runtime.stats.clone(),
            reloader.clone(),
        ));
        let admin = match admin_listen {
            None => None,
            Some(addr) => match Admin::bind(addr, ops.clone()).await {
                Ok(admin) => Some(admin),
                Err(err) => {
                    return fail(format_args!(
                        "cannot listen on {addr} (admin-listen): {err}"
                    ));
                }
            },
        };
        let signals = match Signals::install() {
            Ok(signals) => signals,
            Err(err) => return fail(format_args!("cannot install signal handlers: {err}")),
        };
        let addr = match server.local_addr() {
            Ok(a) => a,
            Err(err) => return fail(format_args!("cannot read the bound address: {err}")),
        };
        let admin_addr = match admin.as_ref().map(Admin::local_addr) {
            None => None,
            Some(Ok(addr)) => Some(addr),
            Some(Err(err)) => return fail(format_args!("cannot read the admin address: {err}")),
        };
        let _watcher = if watch {
            match crate::ops::watch::start(reloader.clone()) {
                Ok(task) => Some(task),
                Err(err) => return fail(format_args!("--watch: cannot watch the files: {err}")),
            }
        } else {
            None
        };
        if let Some(admin) = admin {
            tokio::spawn(admin.run());
        }
        crate::ops::reload::log_loaded(&ops.live.load());
        ops.set_ready(true);
        // Scripts and tests read these lines to find the ports.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "http://{addr}");
        if let Some(admin_addr) = admin_addr {
            let _ = writeln!(out, "admin: http://{admin_addr}");
        }
        let _ = out.flush();
        drop(out);
        tracing::info!(serving = %path.display(), "serving on http://{addr}");
        if let Some(admin_addr) = admin_addr {
            tracing::info!("admin listener on http://{admin_addr}");
        }
        serve_until_stopped(server, signals, ops, settings.shutdown_delay).await
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

    /// The next signal: SIGINT or SIGTERM (stop), or SIGHUP (reload, as
    /// nginx and gunicorn do; it must never end a server that hosts other
    /// tenants).
    async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Stop("SIGINT"),
            _ = self.term.recv() => Signal::Stop("SIGTERM"),
            _ = self.hangup.recv() => Signal::Reload,
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Stop("Ctrl-C")
        }
    }

    /// The next stop signal, reloading on every SIGHUP before it.
    async fn stop(&mut self, reloader: &Arc<Reloader>) -> &'static str {
        loop {
            match self.next().await {
                Signal::Stop(name) => return name,
                // In the background (reloads queue on the reloader's lock):
                // a slow reload must not keep a stop signal waiting.
                Signal::Reload => {
                    let reloader = reloader.clone();
                    tokio::spawn(async move {
                        let _ = reloader.reload("SIGHUP").await;
                    });
                }
            }
        }
    }
}

/// What a signal asks for.
enum Signal {
    Stop(&'static str),
    Reload,
}

/// Serves until a stop signal, then drains: `/readyz` answers 503 at once,
/// the server keeps serving for `delay` (load balancers notice), then
/// stops accepting and gives the requests in flight the shutdown grace. A
/// second stop signal at any point ends the process at once (as gunicorn
/// and nginx do) instead of waiting on slow requests.
async fn serve_until_stopped(
    server: Server,
    mut signals: Signals,
    ops: Arc<Ops>,
    delay: std::time::Duration,
) -> ExitCode {
    let in_flight = server.in_flight();
    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    let run = server.run(async {
        let _ = drain_rx.await;
    });
    tokio::pin!(run);
    let reloader = ops.reloader.clone();
    let name = tokio::select! {
        result = &mut run => return served(result),
        name = signals.stop(&reloader) => name,
    };
    ops.set_ready(false);
    tracing::info!(
        in_flight = in_flight.get(),
        "{name}: shutting down gracefully (readyz now answers 503); send the signal again to stop at once"
    );
    let abandon = |name: &str| {
        tracing::warn!(
            in_flight = in_flight.get(),
            "second stop signal ({name}): stopping now, abandoning the requests in flight"
        );
        ExitCode::from(1)
    };
    if !delay.is_zero() {
        tracing::info!(
            in_flight = in_flight.get(),
            "serving for the shutdown delay ({delay:?}) before no longer accepting connections"
        );
        tokio::select! {
            result = &mut run => return served(result),
            () = tokio::time::sleep(delay) => {}
            name = signals.stop(&reloader) => return abandon(name),
        }
    }
    let _ = drain_tx.send(());
    tokio::select! {
        result = &mut run => served(result),
        name = signals.stop(&reloader) => abandon(name),
    }
}

fn served(result: std::io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(format_args!("server error: {err}")),
    }
}
