//! Command-line interface: argument parsing and the `serve` command.
//!
//! The binary is a thin shell around [`main`]; everything it does is
//! available from the library too.

use crate::limits::HttpLimits;
use crate::runtime::{App, AppConfig, Runtime, RuntimeConfig};
use crate::server::{Server, ServerConfig};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
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
    /// Serve one application over HTTP.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The application: a component built with wasm-gateway-sdk.
    app: PathBuf,

    /// Address to listen on; port 0 picks a free port. The bound address is
    /// printed as `http://HOST:PORT` once the server is ready.
    #[arg(long, default_value = "127.0.0.1:8000", env = "WASM_GATEWAY_LISTEN")]
    listen: SocketAddr,

    /// Wall-clock deadline of one request (e.g. 30s, 500ms); past it the
    /// instance is killed and the client gets 504.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,

    /// Most linear memory one instance may use (bytes; suffixes KiB, MiB, GiB).
    #[arg(long, default_value = "128MiB", value_parser = parse_size)]
    memory: usize,

    /// Most instances alive at once.
    #[arg(long, default_value_t = 1000)]
    max_instances: u32,

    /// Largest request body (suffixes KiB, MiB, GiB): a larger Content-Length
    /// gets 413 before the app runs; a chunked body is cut there.
    #[arg(long, default_value = "100MiB", value_parser = parse_size)]
    max_body: usize,

    #[command(flatten)]
    limits: LimitArgs,
}

/// The HTTP limits of `docs/limits.md`.
#[derive(Debug, clap::Args)]
struct LimitArgs {
    /// Longest request line in bytes; longer gets 414 (at most 65534).
    #[arg(long, default_value_t = 8190)]
    max_request_line: usize,

    /// Most header fields in a request; more gets 431.
    #[arg(long, default_value_t = 100)]
    max_header_count: usize,

    /// Longest header field line (name, colon, value) in bytes; longer gets 431.
    #[arg(long, default_value_t = 8190)]
    max_header_field: usize,

    /// Largest request head as a whole (suffixes KiB, MiB); larger gets 431.
    #[arg(long, default_value = "64KiB", value_parser = parse_size)]
    max_head_size: usize,

    /// Time from a request head's first byte to its end; past it, 408.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    header_timeout: Duration,

    /// Idle time allowed on a connection before its (next) request; past it
    /// the connection is closed.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    keep_alive_timeout: Duration,

    /// Longest wait for more request body bytes while the app reads; past
    /// it the read fails and the client gets 408.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    body_timeout: Duration,

    /// Most open client connections; further ones wait in the listen backlog.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
}

impl LimitArgs {
    fn to_limits(&self) -> HttpLimits {
        HttpLimits {
            max_request_line: self.max_request_line,
            max_header_count: self.max_header_count,
            max_header_field: self.max_header_field,
            max_head_size: self.max_head_size,
            header_timeout: self.header_timeout,
            keep_alive_timeout: self.keep_alive_timeout,
            body_timeout: self.body_timeout,
            max_connections: self.max_connections,
        }
    }
}

/// Parses `128MiB`, `64KiB`, `1GiB` or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 128MiB"))?;
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => 1 << 10,
        "MiB" | "M" | "MB" => 1 << 20,
        "GiB" | "G" | "GB" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?}: use KiB, MiB or GiB")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{text} is too large"))
}

/// Runs the command line; returns the process exit status (2 when the
/// application cannot be loaded or the address cannot be bound).
pub fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let limits = args.limits.to_limits();
    if let Err(problem) = limits.validate() {
        return fail(format_args!("{problem}"));
    }
    raise_open_file_limit(limits.max_connections);
    let runtime = match Runtime::new(&RuntimeConfig {
        max_instances: args.max_instances,
        max_memory: args.memory.max(RuntimeConfig::default().max_memory),
    }) {
        Ok(r) => r,
        Err(err) => return fail(format_args!("cannot start the WebAssembly engine: {err:#}")),
    };
    let loaded = match runtime.load(&args.app) {
        Ok(loaded) => loaded,
        Err(err) => return fail(format_args!("{err}")),
    };
    let name = args
        .app
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".into());
    let mut config = AppConfig::new(name);
    config.timeout = args.timeout;
    config.memory = args.memory;
    config.max_body = args.max_body as u64;
    let app = Arc::new(App::new(&runtime, loaded, config));

    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => return fail(format_args!("cannot start the async runtime: {err}")),
    };
    tokio.block_on(async {
        let server_config = ServerConfig {
            limits,
            ..ServerConfig::default()
        };
        let server = match Server::bind(args.listen, app, server_config).await {
            Ok(s) => s,
            Err(err) => return fail(format_args!("cannot listen on {}: {err}", args.listen)),
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
        tracing::info!(app = %args.app.display(), "serving on http://{addr}");
        match server.run(shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => fail(format_args!("server error: {err}")),
        }
    })
}

/// Raises the soft limit on open files to the hard limit: each connection
/// is a descriptor, and the common soft default (1024) is far below the
/// default connection limit. Says so when the limit stays too low.
fn raise_open_file_limit(max_connections: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < max_connections as u64 + 64 => tracing::warn!(
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

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("128MiB"), Ok(128 << 20));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
    }
}
