//! A standard `wasi:http/proxy` component, written with
//! [`wstd`](https://docs.rs/wstd) as for any host: it uses nothing of
//! wasm-gateway, so the same `.wasm` runs on wasm-gateway, `wasmtime serve`
//! and Spin alike.
//!
//! - `GET /` answers `Hello from a wasi:http component`.
//! - `GET /fetch?url=URL` calls URL through the host
//!   (`wasi:http/outgoing-handler`) and relays its status and body as they
//!   arrive; a failed call answers `502` with the reason. On wasm-gateway the
//!   call needs an `outbound-http` grant covering URL (`wasm-gateway serve
//!   target/examples/wstd-hello.wasm --outbound-http https://example.com`);
//!   without one it is denied.
//!
//! Build: `cargo xtask build-examples` (or `cargo build --release --target
//! wasm32-wasip2 -p wstd-hello`), then
//! `wasm-gateway serve target/examples/wstd-hello.wasm`.

use wstd::http::error::ErrorCode;
use wstd::http::{Body, Client, Error, Request, Response, StatusCode};

/// The handler: plain `http` types in and out, async because the body and
/// the outbound call are streams.
pub async fn handle(request: Request<Body>) -> Result<Response<Body>, Error> {
    let path = request.uri().path();
    let query = request.uri().query().unwrap_or("");
    match path {
        "/" => Ok(Response::new("Hello from a wasi:http component\n".into())),
        "/fetch" => {
            // The URL as given (`?url=https://example.com/`): a URL with a
            // query of its own would need percent-decoding here.
            let Some(url) = query.split('&').find_map(|pair| pair.strip_prefix("url=")) else {
                return text(StatusCode::BAD_REQUEST, "?url= is required\n".into());
            };
            fetch(url).await
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

/// Calls `url` and streams its answer back.
async fn fetch(url: &str) -> Result<Response<Body>, Error> {
    let request = match Request::get(url).body(Body::empty()) {
        Ok(request) => request,
        Err(err) => return text(StatusCode::BAD_REQUEST, format!("bad URL {url}: {err}\n")),
    };
    match Client::new().send(request).await {
        // The upstream's body is handed on as a stream, not read first.
        Ok(upstream) => {
            let status = upstream.status();
            Ok(Response::builder()
                .status(status)
                .body(upstream.into_body())?)
        }
        Err(err) => {
            let reason = match err.downcast_ref::<ErrorCode>() {
                // wasm-gateway's answer to a destination outside the grant.
                Some(ErrorCode::HttpRequestDenied) => {
                    "denied: not in this app's outbound-http grant".to_owned()
                }
                Some(code) => format!("{code:?}"),
                None => format!("{err:#}"),
            };
            text(
                StatusCode::BAD_GATEWAY,
                format!("fetching {url}: {reason}\n"),
            )
        }
    }
}

fn text(status: StatusCode, body: String) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body.into())?)
}

// `#[wstd::http_server]` exports `handle` as `wasi:http/incoming-handler`.
// Only on wasm: the export's name is no symbol a native build (the
// workspace's `cargo test`) can link. It also defines a `main` it never
// calls (for `src/main.rs` crates), unused in a library.
#[cfg(target_arch = "wasm32")]
#[allow(dead_code)]
mod export {
    #[wstd::http_server]
    async fn main(
        request: wstd::http::Request<wstd::http::Body>,
    ) -> Result<wstd::http::Response<wstd::http::Body>, wstd::http::Error> {
        super::handle(request).await
    }
}
