//! The response half of a request: the head `start_response` set and the body
//! chunks, handed to the connection (or the middleware in front). The head
//! goes at the first non-empty body chunk or at the end, as PEP 3333 requires.

use crate::http::body::Chunk;
use crate::wsgi::bindings::{Header, StartResponseError};
use crate::wsgi::errors::{InputFailure, RequestError};
use crate::wsgi::start_response::{self, ResponseHead};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

/// What the request handler learns once the head is decided.
pub type HeadResult = Result<ResponseHead, RequestError>;

/// The response side of a request: head and body on their way to hyper.
pub struct ResponseSink {
    /// Set by `start-response`; taken when the head is sent.
    head: Option<ResponseHead>,
    /// Whether `start-response` has succeeded at least once.
    pub(crate) started: bool,
    /// Where the head (or an error in its place) goes; `None` once sent.
    head_tx: Option<oneshot::Sender<HeadResult>>,
    body_tx: mpsc::Sender<Chunk>,
    /// Body bytes handed to the connection.
    pub bytes_sent: u64,
    /// Set when reading the request body failed through the client's fault:
    /// then the client hears about that (413, 408, 400), not whatever the
    /// application answers, as long as no header was sent.
    pub(crate) input_failure: Option<InputFailure>,
    /// The most bytes the application's header lines may take.
    pub(crate) max_head: usize,
}

impl ResponseSink {
    /// A sink sending the head on `head_tx` and body chunks on `body_tx`,
    /// refusing header lists over `max_head` bytes.
    pub fn new(
        head_tx: oneshot::Sender<HeadResult>,
        body_tx: mpsc::Sender<Chunk>,
        max_head: usize,
    ) -> Self {
        ResponseSink {
            head: None,
            started: false,
            head_tx: Some(head_tx),
            body_tx,
            bytes_sent: 0,
            input_failure: None,
            max_head,
        }
    }

    /// A handle that tells when the client stopped listening.
    pub fn watch(&self) -> mpsc::Sender<Chunk> {
        self.body_tx.clone()
    }

    /// Whether the head has gone to the client.
    pub fn head_sent(&self) -> bool {
        self.head_tx.is_none()
    }

    pub(crate) fn start(
        &mut self,
        status: &str,
        headers: Vec<Header>,
        exc_info: Option<String>,
    ) -> Result<(), StartResponseError> {
        if let Some(exc) = &exc_info {
            if self.head_sent() {
                return Err(StartResponseError::HeadersSent);
            }
            if self.started {
                tracing::debug!(exc, "start_response called again with exc_info");
            }
        } else if self.started {
            return Err(StartResponseError::AlreadyStarted);
        }
        self.head = Some(start_response::parse(status, headers, self.max_head)?);
        self.started = true;
        Ok(())
    }

    /// Sends the head if it has not gone yet.
    fn send_head(&mut self) -> Result<(), RequestError> {
        let Some(tx) = self.head_tx.take() else {
            return Ok(());
        };
        if let Some(failure) = self.input_failure {
            // Whatever the application made of its failed read, the client
            // gets told what it did wrong; the application sees a client
            // that has gone.
            let _ = tx.send(Err(RequestError::Input(failure)));
            return Err(RequestError::ClientGone);
        }
        let head = self.head.take().ok_or(RequestError::Contract(
            "the application produced a body before calling start_response",
        ))?;
        tx.send(Ok(head)).map_err(|_| RequestError::ClientGone)
    }

    /// Sends one body chunk, sending the head first if needed. Waits while the
    /// client is slower than the application (backpressure).
    pub async fn send(&mut self, chunk: Vec<u8>) -> Result<(), RequestError> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.send_head()?;
        self.bytes_sent += chunk.len() as u64;
        self.body_tx
            .send(Chunk::Data(Bytes::from(chunk)))
            .await
            .map_err(|_| RequestError::ClientGone)
    }

    /// Records that reading the request body failed through the client's
    /// fault (in this layer or one behind it).
    pub fn note_input_failure(&mut self, failure: InputFailure) {
        self.input_failure = Some(failure);
    }

    /// Whether the application's response is whole: it called
    /// `start_response` (unless the head is already out).
    pub fn complete(&self) -> Result<(), RequestError> {
        if self.head_tx.is_some() && self.head.is_none() {
            return Err(RequestError::Contract(
                "the application returned without calling start_response",
            ));
        }
        Ok(())
    }

    /// Ends a body that is complete if that can be done without waiting:
    /// `Ok(false)` when the client is behind and [`finish`](Self::finish)
    /// must wait for room.
    pub fn try_finish(&mut self) -> Result<bool, RequestError> {
        self.complete()?;
        self.send_head()?;
        match self.body_tx.try_send(Chunk::End) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(RequestError::ClientGone),
        }
    }

    /// Ends a body that is complete.
    pub async fn finish(&mut self) -> Result<(), RequestError> {
        self.complete()?;
        self.send_head()?;
        self.body_tx
            .send(Chunk::End)
            .await
            .map_err(|_| RequestError::ClientGone)
    }

    /// Reports a failure. Before the head is sent, the error goes to the
    /// request handler, which answers in its place (and logs it); `None` is
    /// returned. After that the response can only be aborted, which happens
    /// when this sink is dropped without `End`; the error is handed back for
    /// the caller to log.
    pub fn fail(&mut self, err: RequestError) -> Option<RequestError> {
        let Some(tx) = self.head_tx.take() else {
            return Some(err);
        };
        // After a failed body read the client hears about its own fault; the
        // application's error is still handed back to be logged.
        // The application's own error after a failed read is a consequence
        // of the client's fault, not a failure of the application: kept out
        // of the error log.
        let (answer, also) = match self.input_failure {
            Some(failure) => {
                tracing::debug!(error = %err, "the application's error after the request body failed");
                (RequestError::Input(failure), None)
            }
            None => (err, None),
        };
        match tx.send(Err(answer)) {
            Ok(()) => also,
            Err(unsent) => unsent.err(),
        }
    }
}
