//! The request body as the guest reads it (`wsgi.input`).
//!
//! Bytes are pulled from hyper only when the guest asks, so a large upload
//! streams through in pieces and an application that never reads never makes
//! the client send (hyper answers `Expect: 100-continue` on the first poll).

use crate::wsgi::bindings::InputError;
use crate::wsgi::errors::InputFailure;
use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// The most one `read` hands the guest at once, whatever it asked for: the
/// copy into guest memory is bounded, and the guest simply reads again.
const MAX_READ: usize = 1 << 20;

/// A request body being read on demand.
pub struct Input {
    body: Option<Incoming>,
    /// Bytes received but not yet given to the guest.
    pending: Bytes,
    /// Bytes received so far, against `max`.
    received: u64,
    max: u64,
    /// Why the body failed, when the client is to be told.
    failure: Option<InputFailure>,
}

impl Default for Input {
    /// A body that is already finished: what an idle reused instance holds
    /// between requests.
    fn default() -> Self {
        Input {
            body: None,
            pending: Bytes::new(),
            received: 0,
            max: 0,
            failure: None,
        }
    }
}

impl Input {
    /// Wraps a request body of at most `max` bytes. (A body whose
    /// Content-Length is over `max` never gets here; this catches chunked
    /// ones.)
    pub fn new(body: Incoming, max: u64) -> Self {
        Input {
            body: Some(body),
            pending: Bytes::new(),
            received: 0,
            max,
            failure: None,
        }
    }

    /// Why reading the body failed, if the failure is the client's to hear
    /// about (413, 408, 400).
    pub fn failure(&self) -> Option<InputFailure> {
        self.failure
    }

    fn failed(&mut self, failure: InputFailure) -> InputError {
        self.body = None;
        self.failure = Some(failure);
        match failure {
            InputFailure::TooLarge => InputError::TooLarge,
            InputFailure::TimedOut => InputError::TimedOut,
            InputFailure::Malformed => InputError::Malformed,
            InputFailure::Incomplete => InputError::Disconnected,
        }
    }

    /// Makes sure `pending` holds data unless the body is finished. Returns
    /// `false` at end of file.
    async fn fill(&mut self) -> Result<bool, InputError> {
        while self.pending.is_empty() {
            let Some(body) = self.body.as_mut() else {
                return Ok(false);
            };
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.received += data.len() as u64;
                        if self.received > self.max {
                            return Err(self.failed(InputFailure::TooLarge));
                        }
                        self.pending = data;
                    }
                }
                Some(Err(err)) => {
                    tracing::debug!(%err, "request body read failed");
                    return Err(match failure_of(&err) {
                        Some(failure) => self.failed(failure),
                        None => {
                            self.body = None;
                            InputError::Disconnected
                        }
                    });
                }
                None => {
                    self.body = None;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// `read(max)`: up to `max` bytes, waiting for at least one; empty at EOF.
    pub async fn read(&mut self, max: u64) -> Result<Vec<u8>, InputError> {
        let max = usize::try_from(max).unwrap_or(usize::MAX).min(MAX_READ);
        if max == 0 || !self.fill().await? {
            return Ok(Vec::new());
        }
        let n = max.min(self.pending.len());
        Ok(self.pending.split_to(n).to_vec())
    }

    /// `readline(max)`: up to and including the next `\n`, at most `max`
    /// bytes; empty at EOF.
    pub async fn read_line(&mut self, max: u64) -> Result<Vec<u8>, InputError> {
        let max = usize::try_from(max).unwrap_or(usize::MAX).min(MAX_READ);
        let mut line = Vec::new();
        while line.len() < max && self.fill().await? {
            let want = max - line.len();
            let window = &self.pending[..want.min(self.pending.len())];
            match window.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    line.extend_from_slice(&window[..=i]);
                    self.pending.advance(i + 1);
                    break;
                }
                None => {
                    line.extend_from_slice(window);
                    let n = window.len();
                    self.pending.advance(n);
                }
            }
        }
        Ok(line)
    }
}

/// What a failed request body means for the client: too slow (408),
/// broken framing (400), or stopped before its declared end (400); `None`
/// when the client simply went away and there is nobody to tell.
pub fn failure_of(err: &hyper::Error) -> Option<InputFailure> {
    // The connection guard reports broken framing and slow clients as I/O
    // errors of these kinds.
    match io_error_kind(err) {
        Some(std::io::ErrorKind::TimedOut) => Some(InputFailure::TimedOut),
        // hyper's own checks (trailers) say InvalidInput.
        Some(std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput) => {
            Some(InputFailure::Malformed)
        }
        // The client's end of file before the declared end of the body: it
        // may still be reading, and is told.
        Some(std::io::ErrorKind::UnexpectedEof) => Some(InputFailure::Incomplete),
        _ if err.is_incomplete_message() => Some(InputFailure::Incomplete),
        _ => None,
    }
}

/// The kind of the I/O error behind a body error, if there is one.
fn io_error_kind(err: &hyper::Error) -> Option<std::io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = err.source();
    }
    None
}
