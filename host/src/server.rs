//! The HTTP/1.1 server: accepts connections, serves each with hyper, and
//! drains them on shutdown.
//!
//! One request's walk: the connection guard checks the head before hyper
//! parses it (a refusal gets its page here); the gateway routes it; the
//! request runs in one tracing span naming the application and a request
//! number, so every line logged below names them without being told; the
//! response gets the `Server` header and its body is wrapped to count the
//! bytes sent, hold the connection's request open, and write the one
//! access-log record when it is done.

use crate::gateway::{Gateway, LiveGateway};
use crate::http::access_log::{self, AccessLog, Detail};
use crate::http::body::{Aborted, ResponseBody};
use crate::http::guard::{ActiveRequest, ConnShared, Guard, Rejection};
use crate::http::header_case::ResponseCase;
use crate::http::limits::HttpLimits;
use crate::http::pages::{SERVER_SOFTWARE, error_page};
use crate::http::remote_user::RemoteUser;
use crate::stats::{InFlightRequest, ServerStats};
use crate::wsgi::environ::ConnInfo;
use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderMap, HeaderValue, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::Instrument;

/// hyper's smallest allowed read buffer.
const MIN_HYPER_BUFFER: usize = 8192;

/// How many header fields hyper parses without being told otherwise.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// Server-wide HTTP settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// What clients must stay within.
    pub limits: HttpLimits,
    /// How long open connections get to finish after shutdown begins.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: HttpLimits::default(),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// A bound, not yet running, server.
pub struct Server {
    listener: TcpListener,
    gateway: LiveGateway,
    config: ServerConfig,
    in_flight: InFlight,
    stats: Arc<ServerStats>,
}

/// Counts the requests a server has in flight (accepted, response not yet
/// finished); cheap to clone and read from anywhere.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Requests in flight now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

impl Server {
    /// Binds `addr` (port 0 picks a free port; see [`Server::local_addr`]).
    pub async fn bind(
        addr: SocketAddr,
        gateway: Arc<Gateway>,
        config: ServerConfig,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Server {
            listener,
            gateway: Arc::new(ArcSwap::new(gateway)),
            config,
            in_flight: InFlight::default(),
            stats: Arc::default(),
        })
    }

    /// The gateway being served, to replace it while the server runs (a
    /// reload): requests that started keep the one they started with.
    pub fn gateway(&self) -> LiveGateway {
        self.gateway.clone()
    }

    /// The server's counters.
    pub fn stats(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }

    /// The server's count of requests in flight.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.clone()
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and gives
    /// open connections [`ServerConfig::shutdown_grace`] to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let local = self.listener.local_addr()?;
        let limits = Arc::new(self.config.limits.clone());
        let mut http = http1::Builder::new();
        // The guard enforces the head limits and timeouts before hyper reads
        // a head, so hyper's own must never be the tighter ones.
        http.timer(TokioTimer::new())
            .header_read_timeout(None)
            .max_buf_size(limits.max_head_size.max(MIN_HYPER_BUFFER) + 8192)
            // Names go out as `Content-Type`; the guard puts back any other
            // spelling the application used (see header_case).
            .title_case_headers(true)
            .keep_alive(true);
        if limits.max_header_count > HYPER_DEFAULT_MAX_HEADERS {
            http.max_headers(limits.max_header_count);
        }
        let graceful = GracefulShutdown::new();
        let connections = Arc::new(Semaphore::new(limits.max_connections));
        tokio::pin!(shutdown);

        loop {
            // At the connection limit, stop accepting: further clients wait
            // in the kernel's backlog rather than being accepted and starved.
            let permit = tokio::select! {
                permit = connections.clone().acquire_owned() => permit.expect("never closed"),
                () = &mut shutdown => break,
            };
            let (stream, remote) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        // Out of file descriptors and the like: back off
                        // instead of spinning, and keep serving.
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // Responses are written in one go per chunk; Nagle only adds delay.
            let _ = stream.set_nodelay(true);
            let conn_info = ConnInfo { local, remote };
            let open = self.stats.open();
            let gateway = self.gateway.clone();
            let shared = Arc::new(ConnShared::new(self.in_flight.0.clone()));
            let io = Guard::new(stream, limits.clone(), shared.clone(), remote);
            let service = service_fn(move |req: Request<Incoming>| {
                let (refused, active) = shared.begin();
                // The arrival: for the app's latency metric, and for the
                // duration the combined and JSON access lines show.
                let started = Instant::now();
                let detail_from = access_log::format().wants_detail().then_some(started);
                let gateway = gateway.load_full();
                let shared = shared.clone();
                let no_body = req.method() == hyper::Method::HEAD;
                async move {
                    let (mut response, mut log, counted) = match refused {
                        Some(rejection) => {
                            let (response, log) = refusal(&rejection, remote, detail_from);
                            (response, log, None)
                        }
                        None => serve(&gateway, req, conn_info, detail_from).await,
                    };
                    let mut case = response
                        .extensions_mut()
                        .remove::<ResponseCase>()
                        .unwrap_or_default();
                    case.no_body = no_body;
                    shared.cases.push(case);
                    log.status = response.status().as_u16();
                    log.note_response(response.headers());
                    if let Some(user) = response.extensions_mut().remove::<RemoteUser>() {
                        log.with_user(user);
                    }
                    response
                        .headers_mut()
                        .entry(SERVER)
                        .or_insert(HeaderValue::from_static(SERVER_SOFTWARE));
                    Ok::<_, Infallible>(response.map(|body| Served {
                        body,
                        log,
                        counted,
                        started,
                        _active: active,
                    }))
                }
            });
            let conn = graceful.watch(http.serve_connection(TokioIo::new(io), service));
            tokio::spawn(async move {
                match conn.await {
                    // The guard refuses what it knows to be malformed, with
                    // a page and a log line; anything hyper still refuses
                    // gets hyper's bare 400, so it is at least logged.
                    Err(err) if err.is_parse() || err.is_parse_too_large() => {
                        tracing::warn!(%remote, %err, "refused a request hyper could not parse");
                    }
                    Err(err) => tracing::debug!(%remote, %err, "connection ended with an error"),
                    Ok(()) => {}
                }
                drop(open);
                drop(permit);
            });
        }

        drop(self.listener);
        let grace = self.config.shutdown_grace;
        tracing::info!(
            in_flight = self.in_flight.get(),
            "draining: no longer accepting connections; waiting up to {grace:?} for the requests in flight"
        );
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = self.in_flight.get(),
                "shutdown grace period over; closing remaining connections"
            );
        } else {
            tracing::info!(in_flight = self.in_flight.get(), "drained");
        }
        Ok(())
    }
}

/// Numbers requests for the log, from 1: every request answered gets the
/// next number, routed or not, refused or not.
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// Routes and serves one request the guard let through, inside the
/// request's span; returns the response, its access-log record (with
/// the detail of the combined and JSON formats when `started`, the
/// request's arrival, is given), and the request as counted in flight by
/// its app.
async fn serve(
    gateway: &Gateway,
    req: Request<Incoming>,
    conn: ConnInfo,
    started: Option<Instant>,
) -> (Response<ResponseBody>, AccessLog, Option<InFlightRequest>) {
    let (parts, body) = req.into_parts();
    let id = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
    let mut detail = started.map(|started| Detail::new(id, started, &parts.headers));
    let (response, counted) = match gateway.route(&parts) {
        Some(found) => {
            if let Some(detail) = &mut detail {
                detail.app = Some(found.label.clone());
            }
            let counted = found.target.stats().begin();
            let span = tracing::info_span!("request", app = %found.label, request = id);
            let response = gateway
                .serve(found, &parts, body, conn)
                .instrument(span)
                .await;
            (response, Some(counted))
        }
        None => {
            tracing::debug!(request = id, remote = %conn.remote, uri = %parts.uri, "no route");
            (error_page(StatusCode::NOT_FOUND), None)
        }
    };
    let log = AccessLog::new(conn.remote.ip(), parts.method, parts.uri, parts.version);
    let log = match detail {
        Some(detail) => log.with_detail(detail),
        None => log,
    };
    (response, log, counted)
}

/// The answer to a request the connection guard refused (malformed, too
/// large, too slow): logged with its reason, access-logged with the request
/// line as received, and the connection closes after it.
fn refusal(
    rejection: &Rejection,
    remote: SocketAddr,
    started: Option<Instant>,
) -> (Response<ResponseBody>, AccessLog) {
    let id = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        request = id,
        %remote,
        status = rejection.status.as_u16(),
        line = %rejection.line,
        "refused a request: {}",
        rejection.reason
    );
    let log = AccessLog::refused(remote.ip(), rejection.line.clone());
    let log = match started {
        Some(started) => log.with_detail(Detail::new(id, started, &HeaderMap::new())),
        None => log,
    };
    let mut response = error_page(rejection.status);
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    (response, log)
}

/// A response body on its way out: counts the bytes handed to hyper for the
/// access log, keeps the connection's request active (a quiet socket is not
/// idle while a response is going out), and writes the access line when the
/// body is done or dropped.
struct Served {
    body: ResponseBody,
    log: AccessLog,
    /// The request in its app's counters, finished with the body.
    counted: Option<InFlightRequest>,
    /// When the request began to be served.
    started: Instant,
    _active: ActiveRequest,
}

impl Body for Served {
    type Data = Bytes;
    type Error = Aborted;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        let frame = std::task::ready!(Pin::new(&mut self.body).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            self.log.bytes += data.len() as u64;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(counted) = self.counted.take() {
            counted.finish(self.log.status, self.started.elapsed());
        }
        self.log.emit();
    }
}
