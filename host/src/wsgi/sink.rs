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
#[derive(Default)]
pub struct ResponseSink {
    /// Set by `start-response`; taken when the head is sent.
    head: Option<ResponseHead>,
    /// Whether `start-response` has succeeded at least once.
    started: bool,
    /// Where the head (or an error in its place) goes; `None` once sent.
    head_tx: Option<oneshot::Sender<HeadResult>>,
    /// Where body chunks go; `None` in a detached sink.
    body_tx: Option<mpsc::Sender<Chunk>>,
    /// Set when reading the request body failed through the client's fault:
    /// then the client hears about that (413, 408, 400), not whatever the
    /// application answers, as long as no header was sent.
    input_failure: Option<InputFailure>,
    /// The most bytes the application's status and header lines may take.
    max_head: usize,
}

impl ResponseSink {
    /// A sink sending the head on `head_tx` and body chunks on `body_tx`,
    /// refusing header lists over `max_head` bytes. (`Default` is a
    /// detached sink, connected to nothing: what an idle instance holds.)
    pub fn new(
        head_tx: oneshot::Sender<HeadResult>,
        body_tx: mpsc::Sender<Chunk>,
        max_head: usize,
    ) -> Self {
        ResponseSink {
            head: None,
            started: false,
            head_tx: Some(head_tx),
            body_tx: Some(body_tx),
            input_failure: None,
            max_head,
        }
    }

    /// A handle that tells when the client stopped listening (`None` for a
    /// detached sink).
    pub fn watch(&self) -> Option<mpsc::Sender<Chunk>> {
        self.body_tx.clone()
    }

    /// Whether `start_response` has succeeded.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Whether the head has gone to the client.
    pub fn head_sent(&self) -> bool {
        self.head_tx.is_none()
    }

    /// `start_response(status, headers, exc_info)`, with PEP 3333's rules
    /// on calling it again.
    pub fn start(
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
        let body = self.body_tx.as_ref().ok_or(RequestError::ClientGone)?;
        body.send(Chunk::Data(Bytes::from(chunk)))
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
        let body = self.body_tx.as_ref().ok_or(RequestError::ClientGone)?;
        match body.try_send(Chunk::End) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(RequestError::ClientGone),
        }
    }

    /// Ends a body that is complete.
    pub async fn finish(&mut self) -> Result<(), RequestError> {
        self.complete()?;
        self.send_head()?;
        let body = self.body_tx.as_ref().ok_or(RequestError::ClientGone)?;
        body.send(Chunk::End)
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
        // After a failed body read the client hears about its own fault. The
        // application's error then is a consequence of the client's, not a
        // failure of the application: kept out of the error log.
        let answer = match self.input_failure {
            Some(failure) => {
                tracing::debug!(error = %err, "the application's error after the request body failed");
                RequestError::Input(failure)
            }
            None => err,
        };
        // Unsent (nobody waits for the head any more): the caller logs it.
        tx.send(Err(answer)).err().and_then(Result::err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink and the receivers the connection would hold.
    fn sink(
        chunks: usize,
    ) -> (
        ResponseSink,
        oneshot::Receiver<HeadResult>,
        mpsc::Receiver<Chunk>,
    ) {
        let (head_tx, head_rx) = oneshot::channel();
        let (body_tx, body_rx) = mpsc::channel(chunks);
        (ResponseSink::new(head_tx, body_tx, 1024), head_rx, body_rx)
    }

    fn header(name: &str, value: &str) -> Vec<Header> {
        vec![Header {
            name: name.into(),
            value: value.into(),
        }]
    }

    fn data(chunk: Option<Chunk>) -> Vec<u8> {
        match chunk {
            Some(Chunk::Data(bytes)) => bytes.to_vec(),
            other => panic!("expected data, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_head_waits_for_the_first_non_empty_chunk() {
        let (mut sink, mut head_rx, mut body_rx) = sink(2);
        sink.start("200 OK", header("Content-Type", "text/plain"), None)
            .unwrap();
        sink.send(Vec::new()).await.unwrap();
        assert!(head_rx.try_recv().is_err(), "no head for b\"\"");
        sink.send(b"hi".to_vec()).await.unwrap();
        let head = head_rx.try_recv().unwrap().unwrap();
        assert_eq!(head.status.as_u16(), 200);
        assert_eq!(head.headers["content-type"], "text/plain");
        assert_eq!(data(body_rx.recv().await), b"hi");
        assert!(sink.try_finish().unwrap());
        assert!(matches!(body_rx.recv().await, Some(Chunk::End)));
    }

    #[tokio::test]
    async fn an_empty_body_sends_the_head_at_the_end() {
        let (mut sink, mut head_rx, mut body_rx) = sink(1);
        sink.start("204 No Content", Vec::new(), None).unwrap();
        assert!(head_rx.try_recv().is_err());
        sink.finish().await.unwrap();
        assert_eq!(head_rx.try_recv().unwrap().unwrap().status.as_u16(), 204);
        assert!(matches!(body_rx.recv().await, Some(Chunk::End)));
    }

    #[tokio::test]
    async fn a_body_without_start_response_breaks_the_contract() {
        let (mut sink, _head_rx, _body_rx) = sink(1);
        assert!(matches!(
            sink.send(b"x".to_vec()).await,
            Err(RequestError::Contract(_))
        ));
        let (sink, _head_rx, _body_rx) = self::sink(1);
        assert!(matches!(sink.complete(), Err(RequestError::Contract(_))));
    }

    #[tokio::test]
    async fn start_response_again_needs_exc_info_and_an_unsent_head() {
        let (mut sink, mut head_rx, _body_rx) = sink(2);
        sink.start("200 OK", Vec::new(), None).unwrap();
        assert!(matches!(
            sink.start("500 Oops", Vec::new(), None),
            Err(StartResponseError::AlreadyStarted)
        ));
        // With exc_info before the head went out, the new head replaces it.
        sink.start("500 Oops", Vec::new(), Some("Traceback".into()))
            .unwrap();
        sink.send(b"x".to_vec()).await.unwrap();
        assert_eq!(head_rx.try_recv().unwrap().unwrap().status.as_u16(), 500);
        assert!(matches!(
            sink.start("502 Later", Vec::new(), Some("Traceback".into())),
            Err(StartResponseError::HeadersSent)
        ));
    }

    #[tokio::test]
    async fn a_refused_head_leaves_start_response_uncalled() {
        let (mut sink, _head_rx, _body_rx) = sink(1);
        assert!(sink.start("OK", Vec::new(), None).is_err());
        assert!(sink.start("200 OK", header("Bad Name", "x"), None).is_err());
        assert!(!sink.started());
        // The head limit (1024 bytes here) counts names and values.
        let big = "x".repeat(2000);
        assert!(matches!(
            sink.start("200 OK", header("X-Big", &big), None),
            Err(StartResponseError::InvalidHeader(_))
        ));
        sink.start("200 OK", Vec::new(), None).unwrap();
        assert!(sink.started());
    }

    #[tokio::test]
    async fn a_client_fault_reading_the_body_decides_the_answer() {
        let (mut sink, mut head_rx, _body_rx) = sink(1);
        sink.start("200 OK", Vec::new(), None).unwrap();
        sink.note_input_failure(InputFailure::TooLarge);
        // The application answers anyway; the client hears 413.
        assert!(matches!(
            sink.send(b"partial".to_vec()).await,
            Err(RequestError::ClientGone)
        ));
        assert!(matches!(
            head_rx.try_recv().unwrap(),
            Err(RequestError::Input(InputFailure::TooLarge))
        ));

        // And the application's own failure after it is not its fault.
        let (mut sink, mut head_rx, _body_rx) = self::sink(1);
        sink.note_input_failure(InputFailure::TimedOut);
        assert!(sink.fail(RequestError::host_worded("boom")).is_none());
        assert!(matches!(
            head_rx.try_recv().unwrap(),
            Err(RequestError::Input(InputFailure::TimedOut))
        ));
    }

    #[tokio::test]
    async fn a_failure_replaces_the_head_or_comes_back_to_be_logged() {
        let (mut sink, mut head_rx, _body_rx) = sink(1);
        assert!(sink.fail(RequestError::host_worded("boom")).is_none());
        assert!(matches!(
            head_rx.try_recv().unwrap(),
            Err(RequestError::App(_))
        ));

        // Once the head is out, the response can only be aborted: the error
        // is the caller's to log.
        let (mut sink, _head_rx, _body_rx) = self::sink(1);
        sink.start("200 OK", Vec::new(), None).unwrap();
        sink.send(b"x".to_vec()).await.unwrap();
        assert!(sink.fail(RequestError::host_worded("late")).is_some());

        // Nobody waiting for the head: handed back too.
        let (mut sink, head_rx, _body_rx) = self::sink(1);
        drop(head_rx);
        assert!(sink.fail(RequestError::host_worded("boom")).is_some());
    }

    #[tokio::test]
    async fn a_slow_client_makes_try_finish_wait_and_a_gone_one_fails_writes() {
        let (mut sink, _head_rx, mut body_rx) = sink(1);
        sink.start("200 OK", Vec::new(), None).unwrap();
        sink.send(b"a".to_vec()).await.unwrap();
        // The one slot is taken: the end must wait for room.
        assert!(!sink.try_finish().unwrap());
        assert_eq!(data(body_rx.recv().await), b"a");
        assert!(sink.try_finish().unwrap());

        let (mut sink, _head_rx, body_rx) = self::sink(1);
        sink.start("200 OK", Vec::new(), None).unwrap();
        drop(body_rx);
        assert!(sink.watch().unwrap().is_closed());
        assert!(matches!(
            sink.send(b"x".to_vec()).await,
            Err(RequestError::ClientGone)
        ));
    }

    #[tokio::test]
    async fn a_detached_sink_is_connected_to_nothing() {
        let mut sink = ResponseSink::default();
        assert!(sink.watch().is_none());
        assert!(sink.head_sent());
        assert!(matches!(
            sink.send(b"x".to_vec()).await,
            Err(RequestError::ClientGone)
        ));
        assert!(matches!(sink.try_finish(), Err(RequestError::ClientGone)));
    }
}
