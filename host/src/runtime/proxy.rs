//! One request through a `wasi:http` component: the proxy world's request
//! life cycle, under the same limits as a WSGI request (`invoke`).
//!
//! The request is admitted under the app's concurrency cap, its body capped
//! by Content-Length up front and as it streams. The guest runs in its own
//! store, polled in place first (a small response is complete after that
//! one poll and leaves as one buffer) and moved to the slow lane when it
//! takes longer. Its response head goes to the client as soon as the guest
//! sets it (`response-outparam.set`), the body streams while the guest
//! writes it, and when the guest is done the host aborts whatever body it
//! left open (see `proxy::response`). A deadline ends the guest at
//! once; a client that leaves gives it a short grace.

use crate::http::body::ResponseBody;
use crate::http::pages::error_page;
use crate::proxy::request::{GuestInput, InputState, prepare};
use crate::proxy::response::{
    ClientGone, GuestBody, Verdict, abort_unfinished, check_head, client_watch,
    holds_http_resources,
};
use crate::runtime::invoke::{self, CLOSE_GRACE, count, instantiate};
use crate::runtime::lanes::Ended;
use crate::runtime::reuse::Idle;
use crate::runtime::store::{PerRequest, StoreData};
use crate::runtime::{App, Instance};
use crate::stats::{Failure, Rejection};
use crate::wsgi::environ::ConnInfo;
use crate::wsgi::errors::{InputFailure, RequestError};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// What the connection gets from the guest's task: the guest's response,
/// or the error in its place.
enum Head {
    Response(hyper::Response<HyperOutgoingBody>),
    Failed(RequestError),
}

/// Where the head goes, once: from inside the guest when it sets its
/// response, or from the task when the guest ended without one.
#[derive(Clone)]
struct HeadSlot(Arc<HeadState>);

struct HeadState {
    tx: Mutex<Option<oneshot::Sender<Head>>>,
    /// The guest set a response the host refused, or an error code: its
    /// fault, for the app's cost.
    faulted: AtomicBool,
}

impl HeadSlot {
    fn new(tx: oneshot::Sender<Head>) -> Self {
        HeadSlot(Arc::new(HeadState {
            tx: Mutex::new(Some(tx)),
            faulted: AtomicBool::new(false),
        }))
    }

    /// Sends `head` unless a head went out already or nobody waits for it
    /// any more; an error that cannot go out is logged.
    fn send(&self, head: Head) {
        let tx = self
            .0
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let unsent = match tx {
            Some(tx) => tx.send(head).err(),
            None => Some(head),
        };
        if let Some(Head::Failed(err)) = unsent {
            err.log();
        }
    }

    fn sent(&self) -> bool {
        self.0
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// What `response-outparam.set` does: the response goes out if the
    /// app's limits allow it; an error code, or a refused head, is the
    /// guest's failure (500).
    fn deliver(&self, app: &App, result: Result<hyper::Response<HyperOutgoingBody>, ErrorCode>) {
        let head = match result {
            Ok(response) => match check_head(&response, app.config.max_response_head) {
                Ok(()) => Head::Response(response),
                Err(rule) => {
                    self.0.faulted.store(true, Ordering::Relaxed);
                    app.stats.fail_with(Failure::Contract, rule);
                    Head::Failed(RequestError::Contract(rule))
                }
            },
            Err(code) => {
                self.0.faulted.store(true, Ordering::Relaxed);
                let err = RequestError::app(
                    &format!("it set an error as its response: {code:?}"),
                    &app.sandbox.log_budget,
                );
                app.stats.fail_with(Failure::AppError, &err);
                Head::Failed(err)
            }
        };
        self.send(head);
    }
}

/// Serves one request with the `wasi:http` component `app`, mounted at
/// `script_name`. Runs inside the request's span.
pub async fn handle(
    app: &Arc<App>,
    parts: &Parts,
    body: Incoming,
    conn: ConnInfo,
    script_name: &[u8],
) -> Response<ResponseBody> {
    let max_body = app.config.max_body;
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_body) {
        app.stats.reject(Rejection::BodyTooLarge);
        return RequestError::Input(InputFailure::TooLarge).into_response();
    }
    let Some((request, input)) = prepare(parts, body, &conn, script_name, max_body) else {
        tracing::debug!("refused: a Host header that is not text");
        return error_page(StatusCode::BAD_REQUEST);
    };
    let slot = match invoke::admit(app).await {
        Ok(slot) => slot,
        Err(response) => return response,
    };
    let head_only = parts.method == hyper::Method::HEAD;
    let (tx, rx) = oneshot::channel();
    let verdict = Arc::new(Verdict::default());
    let (watch, gone) = client_watch();
    let task = run(
        app.clone(),
        request,
        HeadSlot::new(tx),
        gone,
        verdict.clone(),
        input.clone(),
        slot,
    );
    match invoke::launch_task(task, app.cost.heavy(), rx).await {
        Ok(Head::Response(response)) => {
            // The guest answered though the request body failed under it:
            // the client hears about its body (counted by the task).
            if let Some(failure) = input.get() {
                return RequestError::Input(*failure).into_response();
            }
            let (parts, body) = response.into_parts();
            let body = GuestBody::response_body(body, verdict, watch);
            if head_only
                || parts.status == StatusCode::NO_CONTENT
                || parts.status == StatusCode::NOT_MODIFIED
            {
                // hyper sends no body for these and drops it unread: the
                // guest's writes would fail (and many guests trap on
                // that). The body is read and discarded instead, for as
                // long as the guest writes it (within its deadline).
                tokio::spawn(async move {
                    let mut body = std::pin::pin!(body);
                    while let Some(Ok(_)) = body.frame().await {}
                });
                return Response::from_parts(parts, ResponseBody::full(bytes::Bytes::new()));
            }
            Response::from_parts(parts, body)
        }
        Ok(Head::Failed(err)) => err.into_response(),
        Err(_) => {
            tracing::debug!("the request task ended without a response");
            error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// Owns the store for the whole request (see `invoke::run`, its WSGI
/// twin): runs the guest under the deadline, then aborts the bodies it
/// left open, counts what went wrong, and puts a clean reusable instance
/// back. `_slot` is the app's concurrency slot, held until the guest is
/// done.
async fn run(
    app: Arc<App>,
    request: hyper::Request<GuestInput>,
    head: HeadSlot,
    mut gone: ClientGone,
    verdict: Arc<Verdict>,
    input: InputState,
    _slot: invoke::Slot,
) -> Ended {
    let request_state = PerRequest {
        wsgi: Default::default(),
        layer: None,
    };
    let (mut store, mut instance, served, born) = invoke::checkout(&app, request_state);
    // The first request of an instance kept for more pays for its start.
    let warming = born.is_some() && served == 0;
    // Declared after the store, dropped before it: a task dropped midway
    // still cuts the body rather than letting it end cleanly.
    let guard = verdict.guard();
    let deadline_at = invoke::begin(&app, &mut store);
    let timeout = app.config.timeout;

    let outcome = {
        let deadline = tokio::time::sleep_until(deadline_at);
        let guest = serve(&app, &mut store, &mut instance, request, head.clone());
        tokio::pin!(deadline, guest);
        tokio::select! {
            biased;
            r = &mut guest => r,
            () = &mut deadline => Err(RequestError::Timeout(timeout)),
            () = gone.wait() => {
                // The guest's next write fails; one busy computing is
                // killed after a short grace. Whatever it does meanwhile
                // (many guests trap on a failed write) is the client's
                // doing, not a fault of the app's.
                let _ = tokio::time::timeout(CLOSE_GRACE, &mut guest).await;
                Err(RequestError::ClientGone)
            }
        }
    };
    // Bodies left open end as aborts, explicitly: from here on a body's
    // end says whether the guest finished it.
    let unfinished = abort_unfinished(store.data_mut().table());
    guard.done();

    // A refused head or an error code was counted as the guest set it.
    let counted = head.0.faulted.load(Ordering::Relaxed);
    let mut faulted = counted;
    let failed = match outcome {
        Err(err) => Some(err),
        Ok(()) if !head.sent() => Some(RequestError::Contract(
            "wasi:http: the component returned without setting a response",
        )),
        Ok(()) if unfinished > 0 => Some(RequestError::Contract(
            "wasi:http: the component returned with a body neither finished nor dropped (the client's response was aborted)",
        )),
        Ok(()) => None,
    };
    let clean = failed.is_none() && !faulted && !holds_http_resources(store.data_mut().table());
    // A request whose body failed as the guest read it failed by the
    // client's doing, whatever the guest then did (see `invoke::run`).
    let input_failed = input.get().copied();
    if let Some(failure) = input_failed {
        count(&app, &RequestError::Input(failure), false);
        faulted = false;
    }
    if let Some(err) = failed {
        let err = match input_failed {
            Some(failure) => {
                tracing::debug!(error = %err, "the application's error after the request body failed");
                RequestError::Input(failure)
            }
            None => {
                if !counted {
                    count(&app, &err, store.data().limits.refused_memory());
                }
                faulted |= err.is_fault();
                err
            }
        };
        // With the head out already, the body ends aborted and the log
        // says why.
        head.send(Head::Failed(err));
    }
    // Leftover captured output belongs to this request's log lines.
    let _ = store.data_mut().end();
    if let (true, Some(pool), Some(Instance::Proxy(proxy)), Some(born)) =
        (clean, &app.reuse, instance, born)
    {
        pool.put(Idle {
            store,
            instance: Instance::Proxy(proxy),
            served: served + 1,
            born,
        });
    }
    Ended {
        app,
        faulted,
        warming,
    }
}

/// Instantiates (unless the instance is reused) and calls the guest's
/// `incoming-handler.handle` with the request and a response outparam that
/// delivers to `head`.
async fn serve(
    app: &Arc<App>,
    store: &mut Store<StoreData>,
    instance: &mut Option<Instance>,
    request: hyper::Request<GuestInput>,
    head: HeadSlot,
) -> Result<(), RequestError> {
    let trap = |e| RequestError::trap(e, app.config.fuel);
    let mut http = store.data_mut().http();
    let request = http
        .new_incoming_request(Scheme::Http, request)
        .map_err(trap)?;
    let deliver = {
        let app = app.clone();
        move |result| head.deliver(&app, result)
    };
    let out = http
        .new_response_outparam_from_callback(deliver)
        .map_err(trap)?;
    if instance.is_none() {
        *instance = Some(instantiate(app, store).await?);
    }
    let Some(Instance::Proxy(proxy)) = instance.as_ref() else {
        return Err(RequestError::Contract(
            "a WSGI component cannot serve a wasi:http request",
        ));
    };
    proxy
        .wasi_http_incoming_handler()
        .call_handle(&mut *store, request, out)
        .await
        .map_err(trap)
}
