//! Directories served read-only: the static files a WSGI deployment's web
//! server (or `--static-map`) would serve beside the application.
//!
//! [`StaticRoot::serve`] answers `GET` and `HEAD` for the files under one
//! directory:
//!
//! - a directory is served by its `index.html`; a directory path without a
//!   trailing slash gets `301` to the slash form (query kept), so relative
//!   links in the index resolve below it; there are no directory listings;
//! - `Content-Type` comes from the file name's extension (`mime_guess`), with
//!   `; charset=utf-8` added to `text/*` (as Go's `net/http` and Caddy do),
//!   JavaScript always `text/javascript` (RFC 9239); unknown extensions are
//!   `application/octet-stream`;
//! - every file response carries a strong `ETag` (size and modification time),
//!   `Last-Modified`, `Accept-Ranges: bytes` and `Cache-Control: no-cache`
//!   (caches may keep the file but revalidate it each time, which costs a
//!   `304`; files in a document root change without changing names);
//! - preconditions are evaluated in RFC 9110 §13.2.2 order: `If-Match`
//!   (strong comparison) or else `If-Unmodified-Since` give `412`;
//!   `If-None-Match` (weak comparison) or else `If-Modified-Since` give `304`;
//! - one byte range (`bytes=0-4`, `bytes=5-`, `bytes=-3`) gives `206` with
//!   `Content-Range`; an unsatisfiable one `416` with `Content-Range:
//!   bytes */LEN`; several ranges, a malformed header or another unit are
//!   ignored (a full `200`, which RFC 9110 §14.2 allows); `If-Range` (a strong
//!   ETag or the exact `Last-Modified` date) turns a stale range into a `200`;
//!   `Range` is ignored on `HEAD`;
//! - `HEAD` gets the `GET` headers, `Content-Length` included, and no body;
//!   any other method gets `405` with `Allow: GET, HEAD`;
//! - a file is streamed in 64 KiB chunks read on tokio's blocking pool
//!   ([`FileChunks`]); it is never read whole, and all filesystem calls run
//!   off the runtime threads.
//!
//! # Path safety
//! The path below the mount arrives raw. Each `/`-separated segment is
//! percent-decoded on its own, and the request is refused (404, with a
//! `warn!` naming the reason) if any segment is empty (`//`), is `.` or `..`
//! (in any encoding or case, `%2e%2e`, `.%2E`), contains a backslash (raw or
//! `%5c`), an encoded slash (`%2f`), NUL or another control character, is not
//! UTF-8 after decoding (which also refuses overlong forms like `%c0%ae`), has
//! a malformed escape, or starts with a drive letter (`C:`). The file found is
//! then canonicalized (resolving every symlink) and must lie below the
//! canonical root: a symlink inside the root that stays inside is followed, one
//! that leads out is refused. The check is not proof against someone who can
//! rewrite the directory tree concurrently (swap a checked component for a
//! symlink between the check and the open); the root is trusted content.
//!
//! Dotfiles (`.well-known/`, `.htaccess`, ...) are served like any other
//! file: the whole directory is public by configuration, and refusing them
//! would break `.well-known`. Keep secrets out of a served directory.
//!
//! # Why our own code
//! `hyper-staticfile` 0.10 and `tower-http`'s `ServeDir` both speak hyper 1,
//! but each decodes and resolves the path itself (our checks would have to be
//! done twice and agree), answers several ranges with `multipart/byteranges`,
//! and returns its own body type, which would need wrapping to count bytes
//! into the access log; `ServeDir` also pulls in `tower`. What is left once
//! path handling is ours is small: the conditional and range rules below, with
//! `httpdate` (already in the tree through hyper) for HTTP dates and
//! `mime_guess` (the table those crates use) for content types.

use crate::http::body::{FileChunks, ResponseBody};
use crate::http::pages::text_page;
use crate::http::syntax::percent_escape;
use bytes::Bytes;
use hyper::header::{
    ACCEPT_RANGES, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    HeaderMap, HeaderName, HeaderValue, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE,
    IF_UNMODIFIED_SINCE, LAST_MODIFIED, LOCATION, RANGE,
};
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The file that stands for a directory.
const INDEX_FILE: &str = "index.html";

/// The caching policy of every file response: keep, but revalidate.
const CACHE_POLICY: &str = "no-cache";

/// One directory served read-only.
#[derive(Debug, Clone)]
pub struct StaticRoot {
    /// The directory, canonical (no symlinks, absolute).
    root: Arc<Path>,
    /// The file served for a directory.
    index: &'static str,
}

impl StaticRoot {
    /// Fails (with a message naming the directory) if `dir` is not a readable
    /// directory. Blocking: meant for start-up.
    pub fn new(dir: &Path) -> io::Result<StaticRoot> {
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", dir.display()));
        let root = std::fs::canonicalize(dir).map_err(named)?;
        if !std::fs::metadata(&root).map_err(named)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{}: not a directory", dir.display()),
            ));
        }
        std::fs::read_dir(&root).map_err(named)?;
        Ok(StaticRoot {
            root: root.into(),
            index: INDEX_FILE,
        })
    }

    /// Serves one request. `path` is the raw (still percent-encoded) request
    /// path below the mount point (e.g. `b"/css/site.css"`; `b"/"` for the
    /// mount root, and `b""` for the mount point without its trailing slash,
    /// which is redirected), `query` the raw query string (kept in
    /// redirects), `parts` the request head (method, headers, and the URI
    /// whose path the redirect extends).
    pub async fn serve(
        &self,
        parts: &Parts,
        path: &[u8],
        query: Option<&str>,
    ) -> Response<ResponseBody> {
        let head = parts.method == Method::HEAD;
        if parts.method != Method::GET && !head {
            let mut response = text_page(StatusCode::METHOD_NOT_ALLOWED, head);
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let target = match parse_path(path) {
            Ok(target) => target,
            Err(reason) => {
                tracing::warn!(path = %path.escape_ascii(), "refused a static file request: {reason}");
                return text_page(StatusCode::NOT_FOUND, head);
            }
        };
        let root = self.root.clone();
        let index = self.index;
        let found = tokio::task::spawn_blocking(move || lookup(&root, &target, index)).await;
        let found = match found {
            Ok(Lookup::Found(found)) => found,
            Ok(Lookup::Directory) => return redirect(parts, query, head),
            Ok(Lookup::Missing(reason)) => {
                tracing::debug!(path = %path.escape_ascii(), "static file not found: {reason}");
                return text_page(StatusCode::NOT_FOUND, head);
            }
            Ok(Lookup::Refused(reason)) => {
                tracing::warn!(path = %path.escape_ascii(), "refused a static file request: {reason}");
                return text_page(StatusCode::NOT_FOUND, head);
            }
            Err(e) => {
                tracing::error!(path = %path.escape_ascii(), "static file lookup failed: {e}");
                return text_page(StatusCode::INTERNAL_SERVER_ERROR, head);
            }
        };

        let validators = Validators::of(&found);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(CACHE_POLICY));
        if let Some(etag) = &validators.etag {
            headers.insert(ETAG, etag.clone());
        }
        if let Some(date) = validators.last_modified {
            headers.insert(LAST_MODIFIED, http_date(date));
        }

        match preconditions(&parts.headers, &validators) {
            Precondition::Failed => {
                let mut response = text_page(StatusCode::PRECONDITION_FAILED, head);
                response.headers_mut().extend(headers);
                return response;
            }
            Precondition::NotModified => {
                let mut response = Response::new(ResponseBody::full(Bytes::new()));
                *response.status_mut() = StatusCode::NOT_MODIFIED;
                *response.headers_mut() = headers;
                return response;
            }
            Precondition::Proceed => {}
        }

        let len = found.len;
        let range = if head || !if_range_holds(&parts.headers, &validators) {
            RangeRequest::Full
        } else {
            byte_range(&parts.headers, len)
        };
        let (status, start, count) = match range {
            RangeRequest::Full => (StatusCode::OK, 0, len),
            RangeRequest::Part { start, end } => {
                headers.insert(
                    CONTENT_RANGE,
                    header_value(format!("bytes {start}-{end}/{len}")),
                );
                (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
            }
            RangeRequest::Unsatisfiable => {
                headers.remove(CACHE_CONTROL);
                headers.insert(CONTENT_RANGE, header_value(format!("bytes */{len}")));
                let mut response = text_page(StatusCode::RANGE_NOT_SATISFIABLE, head);
                response.headers_mut().extend(headers);
                return response;
            }
        };
        headers.insert(CONTENT_TYPE, content_type(&found.name));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(count));

        let body = if head || count == 0 {
            ResponseBody::full(Bytes::new())
        } else {
            ResponseBody::file(FileChunks::new(found.file, found.path, start, count))
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

/// A request path that passed the checks: decoded segments below the root.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    segments: Vec<String>,
    /// The raw path ended in `/` (a directory was asked for).
    trailing_slash: bool,
}

/// Splits and decodes a raw request path, or says why it is refused.
fn parse_path(raw: &[u8]) -> Result<Target, &'static str> {
    let rest = raw.strip_prefix(b"/").unwrap_or(raw);
    if rest.is_empty() {
        return Ok(Target {
            segments: Vec::new(),
            trailing_slash: !raw.is_empty(),
        });
    }
    let mut raw_segments: Vec<&[u8]> = rest.split(|&b| b == b'/').collect();
    let trailing_slash = raw_segments.last().is_some_and(|s| s.is_empty());
    if trailing_slash {
        raw_segments.pop();
    }
    let segments = raw_segments
        .into_iter()
        .map(decode_segment)
        .collect::<Result<_, _>>()?;
    Ok(Target {
        segments,
        trailing_slash,
    })
}

/// Percent-decodes one segment and checks that it names a plain entry.
fn decode_segment(raw: &[u8]) -> Result<String, &'static str> {
    if raw.is_empty() {
        return Err("empty path segment");
    }
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let byte = percent_escape(&raw[i..]).ok_or("malformed percent-encoding")?;
            bytes.push(byte);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    if bytes.contains(&0) {
        return Err("NUL byte");
    }
    if bytes.contains(&b'/') {
        return Err("encoded slash inside a segment");
    }
    if bytes.contains(&b'\\') {
        return Err("backslash");
    }
    if bytes.iter().any(|b| b.is_ascii_control()) {
        return Err("control character");
    }
    let segment = String::from_utf8(bytes).map_err(|_| "not UTF-8 after decoding")?;
    if segment == ".." {
        return Err("'..' segment");
    }
    if segment == "." {
        return Err("'.' segment");
    }
    let b = segment.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err("drive letter");
    }
    let mut components = Path::new(&segment).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(name)), None) if name == segment.as_str() => Ok(segment),
        _ => Err("not a plain file name"),
    }
}

/// A file found below the root, open.
#[derive(Debug)]
struct Found {
    file: std::fs::File,
    /// Its canonical path (for log messages).
    path: PathBuf,
    /// The name asked for (the symlink's, or the index file's): the content
    /// type comes from it.
    name: String,
    len: u64,
    modified: Option<SystemTime>,
}

/// What a target is on disk.
#[derive(Debug)]
enum Lookup {
    Found(Found),
    /// A directory asked for without the trailing slash.
    Directory,
    /// Nothing servable there (an ordinary 404).
    Missing(String),
    /// Something there that must not be served (logged as a warning).
    Refused(&'static str),
}

/// Finds and opens a target's file. Blocking.
fn lookup(root: &Path, target: &Target, index: &str) -> Lookup {
    let mut path = root.to_path_buf();
    path.extend(&target.segments);
    let (path, meta) = match resolve(root, &path) {
        Ok(found) => found,
        Err(lookup) => return lookup,
    };
    let (path, name) = if meta.is_dir() {
        if !target.trailing_slash {
            return Lookup::Directory;
        }
        match resolve(root, &path.join(index)) {
            Ok((path, _)) => (path, index.to_owned()),
            Err(Lookup::Missing(_)) => return Lookup::Missing(format!("no {index}")),
            Err(lookup) => return lookup,
        }
    } else if target.trailing_slash {
        return Lookup::Missing("a file asked for as a directory".into());
    } else {
        let name = target.segments.last().cloned().unwrap_or_default();
        (path, name)
    };
    // The open handle's metadata is what is served, whatever happened to
    // the path since it was resolved.
    let opened = std::fs::File::open(&path).and_then(|file| Ok((file.metadata()?, file)));
    match opened {
        Ok((meta, file)) if meta.is_file() => Lookup::Found(Found {
            file,
            path,
            name,
            len: meta.len(),
            modified: meta.modified().ok(),
        }),
        Ok(_) => Lookup::Missing("not a regular file".into()),
        Err(e) => Lookup::Missing(e.to_string()),
    }
}

/// Canonicalizes `path`, checks that it stays below `root` and is a regular
/// file or a directory. Blocking.
fn resolve(root: &Path, path: &Path) -> Result<(PathBuf, std::fs::Metadata), Lookup> {
    let canonical = std::fs::canonicalize(path).map_err(|e| Lookup::Missing(e.to_string()))?;
    if !canonical.starts_with(root) {
        return Err(Lookup::Refused("resolves outside the root (symlink)"));
    }
    let meta = std::fs::metadata(&canonical).map_err(|e| Lookup::Missing(e.to_string()))?;
    if meta.is_file() || meta.is_dir() {
        Ok((canonical, meta))
    } else {
        // FIFOs, sockets and devices: opening a FIFO would block.
        Err(Lookup::Missing("not a regular file".into()))
    }
}

/// What conditional requests are compared with.
struct Validators {
    etag: Option<HeaderValue>,
    /// The modification time, whole seconds, never in the future.
    last_modified: Option<SystemTime>,
}

impl Validators {
    fn of(found: &Found) -> Validators {
        let since_epoch = found
            .modified
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok());
        let etag = since_epoch.map(|d| {
            header_value(format!(
                "\"{:x}-{:x}.{:x}\"",
                found.len,
                d.as_secs(),
                d.subsec_nanos()
            ))
        });
        let now = SystemTime::now();
        let last_modified = since_epoch
            .map(|d| UNIX_EPOCH + Duration::from_secs(d.as_secs()))
            .map(|m| m.min(now));
        Validators {
            etag,
            last_modified,
        }
    }
}

/// The outcome of the precondition headers.
#[derive(Debug, PartialEq, Eq)]
enum Precondition {
    Proceed,
    NotModified,
    Failed,
}

/// Evaluates the preconditions in RFC 9110 §13.2.2 order (the method is GET
/// or HEAD).
fn preconditions(headers: &HeaderMap, v: &Validators) -> Precondition {
    if headers.contains_key(IF_MATCH) {
        if !etag_list_matches(headers, IF_MATCH, v.etag.as_ref(), true) {
            return Precondition::Failed;
        }
    } else if let (Some(since), Some(modified)) =
        (single_date(headers, IF_UNMODIFIED_SINCE), v.last_modified)
        && modified > since
    {
        return Precondition::Failed;
    }
    if headers.contains_key(IF_NONE_MATCH) {
        if etag_list_matches(headers, IF_NONE_MATCH, v.etag.as_ref(), false) {
            return Precondition::NotModified;
        }
    } else if let (Some(since), Some(modified)) =
        (single_date(headers, IF_MODIFIED_SINCE), v.last_modified)
        && modified <= since
    {
        return Precondition::NotModified;
    }
    Precondition::Proceed
}

/// Whether an `If-Match`/`If-None-Match` list matches our tag: `*` always
/// does (the file exists); otherwise any listed tag, compared strongly (both
/// strong and equal) or weakly (equal once `W/` is dropped). A malformed list
/// matches nothing.
fn etag_list_matches(
    headers: &HeaderMap,
    name: HeaderName,
    ours: Option<&HeaderValue>,
    strong: bool,
) -> bool {
    let ours = ours.and_then(|v| v.to_str().ok());
    for value in headers.get_all(name) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        if value.trim() == "*" {
            return true;
        }
        let Some(ours) = ours else { continue };
        let Some(tags) = parse_etags(value) else {
            continue;
        };
        if tags
            .iter()
            .any(|&(weak, tag)| tag == ours && !(strong && weak))
        {
            return true;
        }
    }
    false
}

/// Parses `#entity-tag` into (weak, opaque-tag with its quotes).
fn parse_etags(value: &str) -> Option<Vec<(bool, &str)>> {
    let mut tags = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Some(tags);
        }
        let weak = rest.starts_with("W/");
        if weak {
            rest = &rest[2..];
        }
        let body = rest.strip_prefix('"')?;
        let end = body.find('"')?;
        tags.push((weak, &rest[..end + 2]));
        rest = &body[end + 1..];
        if !rest.is_empty() && !rest.starts_with([' ', '\t', ',']) {
            return None;
        }
    }
}

/// A date header that appears once and parses; anything else is ignored.
fn single_date(headers: &HeaderMap, name: HeaderName) -> Option<SystemTime> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    httpdate::parse_http_date(value.to_str().ok()?.trim()).ok()
}

/// Whether a `Range` may be honoured given `If-Range` (RFC 9110 §13.1.5): no
/// `If-Range`, or one naming the current representation by a strong ETag or
/// by its exact `Last-Modified` date (itself strong: at least a second old).
fn if_range_holds(headers: &HeaderMap, v: &Validators) -> bool {
    let Some(value) = headers.get(IF_RANGE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        let ours = v.etag.as_ref().and_then(|e| e.to_str().ok());
        return matches!(parse_etags(value).as_deref(), Some([(false, tag)]) if Some(*tag) == ours);
    }
    match (httpdate::parse_http_date(value), v.last_modified) {
        (Ok(date), Some(modified)) => {
            date == modified && modified + Duration::from_secs(1) <= SystemTime::now()
        }
        _ => false,
    }
}

/// What the `Range` header asks for.
#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    /// No usable range: the whole file.
    Full,
    /// One satisfiable range, `end` inclusive.
    Part { start: u64, end: u64 },
    /// One range that lies wholly past the end.
    Unsatisfiable,
}

/// Reads a single byte range; several ranges, another unit or a malformed
/// header give the whole file.
fn byte_range(headers: &HeaderMap, len: u64) -> RangeRequest {
    let mut values = headers.get_all(RANGE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return RangeRequest::Full;
    };
    let Ok(value) = value.to_str() else {
        return RangeRequest::Full;
    };
    let Some((unit, set)) = value.trim().split_once('=') else {
        return RangeRequest::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeRequest::Full;
    }
    let mut specs = set
        .split(',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return RangeRequest::Full;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return RangeRequest::Full;
    };
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (first, last) {
        ("", suffix) => match number(suffix) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if len == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Part {
                start: len - n.min(len),
                end: len - 1,
            },
            None => RangeRequest::Full,
        },
        (first, "") => match number(first) {
            Some(start) if start >= len => RangeRequest::Unsatisfiable,
            Some(start) => RangeRequest::Part {
                start,
                end: len - 1,
            },
            None => RangeRequest::Full,
        },
        (first, last) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start > end => RangeRequest::Full,
            (Some(start), Some(_)) if start >= len => RangeRequest::Unsatisfiable,
            (Some(start), Some(end)) => RangeRequest::Part {
                start,
                end: end.min(len - 1),
            },
            _ => RangeRequest::Full,
        },
    }
}

/// The content type for a file name, UTF-8 assumed for text. JavaScript is
/// `text/javascript` whatever the table says (RFC 9239; `mime_guess` gives
/// `application/javascript` for `.mjs`).
fn content_type(name: &str) -> HeaderValue {
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    if mime.subtype() == "javascript" {
        return HeaderValue::from_static("text/javascript; charset=utf-8");
    }
    if mime.type_() == mime_guess::mime::TEXT && mime.get_param(mime_guess::mime::CHARSET).is_none()
    {
        header_value(format!("{mime}; charset=utf-8"))
    } else {
        header_value(mime.to_string())
    }
}

/// An HTTP date (IMF-fixdate) header value.
fn http_date(time: SystemTime) -> HeaderValue {
    header_value(httpdate::fmt_http_date(time))
}

/// A header value from text we built (always visible ASCII).
fn header_value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `301` to the slash form of the request's own path, query kept.
fn redirect(parts: &Parts, query: Option<&str>, head: bool) -> Response<ResponseBody> {
    let path = parts.uri.path();
    let location = match query {
        Some(query) => format!("{path}/?{query}"),
        None => format!("{path}/"),
    };
    if location.starts_with("//") {
        // Would read as a scheme-relative URL: another host.
        tracing::warn!(
            path,
            "refused a static file redirect to a scheme-relative URL"
        );
        return text_page(StatusCode::NOT_FOUND, head);
    }
    let Ok(location) = HeaderValue::try_from(location) else {
        return text_page(StatusCode::NOT_FOUND, head);
    };
    let mut response = text_page(StatusCode::MOVED_PERMANENTLY, head);
    response.headers_mut().insert(LOCATION, location);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::body::CHUNK_SIZE;
    use http_body::Body as _;
    use http_body_util::BodyExt;
    use hyper::Request;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A directory tree under the system temp dir, removed on drop.
    struct TempTree(PathBuf);

    impl TempTree {
        fn new() -> TempTree {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "wasm-gateway-static-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempTree(dir)
        }

        fn write(&self, rel: &str, data: &[u8]) {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
        }
    }

    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A served tree: `root/` is the served directory, `outside/` beside it.
    struct Site {
        tree: TempTree,
        root: StaticRoot,
    }

    const HELLO: &[u8] = b"0123456789";

    fn site() -> Site {
        let tree = TempTree::new();
        tree.write("root/hello.txt", HELLO);
        tree.write("root/site.css", b"body{}");
        tree.write("root/index.html", b"<h1>top</h1>");
        tree.write("root/dir/index.html", b"<h1>dir</h1>");
        tree.write("root/empty/.keep", b"");
        tree.write("root/a/b", b"b");
        tree.write("root/.well-known/security.txt", b"contact: x");
        tree.write("outside/secret.txt", b"secret");
        tree.write("x", b"top-level x");
        let root = StaticRoot::new(&tree.0.join("root")).unwrap();
        Site { tree, root }
    }

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    impl Site {
        /// Serves `path` (raw, below the mount) at mount `/static`.
        async fn request(
            &self,
            method: &str,
            path: &str,
            headers: &[(&str, &str)],
        ) -> Response<ResponseBody> {
            let (raw, query) = match path.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (path, None),
            };
            let uri = format!("/static{path}");
            let parts = parts(method, &uri, headers);
            self.root.serve(&parts, raw.as_bytes(), query).await
        }

        async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response<ResponseBody> {
            self.request("GET", path, headers).await
        }
    }

    fn header<'a>(response: &'a Response<ResponseBody>, name: &str) -> Option<&'a str> {
        response.headers().get(name).map(|v| v.to_str().unwrap())
    }

    async fn body(response: Response<ResponseBody>) -> Bytes {
        response.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn new_refuses_what_is_not_a_directory() {
        let tree = TempTree::new();
        tree.write("file", b"x");
        let missing = StaticRoot::new(&tree.0.join("missing")).unwrap_err();
        assert!(missing.to_string().contains("missing"), "{missing}");
        let file = StaticRoot::new(&tree.0.join("file")).unwrap_err();
        assert!(file.to_string().contains("file"), "{file}");
        assert!(file.to_string().contains("not a directory"), "{file}");
    }

    #[tokio::test]
    async fn file_200_with_headers() {
        let site = site();
        let response = site.get("/hello.txt", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(header(&response, "content-length"), Some("10"));
        assert_eq!(header(&response, "accept-ranges"), Some("bytes"));
        assert_eq!(header(&response, "cache-control"), Some("no-cache"));
        let etag = header(&response, "etag").unwrap();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let modified = header(&response, "last-modified").unwrap();
        httpdate::parse_http_date(modified).unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(body(response).await, HELLO);

        let css = site.get("/site.css", &[]).await;
        assert_eq!(
            header(&css, "content-type"),
            Some("text/css; charset=utf-8")
        );
        site.tree.write("root/blob.unknownext", b"\x00\x01");
        let blob = site.get("/blob.unknownext", &[]).await;
        assert_eq!(
            header(&blob, "content-type"),
            Some("application/octet-stream")
        );
        site.tree.write("root/pic.png", b"png");
        let png = site.get("/pic.png", &[]).await;
        assert_eq!(header(&png, "content-type"), Some("image/png"));
    }

    #[test]
    fn content_types_by_extension() {
        for (name, expected) in [
            ("a.html", "text/html; charset=utf-8"),
            ("a.css", "text/css; charset=utf-8"),
            ("a.js", "text/javascript; charset=utf-8"),
            ("a.mjs", "text/javascript; charset=utf-8"),
            ("a.txt", "text/plain; charset=utf-8"),
            ("a.json", "application/json"),
            ("a.svg", "image/svg+xml"),
            ("a.wasm", "application/wasm"),
            ("a.PNG", "image/png"),
            ("a.woff2", "font/woff2"),
            ("noextension", "application/octet-stream"),
        ] {
            assert_eq!(content_type(name), expected, "{name}");
        }
    }

    #[tokio::test]
    async fn redirect_never_points_at_another_host() {
        let site = site();
        // A server that passed b"" for a request to "/" (mount "/") would
        // otherwise redirect to "//".
        let parts = parts("GET", "/", &[]);
        let response = site.root.serve(&parts, b"", None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(header(&response, "location").is_none());
    }

    #[tokio::test]
    async fn percent_encoded_names_are_decoded() {
        let site = site();
        site.tree.write("root/a file é.txt", b"spaced");
        let response = site.get("/a%20file%20%C3%A9.txt", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body(response).await, "spaced");
    }

    #[tokio::test]
    async fn dotfiles_are_served() {
        let site = site();
        let response = site.get("/.well-known/security.txt", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body(response).await, "contact: x");
    }

    #[tokio::test]
    async fn index_for_root_and_directories() {
        let site = site();
        let root = site.get("/", &[]).await;
        assert_eq!(root.status(), StatusCode::OK);
        assert_eq!(
            header(&root, "content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(body(root).await, "<h1>top</h1>");
        let dir = site.get("/dir/", &[]).await;
        assert_eq!(dir.status(), StatusCode::OK);
        assert_eq!(
            header(&dir, "content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(body(dir).await, "<h1>dir</h1>");
    }

    #[tokio::test]
    async fn directory_without_index_is_404() {
        let site = site();
        let response = site.get("/empty/", &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn directory_without_slash_redirects_keeping_the_query() {
        let site = site();
        let response = site.get("/dir", &[]).await;
        assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(header(&response, "location"), Some("/static/dir/"));
        assert_eq!(response.status().as_u16(), 301);

        let response = site.get("/dir?x=1&y=%20", &[]).await;
        assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            header(&response, "location"),
            Some("/static/dir/?x=1&y=%20")
        );

        // The mount point itself, without its slash.
        let response = site.get("", &[]).await;
        assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(header(&response, "location"), Some("/static/"));
    }

    #[tokio::test]
    async fn file_with_trailing_slash_is_404() {
        let site = site();
        let response = site.get("/hello.txt/", &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn missing_is_404() {
        let site = site();
        let response = site.get("/nope.txt", &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.status().as_u16(), 404);
        assert_eq!(body(response).await, "404 Not Found\n");
        let below_file = site.get("/hello.txt/x", &[]).await;
        assert_eq!(below_file.status(), StatusCode::NOT_FOUND);
    }

    async fn etag_of(site: &Site, path: &str) -> String {
        let response = site.get(path, &[]).await;
        header(&response, "etag").unwrap().to_owned()
    }

    #[tokio::test]
    async fn if_none_match_gives_304() {
        let site = site();
        let etag = etag_of(&site, "/hello.txt").await;
        let response = site.get("/hello.txt", &[("if-none-match", &etag)]).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header(&response, "etag"), Some(etag.as_str()));
        assert!(header(&response, "last-modified").is_some());
        assert_eq!(response.status().as_u16(), 304);
        assert!(body(response).await.is_empty());

        // Weak comparison, in a list, and `*`.
        let weak = format!("\"other\", W/{etag}");
        let response = site.get("/hello.txt", &[("if-none-match", &weak)]).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        let response = site.get("/hello.txt", &[("if-none-match", "*")]).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        let response = site
            .request("HEAD", "/hello.txt", &[("if-none-match", &etag)])
            .await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    }

    #[tokio::test]
    async fn if_none_match_mismatch_gives_200_even_if_not_modified_since() {
        let site = site();
        let response = site
            .get(
                "/hello.txt",
                &[
                    ("if-none-match", "\"stale\""),
                    ("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body(response).await, HELLO);
    }

    #[tokio::test]
    async fn if_modified_since_gives_304() {
        let site = site();
        let first = site.get("/hello.txt", &[]).await;
        let modified = header(&first, "last-modified").unwrap().to_owned();
        let response = site
            .get("/hello.txt", &[("if-modified-since", &modified)])
            .await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert!(body(response).await.is_empty());

        let older = site
            .get(
                "/hello.txt",
                &[("if-modified-since", "Thu, 01 Jan 1970 00:00:01 GMT")],
            )
            .await;
        assert_eq!(older.status(), StatusCode::OK);
        let garbage = site
            .get("/hello.txt", &[("if-modified-since", "yesterday")])
            .await;
        assert_eq!(garbage.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn if_match_failure_gives_412() {
        let site = site();
        let etag = etag_of(&site, "/hello.txt").await;
        let response = site.get("/hello.txt", &[("if-match", "\"other\"")]).await;
        assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
        // If-Match compares strongly: a weak tag never matches.
        let weak = format!("W/{etag}");
        let response = site.get("/hello.txt", &[("if-match", &weak)]).await;
        assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
        let response = site.get("/hello.txt", &[("if-match", &etag)]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let response = site
            .get(
                "/hello.txt",
                &[("if-unmodified-since", "Thu, 01 Jan 1970 00:00:01 GMT")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    }

    #[tokio::test]
    async fn single_ranges_give_206() {
        let site = site();
        for (range, content_range, data) in [
            ("bytes=0-4", "bytes 0-4/10", &b"01234"[..]),
            ("bytes=5-", "bytes 5-9/10", b"56789"),
            ("bytes=-3", "bytes 7-9/10", b"789"),
            ("bytes=8-100", "bytes 8-9/10", b"89"),
            ("bytes=-100", "bytes 0-9/10", HELLO),
        ] {
            let response = site.get("/hello.txt", &[("range", range)]).await;
            assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
            assert_eq!(header(&response, "content-range"), Some(content_range));
            let len = data.len().to_string();
            assert_eq!(header(&response, "content-length"), Some(len.as_str()));
            assert_eq!(
                header(&response, "content-type"),
                Some("text/plain; charset=utf-8")
            );
            assert_eq!(body(response).await, data, "{range}");
        }
    }

    #[tokio::test]
    async fn unsatisfiable_range_gives_416() {
        let site = site();
        for range in ["bytes=10-", "bytes=10-20", "bytes=-0"] {
            let response = site.get("/hello.txt", &[("range", range)]).await;
            assert_eq!(
                response.status(),
                StatusCode::RANGE_NOT_SATISFIABLE,
                "{range}"
            );
            assert_eq!(header(&response, "content-range"), Some("bytes */10"));
            assert_eq!(response.status().as_u16(), 416);
        }
    }

    #[tokio::test]
    async fn multiple_or_malformed_ranges_give_200() {
        let site = site();
        for range in ["bytes=0-1,3-4", "bytes=5-2", "bytes=x-y", "items=0-1"] {
            let response = site.get("/hello.txt", &[("range", range)]).await;
            assert_eq!(response.status(), StatusCode::OK, "{range}");
            assert!(header(&response, "content-range").is_none());
            assert_eq!(body(response).await, HELLO, "{range}");
        }
    }

    #[tokio::test]
    async fn if_range_decides_between_206_and_200() {
        let site = site();
        // Old enough for its date to be a strong validator.
        let old = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(site.tree.0.join("root/hello.txt"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let first = site.get("/hello.txt", &[]).await;
        let etag = header(&first, "etag").unwrap().to_owned();
        let modified = header(&first, "last-modified").unwrap().to_owned();
        // Only the exact date names this version.
        let later = httpdate::fmt_http_date(
            httpdate::parse_http_date(&modified).unwrap() + Duration::from_secs(60),
        );
        for (if_range, status) in [
            (etag.as_str(), StatusCode::PARTIAL_CONTENT),
            (modified.as_str(), StatusCode::PARTIAL_CONTENT),
            ("\"stale\"", StatusCode::OK),
            (&format!("W/{etag}"), StatusCode::OK),
            ("Thu, 01 Jan 1970 00:00:01 GMT", StatusCode::OK),
            (&later, StatusCode::OK),
        ] {
            let response = site
                .get(
                    "/hello.txt",
                    &[("range", "bytes=0-4"), ("if-range", if_range)],
                )
                .await;
            assert_eq!(response.status(), status, "{if_range}");
        }
    }

    #[tokio::test]
    async fn head_has_headers_and_no_body() {
        let site = site();
        let response = site.request("HEAD", "/hello.txt", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "content-length"), Some("10"));
        assert!(header(&response, "etag").is_some());
        assert_eq!(
            header(&response, "content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(response.status().as_u16(), 200);
        assert!(body(response).await.is_empty());

        // Range is defined for GET only.
        let ranged = site
            .request("HEAD", "/hello.txt", &[("range", "bytes=0-4")])
            .await;
        assert_eq!(ranged.status(), StatusCode::OK);
        assert_eq!(header(&ranged, "content-length"), Some("10"));
    }

    #[tokio::test]
    async fn other_methods_give_405() {
        let site = site();
        for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
            let response = site.request(method, "/hello.txt", &[]).await;
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(header(&response, "allow"), Some("GET, HEAD"));
            assert_eq!(response.status().as_u16(), 405);
        }
    }

    #[tokio::test]
    async fn traversal_attempts_are_404() {
        let site = site();
        // `x` exists beside `root/` (the canonical-path check alone would
        // refuse it), and `root/x`, `root/a/b` and (on Unix) `root/a\b`
        // exist below it: without the path checks, the attempts that land
        // inside the root would find a file.
        site.tree.write("root/x", b"top-level x, inside");
        #[cfg(unix)]
        site.tree.write("root/a\\b", b"top-level backslash");
        for path in [
            "/../x",
            "/%2e%2e/x",
            "/.%2E/x",
            "/%2E./x",
            "/a/../x",
            "/a/%2e%2e/x",
            "/a/.%2E/x",
            "/a/..%2fx",
            "/a/../../x",
            "/a/..%2f..%2fx",
            "/a%2fb",
            "/a%5c..%5c..%5cx",
            "/a\\..\\..\\x",
            "/a%5Cb",
            "/a\\b",
            "/%00",
            "/hello.txt%00.png",
            "/./hello.txt",
            "/%2e/hello.txt",
            "//hello.txt",
            "/a//b",
            "/%c0%ae%c0%ae/x",
            "/hello%zz.txt",
            "/C:/x",
        ] {
            let response = site.get(path, &[]).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert!(!body(response).await.starts_with(b"top-level"), "{path}");
        }
    }

    /// Collects formatted log output for a test.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn refusals_are_logged_as_warnings_with_the_reason() {
        let site = site();
        let root = site.tree.0.join("root");
        std::os::unix::fs::symlink(site.tree.0.join("outside"), root.join("out")).unwrap();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        for path in ["/%2e%2e/x", "/a%5cb", "/out/secret.txt"] {
            let response = site.get(path, &[]).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        }
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        for reason in [
            "'..' segment",
            "backslash",
            "resolves outside the root (symlink)",
        ] {
            assert!(
                text.lines()
                    .any(|l| l.contains("WARN") && l.contains(reason)),
                "no warning naming {reason:?} in:\n{text}"
            );
        }
        assert!(
            text.contains("/out/secret.txt"),
            "the path is named:\n{text}"
        );
    }

    #[test]
    fn parse_path_names_each_refusal() {
        for (path, reason) in [
            ("/../x", "'..' segment"),
            ("/%2e%2e/x", "'..' segment"),
            ("/.%2E/x", "'..' segment"),
            ("/a/..%2fx", "encoded slash inside a segment"),
            ("/a%2fb", "encoded slash inside a segment"),
            ("/a%5c..%5cx", "backslash"),
            ("/a\\b", "backslash"),
            ("/%00", "NUL byte"),
            ("/a%0ab", "control character"),
            ("/./x", "'.' segment"),
            ("/a//b", "empty path segment"),
            ("/%c0%ae", "not UTF-8 after decoding"),
            ("/%4", "malformed percent-encoding"),
            ("/C:", "drive letter"),
            ("/c:%5cwindows", "backslash"),
        ] {
            assert_eq!(parse_path(path.as_bytes()), Err(reason), "{path}");
        }
        assert_eq!(
            parse_path(b"/css/site%2Ecss"),
            Ok(Target {
                segments: vec!["css".into(), "site.css".into()],
                trailing_slash: false
            })
        );
        assert_eq!(
            parse_path(b"/dir/"),
            Ok(Target {
                segments: vec!["dir".into()],
                trailing_slash: true
            })
        );
        assert_eq!(
            parse_path(b""),
            Ok(Target {
                segments: vec![],
                trailing_slash: false
            })
        );
        assert_eq!(
            parse_path(b"/"),
            Ok(Target {
                segments: vec![],
                trailing_slash: true
            })
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn symlink_inside_root_is_served() {
        let site = site();
        let root = site.tree.0.join("root");
        std::os::unix::fs::symlink(root.join("hello.txt"), root.join("link.txt")).unwrap();
        std::os::unix::fs::symlink("dir", root.join("dirlink")).unwrap();
        let response = site.get("/link.txt", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body(response).await, HELLO);
        let response = site.get("/dirlink/", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body(response).await, "<h1>dir</h1>");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn symlink_leading_outside_root_is_404() {
        let site = site();
        let root = site.tree.0.join("root");
        let outside = site.tree.0.join("outside");
        std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("secret.txt")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("dir2")).unwrap();
        std::fs::create_dir(root.join("sneaky")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("sneaky/index.html"))
            .unwrap();
        for path in ["/secret.txt", "/out/secret.txt", "/sneaky/"] {
            let response = site.get(path, &[]).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert_ne!(body(response).await, "secret", "{path}");
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn fifo_is_404_without_blocking() {
        let site = site();
        let fifo = site.tree.0.join("root/pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo here
        }
        let response =
            match tokio::time::timeout(Duration::from_secs(5), site.get("/pipe", &[])).await {
                Ok(response) => response,
                Err(_) => {
                    // Unblock the reader stuck in open() so the runtime can shut down.
                    let _writer = std::fs::OpenOptions::new().write(true).open(&fifo);
                    panic!("serving a FIFO blocked");
                }
            };
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn big_file_streams_in_several_frames() {
        let site = site();
        let data: Vec<u8> = (0..(1024 * 1024 + 123)).map(|i| (i % 251) as u8).collect();
        site.tree.write("root/big.bin", &data);
        let response = site.get("/big.bin", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let len = data.len().to_string();
        assert_eq!(header(&response, "content-length"), Some(len.as_str()));
        let mut stream = response.into_body();
        assert_eq!(
            stream.size_hint().exact(),
            Some(data.len() as u64),
            "hyper sees the exact length"
        );
        let mut received = Vec::new();
        let mut frames = 0;
        while let Some(frame) = stream.frame().await {
            let chunk = frame.unwrap().into_data().unwrap();
            assert!(chunk.len() as u64 <= CHUNK_SIZE);
            received.extend_from_slice(&chunk);
            frames += 1;
        }
        assert!(frames > 1, "{frames} frame(s)");
        assert_eq!(received, data);

        // A range in the middle crosses a chunk boundary.
        let response = site
            .get("/big.bin", &[("range", "bytes=65530-65545")])
            .await;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(body(response).await, &data[65530..=65545]);
    }

    #[tokio::test]
    async fn truncated_file_aborts_the_body() {
        let site = site();
        let data = vec![7u8; 200 * 1024];
        site.tree.write("root/shrinks.bin", &data);
        let response = site.get("/shrinks.bin", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap().len() as u64, CHUNK_SIZE);
        std::fs::File::options()
            .write(true)
            .open(site.tree.0.join("root/shrinks.bin"))
            .unwrap()
            .set_len(CHUNK_SIZE)
            .unwrap();
        assert!(body.frame().await.unwrap().is_err());
    }

    #[tokio::test]
    async fn empty_file_is_200_with_zero_length() {
        let site = site();
        site.tree.write("root/empty.txt", b"");
        let response = site.get("/empty.txt", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "content-length"), Some("0"));
        assert!(body(response).await.is_empty());
        let response = site.get("/empty.txt", &[("range", "bytes=0-")]).await;
        assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(header(&response, "content-range"), Some("bytes */0"));
    }
}
