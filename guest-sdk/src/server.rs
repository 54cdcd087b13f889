//! The server side of WSGI as the application sees it: `start_response`
//! ([`StartResponse`]), the legacy `write` callable ([`Write`]) and
//! `wsgi.errors` ([`log`]). Each is a thin wrapper over one import of the
//! WIT `server` interface.
//!
//! Most applications never touch [`StartResponse`]: returning a
//! [`Response`](crate::Response) makes the SDK call it. It is there for
//! WSGI-style code that wants to control the exact moment the status and
//! headers are set (handlers of the form `fn(Environ, StartResponse) -> Body`).

use crate::bindings::wasm_gateway::wsgi::{server, types};

pub use types::{StartResponseError, WriteError};

/// WSGI's `start_response` callable, handed to handlers that take a second
/// argument.
///
/// It is zero-sized and `Copy`: move it into a body iterator to start the
/// response lazily, right before the first chunk (the host allows that until
/// the body yields its first non-empty chunk).
#[derive(Clone, Copy, Debug)]
pub struct StartResponse {
    _private: (),
}

impl StartResponse {
    pub(crate) const fn new() -> Self {
        Self { _private: () }
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
        start(status, text_headers(headers), None)
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
        start(status, text_headers(headers), Some(exc_info))
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
        start(status, headers, exc_info)
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

/// The one place the `start-response` import is called.
pub(crate) fn start(
    status: &str,
    headers: Vec<types::Header>,
    exc_info: Option<&str>,
) -> Result<Write, StartResponseError> {
    server::start_response(status, &headers, exc_info)?;
    Ok(Write { _private: () })
}

/// WSGI's legacy `write(data)` callable, returned by
/// [`StartResponse::call`]. Data written here goes to the client before any
/// chunk of the returned body. New code should return a body instead.
#[derive(Clone, Copy, Debug)]
pub struct Write {
    _private: (),
}

impl Write {
    /// Sends `data` to the client now (before the body).
    pub fn write(&self, data: &[u8]) -> Result<(), WriteError> {
        server::write(data)
    }
}

/// Writes `message` to the server's error log (`wsgi.errors`), tagged with
/// the application and the request. Multi-line text is logged line by line.
pub fn log(message: impl AsRef<str>) {
    server::log(message.as_ref());
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
