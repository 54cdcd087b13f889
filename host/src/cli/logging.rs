//! Log set-up for the binary: access lines bare on stdout (in the format
//! `--access-log` chose), everything else through `tracing` on stderr, as
//! text or, with `--log-format json`, one JSON object per line. Both go
//! through non-blocking writers so a slow terminal or pipe never stalls a
//! runtime thread. `RUST_LOG` adjusts the levels.

use crate::http::access_log::{JsonEscape, JsonStr, Rfc3339, TARGET as ACCESS};
use std::fmt::Write as _;
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

/// The format of the server's own log on stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text lines as tracing writes them: time, level, spans, target,
    /// message, fields.
    #[default]
    Text,
    /// One JSON object per line: time, level, target, message, the event's
    /// fields, and the fields of the spans it is in (inside a request, its
    /// `app` and `request` number).
    Json,
}

/// Installs the global subscriber: one fmt layer (a layer per stream, each
/// behind its own filter, made every span and event cost twice as much on
/// the request path), whose writer sends access lines to stdout and the rest
/// to stderr, and whose format writes access lines bare and the rest in
/// `format`.
pub fn init(format: LogFormat) -> LogGuard {
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
    match format {
        LogFormat::Text => {
            // Colours only for a terminal: logs piped to files or
            // collectors stay plain.
            let lines = tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(std::io::stderr().is_terminal())
                .event_format(Lines(format::Format::default()));
            // Without colours, this host's own span fields are written in
            // the plain form the fmt layer would write, only faster (see
            // SpanFields).
            let span_fields = (!std::io::stderr().is_terminal()).then_some(SpanFields);
            tracing_subscriber::registry()
                .with(filter)
                .with(span_fields)
                .with(lines)
                .init();
        }
        LogFormat::Json => {
            let lines = tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .event_format(Lines(JsonLines));
            tracing_subscriber::registry()
                .with(filter)
                .with(JsonSpanFields)
                .with(lines)
                .init();
        }
    }
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

/// The event format: an access line is its message alone (the access log
/// formats it); anything else goes to `F`, tracing's full text format (time,
/// level, spans, target, message, fields) or [`JsonLines`].
struct Lines<F>(F);

impl<S, N, F> FormatEvent<S, N> for Lines<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
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

/// The fields of a span as JSON values (`"blog"`, `7`), for [`JsonLines`]
/// to write on each line logged inside it.
#[derive(Default)]
struct SpanJson(Vec<(&'static str, String)>);

/// Records every span's fields as JSON ([`SpanJson`]) when it is created,
/// and leaves the fmt layer an empty text form so that it formats nothing
/// itself: `--log-format json`'s counterpart of [`SpanFields`].
struct JsonSpanFields;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for JsonSpanFields {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = SpanJson::default();
        attrs.record(&mut JsonValues(&mut fields));
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            extensions.insert(fields);
            extensions.insert(FormattedFields::<format::DefaultFields>::new(String::new()));
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanJson>()
        {
            values.record(&mut JsonValues(fields));
        }
    }
}

/// Records fields as JSON values into a [`SpanJson`] (a field recorded
/// again replaces its value).
struct JsonValues<'a>(&'a mut SpanJson);

impl JsonValues<'_> {
    fn put(&mut self, field: &field::Field, value: String) {
        match self.0.0.iter_mut().find(|(name, _)| *name == field.name()) {
            Some(slot) => slot.1 = value,
            None => self.0.0.push((field.name(), value)),
        }
    }
}

impl field::Visit for JsonValues<'_> {
    fn record_u64(&mut self, field: &field::Field, value: u64) {
        self.put(field, value.to_string());
    }

    fn record_i64(&mut self, field: &field::Field, value: i64) {
        self.put(field, value.to_string());
    }

    fn record_bool(&mut self, field: &field::Field, value: bool) {
        self.put(field, value.to_string());
    }

    fn record_str(&mut self, field: &field::Field, value: &str) {
        self.put(field, JsonStr(value).to_string());
    }

    fn record_debug(&mut self, field: &field::Field, value: &dyn std::fmt::Debug) {
        let mut text = String::from("\"");
        let _ = write!(JsonEscape(&mut text), "{value:?}");
        text.push('"');
        self.put(field, text);
    }
}

/// `--log-format json`: one object per line,
///
/// `{"time":"2026-11-21T12:00:00.123456Z","level":"ERROR","target":"wasm_gateway::app","message":"...","stream":"stderr","app":"blog","request":7}`
///
/// the event's fields after the message, then the fields of the spans it is
/// in, outermost first (inside a request: `app` and `request`). A name
/// already written is prefixed with its span's name (`"layer.app"`, the
/// middleware a line comes from), or with `fields.` for an event field
/// named like a fixed key, so that no key appears twice. Records of crates
/// that log through `log` show their own target.
struct JsonLines;

/// The keys every line starts with.
const FIXED_KEYS: [&str; 4] = ["time", "level", "target", "message"];

impl<S, N> FormatEvent<S, N> for JsonLines
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
        let meta = event.metadata();
        let mut log_target = None;
        if meta.target() == "log" {
            event.record(&mut LogTarget(&mut log_target));
        }
        write!(
            writer,
            "{{\"time\":\"{}\",\"level\":\"{}\",\"target\":{}",
            Rfc3339(time::OffsetDateTime::now_utc(), 6),
            meta.level(),
            JsonStr(log_target.as_deref().unwrap_or(meta.target()))
        )?;
        let mut written: Vec<&str> = FIXED_KEYS.to_vec();
        let mut message = JsonMessage(&mut writer, Ok(()));
        event.record(&mut message);
        message.1?;
        let mut fields = JsonEventFields {
            writer: &mut writer,
            written: &mut written,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(SpanJson(values)) = extensions.get::<SpanJson>() else {
                    continue;
                };
                for (name, value) in values {
                    if written.contains(name) {
                        write!(
                            writer,
                            ",{}:{value}",
                            JsonStr(&format!("{}.{name}", span.name()))
                        )?;
                    } else {
                        write!(writer, ",{}:{value}", JsonStr(name))?;
                        written.push(*name);
                    }
                }
            }
        }
        writeln!(writer, "}}")
    }
}

/// The target of a record that came through the `log` bridge.
struct LogTarget<'a>(&'a mut Option<String>);

impl field::Visit for LogTarget<'_> {
    fn record_str(&mut self, field: &field::Field, value: &str) {
        if field.name() == "log.target" {
            *self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, _: &field::Field, _: &dyn std::fmt::Debug) {}
}

/// Writes `,"message":"..."` from an event's message field.
struct JsonMessage<'w, 'a>(&'w mut Writer<'a>, std::fmt::Result);

impl field::Visit for JsonMessage<'_, '_> {
    fn record_str(&mut self, field: &field::Field, value: &str) {
        if field.name() == "message" {
            self.1 = write!(self.0, ",\"message\":{}", JsonStr(value));
        }
    }

    fn record_debug(&mut self, field: &field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.1 = (|| {
                self.0.write_str(",\"message\":\"")?;
                write!(JsonEscape(&mut *self.0), "{value:?}")?;
                self.0.write_char('"')
            })();
        }
    }
}

/// Writes an event's fields but its message (and the `log` bridge's
/// `log.*` fields) as `,"name":value`.
struct JsonEventFields<'w, 'a, 'n> {
    writer: &'w mut Writer<'a>,
    written: &'n mut Vec<&'static str>,
    result: std::fmt::Result,
}

impl JsonEventFields<'_, '_, '_> {
    /// Writes `,"name":` for `field`, unless it is not to be written.
    fn key(&mut self, field: &field::Field) -> bool {
        let name = field.name();
        if name == "message" || name.starts_with("log.") || self.result.is_err() {
            return false;
        }
        self.result = if self.written.contains(&name) {
            write!(self.writer, ",\"fields.{name}\":")
        } else {
            self.written.push(name);
            write!(self.writer, ",{}:", JsonStr(name))
        };
        self.result.is_ok()
    }
}

impl field::Visit for JsonEventFields<'_, '_, '_> {
    fn record_u64(&mut self, field: &field::Field, value: u64) {
        if self.key(field) {
            self.result = write!(self.writer, "{value}");
        }
    }

    fn record_i64(&mut self, field: &field::Field, value: i64) {
        if self.key(field) {
            self.result = write!(self.writer, "{value}");
        }
    }

    fn record_f64(&mut self, field: &field::Field, value: f64) {
        if self.key(field) {
            self.result = if value.is_finite() {
                write!(self.writer, "{value}")
            } else {
                write!(self.writer, "\"{value}\"")
            };
        }
    }

    fn record_bool(&mut self, field: &field::Field, value: bool) {
        if self.key(field) {
            self.result = write!(self.writer, "{value}");
        }
    }

    fn record_str(&mut self, field: &field::Field, value: &str) {
        if self.key(field) {
            self.result = write!(self.writer, "{}", JsonStr(value));
        }
    }

    fn record_debug(&mut self, field: &field::Field, value: &dyn std::fmt::Debug) {
        if self.key(field) {
            self.result = (|| {
                self.writer.write_char('"')?;
                write!(JsonEscape(&mut *self.writer), "{value:?}")?;
                self.writer.write_char('"')
            })();
        }
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

    /// Everything written, as one string (the JSON tests use it too).
    #[derive(Clone, Default)]
    pub(super) struct Captured(pub(super) Arc<Mutex<Vec<u8>>>);

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

#[cfg(test)]
mod json_tests {
    use super::span_field_tests::Captured;
    use super::*;

    /// The JSON lines `log` writes, parsed.
    fn json_lines(log: impl FnOnce()) -> Vec<serde_json::Value> {
        let out = Captured::default();
        let writer = {
            let out = out.clone();
            move || out.clone()
        };
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(false)
            .event_format(Lines(JsonLines));
        let subscriber = tracing_subscriber::registry()
            .with(JsonSpanFields)
            .with(fmt);
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    #[test]
    fn span_fields_are_keys_and_a_repeated_name_is_prefixed() {
        let lines = json_lines(|| {
            let request = tracing::info_span!(
                target: "wasm_gateway::server",
                "request",
                app = %"blog",
                request = 7u64,
            );
            let _in = request.enter();
            let layer =
                tracing::info_span!(target: "wasm_gateway::runtime", "layer", app = %"auth");
            let _in = layer.enter();
            tracing::error!(
                target: "wasm_gateway::app",
                stream = "stderr",
                n = 3u64,
                ok = true,
                quoted = %"a \"b\"\n",
                "the app said {}",
                "hi"
            );
        });
        let [line] = &lines[..] else {
            panic!("{lines:?}")
        };
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["target"], "wasm_gateway::app");
        assert_eq!(line["message"], "the app said hi");
        assert_eq!(line["stream"], "stderr");
        assert_eq!(line["n"], 3);
        assert_eq!(line["ok"], true);
        assert_eq!(line["quoted"], "a \"b\"\n");
        assert_eq!(line["app"], "blog");
        assert_eq!(line["request"], 7);
        assert_eq!(line["layer.app"], "auth");
        assert!(line["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn a_field_named_like_a_fixed_key_is_kept_apart() {
        let lines = json_lines(|| tracing::warn!(time = 5u64, level = "x", "m"));
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["fields.time"], 5);
        assert_eq!(lines[0]["fields.level"], "x");
    }

    #[test]
    fn access_lines_stay_bare() {
        let out = Captured::default();
        let writer = {
            let out = out.clone();
            move || out.clone()
        };
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .event_format(Lines(JsonLines));
        tracing::subscriber::with_default(
            tracing_subscriber::registry().with(fmt),
            || tracing::info!(target: ACCESS, "127.0.0.1 - - [x] \"GET / HTTP/1.1\" 200 1"),
        );
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "127.0.0.1 - - [x] \"GET / HTTP/1.1\" 200 1\n");
    }
}
