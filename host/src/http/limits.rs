//! The limits a client must stay within, and their defaults.
//!
//! `docs/limits.md` lists them with gunicorn's and waitress's equivalents.
//! The head limits and the timeouts are enforced by [`crate::http::guard`] before
//! hyper sees a byte. The body size limit is per application
//! (`max-body` in its limits).

use std::time::Duration;

/// The longest request line hyper itself accepts (its URI limit); a larger
/// configured value could never take effect.
pub const MAX_REQUEST_LINE_CEILING: usize = 65_534;

/// Server-wide limits on what clients send and how slowly they send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest request line (method, target and version), without its CRLF.
    /// Longer: 414.
    pub max_request_line: usize,
    /// Most header fields in a request head (and trailer fields in a chunked
    /// body). More: 431.
    pub max_header_count: usize,
    /// Longest header field line (name, colon and value), without its CRLF.
    /// Longer: 431.
    pub max_header_field: usize,
    /// Largest request head as a whole. Larger: 431.
    pub max_head_size: usize,
    /// Time from the first byte of a request head to its end. Past it: 408.
    pub header_timeout: Duration,
    /// Idle time allowed between requests on a kept-alive connection. Past
    /// it the connection is closed without a word.
    pub keep_alive_timeout: Duration,
    /// Longest wait for more request body bytes while the application reads.
    /// Past it the read fails and the client gets 408 (if nothing was sent).
    pub body_timeout: Duration,
    /// Longest a client may leave its response unread (a write that makes
    /// no progress). Past it the connection is dropped.
    pub send_timeout: Duration,
    /// Most open client connections. Further ones wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_request_line: 8190,
            max_header_count: 100,
            max_header_field: 8190,
            max_head_size: 64 << 10,
            header_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(30),
            max_connections: 10_000,
        }
    }
}

impl HttpLimits {
    /// Checks that the limits can work together; the error names the limit
    /// and what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_request_line < 16 || self.max_request_line > MAX_REQUEST_LINE_CEILING {
            return Err(format!(
                "max-request-line is {}: use a value from 16 to {MAX_REQUEST_LINE_CEILING}",
                self.max_request_line
            ));
        }
        if self.max_header_field < 16 {
            return Err(format!(
                "max-header-field is {}: use at least 16",
                self.max_header_field
            ));
        }
        if self.max_header_count == 0 || self.max_header_count > 10_000 {
            return Err(format!(
                "max-header-count is {}: use a value from 1 to 10000",
                self.max_header_count
            ));
        }
        if self.max_head_size < self.max_request_line + 2 {
            return Err(format!(
                "max-head-size ({}) is smaller than max-request-line ({}): raise max-head-size",
                self.max_head_size, self.max_request_line
            ));
        }
        if self.max_connections == 0 || self.max_connections > 1_000_000 {
            return Err(format!(
                "max-connections is {}: use a value from 1 to 1000000",
                self.max_connections
            ));
        }
        for (name, value) in [
            ("header-timeout", self.header_timeout),
            ("keep-alive-timeout", self.keep_alive_timeout),
            ("body-timeout", self.body_timeout),
            ("send-timeout", self.send_timeout),
        ] {
            if value.is_zero() {
                return Err(format!("{name} is 0: use a positive duration such as 5s"));
            }
        }
        Ok(())
    }
}
