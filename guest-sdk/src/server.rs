//! The server side of WSGI as the application sees it: `start_response`
//! ([`StartResponse`]), the legacy `write` callable ([`Write`]) and
//! `wsgi.errors` ([`log`]). Each is a thin wrapper over one import of the
//! WIT `server` interface.
//!
//! Most applications never touch [`StartResponse`]: returning a
//! [`Response`](crate::Response) makes the SDK call it. It is there for
//! WSGI-style code that wants to control the exact moment the status and
//! headers are set (handlers of the form `fn(Environ, StartResponse) -> Body`).

use crate::bindings::wasm_gateway::wsgi::types;

pub use types::{StartResponseError, WriteError};

/// The `server` imports this module wraps. In the SDK's own unit tests they
/// are a recording fake instead: on the build machine the generated imports
/// are stubs that panic.
mod host {
    #[cfg(not(test))]
    pub(crate) use crate::bindings::wasm_gateway::wsgi::server::{log, start_response, write};

    #[cfg(test)]
    pub(crate) use super::fake_host::{log, start_response, write};
}

/// WSGI's `start_response` callable, handed to handlers that take a second
/// argument.
///
/// It is `Copy` (and one byte): move it into a body iterator to start the
/// response lazily, right before the first chunk (the host allows that until
/// the body yields its first non-empty chunk).
#[derive(Clone, Copy, Debug)]
pub struct StartResponse {
    /// Calls go through the validator ([`crate::validate`]) first. A flag
    /// rather than a hook object keeps this type `Copy`, and costs calls
    /// that are not validated one branch.
    checked: bool,
}

impl StartResponse {
    pub(crate) const fn new() -> Self {
        Self { checked: false }
    }

    /// The `start_response` that [`validated`](crate::validate::validated)
    /// hands to the application.
    pub(crate) const fn checked() -> Self {
        Self { checked: true }
    }

    fn start(
        &self,
        status: &str,
        headers: Vec<types::Header>,
        exc_info: Option<&str>,
    ) -> Result<Write, StartResponseError> {
        if self.checked {
            crate::validate::start_checked(status, headers, exc_info)
        } else {
            start(status, headers, exc_info)
        }
    }

    /// `start_response(status, headers)`: sets the status line (e.g.
    /// `"200 OK"`) and the response headers. The host validates both and
    /// refuses bad values here, with an error naming the problem. Calling it a
    /// second time fails with [`StartResponseError::AlreadyStarted`]; use
    /// [`call_with_exc_info`](Self::call_with_exc_info) to replace a response
    /// after an error.
    pub fn call(
        &self,
        status: &str,
        headers: &[(&str, &str)],
    ) -> Result<Write, StartResponseError> {
        self.start(status, text_headers(headers), None)
    }

    /// `start_response(status, headers, exc_info)`: replaces the status and
    /// headers set earlier, which the host allows only while nothing has been
    /// sent to the client (otherwise [`StartResponseError::HeadersSent`]).
    /// `exc_info` describes the error being handled, for the server log.
    pub fn call_with_exc_info(
        &self,
        status: &str,
        headers: &[(&str, &str)],
        exc_info: &str,
    ) -> Result<Write, StartResponseError> {
        self.start(status, text_headers(headers), Some(exc_info))
    }

    /// Like [`call`](Self::call) and [`call_with_exc_info`](Self::call_with_exc_info),
    /// for header values that are not UTF-8 text.
    pub fn call_bytes(
        &self,
        status: &str,
        headers: &[(&str, &[u8])],
        exc_info: Option<&str>,
    ) -> Result<Write, StartResponseError> {
        let headers = headers
            .iter()
            .map(|(name, value)| types::Header {
                name: (*name).to_owned(),
                value: value.to_vec(),
            })
            .collect();
        self.start(status, headers, exc_info)
    }
}

fn text_headers(headers: &[(&str, &str)]) -> Vec<types::Header> {
    headers
        .iter()
        .map(|(name, value)| types::Header {
            name: (*name).to_owned(),
            value: value.as_bytes().to_vec(),
        })
        .collect()
}

/// Calls `start_response` on the host, unchecked.
pub(crate) fn start(
    status: &str,
    headers: Vec<types::Header>,
    exc_info: Option<&str>,
) -> Result<Write, StartResponseError> {
    start_on_host(status, &headers, exc_info)?;
    Ok(Write { checked: false })
}

/// The one place the `start-response` import is called (or, when the
/// component serves as another's `next`, captured instead).
pub(crate) fn start_on_host(
    status: &str,
    headers: &[types::Header],
    exc_info: Option<&str>,
) -> Result<(), StartResponseError> {
    if let Some(answer) = capture::start(status, headers, exc_info) {
        return answer;
    }
    host::start_response(status, headers, exc_info)
}

/// When the component serves through its `next` export (fused behind a
/// middleware offline, with `wac plug`), `start_response` and `write` must
/// not reach the host: the middleware in front gets them as return values.
/// While a `next` call is served they are recorded here instead.
pub(crate) mod capture {
    use super::{StartResponseError, WriteError, types};
    use std::cell::RefCell;
    use std::collections::VecDeque;

    #[derive(Default)]
    struct Captured {
        /// The latest accepted `start_response`, until it is handed over.
        head: Option<(String, Vec<types::Header>)>,
        /// Whether `start_response` was called at all.
        started: bool,
        /// Whether the head was handed to the middleware.
        sent: bool,
        /// Bytes passed to `write`, to go out before the body's next chunk.
        written: VecDeque<Vec<u8>>,
    }

    thread_local! {
        static CAPTURE: RefCell<Option<Captured>> = const { RefCell::new(None) };
    }

    /// Starts capturing, for one `next` call.
    pub(crate) fn begin() {
        CAPTURE.with(|c| *c.borrow_mut() = Some(Captured::default()));
    }

    /// Stops capturing (the `next` body was dropped, or the call failed).
    pub(crate) fn end() {
        CAPTURE.with(|c| *c.borrow_mut() = None);
    }

    /// The captured head, which counts as sent from now on.
    pub(crate) fn take_head() -> Option<(String, Vec<types::Header>)> {
        CAPTURE.with(|c| {
            let mut c = c.borrow_mut();
            let captured = c.as_mut()?;
            let head = captured.head.take()?;
            captured.sent = true;
            Some(head)
        })
    }

    /// The oldest bytes passed to `write` and not yet handed over.
    pub(crate) fn take_written() -> Option<Vec<u8>> {
        CAPTURE.with(|c| c.borrow_mut().as_mut()?.written.pop_front())
    }

    /// Records a `start_response`, with the host's rules; `None` when not
    /// capturing. Header values are checked by the real host later, when
    /// the middleware passes them on.
    pub(super) fn start(
        status: &str,
        headers: &[types::Header],
        exc_info: Option<&str>,
    ) -> Option<Result<(), StartResponseError>> {
        CAPTURE.with(|c| {
            let mut c = c.borrow_mut();
            let captured = c.as_mut()?;
            let bytes = status.as_bytes();
            let valid =
                bytes.len() > 4 && bytes[..3].iter().all(u8::is_ascii_digit) && bytes[3] == b' ';
            Some(if !valid {
                Err(StartResponseError::InvalidStatus(status.to_owned()))
            } else if exc_info.is_none() && captured.started {
                Err(StartResponseError::AlreadyStarted)
            } else if exc_info.is_some() && captured.sent {
                Err(StartResponseError::HeadersSent)
            } else {
                captured.head = Some((status.to_owned(), headers.to_vec()));
                captured.started = true;
                Ok(())
            })
        })
    }

    /// Records a `write`; `None` when not capturing.
    pub(super) fn write(data: &[u8]) -> Option<Result<(), WriteError>> {
        CAPTURE.with(|c| {
            let mut c = c.borrow_mut();
            let captured = c.as_mut()?;
            Some(if captured.started {
                if !data.is_empty() {
                    captured.written.push_back(data.to_vec());
                }
                Ok(())
            } else {
                Err(WriteError::NotStarted)
            })
        })
    }
}

/// WSGI's legacy `write(data)` callable, returned by
/// [`StartResponse::call`]. Data written here goes to the client before any
/// chunk of the returned body. New code should return a body instead.
#[derive(Clone, Copy, Debug)]
pub struct Write {
    /// As in [`StartResponse`]: calls go through the validator first.
    checked: bool,
}

impl Write {
    /// The `write` a validated `start_response` returns.
    pub(crate) const fn checked() -> Self {
        Self { checked: true }
    }

    /// Sends `data` to the client now (before the body).
    pub fn write(&self, data: &[u8]) -> Result<(), WriteError> {
        if self.checked {
            crate::validate::write_checked(data)
        } else {
            write_on_host(data)
        }
    }
}

/// The one place the `write` import is called (or captured, as
/// `start_on_host`).
pub(crate) fn write_on_host(data: &[u8]) -> Result<(), WriteError> {
    if let Some(answer) = capture::write(data) {
        return answer;
    }
    host::write(data)
}

/// Writes `message` to the server's error log (`wsgi.errors`), tagged with
/// the application and the request. Multi-line text is logged line by line.
pub fn log(message: impl AsRef<str>) {
    host::log(message.as_ref());
}

impl StartResponseError {
    /// The WIT case name: `"invalid-status"`, `"invalid-header"`,
    /// `"hop-by-hop-header"`, `"already-started"` or `"headers-sent"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidStatus(_) => "invalid-status",
            Self::InvalidHeader(_) => "invalid-header",
            Self::HopByHopHeader(_) => "hop-by-hop-header",
            Self::AlreadyStarted => "already-started",
            Self::HeadersSent => "headers-sent",
        }
    }

    /// The host's description of the offending value, for the cases that
    /// carry one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::InvalidStatus(detail)
            | Self::InvalidHeader(detail)
            | Self::HopByHopHeader(detail) => Some(detail),
            Self::AlreadyStarted | Self::HeadersSent => None,
        }
    }
}

impl WriteError {
    /// The WIT case name: `"not-started"` or `"disconnected"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotStarted => "not-started",
            Self::Disconnected => "disconnected",
        }
    }
}

/// A stand-in for the host's `server` imports in the SDK's unit tests: it
/// records what the guest sends and answers `start_response` and `write`
/// with the host's rules (see `wit/wsgi.wit`), or with whatever a test asks
/// for. One per test thread.
#[cfg(test)]
pub(crate) mod fake_host {
    use std::cell::RefCell;

    use super::types::{Header, StartResponseError, WriteError};

    /// What the fake host saw, and how it should answer.
    #[derive(Debug, Default)]
    pub(crate) struct FakeHost {
        /// Accepted `start_response` calls.
        pub(crate) starts: Vec<Started>,
        /// Bytes accepted through `write`.
        pub(crate) written: Vec<u8>,
        /// Lines sent to `wsgi.errors`.
        pub(crate) logs: Vec<String>,
        /// The status line and headers have gone to the client (a test sets
        /// this when it pulls a non-empty body chunk; `write` sets it too).
        pub(crate) headers_sent: bool,
        /// The answer to the next `start_response` call, instead of the
        /// host's rules (to play a host that breaks them).
        pub(crate) next_start_answer: Option<Result<(), StartResponseError>>,
    }

    /// One accepted `start_response` call.
    #[derive(Debug)]
    pub(crate) struct Started {
        pub(crate) status: String,
        pub(crate) headers: Vec<(String, Vec<u8>)>,
        pub(crate) exc_info: Option<String>,
    }

    thread_local! {
        static HOST: RefCell<FakeHost> = RefCell::new(FakeHost::default());
    }

    /// Starts a test with a fresh host.
    pub(crate) fn reset() {
        HOST.with(|host| *host.borrow_mut() = FakeHost::default());
    }

    /// Looks at or changes the host's state.
    pub(crate) fn with<R>(f: impl FnOnce(&mut FakeHost) -> R) -> R {
        HOST.with(|host| f(&mut host.borrow_mut()))
    }

    pub(crate) fn start_response(
        status: &str,
        headers: &[Header],
        exc_info: Option<&str>,
    ) -> Result<(), StartResponseError> {
        with(|host| {
            let answer = host.next_start_answer.take().unwrap_or_else(|| {
                let valid = status.len() > 4
                    && status.as_bytes()[..3].iter().all(u8::is_ascii_digit)
                    && status.as_bytes()[3] == b' ';
                if !valid {
                    Err(StartResponseError::InvalidStatus(status.to_owned()))
                } else if exc_info.is_none() && !host.starts.is_empty() {
                    Err(StartResponseError::AlreadyStarted)
                } else if exc_info.is_some() && host.headers_sent {
                    Err(StartResponseError::HeadersSent)
                } else {
                    Ok(())
                }
            });
            if answer.is_ok() {
                host.starts.push(Started {
                    status: status.to_owned(),
                    headers: headers
                        .iter()
                        .map(|h| (h.name.clone(), h.value.clone()))
                        .collect(),
                    exc_info: exc_info.map(str::to_owned),
                });
            }
            answer
        })
    }

    pub(crate) fn write(data: &[u8]) -> Result<(), WriteError> {
        with(|host| {
            if host.starts.is_empty() {
                return Err(WriteError::NotStarted);
            }
            host.headers_sent |= !data.is_empty();
            host.written.extend_from_slice(data);
            Ok(())
        })
    }

    pub(crate) fn log(message: &str) {
        with(|host| host.logs.push(message.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_response_error_kinds() {
        let cases = [
            (
                StartResponseError::InvalidStatus("abc".into()),
                "invalid-status",
            ),
            (
                StartResponseError::InvalidHeader("X-Bad".into()),
                "invalid-header",
            ),
            (
                StartResponseError::HopByHopHeader("Connection".into()),
                "hop-by-hop-header",
            ),
            (StartResponseError::AlreadyStarted, "already-started"),
            (StartResponseError::HeadersSent, "headers-sent"),
        ];
        for (err, kind) in cases {
            assert_eq!(err.kind(), kind);
        }
        assert_eq!(
            StartResponseError::InvalidStatus("abc".into()).detail(),
            Some("abc")
        );
        assert_eq!(StartResponseError::HeadersSent.detail(), None);
    }

    #[test]
    fn write_error_kinds() {
        assert_eq!(WriteError::NotStarted.kind(), "not-started");
        assert_eq!(WriteError::Disconnected.kind(), "disconnected");
    }

    #[test]
    fn errors_convert_into_sdk_error() {
        let err: crate::Error = StartResponseError::AlreadyStarted.into();
        assert!(err.downcast_ref::<StartResponseError>().is_some());
    }
}
