//! One line per request, in the format `--access-log` chose:
//!
//! - `common`, the Common Log Format of Apache, nginx and gunicorn:
//!   `127.0.0.1 - alice [21/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 19`;
//! - `combined`, nginx's `combined` (the referer and the user agent, quoted
//!   and escaped) with two quoted fields after it: the request number and the
//!   `X-Request-Id`, `... "https://a.example/" "curl/8.5.0" "7" "-"`;
//! - `json`, one object per line with every field (see [`JsonLine`]).
//!
//! The user is the `REMOTE_USER` a middleware set (`-` when none did). The
//! line is written when the response body is finished or dropped, so the
//! byte count is what was actually handed to the connection.
//!
//! A common line needs nothing beyond what the request line gives, so its
//! record carries no [`Detail`]: neither it nor `off` costs anything that
//! the other formats add.

use crate::http::remote_user::RemoteUser;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, REFERER, USER_AGENT};
use hyper::{Method, Uri, Version};
use std::cell::RefCell;
use std::fmt::{self, Display, Write as _};
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use time::OffsetDateTime;
use time::macros::format_description;

/// The log target of access lines; the CLI prints them bare on stdout.
pub const TARGET: &str = "wasm_gateway::access";

/// The format of access lines, [`Format::Common`] until [`set_format`].
/// One setting for the process, like the log levels: it chooses what the
/// process prints, not how any tenant is served.
static FORMAT: AtomicU8 = AtomicU8::new(Format::Common as u8);

/// Sets the format of every access line from now on (`off`: none; every
/// other log line is unaffected).
pub fn set_format(format: Format) {
    FORMAT.store(format as u8, Ordering::Relaxed);
}

/// The format access lines are written in.
pub fn format() -> Format {
    match FORMAT.load(Ordering::Relaxed) {
        0 => Format::Common,
        1 => Format::Combined,
        2 => Format::Json,
        _ => Format::Off,
    }
}

/// `--access-log common|combined|json|off`, `[server] access-log = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Format {
    /// The Common Log Format on stdout (the default; `on`, its name
    /// before there were other formats, is still accepted).
    #[value(alias = "on")]
    #[serde(alias = "on")]
    Common = 0,
    /// Common, then the quoted referer and user agent (nginx's
    /// `combined`), then the quoted request number and `X-Request-Id`.
    Combined = 1,
    /// One JSON object per line, with every field.
    Json = 2,
    /// No access lines; errors and warnings still go to stderr.
    Off = 3,
}

impl Format {
    /// Whether a record needs a [`Detail`] for this format.
    pub fn wants_detail(self) -> bool {
        matches!(self, Format::Combined | Format::Json)
    }
}

/// `X-Request-Id`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest `X-Request-Id` shown: the `request-id` example middleware
/// keeps incoming ids up to this length, and the log shows what it keeps.
const MAX_X_REQUEST_ID: usize = 200;

/// An `X-Request-Id` worth logging: 1 to [`MAX_X_REQUEST_ID`] letters,
/// digits and `-_.:/+=` (a UUID, nginx's `$request_id`, a base64 token).
/// Anything else is client-controlled text that could pass for another
/// field, and is left out.
fn valid_x_request_id(value: &HeaderValue) -> Option<&str> {
    let bytes = value.as_bytes();
    let ok = (1..=MAX_X_REQUEST_ID).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(b));
    ok.then(|| value.to_str().ok()).flatten()
}

/// The most bytes of a referer or user agent shown; the rest is cut and
/// `...` marks the cut. Both are the client's text, and a line should stay
/// a line a person can read.
const MAX_HEADER_SHOWN: usize = 1024;

/// The longest user name the access line shows; the rest is cut.
const MAX_USER: usize = 64;

/// The user as a text line shows it: guest-controlled text, so escaped
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

/// The user as a JSON line shows it: cut to [`MAX_USER`] bytes (at a
/// character), escaped as a JSON string; `null` when none was set.
fn user_json(user: Option<&RemoteUser>, out: &mut fmt::Formatter<'_>) -> fmt::Result {
    let Some(user) = user else {
        return out.write_str("null");
    };
    user.with(|user| match user.filter(|u| !u.is_empty()) {
        Some(user) => {
            let mut end = user.len().min(MAX_USER);
            while !user.is_char_boundary(end) {
                end -= 1;
            }
            JsonStr(&user[..end]).fmt(out)
        }
        None => out.write_str("null"),
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
    /// What the combined and JSON lines add; `None` for the common format
    /// (and `off`), which then pay for none of it.
    detail: Option<Box<Detail>>,
}

/// What the combined and JSON lines show beyond a common line.
#[derive(Debug)]
pub struct Detail {
    /// The request's number in this process (the `request=N` of its log
    /// lines).
    pub id: u64,
    /// The route's label (the application's name); `None` when no route
    /// matched or the request was refused.
    pub app: Option<Arc<str>>,
    /// The request's `Referer`.
    pub referer: Option<HeaderValue>,
    /// The request's `User-Agent`.
    pub user_agent: Option<HeaderValue>,
    /// The `X-Request-Id` of the response if it has one (the `request-id`
    /// middleware, or the app), else the request's (a proxy in front).
    pub x_request_id: Option<HeaderValue>,
    /// When the request started being served: the line's duration runs
    /// from here to the end of the response body.
    pub started: Instant,
}

impl Detail {
    /// The detail of request number `id`, served from `started`, with the
    /// headers the lines show taken from `headers`.
    pub fn new(id: u64, started: Instant, headers: &HeaderMap) -> Self {
        Detail {
            id,
            app: None,
            referer: headers.get(REFERER).cloned(),
            user_agent: headers.get(USER_AGENT).cloned(),
            x_request_id: headers.get(X_REQUEST_ID).cloned(),
            started,
        }
    }
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
            detail: None,
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
            detail: None,
        }
    }

    /// Adds what the combined and JSON formats show.
    pub fn with_detail(mut self, detail: Detail) -> Self {
        self.detail = Some(Box::new(detail));
        self
    }

    /// Shows the user a middleware records in `user`.
    pub fn with_user(&mut self, user: RemoteUser) {
        self.user = Some(user);
    }

    /// Notes the response's headers: its `X-Request-Id`, when it has one,
    /// is the one the client got, and the one the line shows.
    pub fn note_response(&mut self, headers: &HeaderMap) {
        if let Some(detail) = &mut self.detail
            && let Some(id) = headers.get(X_REQUEST_ID)
        {
            detail.x_request_id = Some(id.clone());
        }
    }

    /// Writes the line.
    pub fn emit(&self) {
        let format = format();
        if format == Format::Off || !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
            return;
        }
        if format != Format::Common {
            return self.emit_detailed(format);
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

    /// Writes a combined or JSON line.
    #[cold]
    fn emit_detailed(&self, format: Format) {
        let ended = Instant::now();
        if format == Format::Json {
            let now = OffsetDateTime::now_utc();
            tracing::info!(target: TARGET, parent: None, "{}", JsonLine { log: self, now, ended });
        } else {
            let date = log_date();
            let user = self.user.as_ref().and_then(user_field);
            let line = CombinedLine {
                log: self,
                date: &date,
                user: user.as_deref().unwrap_or("-"),
            };
            tracing::info!(target: TARGET, parent: None, "{}", line);
        }
    }
}

/// The request line inside the quotes of a text line.
struct RequestLine<'a>(&'a Line);

impl Display for RequestLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Line::Parsed {
                method,
                uri,
                version,
            } => write!(
                f,
                "{} {} {}",
                method,
                Quoted(uri),
                crate::http::syntax::protocol(*version)
            ),
            Line::Raw(line) => f.write_str(line),
        }
    }
}

/// A combined line: the common fields, then `"referer" "user-agent"` as
/// nginx writes them, then `"ID" "X-REQUEST-ID"` (`"-"` for what is
/// missing).
struct CombinedLine<'a> {
    log: &'a AccessLog,
    date: &'a str,
    user: &'a str,
}

impl Display for CombinedLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let log = self.log;
        write!(
            f,
            "{} - {} [{}] \"{}\" {} {}",
            log.remote,
            self.user,
            self.date,
            RequestLine(&log.line),
            log.status,
            log.bytes
        )?;
        let detail = log.detail.as_deref();
        let header = |pick: fn(&Detail) -> &Option<HeaderValue>| {
            detail.and_then(|d| pick(d).as_ref()).map(|v| v.as_bytes())
        };
        write!(
            f,
            " \"{}\" \"{}\" \"",
            Escaped(header(|d| &d.referer)),
            Escaped(header(|d| &d.user_agent))
        )?;
        match detail {
            Some(detail) => write!(f, "{}", detail.id)?,
            None => f.write_char('-')?,
        }
        let x_request_id = detail
            .and_then(|d| d.x_request_id.as_ref())
            .and_then(valid_x_request_id);
        write!(f, "\" \"{}\"", x_request_id.unwrap_or("-"))
    }
}

/// A client's header value inside the quotes of a combined line, escaped
/// as nginx escapes it: `"`, `\`, control bytes and bytes above 0x7e as
/// `\xHH`, so that it can neither end its field nor the line, nor send a
/// terminal escape; cut to [`MAX_HEADER_SHOWN`] bytes. `-` when absent or
/// empty.
struct Escaped<'a>(Option<&'a [u8]>);

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = match self.0 {
            Some(value) if !value.is_empty() => value,
            _ => return f.write_char('-'),
        };
        let shown = &value[..value.len().min(MAX_HEADER_SHOWN)];
        let mut rest = shown;
        while !rest.is_empty() {
            // Runs of plain bytes go out in one write.
            let plain = rest
                .iter()
                .position(|&b| !(b' '..=b'~').contains(&b) || b == b'"' || b == b'\\')
                .unwrap_or(rest.len());
            // Only ASCII so far, so the run is text.
            f.write_str(std::str::from_utf8(&rest[..plain]).map_err(|_| fmt::Error)?)?;
            if let Some(&b) = rest.get(plain) {
                write!(f, "\\x{b:02X}")?;
                rest = &rest[plain + 1..];
            } else {
                rest = &[];
            }
        }
        if value.len() > shown.len() {
            f.write_str("...")?;
        }
        Ok(())
    }
}

/// A JSON line: one object with every field of the request, `null` for
/// what is unknown:
///
/// `{"time":"2026-11-21T12:00:00.123Z","remote":"127.0.0.1","user":null,
/// "method":"GET","target":"/","protocol":"HTTP/1.1","status":200,
/// "bytes":19,"referer":null,"user_agent":"curl/8.5.0","app":"hello",
/// "request":7,"x_request_id":null,"duration":0.000412}`
///
/// A request refused before it was parsed has `null` method, target and
/// protocol, and its request line as received in `"line"`.
pub struct JsonLine<'a> {
    log: &'a AccessLog,
    now: OffsetDateTime,
    ended: Instant,
}

impl Display for JsonLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let log = self.log;
        write!(
            f,
            "{{\"time\":\"{}\",\"remote\":\"{}\",\"user\":",
            Rfc3339(self.now, 3),
            log.remote
        )?;
        user_json(log.user.as_ref(), f)?;
        match &log.line {
            Line::Parsed {
                method,
                uri,
                version,
            } => {
                f.write_str(",\"method\":")?;
                JsonStr(method.as_str()).fmt(f)?;
                f.write_str(",\"target\":")?;
                JsonDisplay(uri).fmt(f)?;
                write!(
                    f,
                    ",\"protocol\":\"{}\"",
                    crate::http::syntax::protocol(*version)
                )?;
            }
            Line::Raw(line) => {
                f.write_str(",\"method\":null,\"target\":null,\"protocol\":null,\"line\":")?;
                JsonStr(line).fmt(f)?;
            }
        }
        write!(f, ",\"status\":{},\"bytes\":{}", log.status, log.bytes)?;
        let detail = log.detail.as_deref();
        for (key, value) in [
            ("referer", detail.and_then(|d| d.referer.as_ref())),
            ("user_agent", detail.and_then(|d| d.user_agent.as_ref())),
        ] {
            write!(f, ",\"{key}\":")?;
            match value.map(HeaderValue::as_bytes).filter(|v| !v.is_empty()) {
                Some(bytes) => JsonBytes(bytes).fmt(f)?,
                None => f.write_str("null")?,
            }
        }
        f.write_str(",\"app\":")?;
        match detail.and_then(|d| d.app.as_deref()) {
            Some(app) => JsonStr(app).fmt(f)?,
            None => f.write_str("null")?,
        }
        f.write_str(",\"request\":")?;
        match detail {
            Some(detail) => write!(f, "{}", detail.id)?,
            None => f.write_str("null")?,
        }
        f.write_str(",\"x_request_id\":")?;
        match detail
            .and_then(|d| d.x_request_id.as_ref())
            .and_then(valid_x_request_id)
        {
            // Letters, digits and `-_.:/+=`: nothing to escape.
            Some(id) => write!(f, "\"{id}\"")?,
            None => f.write_str("null")?,
        }
        f.write_str(",\"duration\":")?;
        match detail {
            Some(detail) => write!(
                f,
                "{:.6}",
                self.ended
                    .saturating_duration_since(detail.started)
                    .as_secs_f64()
            )?,
            None => f.write_str("null")?,
        }
        f.write_char('}')
    }
}

/// A client's header bytes as a JSON string: cut to [`MAX_HEADER_SHOWN`]
/// bytes (`...` marks a cut), bytes that are not UTF-8 shown as U+FFFD.
struct JsonBytes<'a>(&'a [u8]);

impl Display for JsonBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.0[..self.0.len().min(MAX_HEADER_SHOWN)];
        let text = String::from_utf8_lossy(shown);
        if shown.len() < self.0.len() {
            JsonStr(&format!("{text}...")).fmt(f)
        } else {
            JsonStr(&text).fmt(f)
        }
    }
}

/// Anything `Display` as a JSON string.
struct JsonDisplay<'a, T: Display>(&'a T);

impl<T: Display> Display for JsonDisplay<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        write!(JsonEscape(&mut *f), "{}", self.0)?;
        f.write_char('"')
    }
}

/// A string as a JSON string, quotes included.
pub struct JsonStr<'a>(pub &'a str);

impl Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        JsonEscape(&mut *f).write_str(self.0)?;
        f.write_char('"')
    }
}

/// Escapes what it is given for the inside of a JSON string: `"` and `\`,
/// and as `\u00XX` every control character (C0, DEL and C1, so a line
/// shown in a terminal cannot send it escape sequences).
pub struct JsonEscape<W: fmt::Write>(pub W);

impl<W: fmt::Write> fmt::Write for JsonEscape<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(|c: char| c == '"' || c == '\\' || c.is_control()) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '"' => self.0.write_str("\\\"")?,
                '\\' => self.0.write_str("\\\\")?,
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{:04x}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// A UTC time in RFC 3339, with `digits` (0, 3 or 6) of fractional
/// seconds: `2026-11-21T12:00:00.123Z`.
pub struct Rfc3339(pub OffsetDateTime, pub u8);

impl Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        match self.1 {
            0 => {}
            3 => write!(f, ".{:03}", t.millisecond())?,
            _ => write!(f, ".{:06}", t.microsecond())?,
        }
        f.write_char('Z')
    }
}

/// A request target inside the quoted request field: `"` and `\\` escaped
/// with a backslash, as Apache writes them, so a target cannot end the
/// field early and forge the rest of the line.
struct Quoted<'a>(&'a Uri);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn on_is_still_common() {
        assert_eq!(Format::from_str("on", false), Ok(Format::Common));
        assert_eq!(Format::from_str("json", false), Ok(Format::Json));
        let parsed: Vec<Format> = toml::from_str::<std::collections::HashMap<String, Format>>(
            "a = \"on\"\nb = \"combined\"",
        )
        .map(|m| vec![m["a"], m["b"]])
        .unwrap();
        assert_eq!(parsed, [Format::Common, Format::Combined]);
    }

    #[test]
    fn client_text_is_escaped_as_nginx_does_and_cut() {
        let shown = |bytes: &[u8]| Escaped(Some(bytes)).to_string();
        assert_eq!(shown(b"curl/8.5.0 (x)"), "curl/8.5.0 (x)");
        assert_eq!(
            shown(b"a\"b\\c\td\x1b\xc3\xa9"),
            r"a\x22b\x5Cc\x09d\x1B\xC3\xA9"
        );
        assert_eq!(shown(b""), "-");
        assert_eq!(Escaped(None).to_string(), "-");
        let long = vec![b'x'; MAX_HEADER_SHOWN + 1];
        assert_eq!(shown(&long), format!("{}...", "x".repeat(MAX_HEADER_SHOWN)));
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_and_every_control() {
        let json = |text: &str| JsonStr(text).to_string();
        assert_eq!(json("plain é"), "\"plain é\"");
        assert_eq!(json("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            json("\n\r\t\u{1b}\u{7f}\u{85}"),
            r#""\n\r\t\u001b\u007f\u0085""#
        );
        let back: String = serde_json::from_str(&json("x\"\\\u{0}\u{9f}y")).unwrap();
        assert_eq!(back, "x\"\\\u{0}\u{9f}y");
        assert_eq!(
            JsonBytes(b"ok\xff").to_string(),
            "\"ok\u{fffd}\"",
            "bytes that are not UTF-8"
        );
    }

    #[test]
    fn x_request_ids_are_shown_only_when_plausible() {
        let id = |text: &str| valid_x_request_id(&HeaderValue::from_str(text).unwrap()).is_some();
        assert!(id("f47ac10b-58cc-4372-a567-0e02b2c3d479"));
        assert!(id("abc+/=_.:-9"));
        assert!(id(&"a".repeat(MAX_X_REQUEST_ID)));
        assert!(!id(&"a".repeat(MAX_X_REQUEST_ID + 1)));
        assert!(!id(""));
        assert!(!id("a b"));
        assert!(!id("a\"b"));
    }

    #[test]
    fn rfc3339_times() {
        let t = time::macros::datetime!(2026-11-21 09:05:03.123456 UTC);
        assert_eq!(Rfc3339(t, 3).to_string(), "2026-11-21T09:05:03.123Z");
        assert_eq!(Rfc3339(t, 6).to_string(), "2026-11-21T09:05:03.123456Z");
        assert_eq!(Rfc3339(t, 0).to_string(), "2026-11-21T09:05:03Z");
    }
}
