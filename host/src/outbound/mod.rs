//! Outbound HTTP for guests: the operator's allow-list, and the one way
//! out of the sandbox (`wasi:http/outgoing-handler`).
//!
//! STUB: the interface the runtime links against; the policy, resolution,
//! connection and TLS are filled in by the outbound work of issue 16.

use std::path::Path;
use std::sync::Arc;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The `outbound-http` grant, parsed: which `scheme://host:port`
/// destinations an application may call. Empty: none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    rules: Vec<String>,
}

impl AllowList {
    /// Parses the grant's rules; the error names the rule and the syntax.
    pub fn parse<S: AsRef<str>>(rules: &[S]) -> Result<AllowList, String> {
        Ok(AllowList {
            rules: rules.iter().map(|r| r.as_ref().to_owned()).collect(),
        })
    }

    /// Whether no destination is allowed.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// TLS client settings shared by every application: the webpki roots plus
/// the operator's `outbound-ca` file.
#[derive(Debug, Clone)]
pub struct Tls {}

impl Tls {
    /// Builds the settings; the error names the file and what is wrong.
    pub fn new(_extra_ca: Option<&Path>) -> Result<Tls, String> {
        Ok(Tls {})
    }
}

/// One application's way out: its allow-list and its connection cap,
/// shared by all its instances.
#[derive(Debug)]
pub struct Outbound {}

impl Outbound {
    /// `app`'s outbound settings: `allow`, at most `max_connections` open at
    /// once, TLS by `tls`.
    pub fn new(_app: Arc<str>, _allow: AllowList, _max_connections: usize, _tls: Arc<Tls>) -> Self {
        Outbound {}
    }
}

/// The `wasi:http` hooks of one store: sends what the allow-list allows,
/// within what is left of the request's deadline.
pub struct Hooks {
    _outbound: Arc<Outbound>,
    deadline: Option<tokio::time::Instant>,
}

impl Hooks {
    /// Hooks for a store of the application `outbound` belongs to.
    pub fn new(outbound: Arc<Outbound>) -> Self {
        Hooks {
            _outbound: outbound,
            deadline: None,
        }
    }

    /// The deadline of the request the store serves now: no outbound
    /// connection outlives it.
    pub fn set_deadline(&mut self, deadline: tokio::time::Instant) {
        self.deadline = Some(deadline);
    }
}

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                )>,
            > + Send,
    > {
        Box::new(async { Err(Error::HttpRequestDenied) })
    }
}
