//! The raw bindings `wit-bindgen` generates from `wit/wsgi.wit`, world
//! `sdk`: the `app` world plus an export of `next`, for offline composition
//! with `wac plug`. (The `next` import is in the `wasm-gateway-middleware`
//! crate, so that only a middleware imports it.)
//!
//! Nothing here is meant for applications: the rest of the SDK wraps these
//! types and functions, and [`app!`](crate::app) calls the generated
//! `export!` macro for the user. The module is public only because that
//! macro expands in the user's crate and has to name the items below; it is
//! `#[doc(hidden)]` and not covered by semver.
//!
//! # Lints
//!
//! The generated code is full of `unsafe` (canonical-ABI glue), yet this
//! crate keeps the workspace's `unsafe_code = "forbid"`: rustc does not report
//! `unsafe_code` (nor `missing_docs`) for code produced by a macro defined in
//! another crate, and both `generate!` and the `export!` macro it defines are
//! such macros from the point of view of the crate that expands them. An
//! `#[allow(unsafe_code)]` here would in fact be rejected under `forbid`.
//! One consequence: building with `WIT_BINDGEN_DEBUG=1` (which makes
//! `generate!` `include!` a file instead) fails under `forbid`; use it only
//! for a one-off look at the generated code.

wit_bindgen::generate!({
    world: "sdk",
    path: "../wit",
    // The export macro is used from the application's crate, through `app!`.
    pub_export_macro: true,
    // Where `export!(Type)` (the one-argument form) finds these bindings.
    // `app!` always passes `with_types_in $crate::bindings` instead, which
    // also works when the SDK is renamed in a user's Cargo.toml.
    default_bindings_module: "wasm_gateway_sdk::bindings",
});
