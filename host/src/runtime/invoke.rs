//! One request through one fresh instance: the request life cycle.
//!
//! The handler builds the environ and the store state, then polls the guest's
//! future in place: it instantiates the application, calls it, pulls the body
//! chunk by chunk into a bounded channel, and drops the body resource (WSGI's
//! `close()`). Most small responses are complete after that first poll and go
//! out as one buffer; a guest still running when its head is ready moves to a
//! task of its own. A deadline ends the guest at once; a client that leaves
//! makes the guest's next write fail, and gives it a short grace to close.

use crate::http::body::ResponseBody;
use crate::http::header_case::ResponseCase;
use crate::http::pages::error_page;
use crate::http::remote_user::RemoteUser;
pub(crate) use crate::runtime::admission::Slot;
use crate::runtime::chain::{self, LayerRef, Layers};
use crate::runtime::lanes::{self, Ended, Metered};
use crate::runtime::reuse::Idle;
use crate::runtime::store::{PerRequest, StoreData};
use crate::runtime::{App, Instance, Pre};
use crate::stats::{Failure, Rejection};
use crate::wsgi::environ::{self, ConnInfo};
use crate::wsgi::errors::{InputFailure, Refused, RequestError};
use crate::wsgi::input::Input;
use crate::wsgi::request::WsgiRequest;
use crate::wsgi::sink::{HeadResult, ResponseSink};
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;
use wasmtime::Store;

/// How long a guest may keep running after its client left, to notice and
/// run its `close()`, before it is killed.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// Epoch ticks (1 ms each) a request runs before its guest first yields
/// to the runtime; then it yields at every tick.
const FIRST_SLICE_TICKS: u64 = 5;

/// The time a request's guest may be polled on the server's threads, in
/// all, before it moves to the slow lane: its first slice.
const IN_PLACE: Duration = Duration::from_millis(FIRST_SLICE_TICKS);

/// Roughly the most bytes a guest may hand the host in one call (strings
/// and lists it passes to an import): what the host copies out of guest
/// memory on its behalf per call (wasmtime's default is 128 MiB).
const MAX_HOSTCALL_BYTES: usize = 16 << 20;

/// How many body chunks may wait between the guest and the connection (or
/// the middleware in front of it).
const CHUNKS_IN_FLIGHT: usize = 2;

/// Log target of per-request phase timings (trace level), e.g.
/// `RUST_LOG=wasm_gateway::timing=trace`. `bench/run.sh` reads them.
pub const TIMING_TARGET: &str = "wasm_gateway::timing";

/// Microseconds since `since`, or 0 when timing is off.
fn micros(since: Option<Instant>) -> u128 {
    since.map_or(0, |t| t.elapsed().as_micros())
}

/// Serves one request with the chain `layers` (the application alone, or
/// its middleware in front of it), mounted at `script_name` (the matched
/// route's prefix). Runs inside the request's span.
pub async fn handle(
    layers: &Layers,
    parts: &Parts,
    body: Incoming,
    conn: ConnInfo,
    script_name: &[u8],
) -> Response<ResponseBody> {
    let app = layers[0].clone();
    let environ = environ::build(parts, &conn, script_name, &app.config.env);
    let max_body = chain::max_body(layers);
    if environ
        .content_length
        .is_some_and(|length| length > max_body)
    {
        // Refused before the application runs or a byte of the body is read
        // (so no `100 Continue` goes out either).
        app.stats.reject(Rejection::BodyTooLarge);
        return RequestError::Input(InputFailure::TooLarge).into_response();
    }
    let slot = match admit(&app).await {
        Ok(slot) => slot,
        Err(response) => return response,
    };

    // A middleware may authenticate the request: the access line shows the
    // `REMOTE_USER` it hands on.
    let user = (layers.len() > 1).then(RemoteUser::default);
    let layer = user.as_ref().map(|user| LayerRef {
        layers: layers.clone(),
        index: 0,
        user: user.clone(),
    });
    let (request, head_rx, body_rx) = open_request(&app, Input::new(body, max_body), layer);
    // The lane is the route's application's to decide, by its own cost: a
    // middleware shared by many tenants must not carry one tenant's cost
    // (or faults) to the others.
    let heavy = layers[layers.len() - 1].cost.heavy();
    let head = if layers.len() > 1 {
        let span = layer_span(&app);
        launch(app, heavy, request, environ, slot, head_rx)
            .instrument(span)
            .await
    } else {
        launch(app, heavy, request, environ, slot, head_rx).await
    };

    let mut response = match head {
        Ok(Ok(head)) => {
            let declared = head.content_length();
            let mut response = Response::new(ResponseBody::from_channel(body_rx, declared));
            *response.status_mut() = head.status;
            *response.headers_mut() = head.headers;
            if let Some(reason) = head.reason {
                response.extensions_mut().insert(reason);
            }
            if !head.spellings.is_empty() {
                response.extensions_mut().insert(ResponseCase {
                    spellings: head.spellings,
                    no_body: false,
                });
            }
            response
        }
        Ok(Err(err)) => err.into_response(),
        // The task ended without deciding: it was dropped or panicked, and
        // what it knew is logged already; one line is enough.
        Err(_) => {
            tracing::debug!("the request task ended without a response");
            error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    };
    if let Some(user) = user {
        response.extensions_mut().insert(user);
    }
    response
}

/// A concurrency slot of `app`, or the 503 in its place.
pub(crate) async fn admit(app: &App) -> Result<Slot, Response<ResponseBody>> {
    app.admission.enter().await.map_err(|refused| {
        app.stats.reject(match refused {
            Refused::QueueFull => Rejection::QueueFull,
            Refused::Waited(_) => Rejection::QueueTimeout,
        });
        RequestError::Overloaded(refused).into_response()
    })
}

/// The span of one layer of a chain: the request's span names the route's
/// application, and the lines of each layer also name the layer.
pub(crate) fn layer_span(app: &App) -> tracing::Span {
    tracing::info_span!("layer", app = %app.config.name)
}

/// The per-request half of a store for `app`: `input`, and a response sink
/// whose head and body come out of the returned receivers (to the client,
/// or to the middleware in front).
pub(crate) fn open_request(
    app: &App,
    input: Input,
    layer: Option<LayerRef>,
) -> (
    PerRequest,
    oneshot::Receiver<HeadResult>,
    mpsc::Receiver<crate::http::body::Chunk>,
) {
    let (head_tx, head_rx) = oneshot::channel();
    let (body_tx, body_rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let request = PerRequest {
        wsgi: WsgiRequest::new(
            input,
            ResponseSink::new(head_tx, body_tx, app.config.max_response_head),
        ),
        layer,
    };
    (request, head_rx, body_rx)
}

/// Runs `request` through `app` and waits for its head (or the error in
/// its place), which `request`'s response sink sends on `head_rx`.
///
/// The guest is polled right here first. A small response is usually
/// complete after this one poll: then no task is spawned, nothing wakes
/// anyone, and the head and the whole body leave in a single write. A guest
/// that waits (on a key-value store, an outbound call, the request body)
/// is polled here again when its wait ends: waiting holds no thread, and a
/// hop to another runtime would cost more than the wait. A guest still
/// running once it has been polled for [`IN_PLACE`] in all, or whose head
/// is out while its body is not done, carries on in a task of the slow lane
/// ([`super::lanes`]), so that long guests never hold the server's own
/// threads. A `heavy` request (its route's application has been costly
/// lately) starts there, unpolled.
pub(crate) async fn launch(
    app: Arc<App>,
    heavy: bool,
    request: PerRequest,
    environ: crate::wsgi::bindings::Environ,
    slot: Slot,
    head_rx: oneshot::Receiver<HeadResult>,
) -> Result<HeadResult, oneshot::error::RecvError> {
    launch_task(run(app, request, environ, slot), heavy, head_rx).await
}

/// [`launch`] for any request task (a WSGI one, or a `wasi:http` one) and
/// the receiver of its head.
pub(crate) async fn launch_task<H>(
    task: impl Future<Output = Ended> + Send + 'static,
    heavy: bool,
    head_rx: oneshot::Receiver<H>,
) -> Result<H, oneshot::error::RecvError> {
    let mut task = Metered::new(task);
    let mut head_rx = head_rx;
    if heavy {
        lanes::spawn_slow(task.instrument(tracing::Span::current()));
        return head_rx.await;
    }
    enum First<H> {
        Done,
        Head(Result<H, oneshot::error::RecvError>),
        Move,
    }
    let first = std::future::poll_fn(|cx| {
        if Pin::new(&mut task).poll(cx).is_ready() {
            return Poll::Ready(First::Done);
        }
        if let Poll::Ready(head) = Pin::new(&mut head_rx).poll(cx) {
            return Poll::Ready(First::Head(head));
        }
        if task.busy() >= IN_PLACE {
            return Poll::Ready(First::Move);
        }
        // Waiting (on its host calls, or yielding at a tick within its
        // time here): polled again here when woken.
        Poll::Pending
    })
    .await;
    match first {
        First::Done => head_rx.await,
        First::Head(head) => {
            lanes::spawn_slow(task.instrument(tracing::Span::current()));
            head
        }
        First::Move => {
            lanes::spawn_slow(task.instrument(tracing::Span::current()));
            head_rx.await
        }
    }
}

/// A new store for `app`, serving `request` first: the application's
/// memory and table limits, its grants, and yielding at every epoch tick.
pub(crate) fn new_store(app: &App, request: PerRequest) -> Store<StoreData> {
    let state = StoreData::new(app, request);
    let mut store = Store::new(&app.engine, state);
    store.limiter(|s| &mut s.limits);
    store.set_hostcall_fuel(MAX_HOSTCALL_BYTES);
    store.epoch_deadline_async_yield_and_update(1);
    store
}

/// Owns the store for the whole request; cancelled by the deadline or the
/// client leaving.
///
/// The store is new, or, when the application reuses instances, an idle one
/// from its pool; it goes back there only if the request ended cleanly.
/// `_slot` is the application's concurrency slot, held until the guest is
/// done. Hands `app` back at the end, with whether the request faulted,
/// for [`Metered`] to count its cost.
async fn run(
    app: Arc<App>,
    request: PerRequest,
    environ: crate::wsgi::bindings::Environ,
    _slot: Slot,
) -> Ended {
    let (mut store, mut instance, served, born) = checkout(&app, request);
    // The first request of an instance kept for more pays for its start.
    let warming = born.is_some() && served == 0;
    let deadline_at = begin(&app, &mut store);
    // A fresh request's sink is always attached to its receiver.
    let client = store.data().request.response.watch();
    let client_gone = async {
        match &client {
            Some(client) => client.closed().await,
            None => std::future::pending().await,
        }
    };
    let timeout = app.config.timeout;

    // Biased: the guest is polled first, so a request that completes in its
    // first poll (most do) never registers the deadline timer or the
    // disconnect watch, sparing the timer wheel's lock.
    let outcome = {
        let deadline = tokio::time::sleep_until(deadline_at);
        let guest = drive(&app, &mut store, &mut instance, &environ);
        tokio::pin!(deadline, guest);
        tokio::select! {
            biased;
            r = &mut guest => r,
            () = &mut deadline => Err(RequestError::Timeout(timeout)),
            () = client_gone => {
                // The client left. The guest's next write fails, so a guest
                // that is streaming leaves its loop and gets its body closed
                // (WSGI's close()); one that is busy computing is killed
                // after a short grace.
                match tokio::time::timeout(CLOSE_GRACE, &mut guest).await {
                    Ok(Err(err)) => Err(err),
                    Ok(Ok(())) | Err(_) => Err(RequestError::ClientGone),
                }
            }
        }
    };
    let mut faulted = store.data().faulted;
    let outcome = outcome.and_then(|()| store.data().request.response.complete());
    // A request whose body failed as the guest read it (too large, too
    // slow, malformed, cut) failed by the client's doing, whatever the
    // guest then did: a rejection, and no fault of the app's (else a
    // client could push any app onto the slow lane).
    let input_failed = store.data().request.input.failure();
    if let (Err(_), Some(failure)) = (&outcome, input_failed) {
        count(&app, &RequestError::Input(failure), false);
        faulted = false;
    } else if let Err(err) = &outcome {
        count(&app, err, store.data().limits.refused_memory());
    } else if faulted {
        app.stats.fail_with(
            Failure::Contract,
            "start_response refused a call (see the log)",
        );
    }
    match outcome {
        Ok(()) => {
            // The guest is done and its response whole: the store is free
            // (back to the pool, or dropped) before the response's end goes
            // out, so the client's next request finds the instance idle.
            // An instance that kept wasi:http resources (an outbound call
            // it never finished) is not reused.
            let reusable = app.reuse.is_some()
                && !crate::proxy::response::holds_http_resources(store.data_mut().table());
            let mut response = match (&app.reuse, instance, born) {
                (Some(pool), Some(instance), Some(born)) if reusable => {
                    let response = store.data_mut().end();
                    pool.put(Idle {
                        store,
                        instance,
                        served: served + 1,
                        born,
                    });
                    response
                }
                // Frees the instance and keeps only the response.
                _ => store.into_data().request.response,
            };
            // Sending the end waits only when the client is behind; then
            // it is still bound by the deadline.
            let ended = match response.try_finish() {
                Ok(true) => Ok(()),
                Ok(false) => tokio::time::timeout_at(deadline_at, response.finish())
                    .await
                    .unwrap_or(Err(RequestError::Timeout(timeout))),
                Err(err) => Err(err),
            };
            if let Err(err) = ended {
                count(&app, &err, false);
                faulted |= err.is_fault();
                if let Some(err) = response.fail(err) {
                    err.log();
                }
            }
        }
        Err(err) => {
            faulted |= err.is_fault() && input_failed.is_none();
            if let Some(err) = store.data_mut().request.response.fail(err) {
                err.log();
            }
        }
    }
    Ended {
        app,
        faulted,
        warming,
    }
}

/// A store for `request`: an idle one from `app`'s reuse pool (with its
/// instance, how many requests it served and when it was born), or a new
/// one (no instance yet; born now only if it may be reused).
pub(crate) fn checkout(
    app: &App,
    request: PerRequest,
) -> (Store<StoreData>, Option<Instance>, u64, Option<Instant>) {
    match app.reuse.as_ref().and_then(|pool| pool.take()) {
        Some(idle) => {
            let mut store = idle.store;
            store.data_mut().begin(request);
            (store, Some(idle.instance), idle.served, Some(idle.born))
        }
        // The clock is read only for an instance that may be reused.
        None => (
            new_store(app, request),
            None,
            0,
            app.reuse.is_some().then(Instant::now),
        ),
    }
}

/// Starts a request in `store` (new or reused): its first time slice, its
/// fuel, and its deadline, which is returned (outbound calls and password
/// hashing are held to it too).
pub(crate) fn begin(app: &App, store: &mut Store<StoreData>) -> tokio::time::Instant {
    // A new store's deadline is epoch 0, already in the past: without this
    // the guest would yield at its very first epoch check, every request.
    // The first slice is a few ticks long, so that the usual short request
    // never yields (a yield costs a task and a wake-up); a guest that runs
    // on yields every tick after it. (The deadline counts from now, so a
    // reused store is reset too.)
    store.set_epoch_deadline(FIRST_SLICE_TICKS);
    if app.fuel {
        // Every store of a fuel-counting engine needs fuel; an application
        // without a limit gets as good as unlimited.
        let _ = store.set_fuel(app.config.fuel.unwrap_or(u64::MAX));
    }
    let deadline_at = tokio::time::Instant::now() + app.config.timeout;
    store.data_mut().hooks.set_deadline(deadline_at);
    store.data_mut().kv.set_deadline(deadline_at);
    store.data_mut().kdf.set_deadline(deadline_at);
    deadline_at
}

/// Counts a request's error in its application's metrics: a guest's
/// failure by kind (`refused_memory`: its memory limit refused a growth
/// first, so a trap is put down to memory), or a rejection.
pub(crate) fn count(app: &App, err: &RequestError, refused_memory: bool) {
    let stats = &app.stats;
    let failure = match err {
        RequestError::Trap(_) if refused_memory => Failure::Memory,
        RequestError::Trap(_) => Failure::Trap,
        RequestError::OutOfFuel(_) => Failure::Fuel,
        RequestError::Timeout(_) => Failure::Timeout,
        RequestError::Contract(_) => Failure::Contract,
        RequestError::App(_) => Failure::AppError,
        RequestError::Instantiate(_) => return stats.reject(Rejection::NoInstance),
        RequestError::Overloaded(Refused::QueueFull) => return stats.reject(Rejection::QueueFull),
        RequestError::Overloaded(Refused::Waited(_)) => {
            return stats.reject(Rejection::QueueTimeout);
        }
        RequestError::Input(InputFailure::TooLarge) => {
            return stats.reject(Rejection::BodyTooLarge);
        }
        RequestError::Input(InputFailure::TimedOut) => return stats.reject(Rejection::BodyTimeout),
        RequestError::Input(InputFailure::Malformed | InputFailure::Incomplete) => {
            return stats.reject(Rejection::BodyMalformed);
        }
        RequestError::ClientGone => return,
    };
    // A trap's cause, not its backtrace (which its Display leads with).
    match err {
        RequestError::Trap(trap) => stats.fail_with(
            failure,
            format_args!("the application trapped: {}", trap.root_cause()),
        ),
        _ => stats.fail_with(failure, err),
    }
}

/// A new instance of `app` in `store`. Idle reused instances hold pool
/// slots: when none is free, they are released first (better than a 503).
pub(crate) async fn instantiate(
    app: &App,
    store: &mut Store<StoreData>,
) -> Result<Instance, RequestError> {
    let no_slot = |e: &wasmtime::Error| {
        e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
    };
    let once = async |store: &mut Store<StoreData>| match &app.pre {
        Pre::Wsgi(pre) => pre.instantiate_async(store).await.map(Instance::Wsgi),
        Pre::Proxy(pre) => pre.instantiate_async(store).await.map(Instance::Proxy),
    };
    let mut fresh = once(&mut *store).await;
    if fresh.as_ref().is_err_and(no_slot) && app.idle.release_all() > 0 {
        fresh = once(&mut *store).await;
    }
    fresh.map_err(|e| {
        if no_slot(&e) {
            RequestError::Instantiate(e)
        } else {
            RequestError::trap(e, app.config.fuel)
        }
    })
}

/// Runs the request in `store`: instantiates the application unless
/// `instance` holds a reused one, calls it, pumps its body, closes it.
async fn drive(
    app: &App,
    store: &mut Store<StoreData>,
    instance: &mut Option<Instance>,
    environ: &crate::wsgi::bindings::Environ,
) -> Result<(), RequestError> {
    // Clock reads only when someone is listening.
    let timing = tracing::enabled!(target: TIMING_TARGET, tracing::Level::TRACE);
    let now = || timing.then(Instant::now);
    let start = now();
    let fuel = app.config.fuel;
    let trap = |e| RequestError::trap(e, fuel);
    if instance.is_none() {
        *instance = Some(instantiate(app, store).await?);
    }
    let Some(Instance::Wsgi(instance)) = instance.as_ref() else {
        // Never routed here: a wasi:http component is served by
        // `runtime::proxy`, and refused in a middleware chain at load.
        return Err(RequestError::Contract(
            "a wasi:http component cannot serve a WSGI request",
        ));
    };
    let instantiate_us = micros(start);
    let api = instance.wasm_gateway_wsgi_application();
    let call_start = now();
    let body = api
        .call_call(&mut *store, environ)
        .await
        .map_err(trap)?
        .map_err(|e| RequestError::app(&e.message, &app.sandbox.log_budget))?;

    let call_us = micros(call_start);
    let body_start = now();
    let pumped = async {
        loop {
            match api
                .body()
                .call_next(&mut *store, body)
                .await
                .map_err(trap)?
            {
                Ok(Some(chunk)) => store.data_mut().request.response.send(chunk).await?,
                Ok(None) => return Ok(()),
                Err(e) => return Err(RequestError::app(&e.message, &app.sandbox.log_budget)),
            }
        }
    }
    .await;
    let body_us = micros(body_start);
    // WSGI's close(): called whether or not the body was read to the end.
    let close_start = now();
    let closed = body.resource_drop_async(&mut *store).await.map_err(trap);
    if timing {
        tracing::trace!(
            target: TIMING_TARGET,
            instantiate_us,
            call_us,
            body_us,
            close_us = micros(close_start),
            "request phases"
        );
    }
    pumped?;
    closed
}
