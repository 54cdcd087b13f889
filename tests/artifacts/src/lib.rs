//! Paths of the example and fixture components, compiled once per test run by
//! this crate's build script.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
