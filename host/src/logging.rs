//! Log set-up for the binary: access lines bare on stdout (Common Log Format,
//! as wsgiref prints them), everything else through `tracing` on stderr.
//! Both go through non-blocking writers so a slow terminal or pipe never
//! stalls a runtime thread. `RUST_LOG` adjusts the levels.

use std::io::{BufWriter, IsTerminal};

/// The most log bytes gathered into one write.
const BATCH: usize = 64 << 10;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::prelude::*;

/// Keeps the log writer threads alive; drop it last to flush.
pub struct LogGuard {
    _stdout: tracing_appender::non_blocking::WorkerGuard,
    _stderr: tracing_appender::non_blocking::WorkerGuard,
}

/// Installs the global subscriber.
pub fn init() -> LogGuard {
    // The writer thread drains every line waiting and then flushes, so a
    // buffer in between turns a burst of lines into one write: under load
    // the access log costs a system call per batch, not per request.
    let (stdout, stdout_guard) =
        tracing_appender::non_blocking(BufWriter::with_capacity(BATCH, std::io::stdout()));
    let (stderr, stderr_guard) =
        tracing_appender::non_blocking(BufWriter::with_capacity(BATCH, std::io::stderr()));
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
