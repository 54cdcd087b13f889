//! The examples behave as the seed documents show.

use crate::support::TestServer;
use std::io::{BufReader, Write};
use wasm_gateway_test_artifacts as wasm;

#[test]
fn hello_answers_hello_world() {
    let server = TestServer::start(wasm::HELLO);
    let r = server.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Hello, world!");
    assert_eq!(r.reason, "OK");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("content-length"), Some("13"));
    assert!(r.header("date").is_some(), "Date header added");
    assert!(r.header("server").unwrap().starts_with("wasm-gateway"));
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = TestServer::start(wasm::HELLO);
    let conn = server.connect();
    let mut writer = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    for _ in 0..3 {
        writer
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let r = crate::support::read_response(&mut reader).unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "Hello, world!"));
    }
}

fn environ_lines(body: &[u8]) -> Vec<Vec<u8>> {
    body.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn var<'a>(lines: &'a [Vec<u8>], key: &str) -> Option<&'a [u8]> {
    let prefix = format!("{key}=");
    lines.iter().find_map(|l| l.strip_prefix(prefix.as_bytes()))
}

#[test]
fn environ_shows_the_request_as_pep_3333_variables() {
    let server = TestServer::start(wasm::ENVIRON);
    let r = server.request(
        "POST /submit/it?a=1&b=two HTTP/1.1\r\nHost: example.com:8080\r\nContent-Type: text/plain\r\n\
         Content-Length: 5\r\nX-Custom: yes\r\nAccept: a\r\nAccept: b\r\nConnection: close\r\n\r\nhello",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let lines = environ_lines(&r.body);
    let expect = [
        ("REQUEST_METHOD", "POST"),
        ("SCRIPT_NAME", ""),
        ("PATH_INFO", "/submit/it"),
        ("QUERY_STRING", "a=1&b=two"),
        ("CONTENT_TYPE", "text/plain"),
        ("CONTENT_LENGTH", "5"),
        ("SERVER_NAME", "example.com"),
        ("SERVER_PORT", "8080"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("HTTP_HOST", "example.com:8080"),
        ("HTTP_X_CUSTOM", "yes"),
        ("HTTP_ACCEPT", "a, b"),
        ("wsgi.url_scheme", "http"),
        ("wsgi.version", "(1, 0)"),
        ("wsgi.multithread", "False"),
        ("wsgi.multiprocess", "True"),
        ("wsgi.run_once", "True"),
        ("BODY_LEN", "5"),
    ];
    for (key, value) in expect {
        assert_eq!(
            var(&lines, key),
            Some(value.as_bytes()),
            "{key} in {}",
            r.text()
        );
    }
    assert!(
        var(&lines, "HTTP_CONTENT_TYPE").is_none(),
        "no HTTP_ duplicate of CONTENT_TYPE"
    );
    assert!(var(&lines, "HTTP_CONTENT_LENGTH").is_none());
    assert_eq!(lines.last().unwrap(), b"BODY_LEN=5");
    // Sorted by key, like seed 000's printout.
    let keys: Vec<&[u8]> = lines[..lines.len() - 1]
        .iter()
        .map(|l| l.split(|&b| b == b'=').next().unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn environ_passes_non_utf8_bytes_through_unchanged() {
    let server = TestServer::start(wasm::ENVIRON);
    let raw = "GET /caf%E9/%FF?q=%FF HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let r = server.request(raw);
    assert_eq!(r.status, 200, "{}", r.text());
    let lines = environ_lines(&r.body);
    assert_eq!(var(&lines, "PATH_INFO"), Some(&b"/caf\xe9/\xff"[..]));
    assert_eq!(var(&lines, "QUERY_STRING"), Some(&b"q=%FF"[..]));
}

#[test]
fn environ_passes_non_utf8_header_bytes_through_unchanged() {
    let server = TestServer::start(wasm::ENVIRON);
    let r = server.request(
        &b"GET / HTTP/1.1\r\nHost: x\r\nX-Raw: \xe9t\xe9\r\nConnection: close\r\n\r\n"[..],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        var(&environ_lines(&r.body), "HTTP_X_RAW"),
        Some(&b"\xe9t\xe9"[..])
    );
}

#[test]
fn flask_like_routes_like_the_seed_flask_app() {
    let server = TestServer::start(wasm::FLASK_LIKE);
    let home = server.get("/");
    assert_eq!((home.status, home.text().as_str()), (200, "<h1>Home</h1>"));
    assert_eq!(
        home.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let post = server
        .request("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!((post.status, post.text().as_str()), (200, "<h1>Home</h1>"));
    let user = server.get("/user/alice");
    assert_eq!(
        (user.status, user.text().as_str()),
        (200, "<h1>Hello, alice!</h1>")
    );
    let escaped = server.get("/user/%3Cb%3E");
    assert_eq!(escaped.text(), "<h1>Hello, &lt;b&gt;!</h1>");
    assert_eq!(server.get("/nowhere").status, 404);
    let wrong = server.request("DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(wrong.status, 405);
    let allow = wrong.header("allow").unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}

#[test]
fn dispatch_routes_paths_like_seed_004() {
    let server = TestServer::start(wasm::DISPATCH);
    let dog = server.get("/dog");
    assert_eq!((dog.status, dog.text().as_str()), (200, "This is dog!"));
    let cat = server.get("/cat");
    assert_eq!((cat.status, cat.text().as_str()), (200, "This is cat!"));
    let monkey = server.get("/monkey");
    assert_eq!((monkey.status, monkey.text().as_str()), (404, "Not Found"));
    assert_eq!(
        monkey.reason, "Not Found",
        "the app's reason phrase is sent"
    );
    assert_eq!(monkey.header("content-type"), Some("text/plain"));
}

/// `visits` and `notes` served from one gateway file, both granted the
/// default key-value store (in a fresh data directory).
fn kv_examples(name: &str) -> TestServer {
    let dir = crate::support::temp_dir(name);
    crate::support::serve_toml(
        &dir,
        &format!(
            "[server]\ndata-dir = \"data\"\n[apps.visits]\nwasm = \"{}\"\nroutes = [\"/visits\"]\n[apps.visits.grants]\nkv = [\"default\"]\n[apps.notes]\nwasm = \"{}\"\nroutes = [\"/notes\"]\n[apps.notes.grants]\nkv = [\"default\"]\n[apps.ungranted]\nwasm = \"{}\"\nroutes = [\"/ungranted\"]\n",
            wasm::VISITS,
            wasm::NOTES,
            wasm::VISITS
        ),
    )
}

#[test]
fn visits_counts_every_visit_in_the_store() {
    let server = kv_examples("example-visits");
    assert_eq!(
        server.get("/visits/").text(),
        "You are visitor number 1, and this page (/) has been seen 1 time.\n"
    );
    server.get("/visits/about");
    assert_eq!(
        server.get("/visits/").text(),
        "You are visitor number 3, and this page (/) has been seen 2 times.\n"
    );
    // Without the grant, the page says what the operator must do.
    let r = server.get("/ungranted/");
    assert_eq!(r.status, 503);
    assert!(r.text().contains("kv = [\"default\"]"), "{}", r.text());
}

#[test]
fn notes_adds_lists_shows_and_deletes_notes() {
    let server = kv_examples("example-notes");
    assert!(server.get("/notes/").text().contains("no notes yet"));
    let post = |body: &str, path: &str| {
        server.request(format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
    };
    let r = post("text=buy+milk", "/notes/notes");
    assert_eq!((r.status, r.header("location")), (303, Some("/notes/")));
    post("text=%3Cb%3Ebold%3C%2Fb%3E", "/notes/notes");
    let page = server.get("/notes/").text();
    let milk = page.find("buy milk").expect("the first note is listed");
    let bold = page.find("&lt;b&gt;bold&lt;/b&gt;").expect("escaped");
    assert!(bold < milk, "newest first:\n{page}");
    assert_eq!(server.get("/notes/notes/1").text(), "buy milk");
    assert_eq!(post("", "/notes/notes/1/delete").status, 303);
    assert_eq!(server.get("/notes/notes/1").status, 404);
    assert!(!server.get("/notes/").text().contains("buy milk"));
    assert_eq!(post("text=", "/notes/notes").status, 400);
    // The visit counter, granted the same store, sees none of these keys.
    assert_eq!(
        server.get("/visits/").text(),
        "You are visitor number 1, and this page (/) has been seen 1 time.\n"
    );
}
