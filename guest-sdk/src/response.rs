//! [`Response`] (a status, headers and a [`Body`]) and [`IntoResponse`], the
//! conversion every handler's return value goes through.
//!
//! A handler returns anything that implements [`IntoResponse`]: a
//! [`Response`] built here, a plain `String`, a `(status, text)` pair, a
//! [`Body`] when the handler called `start_response` itself (WSGI style), or
//! a `Result` of any of these, so that `?` works inside handlers.

use std::fmt;

use crate::bindings::wasm_gateway::wsgi::types::Header;
use crate::{Body, Error, reason_phrase};

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const TEXT_HTML: &str = "text/html; charset=utf-8";

/// An HTTP response: status, headers and body.
///
/// Built with chained calls; the SDK sends the status and headers through
/// `start_response` when the handler returns it. When the body's length is
/// known (it is held in memory) and no `Content-Length` header was set, one
/// is added.
///
/// ```
/// use wasm_gateway_sdk::Response;
/// let response = Response::new(201)
///     .header("Content-Type", "application/json")
///     .header("Location", "/items/7")
///     .body(r#"{"id":7}"#);
/// assert_eq!(response.status(), Some(201));
/// ```
pub struct Response {
    /// `None` when the application called `start_response` itself and only
    /// the body is left to hand over (see `impl IntoResponse for Body`).
    head: Option<Head>,
    body: Body,
}

#[derive(Debug)]
struct Head {
    status: u16,
    reason: String,
    headers: Vec<(String, Vec<u8>)>,
}

/// What the SDK sends: the status line and headers (unless the application
/// already called `start_response`), then the body.
pub(crate) struct Wire {
    pub(crate) start: Option<(String, Vec<Header>)>,
    pub(crate) body: Body,
}

impl Response {
    /// A response with status `status`, its standard reason phrase
    /// ([`reason_phrase`], `"Unknown"` for codes without one), no headers
    /// and an empty body.
    pub fn new(status: u16) -> Self {
        Self::with_reason(status, reason_phrase(status).unwrap_or("Unknown"))
    }

    /// A response with a custom reason phrase, e.g. `(599, "Network Error")`.
    pub fn with_reason(status: u16, reason: impl Into<String>) -> Self {
        Self {
            head: Some(Head {
                status,
                reason: reason.into(),
                headers: Vec::new(),
            }),
            body: Body::empty(),
        }
    }

    /// `200 OK` with no headers and an empty body.
    pub fn ok() -> Self {
        Self::new(200)
    }

    /// `200 OK`, `Content-Type: text/plain; charset=utf-8`.
    pub fn text(body: impl Into<Body>) -> Self {
        Self::ok().header("Content-Type", TEXT_PLAIN).body(body)
    }

    /// `200 OK`, `Content-Type: text/html; charset=utf-8`.
    pub fn html(body: impl Into<Body>) -> Self {
        Self::ok().header("Content-Type", TEXT_HTML).body(body)
    }

    /// `404 Not Found` with the text body `Not Found`.
    pub fn not_found() -> Self {
        Self::new(404)
            .header("Content-Type", TEXT_PLAIN)
            .body("Not Found")
    }

    /// `405 Method Not Allowed` with an `Allow` header listing `allow` and
    /// the text body `Method Not Allowed`.
    pub fn method_not_allowed(allow: &[&str]) -> Self {
        Self::new(405)
            .header("Allow", allow.join(", "))
            .header("Content-Type", TEXT_PLAIN)
            .body("Method Not Allowed")
    }

    /// `302 Found` to `location`, with an empty body.
    pub fn redirect(location: &str) -> Self {
        Self::new(302).header("Location", location)
    }

    /// Adds a header. Names are sent as given; repeated names are sent as
    /// separate fields (as `Set-Cookie` needs). The host rejects invalid
    /// names or values and hop-by-hop headers, which turns into a `500`.
    #[must_use]
    pub fn header(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.header_bytes(name, value.into().into_bytes())
    }

    /// Adds a header whose value is not UTF-8 text.
    #[must_use]
    pub fn header_bytes(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        if let Some(head) = &mut self.head {
            head.headers.push((name.into(), value.into()));
        }
        self
    }

    /// Replaces the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// The status code; `None` for a response made from a bare [`Body`]
    /// after the application called `start_response` itself.
    pub fn status(&self) -> Option<u16> {
        self.head.as_ref().map(|head| head.status)
    }

    /// The status line as sent, e.g. `"404 Not Found"`.
    pub fn status_line(&self) -> Option<String> {
        self.head
            .as_ref()
            .map(|head| format!("{} {}", head.status, head.reason))
    }

    /// The headers set so far, in order (without the `Content-Length` the
    /// SDK adds when sending).
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        self.head.as_ref().map_or(&[], |head| &head.headers)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }

    /// Replaces every header `name` (case-insensitive) by one with `value`
    /// (a middleware rewriting the response of the layer behind it).
    #[must_use]
    pub fn set_header(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.remove_header(&name).header(name, value)
    }

    /// Removes every header `name` (case-insensitive).
    #[must_use]
    pub fn remove_header(mut self, name: &str) -> Self {
        if let Some(head) = &mut self.head {
            head.headers
                .retain(|(key, _)| !key.eq_ignore_ascii_case(name));
        }
        self
    }

    /// Replaces the status, with its standard reason phrase.
    #[must_use]
    pub fn set_status(mut self, status: u16) -> Self {
        if let Some(head) = &mut self.head {
            head.status = status;
            head.reason = reason_phrase(status).unwrap_or("Unknown").to_owned();
        }
        self
    }

    /// Takes the body out, leaving an empty one: to wrap it (say, to
    /// compress it) and put the result back with [`body`](Self::body).
    pub fn take_body(&mut self) -> Body {
        std::mem::take(&mut self.body)
    }

    /// The body.
    pub fn into_body(self) -> Body {
        self.body
    }

    /// A response whose status and headers the application already sent
    /// through `start_response`.
    pub(crate) fn started(body: Body) -> Self {
        Self { head: None, body }
    }

    /// Splits the response into what goes to `start_response` and the body,
    /// adding `Content-Length` when the length is known.
    pub(crate) fn into_wire(self) -> Wire {
        let Some(head) = self.head else {
            return Wire {
                start: None,
                body: self.body,
            };
        };
        let mut headers: Vec<Header> = head
            .headers
            .into_iter()
            .map(|(name, value)| Header { name, value })
            .collect();
        // RFC 9110 forbids Content-Length on 1xx and 204; on 304 it would
        // describe the cached representation, not this empty body.
        let may_have_length = !matches!(head.status, 100..=199 | 204 | 304);
        let has_length = headers
            .iter()
            .any(|header| header.name.eq_ignore_ascii_case("content-length"));
        if let (true, false, Some(length)) = (may_have_length, has_length, self.body.known_length())
        {
            headers.push(Header {
                name: "Content-Length".to_owned(),
                value: length.to_string().into_bytes(),
            });
        }
        Wire {
            start: Some((format!("{} {}", head.status, head.reason), headers)),
            body: self.body,
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Response");
        match &self.head {
            Some(head) => out
                .field("status", &head.status)
                .field("reason", &head.reason)
                .field("headers", &head.headers),
            None => out.field("started_by_application", &true),
        };
        out.field("body", &self.body).finish()
    }
}

/// Anything a handler may return.
///
/// | Type | Response |
/// |---|---|
/// | [`Response`] | as built |
/// | `String`, `&'static str` | `200`, `text/plain; charset=utf-8` |
/// | `(u16, String)`, `(u16, &'static str)` | that status, `text/plain; charset=utf-8` |
/// | [`Body`] | the handler called `start_response` itself (WSGI style); the SDK only hands the body over |
/// | `Result<T, E>` | `Ok` as `T`; `Err` goes to the host as an application error (logged, `500`) |
pub trait IntoResponse {
    /// Converts `self`; an `Err` is an application error.
    fn into_response(self) -> Result<Response, Error>;
}

impl IntoResponse for Response {
    fn into_response(self) -> Result<Response, Error> {
        Ok(self)
    }
}

impl IntoResponse for Body {
    fn into_response(self) -> Result<Response, Error> {
        Ok(Response::started(self))
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Result<Response, Error> {
        Ok(Response::text(self))
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Result<Response, Error> {
        Ok(Response::text(self))
    }
}

impl IntoResponse for (u16, String) {
    fn into_response(self) -> Result<Response, Error> {
        Ok(Response::new(self.0)
            .header("Content-Type", TEXT_PLAIN)
            .body(self.1))
    }
}

impl IntoResponse for (u16, &'static str) {
    fn into_response(self) -> Result<Response, Error> {
        Ok(Response::new(self.0)
            .header("Content-Type", TEXT_PLAIN)
            .body(self.1))
    }
}

impl<T: IntoResponse, E: Into<Error>> IntoResponse for Result<T, E> {
    fn into_response(self) -> Result<Response, Error> {
        self.map_err(Into::into)?.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_headers(wire: &Wire) -> Vec<(String, String)> {
        wire.start
            .as_ref()
            .unwrap()
            .1
            .iter()
            .map(|h| (h.name.clone(), String::from_utf8(h.value.clone()).unwrap()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn text_gets_content_type_and_length() {
        let wire = Response::text("Hello, world!").into_wire();
        assert_eq!(wire.start.as_ref().unwrap().0, "200 OK");
        assert_eq!(
            wire_headers(&wire),
            pairs(&[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", "13")
            ])
        );
        assert_eq!(wire.body.into_bytes().unwrap(), b"Hello, world!");
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            Response::not_found().status_line().unwrap(),
            "404 Not Found"
        );
        assert_eq!(Response::new(299).status_line().unwrap(), "299 Unknown");
        assert_eq!(
            Response::with_reason(599, "Network Error")
                .status_line()
                .unwrap(),
            "599 Network Error"
        );
    }

    #[test]
    fn helpers() {
        let html = Response::html("<p>");
        assert_eq!(
            html.header_value("content-type"),
            Some(&b"text/html; charset=utf-8"[..])
        );

        let redirect = Response::redirect("/login").into_wire();
        assert_eq!(redirect.start.as_ref().unwrap().0, "302 Found");
        assert_eq!(
            wire_headers(&redirect),
            pairs(&[("Location", "/login"), ("Content-Length", "0")])
        );

        let not_allowed = Response::method_not_allowed(&["GET", "HEAD"]);
        assert_eq!(not_allowed.status(), Some(405));
        assert_eq!(not_allowed.header_value("Allow"), Some(&b"GET, HEAD"[..]));

        let not_found = Response::not_found();
        assert_eq!(not_found.into_body().into_bytes().unwrap(), b"Not Found");
    }

    #[test]
    fn explicit_content_length_is_kept_and_lazy_bodies_get_none() {
        let wire = Response::ok()
            .header("content-length", "2")
            .body("hi")
            .into_wire();
        assert_eq!(wire_headers(&wire), pairs(&[("content-length", "2")]));

        let wire = Response::ok().body(Body::from_iter(["a", "b"])).into_wire();
        assert!(wire_headers(&wire).is_empty());

        let wire = Response::new(204).into_wire();
        assert!(wire_headers(&wire).is_empty());
    }

    #[test]
    fn into_response_conversions() {
        let response = "hi".into_response().unwrap();
        assert_eq!(response.status(), Some(200));
        assert_eq!(
            response.header_value("Content-Type"),
            Some(TEXT_PLAIN.as_bytes())
        );

        let response = (418, "teapot".to_owned()).into_response().unwrap();
        assert_eq!(response.status_line().unwrap(), "418 I'm a teapot");

        let started = Body::from("raw").into_response().unwrap();
        assert_eq!(started.status(), None);
        assert!(started.into_wire().start.is_none());

        let ok: Result<&'static str, std::io::Error> = Ok("fine");
        assert_eq!(ok.into_response().unwrap().status(), Some(200));

        let failed: Result<Response, Error> = Err(Error::msg("fixture error"));
        assert_eq!(
            failed.into_response().unwrap_err().to_string(),
            "fixture error"
        );
    }
}
