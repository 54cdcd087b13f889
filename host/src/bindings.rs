//! Rust bindings for the `wasm-gateway:wsgi` WIT package, generated once here.
//!
//! Everything else in the crate uses these re-exports, never `bindgen!` itself, so
//! the mapping from WIT to Rust lives in one place.

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "app",
        imports: {
            // Reading the request body and writing to the client wait on the
            // network; they must not block a runtime thread.
            "wasm-gateway:wsgi/server.read": async,
            "wasm-gateway:wsgi/server.read-line": async,
            "wasm-gateway:wsgi/server.write": async,
            default: trappable,
        },
        exports: { default: async },
    });
}

pub use generated::App as AppBindings;
pub use generated::AppPre as AppBindingsPre;

pub use generated::wasm_gateway::wsgi::server::Host as ServerHost;
pub use generated::wasm_gateway::wsgi::types::{
    Environ, Header, Host as TypesHost, InputError, StartResponseError, WriteError,
};
