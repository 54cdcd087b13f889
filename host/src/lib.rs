//! wasm-gateway: WSGI rebuilt for the sandbox.
//!
//! The host runs web applications compiled to WebAssembly components. Each
//! application is compiled once; each request gets a fresh instance in its
//! own `Store`, is handed the request's environ, calls `start-response`
//! (an import), and returns its body as a resource the host pulls chunk by
//! chunk. The contract is the WIT package in `wit/`.
//!
//! # Layout
//!
//! Seven layers, each a top-level module with one purpose. Imports point
//! down this list, never up, so the modules form no cycle (a test in
//! `tests/e2e/layers.rs` reads the sources and checks it):
//!
//! - `cli`: the command tree (`serve`, `check`, `python build`), log set-up,
//!   signals. Uses everything below.
//! - `server`: the accept loop, the connection guard in front of hyper, and
//!   per request one tracing span and one access-log record. Uses `gateway`,
//!   `http` and `wsgi` (the connection info).
//! - `gateway`: routing a request to an application chain, a static root
//!   or a 404; loading a gateway file's applications; static files. Uses
//!   `config`, `runtime`, `wsgi`, `http`.
//! - `config`: `gateway.toml` to typed settings; every option declared once
//!   for the command line and the file (`config::options`); sizes and
//!   durations. Uses `runtime` (the settings types) and `http`.
//! - `runtime`: the wasmtime engine, compiling and linking, grants, the
//!   store, admission, instance reuse, and running one request through one
//!   layer (`invoke`) or a middleware chain (`chain`; the one cycle allowed,
//!   inside this folder). Uses `wsgi` and `http`.
//! - `wsgi`: the contract with the guest: WIT bindings, environ,
//!   `start_response`, `wsgi.input`, the response sink, the application's
//!   log, request errors. Uses `http`.
//! - `http`: HTTP/1.1 with no knowledge of WebAssembly: the guard, limits,
//!   the access log, response bodies, pages, header spelling, the route
//!   table, syntax helpers. Uses nothing else in the crate.
//!
//! Everything is private; the names below are what the binary, the tests and
//! the benches use.

mod cli;
mod config;
mod gateway;
mod http;
mod runtime;
mod server;
mod wsgi;

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
