//! One Common Log Format line per request, as wsgiref prints it:
//! `127.0.0.1 - - [21/Nov/2026 12:00:00] "GET / HTTP/1.1" 200 19`.
//!
//! The line is written when the response body is finished or dropped, so the
//! byte count is what was actually handed to the connection.

use hyper::{Method, Uri, Version};
use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use time::OffsetDateTime;
use time::macros::format_description;

/// The log target of access lines; the CLI prints them bare on stdout.
pub const TARGET: &str = "wasm_gateway::access";

/// The request line as the access log shows it.
#[derive(Debug)]
enum Line {
    /// A request hyper parsed.
    Parsed {
        method: Method,
        uri: Uri,
        version: Version,
    },
    /// A refused request, as received (already made printable).
    Raw(String),
}

/// What the access line needs to know about a request.
#[derive(Debug)]
pub struct AccessLog {
    remote: IpAddr,
    line: Line,
    /// The status sent.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
}

impl AccessLog {
    /// Starts the record of a request.
    pub fn new(remote: IpAddr, method: Method, uri: Uri, version: Version) -> Self {
        AccessLog {
            remote,
            line: Line::Parsed {
                method,
                uri,
                version,
            },
            status: 0,
            bytes: 0,
        }
    }

    /// The record of a request refused before it was parsed; `line` is its
    /// request line, printable.
    pub fn refused(remote: IpAddr, line: String) -> Self {
        AccessLog {
            remote,
            line: Line::Raw(line),
            status: 0,
            bytes: 0,
        }
    }

    /// Writes the line.
    pub fn emit(&self) {
        if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
            return;
        }
        let date = log_date();
        match &self.line {
            Line::Parsed {
                method,
                uri,
                version,
            } => tracing::info!(
                target: TARGET,
                "{} - - [{}] \"{} {} {}\" {} {}",
                self.remote,
                date,
                method,
                uri,
                crate::environ::protocol(*version),
                self.status,
                self.bytes
            ),
            Line::Raw(line) => tracing::info!(
                target: TARGET,
                "{} - - [{}] \"{}\" {} {}",
                self.remote,
                date,
                line,
                self.status,
                self.bytes
            ),
        }
    }
}

/// The current time as the access log shows it, formatted at most once per
/// second per thread: under load many lines share a second.
fn log_date() -> Rc<str> {
    thread_local! {
        static CACHE: RefCell<(i64, Rc<str>)> = RefCell::new((i64::MIN, Rc::from("")));
    }
    let now = OffsetDateTime::now_utc();
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != now.unix_timestamp() {
            let text = now
                .format(format_description!(
                    "[day]/[month repr:short]/[year] [hour]:[minute]:[second]"
                ))
                .unwrap_or_default();
            *cache = (now.unix_timestamp(), Rc::from(text));
        }
        cache.1.clone()
    })
}
