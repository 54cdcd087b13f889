//! HTTP/1.1 as the host speaks it: the connection guard in front of hyper,
//! client limits, the access log, response bodies, header spelling and the
//! route table.

pub mod access_log;
pub mod body;
pub mod guard;
pub mod header_case;
pub mod limits;
pub mod pages;
pub mod remote_user;
pub mod routes;
pub mod syntax;
