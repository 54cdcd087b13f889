//! Request errors, and the one place where they become HTTP responses.
//!
//! A guest trap and an application error are different things (the first is a
//! crash the host saw, the second an error the application reported), but the
//! client sees neither: it gets a fixed page with a status, and the detail goes
//! to the log, tagged with the application and request.

use crate::http::body::ResponseBody;
use crate::http::pages::error_page;
use crate::wsgi::app_log::{LogBudget, cut};
use hyper::header::{CONNECTION, HeaderValue, RETRY_AFTER};
use hyper::{Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;

/// Why a request did not get the application's response.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The guest trapped (panic, unreachable, out-of-bounds, stack overflow...).
    #[error("the application trapped: {0:?}")]
    Trap(wasmtime::Error),
    /// The guest burned its request's fuel (its CPU budget in
    /// instructions): 500, like any trap, but logged as what it is.
    #[error("the application ran out of fuel ({0} units per request)")]
    OutOfFuel(u64),
    /// The application returned an error value (its message cut to one
    /// log line, see [`RequestError::app`]).
    #[error("the application failed: {0}")]
    App(AppMessage),
    /// The application broke its contract with the server (WSGI's, or
    /// `wasi:http`'s); the text says which rule.
    #[error("the application broke its contract with the server: {0}")]
    Contract(&'static str),
    /// The host could not create an instance for the request.
    #[error("could not instantiate the application: {0:?}")]
    Instantiate(wasmtime::Error),
    /// The application is at its concurrency cap and its queue is full,
    /// or the request waited its whole queue timeout: 503 with Retry-After.
    #[error("the application is at its concurrency limit ({0:?})")]
    Overloaded(crate::wsgi::errors::Refused),
    /// The request ran past its deadline.
    #[error("the request ran past its {0:?} deadline")]
    Timeout(Duration),
    /// The client went away before the response was complete.
    #[error("the client went away")]
    ClientGone,
    /// The request body failed as the application read it (or, too large by
    /// its Content-Length, before the application ran). The client is at
    /// fault; the application's own answer is replaced if nothing was sent.
    #[error("the request body {0}")]
    Input(InputFailure),
}

/// Why reading a request body failed, in a way the client gets told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InputFailure {
    /// Larger than the configured maximum: 413.
    #[error("is larger than the configured maximum")]
    TooLarge,
    /// The client stopped sending for longer than the body timeout: 408.
    #[error("did not arrive within the body timeout")]
    TimedOut,
    /// Broken chunked framing: 400.
    #[error("has broken chunked framing")]
    Malformed,
    /// The client stopped sending (closed or half-closed its side) before
    /// the body its head declared was complete: 400, the client's fault,
    /// never the application's.
    #[error("ended before it was complete: the client stopped sending")]
    Incomplete,
}

/// An application's error message: its text, cut to one log line, and the
/// application's log budget, which every line it causes goes through (a
/// guest controls both the text and how often it is written).
#[derive(Debug)]
pub struct AppMessage {
    text: String,
    budget: Option<Arc<LogBudget>>,
}

impl std::fmt::Display for AppMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl RequestError {
    /// The error for an application's error value `message`, logged within
    /// `budget` and at most 8 KiB of it.
    pub fn app(message: &str, budget: &Arc<LogBudget>) -> Self {
        RequestError::App(AppMessage {
            text: cut(message).into_owned(),
            budget: Some(budget.clone()),
        })
    }

    /// An application error the host words itself.
    #[cfg(test)]
    pub fn host_worded(text: impl Into<String>) -> Self {
        RequestError::App(AppMessage {
            text: text.into(),
            budget: None,
        })
    }

    /// The error for a failed guest call: a trap, or fuel exhaustion when
    /// the application has a fuel limit of `fuel`.
    pub fn trap(err: wasmtime::Error, fuel: Option<u64>) -> Self {
        match (err.downcast_ref::<wasmtime::Trap>(), fuel) {
            (Some(wasmtime::Trap::OutOfFuel), Some(fuel)) => RequestError::OutOfFuel(fuel),
            _ => RequestError::Trap(err),
        }
    }

    /// What a middleware is told when the layer behind it failed: the kind
    /// of failure, never its detail (that goes to the log).
    pub fn public_summary(&self) -> &'static str {
        match self {
            RequestError::Trap(_) => "it trapped",
            RequestError::OutOfFuel(_) => "it ran out of fuel",
            RequestError::App(_) => "it returned an error",
            RequestError::Contract(_) => "it broke the WSGI contract",
            RequestError::Instantiate(_) => "no instance could be created",
            RequestError::Overloaded(_) => "it is overloaded",
            RequestError::Timeout(_) => "it ran past its deadline",
            RequestError::ClientGone => "the client went away",
            RequestError::Input(_) => "the request body failed",
        }
    }

    /// Whether the guest is to blame: it trapped, failed, broke the
    /// contract or ran past its deadline (not the host, not the client).
    pub fn is_fault(&self) -> bool {
        match self {
            RequestError::Trap(_)
            | RequestError::OutOfFuel(_)
            | RequestError::App(_)
            | RequestError::Contract(_)
            | RequestError::Timeout(_) => true,
            RequestError::Instantiate(_)
            | RequestError::Overloaded(_)
            | RequestError::ClientGone
            | RequestError::Input(_) => false,
        }
    }

    /// The status the client gets for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            RequestError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            RequestError::Instantiate(_) | RequestError::Overloaded(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            RequestError::Input(InputFailure::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            RequestError::Input(InputFailure::TimedOut) => StatusCode::REQUEST_TIMEOUT,
            RequestError::Input(InputFailure::Malformed | InputFailure::Incomplete) => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Writes the error to the log (in the request's span, which names the
    /// application and the request).
    pub fn log(&self) {
        if let RequestError::App(AppMessage {
            budget: Some(budget),
            ..
        }) = self
            && !budget.allow()
        {
            return;
        }
        match self {
            RequestError::ClientGone => tracing::debug!("client went away"),
            RequestError::Input(_) | RequestError::Overloaded(_) => tracing::warn!("{self}"),
            _ => tracing::error!("{self}"),
        }
    }

    /// Logs the error and builds the response the client sees instead.
    pub fn into_response(self) -> Response<ResponseBody> {
        self.log();
        let mut response = error_page(self.status());
        if let RequestError::Overloaded(refused) = self {
            // A client may come back once a slot is likely free: at once if
            // the queue was full, after a queue timeout if it was slow.
            let seconds = match refused {
                crate::wsgi::errors::Refused::QueueFull => 1,
                crate::wsgi::errors::Refused::Waited(waited) => waited.as_secs().max(1),
            };
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let RequestError::Input(_) = self {
            // The rest of the body is unread or unreadable: the connection
            // cannot carry another request.
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue was full when it arrived.
    QueueFull,
    /// It waited the whole queue timeout.
    Waited(Duration),
}
