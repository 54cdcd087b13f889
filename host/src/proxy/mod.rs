//! The other world the host serves: standard `wasi:http/proxy` components,
//! the kind `wasmtime serve`, Spin, wasmCloud and Fastly run.
//!
//! wasmtime-wasi-http implements the interfaces; this layer is what the
//! gateway adds around them: the request a component sees (the mount
//! prefix in a header, the body under the app's size limit), and the
//! response it sets, held to the app's head cap and ended honestly (a body
//! the guest never finished is an aborted response, not a short one).
//! Running the guest (limits, lanes, reuse) is the runtime's
//! (`runtime::proxy`).

pub mod request;
pub mod response;

pub use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};

/// The export that makes a component a `wasi:http` handler, without its
/// version (any 0.2.x serves).
pub const INCOMING_HANDLER: &str = "wasi:http/incoming-handler";

/// Whether the export `name` (`package/interface@version`) is a
/// `wasi:http/incoming-handler` this host can call.
pub fn is_handler_export(name: &str) -> bool {
    name.split_once('@').is_some_and(|(interface, version)| {
        interface == INCOMING_HANDLER && version.starts_with("0.2.")
    })
}

#[cfg(test)]
mod tests {
    use super::is_handler_export;

    #[test]
    fn any_0_2_handler_is_served() {
        assert!(is_handler_export("wasi:http/incoming-handler@0.2.0"));
        assert!(is_handler_export("wasi:http/incoming-handler@0.2.6"));
        assert!(!is_handler_export(
            "wasi:http/incoming-handler@0.3.0-rc-2025-09-16"
        ));
        assert!(!is_handler_export("wasi:http/incoming-handler"));
        assert!(!is_handler_export("wasi:http/handler@0.2.0"));
    }
}
