//! Rust bindings for `wasi:keyvalue@0.2.0-draft2` (`wit/deps/keyvalue.wit`),
//! world `imports`: generated once here. Every function is async (a store
//! answers over the network or from the blocking pool) and may trap (a
//! resource that is not in the table).

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasi:keyvalue/imports",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": crate::kv::host::BucketHandle,
            "wasi:keyvalue/atomics.cas": crate::kv::host::CasHandle,
        },
    });
}

pub use generated::Imports;
pub use generated::wasi::keyvalue::atomics::{CasError, Host as AtomicsHost, HostCas as CasHost};
pub use generated::wasi::keyvalue::batch::Host as BatchHost;
pub use generated::wasi::keyvalue::store::{
    Error, Host as StoreHost, HostBucket as BucketHost, KeyResponse,
};

/// The interfaces of the package the host implements, by name without
/// version.
pub const INTERFACES: [&str; 3] = [
    "wasi:keyvalue/store",
    "wasi:keyvalue/atomics",
    "wasi:keyvalue/batch",
];

/// The one version of the package the host serves: a draft, so no other
/// version is compatible with it.
pub const VERSION: &str = "0.2.0-draft2";

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_is_the_wit_package_s() {
        let wit = include_str!("../../../wit/deps/keyvalue.wit");
        assert!(wit.contains(&format!("package wasi:keyvalue@{};", super::VERSION)));
    }
}
