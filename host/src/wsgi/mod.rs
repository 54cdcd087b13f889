//! The WSGI contract as the host keeps it: the WIT bindings, the environ,
//! `start_response`, the request body as `wsgi.input`, the response sink,
//! the request state the guest's imports act on, the application's log, and
//! request errors (and the one place they become responses).

pub mod app_log;
pub(crate) mod bindings;
pub mod environ;
pub mod errors;
pub mod input;
pub mod request;
pub mod sink;
pub mod start_response;
