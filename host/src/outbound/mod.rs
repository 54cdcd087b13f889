//! Outbound HTTP for guests: the operator's allow-list, and the one way
//! out of the sandbox (`wasi:http/outgoing-handler`).
//!
//! wasmtime-wasi-http turns a guest's `outgoing-handler.handle` into an
//! `http::Request` and hands it to [`Hooks::send_request`]; everything
//! from there to the wire is ours:
//!
//! 1. the allow-list ([`allow`]): scheme, host and port as the URL says;
//!    refused, the call fails with `HTTP-request-denied` and a
//!    rate-limited log line names the grant that would allow it;
//! 2. the per-application connection cap: at the cap a call fails at
//!    once (`connection-limit-reached`), it never queues;
//! 3. resolving the name, and the address filter ([`addr`]): internal
//!    addresses are refused (`destination-IP-prohibited`) unless a rule
//!    names them by IP or CIDR; the call connects to an address so
//!    checked, never resolving the name again (no DNS rebinding);
//! 4. TLS with rustls for https ([`tls`]);
//! 5. HTTP/1.1 through hyper, one connection per call (no pooling: a
//!    connection belongs to one guest request, and pooling would carry it
//!    past that request's deadline).
//!
//! Every wait (resolving, connecting, the first byte, each later byte) is
//! bounded by the guest's `request-options` or our defaults, and all by
//! what is left of the deadline of the request the guest serves: no
//! connection outlives it, even if the guest keeps the response around.

// Until the runtime links `wasi:http/outgoing-handler` to these hooks
// (the other half of issue 16), only the tests use them.
#![allow(
    dead_code,
    reason = "wired into the runtime separately; remove once it is"
)]

pub mod addr;
pub mod allow;
#[cfg(test)]
mod tests;
pub mod tls;

use crate::stats::{OutboundResult, OutboundStats};
use crate::wsgi::app_log::{LogBudget, cut};
use allow::{Host, Scheme};
use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

pub use allow::AllowList;
pub use tls::Tls;

/// Connect timeout when the guest sets none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to the response head when the guest sets none.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time between two pieces of the response body when the guest sets none.
const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(30);
/// The deadline of a call made by a store whose request set none (a
/// store outside a request; the runtime always sets one).
const NO_DEADLINE: Duration = Duration::from_secs(300);

/// Name lookups in flight at once, all applications together. A lookup
/// runs `getaddrinfo` on tokio's blocking pool, which a timeout cannot
/// stop; the pool is shared with static files and other tenants' file
/// access, so lookups get a fixed share of it.
const MAX_LOOKUPS: usize = 64;

/// A refused call's request body is read up to this much before the
/// refusal is returned (see [`Outbound::refuse`]).
const MAX_DRAIN: usize = 1 << 20;
/// ... and for at most this long.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// One application's way out: its allow-list and its connection cap,
/// shared by all its instances.
#[derive(Debug)]
pub struct Outbound {
    /// The application's name, for log lines.
    app: Arc<str>,
    allow: AllowList,
    /// One permit per open connection, taken with `try_acquire` (at the
    /// cap a call fails at once instead of waiting: a guest that needs
    /// more would otherwise stall on its own connections) and held until
    /// both the response body and the connection are gone.
    connections: Arc<Semaphore>,
    tls: Arc<Tls>,
    /// The application's log budget: a guest calling a denied destination
    /// in a loop cannot flood the log.
    log: Arc<LogBudget>,
    stats: Arc<OutboundStats>,
}

impl Outbound {
    /// `app`'s outbound settings: `allow`, at most `max_connections` open at
    /// once, TLS by `tls`; log lines are drawn from the application's
    /// `log` budget, calls counted in `stats`.
    pub fn new(
        app: Arc<str>,
        allow: AllowList,
        max_connections: usize,
        tls: Arc<Tls>,
        log: Arc<LogBudget>,
        stats: Arc<OutboundStats>,
    ) -> Self {
        Outbound {
            app,
            allow,
            connections: Arc::new(Semaphore::new(max_connections.min(Semaphore::MAX_PERMITS))),
            tls,
            log,
            stats,
        }
    }
}

/// The `wasi:http` hooks of one store: sends what the allow-list allows,
/// within what is left of the request's deadline.
pub struct Hooks {
    outbound: Arc<Outbound>,
    deadline: Option<Instant>,
}

impl Hooks {
    /// Hooks for a store of the application `outbound` belongs to.
    pub fn new(outbound: Arc<Outbound>) -> Self {
        Hooks {
            outbound,
            deadline: None,
        }
    }

    /// The deadline of the request the store serves now: no outbound
    /// connection outlives it.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }
}

/// What `send_request` returns: the response, and the connection's future
/// (wasmtime-wasi-http runs it in a task the response body keeps alive).
type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = wasmtime_wasi_http::Result<Sent>> + Send> {
        let outbound = self.outbound.clone();
        let deadline = self
            .deadline
            .unwrap_or_else(|| Instant::now() + NO_DEADLINE);
        Box::new(async move { outbound.send(request, options, deadline).await })
    }

    // The defaults log every such error at warn, unbounded: a guest could
    // flood the log with failing calls. `send` maps its errors itself;
    // these only see what hyper reports from a response body.
    fn p2_error_from_hyper(
        &mut self,
        err: &hyper::Error,
    ) -> wasmtime_wasi_http::p2::bindings::http::types::ErrorCode {
        tracing::debug!("outbound HTTP: {err}");
        wasmtime_wasi_http::p2::bindings::http::types::ErrorCode::HttpProtocolError
    }
}

/// The per-call timeouts, each already capped by the deadline.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
    deadline: Instant,
}

impl Timeouts {
    fn new(options: Option<RequestOptions>, deadline: Instant) -> Self {
        let options = options.unwrap_or_default();
        Timeouts {
            connect: options.connect_timeout.unwrap_or(CONNECT_TIMEOUT),
            first_byte: options.first_byte_timeout.unwrap_or(FIRST_BYTE_TIMEOUT),
            between_bytes: options
                .between_bytes_timeout
                .unwrap_or(BETWEEN_BYTES_TIMEOUT),
            deadline,
        }
    }

    /// `now + wait`, or the deadline if that comes first.
    fn by(&self, wait: Duration) -> Instant {
        Instant::now()
            .checked_add(wait)
            .map_or(self.deadline, |at| at.min(self.deadline))
    }
}

/// Where a call goes, from its URL.
#[derive(Debug, Clone)]
struct Destination {
    scheme: Scheme,
    host: Host,
    port: u16,
}

impl Destination {
    fn of(uri: &http::Uri) -> Result<Destination, Error> {
        let scheme = uri
            .scheme_str()
            .and_then(Scheme::parse)
            .ok_or(Error::HttpProtocolError)?;
        let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
        // A user name in the authority would end up in the Host header.
        if authority.as_str().contains('@') {
            return Err(Error::HttpRequestUriInvalid);
        }
        let host = authority.host();
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let host = match bare.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(allow::canonical(ip)),
            Err(_) => {
                let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
                if name.is_empty() {
                    return Err(Error::HttpRequestUriInvalid);
                }
                Host::Name(name)
            }
        };
        let port = authority.port_u16().unwrap_or(scheme.default_port());
        Ok(Destination { scheme, host, port })
    }

    /// `scheme://host[:port]`, the port left out when it is the default:
    /// the rule that would allow exactly this destination.
    fn rule(&self) -> String {
        if self.port == self.scheme.default_port() {
            format!("{}://{}", self.scheme.name(), self.host)
        } else {
            format!("{}://{}:{}", self.scheme.name(), self.host, self.port)
        }
    }
}

impl Outbound {
    async fn send(
        self: Arc<Self>,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        deadline: Instant,
    ) -> Result<Sent, Error> {
        let timeouts = Timeouts::new(options, deadline);
        let destination = match Destination::of(request.uri()) {
            Ok(destination) => destination,
            Err(err) => {
                return Err(self
                    .refuse(request, err, OutboundResult::Failed, deadline)
                    .await);
            }
        };
        if self
            .allow
            .allows(destination.scheme, &destination.host, destination.port)
            .is_none()
        {
            if self.log.allow() {
                let rule = destination.rule();
                tracing::warn!(
                    target: "wasm_gateway::outbound",
                    app = %self.app,
                    destination = %cut(&rule),
                    "outbound HTTP call to {} denied: not in the app's outbound-http grant; to allow it, add \"{rule}\" to outbound-http in [apps.{}.grants], or --outbound-http {rule}",
                    cut(&rule),
                    self.app,
                );
            }
            let err = Error::HttpRequestDenied;
            return Err(self
                .refuse(request, err, OutboundResult::Denied, deadline)
                .await);
        }
        // `timeout_at` polls before it looks at the clock: a call made
        // once the request's time is up would still go out.
        if Instant::now() >= deadline {
            let err = Error::ConnectionTimeout;
            return Err(self
                .refuse(request, err, OutboundResult::Failed, deadline)
                .await);
        }
        // Origin form on the wire (`GET /path?q`): the absolute form is for
        // proxies. Checked before any connection is opened.
        let path = match request.uri().path_and_query().map(|p| p.as_str()) {
            None => "/".to_owned(),
            Some(query) if query.starts_with('?') => format!("/{query}"),
            Some(path) => path.to_owned(),
        };
        let Ok(origin_form) = path.parse::<http::Uri>() else {
            let err = Error::HttpRequestUriInvalid;
            return Err(self
                .refuse(request, err, OutboundResult::Failed, deadline)
                .await);
        };
        let Ok(permit) = self.connections.clone().try_acquire_owned() else {
            if self.log.allow() {
                tracing::warn!(
                    target: "wasm_gateway::outbound",
                    app = %self.app,
                    "outbound HTTP call refused: the app has as many connections open as its outbound-connections limit allows"
                );
            }
            let err = Error::ConnectionLimitReached;
            return Err(self
                .refuse(request, err, OutboundResult::Failed, deadline)
                .await);
        };
        let permit = Arc::new(permit);
        let addresses = match self.addresses(&destination, &timeouts, &permit).await {
            Ok(addresses) => addresses,
            Err((err, result)) => {
                // Nothing is connected: the slot is free while the body
                // drains.
                drop(permit);
                return Err(self.refuse(request, err, result, deadline).await);
            }
        };
        let stream = match connect(&addresses, destination.port, &timeouts).await {
            Ok(stream) => stream,
            Err(err) => {
                drop(permit);
                return Err(self
                    .refuse(request, err, OutboundResult::Failed, deadline)
                    .await);
            }
        };

        // wasmtime-wasi-http sets Host from the authority; a request made
        // otherwise gets it here.
        if !request.headers().contains_key(http::header::HOST)
            && let Some(authority) = request.uri().authority()
            && let Ok(value) = http::HeaderValue::from_str(authority.as_str())
        {
            request.headers_mut().insert(http::header::HOST, value);
        }
        *request.uri_mut() = origin_form;

        let result = match destination.scheme {
            Scheme::Http => exchange(stream, request, &timeouts, permit).await,
            Scheme::Https => {
                let name = match &destination.host {
                    Host::Ip(ip) => rustls::pki_types::ServerName::IpAddress((*ip).into()),
                    Host::Name(name) => match rustls::pki_types::ServerName::try_from(name.clone())
                    {
                        Ok(name) => name,
                        Err(_) => {
                            self.stats.count(OutboundResult::Failed);
                            return Err(Error::HttpRequestUriInvalid);
                        }
                    },
                };
                let connector = tokio_rustls::TlsConnector::from(self.tls.config.clone());
                let handshake = connector.connect(name, stream);
                match tokio::time::timeout_at(timeouts.by(timeouts.connect), handshake).await {
                    Ok(Ok(stream)) => exchange(stream, request, &timeouts, permit).await,
                    Ok(Err(err)) => Err(tls_error(&err)),
                    Err(_) => Err(Error::ConnectionTimeout),
                }
            }
        };
        self.stats.count(match result {
            Ok(_) => OutboundResult::Sent,
            Err(_) => OutboundResult::Failed,
        });
        if let Err(err) = &result {
            tracing::debug!(target: "wasm_gateway::outbound", app = %self.app, "outbound HTTP call failed: {err}");
        }
        result
    }

    /// The addresses `destination` may be reached at, in the resolver's
    /// order; the error comes with how to count it.
    ///
    /// A lookup runs to its end even when the call gives up on it, so it
    /// holds the call's connection `permit` (and a place among the
    /// process's [`MAX_LOOKUPS`]) until it does: a guest cannot pile up
    /// abandoned lookups beyond its connection cap.
    async fn addresses(
        &self,
        destination: &Destination,
        timeouts: &Timeouts,
        permit: &Arc<OwnedSemaphorePermit>,
    ) -> Result<Vec<IpAddr>, (Error, OutboundResult)> {
        static LOOKUPS: std::sync::LazyLock<Arc<Semaphore>> =
            std::sync::LazyLock::new(|| Arc::new(Semaphore::new(MAX_LOOKUPS)));
        let resolved = match &destination.host {
            Host::Ip(ip) => vec![*ip],
            Host::Name(name) => {
                let Ok(place) = LOOKUPS.clone().try_acquire_owned() else {
                    return Err((Error::DnsTimeout, OutboundResult::Failed));
                };
                let held = (permit.clone(), place);
                let target = (name.clone(), destination.port);
                let lookup = tokio::spawn(async move {
                    let _held = held;
                    tokio::net::lookup_host(target)
                        .await
                        .map(|found| found.collect::<Vec<_>>())
                });
                match tokio::time::timeout_at(timeouts.by(timeouts.connect), lookup).await {
                    Err(_) => return Err((Error::DnsTimeout, OutboundResult::Failed)),
                    Ok(Err(_)) => {
                        return Err((Error::InternalError(None), OutboundResult::Failed));
                    }
                    Ok(Ok(Err(err))) => {
                        let err = Error::DnsError {
                            rcode: Some(err.to_string()),
                            info_code: None,
                        };
                        return Err((err, OutboundResult::Failed));
                    }
                    Ok(Ok(Ok(addresses))) => addresses
                        .into_iter()
                        .map(|a| allow::canonical(a.ip()))
                        .collect(),
                }
            }
        };
        if resolved.is_empty() {
            return Err((Error::DestinationNotFound, OutboundResult::Failed));
        }
        let mut allowed: Vec<IpAddr> = Vec::with_capacity(resolved.len());
        let mut refused = None;
        for ip in resolved {
            match addr::prohibited(ip) {
                Some(what) if !self.allow.unlocks(destination.scheme, ip, destination.port) => {
                    refused.get_or_insert((ip, what));
                }
                _ if allowed.contains(&ip) => {}
                _ => allowed.push(ip),
            }
        }
        if allowed.is_empty() {
            let (ip, what) = refused.expect("every address was refused");
            if self.log.allow() {
                let by_ip = Destination {
                    host: Host::Ip(ip),
                    ..destination.clone()
                }
                .rule();
                tracing::warn!(
                    target: "wasm_gateway::outbound",
                    app = %self.app,
                    destination = %cut(&destination.rule()),
                    "outbound HTTP call to {} refused: it resolves to {ip}, a {what} address, which a host name rule does not open; to allow it, name the address: add \"{by_ip}\" to outbound-http in [apps.{}.grants]",
                    cut(&destination.rule()),
                    self.app,
                );
            }
            return Err((Error::DestinationIpProhibited, OutboundResult::Denied));
        }
        Ok(allowed)
    }

    /// Counts a call refused before it was sent, and returns `err` once
    /// the request body is read: wasmtime-wasi-http feeds the body through
    /// a channel whose reader is the request; dropped unread, the guest's
    /// next write fails, and a guest that writes its body before it looks
    /// at the response (`wstd` does) sees a broken body instead of `err`.
    /// Read up to [`MAX_DRAIN`] bytes, or until the body ends, the
    /// deadline passes or [`DRAIN_TIME`] does.
    async fn refuse(
        &self,
        request: http::Request<WasiBody>,
        err: Error,
        result: OutboundResult,
        deadline: Instant,
    ) -> Error {
        self.stats.count(result);
        let mut body = request.into_body();
        let until = deadline.min(Instant::now() + DRAIN_TIME);
        let drain = async {
            let mut read = 0;
            while let Some(Ok(frame)) = body.frame().await {
                read += frame.data_ref().map_or(0, Bytes::len);
                if read > MAX_DRAIN {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout_at(until, drain).await;
        err
    }
}

/// A connection to the first of `addresses` that answers on `port`.
async fn connect(
    addresses: &[IpAddr],
    port: u16,
    timeouts: &Timeouts,
) -> Result<tokio::net::TcpStream, Error> {
    let by = timeouts.by(timeouts.connect);
    let mut last = Error::DestinationUnavailable;
    for ip in addresses {
        let attempt = tokio::net::TcpStream::connect(SocketAddr::new(*ip, port));
        match tokio::time::timeout_at(by, attempt).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(err)) => last = connect_error(&err),
            Err(_) => return Err(Error::ConnectionTimeout),
        }
    }
    Err(last)
}

fn connect_error(err: &std::io::Error) -> Error {
    use std::io::ErrorKind;
    match err.kind() {
        ErrorKind::ConnectionRefused => Error::ConnectionRefused,
        ErrorKind::TimedOut => Error::ConnectionTimeout,
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
            Error::DestinationIpUnroutable
        }
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => Error::ConnectionTerminated,
        _ => Error::DestinationUnavailable,
    }
}

fn tls_error(err: &std::io::Error) -> Error {
    let rustls_error = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(_)) => Error::TlsCertificateError,
        Some(rustls::Error::AlertReceived(alert)) => Error::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => Error::TlsProtocolError,
    }
}

fn hyper_error(err: hyper::Error) -> Error {
    if err.is_timeout() {
        Error::ConnectionReadTimeout
    } else if err.is_incomplete_message() || err.is_closed() || err.is_canceled() {
        Error::HttpResponseIncomplete
    } else if err.is_parse_too_large() {
        Error::HttpResponseHeaderSectionSize(None)
    } else if err.is_parse() || err.is_parse_status() {
        Error::HttpProtocolError
    } else if err.is_body_write_aborted() || err.is_user() {
        // The guest's request body failed (e.g. dropped without finish).
        Error::HttpRequestBodySize(None)
    } else {
        Error::ConnectionTerminated
    }
}

/// Sends `request` over `stream` and waits for the response head; the
/// connection then lives on in the returned future, within the deadline.
async fn exchange<S>(
    stream: S,
    request: http::Request<WasiBody>,
    timeouts: &Timeouts,
    permit: Arc<OwnedSemaphorePermit>,
) -> Result<Sent, Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let handshake = hyper::client::conn::http1::handshake(TokioIo::new(stream));
    let (mut sender, conn) =
        match tokio::time::timeout_at(timeouts.by(timeouts.connect), handshake).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(err)) => return Err(hyper_error(err)),
            Err(_) => return Err(Error::ConnectionTimeout),
        };
    let mut conn = Box::pin(conn);
    let mut conn_ended = false;
    // hyper writes the request and reads the response while the
    // connection future is polled: poll both until the head arrives.
    let head = async {
        let send = sender.send_request(request);
        tokio::pin!(send);
        loop {
            tokio::select! {
                response = &mut send => return response.map_err(hyper_error),
                ended = &mut conn, if !conn_ended => {
                    conn_ended = true;
                    ended.map_err(hyper_error)?;
                }
            }
        }
    };
    let response = match tokio::time::timeout_at(timeouts.by(timeouts.first_byte), head).await {
        Ok(response) => response?,
        Err(_) => return Err(Error::ConnectionReadTimeout),
    };
    // No second request on this connection: without its sender, hyper
    // closes it once this response is read.
    drop(sender);

    let deadline = timeouts.deadline;
    let io_permit = permit.clone();
    let io = async move {
        let _permit = io_permit;
        if conn_ended {
            return Ok(());
        }
        match tokio::time::timeout_at(deadline, conn).await {
            Ok(ended) => ended.map_err(hyper_error),
            Err(_) => Err(Error::ConnectionReadTimeout),
        }
    };
    let between_bytes = timeouts.between_bytes;
    let response = response.map(|incoming| {
        ResponseBody {
            incoming,
            between_bytes,
            deadline,
            timer: Box::pin(tokio::time::sleep_until(timeouts.by(between_bytes))),
            permit: Some(permit),
            done: false,
        }
        .boxed_unsync()
    });
    Ok((response, Box::new(io)))
}

/// The response body as the guest reads it: each piece within the
/// between-bytes timeout and all of it within the deadline; holds the
/// connection's permit until it ends or is dropped.
struct ResponseBody {
    incoming: hyper::body::Incoming,
    between_bytes: Duration,
    deadline: Instant,
    /// When the next piece is due.
    timer: Pin<Box<tokio::time::Sleep>>,
    permit: Option<Arc<OwnedSemaphorePermit>>,
    /// Ended (or failed): nothing more comes.
    done: bool,
}

impl ResponseBody {
    fn end(&mut self) {
        self.done = true;
        self.permit = None;
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = Instant::now()
                    .checked_add(this.between_bytes)
                    .map_or(this.deadline, |at| at.min(this.deadline));
                this.timer.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => {
                this.end();
                Poll::Ready(Some(Err(hyper_error(err))))
            }
            Poll::Ready(None) => {
                this.end();
                Poll::Ready(None)
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.end();
                    Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}
