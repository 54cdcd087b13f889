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
use crate::bindings::exports::wasm_gateway::wsgi::next as next_export;
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

/// The exported `next.call`: runs `handler` for one request on behalf of a
/// middleware fused in front of this component (`wac plug`). Status,
/// headers and `write`s are captured rather than sent to the host, and
/// returned; a head the application sets lazily is waited for by pulling
/// the body, as a WSGI server would.
pub(crate) fn serve_next<H, Args>(
    raw: WitEnviron,
    handler: H,
) -> Result<next_export::Response, AppError>
where
    H: Handler<Args>,
{
    report_panics_to_the_host();
    let (status, headers, body) = captured(raw, handler)?;
    Ok(next_export::Response {
        status,
        headers,
        body: next_export::Body::new(body),
    })
}

/// What `next.call` returns, before the body becomes a resource.
type Captured = (
    String,
    Vec<crate::bindings::wasm_gateway::wsgi::types::Header>,
    NextBodyResource,
);

/// Runs `handler` with `start_response` and `write` captured.
fn captured<H, Args>(raw: WitEnviron, handler: H) -> Result<Captured, AppError>
where
    H: Handler<Args>,
{
    server::capture::begin();
    let served = (|| {
        let response = handler
            .call(Environ::from_host(raw), StartResponse::new())
            .into_response()
            .map_err(|err| app_error(&err))?;
        let wire = response.into_wire();
        let mut body = wire.body;
        let mut first = None;
        let (status, headers) = match wire.start.or_else(server::capture::take_head) {
            Some(head) => head,
            None => loop {
                let chunk = body.next().transpose().map_err(|err| app_error(&err))?;
                if let Some(head) = server::capture::take_head() {
                    first = chunk;
                    break head;
                }
                match chunk {
                    Some(chunk) if chunk.is_empty() => {}
                    Some(_) => {
                        return Err(AppError {
                            message:
                                "the application produced a body before calling start_response"
                                    .into(),
                        });
                    }
                    None => {
                        return Err(AppError {
                            message: "the application returned without calling start_response"
                                .into(),
                        });
                    }
                }
            },
        };
        Ok((
            status,
            headers,
            NextBodyResource {
                first: RefCell::new(first),
                body: RefCell::new(body),
            },
        ))
    })();
    if served.is_err() {
        server::capture::end();
    }
    served
}

/// The exported `next.body` resource: what `write` captured, the chunk
/// pulled while waiting for a lazy head, then the body. Dropping it ends
/// the capture (and closes the body: WSGI's `close()`).
pub struct NextBodyResource {
    first: RefCell<Option<Vec<u8>>>,
    body: RefCell<Body>,
}

impl next_export::GuestBody for NextBodyResource {
    fn next(&self) -> Result<Option<Vec<u8>>, AppError> {
        if let Some(written) = server::capture::take_written() {
            return Ok(Some(written));
        }
        if let Some(first) = self.first.borrow_mut().take() {
            return Ok(Some(first));
        }
        let chunk = self.body.borrow_mut().next().transpose();
        // A `write` during this pull goes out before the chunk it preceded.
        match (chunk, server::capture::take_written()) {
            (Ok(Some(chunk)), Some(written)) => {
                *self.first.borrow_mut() = Some(chunk);
                Ok(Some(written))
            }
            (chunk, _) => chunk.map_err(|err| app_error(&err)),
        }
    }
}

impl Drop for NextBodyResource {
    fn drop(&mut self) {
        server::capture::end();
    }
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

    pub use super::{BodyResource, NextBodyResource};
    pub use crate::bindings::exports::wasm_gateway::wsgi::next::{
        Guest as NextGuest, Response as NextResponse,
    };

    /// The exported `next.call`, for the type [`app!`](crate::app) defines.
    pub fn serve_next<H, Args>(raw: WitEnviron, handler: H) -> Result<NextResponse, AppError>
    where
        H: super::Handler<Args>,
    {
        super::serve_next(raw, handler)
    }

    /// The exported `call`, for the type [`app!`](crate::app) defines.
    pub fn serve<H, Args>(raw: WitEnviron, handler: H) -> Result<ExportedBody, AppError>
    where
        H: super::Handler<Args>,
    {
        super::serve(raw, handler)
    }
}

#[cfg(test)]
mod tests {
    use super::next_export::GuestBody;
    use super::*;
    use crate::environ::tests::raw;
    use crate::server::fake_host;

    fn pull(body: &NextBodyResource) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| body.next().unwrap()).collect()
    }

    /// Served through `next`, the head and `write`s are returned, not sent
    /// to the host; a lazily started head is waited for.
    #[test]
    fn serving_through_next_captures_the_head() {
        fake_host::reset();
        let (status, headers, body) =
            captured(raw("GET", "/"), |_env: Environ, start: StartResponse| {
                let mut started = false;
                Body::from_iter(std::iter::from_fn(move || {
                    if started {
                        return None;
                    }
                    started = true;
                    let write = start.call("201 Created", &[("X-A", "1")]).unwrap();
                    write.write(b"written ").unwrap();
                    Some(b"chunk".to_vec())
                }))
            })
            .unwrap();
        assert_eq!(status, "201 Created");
        assert_eq!(headers[0].name, "X-A");
        assert_eq!(pull(&body), [b"written ".to_vec(), b"chunk".to_vec()]);
        drop(body);
        fake_host::with(|host| assert!(host.starts.is_empty(), "nothing reached the host"));
        // Capture ended with the body: start_response goes to the host again.
        crate::server::start_on_host("200 OK", &[], None).unwrap();
        fake_host::with(|host| assert_eq!(host.starts.len(), 1));
    }

    #[test]
    fn a_response_value_is_returned_whole() {
        fake_host::reset();
        let (status, headers, body) = captured(raw("GET", "/"), |_env: Environ| {
            crate::Response::text("hi").header("X-B", "2")
        })
        .unwrap();
        assert_eq!(status, "200 OK");
        let names: Vec<&str> = headers.iter().map(|h| h.name.as_str()).collect();
        assert!(
            names.contains(&"X-B") && names.contains(&"Content-Length"),
            "{names:?}"
        );
        assert_eq!(pull(&body), [b"hi".to_vec()]);
    }

    #[test]
    fn no_start_response_is_an_error() {
        fake_host::reset();
        let err = captured(raw("GET", "/"), |_env: Environ, _start: StartResponse| {
            Body::empty()
        })
        .err()
        .unwrap();
        assert!(
            err.message.contains("without calling start_response"),
            "{}",
            err.message
        );
    }
}
