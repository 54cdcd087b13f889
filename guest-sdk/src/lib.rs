//! Write web applications for **wasm-gateway** in plain Rust.
//!
//! wasm-gateway is WSGI rebuilt for the sandbox: the host parses HTTP and
//! calls your application, compiled to a `wasm32-wasip2` WebAssembly
//! component, once per request, in a fresh instance. The contract between
//! the two is the WIT package `wasm-gateway:wsgi` (`wit/wsgi.wit`); this SDK
//! implements the application side of it so that you never deal with the
//! generated bindings.
//!
//! # Example
//!
//! A crate with `crate-type = ["cdylib"]` and this `lib.rs`:
//!
//! ```no_run
//! use wasm_gateway_sdk::{Environ, Error, Params, Response, Router};
//!
//! // The one line that makes this crate a wasm-gateway application.
//! wasm_gateway_sdk::app!(handle);
//!
//! fn handle(env: Environ) -> Result<Response, Error> {
//!     Router::new()
//!         .get("/", |_env, _params| Response::html("<h1>Home</h1>"))
//!         .get("/hello/<name>", hello)
//!         .post("/echo", echo)
//!         .handle(env)
//! }
//!
//! fn hello(env: Environ, params: Params) -> String {
//!     let greeting = env.query_param("greeting").unwrap_or_else(|| "Hello".into());
//!     format!("{greeting}, {}!", params.get("name").unwrap_or("stranger"))
//! }
//!
//! fn echo(mut env: Environ, _params: Params) -> Result<Response, Error> {
//!     let body = env.read_body()?; // `?` works: errors become a 500
//!     Ok(Response::ok()
//!         .header("Content-Type", "application/octet-stream")
//!         .body(body))
//! }
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the `.wasm`
//! in `target/wasm32-wasip2/release/` is the component the host runs.
//!
//! A handler is `fn(Environ) -> R` or, WSGI style, `fn(Environ,
//! StartResponse) -> R`, where `R` is anything implementing
//! [`IntoResponse`]. WSGI-style handlers call [`StartResponse::call`]
//! themselves and return a [`Body`]:
//!
//! ```no_run
//! use wasm_gateway_sdk::{Body, Environ, Error, StartResponse};
//!
//! wasm_gateway_sdk::app!(app);
//!
//! fn app(_env: Environ, start_response: StartResponse) -> Result<Body, Error> {
//!     start_response.call("200 OK", &[("Content-Type", "text/plain")])?;
//!     // Produced lazily, as the host pulls the body.
//!     Ok(Body::from_iter((1..=3).map(|i| format!("chunk {i}\n"))))
//! }
//! ```
//!
//! Errors returned by a handler (or by a lazy body) go to the host as an
//! application error: it logs the message and answers `500` without detail.
//! A panic traps the instance, with the same result for the client; the SDK
//! writes the panic message to the server log first.
//!
//! While developing, `app!(wasm_gateway_sdk::validate::validated(handler))`
//! checks every request and response against PEP 3333, as Python's
//! `wsgiref.validate` does, and fails the request with a `wsgi validator:`
//! line in the server log at the first violation (see [`validate`]).
//!
//! # Layout
//!
//! | Module | Contents |
//! |---|---|
//! | [`app!`] (here) | the export macro |
//! | `environ` | [`Environ`] (the request), [`cgi_vars`], [`WitEnviron`] |
//! | `input` | [`Input`], the request body as `Read` + `BufRead` and PEP 3333's `wsgi.input` methods |
//! | `server` | [`StartResponse`], [`Write`], [`log`], [`StartResponseError`], [`WriteError`] |
//! | `response` | [`Response`], [`IntoResponse`] |
//! | `body` | [`Body`], the response body the host pulls |
//! | `router` | [`Router`], [`Params`] |
//! | `handler` | [`Handler`] and the glue to the generated bindings |
//! | `error` | [`Error`], [`Result`] |
//! | `status` | [`reason_phrase`] |
//! | [`urlencoded`] | query string and form parsing |
//! | [`validate`] | a port of `wsgiref.validate`: [`validate::validated`] checks host and application against PEP 3333 |
//! | [`http_client`] | outbound HTTP through the host (`wasi:http/outgoing-handler`), under the app's `outbound-http` grant |
//! | [`kv`] | key-value stores (`wasi:keyvalue`): data that outlives the request, under the app's `kv` grant |
//! | `bindings` | the `wit-bindgen` output (hidden) |
//!
//! Everything except the calls into the host (`start_response`, `write`,
//! reading the body, `log`, sending an outbound request, a key-value
//! store) is plain Rust
//! that also compiles and is tested on the build machine;
//! [`Environ::with_body`] lets you unit-test handlers natively.

#[doc(hidden)]
pub mod bindings;
mod body;
mod environ;
mod error;
mod handler;
pub mod http_client;
mod input;
pub mod kv;
mod response;
mod router;
mod server;
mod status;
pub mod urlencoded;
pub mod validate;

pub use body::Body;
pub use environ::{Environ, WitEnviron, WitHeader, cgi_vars, http_var_name};
pub use error::{Error, Result};
#[doc(hidden)]
pub use handler::__private;
pub use handler::Handler;
pub use input::{ByteLines, Input};
pub use response::{IntoResponse, Response};
pub use router::{Params, Router};
pub use server::{StartResponse, StartResponseError, Write, WriteError, log};
pub use status::reason_phrase;

/// Exports `handler` as this component's WSGI application.
///
/// Write it once, at the top level of a `cdylib` crate:
///
/// ```no_run
/// use wasm_gateway_sdk::{Environ, Response};
///
/// wasm_gateway_sdk::app!(hello);
///
/// fn hello(_env: Environ) -> Response {
///     Response::text("Hello, world!")
/// }
/// ```
///
/// `handler` is a function (or non-capturing closure) of type
/// `fn(Environ) -> R` or `fn(Environ, StartResponse) -> R` with
/// `R:` [`IntoResponse`]; anything else is a compile error pointing at it.
/// The macro defines a hidden type implementing the generated `Guest` trait
/// and, when compiling for `wasm32`, exports it as
/// `wasm-gateway:wsgi/application@0.1.0`. On other targets the crate still
/// compiles (so `cargo test`/`clippy` of a workspace work) but exports
/// nothing.
#[macro_export]
macro_rules! app {
    ($handler:expr $(,)?) => {
        // A block keeps the helper type out of the user's namespace.
        const _: () = {
            struct WasmGatewayApp;

            impl $crate::__private::Guest for WasmGatewayApp {
                type Body = $crate::__private::BodyResource;

                fn call(
                    environ: $crate::__private::WitEnviron,
                ) -> ::core::result::Result<
                    $crate::__private::ExportedBody,
                    $crate::__private::AppError,
                > {
                    $crate::__private::serve(environ, $handler)
                }
            }

            // Serving through the `next` export, for a middleware fused in
            // front of this component offline (`wac plug`).
            impl $crate::__private::NextGuest for WasmGatewayApp {
                type Body = $crate::__private::NextBodyResource;

                fn call(
                    environ: $crate::__private::WitEnviron,
                ) -> ::core::result::Result<
                    $crate::__private::NextResponse,
                    $crate::__private::AppError,
                > {
                    $crate::__private::serve_next(environ, $handler)
                }
            }

            // Keeps the handler "used" for the dead-code lint on targets
            // where nothing is exported (see below).
            const _: fn(
                $crate::__private::WitEnviron,
            ) -> ::core::result::Result<
                $crate::__private::ExportedBody,
                $crate::__private::AppError,
            > = <WasmGatewayApp as $crate::__private::Guest>::call;

            // The component exports exist only on wasm: their symbol names
            // (`wasm-gateway:wsgi/application@0.1.0#call`, ...) cannot be
            // exported from a native shared library, which `cargo test` and
            // `cargo build` of the whole workspace link on the build machine.
            // The `Guest` implementation above still type-checks the handler
            // on every target.
            #[cfg(target_arch = "wasm32")]
    $crate::bindings::export!(WasmGatewayApp with_types_in $crate::bindings);
        };
    };
}
