//! The WSGI contract as the host keeps it: the WIT bindings, the environ,
//! `start_response`, the request body as `wsgi.input`, and request errors.

pub mod app_log;
pub(crate) mod bindings;
pub mod environ;
pub mod errors;
pub mod input;
pub mod request;
pub mod sink;
pub mod start_response;
