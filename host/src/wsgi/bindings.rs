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

/// A name in the host's WIT package: `wsgi_name!("next")` is the interface
/// `wasm-gateway:wsgi/next`, `wsgi_name!("app" @)` the world at the
/// package's version. The package and its version are written here only (as
/// `wit/wsgi.wit` declares them; a unit test checks).
macro_rules! wsgi_name {
    ($item:literal) => {
        concat!("wasm-gateway:wsgi/", $item)
    };
    ($item:literal @) => {
        concat!("wasm-gateway:wsgi/", $item, "@", "0.1.0")
    };
}

/// The export every application (and middleware) must have.
pub const APPLICATION_EXPORT: &str = wsgi_name!("application" @);
/// The interface a middleware imports to call the layer behind it.
pub const NEXT_IMPORT: &str = wsgi_name!("next");
/// The package's interfaces every component may import.
pub const INTERFACES: [&str; 3] = [wsgi_name!("types"), wsgi_name!("server"), NEXT_IMPORT];

/// Whether an import of the package at `version` is one this host serves:
/// the same major and minor version (for 0.x, the minor is the major).
pub fn serves_version(version: &str) -> bool {
    let ours = APPLICATION_EXPORT.rsplit_once('@').map_or("", |(_, v)| v);
    let series = ours.rsplit_once('.').map_or(ours, |(series, _)| series);
    version
        .strip_prefix(series)
        .is_some_and(|patch| patch.starts_with('.'))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_wit_package() {
        let wit = include_str!("../../../wit/wsgi.wit");
        let (package, version) = APPLICATION_EXPORT
            .split_once('/')
            .and_then(|(package, rest)| Some((package, rest.split_once('@')?.1)))
            .unwrap();
        assert!(
            wit.contains(&format!("package {package}@{version};")),
            "wit/wsgi.wit declares another package or version than {APPLICATION_EXPORT}"
        );
        assert!(serves_version("0.1.0") && serves_version("0.1.7"));
        assert!(!serves_version("0.2.0") && !serves_version("0.10.0") && !serves_version("1.1.0"));
    }
}
