//! One Common Log Format line per request, as Apache, nginx and gunicorn
//! print it:
//! `127.0.0.1 - alice [21/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 19`.
//! The user is the `REMOTE_USER` a middleware set (`-` when none did).
//!
//! The line is written when the response body is finished or dropped, so the
//! byte count is what was actually handed to the connection.

use crate::http::remote_user::RemoteUser;
use hyper::{Method, Uri, Version};
use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

use time::OffsetDateTime;
use time::macros::format_description;

/// The log target of access lines; the CLI prints them bare on stdout.
pub const TARGET: &str = "wasm_gateway::access";

/// Whether access lines are written at all (`--access-log off` clears it).
/// One switch for the process, like the log levels: it chooses what the
/// process prints, not how any tenant is served.
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns access lines on or off for the whole process; every other log
/// line is unaffected.
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// `--access-log on|off`, `[server] access-log = "on"|"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    /// Access lines on stdout (the default).
    On,
    /// No access lines; errors and warnings still go to stderr.
    Off,
}

/// The longest user name the access line shows; the rest is cut.
const MAX_USER: usize = 64;

/// The user as the access line shows it: guest-controlled text, so escaped
/// (no spaces or control bytes that could forge a field or a line) and cut
/// to [`MAX_USER`] bytes.
fn user_field(user: &RemoteUser) -> Option<String> {
    user.with(|user| {
        let user = user.filter(|u| !u.is_empty())?;
        let mut text = String::new();
        for b in user.bytes().take(MAX_USER) {
            match b {
                b'!'..=b'~' if b != b'"' && b != b'\\' => text.push(char::from(b)),
                _ => text.push_str(&format!("\\x{b:02x}")),
            }
        }
        if user.len() > MAX_USER {
            text.push_str("...");
        }
        Some(text)
    })
}

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
    /// Filled in by a middleware that authenticated the request.
    user: Option<RemoteUser>,
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
            user: None,
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
            user: None,
            status: 0,
            bytes: 0,
        }
    }

    /// Shows the user a middleware records in `user`.
    pub fn with_user(&mut self, user: RemoteUser) {
        self.user = Some(user);
    }

    /// Writes the line.
    pub fn emit(&self) {
        if !ENABLED.load(Ordering::Relaxed)
            || !tracing::enabled!(target: TARGET, tracing::Level::INFO)
        {
            return;
        }
        let date = log_date();
        let user = self.user.as_ref().and_then(user_field);
        let user = user.as_deref().unwrap_or("-");
        match &self.line {
            Line::Parsed {
                method,
                uri,
                version,
            } => tracing::info!(
                target: TARGET,
                parent: None,
                "{} - {} [{}] \"{} {} {}\" {} {}",
                self.remote,
                user,
                date,
                method,
                Quoted(uri),
                crate::http::syntax::protocol(*version),
                self.status,
                self.bytes
            ),
            Line::Raw(line) => tracing::info!(
                target: TARGET,
                parent: None,
                "{} - {} [{}] \"{}\" {} {}",
                self.remote,
                user,
                date,
                line,
                self.status,
                self.bytes
            ),
        }
    }
}

/// A request target inside the quoted request field: `"` and `\\` escaped
/// with a backslash, as Apache writes them, so a target cannot end the
/// field early and forge the rest of the line.
struct Quoted<'a>(&'a Uri);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        // Only the path and query can hold either (the authority cannot).
        let clean = self
            .0
            .path_and_query()
            .is_none_or(|pq| !pq.as_str().contains(['"', '\\']));
        if clean {
            return self.0.fmt(f);
        }
        let text = self.0.to_string();
        for c in text.chars() {
            if c == '"' || c == '\\' {
                f.write_char('\\')?;
            }
            f.write_char(c)?;
        }
        Ok(())
    }
}

/// The current time as the access log shows it (UTC, so the zone is always
/// `+0000`), formatted at most once per
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
                    "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
                ))
                .unwrap_or_default();
            *cache = (now.unix_timestamp(), Rc::from(text));
        }
        cache.1.clone()
    })
}
