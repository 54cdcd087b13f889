//! The connection guard: a strict HTTP/1.1 framing check between the socket
//! and hyper.
//!
//! hyper is lenient where request smuggling lives: it takes bare LF line
//! ends, reads a request with both Content-Length and Transfer-Encoding as
//! chunked, accepts codings before `chunked`, has no separate limit for the
//! request line or one header field, and closes without a word when a head
//! is too slow. So every byte a client sends passes through the guard first.
//! It checks each request head line by line against [`HttpLimits`] and
//! RFC 9112 before hyper sees any of it, follows the body framing
//! (Content-Length or chunked) to know where the next head starts, and runs
//! the header, keep-alive and body-read timers.
//!
//! A refused head never reaches hyper. In its place hyper reads a fixed
//! placeholder request, then end of file; the service, told by
//! [`ConnShared`] that this request is the refused one, answers it with the
//! refusal's status through the one error-page path (so it is access-logged)
//! and closes. Pipelined requests before it are answered first, in order,
//! because hyper answers requests in the order it reads them.
//!
//! Body bytes are read straight into hyper's buffer and only scanned; head
//! bytes are held until the head is complete and valid.

use crate::http::limits::HttpLimits;
use crate::http::syntax::{is_field_value, parse_decimal};
use atomic_waker::AtomicWaker;
use bytes::{Buf, BytesMut};
use hyper::StatusCode;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What hyper reads in place of a refused head.
const PLACEHOLDER: &[u8] = b"GET / HTTP/1.1\r\nhost: refused\r\n\r\n";

/// Empty lines tolerated before a request line (RFC 9112 section 2.2 asks
/// servers to ignore at least one, as some clients send one after a body).
const MAX_LEADING_EMPTY_LINES: u32 = 8;

/// How long, and for how many bytes, a closing connection keeps reading
/// what the client still sends (see [`Guard::poll_shutdown`]).
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// The longest chunk extension accepted, per chunk.
const MAX_CHUNK_EXTENSION: usize = 4096;

/// A request the guard refused, for the service to answer.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The status the client gets.
    pub status: StatusCode,
    /// What was wrong, for the log.
    pub reason: &'static str,
    /// The request line as received, made printable and shortened, for the
    /// access log.
    pub line: String,
}

/// What the guard and the service of one connection share.
#[derive(Debug, Default)]
pub struct ConnShared {
    /// Heads handed to hyper, the placeholder included.
    heads: AtomicU64,
    /// Requests the service has been given.
    served: AtomicU64,
    /// Requests whose response is not finished.
    active: AtomicUsize,
    /// The refused request (its index among the heads) and why.
    rejection: OnceLock<(u64, Rejection)>,
    /// The guard's reader, parked while a request was active, to wake when
    /// the last one finishes: the keep-alive timer starts then.
    parked: AtomicWaker,
    /// Requests in flight on the whole server (shutdown reports them).
    server_active: Arc<AtomicUsize>,
    /// What the responses hyper is about to write need, in order.
    pub cases: crate::http::header_case::CaseQueue,
}

impl ConnShared {
    /// The shared state of a new connection of a server whose requests in
    /// flight are counted in `server_active`.
    pub fn new(server_active: Arc<AtomicUsize>) -> Self {
        ConnShared {
            server_active,
            ..ConnShared::default()
        }
    }

    /// Called by the service for each request hyper hands it: the refusal to
    /// answer instead, if this request is the guard's placeholder, and a token
    /// that marks the request active until its response is finished.
    pub fn begin(self: &Arc<Self>) -> (Option<Rejection>, ActiveRequest) {
        let index = self.served.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::Relaxed);
        self.server_active.fetch_add(1, Ordering::Relaxed);
        let rejection = match self.rejection.get() {
            Some((at, rejection)) if *at == index => Some(rejection.clone()),
            _ => None,
        };
        (rejection, ActiveRequest(self.clone()))
    }

    fn idle(&self) -> bool {
        self.active.load(Ordering::Relaxed) == 0
    }
}

/// Marks a request as in progress; dropped when its response is done. While
/// any is, a quiet socket is not an idle connection.
#[derive(Debug)]
pub struct ActiveRequest(Arc<ConnShared>);

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.0.server_active.fetch_sub(1, Ordering::Relaxed);
        if self.0.active.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.parked.wake();
        }
    }
}

/// Where the guard is in the byte stream.
#[derive(Debug)]
enum Phase {
    /// Reading a request head.
    Head(HeadScan),
    /// Inside a body of known length: this many bytes are left.
    Length(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// A head was refused: nothing more goes to hyper.
    Closed,
}

/// The position inside a chunked body (RFC 9112 section 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading the hexadecimal size; `digits` read so far.
    Size {
        value: u64,
        digits: u8,
    },
    /// Whitespace after the size, before `;` or CR.
    SizeSpace {
        value: u64,
    },
    /// A chunk extension, up to CR.
    Extension {
        value: u64,
        len: usize,
    },
    /// After the size line's CR.
    SizeLf {
        value: u64,
    },
    /// Chunk data; this many bytes left.
    Data(u64),
    /// After the data: CR, then LF.
    DataCr,
    DataLf,
    /// A trailer field line (after the last chunk) of `len` bytes so far;
    /// `fields` lines done; its name as far as read.
    Trailer {
        len: usize,
        fields: usize,
        name: TrailerName,
    },
    /// After a trailer line's CR (`len` is that line's length: 0 ends the body).
    TrailerLf {
        len: usize,
        fields: usize,
    },
}

/// The name of a trailer field as its bytes arrive, kept only as long as
/// the longest name that may not be a trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TrailerName {
    bytes: [u8; TrailerName::KEPT],
    /// Name bytes read; may exceed `KEPT`.
    len: usize,
}

impl TrailerName {
    const KEPT: usize = 24;
    const EMPTY: TrailerName = TrailerName {
        bytes: [0; TrailerName::KEPT],
        len: 0,
    };

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b.to_ascii_lowercase();
        }
        self.len += 1;
    }

    /// Whether the name is one that must never be a trailer: a field a
    /// recipient needs before the content (framing, routing,
    /// authentication, request modifiers, content format; RFC 9110 section
    /// 6.5.1). Dropping it silently would leave it for a proxy that merges
    /// trailers into the header section; gunicorn refuses them too.
    fn forbidden(&self) -> bool {
        const NAMES: &[&[u8]] = &[
            b"content-length",
            b"transfer-encoding",
            b"trailer",
            b"te",
            b"host",
            b"connection",
            b"keep-alive",
            b"upgrade",
            b"content-type",
            b"content-encoding",
            b"content-range",
            b"authorization",
            b"proxy-authorization",
            b"proxy-authenticate",
            b"www-authenticate",
            b"cookie",
            b"set-cookie",
            b"cache-control",
            b"expect",
            b"max-forwards",
            b"pragma",
            b"range",
            b"if-match",
            b"if-none-match",
            b"if-modified-since",
            b"if-unmodified-since",
            b"if-range",
        ];
        self.len <= Self::KEPT && NAMES.contains(&&self.bytes[..self.len])
    }
}

/// How a scan of body bytes ended.
enum BodyScan {
    /// Every byte belongs to the body, which goes on.
    More,
    /// The body ended after this many bytes.
    End(usize),
    /// The framing broke after this many good bytes.
    Broken(usize, &'static str),
}

/// What the guard knows about the head it is reading.
#[derive(Debug, Default)]
struct HeadScan {
    /// The head so far.
    buf: Vec<u8>,
    /// Where the current line starts in `buf`.
    line_start: usize,
    /// Complete lines so far (the request line included).
    lines: usize,
    leading_empty: u32,
    /// When its first byte arrived.
    started: Option<Instant>,
    http11: bool,
    content_length: Option<u64>,
    transfer_encodings: u32,
    hosts: u32,
    content_types: u32,
}

/// Why a head was refused.
type Refusal = (StatusCode, &'static str);

const fn bad(reason: &'static str) -> Refusal {
    (StatusCode::BAD_REQUEST, reason)
}

/// What is being waited for when the socket has nothing to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Idle,
    Header,
    Body,
}

/// The socket as hyper sees it; see the module documentation.
pub struct Guard<S> {
    io: S,
    limits: Arc<HttpLimits>,
    shared: Arc<ConnShared>,
    remote: SocketAddr,
    phase: Phase,
    /// Checked bytes waiting for hyper.
    out: BytesMut,
    /// Bytes read but not yet checked.
    raw: BytesMut,
    timer: Pin<Box<Sleep>>,
    armed: Option<Wait>,
    /// A body framing error or timeout, reported to hyper after the good
    /// bytes before it.
    failure: Option<io::Error>,
    /// Once set (and `out` drained), hyper reads end of file.
    eof: bool,
    /// Bytes discarded while lingering after shutdown; `None` before it.
    lingered: Option<usize>,
    /// When a blocked write gives up; `None` while writes go through.
    send_deadline: Option<Instant>,
    send_timer: Option<Pin<Box<Sleep>>>,
    /// Follows the output and restores header spellings.
    writer: crate::http::header_case::HeadWriter,
}

impl<S> Guard<S> {
    /// Guards the connection `io` from `remote`.
    pub fn new(
        io: S,
        limits: Arc<HttpLimits>,
        shared: Arc<ConnShared>,
        remote: SocketAddr,
    ) -> Self {
        Guard {
            io,
            limits,
            shared,
            remote,
            phase: Phase::Head(HeadScan::default()),
            out: BytesMut::new(),
            raw: BytesMut::new(),
            timer: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: None,
            failure: None,
            eof: false,
            lingered: None,
            send_deadline: None,
            send_timer: None,
            writer: crate::http::header_case::HeadWriter::default(),
        }
    }

    /// Refuses the head being read: hyper gets the placeholder and then end
    /// of file, and the service answers with `status`.
    fn refuse(&mut self, (status, reason): Refusal) {
        let line = match &self.phase {
            Phase::Head(head) => printable_line(&head.buf),
            _ => String::new(),
        };
        let index = self.shared.heads.fetch_add(1, Ordering::Relaxed);
        let _ = self.shared.rejection.set((
            index,
            Rejection {
                status,
                reason,
                line,
            },
        ));
        self.out.extend_from_slice(PLACEHOLDER);
        self.raw.clear();
        // Not end of file: hyper would take that as the client leaving and
        // drop the answer. It reads nothing more, answers the placeholder
        // with `Connection: close`, and closes.
        self.phase = Phase::Closed;
    }

    /// A broken body: the bytes before the break still go to hyper, then the
    /// error, so the application's read fails with `malformed`.
    fn break_body(&mut self, kind: io::ErrorKind, reason: &'static str) {
        tracing::warn!(remote = %self.remote, "{reason}; closing the connection");
        self.failure = Some(io::Error::new(kind, reason));
        self.raw.clear();
        self.phase = Phase::Closed;
    }

    /// Runs the send timer around a write: a client that stops reading its
    /// response gets `send_timeout`, then the connection fails (hyper drops
    /// it, and a guest still streaming sees its client gone). While a write
    /// is blocked the connection is not idle, whatever the request count
    /// says: hyper drops a response body before its last bytes are out.
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Pending => {
                let deadline = *self
                    .send_deadline
                    .get_or_insert_with(|| Instant::now() + self.limits.send_timeout);
                let timer = self
                    .send_timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                if timer.as_mut().poll(cx).is_ready() {
                    tracing::warn!(remote = %self.remote, "the client stopped reading its response; closing the connection");
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client did not read the response within the send timeout",
                    )));
                }
                Poll::Pending
            }
            done => {
                if self.send_deadline.take().is_some() {
                    // Unblocked: the connection may be idle now.
                    self.shared.parked.wake();
                }
                done
            }
        }
    }

    /// Checks the bytes in `raw` and moves the good ones to `out`.
    fn process_raw(&mut self) {
        while !self.raw.is_empty() {
            match &mut self.phase {
                Phase::Closed => self.raw.clear(),
                Phase::Head(head) => match scan_head(head, &mut self.raw, &self.limits) {
                    Ok(None) => return,
                    Ok(Some(next)) => {
                        let Phase::Head(head) = std::mem::replace(&mut self.phase, next) else {
                            unreachable!("scanning a head")
                        };
                        self.shared.heads.fetch_add(1, Ordering::Relaxed);
                        self.out.extend_from_slice(&head.buf);
                    }
                    Err(refusal) => return self.refuse(refusal),
                },
                Phase::Length(_) | Phase::Chunked(_) => {
                    let scan = scan_body(&mut self.phase, &self.raw, &self.limits);
                    let good = match scan {
                        BodyScan::More => self.raw.len(),
                        BodyScan::End(n) | BodyScan::Broken(n, _) => n,
                    };
                    self.out.extend_from_slice(&self.raw[..good]);
                    self.raw.advance(good);
                    if let BodyScan::Broken(_, reason) = scan {
                        return self.break_body(io::ErrorKind::InvalidData, reason);
                    }
                }
            }
        }
    }

    /// Runs the timer for what the connection is waiting for. `Ready(None)`
    /// means there is something new to hand hyper; `Ready(Some(..))` is the
    /// result to return as it is.
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<()>>> {
        let want = match &self.phase {
            Phase::Head(head) if head.buf.is_empty() => {
                (self.shared.idle() && self.send_deadline.is_none()).then_some(Wait::Idle)
            }
            Phase::Head(_) => Some(Wait::Header),
            Phase::Length(_) | Phase::Chunked(_) => Some(Wait::Body),
            Phase::Closed => None,
        };
        let Some(want) = want else {
            self.armed = None;
            if let Phase::Head(_) = self.phase {
                self.shared.parked.register(cx.waker());
                // The request may have finished since `idle()` was read.
                if self.shared.idle() && self.send_deadline.is_none() {
                    return Poll::Ready(None);
                }
            }
            return Poll::Pending;
        };
        if self.armed != Some(want) {
            let now = Instant::now();
            let deadline = match (&self.phase, want) {
                (_, Wait::Idle) => now + self.limits.keep_alive_timeout,
                (Phase::Head(head), Wait::Header) => {
                    head.started.unwrap_or(now) + self.limits.header_timeout
                }
                _ => now + self.limits.body_timeout,
            };
            self.timer.as_mut().reset(deadline);
            self.armed = Some(want);
        }
        if self.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.armed = None;
        match want {
            Wait::Idle => {
                tracing::debug!(remote = %self.remote, "closing an idle connection");
                self.eof = true;
                Poll::Ready(None)
            }
            Wait::Header => {
                self.refuse((
                    StatusCode::REQUEST_TIMEOUT,
                    "the request head was not complete within the header timeout",
                ));
                Poll::Ready(None)
            }
            Wait::Body => {
                self.break_body(
                    io::ErrorKind::TimedOut,
                    "the client sent no request body bytes within the body timeout",
                );
                Poll::Ready(None)
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.out.is_empty() {
                let n = this.out.len().min(buf.remaining());
                buf.put_slice(&this.out[..n]);
                this.out.advance(n);
                return Poll::Ready(Ok(()));
            }
            if let Some(err) = this.failure.take() {
                this.eof = true;
                return Poll::Ready(Err(err));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            if !this.raw.is_empty() {
                this.process_raw();
                continue;
            }

            // Read more. hyper's buffer takes the bytes either way: body
            // bytes stay there after a scan, head bytes move to `raw` until
            // their head is complete.
            let before = buf.filled().len();
            match Pin::new(&mut this.io).poll_read(cx, buf) {
                Poll::Pending => match this.poll_wait(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => continue,
                    Poll::Ready(Some(result)) => return Poll::Ready(result),
                },
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Ready(Ok(())) => {}
            }
            let got = buf.filled().len() - before;
            if got == 0 {
                if let Phase::Closed = this.phase {
                    // The refusal is still to be written; hyper must not
                    // see the client's half-close and give up on it.
                    return Poll::Pending;
                }
                // The client closed its side; hyper decides what that means.
                return Poll::Ready(Ok(()));
            }
            this.armed = None;
            match &mut this.phase {
                Phase::Length(_) | Phase::Chunked(_) => {
                    match scan_body(&mut this.phase, &buf.filled()[before..], &this.limits) {
                        BodyScan::More => return Poll::Ready(Ok(())),
                        BodyScan::End(n) => {
                            this.raw.extend_from_slice(&buf.filled()[before + n..]);
                            buf.set_filled(before + n);
                            return Poll::Ready(Ok(()));
                        }
                        BodyScan::Broken(n, reason) => {
                            buf.set_filled(before + n);
                            this.break_body(io::ErrorKind::InvalidData, reason);
                            if n > 0 {
                                return Poll::Ready(Ok(()));
                            }
                        }
                    }
                }
                Phase::Head(_) => {
                    this.raw.extend_from_slice(&buf.filled()[before..]);
                    buf.set_filled(before);
                }
                Phase::Closed => buf.set_filled(before),
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> Guard<S> {
    /// Writes the rewritten head bytes still waiting.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.writer.pending().is_empty() {
            let written = Pin::new(&mut self.io).poll_write(cx, self.writer.pending());
            match ready!(self.after_write(cx, written)) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.writer.advance(n),
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Every write: a head is taken whole into the writer (which restores
    /// the application's header spellings) and goes out together with the
    /// body bytes after it, in one system call; body bytes go as they are.
    fn write_out(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if !self.writer.in_head() {
            // No further than the body's end: a head after it must reach
            // `absorb`.
            let total: usize = bufs.iter().map(|b| b.len()).sum();
            let room = self.writer.body_len(bufs.iter().map(|b| &b[..]));
            let limited;
            let bufs = if room >= total {
                bufs
            } else {
                let mut left = room;
                limited = bufs
                    .iter()
                    .map_while(|b| {
                        (left > 0).then(|| {
                            let take = left.min(b.len());
                            left -= take;
                            io::IoSlice::new(&b[..take])
                        })
                    })
                    .collect::<Vec<_>>();
                &limited[..]
            };
            let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
            if let Poll::Ready(Ok(n)) = written {
                observe(
                    &mut self.writer,
                    bufs.iter().map(|b| &b[..]),
                    n,
                    &self.shared.cases,
                );
            }
            return self.after_write(cx, written);
        }
        let mut taken = 0;
        let mut rest_from = (bufs.len(), 0);
        for (i, buf) in bufs.iter().enumerate() {
            let n = self.writer.absorb(buf, &self.shared.cases);
            taken += n;
            if n < buf.len() || !self.writer.in_head() {
                rest_from = if n < buf.len() { (i, n) } else { (i + 1, 0) };
                break;
            }
        }
        let pending_len = self.writer.pending().len();
        if pending_len == 0 {
            // Only an incomplete line so far: it waits in the writer.
            return Poll::Ready(Ok(taken));
        }
        // The head, and as much of what follows as fits in a few slices.
        let (first, offset) = rest_from;
        let rest = || {
            bufs.iter()
                .enumerate()
                .skip(first)
                .map(move |(j, buf)| if j == first { &buf[offset..] } else { &buf[..] })
        };
        let written = {
            let mut slices = [io::IoSlice::new(&[]); 8];
            slices[0] = io::IoSlice::new(self.writer.pending());
            let mut count = 1;
            if !self.writer.in_head() {
                for part in rest()
                    .filter(|part| !part.is_empty())
                    .take(slices.len() - 1)
                {
                    slices[count] = io::IoSlice::new(part);
                    count += 1;
                }
            }
            Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..count])
        };
        match self.after_write(cx, written) {
            Poll::Ready(Ok(n)) if n > pending_len => {
                self.writer.advance(pending_len);
                let extra = n - pending_len;
                observe(&mut self.writer, rest(), extra, &self.shared.cases);
                Poll::Ready(Ok(taken + extra))
            }
            Poll::Ready(Ok(n)) => {
                self.writer.advance(n);
                Poll::Ready(Ok(taken))
            }
            // The head is taken; what did not go out is written (and any
            // error reported) at the next write or flush.
            Poll::Ready(Err(_)) | Poll::Pending => Poll::Ready(Ok(taken)),
        }
    }
}

/// Tells `writer` about the first `n` bytes of `bufs`, which went out.
fn observe<'a>(
    writer: &mut crate::http::header_case::HeadWriter,
    bufs: impl IntoIterator<Item = &'a [u8]>,
    mut n: usize,
    cases: &crate::http::header_case::CaseQueue,
) {
    for buf in bufs {
        if n == 0 {
            break;
        }
        let take = n.min(buf.len());
        writer.observe(&buf[..take], cases);
        n -= take;
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Guard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write_out(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write_out(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    /// Sends FIN, then lingers: reads and discards what the client still
    /// sends until it closes too, for at most [`LINGER_TIME`] and
    /// [`LINGER_BYTES`]. Closing a socket with unread bytes makes the kernel
    /// send a reset, which can destroy the response still in flight (a 414
    /// to a client that is still sending its long request line, say).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.lingered.is_none() {
            ready!(this.poll_pending(cx))?;
            if let Err(err) = ready!(Pin::new(&mut this.io).poll_shutdown(cx)) {
                return Poll::Ready(Err(err));
            }
            this.lingered = Some(0);
            this.timer.as_mut().reset(Instant::now() + LINGER_TIME);
            this.armed = None;
        }
        let mut scratch = [0u8; 4096];
        loop {
            let mut read = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.io).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if !read.filled().is_empty() => {
                    let drained = this.lingered.unwrap_or(0) + read.filled().len();
                    this.lingered = Some(drained);
                    if drained > LINGER_BYTES {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    return match this.timer.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Ok(())),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }
}

/// Moves bytes from `raw` into the head, line by line. `Ok(Some(phase))`
/// once the head is complete and valid (the phase of what follows it),
/// `Ok(None)` when more bytes are needed.
fn scan_head(
    head: &mut HeadScan,
    raw: &mut BytesMut,
    limits: &HttpLimits,
) -> Result<Option<Phase>, Refusal> {
    if head.started.is_none() && !raw.is_empty() {
        // The header timer counts from the head's first byte, even when it
        // arrived in the same read as the request before it.
        head.started = Some(Instant::now());
    }
    loop {
        let Some(newline) = raw.iter().position(|&b| b == b'\n') else {
            head.buf.extend_from_slice(raw);
            raw.clear();
            check_sizes(head, limits, true)?;
            if head.lines == 0 {
                check_request_start(&head.buf)?;
            }
            return Ok(None);
        };
        head.buf.extend_from_slice(&raw[..=newline]);
        raw.advance(newline + 1);
        check_sizes(head, limits, false)?;
        if head.lines == 0 {
            check_request_start(&head.buf)?;
        }
        let line_end = head.buf.len() - 1;
        let Some(line_end) = line_end.checked_sub(1).filter(|&i| head.buf[i] == b'\r') else {
            return Err(bad("a line ends in a bare LF instead of CRLF"));
        };
        let line = &head.buf[head.line_start..line_end];
        if head.lines == 0 {
            if line.is_empty() {
                head.leading_empty += 1;
                if head.leading_empty > MAX_LEADING_EMPTY_LINES {
                    return Err(bad("too many empty lines before the request line"));
                }
                head.buf.clear();
                continue;
            }
            head.http11 = check_request_line(line)?;
        } else if line.is_empty() {
            let next = finish_head(head)?;
            escape_target(&mut head.buf);
            return Ok(Some(next));
        } else {
            if head.lines > limits.max_header_count {
                return Err((
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "too many header fields",
                ));
            }
            match check_field(line)? {
                Framing::Other => {}
                Framing::ContentLength(length) => {
                    // Even identical repeats: a proxy in front may have
                    // merged or picked differently (gunicorn and waitress
                    // refuse them too).
                    if head.content_length.is_some() {
                        return Err(bad("several Content-Length fields"));
                    }
                    head.content_length = Some(length);
                }
                Framing::Chunked => {
                    head.transfer_encodings += 1;
                    if head.transfer_encodings > 1 {
                        return Err(bad("a transfer coding other than a single `chunked`"));
                    }
                }
                Framing::Host => head.hosts += 1,
                Framing::Upgrade => {
                    // The host never switches protocols, and hyper, seeing
                    // an upgrade offered, would end the connection without
                    // its final flush. The line is left out.
                    head.buf.truncate(head.line_start);
                    continue;
                }
                Framing::ContentType => {
                    // Which one would CONTENT_TYPE be? Refused, as by
                    // gunicorn and waitress.
                    head.content_types += 1;
                    if head.content_types > 1 {
                        return Err(bad("several Content-Type fields"));
                    }
                }
            }
        }
        head.lines += 1;
        head.line_start = head.buf.len();
    }
}

/// The size limits, checked as bytes arrive so an oversized head is refused
/// without waiting for (or holding) the rest of it. `partial` when the
/// current line has no LF yet (its CR may already be there).
fn check_sizes(head: &HeadScan, limits: &HttpLimits, partial: bool) -> Result<(), Refusal> {
    let len = head.buf.len() - head.line_start;
    // The line's own length, not counting the CRLF (or the CR of a partial line).
    let len = len.saturating_sub(if partial { 1 } else { 2 });
    if head.lines == 0 {
        if len > limits.max_request_line {
            return Err((StatusCode::URI_TOO_LONG, "the request line is too long"));
        }
    } else if len > limits.max_header_field {
        return Err((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "a header field is too long",
        ));
    }
    if head.buf.len() > limits.max_head_size {
        return Err((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "the request head is too large",
        ));
    }
    Ok(())
}

/// The start of a request line, checked as its first bytes arrive: bytes
/// that can never begin a request (a TLS handshake, binary noise) are
/// refused at once, not after the header timeout, and the log says what
/// they look like. `line` is the request line so far.
fn check_request_start(line: &[u8]) -> Result<(), Refusal> {
    const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";
    match line {
        // A TLS record of type handshake (22), version 3.x: an https client.
        [0x16] | [0x16, 0x03, ..] => {
            return Err(bad(
                "a TLS handshake on a plain-HTTP port: the client speaks https to an http:// address",
            ));
        }
        _ if line.len() >= 3 && H2_PREFACE.starts_with(line) || line.starts_with(H2_PREFACE) => {
            if line.len() >= H2_PREFACE.len() {
                return Err((
                    StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                    "the HTTP/2 connection preface (HTTP/2 with prior knowledge), which this port does not speak: it serves HTTP/1.1",
                ));
            }
            return Ok(());
        }
        _ => {}
    }
    // The method: a token up to the first space.
    for &b in line {
        if b == b' ' || b == b'\r' {
            break;
        }
        if !is_tchar(b) {
            return Err(bad(
                "bytes that cannot begin an HTTP request: the method is not a token (binary data, or a protocol other than HTTP/1)",
            ));
        }
    }
    Ok(())
}

/// `method SP request-target SP HTTP-version`, exactly (RFC 9112 section 3).
/// Returns whether the version is HTTP/1.1.
fn check_request_line(line: &[u8]) -> Result<bool, Refusal> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(
            "the request line is not `METHOD target HTTP/x.y` with single spaces",
        ));
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(bad("the method is not a token"));
    }
    if target.is_empty() || !target.iter().all(|&b| (0x21..0x7f).contains(&b)) {
        return Err(bad(
            "the request target has a character that is not allowed",
        ));
    }
    let origin_form = target[0] == b'/';
    let asterisk = target == b"*" && method == b"OPTIONS";
    let absolute =
        starts_with_ignore_case(target, b"http://") || starts_with_ignore_case(target, b"https://");
    if method == b"CONNECT" {
        return Err((
            StatusCode::NOT_IMPLEMENTED,
            "CONNECT: this server is not a proxy",
        ));
    }
    if !(origin_form || asterisk || absolute) {
        return Err(bad(
            "the request target is not in a form this method allows",
        ));
    }
    match version {
        b"HTTP/1.1" => Ok(true),
        b"HTTP/1.0" => Ok(false),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err((
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                "the HTTP version is not 1.0 or 1.1",
            ))
        }
        _ => Err(bad("the request line has no valid HTTP version")),
    }
}

/// Bytes that RFC 3986 does not allow in a URI but that clients send
/// unencoded and that mean only themselves: gunicorn, nginx and waitress
/// accept them. hyper's URI parser refuses these four (it takes `{`, `|`,
/// `\\` and the like as they are), so they go to it percent-encoded, which
/// means the same once decoded (`PATH_INFO`); `REQUEST_URI` and
/// `QUERY_STRING` show the encoded form.
fn needs_escape(b: u8) -> bool {
    matches!(b, b'"' | b'<' | b'>' | b'`')
}

/// Percent-encodes the [`needs_escape`] bytes of the request target in a
/// checked head (whose first line is `METHOD SP target SP version`).
fn escape_target(head: &mut Vec<u8>) {
    let Some(start) = head.iter().position(|&b| b == b' ').map(|i| i + 1) else {
        return;
    };
    let Some(len) = head[start..].iter().position(|&b| b == b' ') else {
        return;
    };
    let target = &head[start..start + len];
    if !target.iter().any(|&b| needs_escape(b)) {
        return;
    }
    let mut escaped = Vec::with_capacity(head.len() + 16);
    escaped.extend_from_slice(&head[..start]);
    for &b in target {
        if needs_escape(b) {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            escaped.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            escaped.push(b);
        }
    }
    escaped.extend_from_slice(&head[start + len..]);
    *head = escaped;
}

/// What a header field means for the framing checks.
enum Framing {
    ContentLength(u64),
    Chunked,
    Host,
    ContentType,
    Upgrade,
    Other,
}

/// `field-name ":" OWS field-value OWS` (RFC 9110 section 5, RFC 9112
/// section 5), and what the field says about the body's framing.
fn check_field(line: &[u8]) -> Result<Framing, Refusal> {
    if matches!(line[0], b' ' | b'\t') {
        return Err(bad("obsolete line folding in the header"));
    }
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Err(bad("a header line has no colon"));
    };
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() {
        return Err(bad("a header has an empty name"));
    }
    if name.iter().any(|&b| matches!(b, b' ' | b'\t')) {
        return Err(bad("whitespace between a header name and its colon"));
    }
    if !name.iter().all(|&b| is_tchar(b)) {
        return Err(bad("a header name is not a token"));
    }
    if !is_field_value(value) {
        return Err(bad("a header value contains a control character"));
    }
    let value = trim_ows(value);
    if name.eq_ignore_ascii_case(b"content-length") {
        parse_decimal(value)
            .map(Framing::ContentLength)
            .ok_or(bad("the Content-Length is not a number"))
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        if value.eq_ignore_ascii_case(b"chunked") {
            Ok(Framing::Chunked)
        } else {
            Err(bad("a transfer coding other than a single `chunked`"))
        }
    } else if name.eq_ignore_ascii_case(b"host") {
        if value.iter().all(|&b| is_host_char(b)) {
            Ok(Framing::Host)
        } else {
            Err(bad("the Host header is not a valid host"))
        }
    } else if name.eq_ignore_ascii_case(b"content-type") {
        Ok(Framing::ContentType)
    } else if name.eq_ignore_ascii_case(b"upgrade") {
        Ok(Framing::Upgrade)
    } else {
        Ok(Framing::Other)
    }
}

/// The checks that need the whole head; returns what comes after it.
fn finish_head(head: &HeadScan) -> Result<Phase, Refusal> {
    let chunked = head.transfer_encodings > 0;
    if chunked && head.content_length.is_some() {
        return Err(bad("both Content-Length and Transfer-Encoding"));
    }
    if chunked && !head.http11 {
        return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
    }
    if head.hosts > 1 {
        return Err(bad("several Host headers"));
    }
    if head.http11 && head.hosts == 0 {
        return Err(bad("an HTTP/1.1 request without a Host header"));
    }
    Ok(match head.content_length {
        _ if chunked => Phase::Chunked(Chunk::Size {
            value: 0,
            digits: 0,
        }),
        Some(length) if length > 0 => Phase::Length(length),
        _ => Phase::Head(HeadScan::default()),
    })
}

/// Follows the body framing over `data`; when the body ends, `phase` becomes
/// the next head.
fn scan_body(phase: &mut Phase, data: &[u8], limits: &HttpLimits) -> BodyScan {
    match phase {
        Phase::Length(left) => {
            if (data.len() as u64) < *left {
                *left -= data.len() as u64;
                BodyScan::More
            } else {
                let end = *left as usize;
                *phase = Phase::Head(HeadScan::default());
                BodyScan::End(end)
            }
        }
        Phase::Chunked(state) => {
            let scan = scan_chunked(state, data, limits);
            if let BodyScan::End(_) = scan {
                *phase = Phase::Head(HeadScan::default());
            }
            scan
        }
        Phase::Head(_) | Phase::Closed => BodyScan::End(0),
    }
}

/// Follows chunked framing over `data` (RFC 9112 section 7.1).
fn scan_chunked(state: &mut Chunk, data: &[u8], limits: &HttpLimits) -> BodyScan {
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        *state = match *state {
            Chunk::Data(left) => {
                let take = left.min((data.len() - i) as u64);
                i += take as usize;
                *state = if take == left {
                    Chunk::DataCr
                } else {
                    Chunk::Data(left - take)
                };
                continue;
            }
            Chunk::Size { value, digits } => match (b as char).to_digit(16) {
                Some(d) if digits < 16 => Chunk::Size {
                    value: value * 16 + u64::from(d),
                    digits: digits + 1,
                },
                Some(_) => return BodyScan::Broken(i, "a chunk size is too large"),
                None if digits == 0 => {
                    return BodyScan::Broken(i, "a chunk size is not hexadecimal");
                }
                None => match b {
                    b' ' | b'\t' => Chunk::SizeSpace { value },
                    b';' => Chunk::Extension { value, len: 0 },
                    b'\r' => Chunk::SizeLf { value },
                    _ => return BodyScan::Broken(i, "a chunk size is not hexadecimal"),
                },
            },
            // RFC 9112 allows whitespace after the size only before an
            // extension's `;` (gunicorn and waitress refuse `5 \r\n` too):
            // parsers that disagree on chunk framing are how requests are
            // smuggled.
            Chunk::SizeSpace { value } => match b {
                b' ' | b'\t' => Chunk::SizeSpace { value },
                b';' => Chunk::Extension { value, len: 0 },
                b'\r' => {
                    return BodyScan::Broken(i, "whitespace after a chunk size, with no extension");
                }
                _ => return BodyScan::Broken(i, "junk after a chunk size"),
            },
            Chunk::Extension { value, len } => match b {
                b'\r' => Chunk::SizeLf { value },
                _ if len >= MAX_CHUNK_EXTENSION => {
                    return BodyScan::Broken(i, "a chunk extension is too long");
                }
                b'\t' | b' '..=0x7e | 0x80.. => Chunk::Extension {
                    value,
                    len: len + 1,
                },
                _ => return BodyScan::Broken(i, "a control character in a chunk extension"),
            },
            Chunk::SizeLf { value } => match b {
                b'\n' if value == 0 => Chunk::Trailer {
                    len: 0,
                    fields: 0,
                    name: TrailerName::EMPTY,
                },
                b'\n' => Chunk::Data(value),
                _ => return BodyScan::Broken(i, "a chunk size line does not end in CRLF"),
            },
            Chunk::DataCr => match b {
                b'\r' => Chunk::DataLf,
                _ => return BodyScan::Broken(i, "chunk data longer than its size"),
            },
            Chunk::DataLf => match b {
                b'\n' => Chunk::Size {
                    value: 0,
                    digits: 0,
                },
                _ => return BodyScan::Broken(i, "chunk data does not end in CRLF"),
            },
            Chunk::Trailer {
                len,
                fields,
                mut name,
            } => {
                // Still in the name while every byte so far was part of it.
                let in_name = name.len == len;
                match b {
                    b'\r' if in_name && len > 0 => {
                        return BodyScan::Broken(i, "a trailer line has no colon");
                    }
                    b'\r' => Chunk::TrailerLf { len, fields },
                    _ if len >= limits.max_header_field => {
                        return BodyScan::Broken(i, "a trailer field is too long");
                    }
                    b':' if in_name && len == 0 => {
                        return BodyScan::Broken(i, "a trailer field has an empty name");
                    }
                    b':' if in_name && name.forbidden() => {
                        return BodyScan::Broken(
                            i,
                            "a trailer field that must not be a trailer (framing, routing, authentication or a request modifier)",
                        );
                    }
                    _ if in_name && b != b':' && !is_tchar(b) => {
                        return BodyScan::Broken(i, "a trailer field name is not a token");
                    }
                    b'\t' | b' '..=0x7e | 0x80.. => {
                        if in_name && b != b':' {
                            name.push(b);
                        }
                        Chunk::Trailer {
                            len: len + 1,
                            fields,
                            name,
                        }
                    }
                    _ => return BodyScan::Broken(i, "a control character in a trailer field"),
                }
            }
            Chunk::TrailerLf { len, fields } => match b {
                b'\n' if len == 0 => return BodyScan::End(i + 1),
                b'\n' if fields + 1 > limits.max_header_count => {
                    return BodyScan::Broken(i, "too many trailer fields");
                }
                b'\n' => Chunk::Trailer {
                    len: 0,
                    fields: fields + 1,
                    name: TrailerName::EMPTY,
                },
                _ => return BodyScan::Broken(i, "a trailer line does not end in CRLF"),
            },
        };
        i += 1;
    }
    BodyScan::More
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Characters of `uri-host [ ":" port ]`, IPv6 literals included.
fn is_host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%:[]".contains(&b)
}

fn starts_with_ignore_case(text: &[u8], prefix: &[u8]) -> bool {
    text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// The first line of `head`, without its line end, non-printable bytes
/// escaped and cut at 200 bytes: safe to put in a log line.
fn printable_line(head: &[u8]) -> String {
    const MAX: usize = 200;
    let end = head
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(head.len());
    let line = &head[..end];
    let mut text: String = line[..line.len().min(MAX)]
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if line.len() > MAX {
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HttpLimits {
        HttpLimits::default()
    }

    /// Scans `input` as one connection's bytes; returns the refusal, or the
    /// phase after the last byte.
    fn scan(input: &[u8]) -> Result<Phase, Refusal> {
        let limits = limits();
        let mut phase = Phase::Head(HeadScan::default());
        let mut raw = BytesMut::from(input);
        while !raw.is_empty() {
            match &mut phase {
                Phase::Head(head) => match scan_head(head, &mut raw, &limits)? {
                    Some(next) => phase = next,
                    None => break,
                },
                _ => {
                    match scan_body(&mut phase, &raw, &limits) {
                        BodyScan::More => raw.clear(),
                        BodyScan::End(n) => raw.advance(n),
                        BodyScan::Broken(_, reason) => return Err(bad(reason)),
                    };
                }
            }
        }
        Ok(phase)
    }

    fn status(input: &[u8]) -> u16 {
        match scan(input) {
            Ok(_) => 200,
            Err((status, _)) => status.as_u16(),
        }
    }

    #[test]
    fn valid_heads_and_bodies_pass_and_end_where_they_should() {
        assert!(matches!(
            scan(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Ok(Phase::Head(h)) if h.buf.is_empty()
        ));
        assert!(matches!(
            scan(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET"),
            Ok(Phase::Head(h)) if h.buf == b"GET"
        ));
        assert!(matches!(
            scan(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\nT: 1\r\n\r\nG"),
            Ok(Phase::Head(h)) if h.buf == b"G"
        ));
        assert!(matches!(
            scan(b"\r\nGET / HTTP/1.0\r\n\r\n"),
            Ok(Phase::Head(h)) if h.buf.is_empty()
        ));
    }

    #[test]
    fn malformed_heads_are_refused_with_their_status() {
        assert_eq!(status(b"GET / HTTP/1.1\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET /\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
        assert_eq!(status(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  2\r\n\r\n"),
            400
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), 400);
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: 1\r\n\r\n"),
            400
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n"),
            400
        );
    }

    #[test]
    fn size_limits_are_refused_before_the_line_ends() {
        let long = vec![b'a'; 9000];
        let mut line = b"GET /".to_vec();
        line.extend_from_slice(&long);
        assert_eq!(status(&line), 414);
        let mut field = b"GET / HTTP/1.1\r\nX: ".to_vec();
        field.extend_from_slice(&long);
        assert_eq!(status(&field), 431);
        let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..101 {
            many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        assert_eq!(status(&many), 431);
    }

    /// The guard lets a target through only if hyper will parse it:
    /// exactly the bytes hyper's URI parser refuses are escaped.
    #[test]
    fn escaped_targets_are_exactly_what_hyper_refuses() {
        for b in 0x21u8..0x7f {
            let c = b as char;
            let target = format!("/a{c}b?c{c}d");
            let raw = target.parse::<hyper::Uri>();
            assert_eq!(needs_escape(b), raw.is_err(), "{c:?}");
            let mut head = format!("GET {target} HTTP/1.1\r\n").into_bytes();
            escape_target(&mut head);
            let line = String::from_utf8(head).unwrap();
            let escaped = line.split(' ').nth(1).unwrap();
            assert!(escaped.parse::<hyper::Uri>().is_ok(), "{escaped}");
        }
    }

    #[test]
    fn chunk_size_whitespace_and_forbidden_trailers_are_refused() {
        let chunked = |body: &str| {
            status(
                format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}")
                    .as_bytes(),
            )
        };
        assert_eq!(chunked("5 \r\nhello\r\n0\r\n\r\n"), 400);
        assert_eq!(chunked("5\t\r\nhello\r\n0\r\n\r\n"), 400);
        assert_eq!(chunked("5 ;a=b\r\nhello\r\n0\r\n\r\n"), 200);
        assert_eq!(chunked("0\r\nX-Checksum: 1\r\n\r\n"), 200);
        for name in [
            "Content-Length",
            "HOST",
            "transfer-encoding",
            "Authorization",
            "Trailer",
        ] {
            assert_eq!(chunked(&format!("0\r\n{name}: 1\r\n\r\n")), 400, "{name}");
        }
        assert_eq!(chunked("0\r\nContent-Length-Extra: 1\r\n\r\n"), 200);
        assert_eq!(chunked("0\r\nno colon\r\n\r\n"), 400);
    }

    #[test]
    fn bytes_that_cannot_start_a_request_are_refused_as_they_arrive() {
        // One byte of a TLS record is enough.
        assert_eq!(status(b"\x16"), 400);
        assert_eq!(status(b"\x16\x03\x01"), 400);
        assert_eq!(status(b"\x80\x01"), 400);
        assert_eq!(status(b"PRI * HTTP/2.0\r\n"), 505);
        // Incomplete but possible: more bytes are awaited.
        assert_eq!(status(b"GE"), 200);
        assert_eq!(status(b"\r"), 200);
        assert_eq!(status(b"PRI * HTTP/2"), 200);
    }

    #[test]
    fn printable_line_escapes_and_shortens() {
        assert_eq!(
            printable_line(b"GET /\x01 HTTP/1.1\r\nX"),
            "GET /\\x01 HTTP/1.1"
        );
        assert_eq!(printable_line(&[b'a'; 300]).len(), 203);
    }
}
