//! Write **wasm-gateway** middleware in Rust: a layer in front of
//! applications, in its own instance (see `docs/middleware.md`).
//!
//! This crate is [`wasm_gateway_sdk`] plus [`Next`], the layer behind a
//! middleware, and the [`middleware!`] macro; everything of the SDK is
//! re-exported, so a middleware needs this one dependency. It is a crate of
//! its own because it makes the component import `wasm-gateway:wsgi/next`:
//! an application, which never calls it, must not import it, or it could not
//! be fused behind a middleware offline (`wac plug`).
//!
//! A middleware may rewrite the environ, call [`Next::call`], rewrite the
//! [`Response`] that comes back (status, headers, body), or answer on its
//! own without calling the next layer at all (403, 401, a redirect):
//!
//! ```no_run
//! use wasm_gateway_middleware::{Environ, Error, Next, Response};
//!
//! wasm_gateway_middleware::middleware!(handle);
//!
//! fn handle(mut env: Environ, next: Next) -> Result<Response, Error> {
//!     if env.path_info().starts_with("/admin") {
//!         return Ok(Response::new(403).header("Content-Type", "text/plain").body("Forbidden"));
//!     }
//!     env.set_header("X-Seen-By", "my-layer");
//!     let response = next.call(env)?;
//!     Ok(response.set_header("X-Layer", "my-layer"))
//! }
//! ```
//!
//! The next layer's body streams through: each chunk is pulled from it only
//! when the host pulls this layer's body.

pub use wasm_gateway_sdk::*;

/// The raw `next` import (WIT world `next-client`), sharing the SDK's
/// types. Not public API.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "next-client",
        path: "../../wit",
        with: {
            "wasm-gateway:wsgi/types@0.1.0": wasm_gateway_sdk::bindings::wasm_gateway::wsgi::types,
        },
    });
}

use bindings::wasm_gateway::wsgi::next as host;

/// Exports `handler` as this component's WSGI middleware: a layer the
/// operator stacks in front of applications.
///
/// `handler` is a function of type `fn(Environ, Next) -> R` with `R:`
/// [`IntoResponse`]. The component exports the application interface and
/// imports `next` (the WIT `middleware` world).
///
/// ```no_run
/// use wasm_gateway_middleware::{Environ, Error, Next, Response};
///
/// wasm_gateway_middleware::middleware!(pass);
///
/// fn pass(env: Environ, next: Next) -> Result<Response, Error> {
///     next.call(env)
/// }
/// ```
#[macro_export]
macro_rules! middleware {
    ($handler:expr $(,)?) => {
        $crate::app!(|environ: $crate::Environ| ($handler)(environ, $crate::Next::__new()));
    };
}

/// The layer behind a middleware: the application, or the next middleware.
#[derive(Debug)]
pub struct Next {
    _private: (),
}

impl Next {
    #[doc(hidden)]
    pub fn __new() -> Self {
        Self { _private: () }
    }

    /// Calls the next layer with `environ` and returns its response, its
    /// body still streaming. The request body goes on to the next layer as
    /// far as it is unread (bytes this layer read, or buffered, are gone).
    ///
    /// An `Err` means the next layer failed before it sent its headers (it
    /// trapped, broke the WSGI contract, ran past its deadline); the host
    /// logged the detail. Returning it (`?`) answers 500.
    pub fn call(&self, environ: Environ) -> Result<Response, Error> {
        let answer = host::call(&environ.into_raw())
            .map_err(|err| Error::msg(err.message).context("calling the next layer"))?;
        let (code, reason) = split_status(&answer.status)?;
        let mut response = Response::with_reason(code, reason);
        for header in answer.headers {
            response = response.header_bytes(header.name, header.value);
        }
        let body = answer.body;
        Ok(response.body(Body::from_result_iter(std::iter::from_fn(
            move || match body.next() {
                Ok(Some(chunk)) => Some(Ok(chunk)),
                Ok(None) => None,
                Err(err) => Some(Err(Error::msg(err.message))),
            },
        ))))
    }
}

/// `"404 Not Found"` as `(404, "Not Found")`.
fn split_status(status: &str) -> Result<(u16, &str), Error> {
    let (code, reason) = status.split_once(' ').unwrap_or((status, ""));
    let code = code
        .parse()
        .map_err(|_| Error::msg(format!("the next layer sent a bad status {status:?}")))?;
    Ok((code, reason))
}

#[cfg(test)]
mod tests {
    use super::split_status;

    #[test]
    fn splits_status_lines() {
        assert_eq!(split_status("200 OK").unwrap(), (200, "OK"));
        assert_eq!(split_status("404 NOT FOUND").unwrap(), (404, "NOT FOUND"));
        assert_eq!(split_status("599").unwrap(), (599, ""));
        assert!(split_status("OK 200").is_err());
    }
}
