//! Running the server in production: the admin listener (health,
//! readiness, Prometheus metrics, reload, a status page), reloading, and
//! the readiness a drain turns off.
//!
//! The admin listener is a server of its own on an address of its own: no
//! tenant's route can reach or shadow it. It is meant for the operator's
//! network (it binds where `admin-listen` says, off by default), answers
//! only its few fixed paths, and holds no request longer than its
//! timeouts.

pub mod metrics;
pub mod reload;
pub mod status;
pub mod watch;

use crate::gateway::LiveGateway;
use crate::stats::{RuntimeStats, ServerStats};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use reload::{ReloadError, Reloader};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Most admin connections at once: it is an operator's endpoint, scraped
/// by a few monitors.
const MAX_ADMIN_CONNECTIONS: usize = 64;

/// How long an admin client may take to send its request head.
const ADMIN_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the admin listener reports on and acts upon: one per server.
pub struct Ops {
    /// The gateway being served.
    pub live: LiveGateway,
    /// The server's and the runtime's counters.
    pub server: Arc<ServerStats>,
    pub runtime: Arc<RuntimeStats>,
    /// Reloads the gateway.
    pub reloader: Arc<Reloader>,
    /// Whether the server takes new work: set once everything is loaded,
    /// cleared when a drain begins.
    ready: AtomicBool,
    /// When the server started.
    started: Instant,
}

impl Ops {
    pub fn new(
        live: LiveGateway,
        server: Arc<ServerStats>,
        runtime: Arc<RuntimeStats>,
        reloader: Arc<Reloader>,
    ) -> Self {
        Ops {
            live,
            server,
            runtime,
            reloader,
            ready: AtomicBool::new(false),
            started: Instant::now(),
        }
    }

    /// The server takes new work (every app is loaded), or no longer does
    /// (a drain began).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

/// The admin listener, bound.
pub struct Admin {
    listener: TcpListener,
    ops: Arc<Ops>,
}

impl Admin {
    pub async fn bind(addr: SocketAddr, ops: Arc<Ops>) -> std::io::Result<Self> {
        Ok(Admin {
            listener: TcpListener::bind(addr).await?,
            ops,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the task is dropped (the process ends).
    pub async fn run(self) {
        let registry = Arc::new(metrics::registry(self.ops.clone()));
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_ADMIN_CONNECTIONS));
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(ADMIN_HEADER_TIMEOUT)
            .keep_alive(true);
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let (stream, _) = match self.listener.accept().await {
                Ok(pair) => pair,
                Err(err) => {
                    tracing::warn!(%err, "admin listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let ops = self.ops.clone();
            let registry = registry.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let ops = ops.clone();
                let registry = registry.clone();
                async move { Ok::<_, Infallible>(answer(&ops, &registry, req).await) }
            });
            let conn = http.serve_connection(TokioIo::new(stream), service);
            tokio::spawn(async move {
                let _ = conn.await;
                drop(permit);
            });
        }
    }
}

type AdminResponse = Response<Full<Bytes>>;

fn text(status: StatusCode, body: impl Into<Bytes>) -> AdminResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn wrong_method(allow: &'static str) -> AdminResponse {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// One admin request's answer.
async fn answer(
    ops: &Arc<Ops>,
    registry: &prometheus_client::registry::Registry,
    req: Request<Incoming>,
) -> AdminResponse {
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    match req.uri().path() {
        "/healthz" if get => text(StatusCode::OK, "ok\n"),
        "/readyz" if get => {
            if ops.ready() {
                text(StatusCode::OK, "ready\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: starting or draining\n",
                )
            }
        }
        "/metrics" if get => {
            let mut body = String::new();
            match prometheus_client::encoding::text::encode(&mut body, registry) {
                Ok(()) => {
                    let mut response = text(StatusCode::OK, body);
                    response.headers_mut().insert(
                        CONTENT_TYPE,
                        HeaderValue::from_static(
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        ),
                    );
                    response
                }
                Err(_) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot encode the metrics\n",
                ),
            }
        }
        "/reload" if *req.method() == Method::POST => {
            if !ops.ready() {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not reloading: the server is draining\n",
                );
            }
            match ops.reloader.reload("POST /reload").await {
                Ok(summary) => text(StatusCode::OK, format!("reloaded: {summary}\n")),
                Err(err @ ReloadError::Invalid(_)) => text(
                    StatusCode::BAD_REQUEST,
                    format!("reload failed, the previous configuration still serves: {err}\n"),
                ),
                Err(err @ ReloadError::NeedsRestart(_)) => text(
                    StatusCode::CONFLICT,
                    format!("reload refused, the previous configuration still serves: {err}\n"),
                ),
            }
        }
        "/" if get => {
            let mut response = text(StatusCode::OK, status::page(ops));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        "/healthz" | "/readyz" | "/metrics" | "/" => wrong_method("GET, HEAD"),
        "/reload" => wrong_method("POST"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: the admin listener answers /, /healthz, /readyz, /metrics and POST /reload\n",
        ),
    }
}
