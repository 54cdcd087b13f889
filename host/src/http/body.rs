//! The response body hyper sends: either a complete buffer (error pages), a
//! stream fed by the guest's task through a small bounded channel, so a slow
//! client slows the guest down instead of making the host buffer, or a static
//! file read chunk by chunk as the client takes it.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Span;

/// What travels from the guest task to the connection. A body is complete
/// only when `End` arrives: if the sender goes away without it (trap,
/// timeout, panic), the connection aborts instead of passing a truncated body
/// off as whole.
#[derive(Debug)]
pub enum Chunk {
    /// Body bytes.
    Data(Bytes),
    /// The body is complete.
    End,
}

/// How much of a file one body frame carries.
pub(crate) const CHUNK_SIZE: u64 = 64 * 1024;

/// The body ended before the application finished it (trap, deadline, ...);
/// hyper aborts the connection so the client cannot mistake it for complete.
#[derive(Debug, thiserror::Error)]
#[error("the response body was aborted")]
pub struct Aborted;

enum Source {
    Full(Option<Bytes>),
    Stream {
        /// Chunks taken from the channel before streaming started.
        pending: VecDeque<Bytes>,
        rx: mpsc::Receiver<Chunk>,
    },
    /// A static file (or a byte range of one), read as the client takes it.
    File(FileChunks),
    /// Any other body that ends honestly (an error when it was cut).
    Other(Pin<Box<dyn Body<Data = Bytes, Error = Aborted> + Send>>),
}

/// A response body: a buffer, an application's stream or a file.
pub struct ResponseBody {
    source: Source,
    /// Body bytes a stream produced, counted as they pass, to check against
    /// `declared`.
    produced: u64,
    /// The application's Content-Length, checked against what it produced,
    /// and the request's span to report a mismatch in.
    declared: Option<(u64, Span)>,
    /// Set once an abort has been held back for one poll (see
    /// [`ResponseBody::abort`]).
    abort_held: bool,
}

impl ResponseBody {
    /// A body already in memory.
    pub fn full(data: Bytes) -> Self {
        ResponseBody {
            source: Source::Full(Some(data)),
            produced: 0,
            declared: None,
            abort_held: false,
        }
    }

    /// A body that streams itself, failing with [`Aborted`] when it was cut.
    pub fn streaming(body: impl Body<Data = Bytes, Error = Aborted> + Send + 'static) -> Self {
        ResponseBody {
            source: Source::Other(Box::pin(body)),
            produced: 0,
            declared: None,
            abort_held: false,
        }
    }

    /// A static file's bytes, read chunk by chunk off the runtime threads.
    pub fn file(chunks: FileChunks) -> Self {
        ResponseBody {
            source: Source::File(chunks),
            produced: 0,
            declared: None,
            abort_held: false,
        }
    }

    /// A body fed by the guest's task. When the whole body is already in the
    /// channel (the usual case for small responses), it becomes a complete
    /// buffer: hyper then knows its exact length and writes it with the head.
    ///
    /// `declared` is the application's Content-Length. hyper sends that
    /// header as given, so the body must match it: surplus bytes are cut, and
    /// a short body aborts the connection (as hyper itself does for streamed
    /// bodies), so the client never reads one response's bytes as the next.
    pub fn from_channel(mut rx: mpsc::Receiver<Chunk>, declared: Option<u64>) -> Self {
        let mut pending = VecDeque::new();
        while let Ok(chunk) = rx.try_recv() {
            match chunk {
                Chunk::Data(data) => pending.push_back(data),
                Chunk::End => {
                    let mut data = match pending.len() {
                        0 => Bytes::new(),
                        1 => pending.pop_front().unwrap_or_default(),
                        _ => pending
                            .iter()
                            .flatten()
                            .copied()
                            .collect::<Vec<u8>>()
                            .into(),
                    };
                    let produced = data.len() as u64;
                    match declared {
                        Some(n) if n < produced => {
                            mismatch(n, produced);
                            data.truncate(n as usize);
                        }
                        Some(n) if n > produced => {
                            // Too short: send what there is, then abort.
                            pending.push_back(data);
                            break;
                        }
                        _ => {}
                    }
                    return ResponseBody::full(data);
                }
            }
        }
        ResponseBody {
            source: Source::Stream { pending, rx },
            produced: 0,
            // Checked when the body is done, in the request's span; only a
            // streamed body pays for keeping the span.
            declared: declared.map(|n| (n, Span::current())),
            abort_held: false,
        }
    }
}

impl ResponseBody {
    /// Reports that the body failed, one poll late. hyper drops whatever it
    /// still has buffered once a body fails, so a head and the chunks a
    /// guest produced just before trapping or raising would never reach
    /// the client if both were ready at once. Held back once (with a
    /// wake-up), the failure comes after hyper has flushed them: the client
    /// sees a truncated body, as it must, rather than nothing at all.
    fn abort(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        if self.abort_held {
            return Poll::Ready(Some(Err(Aborted)));
        }
        self.abort_held = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Aborted;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        let this = self.get_mut();
        match &mut this.source {
            Source::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Source::Stream { pending, rx } => match pending.pop_front() {
                Some(data) => {
                    this.produced += data.len() as u64;
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                None => match ready!(rx.poll_recv(cx)) {
                    Some(Chunk::Data(data)) => {
                        this.produced += data.len() as u64;
                        Poll::Ready(Some(Ok(Frame::data(data))))
                    }
                    Some(Chunk::End) => {
                        rx.close();
                        this.source = Source::Full(None);
                        Poll::Ready(None)
                    }
                    None => this.abort(cx),
                },
            },
            Source::File(chunks) => match ready!(chunks.poll_chunk(cx)) {
                Some(Ok(data)) => Poll::Ready(Some(Ok(Frame::data(data)))),
                Some(Err(Aborted)) => this.abort(cx),
                None => {
                    this.source = Source::Full(None);
                    Poll::Ready(None)
                }
            },
            Source::Other(body) => match ready!(body.as_mut().poll_frame(cx)) {
                Some(Err(Aborted)) => this.abort(cx),
                Some(frame) => Poll::Ready(Some(frame)),
                None => {
                    this.source = Source::Full(None);
                    Poll::Ready(None)
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Full(None) => true,
            Source::File(chunks) => chunks.remaining() == 0,
            _ => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Full(Some(d)) => SizeHint::with_exact(d.len() as u64),
            Source::Full(None) => SizeHint::with_exact(0),
            Source::Stream { .. } => SizeHint::default(),
            Source::Other(body) => body.size_hint(),
            Source::File(chunks) => SizeHint::with_exact(chunks.remaining()),
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Some((declared, span)) = &self.declared
            && *declared != self.produced
        {
            let _in_request = span.enter();
            mismatch(*declared, self.produced);
        }
    }
}

/// Logs a body that does not match its Content-Length.
fn mismatch(declared: u64, produced: u64) {
    tracing::warn!(
        "the application declared Content-Length {declared} but produced {produced} bytes; {}",
        if produced > declared {
            "the body was cut"
        } else {
            "the connection was closed"
        }
    );
}

/// A byte range of an open file, read in [`CHUNK_SIZE`] pieces on tokio's
/// blocking pool as the body is polled: one read in flight at a time, so a
/// slow client holds at most one chunk. A file that ends early (truncated
/// while being sent) or fails to read aborts the body, and hyper the
/// connection, so the client cannot take a short file for a whole one.
pub struct FileChunks {
    state: ChunkState,
    /// Where the next chunk starts.
    pos: u64,
    /// Bytes still to send.
    remaining: u64,
    /// For log messages.
    path: Arc<Path>,
}

enum ChunkState {
    Idle(Option<std::fs::File>),
    Reading(JoinHandle<(std::fs::File, io::Result<Bytes>)>),
}

impl FileChunks {
    /// `len` bytes of `file` from `start`.
    pub(crate) fn new(file: std::fs::File, path: PathBuf, start: u64, len: u64) -> Self {
        FileChunks {
            state: ChunkState::Idle(Some(file)),
            pos: start,
            remaining: len,
            path: path.into(),
        }
    }

    /// Bytes not yet handed out.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// The next chunk; `None` once the range is sent.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Aborted>>> {
        loop {
            match &mut self.state {
                ChunkState::Idle(file) => {
                    if self.remaining == 0 {
                        return Poll::Ready(None);
                    }
                    let Some(mut file) = file.take() else {
                        return Poll::Ready(Some(Err(Aborted)));
                    };
                    let (pos, want) = (self.pos, self.remaining.min(CHUNK_SIZE));
                    self.state = ChunkState::Reading(tokio::task::spawn_blocking(move || {
                        let read = read_chunk(&mut file, pos, want);
                        (file, read)
                    }));
                }
                ChunkState::Reading(task) => {
                    let done = std::task::ready!(Pin::new(task).poll(cx));
                    let failure = match done {
                        Ok((file, Ok(data))) if !data.is_empty() => {
                            let n = data.len() as u64;
                            self.pos += n;
                            self.remaining -= n;
                            self.state = ChunkState::Idle(Some(file));
                            return Poll::Ready(Some(Ok(data)));
                        }
                        Ok((_, Ok(_))) => "the file is shorter than when it was opened".into(),
                        Ok((_, Err(e))) => e.to_string(),
                        Err(e) => e.to_string(),
                    };
                    tracing::warn!(
                        path = %self.path.display(),
                        "static file aborted with {} bytes unsent: {failure}",
                        self.remaining
                    );
                    self.state = ChunkState::Idle(None);
                    return Poll::Ready(Some(Err(Aborted)));
                }
            }
        }
    }
}

/// Reads up to `want` bytes at `pos`; fewer only at the end of the file.
fn read_chunk(file: &mut std::fs::File, pos: u64, want: u64) -> io::Result<Bytes> {
    file.seek(SeekFrom::Start(pos))?;
    let mut buf = Vec::with_capacity(want as usize);
    file.take(want).read_to_end(&mut buf)?;
    Ok(Bytes::from(buf))
}
