//! HTTP's small grammar pieces, shared by the guard, the environ, the router,
//! `start_response` and the access log.

use hyper::Version;
use hyper::http::request::Parts;

/// The request's host: the authority of an absolute-form target (RFC 9112
/// section 3.2.2), else the Host header. Routing and `SERVER_NAME` both use it.
pub fn host_of(parts: &Parts) -> Option<&str> {
    parts.uri.authority().map(|a| a.as_str()).or_else(|| {
        parts
            .headers
            .get(hyper::header::HOST)
            .and_then(|value| value.to_str().ok())
    })
}

/// The `SERVER_PROTOCOL` string for an HTTP version.
pub fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Splits `[userinfo@]host[:port]`, keeping IPv6 brackets on the host and
/// dropping userinfo. The port stays text: the router ignores it, and the
/// environ counts one that is not a number as absent.
pub fn split_host_port(host: &str) -> Option<(&str, Option<&str>)> {
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    if host.is_empty() {
        return None;
    }
    let (name, port) = if host.starts_with('[') {
        let end = host.find(']')?;
        let (name, rest) = host.split_at(end + 1);
        (name, rest.strip_prefix(':'))
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if name.is_empty() {
        return None;
    }
    Some((name, port))
}

/// Decodes `%XX` escapes to bytes. A `%` not followed by two hex digits is
/// kept as it is, as gunicorn and waitress do.
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if let Some(byte) = percent_escape(&input[i..]) {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// The byte a `%XX` escape at the start of `input` stands for; `None` when
/// `input` does not start with one.
pub fn percent_escape(input: &[u8]) -> Option<u8> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    match input {
        [b'%', hi, lo, ..] => Some(hex(*hi)? << 4 | hex(*lo)?),
        _ => None,
    }
}

/// Whether `value` may be a header field value: visible ASCII, spaces,
/// tabs and obs-text; no CR, LF, NUL or other control character.
pub fn is_field_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b' '..0x7f).contains(&b) || b >= 0x80)
}

/// `1*DIGIT` that fits in a u64 (a Content-Length, from a client or an app).
pub fn parse_decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes_to_raw_bytes() {
        assert_eq!(percent_decode(b"/a%20b"), b"/a b");
        assert_eq!(percent_decode(b"/%ff%FE"), [b'/', 0xff, 0xfe]);
        assert_eq!(percent_decode(b"/a%2Fb"), b"/a/b");
        assert_eq!(percent_decode(b"/100%"), b"/100%");
        assert_eq!(percent_decode(b"/%zz%4"), b"/%zz%4");
    }

    #[test]
    fn splits_host_and_port() {
        assert_eq!(split_host_port("example.com"), Some(("example.com", None)));
        assert_eq!(
            split_host_port("example.com:81"),
            Some(("example.com", Some("81")))
        );
        assert_eq!(split_host_port("[::1]:8000"), Some(("[::1]", Some("8000"))));
        assert_eq!(split_host_port("[::1]"), Some(("[::1]", None)));
        assert_eq!(split_host_port("a:b"), Some(("a", Some("b"))));
        assert_eq!(split_host_port(""), None);
        assert_eq!(split_host_port(":80"), None);
        // Userinfo is dropped.
        assert_eq!(split_host_port("u@a.com:81"), Some(("a.com", Some("81"))));
    }
}
