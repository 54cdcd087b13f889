//! Outbound HTTP: calling other services from an application.
//!
//! A small blocking client on the standard `wasi:http/outgoing-handler`
//! interface: the host sends the request, so the operator decides where an
//! application may call. A gateway file grants it per application, in
//! Spin's allowed-hosts syntax:
//!
//! ```toml
//! [apps.shop.grants]
//! outbound-http = ["https://api.example.com", "http://127.0.0.1:8081"]
//! ```
//!
//! (or `--outbound-http URL` with `wasm-gateway serve`). A call anywhere
//! else fails with [`ClientError::is_denied`] true, and the server log names
//! the grant that would allow it.
//!
//! ```no_run
//! use wasm_gateway_sdk::http_client::{self, Request};
//! use wasm_gateway_sdk::{Environ, Error, Response};
//! use std::time::Duration;
//!
//! fn handle(_env: Environ) -> Result<Response, Error> {
//!     // The simple case: GET, the whole body in memory.
//!     let quote = http_client::get("https://api.example.com/quote")?;
//!     // The general one: method, headers, body, timeouts, a size guard.
//!     let created = Request::post("https://api.example.com/orders")
//!         .header("content-type", "application/json")
//!         .header("accept", "application/json")
//!         .body(r#"{"item": 42}"#)
//!         .timeout(Duration::from_secs(5))
//!         .max_response_body(1 << 20)
//!         .send()?;
//!     Ok(Response::text(format!(
//!         "{} / {}",
//!         quote.text(),
//!         created.status()
//!     )))
//! }
//! ```
//!
//! Only an application that calls this client imports `wasi:http`: the
//! bindings of the others have nothing to link.
//!
//! Building a request (parsing the URL, checking headers) is plain Rust
//! and testable natively; sending one calls the host, so it works only in a
//! component.

use std::borrow::Cow;
use std::fmt;
use std::io::Write as _;
use std::time::Duration;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingResponse, Method, OutgoingBody, OutgoingRequest, RequestOptions,
    Scheme,
};
use wasip2::io::streams::StreamError;

/// The error codes of `wasi:http`, which [`ClientError::Http`] carries.
pub use wasip2::http::types::ErrorCode;

/// The default cap on a response body read into memory: 16 MiB.
pub const DEFAULT_MAX_RESPONSE_BODY: usize = 16 << 20;

/// Sends a `GET` to `url` and reads the response.
pub fn get(url: &str) -> Result<ClientResponse, ClientError> {
    Request::get(url).send()
}

/// Sends a `POST` of `body` (of type `content_type`) to `url` and reads the
/// response.
pub fn post(
    url: &str,
    content_type: &str,
    body: impl Into<Vec<u8>>,
) -> Result<ClientResponse, ClientError> {
    Request::post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
}

/// A request being built. Nothing is checked until [`Request::send`], which
/// reports the first problem as [`ClientError::Invalid`].
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until sent"]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    connect_timeout: Option<Duration>,
    first_byte_timeout: Option<Duration>,
    between_bytes_timeout: Option<Duration>,
    max_response_body: usize,
}

impl Request {
    /// A request with `method` (`GET`, `POST`, ... or an extension token)
    /// to the absolute `http://` or `https://` `url`.
    pub fn new(method: &str, url: &str) -> Request {
        Request {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            connect_timeout: None,
            first_byte_timeout: None,
            between_bytes_timeout: None,
            max_response_body: DEFAULT_MAX_RESPONSE_BODY,
        }
    }

    /// A `GET` request.
    pub fn get(url: &str) -> Request {
        Request::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: &str) -> Request {
        Request::new("POST", url)
    }

    /// Adds a header (repeat the call for several values).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The request body, sent with its `Content-Length`.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Caps connecting, waiting for the first byte of the response and
    /// each pause between its bytes, all at `limit`. The host may cap them
    /// lower, by what is left of the incoming request's own deadline.
    pub fn timeout(self, limit: Duration) -> Request {
        self.connect_timeout(limit)
            .first_byte_timeout(limit)
            .between_bytes_timeout(limit)
    }

    /// Caps connecting (TCP, and TLS for `https`).
    pub fn connect_timeout(mut self, limit: Duration) -> Request {
        self.connect_timeout = Some(limit);
        self
    }

    /// Caps the wait from the request sent to the response's first byte.
    pub fn first_byte_timeout(mut self, limit: Duration) -> Request {
        self.first_byte_timeout = Some(limit);
        self
    }

    /// Caps each pause between two parts of the response body.
    pub fn between_bytes_timeout(mut self, limit: Duration) -> Request {
        self.between_bytes_timeout = Some(limit);
        self
    }

    /// The most response body bytes [`Request::send`] reads into memory
    /// (default [`DEFAULT_MAX_RESPONSE_BODY`]); a longer body fails with
    /// [`ClientError::BodyTooLarge`].
    pub fn max_response_body(mut self, bytes: usize) -> Request {
        self.max_response_body = bytes;
        self
    }

    /// Sends the request through the host and reads the whole response.
    ///
    /// Blocks the instance until the response has arrived (other requests
    /// are served by other instances meanwhile).
    pub fn send(self) -> Result<ClientResponse, ClientError> {
        let target = self.check()?;
        send(&self, &target).map_err(|failure| match failure {
            Failure::Code(code) => ClientError::Http {
                url: self.url.clone(),
                code,
            },
            Failure::TooLarge => ClientError::BodyTooLarge {
                url: self.url.clone(),
                limit: self.max_response_body,
            },
        })
    }

    /// Everything about the request that can be wrong before it is sent.
    fn check(&self) -> Result<Target, ClientError> {
        let invalid = |reason: String| ClientError::Invalid {
            url: self.url.clone(),
            reason,
        };
        if !is_token(&self.method) {
            return Err(invalid(format!("invalid method {:?}", self.method)));
        }
        for (name, value) in &self.headers {
            check_header(name, value).map_err(invalid)?;
        }
        parse_url(&self.url).map_err(invalid)
    }
}

/// A response, its body read in full.
#[derive(Debug, Clone)]
pub struct ClientResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl ClientResponse {
    /// The status code (any: a `404` or `500` is a response, not an error).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers in order, names lower-case (values not valid UTF-8 are
    /// shown with U+FFFD).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, taken out of the response.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The body as text (invalid UTF-8 shown as U+FFFD).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// Why a call failed. Converts into [`crate::Error`], so `?` works in a
/// handler.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientError {
    /// The request is malformed (URL, method or a header); nothing was sent.
    Invalid {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The host did not get a response: it refused the destination
    /// (`HttpRequestDenied`, see [`ClientError::is_denied`]), or resolving,
    /// connecting, TLS, a timeout or the protocol failed.
    Http {
        /// The URL as given.
        url: String,
        /// What `wasi:http` reported.
        code: ErrorCode,
    },
    /// The response body is longer than [`Request::max_response_body`].
    BodyTooLarge {
        /// The URL as given.
        url: String,
        /// The cap it went over.
        limit: usize,
    },
}

impl ClientError {
    /// The `wasi:http` error code, for [`ClientError::Http`].
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            ClientError::Http { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the host refused the destination: it is not in this
    /// application's `outbound-http` grant (or resolves to an address the
    /// grant does not name).
    pub fn is_denied(&self) -> bool {
        matches!(self.code(), Some(ErrorCode::HttpRequestDenied))
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Invalid { url, reason } => write!(f, "invalid request to {url}: {reason}"),
            ClientError::Http {
                url,
                code: ErrorCode::HttpRequestDenied,
            } => write!(
                f,
                "request to {url} denied: the destination is not in this app's outbound-http grant"
            ),
            ClientError::Http { url, code } => {
                write!(f, "request to {url} failed: {}", describe(code))
            }
            ClientError::BodyTooLarge { url, limit } => {
                write!(f, "response from {url} is over {limit} bytes")
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// A short reason for the codes an application is likely to meet, with the
/// code itself for the rest.
fn describe(code: &ErrorCode) -> Cow<'static, str> {
    let text = match code {
        ErrorCode::DnsTimeout => "name lookup timed out",
        ErrorCode::DnsError(_) => "name lookup failed",
        ErrorCode::DestinationNotFound => "no such host",
        ErrorCode::DestinationIpProhibited => "the destination's address is not allowed",
        ErrorCode::ConnectionRefused => "connection refused",
        ErrorCode::ConnectionTimeout => "connecting timed out",
        ErrorCode::ConnectionReadTimeout => "the response did not arrive in time",
        ErrorCode::ConnectionLimitReached => "too many outbound connections at once",
        ErrorCode::TlsCertificateError => "the server's TLS certificate is not trusted",
        _ => return Cow::Owned(format!("{code:?}")),
    };
    Cow::Owned(format!("{text} ({code:?})"))
}

/// Where a request goes, in the three parts `wasi:http` keeps apart.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    /// `http` or `https`.
    https: bool,
    /// `host[:port]`, as in the URL.
    authority: String,
    /// The path (at least `/`) and query; never the fragment.
    path_with_query: String,
}

/// Splits an absolute `http(s)://` URL. Credentials in the URL, relative
/// URLs and characters that must be percent-encoded are refused rather
/// than guessed at.
fn parse_url(url: &str) -> Result<Target, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("not an absolute URL (scheme://host/path)")?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        _ => return Err(format!("unsupported scheme {scheme:?} (http or https)")),
    };
    if let Some(bad) = rest
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Err(format!("{bad:?} must be percent-encoded"));
    }
    // The fragment is the client's own; it is never sent.
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err(
            "credentials in the URL are not supported: send an Authorization header".into(),
        );
    }
    check_authority(authority)?;
    let path_with_query = match path {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_owned(),
    };
    Ok(Target {
        https,
        authority: authority.to_owned(),
        path_with_query,
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn check_authority(authority: &str) -> Result<(), String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (address, after) = v6.split_once(']').ok_or("unclosed '[' in the host")?;
        address
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("invalid IPv6 address {address:?}"))?;
        match after {
            "" => (address, None),
            _ => (
                address,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or("junk after ']' in the host")?,
                ),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |port| port == 0)
    {
        return Err(format!("invalid port {port:?}"));
    }
    if !authority.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b))
    {
        return Err(format!("invalid host {host:?}"));
    }
    Ok(())
}

/// RFC 9110's `token`: what method and header names are made of.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header the host would accept: a token name, and a value without
/// control characters (no CR or LF: no header injection).
fn check_header(name: &str, value: &str) -> Result<(), String> {
    if !is_token(name) {
        return Err(format!("invalid header name {name:?}"));
    }
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(format!(
            "the value of header {name:?} holds a control character"
        ));
    }
    Ok(())
}

/// How sending can fail past the checks.
enum Failure {
    Code(ErrorCode),
    TooLarge,
}

impl From<ErrorCode> for Failure {
    fn from(code: ErrorCode) -> Self {
        Failure::Code(code)
    }
}

/// How much one read of the response body asks for.
const CHUNK: u64 = 64 * 1024;

fn send(request: &Request, target: &Target) -> Result<ClientResponse, Failure> {
    let mut fields: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone().into_bytes()))
        .collect();
    // A length, rather than a chunked body: some servers refuse those.
    let has_length = fields.iter().any(|(name, _)| name == "content-length");
    if !has_length && (!request.body.is_empty() || carries_body(&request.method)) {
        fields.push((
            "content-length".to_owned(),
            request.body.len().to_string().into_bytes(),
        ));
    }
    let headers = Fields::from_list(&fields)
        .map_err(|err| ErrorCode::InternalError(Some(format!("request headers: {err:?}"))))?;
    let outgoing = OutgoingRequest::new(headers);
    let method = method(&request.method);
    let refused =
        |what: &str| ErrorCode::InternalError(Some(format!("the host refused the {what}")));
    outgoing
        .set_method(&method)
        .map_err(|()| refused("method"))?;
    let scheme = if target.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("scheme"))?;
    outgoing
        .set_authority(Some(&target.authority))
        .map_err(|()| refused("authority"))?;
    outgoing
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(|()| refused("path"))?;
    let body = outgoing.body().expect("a request's body is taken once");
    let pending = outgoing_handler::handle(outgoing, Some(options(request)))?;
    // A refused call may refuse the body too; the response's error is the
    // better reason, so a body error counts only when the response has none.
    let sent = write_body(body, &request.body);
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(result)) => result?,
        Some(Err(())) | None => unreachable!("the response is ready and taken once"),
    };
    sent?;
    read_response(response, request.max_response_body)
}

/// Whether `method` is one whose request normally has a body, so an empty
/// one is sent as `Content-Length: 0` (servers may answer 411 otherwise).
fn carries_body(method: &str) -> bool {
    ["POST", "PUT", "PATCH"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method))
}

fn method(method: &str) -> Method {
    match method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        _ => Method::Other(method.to_owned()),
    }
}

fn options(request: &Request) -> RequestOptions {
    let options = RequestOptions::new();
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    // A host that does not support a timeout refuses to set it; the call
    // then runs under the host's own limits, which is no reason to fail it.
    if let Some(limit) = request.connect_timeout {
        let _ = options.set_connect_timeout(Some(nanos(limit)));
    }
    if let Some(limit) = request.first_byte_timeout {
        let _ = options.set_first_byte_timeout(Some(nanos(limit)));
    }
    if let Some(limit) = request.between_bytes_timeout {
        let _ = options.set_between_bytes_timeout(Some(nanos(limit)));
    }
    options
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), Failure> {
    if !bytes.is_empty() {
        // `Write` for the stream writes as much as `check-write` allows at
        // a time, waiting for room in between.
        let mut stream = body.write().expect("a body's stream is taken once");
        let failed =
            |err: String| ErrorCode::InternalError(Some(format!("sending the body: {err}")));
        stream
            .write_all(bytes)
            .map_err(|err| failed(err.to_string()))?;
        stream
            .blocking_flush()
            .map_err(|err| failed(format!("{err:?}")))?;
        // The stream is a child of the body: it goes before `finish`.
        drop(stream);
    }
    Ok(OutgoingBody::finish(body, None)?)
}

fn read_response(response: IncomingResponse, limit: usize) -> Result<ClientResponse, Failure> {
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect::<Vec<_>>();
    let declared = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(Failure::TooLarge);
    }
    let incoming = response.consume().expect("the body is consumed once");
    let stream = incoming.stream().expect("the body's stream is taken once");
    let mut body = Vec::with_capacity(declared.map_or(0, |length| length as usize));
    loop {
        match stream.blocking_read(CHUNK) {
            Ok(chunk) if body.len() + chunk.len() > limit => return Err(Failure::TooLarge),
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(err)) => {
                // The host tells why through the body's trailers future;
                // the stream error's text is the fallback.
                drop(stream);
                let code = body_error(incoming)
                    .unwrap_or_else(|| ErrorCode::InternalError(Some(err.to_debug_string())));
                return Err(Failure::Code(code));
            }
        }
    }
    drop(stream);
    // Trailers are not offered; finishing is still how a body is let go.
    drop(IncomingBody::finish(incoming));
    Ok(ClientResponse {
        status,
        headers,
        body,
    })
}

/// The error a failed body reports through its trailers.
fn body_error(incoming: IncomingBody) -> Option<ErrorCode> {
    let trailers = IncomingBody::finish(incoming);
    trailers.subscribe().block();
    match trailers.get() {
        Some(Ok(Err(code))) => Some(code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        parse_url(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        assert_eq!(
            target("https://api.example.com/v1/items?page=2#top"),
            Target {
                https: true,
                authority: "api.example.com".into(),
                path_with_query: "/v1/items?page=2".into(),
            }
        );
        let plain = target("HTTP://127.0.0.1:8081");
        assert!(!plain.https);
        assert_eq!(plain.authority, "127.0.0.1:8081");
        assert_eq!(plain.path_with_query, "/");
        assert_eq!(target("http://h?q=1").path_with_query, "/?q=1");
        assert_eq!(target("http://[::1]:8080/x").authority, "[::1]:8080");
        assert_eq!(target("http://[::1]/x").authority, "[::1]");
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        for (url, reason) in [
            ("/relative", "not an absolute URL"),
            ("ftp://example.com/", "unsupported scheme"),
            ("http:///path", "no host"),
            ("http://user:pw@example.com/", "credentials"),
            ("http://example.com:99999/", "invalid port"),
            ("http://example.com:0/", "invalid port"),
            ("http://example.com:/", "invalid port"),
            ("http://exa mple.com/", "percent-encoded"),
            ("http://example.com/a b", "percent-encoded"),
            ("http://example.com/\r\nx", "percent-encoded"),
            ("http://[::1/", "unclosed"),
            ("http://[nope]/", "invalid IPv6"),
            ("http://ex\"ample/", "invalid host"),
        ] {
            let err = parse_url(url).expect_err(url);
            assert!(err.contains(reason), "{url}: {err}");
        }
    }

    #[test]
    fn headers_and_methods_are_checked_before_sending() {
        assert!(check_header("X-Api-Key", "abc\tdef").is_ok());
        assert!(check_header("", "v").is_err());
        assert!(check_header("bad name", "v").is_err());
        assert!(check_header("x", "a\r\nInjected: yes").is_err());
        assert!(is_token("PURGE"));
        assert!(!is_token("GE T"));
        let err = Request::new("GE T", "http://example.com/")
            .check()
            .unwrap_err();
        assert!(err.to_string().contains("invalid method"), "{err}");
        let err = Request::get("http://example.com/")
            .header("x", "a\nb")
            .check()
            .unwrap_err();
        assert!(matches!(err, ClientError::Invalid { .. }));
    }

    #[test]
    fn a_denied_call_says_which_grant_is_missing() {
        let err = ClientError::Http {
            url: "https://api.example.com/".into(),
            code: ErrorCode::HttpRequestDenied,
        };
        assert!(err.is_denied());
        assert_eq!(
            err.to_string(),
            "request to https://api.example.com/ denied: the destination is not in this app's outbound-http grant"
        );
        let refused = ClientError::Http {
            url: "http://127.0.0.1:1/".into(),
            code: ErrorCode::ConnectionRefused,
        };
        assert!(!refused.is_denied());
        assert!(
            refused.to_string().contains("connection refused"),
            "{refused}"
        );
        // `?` in a handler.
        let _: crate::Error = refused.into();
    }

    #[test]
    fn bodies_that_need_a_length_get_one() {
        assert!(carries_body("post"));
        assert!(!carries_body("GET"));
        assert!(matches!(method("patch"), Method::Patch));
        assert!(matches!(method("PURGE"), Method::Other(m) if m == "PURGE"));
    }
}
