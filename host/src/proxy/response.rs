//! The response a `wasi:http` component sets, on its way to the client.
//!
//! wasmtime-wasi-http hands over the guest's response as soon as the guest
//! sets it, with a body the guest goes on writing. Two things are added
//! here. The head is held to the app's limits (a final status, at most
//! `max-response-head` bytes of headers). And the end of the body is told
//! truthfully: wasmtime-wasi-http ends a body cleanly when its store goes
//! away, so a guest that trapped, ran past its deadline or returned without
//! `finish` would pass a truncated body off as whole. So when the guest is
//! done, the runtime aborts every body it left open ([`abort_unfinished`])
//! before it drops the store, and a [`Verdict`] guard cuts the body if the
//! request's task ends any other way.

use crate::http::body::{Aborted, ResponseBody};
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Waker, ready};
use tokio::sync::oneshot;
use wasmtime::component::ResourceTable;
use wasmtime_wasi_http::p2::body::{
    HostFutureTrailers, HostIncomingBody, HostIncomingBodyStream, HostOutgoingBody,
    HyperOutgoingBody, StreamContext,
};
use wasmtime_wasi_http::p2::types::{
    HostFutureIncomingResponse, HostIncomingRequest, HostIncomingResponse, HostOutgoingRequest,
    HostOutgoingResponse, HostResponseOutparam,
};

const RUNNING: u8 = 0;
const WHOLE: u8 = 1;
const CUT: u8 = 2;

/// Whether the guest is done (its open bodies aborted) before its store
/// is dropped; otherwise (the request's task dropped midway) a body whose
/// sender went away is cut.
#[derive(Debug, Default)]
pub struct Verdict(AtomicU8);

impl Verdict {
    fn get(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }

    /// A guard that decides "cut" if nothing decided before it is dropped
    /// (a request task dropped midway, a panic): declared after the store,
    /// it drops before it.
    pub fn guard(self: &Arc<Self>) -> VerdictGuard {
        VerdictGuard(self.clone())
    }
}

/// See [`Verdict::guard`].
pub struct VerdictGuard(Arc<Verdict>);

impl VerdictGuard {
    /// The guest is done and every body it left open is aborted: a body's
    /// own end now tells whether it is whole.
    pub fn done(&self) {
        self.0.0.store(WHOLE, Ordering::Release);
    }
}

impl Drop for VerdictGuard {
    fn drop(&mut self) {
        let _ = self
            .0
            .0
            .compare_exchange(RUNNING, CUT, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// Aborts every body the guest created and left open in its store (not
/// finished, not dropped), and says how many there were. An unfinished
/// response body then ends as an abort; an outbound request's as one too.
/// (Both are `HostOutgoingBody`: each is replaced in the table by an
/// empty stand-in, so the guest's handle stays valid and its store sound.)
pub fn abort_unfinished(table: &mut ResourceTable) -> usize {
    let mut aborted = 0;
    for entry in table.iter_mut() {
        if let Some(body) = entry.downcast_mut::<HostOutgoingBody>() {
            let (stand_in, _) = HostOutgoingBody::new(StreamContext::Response, None, 1, 1);
            std::mem::replace(body, stand_in).abort();
            aborted += 1;
        }
    }
    aborted
}

/// Whether the store still holds `wasi:http` requests, responses, bodies
/// or pending calls: a store that does is not reused (they may hold a
/// client's connection, an outbound connection and its slot).
pub fn holds_http_resources(table: &mut ResourceTable) -> bool {
    table.iter_mut().any(|entry| {
        let entry: &(dyn std::any::Any + Send) = entry;
        entry.is::<HostOutgoingBody>()
            || entry.is::<HostIncomingBody>()
            || entry.is::<HostIncomingBodyStream>()
            || entry.is::<HostFutureTrailers>()
            || entry.is::<HostIncomingRequest>()
            || entry.is::<HostIncomingResponse>()
            || entry.is::<HostFutureIncomingResponse>()
            || entry.is::<HostOutgoingRequest>()
            || entry.is::<HostOutgoingResponse>()
            || entry.is::<HostResponseOutparam>()
    })
}

/// Why a response head is refused: a 1xx status is not a response, and
/// the head's size is capped per app.
pub fn check_head<B>(response: &hyper::Response<B>, max_head: usize) -> Result<(), &'static str> {
    if response.status().is_informational() {
        return Err("wasi:http: a 1xx status is not a final response");
    }
    // The status line, and each header as `name: value\r\n`.
    let size = response
        .headers()
        .iter()
        .fold(16usize, |size, (name, value)| {
            size.saturating_add(name.as_str().len() + value.len() + 4)
        });
    if size > max_head {
        return Err("wasi:http: the response headers are larger than max-response-head");
    }
    Ok(())
}

/// Tells the request's task whether the client is still there: dropped
/// before the body ended (the client left), or told the body is complete.
pub struct ClientWatch(Option<oneshot::Sender<()>>);

/// The task's end of a [`ClientWatch`]: resolves when the client left.
pub struct ClientGone(oneshot::Receiver<()>);

/// A watch for one request.
pub fn client_watch() -> (ClientWatch, ClientGone) {
    let (tx, rx) = oneshot::channel();
    (ClientWatch(Some(tx)), ClientGone(rx))
}

impl ClientWatch {
    /// The response is complete (or has no body to wait for): the client
    /// leaving from now on cuts nothing.
    pub fn done(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

impl ClientGone {
    /// Waits until the client leaves before its response is complete;
    /// never resolves once it is complete.
    pub async fn wait(&mut self) {
        if (&mut self.0).await.is_err() {
            return;
        }
        std::future::pending().await
    }
}

/// The guest's body as the client gets it.
pub struct GuestBody {
    inner: HyperOutgoingBody,
    /// Frames taken before streaming started.
    pending: VecDeque<Frame<Bytes>>,
    /// The body failed while it was being taken whole: it ends aborted
    /// once `pending` is sent.
    failed: bool,
    verdict: Arc<Verdict>,
    client: ClientWatch,
}

impl GuestBody {
    /// The response body for `inner`. When the guest is done already (a
    /// small response usually is, after its first poll) and its body whole,
    /// the body is taken at once: one buffer of known length, written with
    /// the head.
    pub fn response_body(
        inner: HyperOutgoingBody,
        verdict: Arc<Verdict>,
        mut client: ClientWatch,
    ) -> ResponseBody {
        let mut body = GuestBody {
            inner,
            pending: VecDeque::new(),
            failed: false,
            verdict,
            client: ClientWatch(None),
        };
        if body.verdict.get() == WHOLE {
            let mut cx = Context::from_waker(Waker::noop());
            let mut data = BytesMut::new();
            loop {
                match Pin::new(&mut body.inner).poll_frame(&mut cx) {
                    Poll::Ready(Some(Ok(frame))) if frame.is_data() => {
                        if let Ok(chunk) = frame.into_data() {
                            data.extend_from_slice(&chunk);
                        }
                    }
                    Poll::Ready(None) => {
                        client.done();
                        return ResponseBody::full(data.freeze());
                    }
                    Poll::Ready(Some(Ok(frame))) => {
                        body.pending.push_back(Frame::data(data.split().freeze()));
                        body.pending.push_back(frame);
                        break;
                    }
                    // An abort, or not all there: streamed, as it is.
                    other => {
                        body.failed = matches!(other, Poll::Ready(Some(Err(_))));
                        if !data.is_empty() {
                            body.pending.push_back(Frame::data(data.split().freeze()));
                        }
                        break;
                    }
                }
            }
        }
        body.client = client;
        ResponseBody::streaming(body)
    }
}

impl Body for GuestBody {
    type Data = Bytes;
    type Error = Aborted;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        let this = self.get_mut();
        if let Some(frame) = this.pending.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if this.failed {
            return Poll::Ready(Some(Err(Aborted)));
        }
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => Poll::Ready(Some(Ok(frame))),
            // The guest dropped its body without `finish`, or wrote other
            // than its Content-Length.
            Some(Err(_)) => Poll::Ready(Some(Err(Aborted))),
            // While the guest runs, only its `finish` ends the body; after,
            // the verdict says whether it had.
            None => match this.verdict.get() {
                CUT => Poll::Ready(Some(Err(Aborted))),
                _ => {
                    this.client.done();
                    Poll::Ready(None)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_cuts_only_an_undecided_body() {
        let verdict = Arc::new(Verdict::default());
        drop(verdict.guard());
        assert_eq!(verdict.get(), CUT);
        let verdict = Arc::new(Verdict::default());
        let guard = verdict.guard();
        guard.done();
        drop(guard);
        assert_eq!(verdict.get(), WHOLE);
    }

    #[test]
    fn heads_are_capped() {
        let mut response = hyper::Response::new(());
        assert!(check_head(&response, 1024).is_ok());
        response
            .headers_mut()
            .insert("x-big", "a".repeat(2000).parse().unwrap());
        assert!(check_head(&response, 1024).is_err());
        *response.status_mut() = hyper::StatusCode::CONTINUE;
        assert!(check_head(&response, 1 << 20).is_err());
    }
}
