//! wasm-gateway: WSGI rebuilt for the sandbox.
//!
//! The host runs web applications compiled to WebAssembly components. Each
//! application is compiled once; each request gets a fresh instance in its
//! own `Store`, is handed the request's environ, calls `start-response`
//! (an import), and returns its body as a resource the host pulls chunk by
//! chunk. The contract is the WIT package in `wit/`.
//!
//! # Layout
//! - [`cli`]: the command line (`wasm-gateway serve app.wasm`).
//! - [`config`]: the gateway configuration file (`gateway.toml`).
//! - [`gateway`]: the loaded applications and the route table.
//! - [`server`]: accepting connections and serving them with hyper.
//! - [`guard`]: strict request framing, head limits and client timeouts,
//!   checked before hyper sees a byte.
//! - [`header_case`]: response header names spelled as the application
//!   wrote them.
//! - [`limits`]: the limits clients must stay within.
//! - [`listen`]: the listen address (`--listen`, `[server] listen`).
//! - [`invoke`]: one request's life: instantiate, call, stream, close.
//! - [`chain`]: middleware chains, each layer in its own instance.
//! - [`admission`]: per-application concurrency cap and queue.
//! - [`environ`]: the WSGI environ built from an HTTP request.
//! - [`start_response`]: validating status and headers.
//! - [`request`]: per-request store state and the guest's imports.
//! - [`input`]: the request body read on demand (`wsgi.input`).
//! - [`response`]: the streamed response body.
//! - [`routing`]: the route table: virtual host and path prefix to target.
//! - [`static_files`]: directories served read-only (files, ranges, caching).
//! - [`error`]: request errors and the one place they become responses.
//! - [`access_log`]: the Common Log Format line.
//! - [`runtime`]: the wasmtime engine and application loading.
//! - [`sandbox`]: grants: the WASI interfaces and context an app gets.
//! - [`reuse`]: the opt-in pool of instances reused across requests.
//! - [`logging`]: log output for the binary.

pub mod cli;
pub mod config;
pub mod gateway;
pub mod http;
pub mod runtime;
pub mod server;
pub mod wsgi;

/// The `Server` header value (and `SERVER_SOFTWARE`).
pub const SERVER_SOFTWARE: &str = concat!("wasm-gateway/", env!("CARGO_PKG_VERSION"));

pub use cli::logging::init as init_logging;
pub use cli::{Cli, main as run};
pub use config::{GatewayConfig, load as load_config};
pub use gateway::Gateway;
pub use http::limits::HttpLimits;
pub use http::routes::{RouteTable, RouteTableBuilder};
pub use runtime::grants::Grants;
pub use runtime::profile::Profile;
pub use runtime::reuse::Reuse;
pub use runtime::{App, AppConfig, CompileCache, Compiled, LoadError, Runtime, RuntimeConfig};
pub use server::{Server, ServerConfig};
