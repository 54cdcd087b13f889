//! `send_request` against real upstream servers on 127.0.0.1: what a
//! guest's call gets for each policy decision, timeout and cap.

use super::*;
use crate::stats::OutboundStats;
use http_body_util::Full;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::TcpListener;

/// An upstream that answers every request with `reply(request)`; its port.
async fn upstream<F>(reply: F) -> u16
where
    F: Fn(&hyper::Request<hyper::body::Incoming>) -> String + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let reply = Arc::new(reply);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let reply = reply.clone();
            tokio::spawn(serve(TokioIo::new(stream), reply));
        }
    });
    port
}

/// Serves one connection with `reply`.
async fn serve<I, F>(io: I, reply: Arc<F>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    F: Fn(&hyper::Request<hyper::body::Incoming>) -> String + Send + Sync + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let text = reply(&request);
        async move { Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(text)))) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

/// An upstream that accepts connections and never answers; its port.
async fn stalled_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            held.push(stream);
        }
    });
    port
}

struct App {
    outbound: Arc<Outbound>,
    stats: Arc<OutboundStats>,
}

fn app(rules: &[&str], cap: usize, tls: Tls) -> App {
    let stats = Arc::new(OutboundStats::default());
    let outbound = Arc::new(Outbound::new(
        "api".into(),
        AllowList::parse(rules).unwrap(),
        cap,
        Arc::new(tls),
        Arc::new(LogBudget::default()),
        stats.clone(),
    ));
    App { outbound, stats }
}

/// A body that notes whether it was read to its end.
struct Tracked {
    data: Option<Bytes>,
    read: Arc<AtomicBool>,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match self.data.take() {
            Some(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
            None => {
                self.read.store(true, Ordering::SeqCst);
                Poll::Ready(None)
            }
        }
    }
}

/// A request as wasmtime-wasi-http hands it over: absolute URI, Host set.
fn request(uri: &str, body: WasiBody) -> http::Request<WasiBody> {
    let uri: http::Uri = uri.parse().unwrap();
    let host = uri.authority().unwrap().as_str().to_owned();
    http::Request::builder()
        .uri(uri)
        .header(http::header::HOST, host)
        .body(body)
        .unwrap()
}

fn empty() -> WasiBody {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

async fn call(
    app: &App,
    request: http::Request<WasiBody>,
    deadline: Option<Instant>,
) -> Result<Sent, Error> {
    let mut hooks = Hooks::new(app.outbound.clone());
    if let Some(deadline) = deadline {
        hooks.set_deadline(deadline);
    }
    let future = hooks.send_request(request, None, Box::new(async { Ok(()) }));
    Pin::from(future).await
}

async fn text(response: http::Response<WasiBody>) -> String {
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

fn soon() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(10))
}

#[tokio::test]
async fn an_allowed_call_gets_the_upstream_response() {
    let port = upstream(|request| {
        format!(
            "{} {} host={} authority={:?}",
            request.method(),
            request.uri(),
            request.headers()[http::header::HOST].to_str().unwrap(),
            request.uri().authority(),
        )
    })
    .await;
    let app = app(
        &[&format!("http://127.0.0.1:{port}")],
        4,
        Tls::new(None).unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}/path?q=1");
    let (response, io) = call(&app, request(&url, empty()), soon()).await.unwrap();
    assert_eq!(response.status(), 200);
    let (body, io) = tokio::join!(text(response), Pin::from(io));
    // Origin form on the wire, Host from the authority.
    assert_eq!(
        body,
        format!("GET /path?q=1 host=127.0.0.1:{port} authority=None")
    );
    io.unwrap();
    assert_eq!(app.stats.calls(OutboundResult::Sent), 1);
}

#[tokio::test]
async fn a_destination_off_the_list_is_denied_after_its_body_is_read() {
    let port = upstream(|_| "should not be reached".to_owned()).await;
    let app = app(
        &[&format!("http://127.0.0.1:{port}")],
        4,
        Tls::new(None).unwrap(),
    );
    for url in [
        format!("http://127.0.0.1:{}/", port + 1),
        format!("https://127.0.0.1:{port}/"),
        "http://example.com/".to_owned(),
    ] {
        let read = Arc::new(AtomicBool::new(false));
        let body = Tracked {
            data: Some(Bytes::from_static(b"payload")),
            read: read.clone(),
        }
        .boxed_unsync();
        let err = call(&app, request(&url, body), soon()).await.err().unwrap();
        assert!(matches!(err, Error::HttpRequestDenied), "{url}: {err}");
        assert!(read.load(Ordering::SeqCst), "{url}: the body was not read");
    }
    assert_eq!(app.stats.calls(OutboundResult::Denied), 3);
    assert_eq!(app.stats.calls(OutboundResult::Sent), 0);

    // No grant at all: every call is denied.
    let none = self::app(&[], 4, Tls::new(None).unwrap());
    let url = format!("http://127.0.0.1:{port}/");
    let err = call(&none, request(&url, empty()), soon())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::HttpRequestDenied), "{err}");
}

#[tokio::test]
async fn loopback_by_name_is_prohibited_but_by_address_is_allowed() {
    let port = upstream(|_| "local".to_owned()).await;
    let by_name = app(
        &[&format!("http://localhost:{port}")],
        4,
        Tls::new(None).unwrap(),
    );
    let url = format!("http://localhost:{port}/");
    let err = call(&by_name, request(&url, empty()), soon())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::DestinationIpProhibited), "{err}");
    assert_eq!(by_name.stats.calls(OutboundResult::Denied), 1);

    // Even "any host, any port" does not open internal addresses.
    let anything = app(&["*://*:*"], 4, Tls::new(None).unwrap());
    let err = call(&anything, request(&url, empty()), soon())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::DestinationIpProhibited), "{err}");
    let url = format!("http://127.0.0.1:{port}/");
    let err = call(&anything, request(&url, empty()), soon())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::DestinationIpProhibited), "{err}");
    let url = format!("http://[::ffff:127.0.0.1]:{port}/");
    let err = call(&anything, request(&url, empty()), soon())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::DestinationIpProhibited), "{err}");

    // Named by address (or by a CIDR range), it is reachable, also as the
    // name resolves to it when a CIDR rule covers the address.
    let by_address = app(
        &[&format!("http://127.0.0.1:{port}")],
        4,
        Tls::new(None).unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}/");
    let (response, _io) = call(&by_address, request(&url, empty()), soon())
        .await
        .unwrap();
    assert_eq!(text(response).await, "local");
    let by_range = app(
        &[&format!("http://localhost:{port}"), "http://127.0.0.0/8:*"],
        4,
        Tls::new(None).unwrap(),
    );
    let url = format!("http://localhost:{port}/");
    let (response, _io) = call(&by_range, request(&url, empty()), soon())
        .await
        .unwrap();
    assert_eq!(text(response).await, "local");
}

#[tokio::test]
async fn a_stalled_upstream_times_out_by_the_deadline() {
    let port = stalled_upstream().await;
    let app = app(
        &[&format!("http://127.0.0.1:{port}")],
        4,
        Tls::new(None).unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}/");
    let started = Instant::now();
    // The default first-byte timeout is 30 s; the deadline comes first.
    let deadline = Some(started + Duration::from_millis(300));
    let err = call(&app, request(&url, empty()), deadline)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::ConnectionReadTimeout), "{err}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(app.stats.calls(OutboundResult::Failed), 1);

    // The guest's own first-byte timeout, shorter than the deadline.
    let mut hooks = Hooks::new(app.outbound.clone());
    hooks.set_deadline(Instant::now() + Duration::from_secs(20));
    let options = RequestOptions {
        first_byte_timeout: Some(Duration::from_millis(200)),
        ..RequestOptions::default()
    };
    let started = Instant::now();
    let future = hooks.send_request(
        request(&url, empty()),
        Some(options),
        Box::new(async { Ok(()) }),
    );
    let err = Pin::from(future).await.err().unwrap();
    assert!(matches!(err, Error::ConnectionReadTimeout), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_call_past_the_deadline_fails_at_once() {
    let port = upstream(|_| "late".to_owned()).await;
    let app = app(
        &[&format!("http://127.0.0.1:{port}")],
        4,
        Tls::new(None).unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}/");
    let err = call(&app, request(&url, empty()), Some(Instant::now()))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::ConnectionTimeout), "{err}");
}

#[tokio::test]
async fn the_connection_cap_refuses_one_more_and_frees_with_the_response() {
    let port = upstream(|_| "one".to_owned()).await;
    let app = app(
        &[&format!("http://127.0.0.1:{port}")],
        2,
        Tls::new(None).unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}/");
    // Two responses held, their bodies unread: two connections open.
    let first = call(&app, request(&url, empty()), soon()).await.unwrap();
    let second = call(&app, request(&url, empty()), soon()).await.unwrap();
    let err = call(&app, request(&url, empty()), soon())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::ConnectionLimitReached), "{err}");
    assert_eq!(app.stats.calls(OutboundResult::Failed), 1);
    // Done with one (its body read, its connection ended): a call fits.
    let (response, io) = first;
    let (body, io) = tokio::join!(text(response), Pin::from(io));
    assert_eq!(body, "one");
    io.unwrap();
    let third = call(&app, request(&url, empty()), soon()).await.unwrap();
    // Dropping a response unread frees its connection too.
    drop(second);
    drop(third);
    let (response, _io) = call(&app, request(&url, empty()), soon()).await.unwrap();
    assert_eq!(text(response).await, "one");
    assert_eq!(app.stats.calls(OutboundResult::Sent), 4);
}

/// A CA, and a server certificate for 127.0.0.1 it signed (DER, with its
/// PKCS#8 key); the CA as PEM.
fn certificates() -> (String, Vec<u8>, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "wasm-gateway test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca_cert.pem(), server.der().to_vec(), key.serialize_der())
}

/// An HTTPS upstream with `cert` and `key`; its port.
async fn tls_upstream(cert: Vec<u8>, key: Vec<u8>) -> u16 {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert)],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(stream) = acceptor.accept(stream).await {
                    serve(TokioIo::new(stream), Arc::new(|_: &_| "secret".to_owned())).await;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn https_trusts_the_outbound_ca_file() {
    let (ca_pem, cert, key) = certificates();
    let port = tls_upstream(cert, key).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let rule = format!("https://127.0.0.1:{port}");
    let url = format!("https://127.0.0.1:{port}/");

    let trusting = app(&[&rule], 4, Tls::new(Some(&ca_file)).unwrap());
    let (response, _io) = call(&trusting, request(&url, empty()), soon())
        .await
        .unwrap();
    assert_eq!(text(response).await, "secret");

    let webpki_only = app(&[&rule], 4, Tls::new(None).unwrap());
    let err = call(&webpki_only, request(&url, empty()), soon())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::TlsCertificateError), "{err}");
    assert_eq!(webpki_only.stats.calls(OutboundResult::Failed), 1);
}

#[tokio::test]
async fn a_refused_connection_is_reported() {
    // A port nobody listens on (bound, then closed).
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let app = app(
        &[&format!("http://127.0.0.1:{port}")],
        4,
        Tls::new(None).unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}/");
    let err = call(&app, request(&url, empty()), soon())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::ConnectionRefused), "{err}");
}
