//! Per-request store state, and the server side of the WIT interface.
//!
//! Every request gets a fresh [`RequestState`] inside a fresh `Store`; the
//! guest's `start-response`, `write`, `read` and `log` imports act on it. The
//! response half ([`ResponseSink`]) decides when the head goes to the client:
//! at the first non-empty body chunk or at the end, as PEP 3333 requires.

use crate::runtime::chain::LayerRef;
use crate::wsgi::app_log::{Captured, LogBudget};
use crate::wsgi::bindings::{Header, InputError, ServerHost, StartResponseError, WriteError};
use crate::wsgi::input::Input;
use crate::wsgi::sink::ResponseSink;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

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
    /// The captured stdout and stderr, when they are captured.
    captured: Option<Captured>,
    /// The application's log rate limit (`wsgi.errors`, stdout, stderr).
    log_budget: Arc<LogBudget>,
}

/// What changes from one request to the next in a store.
pub struct PerRequest {
    /// The request body.
    pub input: Input,
    /// Where the response goes.
    pub response: ResponseSink,
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
        RequestState {
            wasi,
            table: ResourceTable::new(),
            limits,
            input: request.input,
            layer: request.layer,
            response: request.response,
            captured,
            log_budget,
        }
    }

    /// Points a reused store at its next request.
    pub fn begin(&mut self, request: PerRequest) {
        self.input = request.input;
        self.layer = request.layer;
        self.response = request.response;
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

impl ServerHost for RequestState {
    fn start_response(
        &mut self,
        status: String,
        headers: Vec<Header>,
        exc_info: Option<String>,
    ) -> wasmtime::Result<Result<(), StartResponseError>> {
        let result = self.response.start(&status, headers, exc_info);
        if let Err(err) = &result {
            tracing::warn!(?err, "start_response refused");
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
        for line in crate::wsgi::app_log::log_lines(&message) {
            if !self.log_budget.allow() {
                continue;
            }
            tracing::warn!(target: "wasm_gateway::app", "{line}");
        }
        Ok(())
    }
}

impl crate::wsgi::bindings::TypesHost for RequestState {}
