//! [`Environ`]: the request, as WSGI's `environ` describes it.
//!
//! The host sends the request as the WIT `environ` record ([`WitEnviron`]):
//! CGI variables already parsed into typed fields, plus the raw header list.
//! [`Environ`] owns that record and adds typed accessors (method, path,
//! query, headers), the request body ([`Input`]) and [`Environ::vars`], the
//! flat `CGI`/PEP 3333 dictionary a Python WSGI application would receive.
//!
//! Everything here except reading the body is pure computation on the
//! record, so it works (and is tested) outside a component too.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::bindings::wasm_gateway::wsgi::types;
use crate::{Error, Input, urlencoded};

/// The WIT `environ` record exactly as the host sent it.
pub use types::Environ as WitEnviron;
/// One request header of [`WitEnviron::headers`]: a lower-case name and the
/// raw value bytes.
pub use types::Header as WitHeader;

/// The request being served: WSGI's `environ` dictionary plus
/// `wsgi.input`.
///
/// Text accessors decode bytes as UTF-8, replacing invalid sequences (the
/// `*_bytes` variants give the exact bytes).
#[derive(Debug)]
pub struct Environ {
    raw: WitEnviron,
    input: Input,
}

impl Environ {
    /// The environ of the request this instance serves; the body is read
    /// from the host.
    pub(crate) fn from_host(raw: WitEnviron) -> Self {
        Self {
            raw,
            input: Input::from_host(),
        }
    }

    /// An environ whose body comes from memory instead of the host. This is
    /// for unit-testing handlers natively, outside a component (note that
    /// [`StartResponse`](crate::StartResponse) and [`log`](crate::log) still
    /// need the host).
    ///
    /// As with the host, the body ends at `raw.content_length` when that is
    /// set: bytes beyond it are never read.
    pub fn with_body(raw: WitEnviron, body: impl Into<Vec<u8>>) -> Self {
        let mut body = body.into();
        if let Some(length) = raw.content_length {
            body.truncate(usize::try_from(length).unwrap_or(usize::MAX));
        }
        Self {
            raw,
            input: Input::from_memory(body),
        }
    }

    /// The WIT record the host sent.
    pub fn raw(&self) -> &WitEnviron {
        &self.raw
    }

    /// `REQUEST_METHOD`, e.g. `"GET"`.
    pub fn method(&self) -> &str {
        &self.raw.request_method
    }

    /// `SCRIPT_NAME`: where the application is mounted (`""` at the root).
    pub fn script_name(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.raw.script_name)
    }

    /// `SCRIPT_NAME` as bytes.
    pub fn script_name_bytes(&self) -> &[u8] {
        &self.raw.script_name
    }

    /// `PATH_INFO`: the percent-decoded path below `SCRIPT_NAME`, e.g.
    /// `"/user/ada"`. Note that `%2F` is decoded to `/` like every other
    /// escape (as CGI does); [`request_uri`](Self::request_uri) has the path
    /// as sent.
    pub fn path_info(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.raw.path_info)
    }

    /// `PATH_INFO` as bytes.
    pub fn path_info_bytes(&self) -> &[u8] {
        &self.raw.path_info
    }

    /// `QUERY_STRING`: everything after the first `?`, still encoded.
    pub fn query_string(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.raw.query_string)
    }

    /// `QUERY_STRING` as bytes.
    pub fn query_string_bytes(&self) -> &[u8] {
        &self.raw.query_string
    }

    /// `REQUEST_URI`: the request target exactly as received.
    pub fn request_uri(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.raw.request_uri)
    }

    /// The query string parsed as `application/x-www-form-urlencoded`: `+`
    /// is a space, `%XX` escapes are decoded, pairs keep their order and
    /// duplicates.
    pub fn query(&self) -> Vec<(String, String)> {
        urlencoded::parse(&self.raw.query_string)
    }

    /// The first value of query parameter `name`, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find_map(|(key, value)| (key == name).then_some(value))
    }

    /// The value of request header `name` (case-insensitive). A header sent
    /// several times comes back joined with `", "` (`"; "` for `Cookie`), as
    /// in the `HTTP_*` variables.
    pub fn header(&self, name: &str) -> Option<Vec<u8>> {
        let mut values = self
            .raw
            .headers
            .iter()
            .filter(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value.as_slice());
        let first = values.next()?;
        let separator = join_separator(name);
        let mut joined = first.to_vec();
        for value in values {
            joined.extend_from_slice(separator);
            joined.extend_from_slice(value);
        }
        Some(joined)
    }

    /// [`header`](Self::header) as text.
    pub fn header_str(&self, name: &str) -> Option<Cow<'_, str>> {
        let mut matching = self
            .raw
            .headers
            .iter()
            .filter(|header| header.name.eq_ignore_ascii_case(name));
        let first = matching.next()?;
        if matching.next().is_none() {
            // The common case, a single field: borrow it.
            return Some(String::from_utf8_lossy(&first.value));
        }
        let joined = self.header(name)?;
        Some(Cow::Owned(String::from_utf8_lossy(&joined).into_owned()))
    }

    /// `CONTENT_TYPE`, when the request has one.
    pub fn content_type(&self) -> Option<Cow<'_, str>> {
        self.raw
            .content_type
            .as_deref()
            .map(String::from_utf8_lossy)
    }

    /// `CONTENT_LENGTH`, when the request declares one (a chunked request
    /// has none).
    pub fn content_length(&self) -> Option<u64> {
        self.raw.content_length
    }

    /// `REMOTE_ADDR`: the client's IP address.
    pub fn remote_addr(&self) -> &str {
        &self.raw.remote_addr
    }

    /// `REMOTE_PORT`: the client's port.
    pub fn remote_port(&self) -> u16 {
        self.raw.remote_port
    }

    /// `SERVER_NAME`: from the `Host` header, else the listening address.
    pub fn server_name(&self) -> &str {
        &self.raw.server_name
    }

    /// `SERVER_PORT`.
    pub fn server_port(&self) -> u16 {
        self.raw.server_port
    }

    /// `wsgi.url_scheme`: `"http"` or `"https"`.
    pub fn url_scheme(&self) -> &str {
        &self.raw.url_scheme
    }

    /// `SERVER_PROTOCOL`: `"HTTP/1.1"` or `"HTTP/1.0"`.
    pub fn protocol(&self) -> &str {
        &self.raw.server_protocol
    }

    /// The whole environ as CGI/WSGI variables, sorted by name. See
    /// [`cgi_vars`] for the exact contents.
    pub fn vars(&self) -> Vec<(String, Vec<u8>)> {
        cgi_vars(&self.raw)
    }

    /// The WIT record, to change: a middleware rewrites the environ its
    /// next layer sees this way (or with [`set_header`](Self::set_header)
    /// and [`set_var`](Self::set_var)).
    pub fn raw_mut(&mut self) -> &mut WitEnviron {
        &mut self.raw
    }

    /// Replaces every request header `name` (case-insensitive) by one with
    /// `value`, for the layers behind a middleware (`HTTP_*` in WSGI terms).
    pub fn set_header(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        self.remove_header(name);
        self.raw.headers.push(WitHeader {
            name: name.to_ascii_lowercase(),
            value: value.into(),
        });
    }

    /// Removes every request header `name` (case-insensitive).
    pub fn remove_header(&mut self, name: &str) {
        self.raw
            .headers
            .retain(|header| !header.name.eq_ignore_ascii_case(name));
    }

    /// Sets the extra environ variable `key` (such as `REMOTE_USER`),
    /// replacing any with that name.
    pub fn set_var(&mut self, key: &str, value: impl Into<String>) {
        self.raw.extra.retain(|(k, _)| k != key);
        self.raw.extra.push((key.to_owned(), value.into()));
    }

    /// The extra variable `key` (operator-defined in the configuration, or
    /// set by a middleware in front), if present.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.raw
            .extra
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Gives up the environ for its WIT record (what a middleware hands to
    /// the next layer). The request body stays with the host.
    pub fn into_raw(self) -> WitEnviron {
        self.raw
    }

    /// `wsgi.input`: the request body as a buffered reader.
    pub fn input(&mut self) -> &mut Input {
        &mut self.input
    }

    /// Gives up the environ and keeps the request body, e.g. to stream it
    /// from a body iterator.
    pub fn into_input(self) -> Input {
        self.input
    }

    /// Reads the (rest of the) request body into memory.
    pub fn read_body(&mut self) -> Result<Vec<u8>, Error> {
        use std::io::Read;
        // Trust the declared length only as a capacity hint, and a bounded
        // one: the host enforces the real size limit.
        let hint = self.raw.content_length.unwrap_or(0).min(1 << 20) as usize;
        let mut body = Vec::with_capacity(hint);
        self.input.read_to_end(&mut body)?;
        Ok(body)
    }

    /// Reads the request body and parses it as
    /// `application/x-www-form-urlencoded` (the content type is not
    /// checked).
    pub fn form(&mut self) -> Result<Vec<(String, String)>, Error> {
        Ok(urlencoded::parse(&self.read_body()?))
    }
}

/// The separator for repeated fields of header `name`: `Cookie` uses `"; "`
/// (RFC 6265), every other header `", "` (RFC 9110).
fn join_separator(name: &str) -> &'static [u8] {
    if name.eq_ignore_ascii_case("cookie") {
        b"; "
    } else {
        b", "
    }
}

/// The CGI variable for request header `name`: `HTTP_` and the name upper
/// cased with `-` turned into `_`. `None` for headers that get no `HTTP_`
/// variable: `Content-Type` and `Content-Length` (they are `CONTENT_TYPE`
/// and `CONTENT_LENGTH`), and names containing `_`, which would be
/// indistinguishable from their `-` spelling (gunicorn drops them too, so a
/// client cannot smuggle e.g. `X_Forwarded_For` past a proxy that only
/// filters `X-Forwarded-For`).
pub fn http_var_name(name: &str) -> Option<String> {
    if name.contains('_')
        || name.eq_ignore_ascii_case("content-type")
        || name.eq_ignore_ascii_case("content-length")
    {
        return None;
    }
    let mut key = String::with_capacity(5 + name.len());
    key.push_str("HTTP_");
    key.extend(name.chars().map(|c| {
        if c == '-' {
            '_'
        } else {
            c.to_ascii_uppercase()
        }
    }));
    Some(key)
}

/// The WSGI `environ` dictionary for `raw`, sorted by name, values as raw
/// bytes:
///
/// - the CGI variables `REQUEST_METHOD`, `SCRIPT_NAME`, `PATH_INFO`,
///   `QUERY_STRING`, `REQUEST_URI`, `SERVER_NAME`, `SERVER_PORT`,
///   `SERVER_PROTOCOL`, `REMOTE_ADDR`, `REMOTE_PORT`, and `CONTENT_TYPE` and
///   `CONTENT_LENGTH` when the request has them;
/// - one `HTTP_*` variable per request header (see [`http_var_name`]),
///   repeated fields joined with `", "` (`"; "` for `Cookie`);
/// - the operator's extra variables, which win over the variables above;
/// - `wsgi.version` = `(1, 0)`, `wsgi.url_scheme`, `wsgi.multithread`,
///   `wsgi.multiprocess`, `wsgi.run_once`, `wsgi.input_terminated` (`True`
///   or `False`), and `wsgi.input` and `wsgi.errors`, which stand for
///   objects and have the placeholders `<wsgi.input>` and `<wsgi.errors>`.
pub fn cgi_vars(raw: &WitEnviron) -> Vec<(String, Vec<u8>)> {
    let mut vars: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut set = |name: &str, value: &[u8]| {
        vars.insert(name.to_owned(), value.to_vec());
    };

    set("REQUEST_METHOD", raw.request_method.as_bytes());
    set("SCRIPT_NAME", &raw.script_name);
    set("PATH_INFO", &raw.path_info);
    set("QUERY_STRING", &raw.query_string);
    set("REQUEST_URI", &raw.request_uri);
    if let Some(content_type) = &raw.content_type {
        set("CONTENT_TYPE", content_type);
    }
    if let Some(length) = raw.content_length {
        set("CONTENT_LENGTH", length.to_string().as_bytes());
    }
    set("SERVER_NAME", raw.server_name.as_bytes());
    set("SERVER_PORT", raw.server_port.to_string().as_bytes());
    set("SERVER_PROTOCOL", raw.server_protocol.as_bytes());
    set("REMOTE_ADDR", raw.remote_addr.as_bytes());
    set("REMOTE_PORT", raw.remote_port.to_string().as_bytes());

    for header in &raw.headers {
        let Some(key) = http_var_name(&header.name) else {
            continue;
        };
        let separator = join_separator(&header.name);
        vars.entry(key)
            .and_modify(|joined| {
                joined.extend_from_slice(separator);
                joined.extend_from_slice(&header.value);
            })
            .or_insert_with(|| header.value.clone());
    }

    for (name, value) in &raw.extra {
        vars.insert(name.clone(), value.clone().into_bytes());
    }

    let flag = |on: bool| -> &'static [u8] { if on { b"True" } else { b"False" } };
    let wsgi: [(&str, &[u8]); 8] = [
        ("wsgi.version", b"(1, 0)"),
        ("wsgi.url_scheme", raw.url_scheme.as_bytes()),
        ("wsgi.multithread", flag(raw.multithread)),
        ("wsgi.multiprocess", flag(raw.multiprocess)),
        ("wsgi.run_once", flag(raw.run_once)),
        ("wsgi.input_terminated", flag(raw.input_terminated)),
        ("wsgi.input", b"<wsgi.input>"),
        ("wsgi.errors", b"<wsgi.errors>"),
    ];
    for (name, value) in wsgi {
        vars.insert(name.to_owned(), value.to_vec());
    }

    vars.into_iter().collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plain `GET /` environ, for tests across the crate.
    pub(crate) fn raw(method: &str, path: &str) -> WitEnviron {
        WitEnviron {
            request_method: method.to_owned(),
            script_name: Vec::new(),
            path_info: path.as_bytes().to_vec(),
            query_string: Vec::new(),
            request_uri: path.as_bytes().to_vec(),
            content_type: None,
            content_length: None,
            server_name: "localhost".to_owned(),
            server_port: 8080,
            server_protocol: "HTTP/1.1".to_owned(),
            remote_addr: "127.0.0.1".to_owned(),
            remote_port: 40000,
            url_scheme: "http".to_owned(),
            headers: Vec::new(),
            extra: Vec::new(),
            multithread: false,
            multiprocess: true,
            run_once: true,
            input_terminated: true,
        }
    }

    fn header(name: &str, value: &[u8]) -> WitHeader {
        WitHeader {
            name: name.to_owned(),
            value: value.to_vec(),
        }
    }

    fn lookup<'a>(vars: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
        vars.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_slice())
    }

    #[test]
    fn http_var_names() {
        assert_eq!(http_var_name("host").as_deref(), Some("HTTP_HOST"));
        assert_eq!(
            http_var_name("x-forwarded-for").as_deref(),
            Some("HTTP_X_FORWARDED_FOR")
        );
        assert_eq!(http_var_name("Accept").as_deref(), Some("HTTP_ACCEPT"));
        assert_eq!(http_var_name("content-type"), None);
        assert_eq!(http_var_name("content-length"), None);
        assert_eq!(http_var_name("x_forwarded_for"), None);
    }

    #[test]
    fn cgi_and_wsgi_variables() {
        let mut raw = raw("POST", "/submit");
        raw.query_string = b"a=1".to_vec();
        raw.request_uri = b"/submit?a=1".to_vec();
        raw.content_type = Some(b"text/plain".to_vec());
        raw.content_length = Some(5);
        let vars = cgi_vars(&raw);

        let names: Vec<&str> = vars.iter().map(|(name, _)| name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);

        let expect: &[(&str, &[u8])] = &[
            ("REQUEST_METHOD", b"POST"),
            ("SCRIPT_NAME", b""),
            ("PATH_INFO", b"/submit"),
            ("QUERY_STRING", b"a=1"),
            ("REQUEST_URI", b"/submit?a=1"),
            ("CONTENT_TYPE", b"text/plain"),
            ("CONTENT_LENGTH", b"5"),
            ("SERVER_NAME", b"localhost"),
            ("SERVER_PORT", b"8080"),
            ("SERVER_PROTOCOL", b"HTTP/1.1"),
            ("REMOTE_ADDR", b"127.0.0.1"),
            ("REMOTE_PORT", b"40000"),
            ("wsgi.version", b"(1, 0)"),
            ("wsgi.url_scheme", b"http"),
            ("wsgi.multithread", b"False"),
            ("wsgi.multiprocess", b"True"),
            ("wsgi.run_once", b"True"),
            ("wsgi.input_terminated", b"True"),
            ("wsgi.input", b"<wsgi.input>"),
            ("wsgi.errors", b"<wsgi.errors>"),
        ];
        for (name, value) in expect {
            assert_eq!(lookup(&vars, name), Some(*value), "{name}");
        }
        assert_eq!(vars.len(), expect.len());
    }

    #[test]
    fn content_headers_are_absent_without_values() {
        let vars = cgi_vars(&raw("GET", "/"));
        assert_eq!(lookup(&vars, "CONTENT_TYPE"), None);
        assert_eq!(lookup(&vars, "CONTENT_LENGTH"), None);
    }

    #[test]
    fn http_variables_are_joined() {
        let mut raw = raw("GET", "/");
        raw.headers = vec![
            header("host", b"example.com"),
            header("accept", b"text/html"),
            header("cookie", b"a=1"),
            header("accept", b"*/*"),
            header("cookie", b"b=2"),
            header("content-type", b"text/plain"),
            header("content-length", b"3"),
            header("x_smuggled", b"evil"),
            header("x-raw", b"\xff\x00ok"),
        ];
        let vars = cgi_vars(&raw);
        assert_eq!(lookup(&vars, "HTTP_HOST"), Some(&b"example.com"[..]));
        assert_eq!(lookup(&vars, "HTTP_ACCEPT"), Some(&b"text/html, */*"[..]));
        assert_eq!(lookup(&vars, "HTTP_COOKIE"), Some(&b"a=1; b=2"[..]));
        assert_eq!(lookup(&vars, "HTTP_X_RAW"), Some(&b"\xff\x00ok"[..]));
        assert_eq!(lookup(&vars, "HTTP_CONTENT_TYPE"), None);
        assert_eq!(lookup(&vars, "HTTP_CONTENT_LENGTH"), None);
        assert_eq!(lookup(&vars, "HTTP_X_SMUGGLED"), None);
        assert!(!vars.iter().any(|(name, _)| name.contains("SMUGGLED")));
    }

    #[test]
    fn extra_variables_are_included() {
        let mut raw = raw("GET", "/");
        raw.extra = vec![("APP_MODE".to_owned(), "test".to_owned())];
        let vars = cgi_vars(&raw);
        assert_eq!(lookup(&vars, "APP_MODE"), Some(&b"test"[..]));
    }

    #[test]
    fn accessors() {
        let mut raw = raw("GET", "/caf\u{e9}");
        raw.query_string = b"q=a+b&q=c&x=%2F".to_vec();
        raw.headers = vec![
            header("accept", b"a"),
            header("accept", b"b"),
            header("cookie", b"x=1"),
            header("cookie", b"y=2"),
            header("user-agent", b"test"),
        ];
        let env = Environ::with_body(raw, Vec::new());
        assert_eq!(env.method(), "GET");
        assert_eq!(env.path_info(), "/café");
        assert_eq!(env.query_param("q").as_deref(), Some("a b"));
        assert_eq!(env.query_param("x").as_deref(), Some("/"));
        assert_eq!(env.query_param("missing"), None);
        assert_eq!(env.query().len(), 3);
        assert_eq!(env.header("Accept").as_deref(), Some(&b"a, b"[..]));
        assert_eq!(env.header("COOKIE").as_deref(), Some(&b"x=1; y=2"[..]));
        assert_eq!(env.header_str("user-agent").as_deref(), Some("test"));
        assert_eq!(env.header_str("accept").as_deref(), Some("a, b"));
        assert_eq!(env.header("missing"), None);
    }

    #[test]
    fn body_from_memory() {
        let mut raw = raw("POST", "/");
        raw.content_length = Some(14);
        let mut env = Environ::with_body(raw, b"name=Ada+L&x=1".to_vec());
        assert_eq!(
            env.form().unwrap(),
            [
                ("name".to_owned(), "Ada L".to_owned()),
                ("x".to_owned(), "1".to_owned())
            ]
        );
        assert!(env.read_body().unwrap().is_empty());
    }

    #[test]
    fn body_from_memory_ends_at_content_length() {
        let mut raw = raw("POST", "/");
        raw.content_length = Some(5);
        let mut env = Environ::with_body(raw, b"12345 and trailing bytes".to_vec());
        let input = env.input();
        assert_eq!(input.read_up_to(100).unwrap(), b"12345");
        assert!(input.read_all().unwrap().is_empty());
        assert!(input.read_line_bytes().unwrap().is_empty());
    }
}
