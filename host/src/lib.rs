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
//! Twelve layers, each a top-level module with one purpose. Imports point
//! down this list, never up, so the modules form no cycle (the `layering`
//! unit test reads the sources and checks every `crate::` path):
//!
//! - `cli`: the command tree (`serve`, `check`, `python build`), log set-up,
//!   signals. Uses everything below.
//! - `ops`: running in production: the admin listener (health, readiness,
//!   Prometheus metrics, reload, the status page), reloading the gateway,
//!   `--watch`. Uses `server`, `gateway`, `config`, `runtime`, `stats`.
//! - `server`: the accept loop, the connection guard in front of hyper, and
//!   per request one tracing span and one access-log record. Uses `gateway`,
//!   `http` and `wsgi` (the connection info).
//! - `gateway`: routing a request to an application chain, a static root
//!   or a 404; loading a gateway file's applications; static files. Uses
//!   `config`, `runtime`, `wsgi`, `http`.
//! - `config`: `gateway.toml` to typed settings; every option declared once
//!   for the command line and the file (`config::options`); sizes and
//!   durations. Uses `runtime` (the settings types), `outbound` (the
//!   allow-list and the CA file, checked as the file is read), `kv` (the
//!   stores and quotas) and `http`.
//! - `runtime`: the wasmtime engine, compiling and linking, grants, the
//!   store, admission, instance reuse, the host's password hashing for
//!   guests (`kdf`), and running one request through one layer (`invoke`),
//!   a middleware chain (`chain`; the one cycle allowed, inside this
//!   folder) or a `wasi:http` component (`proxy`). Uses `proxy`,
//!   `outbound`, `kv`, `wsgi` and `http`.
//! - `proxy`: the `wasi:http/proxy` world's side of a request (its
//!   interfaces are wasmtime-wasi-http's): the request a component sees, and
//!   its response held to the app's limits and ended honestly. Uses `wsgi`
//!   (request errors, the connection info) and `http`.
//! - `outbound`: guests' outbound HTTP (`wasi:http/outgoing-handler`): the
//!   allow-list, resolving and filtering addresses, connecting, TLS, the
//!   per-application connection cap. Uses `wsgi` (the application's log
//!   budget), `http` and `stats`.
//! - `kv`: guests' key-value stores (`wasi:keyvalue`): the bindings, the
//!   grant check, quotas, namespaces, the SQLite and Redis backends, and
//!   the registry of open stores. Uses `wsgi` (the application's log
//!   budget) and `stats`.
//! - `wsgi`: the contract with the guest: WIT bindings, environ,
//!   `start_response`, `wsgi.input`, the response sink, the application's
//!   log, request errors. Uses `http`.
//! - `http`: HTTP/1.1 with no knowledge of WebAssembly: the guard, limits,
//!   the access log, response bodies, pages, header spelling, the route
//!   table, syntax helpers. Uses nothing else in the crate.
//! - `stats`: the counters the layers above bump as they serve (per app,
//!   per server, per runtime): plain atomics, read by `ops`. Uses nothing.
//!
//! Everything is private; the names below are what the binary, the tests and
//! the benches use.

mod cli;
mod config;
mod gateway;
mod http;
mod kv;
mod ops;
mod outbound;
mod proxy;
mod runtime;
mod server;
mod stats;
mod wsgi;

pub use cli::logging::{LogFormat, init as init_logging};
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

#[cfg(test)]
mod layering {
    //! The Layout above, checked: every `crate::` path in a layer's sources
    //! names a layer further down the list (or its own).

    use std::path::Path;

    /// The layers, top first: each may use only those after it.
    const LAYERS: [&str; 12] = [
        "cli", "ops", "server", "gateway", "config", "runtime", "proxy", "outbound", "kv", "wsgi",
        "http", "stats",
    ];

    /// The `crate::NAME` paths in `text`.
    fn crate_paths(text: &str) -> impl Iterator<Item = &str> {
        text.match_indices("crate::").map(|(at, _)| {
            let rest = &text[at + "crate::".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
    }

    fn sources(path: &Path, out: &mut Vec<(String, String)>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                sources(&entry.unwrap().path(), out);
            }
        } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
            out.push((
                path.display().to_string(),
                std::fs::read_to_string(path).unwrap(),
            ));
        }
    }

    #[test]
    fn layers_use_only_the_layers_below_them() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut problems = Vec::new();
        for (rank, layer) in LAYERS.iter().enumerate() {
            let mut files = Vec::new();
            sources(&src.join(layer), &mut files);
            sources(&src.join(format!("{layer}.rs")), &mut files);
            assert!(!files.is_empty(), "no sources for the layer {layer}");
            for (file, text) in &files {
                for used in crate_paths(text) {
                    match LAYERS.iter().position(|l| *l == used) {
                        Some(other) if other >= rank => {}
                        Some(_) => problems.push(format!("{file}: {layer} uses crate::{used}, a layer above it")),
                        None => problems.push(format!("{file}: crate::{used} is not a layer (import from the layer that defines it)")),
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// The server writes the one access-log record: the layers that run a
    /// request below it (gateway, runtime, wsgi) never name the access log.
    #[test]
    fn only_the_server_writes_access_lines() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        for layer in ["gateway", "runtime", "wsgi"] {
            sources(&src.join(layer), &mut files);
        }
        let users: Vec<_> = files
            .iter()
            .filter(|(_, text)| text.contains("access_log"))
            .map(|(file, _)| file.as_str())
            .collect();
        assert!(users.is_empty(), "{users:?}");
    }

    #[test]
    fn the_check_sees_a_path_upwards() {
        let paths: Vec<_> = crate_paths("use crate::runtime::App; [`crate::http`]").collect();
        assert_eq!(paths, ["runtime", "http"]);
    }
}
