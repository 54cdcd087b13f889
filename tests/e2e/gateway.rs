//! Many applications behind one gateway file: routing by longest prefix and
//! virtual host, SCRIPT_NAME/PATH_INFO for mounted apps, static document
//! roots, and configuration errors.

use crate::support::{Binary, TestServer, run, runtime, serve_toml as serve, temp_dir};
use std::io::{Read, Write};
use std::time::Duration;
use wasm_gateway::{Gateway, ServerConfig};
use wasm_gateway_test_artifacts::{DISPATCH, ENVIRON, HELLO};

fn get(server: &TestServer, host: &str, target: &str) -> (u16, String) {
    let r = server.request(format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    ));
    (r.status, r.text())
}

/// The environ example's `KEY=value` line for `key`.
fn var<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
}

fn gateway_toml(static_dir: &str) -> String {
    format!(
        r#"
[apps.hello]
wasm = "{HELLO}"
routes = ["/api", "exact.example.com/"]

[apps.env]
wasm = "{ENVIRON}"
routes = ["/api/v2", "/env", "*.example.org/", "*.deep.example.org/env"]
env = {{ TENANT = "acme" }}

[apps.zoo]
wasm = "{DISPATCH}"
routes = ["/zoo"]

[apps.site]
static = "{static_dir}"
routes = ["/"]
"#
    )
}

#[test]
fn routes_by_longest_prefix_on_whole_segments() {
    let dir = temp_dir("prefix");
    std::fs::create_dir_all(dir.join("public")).unwrap();
    std::fs::write(dir.join("public/index.html"), "home").unwrap();
    let server = serve(&dir, &gateway_toml("public"));

    assert_eq!(get(&server, "h", "/api"), (200, "Hello, world!".into()));
    assert_eq!(get(&server, "h", "/api/x"), (200, "Hello, world!".into()));
    let (status, body) = get(&server, "h", "/api/v2/users");
    assert_eq!(status, 200);
    assert_eq!(var(&body, "SCRIPT_NAME"), Some("/api/v2"));
    // `/apix` is not below `/api`: it falls to the root, a static root with
    // no such file.
    assert_eq!(get(&server, "h", "/apix").0, 404);
    assert_eq!(get(&server, "h", "/"), (200, "home".into()));
    assert_eq!(get(&server, "h", "/zoo/dog").0, 200);
}

#[test]
fn a_mounted_app_sees_its_prefix_as_script_name() {
    let dir = temp_dir("mount");
    std::fs::create_dir_all(dir.join("public")).unwrap();
    let server = serve(&dir, &gateway_toml("public"));

    let (status, body) = get(&server, "h", "/env/x%2Fy?q=1");
    assert_eq!(status, 200);
    assert_eq!(var(&body, "SCRIPT_NAME"), Some("/env"));
    assert_eq!(var(&body, "PATH_INFO"), Some("/x/y"));
    assert_eq!(var(&body, "QUERY_STRING"), Some("q=1"));
    assert_eq!(var(&body, "TENANT"), Some("acme"));

    let (_, body) = get(&server, "h", "/env");
    assert_eq!(var(&body, "SCRIPT_NAME"), Some("/env"));
    assert_eq!(var(&body, "PATH_INFO"), Some(""));
}

#[test]
fn virtual_hosts_and_wildcards() {
    let dir = temp_dir("vhost");
    std::fs::create_dir_all(dir.join("public")).unwrap();
    let server = serve(&dir, &gateway_toml("public"));

    // An exact host takes every path on it.
    assert_eq!(
        get(&server, "exact.example.com", "/zoo/dog").1,
        "Hello, world!"
    );
    // Case and port do not matter.
    assert_eq!(
        get(&server, "EXACT.Example.COM:8080", "/x").1,
        "Hello, world!"
    );
    // A wildcard matches subdomains at any depth...
    let (_, body) = get(&server, "a.example.org", "/anything");
    assert_eq!(var(&body, "SCRIPT_NAME"), Some(""));
    let (_, body) = get(&server, "a.b.example.org", "/anything");
    assert_eq!(var(&body, "PATH_INFO"), Some("/anything"));
    // ...but not the bare domain, which gets the default host's routes.
    assert_eq!(get(&server, "example.org", "/api").1, "Hello, world!");
    // The longer wildcard wins where it has a route; elsewhere the request
    // falls back to the shorter wildcard.
    let (_, body) = get(&server, "x.deep.example.org", "/env/1");
    assert_eq!(var(&body, "SCRIPT_NAME"), Some("/env"));
    let (_, body) = get(&server, "x.deep.example.org", "/other");
    assert_eq!(var(&body, "SCRIPT_NAME"), Some(""));
    // The absolute-form target's authority is the host.
    let r = server.request(
        "GET http://exact.example.com/zoo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.text(), "Hello, world!");
}

#[test]
fn unmatched_requests_get_404() {
    let dir = temp_dir("unmatched");
    let path = dir.join("gateway.toml");
    std::fs::write(
        &path,
        format!("[apps.hello]\nwasm = \"{HELLO}\"\nroutes = [\"/only\"]\n"),
    )
    .unwrap();
    let config = wasm_gateway::load_config(&path).unwrap();
    let gateway = Gateway::load(&config, runtime()).unwrap();
    let server = TestServer::serve_gateway(gateway, ServerConfig::default());
    assert_eq!(get(&server, "h", "/").0, 404);
    assert_eq!(get(&server, "h", "/onlyx").0, 404);
    assert_eq!(get(&server, "h", "/only/x").0, 200);
}

#[test]
fn static_files_over_the_socket() {
    let dir = temp_dir("static");
    std::fs::create_dir_all(dir.join("public/docs")).unwrap();
    std::fs::write(dir.join("public/index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(dir.join("public/docs/a.txt"), "0123456789").unwrap();
    std::fs::write(dir.join("secret.txt"), "outside").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("public/escape.txt")).unwrap();
    let server = serve(&dir, &gateway_toml("public"));

    let r = server.get("/docs/a.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789"));
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let etag = r.header("etag").expect("an ETag").to_owned();
    assert!(r.header("last-modified").is_some());

    let r = server.request(format!(
        "GET /docs/a.txt HTTP/1.1\r\nHost: h\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());

    let last_modified = server
        .get("/docs/a.txt")
        .header("last-modified")
        .unwrap()
        .to_owned();
    let r = server.request(format!(
        "GET /docs/a.txt HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: {last_modified}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(r.status, 304);
    // A directory without its slash is redirected to it; with it, its index.
    std::fs::write(dir.join("public/docs/index.html"), "docs index").unwrap();
    let r = server.get("/docs?x=1");
    assert_eq!((r.status, r.header("location")), (301, Some("/docs/?x=1")));
    assert_eq!(server.get("/docs/").text(), "docs index");

    let r = server.request(
        "GET /docs/a.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=2-4\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((r.status, r.text().as_str()), (206, "234"));
    assert_eq!(r.header("content-range"), Some("bytes 2-4/10"));
    let r = server.request(
        "GET /docs/a.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=20-\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 416);

    // HEAD: the headers of a GET, then nothing.
    let mut conn = server.connect();
    conn.write_all(b"HEAD /docs/a.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    conn.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.contains("Content-Length: 10\r\n"), "{raw}");
    assert!(
        raw.contains("\r\nETag: \""),
        "the canonical spelling: {raw}"
    );
    assert!(raw.ends_with("\r\n\r\n"), "{raw}");

    assert_eq!(server.get("/").text(), "<h1>home</h1>");
    for attempt in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/docs/..%2f..%2fsecret.txt",
        "/docs/%2E%2E/%2e%2e/secret.txt",
        "/docs%5c..%5c..%5csecret.txt",
        "/docs/a.txt%00.html",
        "/escape.txt",
    ] {
        let r = server.get(attempt);
        assert_eq!(r.status, 404, "{attempt}: {}", r.text());
        assert!(!r.text().contains("outside"), "{attempt}");
    }
}

/// The server names itself on every response it sends (applications may
/// set their own): static files, the pages it writes, and refusals alike.
#[test]
fn every_response_carries_the_server_header() {
    let dir = temp_dir("server-header");
    std::fs::create_dir_all(dir.join("public")).unwrap();
    std::fs::write(dir.join("public/a.txt"), "a").unwrap();
    let server = serve(&dir, &gateway_toml("public"));
    let mut only_api = gateway_toml("public");
    only_api.truncate(only_api.find("[apps.site]").unwrap());
    let no_root = serve(&dir, &only_api);
    for (server, request, status) in [
        (&server, "GET /a.txt HTTP/1.1\r\nHost: h\r\n", 200),
        (&server, "GET /missing.txt HTTP/1.1\r\nHost: h\r\n", 404),
        (
            &server,
            "POST /a.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n",
            405,
        ),
        (&server, "GET /api HTTP/1.1\r\nHost: h\r\n", 200),
        (&no_root, "GET /nowhere HTTP/1.1\r\nHost: h\r\n", 404),
        (
            &server,
            "GET /a.txt HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n",
            400,
        ),
    ] {
        let r = server.request(format!("{request}Connection: close\r\n\r\n"));
        assert_eq!(r.status, status, "{request}");
        let names: Vec<_> = r.headers.iter().filter(|(n, _)| n == "server").collect();
        assert_eq!(names.len(), 1, "{request}: {:?}", r.headers);
        assert!(
            r.header("server").unwrap().starts_with("wasm-gateway/"),
            "{request}"
        );
    }
}

#[test]
fn an_encoded_path_cannot_slip_past_a_mount_into_a_static_root() {
    let dir = temp_dir("bypass");
    std::fs::create_dir_all(dir.join("public/private")).unwrap();
    std::fs::write(dir.join("public/private/secret.txt"), "secret").unwrap();
    std::fs::write(dir.join("public/a.txt"), "plain").unwrap();
    let server = serve(
        &dir,
        &format!(
            "[apps.gate]\nwasm = \"{HELLO}\"\nroutes = [\"/private\"]\n[apps.site]\nstatic = \"public\"\nroutes = [\"/\"]\n"
        ),
    );
    assert_eq!(server.get("/private/secret.txt").text(), "Hello, world!");
    let r = server.get("/%70rivate/secret.txt");
    assert_eq!(r.status, 404);
    assert!(!r.text().contains("secret"));
    // Encoding that stays within the document root is fine.
    assert_eq!(server.get("/%61.txt").text(), "plain");
}

#[test]
fn config_errors_stop_start_up_with_one_clear_line() {
    let dir = temp_dir("errors");
    let file = dir.join("gateway.toml");
    let file_str = file.to_str().unwrap();

    std::fs::write(
        &file,
        format!("[apps.hello]\nwasm = \"{HELLO}\"\nroutes = [\"/\"]\nrouts = [\"/x\"]\n"),
    )
    .unwrap();
    let (code, stdout, stderr) = run(&["serve", file_str, "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty(), "the port was never opened: {stdout}");
    assert!(stderr.contains(&format!("{file_str}:4:1")), "{stderr}");
    assert!(stderr.contains("routs"), "{stderr}");

    std::fs::write(
        &file,
        format!(
            "[apps.hello]\nwasm = \"{HELLO}\"\nroutes = [\"/\"]\n[apps.gone]\nwasm = \"missing.wasm\"\nroutes = [\"/gone\"]\n"
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = run(&["serve", file_str, "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("[apps.gone]"), "{stderr}");
    assert!(stderr.contains("missing.wasm"), "{stderr}");

    std::fs::write(
        &file,
        format!(
            "[apps.a]\nwasm = \"{HELLO}\"\nroutes = [\"/x\"]\n[apps.b]\nwasm = \"{HELLO}\"\nroutes = [\"/x/\"]\n"
        ),
    )
    .unwrap();
    let (code, _, stderr) = run(&["check", file_str]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("/x"), "{stderr}");
    assert!(stderr.contains(file_str), "{stderr}");

    // One-app flags have no meaning for a gateway file: refused, not ignored.
    std::fs::write(
        &file,
        format!("[apps.hello]\nwasm = \"{HELLO}\"\nroutes = [\"/\"]\n"),
    )
    .unwrap();
    let (code, stdout, stderr) = run(&["serve", file_str, "--timeout", "5s"]);
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("[apps.NAME.limits]"), "{stderr}");
    assert!(stderr.contains('a') && stderr.contains('b'), "{stderr}");
}

#[test]
fn check_prints_the_route_table() {
    let dir = temp_dir("check");
    std::fs::create_dir_all(dir.join("public")).unwrap();
    let file = dir.join("gateway.toml");
    std::fs::write(&file, gateway_toml("public")).unwrap();
    let (code, stdout, stderr) = run(&["check", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("/api/v2 -> env"), "{stdout}");
    assert!(stdout.contains("exact.example.com/ -> hello"), "{stdout}");
    assert!(stdout.contains("*.example.org/ -> env"), "{stdout}");

    let (code, stdout, _) = run(&["check", HELLO]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("/ -> hello"), "{stdout}");
}

#[test]
fn the_example_gateway_file_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/gateway.toml");
    let config =
        wasm_gateway::load_config(std::path::Path::new(example)).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = config.apps.iter().map(|a| &*a.config.name).collect();
    for example in [
        "hello",
        "environ",
        "flask-like",
        "dispatch",
        "site",
        "private",
        "visits",
        "notes",
    ] {
        assert!(names.contains(&example), "{names:?}");
    }
    let private = config
        .apps
        .iter()
        .find(|a| &*a.config.name == "private")
        .unwrap();
    assert_eq!(private.middleware, ["request-id", "gzip", "auth"]);
    assert_eq!(config.middleware.len(), 3);
}

#[test]
fn serve_accepts_a_gateway_file() {
    let dir = temp_dir("binary");
    std::fs::create_dir_all(dir.join("public")).unwrap();
    let file = dir.join("gateway.toml");
    std::fs::write(&file, gateway_toml("public")).unwrap();
    let binary = Binary::serve(file.to_str().unwrap(), &[]);
    let r = crate::support::request_to(
        binary.addr,
        b"GET /api HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.text(), "Hello, world!");
}

/// One tenant's flood cannot starve another: with only 4 instance slots in
/// the whole process, an app capped at 2 concurrent requests leaves room for
/// the others however many requests it gets.
#[test]
fn a_flooded_app_cannot_starve_another() {
    use wasm_gateway::{Runtime, RuntimeConfig};
    use wasm_gateway_test_artifacts::SLEEP;
    let dir = temp_dir("fair");
    let path = dir.join("gateway.toml");
    std::fs::write(
        &path,
        format!(
            "[apps.busy]\nwasm = \"{SLEEP}\"\nroutes = [\"/busy\"]\n[apps.busy.limits]\nconcurrency = 2\nqueue = 100\nqueue-timeout = \"30s\"\n\n[apps.calm]\nwasm = \"{HELLO}\"\nroutes = [\"/calm\"]\n"
        ),
    )
    .unwrap();
    let runtime = Runtime::new(&RuntimeConfig {
        max_instances: 4,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let config = wasm_gateway::load_config(&path).unwrap();
    let gateway = Gateway::load(&config, &runtime).unwrap();
    let server = TestServer::serve_gateway(gateway, ServerConfig::default());

    // Twenty slow requests to the busy app: two run, the rest queue.
    let flood: Vec<_> = (0..20)
        .map(|_| {
            let mut conn = server.connect();
            conn.write_all(b"GET /busy?ms=1000 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                .unwrap();
            conn
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // The calm app still gets an instance.
    let r = server.get("/calm");
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, world!"));
    // And the flood is served in turn, not refused.
    for conn in flood.into_iter().take(3) {
        let r = crate::support::read_response(&mut std::io::BufReader::new(conn)).unwrap();
        assert_eq!(r.status, 200);
    }
}
