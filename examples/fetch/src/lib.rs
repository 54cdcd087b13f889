//! An application that calls another service: `GET /` fetches a URL with
//! the SDK's outbound client and shows what came back (status, content
//! type, the first lines of the body).
//!
//! The URL is the environ key `FETCH_URL` (default `https://example.com/`),
//! set per app in a gateway file:
//!
//! ```toml
//! [apps.fetch]
//! wasm = "target/examples/fetch.wasm"
//! env = { FETCH_URL = "https://api.example.com/status" }
//!
//! [apps.fetch.grants]
//! outbound-http = ["https://api.example.com"]
//! ```
//!
//! Calling out needs that `outbound-http` grant (one-app form:
//! `wasm-gateway serve target/examples/fetch.wasm --outbound-http
//! https://example.com`): without it the host denies the call and the page
//! says so, with the grant to add.

use std::time::Duration;
use wasm_gateway_sdk::http_client::{ClientError, Request};
use wasm_gateway_sdk::{Environ, Response};

wasm_gateway_sdk::app!(show);

const DEFAULT_URL: &str = "https://example.com/";

/// The handler: one outbound GET, then a plain-text report.
fn show(env: Environ) -> Response {
    let url = env.var("FETCH_URL").unwrap_or(DEFAULT_URL).to_owned();
    let result = Request::get(&url)
        .header("accept", "text/html, application/json;q=0.9, */*;q=0.8")
        // The host also caps it by what is left of this request's deadline.
        .timeout(Duration::from_secs(10))
        // Only a preview is shown: no need to hold a huge body.
        .max_response_body(1 << 20)
        .send();
    match result {
        Ok(upstream) => {
            let text = upstream.text();
            let preview: Vec<&str> = text.lines().take(10).collect();
            Response::text(format!(
                "GET {url}\nstatus: {}\ncontent-type: {}\nbody ({} bytes), first lines:\n{}\n",
                upstream.status(),
                upstream.header("content-type").unwrap_or("(none)"),
                upstream.body().len(),
                preview.join("\n"),
            ))
        }
        Err(err) => {
            let hint = if err.is_denied() {
                format!("\ngrant it: outbound-http = [\"{}\"]\n", origin(&url))
            } else {
                String::new()
            };
            let status = match err {
                ClientError::Invalid { .. } => 500,
                _ => 502,
            };
            Response::new(status)
                .header("Content-Type", "text/plain; charset=utf-8")
                .body(format!("{err}\n{hint}"))
        }
    }
}

/// `scheme://host[:port]` of `url`: what a grant names.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| after_scheme + at);
    &url[..end]
}
