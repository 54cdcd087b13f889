//! Shows the request as a WSGI application sees it: reads the whole request
//! body, then answers `200 OK` (`text/plain; charset=utf-8`) with one
//! `KEY=value` line per environ variable, sorted by key, followed by
//! `BODY_LEN=n`, the number of body bytes received.
//!
//! Values are written byte for byte, so a path or header that is not UTF-8
//! comes back exactly as the host passed it. Handy to check what a gateway
//! configuration (mount point, extra variables, proxies) does to requests.

use wasm_gateway_sdk::{Environ, Error, Response};

wasm_gateway_sdk::app!(show_environ);

/// Lists `env.vars()` and the body length.
fn show_environ(mut env: Environ) -> Result<Response, Error> {
    // Read the body first, to the end (it streams in from the host). A
    // failure, such as a body over the operator's limit, ends the request
    // with a 500 through `?`.
    let body = env.read_body()?;

    // `vars()` is the CGI/WSGI dictionary: REQUEST_METHOD, PATH_INFO,
    // HTTP_* headers, wsgi.* flags... as (name, raw bytes), sorted by name.
    let mut out = Vec::new();
    for (key, value) in env.vars() {
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        out.extend_from_slice(&value);
        out.push(b'\n');
    }
    out.extend_from_slice(format!("BODY_LEN={}\n", body.len()).as_bytes());

    // A `Vec<u8>` body is in memory, so `Content-Length` is set for us.
    Ok(Response::text(out))
}
