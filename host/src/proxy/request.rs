//! The request as a `wasi:http` component gets it.
//!
//! A component sees the request's own method, target and headers (there is
//! no environ). What the gateway knows besides travels in headers of its
//! own, `wasm-gateway-*`, which a client can never set: any it sent are
//! dropped first. The body streams through as the guest reads it, cut at
//! the app's `max-body`; a failure is remembered so the client can be told
//! (413, 408, 400) instead of getting the guest's reaction to it.

use crate::wsgi::environ::ConnInfo;
use crate::wsgi::errors::InputFailure;
use crate::wsgi::input::failure_of;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::header::{HOST, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use wasmtime_wasi_http::Error;

/// The prefix of the headers the gateway sets; a client's are dropped.
pub const RESERVED_PREFIX: &str = "wasm-gateway-";
/// The route's mount point, `""` at the root (WSGI's `SCRIPT_NAME`).
pub const SCRIPT_NAME: HeaderName = HeaderName::from_static("wasm-gateway-script-name");
/// The path below the mount point, as sent (WSGI's `PATH_INFO`, not
/// decoded).
pub const PATH_INFO: HeaderName = HeaderName::from_static("wasm-gateway-path-info");
/// The client's address, `ip:port` (WSGI's `REMOTE_ADDR` and `REMOTE_PORT`).
pub const CLIENT_ADDR: HeaderName = HeaderName::from_static("wasm-gateway-client-addr");

/// How the request body failed, if it did, as the client is to hear it.
pub type InputState = Arc<OnceLock<InputFailure>>;

/// The request for a component mounted at `script_name`, with its body
/// capped at `max_body` bytes. HTTP/1.0 may omit `Host`; a `wasi:http`
/// request always has an authority, so the address the client connected to
/// stands in. `None` for a `Host` that is not text (no authority to give).
pub fn prepare(
    parts: &Parts,
    body: Incoming,
    conn: &ConnInfo,
    script_name: &[u8],
    max_body: u64,
) -> Option<(hyper::Request<GuestInput>, InputState)> {
    if parts
        .headers
        .get(HOST)
        .is_some_and(|host| host.to_str().is_err())
    {
        return None;
    }
    let mut headers = hyper::HeaderMap::with_capacity(parts.headers.len() + 3);
    for (name, value) in &parts.headers {
        // Names with `_` are dropped as the WSGI environ drops them (and
        // nginx by default): an adapter mapping headers to CGI-style keys
        // would read `wasm_gateway_client_addr` as the host's own.
        let name_str = name.as_str();
        if !name_str.starts_with(RESERVED_PREFIX) && !name_str.contains('_') {
            headers.append(name, value.clone());
        }
    }
    if !headers.contains_key(HOST)
        && parts.uri.authority().is_none()
        && let Ok(local) = HeaderValue::from_str(&conn.local.to_string())
    {
        headers.insert(HOST, local);
    }
    let path = parts.uri.path().as_bytes();
    let path_info = match path.strip_prefix(script_name) {
        Some(rest) if rest.is_empty() || rest.starts_with(b"/") => rest,
        _ => path,
    };
    for (name, value) in [(SCRIPT_NAME, script_name), (PATH_INFO, path_info)] {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.insert(name, value);
        }
    }
    if let Ok(client) = HeaderValue::from_str(&conn.remote.to_string()) {
        headers.insert(CLIENT_ADDR, client);
    }

    let state = InputState::default();
    let mut request = hyper::Request::new(GuestInput {
        body,
        received: 0,
        max: max_body,
        state: state.clone(),
    });
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = headers;
    Some((request, state))
}

/// The request body as the guest pulls it: cut past `max` bytes, and its
/// failures recorded for the client's answer.
pub struct GuestInput {
    body: Incoming,
    received: u64,
    max: u64,
    state: InputState,
}

impl GuestInput {
    fn fail(
        &mut self,
        failure: InputFailure,
        error: Error,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let _ = self.state.set(failure);
        Poll::Ready(Some(Err(error)))
    }
}

impl Body for GuestInput {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        if this.state.get().is_some() {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    if this.received > this.max {
                        let received = this.received;
                        return this.fail(
                            InputFailure::TooLarge,
                            Error::HttpRequestBodySize(Some(received)),
                        );
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(err)) => {
                tracing::debug!(%err, "request body read failed");
                match failure_of(&err) {
                    Some(failure @ InputFailure::TimedOut) => {
                        this.fail(failure, Error::ConnectionReadTimeout)
                    }
                    Some(failure) => this.fail(failure, Error::HttpProtocolError),
                    // The client hung up: nobody to tell.
                    None => Poll::Ready(Some(Err(Error::ConnectionTerminated))),
                }
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
