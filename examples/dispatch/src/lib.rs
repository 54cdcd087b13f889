//! Path dispatching written the WSGI way: the handler takes
//! `start_response`, calls it itself and returns only the body.
//!
//! ```python
//! def app(environ, start_response):
//!     path = environ["PATH_INFO"]
//!     if path == "/dog":
//!         status, body = "200 OK", b"This is dog!"
//!     elif path == "/cat":
//!         status, body = "200 OK", b"This is cat!"
//!     else:
//!         status, body = "404 Not Found", b"Not Found"
//!     start_response(status, [("Content-Type", "text/plain")])
//!     return [body]
//! ```
//!
//! `/dog` and `/cat` answer `200` with their line of text, anything else
//! `404 Not Found`, all as `text/plain`.

use wasm_gateway_sdk::{Body, Environ, Error, StartResponse};

// The same macro as for `fn(Environ) -> Response` handlers: the SDK sees
// from the signature that this one takes `start_response`.
wasm_gateway_sdk::app!(dispatch);

/// Picks the page from `PATH_INFO`, starts the response, returns the body.
fn dispatch(env: Environ, start_response: StartResponse) -> Result<Body, Error> {
    let (status, body) = match env.path_info().as_ref() {
        "/dog" => ("200 OK", "This is dog!"),
        "/cat" => ("200 OK", "This is cat!"),
        _ => ("404 Not Found", "Not Found"),
    };
    let length = body.len().to_string();
    // The host validates status and headers here; a refusal is an error
    // that `?` turns into a 500. Returning a `Body` tells the SDK that the
    // response has been started already.
    start_response.call(
        status,
        &[("Content-Type", "text/plain"), ("Content-Length", &length)],
    )?;
    Ok(Body::from(body))
}
