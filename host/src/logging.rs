//! Log set-up for the binary: access lines bare on stdout (Common Log Format,
//! as wsgiref prints them), everything else through `tracing` on stderr.
//! Both go through non-blocking writers so a slow terminal or pipe never
//! stalls a runtime thread. `RUST_LOG` adjusts the levels.

use std::io::IsTerminal;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::prelude::*;

/// Keeps the log writer threads alive; drop it last to flush.
pub struct LogGuard {
    _stdout: tracing_appender::non_blocking::WorkerGuard,
    _stderr: tracing_appender::non_blocking::WorkerGuard,
}

/// Installs the global subscriber.
pub fn init() -> LogGuard {
    let (stdout, stdout_guard) = tracing_appender::non_blocking(std::io::stdout());
    let (stderr, stderr_guard) = tracing_appender::non_blocking(std::io::stderr());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let access = tracing_subscriber::fmt::layer()
        .with_writer(stdout)
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_filter(filter_fn(|m| m.target() == crate::access_log::TARGET));
    // Colours only for a terminal: logs piped to files or collectors stay plain.
    let rest = tracing_subscriber::fmt::layer()
        .with_writer(stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter_fn(|m| m.target() != crate::access_log::TARGET));
    tracing_subscriber::registry()
        .with(filter)
        .with(access)
        .with(rest)
        .init();
    LogGuard {
        _stdout: stdout_guard,
        _stderr: stderr_guard,
    }
}
