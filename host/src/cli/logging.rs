//! Log set-up for the binary: access lines bare on stdout (Common Log Format,
//! as wsgiref prints them), everything else through `tracing` on stderr.
//! Both go through non-blocking writers so a slow terminal or pipe never
//! stalls a runtime thread. `RUST_LOG` adjusts the levels.

use std::io::{BufWriter, IsTerminal};

/// The most log bytes gathered into one write.
const BATCH: usize = 64 << 10;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, filter_fn};
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
    let filter = EnvFilter::new(directives(std::env::var("RUST_LOG").ok().as_deref()));
    // Records of crates that log through `log` are turned into events only
    // up to the filter's level: the per-layer filters below hide that level
    // from the `log` bridge, which would otherwise hand over every trace
    // record (some dependencies log per read or write) to be filtered out.
    let log_level = match filter.max_level_hint() {
        Some(level) if level == LevelFilter::OFF => log::LevelFilter::Off,
        Some(level) if level == LevelFilter::ERROR => log::LevelFilter::Error,
        Some(level) if level == LevelFilter::WARN => log::LevelFilter::Warn,
        Some(level) if level == LevelFilter::INFO => log::LevelFilter::Info,
        Some(level) if level == LevelFilter::DEBUG => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    let access = tracing_subscriber::fmt::layer()
        .with_writer(stdout)
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_filter(filter_fn(|m| m.target() == crate::http::access_log::TARGET));
    // Colours only for a terminal: logs piped to files or collectors stay plain.
    let rest = tracing_subscriber::fmt::layer()
        .with_writer(stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter_fn(|m| m.target() != crate::http::access_log::TARGET));
    tracing_subscriber::registry()
        .with(filter)
        .with(access)
        .with(rest)
        .init();
    log::set_max_level(log_level);
    LogGuard {
        _stdout: stdout_guard,
        _stderr: stderr_guard,
    }
}

/// The filter for `RUST_LOG`: its directives on top of `info` for every
/// target it does not name. (Alone, `RUST_LOG=wasm_gateway::access=off`
/// would turn every other line off too, errors included.)
fn directives(rust_log: Option<&str>) -> String {
    let Some(rust_log) = rust_log.map(str::trim).filter(|v| !v.is_empty()) else {
        return "info".to_owned();
    };
    // A bare level (`debug`) sets the default itself.
    let has_default = rust_log.split(',').any(|d| {
        ["trace", "debug", "info", "warn", "error", "off"]
            .iter()
            .any(|level| d.trim().eq_ignore_ascii_case(level))
    });
    if has_default {
        rust_log.to_owned()
    } else {
        format!("info,{rust_log}")
    }
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn targets_not_named_stay_at_info() {
        assert_eq!(directives(None), "info");
        assert_eq!(directives(Some("")), "info");
        assert_eq!(
            directives(Some("wasm_gateway::access=off")),
            "info,wasm_gateway::access=off"
        );
        assert_eq!(directives(Some("debug,hyper=warn")), "debug,hyper=warn");
    }
}
