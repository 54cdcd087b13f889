//! The smallest wasm-gateway application: every request gets
//! `200 OK`, `Content-Type: text/plain; charset=utf-8` and the body
//! `Hello, world!`.
//!
//! Build: `cargo build --release --target wasm32-wasip2 -p hello`, which
//! writes the component to `target/wasm32-wasip2/release/hello.wasm`.

use wasm_gateway_sdk::{Environ, Response};

// Exports `hello` as the component's application. This line is all the
// glue there is: the SDK turns the host's call into an `Environ` and the
// returned `Response` into `start_response` plus a body.
wasm_gateway_sdk::app!(hello);

/// The handler: it ignores the request.
fn hello(_env: Environ) -> Response {
    // `Response::text` sets the status (200) and the content type; the SDK
    // adds `Content-Length` because the body is in memory.
    Response::text("Hello, world!")
}
