//! Rust bindings for the `wasm-gateway:wsgi` WIT package, generated once here.
//!
//! Everything else in the crate uses these re-exports, never `bindgen!` itself, so
//! the mapping from WIT to Rust lives in one place. The bindings are those of
//! the `middleware` world, a superset of `app` (`next` is linked for every
//! component; an application without a layer behind it that calls it gets an
//! error), so one set of bindings instantiates both.

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "middleware",
        imports: {
            // Reading the request body and writing to the client wait on the
            // network; they must not block a runtime thread.
            "wasm-gateway:wsgi/server.read": async,
            "wasm-gateway:wsgi/server.read-line": async,
            "wasm-gateway:wsgi/server.write": async,
            // Calling the next layer runs a whole guest.
            "wasm-gateway:wsgi/next.call": async | trappable,
            "wasm-gateway:wsgi/next.[method]body.next": async | trappable,
            "wasm-gateway:wsgi/next.[drop]body": async | trappable,
            default: trappable,
        },
        exports: { default: async },
        with: {
            "wasm-gateway:wsgi/next.body": crate::wsgi::bindings::NextBody,
        },
    });
}

use crate::http::body::Chunk;
use tokio::sync::mpsc;

pub use generated::Middleware as AppBindings;
pub use generated::MiddlewarePre as AppBindingsPre;

pub use generated::wasm_gateway::wsgi::next::{
    Host as NextHost, HostBody as NextBodyHost, Response as NextResponse,
};
pub use generated::wasm_gateway::wsgi::server::Host as ServerHost;
pub use generated::wasm_gateway::wsgi::types::{
    AppError, Environ, Header, Host as TypesHost, InputError, StartResponseError, WriteError,
};

/// The next layer's body as the calling middleware holds it.
pub struct NextBody {
    pub(crate) chunks: mpsc::Receiver<Chunk>,
    /// Set once `End` arrived, so a further pull says `none` again.
    pub(crate) ended: bool,
}
