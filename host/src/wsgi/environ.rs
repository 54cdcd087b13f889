//! Building the WSGI environ record from an HTTP request.
//!
//! The host does the parsing once (method, path split, percent-decoding, Host
//! header, connection addresses) and hands the guest a typed record; guest SDKs
//! derive the CGI-style names (`HTTP_*`, `wsgi.*`) from it. Paths, query
//! strings and header values stay bytes so nothing is lost on the way.

use crate::http::syntax::{host_of, percent_decode, protocol, split_host_port};
use crate::wsgi::bindings::{Environ, Header};
use hyper::http::request::Parts;
use std::net::SocketAddr;

/// What the server knows about the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// The address the server accepted the connection on.
    pub local: SocketAddr,
    /// The client's address.
    pub remote: SocketAddr,
}

/// Builds the environ for one request to an application mounted at
/// `script_name` (the route's prefix, "" at the root), with the operator's
/// `extra` variables.
pub fn build(
    parts: &Parts,
    conn: &ConnInfo,
    script_name: &[u8],
    extra: &[(String, String)],
) -> Environ {
    let uri = &parts.uri;
    let raw_path = uri.path().as_bytes();
    let path_info = percent_decode(strip_mount(raw_path, script_name));
    let request_uri = match uri.path_and_query() {
        Some(pq) => pq.as_str().as_bytes().to_vec(),
        None => b"/".to_vec(),
    };

    let (server_name, server_port) = match host_of(parts).and_then(split_host_port) {
        Some((name, port)) => (
            name.to_owned(),
            port.and_then(|p| p.parse().ok())
                .unwrap_or(conn.local.port()),
        ),
        None => (conn.local.ip().to_string(), conn.local.port()),
    };

    let mut content_type = None;
    let mut content_length = None;
    let mut headers = Vec::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        // `X_Forwarded_For` and `X-Forwarded-For` would both be
        // HTTP_X_FORWARDED_FOR: a client could smuggle the first past a
        // proxy that strips the second. Dropped, as gunicorn does, here so
        // that no guest language ever sees them.
        if name.as_str().contains('_') {
            continue;
        }
        if name == hyper::header::CONTENT_TYPE {
            content_type = Some(value.as_bytes().to_vec());
        } else if name == hyper::header::CONTENT_LENGTH {
            // hyper has already refused malformed or conflicting lengths.
            content_length = value.to_str().ok().and_then(|v| v.parse().ok());
        }
        headers.push(Header {
            name: name.as_str().to_owned(),
            value: value.as_bytes().to_vec(),
        });
    }

    Environ {
        request_method: parts.method.as_str().to_owned(),
        script_name: script_name.to_vec(),
        path_info,
        query_string: uri.query().unwrap_or("").as_bytes().to_vec(),
        request_uri,
        content_type,
        content_length,
        server_name,
        server_port,
        server_protocol: protocol(parts.version).to_owned(),
        remote_addr: conn.remote.ip().to_string(),
        remote_port: conn.remote.port(),
        url_scheme: "http".to_owned(),
        headers,
        extra: extra.to_vec(),
        multithread: false,
        multiprocess: true,
        run_once: true,
        input_terminated: true,
    }
}

/// The path below the mount point `prefix`, which matches whole segments
/// only: `/app` owns `/app` and `/app/x`, not `/application`. A path outside
/// the mount is returned whole (the router never sends one here).
fn strip_mount<'a>(path: &'a [u8], prefix: &[u8]) -> &'a [u8] {
    match path.strip_prefix(prefix) {
        Some(rest) if rest.is_empty() || rest.starts_with(b"/") => rest,
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_prefix_matches_whole_segments() {
        assert_eq!(strip_mount(b"/app/x", b"/app"), b"/x");
        assert_eq!(strip_mount(b"/app", b"/app"), b"");
        assert_eq!(strip_mount(b"/application", b"/app"), b"/application");
        assert_eq!(strip_mount(b"/x", b""), b"/x");
    }

    #[test]
    fn builds_environ_from_request() {
        let req = hyper::Request::builder()
            .uri("/blog/post%20one?x=1&y=%20")
            .header("Host", "example.com:8080")
            .header("Content-Type", "text/plain")
            .header("Content-Length", "5")
            .header("X-A", "1")
            .header("X-A", "2")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let conn = ConnInfo {
            local: "127.0.0.1:9000".parse().unwrap(),
            remote: "127.0.0.2:5555".parse().unwrap(),
        };
        let env = build(&parts, &conn, b"/blog", &[("K".into(), "V".into())]);
        assert_eq!(env.request_method, "GET");
        assert_eq!(env.script_name, b"/blog");
        assert_eq!(env.path_info, b"/post one");
        assert_eq!(env.query_string, b"x=1&y=%20");
        assert_eq!(env.request_uri, b"/blog/post%20one?x=1&y=%20");
        assert_eq!(env.server_name, "example.com");
        assert_eq!(env.server_port, 8080);
        assert_eq!(env.remote_addr, "127.0.0.2");
        assert_eq!(env.remote_port, 5555);
        assert_eq!(env.content_type.as_deref(), Some(&b"text/plain"[..]));
        assert_eq!(env.content_length, Some(5));
        let xa: Vec<_> = env
            .headers
            .iter()
            .filter(|h| h.name == "x-a")
            .map(|h| &h.value[..])
            .collect();
        assert_eq!(xa, [b"1", b"2"]);
        assert_eq!(env.extra, [("K".to_owned(), "V".to_owned())]);
    }

    #[test]
    fn falls_back_to_listen_address_without_host() {
        let (parts, ()) = hyper::Request::builder()
            .uri("/")
            .body(())
            .unwrap()
            .into_parts();
        let conn = ConnInfo {
            local: "127.0.0.1:9000".parse().unwrap(),
            remote: "127.0.0.1:1".parse().unwrap(),
        };
        let env = build(&parts, &conn, b"", &[]);
        assert_eq!(
            (env.server_name.as_str(), env.server_port),
            ("127.0.0.1", 9000)
        );
        assert_eq!(env.path_info, b"/");

        // A port that is not a number counts as absent; the name is kept.
        let (parts, ()) = hyper::Request::builder()
            .uri("/")
            .header("host", "a:b")
            .body(())
            .unwrap()
            .into_parts();
        let env = build(&parts, &conn, b"", &[]);
        assert_eq!((env.server_name.as_str(), env.server_port), ("a", 9000));
    }
}
