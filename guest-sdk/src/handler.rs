//! [`Handler`]: what [`app!`](crate::app) accepts, and the glue between the
//! generated `Guest` trait and the user's handler.
//!
//! Per request the host calls the exported `call` with the environ; the glue
//! wraps it in an [`Environ`], runs the handler, converts its result with
//! [`IntoResponse`], calls `start_response` (unless the handler did it
//! itself) and returns the body as the exported `body` resource, which the
//! host then pulls chunk by chunk. It also routes panic messages to the
//! server log.

use std::cell::RefCell;
use std::sync::Once;

use crate::bindings::exports::wasm_gateway::wsgi::application;
use crate::bindings::wasm_gateway::wsgi::types::AppError;
use crate::environ::WitEnviron;
use crate::{Body, Environ, Error, IntoResponse, StartResponse, server};

/// A function that serves a request: `fn(Environ) -> R` or
/// `fn(Environ, StartResponse) -> R`, where `R` implements
/// [`IntoResponse`].
///
/// `Args` only tells the two shapes apart (as in `axum`); it is inferred and
/// never written by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a wasm-gateway handler",
    label = "expected `fn(Environ) -> R` or `fn(Environ, StartResponse) -> R`",
    note = "`R` must implement `wasm_gateway_sdk::IntoResponse` (e.g. `Response`, `String`, `Body`, `Result<Response, Error>`)"
)]
pub trait Handler<Args>: 'static {
    /// What the handler returns.
    type Output: IntoResponse;

    /// Runs the handler.
    fn call(self, environ: Environ, start_response: StartResponse) -> Self::Output;
}

impl<F, R> Handler<(Environ,)> for F
where
    F: FnOnce(Environ) -> R + 'static,
    R: IntoResponse,
{
    type Output = R;

    fn call(self, environ: Environ, _start_response: StartResponse) -> R {
        self(environ)
    }
}

impl<F, R> Handler<(Environ, StartResponse)> for F
where
    F: FnOnce(Environ, StartResponse) -> R + 'static,
    R: IntoResponse,
{
    type Output = R;

    fn call(self, environ: Environ, start_response: StartResponse) -> R {
        self(environ, start_response)
    }
}

/// The exported `call`: runs `handler` for one request.
pub(crate) fn serve<H, Args>(raw: WitEnviron, handler: H) -> Result<application::Body, AppError>
where
    H: Handler<Args>,
{
    report_panics_to_the_host();
    let environ = Environ::from_host(raw);
    let response = handler
        .call(environ, StartResponse::new())
        .into_response()
        .map_err(|err| app_error(&err))?;
    let wire = response.into_wire();
    if let Some((status, headers)) = wire.start {
        server::start(&status, headers, None).map_err(|err| AppError {
            message: refused_message(&status, &err),
        })?;
    }
    Ok(application::Body::new(BodyResource {
        body: RefCell::new(wire.body),
    }))
}

/// The error message for a `start_response` call the SDK made on the
/// application's behalf and the host refused.
pub(crate) fn refused_message(status: &str, err: &server::StartResponseError) -> String {
    let detail = err.detail().map(|d| format!(": {d}")).unwrap_or_default();
    format!(
        "start_response({status:?}) was refused ({}{detail})",
        err.kind()
    )
}

/// Makes a panic's message reach the server log: a panic aborts, which
/// traps the instance, and the host only sees the trap; the message itself
/// goes to the panic hook, which by default prints to stderr, where the host
/// may not look. So the hook writes it to `wsgi.errors` instead (nothing
/// catches the panic: the instance still traps and the host answers 500).
fn report_panics_to_the_host() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            server::log(format!("the application panicked: {info}"));
        }));
    });
}

/// The WIT `app-error` for `err`: its message with the chain of causes.
fn app_error(err: &Error) -> AppError {
    AppError {
        message: format!("{err:#}"),
    }
}

/// The exported `body` resource: a [`Body`] the host pulls from.
///
/// `next` takes `&self` (resources are shared handles), hence the
/// `RefCell`; the host never calls it re-entrantly.
#[derive(Debug)]
pub struct BodyResource {
    body: RefCell<Body>,
}

impl application::GuestBody for BodyResource {
    fn next(&self) -> Result<Option<Vec<u8>>, AppError> {
        self.body
            .borrow_mut()
            .next()
            .transpose()
            .map_err(|err| app_error(&err))
    }
}

/// Items the [`app!`](crate::app) expansion refers to. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::exports::wasm_gateway::wsgi::application::{
        Body as ExportedBody, Guest,
    };
    pub use crate::bindings::wasm_gateway::wsgi::types::AppError;
    pub use crate::environ::WitEnviron;

    pub use super::BodyResource;

    /// The [`Next`](crate::Next) a middleware's handler gets.
    pub fn next() -> crate::Next {
        crate::Next::new()
    }

    /// The exported `call`, for the type [`app!`](crate::app) defines.
    pub fn serve<H, Args>(raw: WitEnviron, handler: H) -> Result<ExportedBody, AppError>
    where
        H: super::Handler<Args>,
    {
        super::serve(raw, handler)
    }
}
