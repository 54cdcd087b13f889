//! A port of Python's `wsgiref.validate`: a layer between the host and an
//! application that checks both sides of the WSGI contract (PEP 3333, and
//! `wit/wsgi.wit` where that is stricter) and fails the request at the first
//! violation.
//!
//! ```no_run
//! use wasm_gateway_sdk::{Environ, Response, validate};
//!
//! wasm_gateway_sdk::app!(validate::validated(handle));
//!
//! fn handle(_env: Environ) -> Response {
//!     Response::text("checked")
//! }
//! ```
//!
//! [`validated`] wraps either handler shape, `fn(Environ) -> R` or
//! `fn(Environ, StartResponse) -> R`, and is a [`Handler`] of the same shape,
//! so it goes wherever a handler goes. It is meant for development and
//! tests: it costs a copy of the environ as CGI variables and a check per
//! call, and it is strict (a response without `Content-Type`, which clients
//! tolerate, is a `500` under it). Handlers that are not wrapped pay nothing
//! for its existence beyond a flag test per `start_response` or `write`
//! call.
//!
//! # What happens on a violation
//!
//! As with wsgiref's `AssertionError`: the message, `wsgi validator: <what is
//! wrong>`, goes to `wsgi.errors` ([`log`]), and the request
//! fails. Before the status and headers have gone out the host answers
//! `500`; after, the body ends with an error and the host aborts the
//! response. Specifically:
//!
//! - a bad environ: the application is not called; the handler returns the
//!   violation as an [`Error`];
//! - a bad `start_response` call: it is not passed on to the host; the
//!   application gets a [`StartResponseError`] carrying the message
//!   (`invalid-status`, `invalid-header`, `hop-by-hop-header` or
//!   `already-started`, whichever fits best);
//! - once a violation has been found, the request stays failed whatever the
//!   application does with that error: further `start_response` calls are
//!   refused the same way, `write` fails with
//!   [`WriteError::Disconnected`] (the one error that tells an application
//!   to stop), the handler's result is replaced by the violation, and so is
//!   the next body chunk, so that nothing more reaches the client;
//! - a violation during WSGI's `close()` (the host dropping the body) can
//!   only be logged: the response is over by then.
//!
//! Warnings (wsgiref's `WSGIWarning`) are logged as `wsgi validator:
//! warning: ...` and do not fail the request.
//!
//! # The checks
//!
//! From `wsgiref.validate`, on the environ (the WIT record and its CGI view,
//! [`cgi_vars`]; operator-configured extra variables can override CGI
//! variables there, which is why the view is checked and not just the
//! typed record):
//!
//! - the required keys are present: `REQUEST_METHOD`, `SERVER_NAME`,
//!   `SERVER_PORT`, `wsgi.version`, `wsgi.input`, `wsgi.errors`,
//!   `wsgi.multithread`, `wsgi.multiprocess`, `wsgi.run_once`, and (PEP 3333
//!   also requires them) `SERVER_PROTOCOL` and `wsgi.url_scheme`;
//! - `HTTP_CONTENT_TYPE` and `HTTP_CONTENT_LENGTH` are absent;
//! - `wsgi.version` is `(1, 0)`; `wsgi.url_scheme` is `http` or `https`;
//! - `REQUEST_METHOD` is one wsgiref knows, or a warning is logged;
//! - `SCRIPT_NAME` and `PATH_INFO` are each empty or start with `/`, are not
//!   both empty, and `SCRIPT_NAME` is not `/`;
//! - `CONTENT_LENGTH`, when present and not empty, is a non-negative integer.
//!
//! Added from PEP 3333's text and the WIT contract:
//!
//! - `REQUEST_METHOD`, `SERVER_NAME`, `SERVER_PORT` and `SERVER_PROTOCOL`
//!   are never empty; `REQUEST_METHOD` is a token (RFC 9110);
//!   `SERVER_PORT` is a number; `SERVER_PROTOCOL` is `HTTP/<major>.<minor>`;
//!   `REMOTE_ADDR`, when present, is an IP address;
//! - in the record's raw header list, names are lower-case tokens and values
//!   hold no CR, LF or NUL.
//!
//! From `wsgiref.validate`, on what the application does:
//!
//! - the status is a three-digit code of at least 100, a single space and a
//!   reason phrase (wsgiref only warns about the part after the code; PEP
//!   3333 requires it, and adds "no surrounding whitespace"; control
//!   characters are refused too);
//! - header names are not `Status`, contain no `:`, CR or LF, start with a
//!   letter, hold only letters, digits, `-` and `_`, and do not end in `-`
//!   or `_` (which also makes them tokens);
//! - header values contain no control character (0x00 to 0x1F, tab
//!   included as in wsgiref, and DEL);
//! - `Content-Type` is present, except in `204` and `304` responses, where it
//!   must be absent (wsgiref's reading of RFC 2616). So a bare
//!   [`Response::new`] or a [`Response::redirect`], which set none, fail
//!   under the validator until given one;
//! - the body does not yield data before `start_response` has been called;
//! - the body is not pulled after it was closed.
//!
//! Added from PEP 3333's text and the WIT contract:
//!
//! - no hop-by-hop header (`Connection`, `Keep-Alive`, `Transfer-Encoding`,
//!   `TE`, `Trailer`/`Trailers`, `Upgrade`, `Proxy-Authenticate`,
//!   `Proxy-Authorization`), as wsgiref's server (not its validator) checks;
//! - `start_response` is called a second time only with `exc_info`;
//! - a body that ends without `start_response` ever being called;
//! - `write` or `start_response` after the body was closed (from an
//!   application's `Drop`, which runs during `close()`);
//! - the host's side of `start_response` and `write`: it refuses a second
//!   call without `exc_info` and a call with `exc_info` once data went out,
//!   and nothing else of that kind (a host that refuses a value as invalid
//!   may be stricter than this validator, which is not a violation);
//! - the host does not pull the body again after it ended or failed, nor
//!   closes it twice.
//!
//! # Checks that do not apply here, and why
//!
//! - The environ is a `dict` (not a subclass), CGI values are `str`,
//!   `wsgi.version` is a tuple, `exc_info` is a tuple, headers are a `list`
//!   of 2-tuples of `str`, the status is a `str`, `write` gets `bytes`, the
//!   body yields `bytes`, the application returns an iterable (not `None`),
//!   no keyword arguments, the right number of arguments: all guaranteed by
//!   the Rust types and the WIT signatures.
//! - `wsgi.input` has `read`, `readline`, `readlines` and `__iter__`, `read`
//!   gets one argument, and nobody calls `close`: [`Input`](crate::Input)
//!   has those methods (see its docs) and no `close`. `wsgi.errors` has
//!   `write`, `writelines` and `flush`, and nobody calls `close`: it is the
//!   [`log`] function, with nothing to flush or close. Nothing to
//!   intercept.
//! - The body is not a `str`/`bytes` (which would be sent byte by byte):
//!   a [`Body`] is chunked by construction.
//! - `QUERY_STRING` missing (a warning in wsgiref): [`cgi_vars`] always sets
//!   it.
//! - "The body is closed" (wsgiref complains when the iterator is garbage
//!   collected unclosed): the application's body is dropped, which is its
//!   `close()`, at the latest when the host drops the body resource;
//!   ownership guarantees it. A host that never drops the resource never
//!   hands control back to the guest, so that could not be reported from in
//!   here anyway; the end-to-end tests check the host instead. What can go
//!   wrong around `close()` (calls after it, a pull after it, a second
//!   close) is checked above.
//!
//! Not checked, as wsgiref does not either: that the body length matches a
//! `Content-Length` the application set (the host keeps the framing
//! right), the contents of `wsgi.input`, and the values of the `wsgi.*`
//! flags (PEP 3333 leaves them to the server).

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::rc::{Rc, Weak};

use crate::bindings::wasm_gateway::wsgi::types::Header;
use crate::server::{self, Write};
use crate::{
    Body, Environ, Error, Handler, IntoResponse, Response, StartResponse, StartResponseError,
    WitEnviron, WriteError, cgi_vars, log,
};

/// What every message of the validator starts with, as in wsgiref's.
const PREFIX: &str = "wsgi validator: ";

/// Request methods wsgiref knows; others get a warning.
const KNOWN_METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "OPTIONS", "PATCH", "PUT", "DELETE", "TRACE",
];

/// Environ keys PEP 3333 requires.
const REQUIRED_KEYS: [&str; 11] = [
    "REQUEST_METHOD",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "wsgi.version",
    "wsgi.url_scheme",
    "wsgi.input",
    "wsgi.errors",
    "wsgi.multithread",
    "wsgi.multiprocess",
    "wsgi.run_once",
];

/// Headers that belong to the connection, which PEP 3333 reserves to the
/// server. `trailers` is the spelling wsgiref checks, `trailer` the header's
/// real name.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// Wraps `handler` in the validator; see the [module docs](self).
///
/// ```no_run
/// use wasm_gateway_sdk::{Body, Environ, Error, StartResponse, validate};
///
/// wasm_gateway_sdk::app!(validate::validated(app));
///
/// fn app(_env: Environ, start_response: StartResponse) -> Result<Body, Error> {
///     start_response.call("200 OK", &[("Content-Type", "text/plain")])?;
///     Ok(Body::from("checked"))
/// }
/// ```
///
/// Wrapping twice validates once.
pub fn validated<H, Args>(handler: H) -> Validated<H, Args>
where
    H: Handler<Args>,
{
    Validated {
        handler,
        shape: PhantomData,
    }
}

/// A handler wrapped by [`validated`]. It has the shape of the handler it
/// wraps.
pub struct Validated<H, Args> {
    handler: H,
    /// The wrapped handler's shape, so that `Validated` implements the one
    /// `Handler<Args>` its handler does.
    shape: PhantomData<fn() -> Args>,
}

impl<H, Args> fmt::Debug for Validated<H, Args> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validated").finish_non_exhaustive()
    }
}

impl<H, Args> Handler<Args> for Validated<H, Args>
where
    H: Handler<Args>,
    Args: 'static,
{
    type Output = Result<Response, Error>;

    fn call(self, environ: Environ, start_response: StartResponse) -> Result<Response, Error> {
        if active().is_some() {
            // An outer `validated` is already watching this request; a
            // second checker would miss the events the first one takes.
            return self.handler.call(environ, start_response).into_response();
        }
        let vars = cgi_vars(environ.raw());
        for warning in warnings_in(&vars) {
            log(format!("{PREFIX}warning: {warning}"));
        }
        let checked =
            check_vars(&vars).and_then(|()| check_request_headers(&environ.raw().headers));
        if let Err(violation) = checked {
            report(&violation);
            return Err(violation.into());
        }

        let checker = Rc::new(RefCell::new(Checker::default()));
        ACTIVE.with(|active| *active.borrow_mut() = Rc::downgrade(&checker));
        let output = self
            .handler
            .call(environ, StartResponse::checked())
            .into_response();
        // A violation wins over whatever the application made of it: the
        // error it returned is most likely that violation, refused to it.
        if let Some(violation) = failure(&checker) {
            return Err(violation.into());
        }
        let wire = output?.into_wire();
        if let Some((status, headers)) = wire.start {
            // The SDK calls start_response on the application's behalf; the
            // call gets the same checks as one the application makes.
            if let Err(err) = start_checked(&status, headers, None) {
                return Err(match failure(&checker) {
                    Some(violation) => violation.into(),
                    None => Error::msg(crate::handler::refused_message(&status, &err)),
                });
            }
        }
        Ok(Response::started(Body::from_kept_iter(CheckedBody {
            inner: wire.body,
            checker,
        })))
    }
}

/// A broken rule of the WSGI contract, by the application or by the server.
///
/// Displays as `wsgi validator: <what is wrong>`. It converts into an
/// [`Error`] like any error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    kind: Kind,
    message: String,
}

/// Which rule a violation broke, for the error a refused `start_response`
/// call returns, and for [`Violation::by_server`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The environ the server gave.
    Environ,
    /// The status given to `start_response`.
    Status,
    /// A header given to `start_response`.
    Header,
    /// A hop-by-hop header given to `start_response`.
    HopByHop,
    /// The order of the application's calls.
    Sequence,
    /// The server's answers and the order of its calls.
    Server,
}

impl Violation {
    fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// What is wrong, without the `wsgi validator: ` prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the server (the host) broke the contract, rather than the
    /// application.
    pub fn by_server(&self) -> bool {
        matches!(self.kind, Kind::Environ | Kind::Server)
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.message)
    }
}

impl std::error::Error for Violation {}

/// Checks the environ the host gave: the CGI view ([`cgi_vars`]) as
/// `wsgiref.validate` does, and the record's raw header list. See the
/// [module docs](self) for the list.
pub fn check_environ(raw: &WitEnviron) -> Result<(), Violation> {
    check_vars(&cgi_vars(raw))?;
    check_request_headers(&raw.headers)
}

/// What wsgiref would warn about in the environ without failing: an
/// unknown `REQUEST_METHOD`.
pub fn environ_warnings(raw: &WitEnviron) -> Vec<String> {
    warnings_in(&cgi_vars(raw))
}

fn warnings_in(vars: &[(String, Vec<u8>)]) -> Vec<String> {
    match lookup(vars, "REQUEST_METHOD") {
        Some(method) if !KNOWN_METHODS.iter().any(|known| known.as_bytes() == method) => {
            vec![format!("unknown REQUEST_METHOD {}", show(method))]
        }
        _ => Vec::new(),
    }
}

/// Checks one `start_response(status, headers)` call on its own: the status
/// line, every header, and `Content-Type`. (Whether a call may come at all
/// depends on the calls before it; [`validated`] checks that too.)
///
/// ```
/// use wasm_gateway_sdk::validate::check_start_response;
///
/// assert!(check_start_response("200 OK", &[("Content-Type", b"text/plain")]).is_ok());
/// let err = check_start_response("200 OK", &[]).unwrap_err();
/// assert!(err.to_string().starts_with("wsgi validator: no Content-Type"));
/// ```
pub fn check_start_response(status: &str, headers: &[(&str, &[u8])]) -> Result<(), Violation> {
    let code = check_status(status)?;
    for (name, value) in headers {
        check_header(name, value)?;
    }
    check_content_type(code, headers)
}

/// [`check_start_response`] for the status and headers of `response`, e.g.
/// in a native unit test of a handler. A response made from a bare
/// [`Body`] (the handler called `start_response` itself) passes.
pub fn check_response(response: &Response) -> Result<(), Violation> {
    let Some(status) = response.status_line() else {
        return Ok(());
    };
    let headers: Vec<(&str, &[u8])> = response
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_slice()))
        .collect();
    check_start_response(&status, &headers)
}

fn environ_violation(message: String) -> Violation {
    Violation::new(Kind::Environ, message)
}

/// wsgiref's `check_environ`, on the CGI/WSGI variables.
fn check_vars(vars: &[(String, Vec<u8>)]) -> Result<(), Violation> {
    let fail = |message: String| Err(environ_violation(message));
    let get = |name: &str| lookup(vars, name);
    let get_or_empty = |name: &str| get(name).unwrap_or_default();

    for key in REQUIRED_KEYS {
        if get(key).is_none() {
            return fail(format!("the environ is missing the required key {key}"));
        }
    }
    for key in ["HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"] {
        if get(key).is_some() {
            return fail(format!(
                "the environ must not have {key} (the header goes in {})",
                &key[5..]
            ));
        }
    }
    let version = get_or_empty("wsgi.version");
    if version != b"(1, 0)" {
        return fail(format!("wsgi.version should be (1, 0): {}", show(version)));
    }
    let scheme = get_or_empty("wsgi.url_scheme");
    if scheme != b"http" && scheme != b"https" {
        return fail(format!("wsgi.url_scheme unknown: {}", show(scheme)));
    }
    for key in [
        "REQUEST_METHOD",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
    ] {
        if get_or_empty(key).is_empty() {
            return fail(format!("{key} must never be empty"));
        }
    }
    let method = get_or_empty("REQUEST_METHOD");
    if !is_token(method) {
        return fail(format!("REQUEST_METHOD is not a token: {}", show(method)));
    }
    let port = get_or_empty("SERVER_PORT");
    if !is_number(port) {
        return fail(format!("SERVER_PORT is not a number: {}", show(port)));
    }
    let protocol = get_or_empty("SERVER_PROTOCOL");
    if !is_http_version(protocol) {
        return fail(format!(
            "SERVER_PROTOCOL is not HTTP/<major>.<minor>: {}",
            show(protocol)
        ));
    }

    let script_name = get_or_empty("SCRIPT_NAME");
    let path_info = get_or_empty("PATH_INFO");
    for (key, value) in [("SCRIPT_NAME", script_name), ("PATH_INFO", path_info)] {
        if !value.is_empty() && !value.starts_with(b"/") {
            return fail(format!("{key} doesn't start with '/': {}", show(value)));
        }
    }
    if script_name.is_empty() && path_info.is_empty() {
        return fail(
            "SCRIPT_NAME and PATH_INFO are both empty (PATH_INFO should be at least '/' \
             when SCRIPT_NAME is empty)"
                .to_owned(),
        );
    }
    if script_name == b"/" {
        return fail(
            "SCRIPT_NAME cannot be '/'; it should be '' and PATH_INFO should start with '/'"
                .to_owned(),
        );
    }

    // Empty counts as absent, as in wsgiref (and CGI).
    if let Some(length) = get("CONTENT_LENGTH")
        && !length.is_empty()
        && !is_number(length)
    {
        return fail(format!(
            "CONTENT_LENGTH is not a non-negative integer: {}",
            show(length)
        ));
    }
    if let Some(addr) = get("REMOTE_ADDR")
        && std::str::from_utf8(addr)
            .ok()
            .and_then(|addr| addr.parse::<IpAddr>().ok())
            .is_none()
    {
        return fail(format!("REMOTE_ADDR is not an IP address: {}", show(addr)));
    }
    Ok(())
}

/// The WIT contract on the raw request headers, which the CGI view no
/// longer shows as sent.
fn check_request_headers(headers: &[crate::WitHeader]) -> Result<(), Violation> {
    for header in headers {
        let name = &header.name;
        if !is_token(name.as_bytes()) {
            return Err(environ_violation(format!(
                "request header name {name:?} is not a token"
            )));
        }
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(environ_violation(format!(
                "request header name {name:?} is not lower case"
            )));
        }
        if header.value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(environ_violation(format!(
                "request header {name} has CR, LF or NUL in its value {}",
                show(&header.value)
            )));
        }
    }
    Ok(())
}

/// The status line's code, if the line is well formed.
fn check_status(status: &str) -> Result<u16, Violation> {
    let fail = |message: String| Err(Violation::new(Kind::Status, message));
    let bytes = status.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits != 3 {
        return fail(format!(
            "the status must start with a three-digit code: {status:?}"
        ));
    }
    let code: u16 = status[..3].parse().unwrap_or_default();
    if code < 100 {
        return fail(format!("status code {code} is invalid (below 100)"));
    }
    let Some(reason) = status[3..].strip_prefix(' ') else {
        return fail(format!(
            "the status {status:?} should be a three-digit code followed by a single space \
             and a reason phrase"
        ));
    };
    if reason.is_empty() {
        return fail(format!("the status {status:?} has no reason phrase"));
    }
    if reason.starts_with(char::is_whitespace) || reason.ends_with(char::is_whitespace) {
        return fail(format!(
            "the status {status:?} has whitespace around its reason phrase"
        ));
    }
    if let Some(c) = reason.chars().find(|c| c.is_control()) {
        return fail(format!(
            "the status {status:?} contains the control character {c:?}"
        ));
    }
    Ok(code)
}

/// wsgiref's `check_headers` for one header, and PEP 3333's hop-by-hop
/// rule.
fn check_header(name: &str, value: &[u8]) -> Result<(), Violation> {
    let fail = |message: String| Err(Violation::new(Kind::Header, message));
    if name.eq_ignore_ascii_case("status") {
        return fail(format!(
            "the {name} header cannot be used: it means something to CGI, and WSGI takes \
             the status from start_response (value: {})",
            show(value)
        ));
    }
    if name.contains([':', '\r', '\n']) {
        return fail(format!(
            "header names may not contain ':', CR or LF: {name:?}"
        ));
    }
    if !is_token(name.as_bytes()) {
        return fail(format!("header name {name:?} is not a token"));
    }
    let mut chars = name.chars();
    let wsgiref_shape = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !wsgiref_shape {
        return fail(format!(
            "bad header name {name:?}: it must start with a letter and hold only letters, \
             digits, '-' and '_'"
        ));
    }
    if name.ends_with(['-', '_']) {
        return fail(format!("header names may not end in '-' or '_': {name:?}"));
    }
    if HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop)) {
        return Err(Violation::new(
            Kind::HopByHop,
            format!("{name} is a hop-by-hop header, which PEP 3333 reserves to the server"),
        ));
    }
    if let Some(&bad) = value.iter().find(|&&b| b < 0x20 || b == 0x7f) {
        return fail(format!(
            "bad header value {} for {name}: control character {:?}",
            show(value),
            char::from(bad)
        ));
    }
    Ok(())
}

/// wsgiref's `check_content_type`.
fn check_content_type(code: u16, headers: &[(&str, &[u8])]) -> Result<(), Violation> {
    let has_content_type = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    let without_content = matches!(code, 204 | 304);
    match (without_content, has_content_type) {
        (true, true) => Err(Violation::new(
            Kind::Header,
            format!("Content-Type header found in a {code} response, which must not have content"),
        )),
        (false, false) => Err(Violation::new(
            Kind::Header,
            format!("no Content-Type header in a {code} response (WSGI has no default type)"),
        )),
        _ => Ok(()),
    }
}

/// A value for a message: text as a quoted string, bytes escaped.
fn show(value: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(value))
}

fn lookup<'a>(vars: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    vars.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_slice())
}

/// A token (RFC 9110 section 5.6.2): one or more `tchar`s.
fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_number(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit)
}

/// `HTTP/` followed by `<digits>.<digits>`.
fn is_http_version(bytes: &[u8]) -> bool {
    bytes
        .strip_prefix(b"HTTP/")
        .and_then(|version| {
            let dot = version.iter().position(|&b| b == b'.')?;
            Some(is_number(&version[..dot]) && is_number(&version[dot + 1..]))
        })
        .unwrap_or(false)
}

/// The rules on the order of events in one request, as a state machine fed
/// by the hooks below; pure, so that every rule is tested natively. Each
/// method returns the violation the event commits, if any, and remembers
/// the first one: from then on the request is failed.
#[derive(Debug, Default)]
pub(crate) struct Checker {
    /// The host accepted a `start_response` call.
    started: bool,
    /// Body data went out (a non-empty chunk or write), and with it the
    /// status and headers.
    output: bool,
    /// The body returned its end or an error: the host must stop pulling.
    ended: bool,
    /// The host dropped the body (WSGI's `close()`).
    closed: bool,
    /// The first violation.
    failure: Option<Violation>,
}

impl Checker {
    fn fail(&mut self, kind: Kind, message: &str) -> Result<(), Violation> {
        let violation = Violation::new(kind, message);
        self.failure.get_or_insert_with(|| violation.clone());
        Err(violation)
    }

    /// The first violation, if any.
    pub(crate) fn failure(&self) -> Option<&Violation> {
        self.failure.as_ref()
    }

    /// The application calls `start_response`; before the host sees it.
    pub(crate) fn start_response(
        &mut self,
        status: &str,
        headers: &[(&str, &[u8])],
        exc_info: Option<&str>,
    ) -> Result<(), Violation> {
        if self.closed {
            return self.fail(
                Kind::Sequence,
                "start_response() called after the body was closed",
            );
        }
        if self.started && exc_info.is_none() {
            return self.fail(
                Kind::Sequence,
                "start_response() called a second time without exc_info",
            );
        }
        check_start_response(status, headers).inspect_err(|violation| {
            self.failure.get_or_insert_with(|| violation.clone());
        })
    }

    /// The host answered a `start_response` call the validator let through.
    pub(crate) fn start_answered(
        &mut self,
        exc_info: bool,
        answer: &Result<(), StartResponseError>,
    ) -> Result<(), Violation> {
        match answer {
            Ok(()) if exc_info && self.output => self.fail(
                Kind::Server,
                "the server accepted start_response() with exc_info after the headers were \
                 sent (PEP 3333: it must raise)",
            ),
            Ok(()) => {
                self.started = true;
                Ok(())
            }
            Err(StartResponseError::AlreadyStarted) if exc_info || !self.started => self.fail(
                Kind::Server,
                "the server refused start_response() as already-started, but it was the \
                 first call or came with exc_info",
            ),
            Err(StartResponseError::HeadersSent) if !exc_info || !self.output => self.fail(
                Kind::Server,
                "the server refused start_response() as headers-sent, but no exc_info was \
                 given or no body data had gone out",
            ),
            // A host may be stricter about values than this validator.
            Err(_) => Ok(()),
        }
    }

    /// The application calls `write` with `len` bytes; before the host
    /// sees it.
    pub(crate) fn write(&mut self, len: usize) -> Result<(), Violation> {
        if self.closed {
            return self.fail(Kind::Sequence, "write() called after the body was closed");
        }
        if !self.started {
            return self.fail(Kind::Sequence, "write() called before start_response()");
        }
        self.output |= len > 0;
        Ok(())
    }

    /// The host answered a `write` call.
    pub(crate) fn write_answered(
        &mut self,
        answer: &Result<(), WriteError>,
    ) -> Result<(), Violation> {
        if matches!(answer, Err(WriteError::NotStarted)) {
            return self.fail(
                Kind::Server,
                "the server refused write() as not-started after start_response() succeeded",
            );
        }
        Ok(())
    }

    /// The host asks for the next body chunk.
    pub(crate) fn pull(&mut self) -> Result<(), Violation> {
        if self.closed {
            return self.fail(Kind::Server, "the server pulled the body after closing it");
        }
        if self.ended {
            return self.fail(
                Kind::Server,
                "the server pulled the body again after it ended",
            );
        }
        Ok(())
    }

    /// The body yielded a chunk of `len` bytes.
    pub(crate) fn chunk(&mut self, len: usize) -> Result<(), Violation> {
        if len == 0 {
            // PEP 3333 and the WIT only order the first *non-empty* chunk.
            return Ok(());
        }
        if !self.started {
            return self.fail(
                Kind::Sequence,
                "the body yielded data before start_response() was called",
            );
        }
        self.output = true;
        Ok(())
    }

    /// The body ended.
    pub(crate) fn end(&mut self) -> Result<(), Violation> {
        self.ended = true;
        if !self.started {
            return self.fail(
                Kind::Sequence,
                "the body ended and start_response() was never called",
            );
        }
        Ok(())
    }

    /// The body failed (or is made to fail); the host stops pulling.
    pub(crate) fn body_failed(&mut self) {
        self.ended = true;
    }

    /// The host dropped the body: WSGI's `close()`.
    pub(crate) fn close(&mut self) -> Result<(), Violation> {
        if self.closed {
            return self.fail(Kind::Server, "the server closed the body twice");
        }
        self.closed = true;
        Ok(())
    }
}

thread_local! {
    /// The checker of the request being validated. Weak, because the body
    /// owns it: once the host has dropped the body, nothing is watched.
    static ACTIVE: RefCell<Weak<RefCell<Checker>>> = const { RefCell::new(Weak::new()) };
}

fn active() -> Option<Rc<RefCell<Checker>>> {
    ACTIVE.with(|active| active.borrow().upgrade())
}

fn failure(checker: &RefCell<Checker>) -> Option<Violation> {
    checker.borrow().failure().cloned()
}

fn report(violation: &Violation) {
    log(violation.to_string());
}

/// The error a refused `start_response` call returns to the application.
fn refusal(violation: &Violation) -> StartResponseError {
    let message = violation.to_string();
    match violation.kind {
        Kind::Status => StartResponseError::InvalidStatus(message),
        Kind::Header => StartResponseError::InvalidHeader(message),
        Kind::HopByHop => StartResponseError::HopByHopHeader(message),
        Kind::Sequence | Kind::Server | Kind::Environ => StartResponseError::AlreadyStarted,
    }
}

/// `start_response` from a validated application (through its
/// [`StartResponse`]) or from the SDK on its behalf.
pub(crate) fn start_checked(
    status: &str,
    headers: Vec<Header>,
    exc_info: Option<&str>,
) -> Result<Write, StartResponseError> {
    let Some(checker) = active() else {
        // The request it was validating is over; nothing to check against.
        return server::start(status, headers, exc_info);
    };
    let verdict = {
        let mut checker = checker.borrow_mut();
        if let Some(earlier) = checker.failure() {
            // Already reported; the request stays failed.
            return Err(refusal(earlier));
        }
        let pairs: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|header| (header.name.as_str(), header.value.as_slice()))
            .collect();
        checker.start_response(status, &pairs, exc_info)
    };
    if let Err(violation) = verdict {
        report(&violation);
        return Err(refusal(&violation));
    }
    let answer = server::start_on_host(status, &headers, exc_info);
    let verdict = checker
        .borrow_mut()
        .start_answered(exc_info.is_some(), &answer);
    if let Err(violation) = verdict {
        report(&violation);
    }
    answer.map(|()| Write::checked())
}

/// `write` from a validated application.
pub(crate) fn write_checked(data: &[u8]) -> Result<(), WriteError> {
    let Some(checker) = active() else {
        return server::write_on_host(data);
    };
    let verdict = {
        let mut checker = checker.borrow_mut();
        if checker.failure().is_some() {
            return Err(WriteError::Disconnected);
        }
        checker.write(data.len())
    };
    if let Err(violation) = verdict {
        report(&violation);
        return Err(WriteError::Disconnected);
    }
    let answer = server::write_on_host(data);
    let verdict = checker.borrow_mut().write_answered(&answer);
    if let Err(violation) = verdict {
        report(&violation);
    }
    answer
}

/// The validated body: the application's [`Body`], watched. It owns the
/// checker, and dropping it (the host's `close()`) ends the validation.
struct CheckedBody {
    inner: Body,
    checker: Rc<RefCell<Checker>>,
}

impl CheckedBody {
    /// Fails the body with the request's violation, if there is one.
    fn failed(&self) -> Option<Result<Vec<u8>, Error>> {
        let violation = failure(&self.checker)?;
        self.checker.borrow_mut().body_failed();
        Some(Err(violation.into()))
    }
}

impl Iterator for CheckedBody {
    type Item = Result<Vec<u8>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let pull = self.checker.borrow_mut().pull();
        if let Err(violation) = pull {
            report(&violation);
            return None;
        }
        // A violation found since the last chunk (in a write, or in the
        // handler) fails the body before anything more goes out.
        if let Some(failed) = self.failed() {
            return Some(failed);
        }
        let item = self.inner.next();
        let verdict = {
            let mut checker = self.checker.borrow_mut();
            match &item {
                Some(Ok(chunk)) => checker.chunk(chunk.len()),
                Some(Err(_)) => {
                    checker.body_failed();
                    Ok(())
                }
                None => checker.end(),
            }
        };
        if let Err(violation) = verdict {
            report(&violation);
        }
        // Producing the chunk may have broken a rule too (a refused
        // start_response inside the iterator): then the chunk is dropped.
        self.failed().or(item)
    }
}

impl Drop for CheckedBody {
    fn drop(&mut self) {
        let closed = self.checker.borrow_mut().close();
        if let Err(violation) = closed {
            report(&violation);
        }
        // The application's own close() runs now, while the checker is
        // still reachable, so that what it does is checked as done after
        // close().
        drop(std::mem::take(&mut self.inner));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environ::tests::raw;
    use crate::server::fake_host::{self, FakeHost};
    use crate::{StartResponseError, WitHeader};

    // ---- the environ ----

    fn vars(raw: &WitEnviron) -> Vec<(String, Vec<u8>)> {
        cgi_vars(raw)
    }

    fn set(vars: &mut Vec<(String, Vec<u8>)>, name: &str, value: &[u8]) {
        vars.retain(|(key, _)| key != name);
        vars.push((name.to_owned(), value.to_vec()));
    }

    fn remove(vars: &mut Vec<(String, Vec<u8>)>, name: &str) {
        vars.retain(|(key, _)| key != name);
    }

    /// The message of the violation `vars` commits.
    fn vars_violation(vars: &[(String, Vec<u8>)]) -> String {
        let violation = check_vars(vars).unwrap_err();
        assert!(violation.by_server());
        violation.message().to_owned()
    }

    #[test]
    fn a_good_environ_passes() {
        let mut raw = raw("POST", "/submit");
        raw.content_length = Some(3);
        raw.content_type = Some(b"text/plain".to_vec());
        raw.headers = vec![WitHeader {
            name: "x-forwarded-for".to_owned(),
            value: b"10.0.0.1".to_vec(),
        }];
        assert_eq!(check_environ(&raw), Ok(()));
        assert!(environ_warnings(&raw).is_empty());

        let mut mounted = crate::environ::tests::raw("GET", "");
        mounted.script_name = b"/app".to_vec();
        mounted.remote_addr = "::1".to_owned();
        mounted.url_scheme = "https".to_owned();
        assert_eq!(check_environ(&mounted), Ok(()));
    }

    #[test]
    fn required_keys() {
        for key in REQUIRED_KEYS {
            let mut vars = vars(&raw("GET", "/"));
            remove(&mut vars, key);
            assert_eq!(
                vars_violation(&vars),
                format!("the environ is missing the required key {key}")
            );
        }
    }

    #[test]
    fn no_http_content_variables() {
        for key in ["HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"] {
            let mut raw = raw("GET", "/");
            // Only an operator's extra variable can bring these in.
            raw.extra = vec![(key.to_owned(), "1".to_owned())];
            let violation = check_environ(&raw).unwrap_err();
            assert!(violation.message().contains(key), "{violation}");
        }
    }

    #[test]
    fn wsgi_version_and_url_scheme() {
        let mut vars = vars(&raw("GET", "/"));
        set(&mut vars, "wsgi.version", b"(2, 0)");
        assert!(vars_violation(&vars).starts_with("wsgi.version"));

        let mut raw = raw("GET", "/");
        raw.url_scheme = "ftp".to_owned();
        assert_eq!(
            check_environ(&raw).unwrap_err().message(),
            "wsgi.url_scheme unknown: \"ftp\""
        );
    }

    #[test]
    fn request_method() {
        let mut raw = raw("GET", "/");
        raw.request_method = "BAD METHOD".to_owned();
        assert!(
            check_environ(&raw)
                .unwrap_err()
                .message()
                .starts_with("REQUEST_METHOD is not a token")
        );
        raw.request_method = String::new();
        assert_eq!(
            check_environ(&raw).unwrap_err().message(),
            "REQUEST_METHOD must never be empty"
        );

        // Unknown but well formed: a warning, not a violation.
        raw.request_method = "PROPFIND".to_owned();
        assert_eq!(check_environ(&raw), Ok(()));
        assert_eq!(
            environ_warnings(&raw),
            ["unknown REQUEST_METHOD \"PROPFIND\""]
        );
    }

    #[test]
    fn server_variables() {
        let mut raw = raw("GET", "/");
        raw.server_name = String::new();
        assert_eq!(
            check_environ(&raw).unwrap_err().message(),
            "SERVER_NAME must never be empty"
        );

        let mut vars = vars(&crate::environ::tests::raw("GET", "/"));
        set(&mut vars, "SERVER_PORT", b"http");
        assert!(vars_violation(&vars).starts_with("SERVER_PORT is not a number"));

        for protocol in ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0"] {
            let mut raw = crate::environ::tests::raw("GET", "/");
            raw.server_protocol = protocol.to_owned();
            assert_eq!(check_environ(&raw), Ok(()), "{protocol}");
        }
        for protocol in ["HTTP/1", "http/1.1", "HTTP/1.x", "SPDY"] {
            let mut raw = crate::environ::tests::raw("GET", "/");
            raw.server_protocol = protocol.to_owned();
            assert!(
                check_environ(&raw)
                    .unwrap_err()
                    .message()
                    .starts_with("SERVER_PROTOCOL is not"),
                "{protocol}"
            );
        }

        let mut raw = crate::environ::tests::raw("GET", "/");
        raw.remote_addr = "localhost".to_owned();
        assert!(
            check_environ(&raw)
                .unwrap_err()
                .message()
                .starts_with("REMOTE_ADDR is not an IP address")
        );
    }

    #[test]
    fn script_name_and_path_info() {
        let check = |script: &str, path: &str| {
            let mut raw = raw("GET", path);
            raw.script_name = script.as_bytes().to_vec();
            check_environ(&raw).map_err(|v| v.message().to_owned())
        };
        assert_eq!(check("", "/"), Ok(()));
        assert_eq!(check("/app", ""), Ok(()));
        assert_eq!(check("/app", "/x"), Ok(()));
        assert_eq!(
            check("app", "/x"),
            Err("SCRIPT_NAME doesn't start with '/': \"app\"".to_owned())
        );
        assert_eq!(
            check("", "x"),
            Err("PATH_INFO doesn't start with '/': \"x\"".to_owned())
        );
        assert!(check("", "").unwrap_err().contains("both empty"));
        assert!(
            check("/", "")
                .unwrap_err()
                .starts_with("SCRIPT_NAME cannot be '/'")
        );

        // An operator's extra variable overriding SCRIPT_NAME is checked too.
        let mut raw = raw("GET", "/x");
        raw.extra = vec![("SCRIPT_NAME".to_owned(), "/".to_owned())];
        assert!(check_environ(&raw).is_err());
    }

    #[test]
    fn content_length() {
        let mut raw = raw("POST", "/");
        raw.content_length = Some(0);
        assert_eq!(check_environ(&raw), Ok(()));

        let mut vars = vars(&raw);
        set(&mut vars, "CONTENT_LENGTH", b"-1");
        assert_eq!(
            vars_violation(&vars),
            "CONTENT_LENGTH is not a non-negative integer: \"-1\""
        );
        set(&mut vars, "CONTENT_LENGTH", b"");
        assert_eq!(check_vars(&vars), Ok(()), "empty counts as absent");
    }

    #[test]
    fn raw_request_headers() {
        let check = |name: &str, value: &[u8]| {
            let mut raw = raw("GET", "/");
            raw.headers = vec![WitHeader {
                name: name.to_owned(),
                value: value.to_vec(),
            }];
            check_environ(&raw).map_err(|v| v.message().to_owned())
        };
        assert_eq!(check("x-ok", b"any \xff bytes\t"), Ok(()));
        assert!(
            check("bad name", b"")
                .unwrap_err()
                .contains("is not a token")
        );
        assert!(check("", b"").unwrap_err().contains("is not a token"));
        assert!(
            check("X-Upper", b"")
                .unwrap_err()
                .contains("not lower case")
        );
        for value in [&b"a\rb"[..], b"a\nb", b"a\0b"] {
            assert!(check("x-bad", value).unwrap_err().contains("CR, LF or NUL"));
        }
    }

    // ---- start_response's arguments ----

    fn start_violation(status: &str, headers: &[(&str, &[u8])]) -> Violation {
        let violation = check_start_response(status, headers).unwrap_err();
        assert!(!violation.by_server());
        violation
    }

    const TEXT: (&str, &[u8]) = ("Content-Type", b"text/plain");

    #[test]
    fn good_statuses_pass() {
        for status in [
            "200 OK",
            "100 Continue",
            "404 Not Found",
            "599 Network Error",
            "999 X",
        ] {
            assert_eq!(check_start_response(status, &[TEXT]), Ok(()), "{status}");
        }
    }

    #[test]
    fn bad_statuses() {
        for status in ["", "OK", "20 OK", "2000 OK", " 200 OK", "abc"] {
            let violation = start_violation(status, &[TEXT]);
            assert!(
                violation.message().contains("three-digit code"),
                "{status:?}: {violation}"
            );
            assert!(matches!(
                refusal(&violation),
                StartResponseError::InvalidStatus(_)
            ));
        }
        assert_eq!(
            start_violation("099 Low", &[TEXT]).message(),
            "status code 99 is invalid (below 100)"
        );
        for status in ["200", "200OK", "200\tOK", "200  OK"] {
            let message = start_violation(status, &[TEXT]).to_string();
            assert!(
                message.contains("single space") || message.contains("whitespace"),
                "{status:?}: {message}"
            );
        }
        assert!(
            start_violation("200 ", &[TEXT])
                .message()
                .contains("no reason phrase")
        );
        assert!(
            start_violation("200 OK ", &[TEXT])
                .message()
                .contains("whitespace")
        );
        assert!(
            start_violation("200 O\r\nK", &[TEXT])
                .message()
                .contains("control character")
        );
    }

    #[test]
    fn bad_header_names() {
        let cases: [(&str, &str); 8] = [
            ("Status", "cannot be used"),
            ("status", "cannot be used"),
            ("X:Y", "may not contain ':'"),
            ("X\r\nY", "may not contain ':'"),
            ("Bad Name", "is not a token"),
            ("", "is not a token"),
            ("X.Dotted", "must start with a letter"),
            ("1Header", "must start with a letter"),
        ];
        for (name, expect) in cases {
            let violation = start_violation("200 OK", &[TEXT, (name, b"v")]);
            assert!(
                violation.message().contains(expect),
                "{name:?}: {violation}"
            );
            assert!(matches!(
                refusal(&violation),
                StartResponseError::InvalidHeader(_)
            ));
        }
        for name in ["X-Trailing-", "X_Trailing_"] {
            assert!(
                start_violation("200 OK", &[TEXT, (name, b"v")])
                    .message()
                    .contains("may not end in")
            );
        }
        assert_eq!(
            check_start_response("200 OK", &[TEXT, ("X_Under-score9", b"v")]),
            Ok(())
        );
    }

    #[test]
    fn hop_by_hop_headers() {
        for name in [
            "Connection",
            "keep-alive",
            "TE",
            "Trailer",
            "Transfer-Encoding",
            "Upgrade",
        ] {
            let violation = start_violation("200 OK", &[TEXT, (name, b"x")]);
            assert!(violation.message().contains("hop-by-hop"), "{name}");
            assert!(matches!(
                refusal(&violation),
                StartResponseError::HopByHopHeader(_)
            ));
        }
    }

    #[test]
    fn bad_header_values() {
        for value in [
            &b"a\r\nb"[..],
            b"a\nb",
            b"a\0b",
            b"a\tb",
            b"a\x7fb",
            b"\x1b[31m",
        ] {
            let violation = start_violation("200 OK", &[TEXT, ("X-Value", value)]);
            assert!(
                violation.message().contains("control character"),
                "{value:?}: {violation}"
            );
        }
        // Bytes beyond ASCII are fine (latin-1, as PEP 3333 has it).
        assert_eq!(
            check_start_response("200 OK", &[TEXT, ("X-Value", b"caf\xe9 ok")]),
            Ok(())
        );
    }

    #[test]
    fn content_type_rules() {
        assert!(
            start_violation("200 OK", &[("Content-Length", b"0")])
                .message()
                .starts_with("no Content-Type header in a 200 response")
        );
        assert!(
            start_violation("302 Found", &[("Location", b"/")])
                .message()
                .contains("no Content-Type")
        );
        assert_eq!(
            check_start_response("200 OK", &[("content-type", b"text/html")]),
            Ok(())
        );
        for status in ["204 No Content", "304 Not Modified"] {
            assert_eq!(check_start_response(status, &[]), Ok(()), "{status}");
            assert!(
                start_violation(status, &[TEXT])
                    .message()
                    .starts_with("Content-Type header found in a"),
                "{status}"
            );
        }
    }

    #[test]
    fn check_response_checks_what_would_be_sent() {
        assert_eq!(check_response(&Response::text("hi")), Ok(()));
        assert_eq!(check_response(&Response::new(204)), Ok(()));
        let started = Body::from("x").into_response().unwrap();
        assert_eq!(check_response(&started), Ok(()));
        assert!(check_response(&Response::ok().body("no type")).is_err());
        assert!(check_response(&Response::text("x").header("Connection", "close")).is_err());
    }

    // ---- the state machine ----

    fn started() -> Checker {
        let mut checker = Checker::default();
        checker.start_response("200 OK", &[TEXT], None).unwrap();
        checker.start_answered(false, &Ok(())).unwrap();
        checker
    }

    fn message(result: Result<(), Violation>) -> String {
        result.unwrap_err().message().to_owned()
    }

    #[test]
    fn a_good_sequence_passes() {
        let mut checker = Checker::default();
        checker.pull().unwrap();
        checker.chunk(0).unwrap(); // empty chunks may come before start_response
        checker.pull().unwrap();
        checker.start_response("200 OK", &[TEXT], None).unwrap();
        checker.start_answered(false, &Ok(())).unwrap();
        checker.write(3).unwrap();
        checker.write_answered(&Ok(())).unwrap();
        checker.chunk(5).unwrap();
        checker.pull().unwrap();
        checker.end().unwrap();
        checker.close().unwrap();
        assert_eq!(checker.failure(), None);
    }

    #[test]
    fn start_response_twice_needs_exc_info() {
        let mut checker = started();
        assert_eq!(
            message(checker.start_response("500 Oops", &[TEXT], None)),
            "start_response() called a second time without exc_info"
        );

        let mut checker = started();
        checker
            .start_response("500 Oops", &[TEXT], Some("boom"))
            .unwrap();
        checker.start_answered(true, &Ok(())).unwrap();
        assert_eq!(checker.failure(), None);
    }

    #[test]
    fn a_refused_first_call_does_not_count_as_started() {
        let mut checker = Checker::default();
        checker
            .start_response("200 OK", &[TEXT, ("Content-Length", b"abc")], None)
            .unwrap();
        let refused = Err(StartResponseError::InvalidHeader("Content-Length".into()));
        checker.start_answered(false, &refused).unwrap();
        checker.start_response("200 OK", &[TEXT], None).unwrap();
        checker.start_answered(false, &Ok(())).unwrap();
        assert_eq!(checker.failure(), None);
    }

    #[test]
    fn data_before_start_response() {
        let mut checker = Checker::default();
        assert_eq!(
            message(checker.chunk(1)),
            "the body yielded data before start_response() was called"
        );
        let mut checker = Checker::default();
        assert_eq!(
            message(checker.write(1)),
            "write() called before start_response()"
        );
    }

    #[test]
    fn a_body_that_ends_without_start_response() {
        let mut checker = Checker::default();
        checker.chunk(0).unwrap();
        assert_eq!(
            message(checker.end()),
            "the body ended and start_response() was never called"
        );
    }

    #[test]
    fn nothing_after_close() {
        let mut checker = started();
        checker.close().unwrap();
        assert_eq!(
            message(checker.write(1)),
            "write() called after the body was closed"
        );
        assert_eq!(
            message(checker.start_response("500 X", &[TEXT], Some("late"))),
            "start_response() called after the body was closed"
        );
        assert_eq!(
            message(checker.pull()),
            "the server pulled the body after closing it"
        );
        assert_eq!(message(checker.close()), "the server closed the body twice");
        // The first violation is the one the request fails with.
        assert_eq!(
            checker.failure().unwrap().message(),
            "write() called after the body was closed"
        );
    }

    #[test]
    fn the_server_must_not_pull_after_the_end() {
        let mut checker = started();
        checker.end().unwrap();
        let violation = checker.pull().unwrap_err();
        assert!(violation.by_server());
        assert_eq!(
            violation.message(),
            "the server pulled the body again after it ended"
        );

        let mut checker = started();
        checker.body_failed();
        assert!(checker.pull().is_err());
    }

    #[test]
    fn the_servers_answers_to_start_response() {
        // exc_info once data went out: the server must refuse...
        let mut checker = started();
        checker.chunk(1).unwrap();
        checker
            .start_response("500 X", &[TEXT], Some("boom"))
            .unwrap();
        checker
            .start_answered(true, &Err(StartResponseError::HeadersSent))
            .unwrap();
        // ...and accepting is a violation.
        let violation = checker.start_answered(true, &Ok(())).unwrap_err();
        assert!(violation.by_server());
        assert!(
            violation
                .message()
                .contains("accepted start_response() with exc_info")
        );

        // already-started for a first call, or one with exc_info.
        let mut checker = Checker::default();
        assert!(
            checker
                .start_answered(false, &Err(StartResponseError::AlreadyStarted))
                .is_err()
        );
        let mut checker = started();
        assert!(
            checker
                .start_answered(true, &Err(StartResponseError::AlreadyStarted))
                .is_err()
        );

        // headers-sent before anything went out, or without exc_info.
        let mut checker = started();
        assert!(
            checker
                .start_answered(true, &Err(StartResponseError::HeadersSent))
                .is_err()
        );
        let mut checker = started();
        checker.chunk(1).unwrap();
        assert!(
            checker
                .start_answered(false, &Err(StartResponseError::HeadersSent))
                .is_err()
        );

        // A host stricter about values is no violation.
        let mut checker = Checker::default();
        let stricter = Err(StartResponseError::InvalidHeader("x".into()));
        assert_eq!(checker.start_answered(false, &stricter), Ok(()));
    }

    #[test]
    fn the_servers_answers_to_write() {
        let mut checker = started();
        checker.write(1).unwrap();
        assert!(
            checker
                .write_answered(&Err(WriteError::Disconnected))
                .is_ok()
        );
        let violation = checker
            .write_answered(&Err(WriteError::NotStarted))
            .unwrap_err();
        assert!(violation.by_server());
    }

    // ---- the whole layer, natively, against the fake host ----

    /// What a validated request came to, pulled the way the host pulls:
    /// until the end or an error, then the body is dropped.
    #[derive(Debug)]
    struct Outcome {
        /// The handler's error, when it failed (the host answers 500).
        error: Option<String>,
        /// Chunks the body yielded, and the error that ended it, if any.
        chunks: Vec<Vec<u8>>,
        body_error: Option<String>,
        host: FakeHost,
    }

    impl Outcome {
        fn body(&self) -> Vec<u8> {
            let mut body = self.host.written.clone();
            body.extend(self.chunks.concat());
            body
        }

        fn validator_logs(&self) -> Vec<&str> {
            self.host
                .logs
                .iter()
                .map(String::as_str)
                .filter(|line| line.starts_with(PREFIX))
                .collect()
        }
    }

    fn run<H, Args>(raw: WitEnviron, handler: H) -> Outcome
    where
        H: Handler<Args>,
        Args: 'static,
    {
        fake_host::reset();
        let result = Handler::call(
            validated(handler),
            Environ::with_body(raw, b"request body".to_vec()),
            StartResponse::new(),
        )
        .into_response();
        let mut outcome = Outcome {
            error: None,
            chunks: Vec::new(),
            body_error: None,
            host: FakeHost::default(),
        };
        match result {
            Err(err) => outcome.error = Some(format!("{err:#}")),
            Ok(response) => {
                let wire = response.into_wire();
                assert!(
                    wire.start.is_none(),
                    "the validator starts the response itself"
                );
                let mut body = wire.body;
                loop {
                    match body.next() {
                        Some(Ok(chunk)) => {
                            if !chunk.is_empty() {
                                fake_host::with(|host| host.headers_sent = true);
                            }
                            outcome.chunks.push(chunk);
                        }
                        Some(Err(err)) => {
                            outcome.body_error = Some(format!("{err:#}"));
                            break;
                        }
                        None => break,
                    }
                }
                drop(body);
            }
        }
        outcome.host = fake_host::with(std::mem::take);
        assert!(active().is_none(), "nothing is watched after the request");
        outcome
    }

    fn get() -> WitEnviron {
        raw("GET", "/")
    }

    fn wsgi_ok(_env: Environ, start_response: StartResponse) -> Result<Body, Error> {
        start_response.call("200 OK", &[("Content-Type", "text/plain")])?;
        Ok(Body::from("hello"))
    }

    #[test]
    fn a_good_wsgi_app_passes_untouched() {
        let outcome = run(get(), wsgi_ok);
        assert_eq!(outcome.error, None);
        assert_eq!(outcome.body_error, None);
        assert_eq!(outcome.body(), b"hello");
        assert_eq!(outcome.host.starts.len(), 1);
        assert_eq!(outcome.host.starts[0].status, "200 OK");
        assert!(outcome.host.logs.is_empty(), "{:?}", outcome.host.logs);
    }

    #[test]
    fn a_good_response_app_passes_with_its_content_length() {
        let outcome = run(get(), |_env: Environ| Response::text("hi"));
        assert_eq!(
            (outcome.error.as_deref(), outcome.body_error.as_deref()),
            (None, None)
        );
        assert_eq!(outcome.body(), b"hi");
        let started = &outcome.host.starts[0];
        assert_eq!(started.status, "200 OK");
        assert!(
            started
                .headers
                .iter()
                .any(|(name, value)| name == "Content-Length" && value == b"2")
        );
        assert_eq!(started.exc_info, None);
        assert!(outcome.host.logs.is_empty());
    }

    #[test]
    fn a_late_start_write_and_exc_info_pass() {
        let outcome = run(get(), |_env: Environ, start_response: StartResponse| {
            let mut step = 0;
            Body::from_result_iter(std::iter::from_fn(move || {
                step += 1;
                match step {
                    1 => Some(Ok(Vec::new())),
                    2 => {
                        let headers = [("Content-Type", "text/html")];
                        let replaced = [("Content-Type", "text/plain")];
                        let write = start_response
                            .call("200 OK", &headers)
                            .and_then(|_| {
                                start_response.call_with_exc_info("500 Oops", &replaced, "boom")
                            })
                            .map_err(Error::from);
                        Some(write.and_then(|write| {
                            write.write(b"first,").map_err(Error::from)?;
                            Ok(b"second".to_vec())
                        }))
                    }
                    _ => None,
                }
            }))
        });
        assert_eq!(
            (outcome.error.as_deref(), outcome.body_error.as_deref()),
            (None, None)
        );
        assert_eq!(outcome.body(), b"first,second");
        assert_eq!(outcome.host.starts.len(), 2);
        assert!(outcome.host.logs.is_empty(), "{:?}", outcome.host.logs);
    }

    #[test]
    fn the_input_reads_through() {
        let mut raw = raw("POST", "/");
        raw.content_length = Some(7);
        let outcome = run(raw, |mut env: Environ, start_response: StartResponse| {
            let body = env.input().read_all()?;
            start_response.call("200 OK", &[("Content-Type", "text/plain")])?;
            Ok::<_, Error>(Body::from(body))
        });
        assert_eq!(outcome.body(), b"request");
    }

    #[test]
    fn a_bad_environ_fails_before_the_app_runs() {
        let mut raw = get();
        raw.script_name = b"/".to_vec();
        raw.path_info = Vec::new();
        let outcome = run(raw, |_env: Environ| -> Response {
            unreachable!("not called")
        });
        let expected = "wsgi validator: SCRIPT_NAME cannot be '/'";
        assert!(outcome.error.as_deref().unwrap().starts_with(expected));
        assert!(outcome.host.logs[0].starts_with(expected));
        assert!(outcome.host.starts.is_empty());
    }

    #[test]
    fn an_unknown_method_is_only_a_warning() {
        let outcome = run(raw("PROPFIND", "/"), wsgi_ok);
        assert_eq!(outcome.error, None);
        assert_eq!(
            outcome.validator_logs(),
            ["wsgi validator: warning: unknown REQUEST_METHOD \"PROPFIND\""]
        );
    }

    #[test]
    fn a_response_without_content_type_fails() {
        let outcome = run(get(), |_env: Environ| Response::ok().body("untyped"));
        let expected = "wsgi validator: no Content-Type header in a 200 response";
        assert!(outcome.error.as_deref().unwrap().starts_with(expected));
        assert!(outcome.validator_logs()[0].starts_with(expected));
        assert!(outcome.host.starts.is_empty(), "never reaches the host");
    }

    #[test]
    fn a_refused_call_fails_the_request_even_if_the_app_carries_on() {
        // Like the bad_header fixture: tries a bad call, ignores the error,
        // then makes a good one.
        let outcome = run(get(), |_env: Environ, start_response: StartResponse| {
            let refused = start_response.call("200 OK", &[("Bad Name", "x")]);
            assert!(matches!(refused, Err(StartResponseError::InvalidHeader(_))));
            let also_refused = start_response.call("200 OK", &[("Content-Type", "text/plain")]);
            assert!(also_refused.is_err(), "the request stays failed");
            Body::from("carried on")
        });
        assert!(
            outcome
                .error
                .as_deref()
                .unwrap()
                .starts_with("wsgi validator: header name \"Bad Name\" is not a token")
        );
        assert_eq!(outcome.validator_logs().len(), 1, "reported once");
        assert!(outcome.host.starts.is_empty());
    }

    #[test]
    fn body_before_start_response_fails_the_body() {
        let outcome = run(get(), |_env: Environ, _start_response: StartResponse| {
            Body::from("body without a status")
        });
        assert_eq!(outcome.error, None);
        assert!(outcome.chunks.is_empty(), "the data never goes out");
        assert_eq!(
            outcome.body_error.as_deref(),
            Some("wsgi validator: the body yielded data before start_response() was called")
        );
        assert_eq!(outcome.validator_logs().len(), 1);
    }

    #[test]
    fn no_start_response_fails_at_the_end() {
        let outcome = run(get(), |_env: Environ, _start_response: StartResponse| {
            Body::empty()
        });
        assert_eq!(
            outcome.body_error.as_deref(),
            Some("wsgi validator: the body ended and start_response() was never called")
        );
    }

    #[test]
    fn start_response_twice_fails() {
        let outcome = run(get(), |_env: Environ, start_response: StartResponse| {
            start_response.call("200 OK", &[("Content-Type", "text/plain")])?;
            start_response.call("201 Created", &[("Content-Type", "text/plain")])?;
            Ok::<_, Error>(Body::from("x"))
        });
        assert_eq!(
            outcome.error.as_deref(),
            Some("wsgi validator: start_response() called a second time without exc_info")
        );
        assert_eq!(outcome.host.starts.len(), 1);
    }

    #[test]
    fn starting_and_returning_a_response_is_starting_twice() {
        let outcome = run(get(), |_env: Environ, start_response: StartResponse| {
            start_response.call("200 OK", &[("Content-Type", "text/plain")])?;
            Ok::<_, Error>(Response::text("also a head"))
        });
        assert_eq!(
            outcome.error.as_deref(),
            Some("wsgi validator: start_response() called a second time without exc_info")
        );
    }

    #[test]
    fn a_violation_mid_stream_ends_the_body_with_an_error() {
        let outcome = run(get(), |_env: Environ, start_response: StartResponse| {
            start_response.call("200 OK", &[("Content-Type", "text/plain")])?;
            let mut step = 0;
            Ok::<_, Error>(Body::from_iter(std::iter::from_fn(move || {
                step += 1;
                match step {
                    1 => Some(b"first".to_vec()),
                    2 => {
                        // Ignores the refusal and keeps producing.
                        let _ = start_response.call("500 Oops", &[("Content-Type", "text/plain")]);
                        Some(b"second".to_vec())
                    }
                    _ => None,
                }
            })))
        });
        assert_eq!(outcome.chunks, [b"first"]);
        assert_eq!(
            outcome.body_error.as_deref(),
            Some("wsgi validator: start_response() called a second time without exc_info")
        );
    }

    #[test]
    fn write_after_a_violation_is_refused() {
        let outcome = run(get(), |_env: Environ, start_response: StartResponse| {
            let write = start_response.call("200 OK", &[("Content-Type", "text/plain")])?;
            let _ = start_response.call("200 OK", &[("Content-Type", "text/plain")]);
            assert!(matches!(
                write.write(b"lost"),
                Err(WriteError::Disconnected)
            ));
            Ok::<_, Error>(Body::empty())
        });
        assert!(outcome.host.written.is_empty());
        assert!(outcome.error.is_some());
    }

    #[test]
    fn an_app_error_passes_through() {
        let outcome = run(get(), |_env: Environ| -> Result<Response, Error> {
            Err(Error::msg("fixture error"))
        });
        assert_eq!(outcome.error.as_deref(), Some("fixture error"));
        assert!(outcome.validator_logs().is_empty());
    }

    #[test]
    fn calls_during_close_are_violations() {
        struct WritesOnClose(Write);
        impl Iterator for WritesOnClose {
            type Item = Vec<u8>;
            fn next(&mut self) -> Option<Vec<u8>> {
                Some(b"x".to_vec())
            }
        }
        impl Drop for WritesOnClose {
            fn drop(&mut self) {
                assert!(matches!(
                    self.0.write(b"too late"),
                    Err(WriteError::Disconnected)
                ));
            }
        }
        // The host pulls once, then drops the body (as when the client left).
        fake_host::reset();
        let app = |_env: Environ, start_response: StartResponse| -> Result<Body, Error> {
            let write = start_response.call("200 OK", &[("Content-Type", "text/plain")])?;
            Ok(Body::from_iter(WritesOnClose(write)))
        };
        let response = Handler::call(
            validated(app),
            Environ::with_body(get(), ""),
            StartResponse::new(),
        )
        .unwrap();
        let mut body = response.into_wire().body;
        assert_eq!(body.next().unwrap().unwrap(), b"x");
        drop(body);
        let logs = fake_host::with(|host| host.logs.clone());
        assert_eq!(
            logs,
            ["wsgi validator: write() called after the body was closed"]
        );
        assert!(fake_host::with(|host| host.written.is_empty()));
    }

    #[test]
    fn a_host_that_accepts_exc_info_too_late_is_caught() {
        let outcome = run(get(), |_env: Environ, start_response: StartResponse| {
            start_response.call("200 OK", &[("Content-Type", "text/plain")])?;
            let mut step = 0;
            Ok::<_, Error>(Body::from_result_iter(std::iter::from_fn(move || {
                step += 1;
                match step {
                    1 => Some(Ok(b"sent".to_vec())),
                    2 => {
                        // This host breaks the rule and accepts.
                        fake_host::with(|host| host.next_start_answer = Some(Ok(())));
                        let answer = start_response.call_with_exc_info(
                            "500 Oops",
                            &[("Content-Type", "text/plain")],
                            "boom",
                        );
                        Some(answer.map(|_| b"more".to_vec()).map_err(Error::from))
                    }
                    _ => None,
                }
            })))
        });
        assert_eq!(outcome.chunks, [b"sent"]);
        let error = outcome.body_error.unwrap();
        assert!(
            error.starts_with("wsgi validator: the server accepted start_response() with exc_info"),
            "{error}"
        );
    }

    #[test]
    fn a_correct_headers_sent_refusal_is_no_violation() {
        let outcome = run(get(), |_env: Environ, start_response: StartResponse| {
            start_response.call("200 OK", &[("Content-Type", "text/plain")])?;
            let mut step = 0;
            Ok::<_, Error>(Body::from_result_iter(std::iter::from_fn(move || {
                step += 1;
                match step {
                    1 => Some(Ok(b"sent".to_vec())),
                    // PEP 3333: the server raises, the application re-raises.
                    2 => Some(
                        start_response
                            .call_with_exc_info(
                                "500 Oops",
                                &[("Content-Type", "text/plain")],
                                "boom",
                            )
                            .map(|_| Vec::new())
                            .map_err(Error::from),
                    ),
                    _ => None,
                }
            })))
        });
        assert!(
            outcome
                .body_error
                .as_deref()
                .unwrap()
                .contains("HeadersSent")
        );
        assert!(
            outcome.validator_logs().is_empty(),
            "{:?}",
            outcome.host.logs
        );
    }

    #[test]
    fn validating_twice_validates_once() {
        let outcome = run(get(), validated(wsgi_ok));
        assert_eq!(
            (outcome.error.as_deref(), outcome.body_error.as_deref()),
            (None, None)
        );
        assert_eq!(outcome.body(), b"hello");
        assert!(outcome.host.logs.is_empty());
    }
}
