//! Log set-up for the binary: access lines bare on stdout (Common Log Format,
//! as wsgiref prints them), everything else through `tracing` on stderr.
//! Both go through non-blocking writers so a slow terminal or pipe never
//! stalls a runtime thread. `RUST_LOG` adjusts the levels.

use crate::http::access_log::TARGET as ACCESS;
use std::io::{BufWriter, IsTerminal};
use std::sync::mpsc;
use std::time::Duration;
use tracing::{Event, Subscriber, field, span};
use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// The most log bytes gathered into one write.
const BATCH: usize = 64 << 10;

/// The most lines waiting for each stream's writer thread. A reader slower
/// than the log (a stalled pipe, a slow terminal) must cost neither memory
/// without bound nor a blocked request: past this many lines, new ones are
/// dropped and counted. Lines are short (guest text is cut at 8 KiB), so
/// this is at most a few tens of MB.
const QUEUE_LINES: usize = 4096;

/// How often dropped lines are reported.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// Keeps the log writer threads alive; drop it last to flush.
pub struct LogGuard {
    writers: Option<[WorkerGuard; 2]>,
    /// Counts the lines each writer dropped.
    dropped: [ErrorCounter; 2],
    /// Stops the thread that reports dropped lines.
    reporter: Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.reporter.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
        // Flushes what the writers hold, on a thread of its own, waited
        // for a bounded time: a writer stuck on a reader that stopped
        // reading holds its stream's lock, and tracing-appender's guard
        // then prints a complaint to stdout, which would wait on that lock
        // forever. The process ends anyway; the lines still queued for a
        // reader that stopped are lost, as they would be later.
        let writers = self.writers.take();
        let total: usize = self.dropped.iter().map(ErrorCounter::dropped_lines).sum();
        let (done, flushed) = mpsc::channel();
        let flushing = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || {
                drop(writers);
                if total > 0 {
                    // The writers are gone: straight to stderr, so the
                    // total is seen.
                    eprintln!(
                        "wasm-gateway: {total} log lines were dropped in all because the log reader was too slow"
                    );
                }
                let _ = done.send(());
            });
        if flushing.is_ok() {
            let _ = flushed.recv_timeout(FLUSH_LIMIT);
        }
    }
}

/// The longest the process waits at exit for its log lines to be written.
const FLUSH_LIMIT: Duration = Duration::from_secs(3);

/// A writer thread for `stream` with a bounded, lossy queue.
fn writer<W: std::io::Write + Send + 'static>(stream: W, name: &str) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUE_LINES)
        .lossy(true)
        .thread_name(name)
        .finish(BufWriter::with_capacity(BATCH, stream))
}

/// Reports, once a second, how many lines were dropped since the last
/// report (the report itself may be dropped while the reader is still
/// behind; the count then carries over).
fn report_dropped(dropped: [ErrorCounter; 2], stop: mpsc::Receiver<()>) {
    let mut reported = 0;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(REPORT_EVERY) {
        let total: usize = dropped.iter().map(ErrorCounter::dropped_lines).sum();
        if total > reported {
            tracing::warn!(
                dropped = total - reported,
                "log lines dropped: the log reader is slower than the log"
            );
            reported = total;
        }
    }
}

/// Installs the global subscriber: one fmt layer (a layer per stream, each
/// behind its own filter, made every span and event cost twice as much on
/// the request path), whose writer sends access lines to stdout and the rest
/// to stderr, and whose format writes access lines bare.
pub fn init() -> LogGuard {
    // The writer thread drains every line waiting and then flushes, so a
    // buffer in between turns a burst of lines into one write: under load
    // the access log costs a system call per batch, not per request.
    let (stdout, stdout_guard) = writer(std::io::stdout(), "log-stdout");
    let (stderr, stderr_guard) = writer(std::io::stderr(), "log-stderr");
    let dropped = [stdout.error_counter(), stderr.error_counter()];
    let filter = EnvFilter::new(directives(std::env::var("RUST_LOG").ok().as_deref()));
    // Records of crates that log through `log` become events only up to the
    // filter's level; otherwise the `log` bridge would hand over every trace
    // record (some dependencies log per read or write) to be dropped.
    let log_level = match filter.max_level_hint() {
        Some(level) if level == LevelFilter::OFF => log::LevelFilter::Off,
        Some(level) if level == LevelFilter::ERROR => log::LevelFilter::Error,
        Some(level) if level == LevelFilter::WARN => log::LevelFilter::Warn,
        Some(level) if level == LevelFilter::INFO => log::LevelFilter::Info,
        Some(level) if level == LevelFilter::DEBUG => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    let writer = stdout
        .with_filter(|meta: &tracing::Metadata<'_>| meta.target() == ACCESS)
        .or_else(stderr);
    // Colours only for a terminal: logs piped to files or collectors stay plain.
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .event_format(Lines(format::Format::default()));
    // Without colours, this host's own span fields are written in the
    // plain form the fmt layer would write, only faster (see SpanFields).
    let span_fields = (!std::io::stderr().is_terminal()).then_some(SpanFields);
    tracing_subscriber::registry()
        .with(filter)
        .with(span_fields)
        .with(lines)
        .init();
    log::set_max_level(log_level);
    let (stop, stopped) = mpsc::channel();
    let reporter = std::thread::Builder::new()
        .name("log-drops".into())
        .spawn({
            let dropped = dropped.clone();
            move || report_dropped(dropped, stopped)
        })
        .ok()
        .map(|thread| (stop, thread));
    LogGuard {
        writers: Some([stdout_guard, stderr_guard]),
        dropped,
        reporter,
    }
}

/// The event format: an access line is its message alone (Common Log
/// Format); anything else is tracing's full format (time, level, spans,
/// target, message, fields).
struct Lines(format::Format);

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        if event.metadata().target() != ACCESS {
            return self.0.format_event(ctx, writer, event);
        }
        let mut message = Message(&mut writer, Ok(()));
        event.record(&mut message);
        message.1?;
        writeln!(writer)
    }
}

/// Writes an event's message field, and nothing else.
struct Message<'w, 'a>(&'w mut Writer<'a>, std::fmt::Result);

impl field::Visit for Message<'_, '_> {
    fn record_debug(&mut self, field: &field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.1 = write!(self.0, "{value:?}");
        }
    }
}

/// Formats the fields of this host's spans (the per-request span's
/// `app=NAME request=N`) as the fmt layer's default field format does
/// without colours, but with plain writes: the fmt layer finds them
/// formatted and skips its own formatting, the dearest part of a span on the
/// request path (about half its cost, measured in bench/ab.sh runs).
struct SpanFields;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SpanFields {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if !attrs.metadata().target().starts_with("wasm_gateway") {
            return;
        }
        let mut fields = PlainFields(String::with_capacity(32));
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut()
                .insert(FormattedFields::<format::DefaultFields>::new(fields.0));
        }
    }
}

/// `name=value` pairs separated by spaces, values as `Debug` shows them
/// (the default field format).
struct PlainFields(String);

impl PlainFields {
    fn name(&mut self, field: &field::Field) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        self.0.push_str(field.name());
        self.0.push('=');
    }
}

impl field::Visit for PlainFields {
    fn record_u64(&mut self, field: &field::Field, value: u64) {
        use std::fmt::Write as _;
        self.name(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_debug(&mut self, field: &field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        self.name(field);
        let _ = write!(self.0, "{value:?}");
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

#[cfg(test)]
mod span_field_tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Everything written, as one string.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn log_line(fast: bool) -> String {
        let out = Captured::default();
        let writer = {
            let out = out.clone();
            move || out.clone()
        };
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(false)
            .without_time();
        let subscriber = tracing_subscriber::registry()
            .with(fast.then_some(SpanFields))
            .with(fmt);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                target: "wasm_gateway::server",
                "request",
                app = %"blog",
                request = 7u64,
                quoted = "a \"b\"",
                flag = true,
                delta = -3i64,
            );
            let _in = span.enter();
            tracing::warn!(target: "wasm_gateway::app", stream = "stdout", "hello");
        });
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn span_fields_read_as_the_fmt_layer_writes_them() {
        let line = log_line(true);
        assert_eq!(line, log_line(false));
        assert!(
            line.contains("request{app=blog request=7 quoted=\"a \\\"b\\\"\" flag=true delta=-3}: wasm_gateway::app: hello stream=\"stdout\""),
            "{line}"
        );
    }
}
