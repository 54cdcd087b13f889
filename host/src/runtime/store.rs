//! Per-request store state, and the server side of the WIT interface.
//!
//! Every request gets a fresh [`RequestState`] inside a fresh `Store`; the
//! guest's `start-response`, `write`, `read` and `log` imports act on it. The
//! response half ([`ResponseSink`]) decides when the head goes to the client:
//! at the first non-empty body chunk or at the end, as PEP 3333 requires.

use crate::runtime::chain::LayerRef;
use crate::runtime::grants::{Captured, LogBudget};
use crate::wsgi::bindings::{Header, InputError, ServerHost, StartResponseError, WriteError};
use crate::wsgi::errors::{InputFailure, RequestError};
use crate::wsgi::input::Input;
use crate::wsgi::start_response::{self, ResponseHead};
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// What travels from the guest task to the connection. A body is complete
/// only when `End` arrives: if the sender goes away without it (trap,
/// timeout, panic), the connection aborts instead of passing a truncated body
/// off as whole.
#[derive(Debug)]
pub enum Chunk {
    /// Body bytes.
    Data(Bytes),
    /// The body is complete.
    End,
}

/// What the request handler learns once the head is decided.
pub type HeadResult = Result<ResponseHead, RequestError>;

/// The data of one request's `Store`.
pub struct RequestState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Caps the guest's memory and tables; installed with `Store::limiter`.
    pub limits: StoreLimits,
    /// The request body, as far as this layer may read it.
    pub(crate) input: Input,
    /// Where this store sits in a middleware chain; `None` for an
    /// application served alone.
    pub(crate) layer: Option<LayerRef>,
    /// The response as the guest builds it.
    pub response: ResponseSink,
    /// Names the application and request in log lines.
    pub tag: Arc<LogTag>,
    /// The captured stdout and stderr, when they are captured.
    captured: Option<Captured>,
    /// The application's log rate limit (`wsgi.errors`, stdout, stderr).
    log_budget: Arc<LogBudget>,
}

/// Identifies a request in the log.
#[derive(Debug)]
pub struct LogTag {
    /// The application's name.
    pub app: Arc<str>,
    /// A per-process request number.
    pub request: u64,
}

/// What changes from one request to the next in a store.
pub struct PerRequest {
    /// The request body.
    pub input: Input,
    /// Where the response goes.
    pub response: ResponseSink,
    /// The request's log tag.
    pub tag: Arc<LogTag>,
    /// The store's place in a middleware chain, if it is in one.
    pub layer: Option<LayerRef>,
}

impl RequestState {
    /// State for a store serving `request` first, with its WASI context's
    /// captured streams if any.
    pub fn new(
        wasi: WasiCtx,
        limits: StoreLimits,
        request: PerRequest,
        captured: Option<Captured>,
        log_budget: Arc<LogBudget>,
    ) -> Self {
        if let Some(captured) = &captured {
            captured.begin(request.tag.request);
        }
        RequestState {
            wasi,
            table: ResourceTable::new(),
            limits,
            input: request.input,
            layer: request.layer,
            response: request.response,
            tag: request.tag,
            captured,
            log_budget,
        }
    }

    /// Points a reused store at its next request.
    pub fn begin(&mut self, request: PerRequest) {
        if let Some(captured) = &self.captured {
            captured.begin(request.tag.request);
        }
        self.input = request.input;
        self.layer = request.layer;
        self.response = request.response;
        self.tag = request.tag;
    }

    /// Detaches the finished request: lets go of its body and hands back
    /// its response, so the store holds nothing of a connection and can be
    /// reused or dropped before the response's end goes out.
    pub fn end(&mut self) -> ResponseSink {
        if let Some(captured) = &self.captured {
            captured.end();
        }
        let (head_tx, _) = oneshot::channel();
        let (body_tx, _) = mpsc::channel(1);
        self.input = Input::empty();
        self.layer = None;
        let detached = ResponseSink::new(head_tx, body_tx, self.response.max_head);
        std::mem::replace(&mut self.response, detached)
    }

    /// The resource table (the `wasi:io` bindings need only this).
    pub fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The response side of a request: head and body on their way to hyper.
pub struct ResponseSink {
    /// Set by `start-response`; taken when the head is sent.
    head: Option<ResponseHead>,
    /// Whether `start-response` has succeeded at least once.
    started: bool,
    /// Where the head (or an error in its place) goes; `None` once sent.
    head_tx: Option<oneshot::Sender<HeadResult>>,
    body_tx: mpsc::Sender<Chunk>,
    /// Body bytes handed to the connection.
    pub bytes_sent: u64,
    /// Set when reading the request body failed through the client's fault:
    /// then the client hears about that (413, 408, 400), not whatever the
    /// application answers, as long as no header was sent.
    input_failure: Option<InputFailure>,
    /// The most bytes the application's header lines may take.
    max_head: usize,
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

    fn start(
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

impl ServerHost for RequestState {
    fn start_response(
        &mut self,
        status: String,
        headers: Vec<Header>,
        exc_info: Option<String>,
    ) -> wasmtime::Result<Result<(), StartResponseError>> {
        let result = self.response.start(&status, headers, exc_info);
        if let Err(err) = &result {
            tracing::warn!(app = %self.tag.app, request = self.tag.request, ?err, "start_response refused");
        }
        Ok(result)
    }

    async fn write(&mut self, data: Vec<u8>) -> Result<(), WriteError> {
        if !self.response.started {
            return Err(WriteError::NotStarted);
        }
        self.response
            .send(data)
            .await
            .map_err(|_| WriteError::Disconnected)
    }

    async fn read(&mut self, max: u64) -> Result<Vec<u8>, InputError> {
        let read = self.input.read(max).await;
        if read.is_err() {
            self.response.input_failure = self.input.failure();
        }
        read
    }

    async fn read_line(&mut self, max: u64) -> Result<Vec<u8>, InputError> {
        let read = self.input.read_line(max).await;
        if read.is_err() {
            self.response.input_failure = self.input.failure();
        }
        read
    }

    fn log(&mut self, message: String) -> wasmtime::Result<()> {
        for line in crate::runtime::grants::log_lines(&message) {
            if !self.log_budget.allow() {
                continue;
            }
            tracing::warn!(target: "wasm_gateway::app", app = %self.tag.app, request = self.tag.request, "{line}");
        }
        Ok(())
    }
}

impl crate::wsgi::bindings::TypesHost for RequestState {}
