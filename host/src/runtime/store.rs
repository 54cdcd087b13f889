//! The data of a request's `Store`, and the host side of the guest's
//! imports.
//!
//! [`StoreData`] is what wasmtime needs (the WASI context, the resource
//! table, the memory limits) plus what the host tracks per instance (its
//! captured output, its place in a middleware chain) and, as one field, the
//! request the instance serves now ([`WsgiRequest`]): the WSGI state lives in
//! `wsgi`, and the `server` imports here only hand over to it.

use crate::outbound::Hooks;
use crate::runtime::App;
use crate::runtime::chain::LayerRef;
use crate::runtime::kdf::Kdf;
use crate::runtime::quota::InstanceQuota;
use crate::wsgi::app_log::{self, Captured, LogBudget};
use crate::wsgi::bindings::{Header, InputError, ServerHost, StartResponseError, WriteError};
use crate::wsgi::request::WsgiRequest;
use crate::wsgi::sink::ResponseSink;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The most resources (streams, pollables, `wasi:http` fields, requests,
/// bodies, ...) one instance may hold at once. They live in host memory,
/// outside the instance's memory limit: with each `fields` capped too (at
/// the app's `max-response-head`), this bounds what a guest that creates
/// them in a loop can make the host keep (1024 x 64 KiB by default).
/// Real guests hold a few dozen.
pub const MAX_RESOURCES: usize = 1024;

/// The data of one instance's `Store`.
pub struct StoreData {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    /// Outbound HTTP under the application's grant, within the request's
    /// deadline.
    pub(crate) hooks: Hooks,
    /// Key-value stores under the application's grant, within the
    /// request's deadline.
    pub(crate) kv: crate::kv::KvCtx,
    /// Password hashing (`wasm-gateway:python/kdf`) within the request's
    /// deadline and the application's share of the workers.
    pub(crate) kdf: Kdf,
    /// Caps the instance's memories and tables, all together; installed
    /// with `Store::limiter`.
    pub limits: InstanceQuota,
    /// The request being served; detached between the requests of a
    /// reused instance.
    pub(crate) request: WsgiRequest,
    /// Where this store sits in a middleware chain; `None` for an
    /// application served alone.
    pub(crate) layer: Option<LayerRef>,
    /// Whether the guest broke the contract during this request (a refused
    /// `start_response`), however the request ends: it counts toward the
    /// application's cost ([`crate::runtime::lanes::Cost`]).
    pub(crate) faulted: bool,
    /// The captured stdout and stderr, when they are captured.
    captured: Option<Captured>,
    /// The application's log rate limit (`wsgi.errors`, stdout, stderr).
    log_budget: Arc<LogBudget>,
    /// Counts the instance live while the store exists.
    _live: crate::stats::LiveInstance,
}

/// What changes from one request to the next in a store.
pub struct PerRequest {
    /// The request.
    pub wsgi: WsgiRequest,
    /// The store's place in a middleware chain, if it is in one.
    pub layer: Option<LayerRef>,
}

impl StoreData {
    /// Data for a store of `app` serving `request` first: the app's WASI
    /// context (with its captured streams, if any), memory and table
    /// limits, and outbound hooks.
    pub fn new(app: &App, request: PerRequest) -> Self {
        let (wasi, captured) = app.sandbox.wasi_ctx();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let mut http = WasiHttpCtx::new();
        // Fields are counted in memory, a little over their wire size.
        http.set_field_size_limit(app.config.max_response_head.max(16 << 10));
        StoreData {
            wasi,
            table,
            http,
            hooks: Hooks::new(app.outbound.clone()),
            kv: crate::kv::KvCtx::new(app.kv.clone()),
            kdf: Kdf::new(app.kdf.clone()),
            limits: InstanceQuota::new(app.config.memory, app.config.table_elements),
            request: request.wsgi,
            layer: request.layer,
            faulted: false,
            captured,
            log_budget: app.sandbox.log_budget.clone(),
            _live: app.runtime_stats.instance(),
        }
    }

    /// Points a reused store at its next request.
    pub fn begin(&mut self, request: PerRequest) {
        self.request = request.wsgi;
        self.layer = request.layer;
        self.faulted = false;
        self.limits.clear_refused();
    }

    /// Detaches the finished request: logs what is left of its captured
    /// output, lets go of its body and hands back its response, so the
    /// store holds nothing of a connection and can be reused or dropped
    /// before the response's end goes out.
    pub fn end(&mut self) -> ResponseSink {
        if let Some(captured) = &self.captured {
            captured.end();
        }
        self.layer = None;
        std::mem::take(&mut self.request).response
    }

    /// The resource table (the `wasi:io` bindings need only this).
    pub fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// What the `wasi:keyvalue` bindings work on.
    pub fn kv(&mut self) -> crate::kv::KvView<'_> {
        crate::kv::KvView {
            ctx: &mut self.kv,
            table: &mut self.table,
        }
    }
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreData {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl ServerHost for StoreData {
    fn start_response(
        &mut self,
        status: String,
        headers: Vec<Header>,
        exc_info: Option<String>,
    ) -> wasmtime::Result<Result<(), StartResponseError>> {
        let result = self.request.response.start(&status, headers, exc_info);
        if let Err(err) = &result {
            self.faulted = true;
            // A guest may call it in a loop, with anything in it: the line
            // goes through its log budget, cut to one line.
            if self.log_budget.allow() {
                tracing::warn!(err = %app_log::cut(&format!("{err:?}")), "start_response refused");
            }
        }
        Ok(result)
    }

    async fn write(&mut self, data: Vec<u8>) -> Result<(), WriteError> {
        self.request.write(data).await
    }

    async fn read(&mut self, max: u64) -> Result<Vec<u8>, InputError> {
        self.request.read(max).await
    }

    async fn read_line(&mut self, max: u64) -> Result<Vec<u8>, InputError> {
        self.request.read_line(max).await
    }

    fn log(&mut self, message: String) -> wasmtime::Result<()> {
        app_log::log_message(&self.log_budget, &message);
        Ok(())
    }
}

impl crate::wsgi::bindings::TypesHost for StoreData {}
