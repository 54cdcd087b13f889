//! The host's own pages: a status line as plain text, nothing internal, with
//! the `Server` header.

use crate::http::body::ResponseBody;
use bytes::Bytes;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, SERVER};
use hyper::{Response, StatusCode};

/// A plain error page: status line as text, nothing internal.
pub fn error_page(
    status: StatusCode,
    log: crate::http::access_log::AccessLog,
) -> Response<ResponseBody> {
    text_page(status, log, false)
}

/// [`error_page`], and for a `HEAD` request (`head`) the same headers with
/// no body bytes.
pub fn text_page(
    status: StatusCode,
    mut log: crate::http::access_log::AccessLog,
    head: bool,
) -> Response<ResponseBody> {
    log.status = status.as_u16();
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
    let mut response = Response::new(ResponseBody::full(body, log));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(SERVER, HeaderValue::from_static(crate::SERVER_SOFTWARE));
    response
}
