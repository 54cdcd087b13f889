//! Middleware chains: each example middleware in front of each kind of app,
//! order, short-circuits, traps in either layer, streaming through a chain,
//! the one-app `--middleware` flag, and configuration errors.

use crate::support::{Binary, TestServer, request_to, serve_toml, temp_dir};
use std::io::Read;
use wasm_gateway_test_artifacts as wasm;

/// A gateway file declaring every example middleware (`block` with
/// `blocklist`, `auth` with user alice) plus `extra`, serving `apps`.
fn gateway(name: &str, blocklist: &str, apps: &str) -> TestServer {
    let dir = temp_dir(name);
    let toml = format!(
        r#"
[middleware.block]
wasm = "{block}"
env = {{ BLOCKLIST = "{blocklist}" }}

[middleware.auth]
wasm = "{auth}"
env = {{ USERS = "alice:wonder, bob:builder" }}

[middleware.rid]
wasm = "{rid}"

[middleware.gzip]
wasm = "{gzip}"

[middleware.panic]
wasm = "{panic}"

{apps}
"#,
        block = wasm::IP_BLOCKLIST,
        auth = wasm::BASIC_AUTH,
        rid = wasm::REQUEST_ID,
        gzip = wasm::GZIP,
        panic = wasm::MW_PANIC,
    );
    serve_toml(&dir, &toml)
}

fn app(name: &str, wasm: &str, route: &str, middleware: &[&str]) -> String {
    format!(
        "[apps.{name}]\nwasm = \"{wasm}\"\nroutes = [\"{route}\"]\nmiddleware = {middleware:?}\n\n"
    )
}

fn get(server: &TestServer, target: &str, headers: &str) -> crate::support::Response {
    server.request(format!(
        "GET {target} HTTP/1.1\r\nHost: h\r\n{headers}Connection: close\r\n\r\n"
    ))
}

/// The kinds of app: a plain function, WSGI-style `start_response`, the
/// router, and one that reports its environ: (name, component, path below
/// its mount, text its body contains).
const APPS: &[(&str, &str, &str, &str)] = &[
    ("hello", wasm::HELLO, "", "Hello, world!"),
    ("dispatch", wasm::DISPATCH, "/dog", "This is dog!"),
    ("flask", wasm::FLASK_LIKE, "/user/ann", "ann"),
    ("environ", wasm::ENVIRON, "", "REQUEST_METHOD=GET"),
];

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

/// Every example middleware passes a request through to every kind of app
/// and changes only what it is meant to.
#[test]
fn each_middleware_works_in_front_of_each_kind_of_app() {
    let mut toml = String::new();
    for (name, wasm, _, _) in APPS {
        toml += &app(name, wasm, &format!("/plain/{name}"), &[]);
        for layer in ["block", "auth", "rid", "gzip"] {
            toml += &app(
                &format!("{name}-{layer}"),
                wasm,
                &format!("/{layer}/{name}"),
                &[layer],
            );
        }
    }
    let server = gateway("each", "10.0.0.0/8", &toml);
    let alice = "Authorization: Basic YWxpY2U6d29uZGVy\r\n";
    for (name, _, below, start) in APPS {
        let plain = get(&server, &format!("/plain/{name}{below}"), "");
        assert_eq!(plain.status, 200, "{name}");
        assert!(plain.text().contains(start), "{name}: {}", plain.text());
        let same_body = |r: &crate::support::Response, what: &str| {
            assert_eq!(r.status, plain.status, "{what} {name}");
            if *name != "environ" {
                assert_eq!(r.body, plain.body, "{what} {name}");
            }
        };
        let r = get(&server, &format!("/block/{name}{below}"), "");
        same_body(&r, "block");
        let r = get(&server, &format!("/auth/{name}{below}"), alice);
        same_body(&r, "auth");
        assert_eq!(
            get(&server, &format!("/auth/{name}{below}"), "").status,
            401,
            "{name}"
        );
        let r = get(&server, &format!("/rid/{name}{below}"), "");
        same_body(&r, "rid");
        assert_eq!(r.header("x-request-id").map(str::len), Some(32), "{name}");
        let r = get(&server, &format!("/gzip/{name}{below}"), "");
        same_body(&r, "gzip (not accepted)");
        assert!(r.header("content-encoding").is_none());
    }
}

#[test]
fn ip_blocklist_refuses_by_remote_addr_not_by_host() {
    let apps = app("hello", wasm::HELLO, "/", &["block"]);
    let blocked = gateway("block-on", "10.0.0.0/8, 127.0.0.0/8", &apps);
    let r = get(&blocked, "/", "");
    assert_eq!((r.status, r.text().as_str()), (403, "Forbidden"));
    // The Host header names the server, and a client writes it: no effect.
    let r = get(&blocked, "/", "X-Forwarded-For: 8.8.8.8\r\n");
    assert_eq!(r.status, 403);
    let v6 = gateway("block-v6", "::1, 2001:db8::/32, 127.0.0.1", &apps);
    assert_eq!(get(&v6, "/", "").status, 403);
    let open = gateway("block-off", "10.0.0.0/8, 2001:db8::/32", &apps);
    assert_eq!(get(&open, "/", "").status, 200);
    // A list with a typo fails closed.
    let broken = gateway("block-bad", "10.0.0.0/33", &apps);
    assert_eq!(get(&broken, "/", "").status, 500);
}

#[test]
fn basic_auth_passes_remote_user_and_never_the_password() {
    let apps = app("environ", wasm::ENVIRON, "/", &["auth"]);
    let server = gateway("auth", "", &apps);
    let r = get(&server, "/", "");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"wasm-gateway\", charset=\"UTF-8\"")
    );
    // bob:wonder is a wrong password.
    let r = get(&server, "/", "Authorization: Basic Ym9iOndvbmRlcg==\r\n");
    assert_eq!(r.status, 401);
    let r = get(&server, "/", "Authorization: Basic Ym9iOmJ1aWxkZXI=\r\n");
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(has_line(&text, "REMOTE_USER=bob"), "{text}");
    assert!(has_line(&text, "AUTH_TYPE=Basic"), "{text}");
    assert!(!text.contains("HTTP_AUTHORIZATION"), "{text}");
    assert!(
        !text.contains("USERS"),
        "the middleware's own environ stays its own: {text}"
    );
}

#[test]
fn request_id_keeps_a_valid_id_and_replaces_a_bad_one() {
    let apps = app("environ", wasm::ENVIRON, "/", &["rid"]);
    let server = gateway("rid", "", &apps);
    let r = get(&server, "/", "X-Request-Id: trace-42\r\n");
    assert_eq!(r.header("x-request-id"), Some("trace-42"));
    assert!(
        has_line(&r.text(), "HTTP_X_REQUEST_ID=trace-42"),
        "{}",
        r.text()
    );
    let r = get(&server, "/", "X-Request-Id: <script>\r\n");
    let id = r.header("x-request-id").unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert!(has_line(&r.text(), &format!("HTTP_X_REQUEST_ID={id}")));
    let other = get(&server, "/", "")
        .header("x-request-id")
        .unwrap()
        .to_owned();
    assert_ne!(id, other);
}

#[test]
fn gzip_compresses_text_for_clients_that_accept_it() {
    let apps = app("environ", wasm::ENVIRON, "/", &["gzip"]);
    let server = gateway("gzip", "", &apps);
    let target = format!("/?pad={}", "x".repeat(400));
    let plain = get(&server, &target, "");
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    assert!(plain.header("content-encoding").is_none());
    let r = get(&server, &target, "Accept-Encoding: br, gzip\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    // The app's Content-Length is gone (it counted the plain text). The
    // compressed body streams chunked, or, when the whole of it is ready
    // by the time the head goes out (a loaded machine), has its own length.
    match r.header("content-length") {
        Some(length) => assert_eq!(length.parse::<usize>().unwrap(), r.body.len()),
        None => assert_eq!(r.header("transfer-encoding"), Some("chunked")),
    }
    let mut text = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains(&"x".repeat(400)), "{text}");
    assert!(r.body.len() < text.len());
    let refused = get(&server, &target, "Accept-Encoding: gzip;q=0\r\n");
    assert!(refused.header("content-encoding").is_none());
}

/// Order matters: the outer layer sees what the inner one did. With the
/// request-id layer outside auth, even a 401 carries an id; inside, the 401
/// comes back before it runs.
#[test]
fn a_chain_of_three_runs_outermost_first() {
    let apps = [
        app(
            "outside",
            wasm::ENVIRON,
            "/outside",
            &["rid", "auth", "block"],
        ),
        app(
            "inside",
            wasm::ENVIRON,
            "/inside",
            &["auth", "rid", "block"],
        ),
    ]
    .concat();
    let server = gateway("order", "10.0.0.0/8", &apps);
    let r = get(&server, "/outside", "");
    assert_eq!(r.status, 401);
    assert!(r.header("x-request-id").is_some());
    let r = get(&server, "/inside", "");
    assert_eq!(r.status, 401);
    assert!(r.header("x-request-id").is_none());
    // Through all three, the app sees every layer's work.
    let r = get(
        &server,
        "/inside",
        "Authorization: Basic YWxpY2U6d29uZGVy\r\n",
    );
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(has_line(&text, "REMOTE_USER=alice"), "{text}");
    let id = r.header("x-request-id").unwrap();
    assert!(
        has_line(&text, &format!("HTTP_X_REQUEST_ID={id}")),
        "{text}"
    );
}

/// A layer that answers on its own never runs the next one: the app behind
/// the blocklist here traps on every request, yet the client gets 403.
#[test]
fn a_layer_may_answer_without_calling_next() {
    let apps = app("trap", wasm::TRAP, "/", &["block"]);
    let server = gateway("short", "127.0.0.1", &apps);
    assert_eq!(get(&server, "/", "").status, 403);
    let apps = app("trap", wasm::TRAP, "/", &["rid"]);
    let server = gateway("short-control", "", &apps);
    assert_eq!(
        get(&server, "/", "").status,
        500,
        "control: the app does trap"
    );
}

/// A middleware that traps gives 500, before or after calling the next
/// layer; the app behind it and other requests are untouched. A trapping
/// app behind a middleware gives 500 too, and the middleware keeps serving.
#[test]
fn traps_in_either_layer_are_contained() {
    let apps = [
        app("hello", wasm::HELLO, "/", &["panic"]),
        app("trap", wasm::TRAP, "/trap", &["rid"]),
    ]
    .concat();
    let server = gateway("traps", "", &apps);
    let r = get(&server, "/?x", "");
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, world!"));
    assert_eq!(r.header("x-passed"), Some("mw_panic"));
    assert_eq!(get(&server, "/?boom", "").status, 500);
    assert_eq!(get(&server, "/?late-boom", "").status, 500);
    assert_eq!(get(&server, "/trap", "").status, 500);
    assert_eq!(get(&server, "/", "").status, 200);
    assert!(get(&server, "/trap", "").header("x-request-id").is_none());
}

/// 64 MiB stream through three pass-through layers: every byte arrives,
/// and the server's memory stays far below the body size (no layer
/// buffers it).
#[test]
fn a_body_streams_through_a_chain_with_bounded_memory() {
    let dir = temp_dir("stream-chain");
    let toml = format!(
        "[middleware.rid]\nwasm = \"{}\"\n[middleware.block]\nwasm = \"{}\"\nenv = {{ BLOCKLIST = \"10.0.0.0/8\" }}\n[middleware.gzip]\nwasm = \"{}\"\n\n{}",
        wasm::REQUEST_ID,
        wasm::IP_BLOCKLIST,
        wasm::GZIP,
        app("stream", wasm::STREAM, "/", &["rid", "block", "gzip"])
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, toml).unwrap();
    let bin = Binary::serve(path.to_str().unwrap(), &[]);
    let (r, total, growth_mib) = bin.stream_bytes(64 << 20);
    assert_eq!(r.status, 200);
    assert!(r.header("x-request-id").is_some());
    assert_eq!(total, 64 << 20);
    assert!(
        growth_mib < 32,
        "memory grew by {growth_mib} MiB streaming 64 MiB through 3 layers"
    );
}

#[test]
fn the_one_app_flag_stacks_middleware_outermost_first() {
    let bin = Binary::serve(
        wasm::HELLO,
        &[
            "--middleware",
            wasm::REQUEST_ID,
            "--middleware",
            wasm::MW_PANIC,
        ],
    );
    let r = request_to(
        bin.addr,
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, world!"));
    assert!(r.header("x-request-id").is_some());
    assert_eq!(r.header("x-passed"), Some("mw_panic"));
    let r = request_to(
        bin.addr,
        b"GET /?boom HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    // The inner layer failed before its headers; the outer one returns
    // that error (`?`), so the client gets the host's plain 500.
    assert_eq!(r.status, 500);
}

/// A middleware cannot be loaded as an app (it would have no next layer
/// and fail every request); the error says where it belongs.
#[test]
fn a_middleware_alone_has_no_next_layer() {
    let err = match crate::support::runtime().link(
        &crate::support::compiled(wasm::REQUEST_ID),
        &wasm_gateway::AppConfig::new("rid"),
    ) {
        Ok(_) => panic!("a middleware loaded as an application"),
        Err(err) => err.to_string(),
    };
    assert!(
        err.contains("is a middleware, not an application") && err.contains("[middleware.NAME]"),
        "{err}"
    );
}

#[test]
fn chain_configuration_errors_name_the_fix() {
    let dir = temp_dir("mw-config");
    let path = dir.join("gateway.toml");
    let check = |toml: &str| {
        std::fs::write(&path, toml).unwrap();
        wasm_gateway::load_config(&path)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let err = check("[apps.a]\nwasm = \"a.wasm\"\nroutes = [\"/\"]\nmiddleware = [\"nope\"]\n");
    assert!(
        err.contains("[apps.a]") && err.contains("[middleware.nope]"),
        "{err}"
    );
    let err = check(
        "[middleware.m]\nwasm = \"m.wasm\"\n[apps.s]\nstatic = \".\"\nroutes = [\"/\"]\nmiddleware = [\"m\"]\n",
    );
    assert!(err.contains("static root cannot have any"), "{err}");
    let err = check(
        "[middleware.m]\nwasm = \"m.wasm\"\nroutes = [\"/\"]\n[apps.a]\nwasm = \"a.wasm\"\nroutes = [\"/\"]\n",
    );
    assert!(err.contains("routes"), "{err}");
    let err =
        check("[middleware.a]\nwasm = \"m.wasm\"\n[apps.a]\nwasm = \"a.wasm\"\nroutes = [\"/\"]\n");
    assert!(err.contains("also called"), "{err}");
}

/// `wac plug MIDDLEWARE --plug APP` (here the `wac-graph` function the
/// command runs) fuses a middleware and an application into one component
/// that the host serves like any application: the app's `next` export
/// satisfies the middleware's `next` import.
fn plug(socket: &str, plug: &str, out: &std::path::Path) {
    use wac_graph::{CompositionGraph, EncodeOptions, types::Package};
    let mut graph = CompositionGraph::new();
    let socket = Package::from_file("socket", None, socket, graph.types_mut()).unwrap();
    let socket = graph.register_package(socket).unwrap();
    let plug = Package::from_file("plug", None, plug, graph.types_mut()).unwrap();
    let plug = graph.register_package(plug).unwrap();
    wac_graph::plug(&mut graph, vec![plug], socket).unwrap();
    std::fs::write(out, graph.encode(EncodeOptions::default()).unwrap()).unwrap();
}

#[test]
fn a_middleware_and_an_app_fuse_offline() {
    let dir = temp_dir("fused");
    let fused = dir.join("fused.wasm");
    plug(wasm::REQUEST_ID, wasm::HELLO, &fused);
    let server = TestServer::start(fused.to_str().unwrap());
    let r = get(&server, "/", "X-Request-Id: fused-1\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, world!"));
    assert_eq!(r.header("x-request-id"), Some("fused-1"));

    // A fused blocklist reads its list from the fused app's environ.
    let fused = dir.join("blocked.wasm");
    plug(wasm::IP_BLOCKLIST, wasm::DISPATCH, &fused);
    let blocked = TestServer::with_config(fused.to_str().unwrap(), |app| {
        app.env = vec![("BLOCKLIST".into(), "127.0.0.0/8".into())];
    });
    assert_eq!(get(&blocked, "/dog", "").status, 403);
    let open = TestServer::with_config(fused.to_str().unwrap(), |app| {
        app.env = vec![("BLOCKLIST".into(), "10.0.0.0/8".into())];
    });
    let r = get(&open, "/dog", "");
    assert_eq!((r.status, r.text().as_str()), (200, "This is dog!"));
}
