//! A table of raw HTTP requests, valid and invalid, each sent on its own
//! connection to the `environ` example (which reads the whole body and lists
//! the environ), with the status and environ variables each must produce.
//!
//! The valid rows pin down what PEP 3333 promises the application; the
//! invalid rows are the malformed, oversized and smuggling-shaped requests
//! that must be refused before any application sees them.

use crate::support::{TestServer, read_response};
use std::io::{BufReader, Write};
use wasm_gateway_test_artifacts::ENVIRON;

/// One row: a request and what it must produce.
struct Case {
    name: &'static str,
    request: Vec<u8>,
    status: u16,
    /// Environ variables: `Some(value)` must be present with that value,
    /// `None` must be absent. Checked only for 200 responses.
    vars: Vec<(&'static str, Option<Vec<u8>>)>,
}

fn ok(name: &'static str, request: &[u8], vars: &[(&'static str, Option<&[u8]>)]) -> Case {
    Case {
        name,
        request: request.to_vec(),
        status: 200,
        vars: vars
            .iter()
            .map(|(k, v)| (*k, v.map(<[u8]>::to_vec)))
            .collect(),
    }
}

fn refused(name: &'static str, request: &[u8], status: u16) -> Case {
    Case {
        name,
        request: request.to_vec(),
        status,
        vars: Vec::new(),
    }
}

/// A GET with `Host: h` and `Connection: close` plus `extra` header lines.
fn get_with(target: &str, extra: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n{extra}\r\n").into_bytes()
}

fn cases() -> Vec<Case> {
    let long_target = format!("/{}", "a".repeat(8190 - "GET / HTTP/1.1".len()));
    let too_long_target = format!("/{}", "a".repeat(8200));
    let long_field = format!("X-Long: {}\r\n", "v".repeat(8190 - "X-Long: ".len()));
    let too_long_field = format!("X-Long: {}\r\n", "v".repeat(8200));
    let hundred: String = (0..98).map(|i| format!("X-{i}: {i}\r\n")).collect();
    let hundred_one: String = (0..100).map(|i| format!("X-{i}: {i}\r\n")).collect();
    let huge_head: String = (0..9)
        .map(|i| format!("X-{i}: {}\r\n", "v".repeat(8000)))
        .collect();
    let nine_empty = format!("{}GET / HTTP/1.1\r\nHost: h\r\n\r\n", "\r\n".repeat(9));

    vec![
        // --- valid requests, and the environ they produce ---------------------
        ok(
            "simple GET",
            b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
            &[
                ("REQUEST_METHOD", Some(b"GET")),
                ("SCRIPT_NAME", Some(b"")),
                ("PATH_INFO", Some(b"/")),
                ("QUERY_STRING", Some(b"")),
                ("SERVER_NAME", Some(b"example.com")),
                ("SERVER_PROTOCOL", Some(b"HTTP/1.1")),
                ("REMOTE_ADDR", Some(b"127.0.0.1")),
                ("CONTENT_LENGTH", None),
                ("CONTENT_TYPE", None),
                ("wsgi.url_scheme", Some(b"http")),
                ("wsgi.version", Some(b"(1, 0)")),
                ("wsgi.multithread", Some(b"False")),
                ("wsgi.multiprocess", Some(b"True")),
                ("wsgi.run_once", Some(b"True")),
                ("BODY_LEN", Some(b"0")),
            ],
        ),
        ok(
            "query string kept raw",
            &get_with("/a/b?x=1&y=%20z", ""),
            &[
                ("PATH_INFO", Some(b"/a/b")),
                ("QUERY_STRING", Some(b"x=1&y=%20z")),
                ("REQUEST_URI", Some(b"/a/b?x=1&y=%20z")),
            ],
        ),
        ok(
            "percent-decoded UTF-8 path",
            &get_with("/caf%C3%A9", ""),
            &[("PATH_INFO", Some("/café".as_bytes()))],
        ),
        ok(
            "%2F decodes to a slash in PATH_INFO, REQUEST_URI keeps it",
            &get_with("/a%2Fb", ""),
            &[
                ("PATH_INFO", Some(b"/a/b")),
                ("REQUEST_URI", Some(b"/a%2Fb")),
            ],
        ),
        ok(
            "non-UTF-8 percent escape reaches the app as the byte",
            &get_with("/%FF", ""),
            &[("PATH_INFO", Some(b"/\xff"))],
        ),
        ok(
            "a stray percent sign is kept",
            &get_with("/100%", ""),
            &[("PATH_INFO", Some(b"/100%"))],
        ),
        ok(
            "Host with port",
            b"GET / HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close\r\n\r\n",
            &[
                ("SERVER_NAME", Some(b"example.com")),
                ("SERVER_PORT", Some(b"8080")),
                ("HTTP_HOST", Some(b"example.com:8080")),
            ],
        ),
        ok(
            "IPv6 Host",
            b"GET / HTTP/1.1\r\nHost: [::1]:9000\r\nConnection: close\r\n\r\n",
            &[
                ("SERVER_NAME", Some(b"[::1]")),
                ("SERVER_PORT", Some(b"9000")),
            ],
        ),
        ok(
            "HTTP/1.0 without Host uses the listen address",
            b"GET /old HTTP/1.0\r\n\r\n",
            &[
                ("SERVER_NAME", Some(b"127.0.0.1")),
                ("SERVER_PROTOCOL", Some(b"HTTP/1.0")),
                ("HTTP_HOST", None),
            ],
        ),
        ok(
            "repeated header fields joined with a comma",
            &get_with("/", "X-A: 1\r\nX-A: 2\r\n"),
            &[("HTTP_X_A", Some(b"1, 2"))],
        ),
        ok(
            "repeated Cookie fields joined with a semicolon",
            &get_with("/", "Cookie: a=1\r\nCookie: b=2\r\n"),
            &[("HTTP_COOKIE", Some(b"a=1; b=2"))],
        ),
        ok(
            "header names with underscores are dropped",
            &get_with("/", "X_Forwarded_For: 6.6.6.6\r\nX-Real: yes\r\n"),
            &[("HTTP_X_FORWARDED_FOR", None), ("HTTP_X_REAL", Some(b"yes"))],
        ),
        ok(
            "Content-Type and Content-Length are not HTTP_ variables",
            b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            &[
                ("CONTENT_TYPE", Some(b"text/plain")),
                ("CONTENT_LENGTH", Some(b"5")),
                ("HTTP_CONTENT_TYPE", None),
                ("HTTP_CONTENT_LENGTH", None),
                ("BODY_LEN", Some(b"5")),
            ],
        ),
        ok(
            "Content-Length: 0",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            &[("CONTENT_LENGTH", Some(b"0")), ("BODY_LEN", Some(b"0"))],
        ),
        ok(
            "chunked body is de-chunked",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            &[
                ("BODY_LEN", Some(b"11")),
                ("CONTENT_LENGTH", None),
                ("HTTP_TRANSFER_ENCODING", Some(b"chunked")),
                ("wsgi.input_terminated", Some(b"True")),
            ],
        ),
        ok(
            "chunk extensions and trailers",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;name=value\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n",
            &[("BODY_LEN", Some(b"3"))],
        ),
        ok(
            "upper-case chunk size and coding name",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
            &[("BODY_LEN", Some(b"10"))],
        ),
        ok(
            "absolute-form target overrides Host",
            b"GET http://other.example/p?q=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            &[
                ("SERVER_NAME", Some(b"other.example")),
                ("PATH_INFO", Some(b"/p")),
                ("QUERY_STRING", Some(b"q=1")),
            ],
        ),
        ok(
            "an empty line before the request line is ignored",
            b"\r\nGET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            &[("PATH_INFO", Some(b"/after"))],
        ),
        ok(
            "extension method",
            &b"PROPFIND /dav HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"[..],
            &[("REQUEST_METHOD", Some(b"PROPFIND"))],
        ),
        ok(
            "methods are case-sensitive tokens, passed as sent",
            b"get / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            &[("REQUEST_METHOD", Some(b"get"))],
        ),
        ok(
            "obs-text (latin-1) in a header value arrives as bytes",
            b"GET / HTTP/1.1\r\nHost: h\r\nX-Name: Jos\xe9\r\nConnection: close\r\n\r\n",
            &[("HTTP_X_NAME", Some(b"Jos\xe9"))],
        ),
        ok(
            "a tab inside a value is kept",
            &get_with("/", "X-Tab: a\tb\r\n"),
            &[("HTTP_X_TAB", Some(b"a\tb"))],
        ),
        ok(
            "optional whitespace around a value is trimmed",
            &get_with("/", "X-Spaced:    v   \r\n"),
            &[("HTTP_X_SPACED", Some(b"v"))],
        ),
        ok(
            "an empty header value",
            &get_with("/", "X-Empty:\r\n"),
            &[("HTTP_X_EMPTY", Some(b""))],
        ),
        ok(
            "Expect: 100-continue with the body sent at once",
            b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
            &[("BODY_LEN", Some(b"3"))],
        ),
        ok(
            "100 header fields is the limit",
            &get_with("/", &hundred),
            &[("HTTP_X_97", Some(b"97"))],
        ),
        ok(
            "a request line of exactly 8190 bytes",
            format!("GET {long_target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
            &[("BODY_LEN", Some(b"0"))],
        ),
        ok(
            "a header field of exactly 8190 bytes",
            &get_with("/", &long_field),
            &[("BODY_LEN", Some(b"0"))],
        ),
        ok(
            "identical Content-Type is just a header",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: a/b\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
            &[("CONTENT_TYPE", Some(b"a/b")), ("BODY_LEN", Some(b"2"))],
        ),
        ok(
            "an offered protocol upgrade is ignored (and not passed on)",
            &get_with("/", "Connection: Upgrade\r\nUpgrade: h2c\r\n"),
            &[("HTTP_UPGRADE", None), ("BODY_LEN", Some(b"0"))],
        ),
        ok(
            "header names are case-insensitive",
            &get_with("/", "x-MiXeD: 1\r\n"),
            &[("HTTP_X_MIXED", Some(b"1"))],
        ),
        // --- malformed request lines ------------------------------------------
        refused("bare LF after the request line", b"GET / HTTP/1.1\nHost: h\r\n\r\n", 400),
        refused("bare LF after a header", b"GET / HTTP/1.1\r\nHost: h\n\r\n", 400),
        refused("bad method token", b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        refused("control byte in the method", b"GE\x01T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        refused("missing version", b"GET /\r\nHost: h\r\n\r\n", 400),
        refused("HTTP/0.9 style request", b"GET /\r\n\r\n", 400),
        refused("lower-case protocol name", b"GET / http/1.1\r\nHost: h\r\n\r\n", 400),
        refused("malformed version", b"GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400),
        refused("HTTP/2.0 in an HTTP/1 request line", b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        refused("HTTP/3.0", b"GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505),
        refused("two spaces after the method", b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        refused("trailing space after the version", b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400),
        refused("space inside the target", b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        refused("non-ASCII byte in the target", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        refused("target not in origin form", b"GET foo HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        refused("asterisk target with GET", b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        refused("too many empty lines before the request", nine_empty.as_bytes(), 400),
        // --- malformed header fields ------------------------------------------
        refused("space before the colon", b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
        refused("tab before the colon", b"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400),
        refused("obs-fold with a space", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),
        refused("obs-fold with a tab", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 400),
        refused("NUL in a value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400),
        refused("CR inside a value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400),
        refused("DEL in a value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n", 400),
        refused("non-ASCII in a name", b"GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: 1\r\n\r\n", 400),
        refused("empty header name", b"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400),
        refused("header line without a colon", b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400),
        refused("HTTP/1.1 without Host", b"GET / HTTP/1.1\r\nX: 1\r\n\r\n", 400),
        refused("two Host fields", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        refused(
            "two Content-Type fields",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: a/b\r\nContent-Type: c/d\r\nContent-Length: 0\r\n\r\n",
            400,
        ),
        refused("Host with a space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        refused("Host with a slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        // --- body framing and smuggling ----------------------------------------
        refused(
            "Content-Length and Transfer-Encoding",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        refused(
            "Transfer-Encoding and then Content-Length",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
            400,
        ),
        refused(
            "two different Content-Lengths",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            400,
        ),
        refused(
            "two identical Content-Lengths",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            400,
        ),
        refused(
            "a Content-Length list",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\nabcd",
            400,
        ),
        refused(
            "a negative Content-Length",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
            400,
        ),
        refused(
            "a signed Content-Length",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc",
            400,
        ),
        refused(
            "a non-numeric Content-Length",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n",
            400,
        ),
        refused(
            "a Content-Length past u64",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            400,
        ),
        refused(
            "gzip transfer coding",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
            400,
        ),
        refused(
            "a coding before chunked",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        refused(
            "chunked twice",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        refused(
            "identity transfer coding",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
            400,
        ),
        refused(
            "Transfer-Encoding in HTTP/1.0",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        refused(
            "a chunk size that is not hexadecimal",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
            400,
        ),
        refused(
            "chunk data longer than its size",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
            400,
        ),
        refused(
            "a chunk size past 64 bits",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
            400,
        ),
        refused(
            "a chunk size line ending in a bare LF",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
            400,
        ),
        refused(
            "a negative chunk size",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n",
            400,
        ),
        refused(
            "a control byte in a chunk extension",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a\x00\r\nabc\r\n0\r\n\r\n",
            400,
        ),
        refused(
            "a trailer line without a colon",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nnocolon\r\n\r\n",
            400,
        ),
        refused(
            "obs-fold in a trailer",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX: 1\r\n 2\r\n\r\n",
            400,
        ),
        refused(
            "whitespace before a trailer's colon",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX : 1\r\n\r\n",
            400,
        ),
        refused(
            "CONNECT (not a proxy)",
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            501,
        ),
        refused(
            "a declared body over the maximum",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 209715200\r\n\r\n",
            413,
        ),
        // --- what the first-hour review and gunicorn's corpus found -------------
        ok(
            "quotes in the request target (as gunicorn, nginx and waitress take it)",
            &get_with("/with_\"quotes\"", ""),
            &[("PATH_INFO", Some(b"/with_\"quotes\""))],
        ),
        ok(
            "JSON in the query string",
            &get_with("/q?x={\"a\":[1|2]}", ""),
            &[("PATH_INFO", Some(b"/q")), ("QUERY_STRING", Some(b"x={%22a%22:[1|2]}"))],
        ),
        ok(
            "angle brackets in the target (escaped for hyper, the same once decoded)",
            &get_with("/<b>?t=<i>", ""),
            &[("PATH_INFO", Some(b"/<b>")), ("QUERY_STRING", Some(b"t=%3Ci%3E"))],
        ),
        refused(
            "a TLS ClientHello on the plain port",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x9a\x0f",
            400,
        ),
        refused(
            "the HTTP/2 connection preface",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            505,
        ),
        refused(
            "a space after a chunk size",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
            400,
        ),
        refused(
            "a space after the last chunk size",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0 \r\n\r\n",
            400,
        ),
        refused(
            "a tab after a chunk size",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\t\r\nhello\r\n0\r\n\r\n",
            400,
        ),
        ok(
            "whitespace before a chunk extension",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5 ;ext=1\r\nhello\r\n0\r\n\r\n",
            &[],
        ),
        refused(
            "Content-Length as a trailer",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nContent-Length: 5\r\n\r\n",
            400,
        ),
        refused(
            "Host as a trailer",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nhost: evil\r\n\r\n",
            400,
        ),
        refused(
            "Transfer-Encoding as a trailer",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-Ok: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        refused(
            "Authorization as a trailer",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nAuthorization: Basic eA==\r\n\r\n",
            400,
        ),
        // --- sizes ---------------------------------------------------------------
        refused(
            "a request line over 8190 bytes",
            format!("GET {too_long_target} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes(),
            414,
        ),
        refused(
            "a request line that never ends",
            format!("GET {too_long_target}").as_bytes(),
            414,
        ),
        refused("a header field over 8190 bytes", &get_with("/", &too_long_field), 431),
        refused("101 header fields", &get_with("/", &hundred_one), 431),
        refused("a head over 64 KiB", &get_with("/", &huge_head), 431),
    ]
}

fn lines(body: &[u8]) -> Vec<&[u8]> {
    body.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn raw_request_corpus() {
    let cases = cases();
    assert!(cases.len() >= 60, "the corpus has {} requests", cases.len());
    let server = TestServer::start(ENVIRON);
    let mut failures = Vec::new();
    for case in &cases {
        let mut conn = server.connect();
        // A refused request may be answered before it is fully written.
        let _ = conn.write_all(&case.request);
        let response = match read_response(&mut BufReader::new(conn)) {
            Ok(response) => response,
            Err(err) => {
                failures.push(format!("{}: no response ({err})", case.name));
                continue;
            }
        };
        if response.status != case.status {
            failures.push(format!(
                "{}: status {} instead of {} ({:?})",
                case.name,
                response.status,
                case.status,
                response.text()
            ));
            continue;
        }
        if case.status != 200 {
            if response.header("connection") != Some("close") {
                failures.push(format!("{}: refusal without Connection: close", case.name));
            }
            continue;
        }
        let lines = lines(&response.body);
        for (key, expected) in &case.vars {
            let prefix = format!("{key}=");
            let actual = lines.iter().find_map(|l| l.strip_prefix(prefix.as_bytes()));
            if actual != expected.as_deref() {
                failures.push(format!(
                    "{}: {key} is {:?}, expected {:?}",
                    case.name,
                    actual.map(|a| a.escape_ascii().to_string()),
                    expected.as_ref().map(|e| e.escape_ascii().to_string())
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
