//! What an application writes to the server's log: `wsgi.errors` lines and
//! captured stdout and stderr, cut into bounded lines, and rate-limited per
//! application. Lines are logged in the request's span, which names the
//! application and the request.

use bytes::Bytes;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Most application log lines per second, per application, once the burst
/// is spent.
const LOG_LINES_PER_SECOND: f64 = 100.0;
/// Lines an application may log at once before the rate applies.
const LOG_BURST: f64 = 1000.0;
/// A captured line longer than this is cut into pieces of this size.
const MAX_LOG_LINE: usize = 8 << 10;

/// A token bucket over one application's log lines (captured stdout and
/// stderr, and `wsgi.errors`): a chatty or hostile application cannot flood
/// the server's log. Dropped lines are counted and reported once the
/// application may log again.
#[derive(Debug)]
pub struct LogBudget {
    state: Mutex<Bucket>,
    /// Lines dropped over the budget's life, for the metrics.
    dropped_total: std::sync::atomic::AtomicU64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    dropped: u64,
}

/// Logs a `wsgi.errors` message line by line, as far as `budget` allows.
pub fn log_message(budget: &LogBudget, message: &str) {
    for line in log_lines(message) {
        if budget.allow() {
            tracing::warn!(target: "wasm_gateway::app", "{line}");
        }
    }
}

/// `text` cut to one log line's worth (8 KiB, at a character boundary),
/// with the size it had when it was longer: for guest-controlled text
/// that goes into a host log line.
pub fn cut(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_LOG_LINE {
        return text.into();
    }
    let mut end = MAX_LOG_LINE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes, cut)", &text[..end], text.len()).into()
}

/// `message` cut into log lines: at newlines, and into pieces of at most
/// 8 KiB, so that no application line is unbounded in the log.
pub fn log_lines(message: &str) -> impl Iterator<Item = &str> {
    message.lines().filter(|l| !l.is_empty()).flat_map(|line| {
        let mut rest = line;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let mut end = rest.len().min(MAX_LOG_LINE);
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            let (piece, tail) = rest.split_at(end);
            rest = tail;
            Some(piece)
        })
    })
}

impl Default for LogBudget {
    /// A full budget.
    fn default() -> Self {
        LogBudget {
            state: Mutex::new(Bucket {
                tokens: LOG_BURST,
                last: Instant::now(),
                dropped: 0,
            }),
            dropped_total: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl LogBudget {
    /// Lines dropped so far.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether one more line may be logged now.
    pub fn allow(&self) -> bool {
        let mut bucket = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(bucket.last).as_secs_f64() * LOG_LINES_PER_SECOND;
        bucket.tokens = (bucket.tokens + refill).min(LOG_BURST);
        bucket.last = now;
        if bucket.tokens < 1.0 {
            bucket.dropped += 1;
            self.dropped_total
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return false;
        }
        bucket.tokens -= 1.0;
        let dropped = std::mem::take(&mut bucket.dropped);
        drop(bucket);
        if dropped > 0 {
            tracing::warn!(
                target: "wasm_gateway::app",
                dropped,
                "application log lines dropped by the rate limit ({LOG_LINES_PER_SECOND}/s)"
            );
        }
        true
    }
}

/// An instance's captured streams, to flush an unfinished line when a
/// request ends.
pub struct Captured {
    streams: Vec<Capture>,
}

impl Captured {
    /// The streams `streams` of one instance.
    pub(crate) fn new(streams: Vec<Capture>) -> Self {
        Captured { streams }
    }

    /// Logs what is left of an unfinished line, under the request that
    /// wrote it (a reused instance's next request must not inherit it).
    pub fn end(&self) {
        for stream in &self.streams {
            stream.inner.flush_partial();
        }
    }
}

/// A captured stdout or stderr: each complete line becomes a log event
/// tagged with its stream (the request's span names the application and
/// the request).
#[derive(Clone)]
pub(crate) struct Capture {
    inner: Arc<CaptureInner>,
}

struct CaptureInner {
    stream: &'static str,
    budget: Arc<LogBudget>,
    /// The unfinished line, shared by every handle the guest opens to the
    /// stream (Rust's std may get a fresh handle per write).
    partial: Mutex<Vec<u8>>,
}

impl Capture {
    pub(crate) fn new(stream: &'static str, budget: &Arc<LogBudget>) -> Self {
        Capture {
            inner: Arc::new(CaptureInner {
                stream,
                budget: budget.clone(),
                partial: Mutex::new(Vec::new()),
            }),
        }
    }
}

impl CaptureInner {
    fn emit(&self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        for piece in line.chunks(MAX_LOG_LINE) {
            if !self.budget.allow() {
                return;
            }
            tracing::info!(
                target: "wasm_gateway::app",
                stream = self.stream,
                "{}",
                String::from_utf8_lossy(piece)
            );
        }
    }

    fn flush_partial(&self) {
        let partial = std::mem::take(&mut *self.partial.lock().unwrap_or_else(|e| e.into_inner()));
        self.emit(&partial);
    }

    fn write(&self, mut bytes: &[u8]) {
        let mut partial = self.partial.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            if partial.is_empty() {
                self.emit(&bytes[..end]);
            } else {
                partial.extend_from_slice(&bytes[..end]);
                self.emit(&partial);
                partial.clear();
            }
            bytes = &bytes[end + 1..];
        }
        partial.extend_from_slice(bytes);
        while partial.len() >= MAX_LOG_LINE {
            let rest = partial.split_off(MAX_LOG_LINE);
            self.emit(&partial);
            *partial = rest;
        }
    }
}

impl Drop for CaptureInner {
    fn drop(&mut self) {
        // The last line of an instance need not end with a newline.
        let partial = std::mem::take(self.partial.get_mut().unwrap_or_else(|e| e.into_inner()));
        self.emit(&partial);
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.inner.write(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.inner.write(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_allows_a_burst_then_refuses() {
        let budget = LogBudget::default();
        let allowed = (0..5000).filter(|_| budget.allow()).count();
        // The burst, plus whatever refilled while the loop ran.
        assert!((1000..1100).contains(&allowed), "{allowed}");
        assert!(budget.state.lock().unwrap().dropped > 3000);
    }

    #[test]
    fn log_lines_are_cut_at_newlines_and_8_kib() {
        let long = "é".repeat(10_000);
        let text = format!("a\n\n{long}\nb");
        let lines: Vec<&str> = log_lines(&text).collect();
        assert_eq!(lines[0], "a");
        assert_eq!(*lines.last().unwrap(), "b");
        assert!(lines.iter().all(|l| l.len() <= MAX_LOG_LINE));
        assert_eq!(lines[1..lines.len() - 1].concat(), long);
    }
}
