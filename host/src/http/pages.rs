//! The host's own pages: a status line as plain text, nothing internal. (The
//! server adds the `Server` header to every response, these included.)

use crate::http::body::ResponseBody;
use bytes::Bytes;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

/// The `Server` header value (and `SERVER_SOFTWARE`).
pub const SERVER_SOFTWARE: &str = concat!("wasm-gateway/", env!("CARGO_PKG_VERSION"));

/// A plain error page: status line as text, nothing internal.
pub fn error_page(status: StatusCode) -> Response<ResponseBody> {
    text_page(status, false)
}

/// [`error_page`], and for a `HEAD` request (`head`) the same headers with
/// no body bytes.
pub fn text_page(status: StatusCode, head: bool) -> Response<ResponseBody> {
    let text = format!(
        "{} {}\n",
        status.as_str(),
        status.canonical_reason().unwrap_or("Error")
    );
    let len = text.len();
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(text)
    };
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    response
}
