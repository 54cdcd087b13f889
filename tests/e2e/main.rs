//! End-to-end tests: the real server on 127.0.0.1:0, real HTTP over sockets.
//!
//! Guests are compiled once per test run by `wasm-gateway-test-artifacts`.
//! Every fixture has a test function with its own name; the
//! `foreach_fixture!` check below fails to compile if one is missing.

mod browser;
mod cli;
mod corpus;
mod django;
mod examples;
mod fixtures;
mod gateway;
mod hostile;
mod isolation;
mod kv;
mod logs;
mod middleware;
mod ops;
mod proxy;
mod python;
mod redis;
mod support;

macro_rules! assert_fixture_tested {
    ($name:ident) => {
        #[expect(unused_imports, reason = "only checks that the test exists")]
        use fixtures::$name as _;
    };
}
wasm_gateway_test_artifacts::foreach_fixture!(assert_fixture_tested);
