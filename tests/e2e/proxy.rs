//! Standard `wasi:http/proxy` components (issue 16), and outbound HTTP from
//! both worlds: the behaviours `wasmtime serve`'s own test programs cover,
//! through the `proxy_*` fixtures, and calls to an upstream this file starts
//! on 127.0.0.1. The fixtures' tests (`proxy_hello`, `proxy_behaviours`,
//! `wsgi_fetch`) are re-exported by `fixtures.rs`, where `main.rs` looks for
//! them.

use crate::support::{
    Binary, TestServer, get_from, read_response, request_to, serve_toml, temp_dir,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;
use wasm_gateway_test_artifacts as wasm;

#[test]
pub fn proxy_hello() {
    let server = TestServer::start(wasm::PROXY_HELLO);
    for _ in 0..3 {
        let r = server.get("/");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "Hello from a wasi:http component\n");
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.header("content-length"), Some("33"));
    }
}

/// The simple behaviours; the others have tests of their own below.
#[test]
pub fn proxy_behaviours() {
    let server = TestServer::start(wasm::PROXY_BEHAVIOURS);
    let r = server.get("/status?code=418");
    assert_eq!((r.status, r.text().as_str()), (418, "status 418\n"));
    let r = server.get("/status?code=204");
    assert_eq!((r.status, r.body.len()), (204, 0));
    let r = server.get("/sleep?ms=10");
    assert_eq!((r.status, r.text().as_str()), (200, "slept 10 ms\n"));
    let r = server.get("/nowhere");
    assert_eq!(r.status, 404);
    let r = server.get("/headers-big?n=4");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-big-3").map(str::len), Some(1024));
}

#[test]
fn proxy_echo_streams_a_100_mib_body_back() {
    let server = TestServer::start(wasm::PROXY_BEHAVIOURS);
    let total: u64 = 100 << 20;
    let conn = server.connect();
    let mut writer = conn.try_clone().unwrap();
    // The upload runs beside the download: the guest echoes as it reads,
    // so neither side may wait for the other to finish.
    let upload = std::thread::spawn(move || {
        writer
            .write_all(
                format!(
                    "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap();
        let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        let mut left = total;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            writer.write_all(&chunk[..n]).unwrap();
            left -= n as u64;
        }
    });
    let mut reader = BufReader::new(conn);
    let mut received = 0u64;
    let mut mismatch = None;
    let r = crate::support::read_response_with(&mut reader, |_, data| {
        for (i, &b) in data.iter().enumerate() {
            let at = received + i as u64;
            if mismatch.is_none() && b != ((at % (64 * 1024)) % 251) as u8 {
                mismatch = Some(at);
            }
        }
        received += data.len() as u64;
    })
    .expect("a complete echo");
    upload.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(received, total);
    assert_eq!(mismatch, None, "the echo differs from the upload");
}

/// Past the app's deadline: 504, as for a WSGI app.
#[test]
fn proxy_sleep_past_the_deadline_is_a_504() {
    let server = TestServer::with_config(wasm::PROXY_BEHAVIOURS, |c| {
        c.timeout = Duration::from_millis(300);
    });
    let r = server.get("/sleep?ms=5000");
    assert_eq!(r.status, 504);
}

#[test]
fn proxy_trap_before_the_response_is_a_500() {
    let server = TestServer::start(wasm::PROXY_BEHAVIOURS);
    let r = server.get("/trap-before");
    assert_eq!(r.status, 500);
    assert!(!r.text().contains("proxy_behaviours"), "no detail leaks");
    // And the app keeps serving.
    assert_eq!(server.get("/status?code=200").status, 200);
}

#[test]
fn proxy_no_response_is_a_500() {
    let server = TestServer::start(wasm::PROXY_BEHAVIOURS);
    assert_eq!(server.get("/no-response").status, 500);
}

/// stdout and stderr reach the log as for WSGI apps, when granted.
#[test]
fn proxy_print_goes_to_the_log_when_granted() {
    let bin = Binary::serve(wasm::PROXY_BEHAVIOURS, &["--stdout", "--stderr"]);
    let r = get_from(bin.addr, "/print");
    assert_eq!((r.status, r.text().as_str()), (200, "printed\n"));
    let (access, log) = bin.stop_with_output();
    // One access line, as for any app.
    assert!(access.contains("\"GET /print HTTP/1.1\" 200 8"), "{access}");
    assert!(log.contains("proxy_behaviours: a line on stdout"), "{log}");
    assert!(log.contains("proxy_behaviours: a line on stderr"), "{log}");
}

/// Scheme, authority (the Host header) and path as the guest sees them;
/// the mount prefix in `wasm-gateway-script-name`, and a client's own
/// `wasm-gateway-*` headers never reach the guest.
#[test]
fn proxy_authority_scheme_and_script_name() {
    let dir = temp_dir("proxy-authority");
    let server = serve_toml(
        &dir,
        &format!(
            "[apps.behaviours]\nwasm = {:?}\nroutes = [\"/mnt\"]\n",
            wasm::PROXY_BEHAVIOURS
        ),
    );
    let r = server.request(
        "GET /mnt/authority?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\
         wasm-gateway-script-name: /forged\r\nWasm-Gateway-Other: forged\r\n\
         wasm_gateway_client_addr: 10.0.0.1:1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let text = r.text();
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("scheme=http authority=example.com:8080 path=/"),
        "{text}"
    );
    // The target as the client sent it, prefix included.
    assert_eq!(
        first, "scheme=http authority=example.com:8080 path=/mnt/authority?x=1",
        "{text}"
    );
    let mut gateway_headers: Vec<&str> = lines.collect();
    gateway_headers.sort();
    assert_eq!(
        gateway_headers.len(),
        3,
        "only the host's own headers: {text}"
    );
    assert!(
        gateway_headers[0].starts_with("wasm-gateway-client-addr: 127.0.0.1:"),
        "{text}"
    );
    assert_eq!(
        gateway_headers[1..],
        [
            "wasm-gateway-path-info: /authority",
            "wasm-gateway-script-name: /mnt"
        ],
        "the client's forged headers are gone: {text}"
    );
}

/// A body dropped without `finish`, or cut by a trap after the head: the
/// client sees an aborted response (no terminating chunk), never a clean
/// end.
#[test]
fn proxy_unfinished_bodies_reach_the_client_aborted() {
    let server = TestServer::start(wasm::PROXY_BEHAVIOURS);
    for path in ["/drop-body", "/trap-mid-body"] {
        let mut conn = server.connect();
        conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
            .unwrap();
        let mut reader = BufReader::new(conn);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{path}: {status}");
        let mut rest = Vec::new();
        // The server closes the connection: read to the end.
        let _ = reader.read_to_end(&mut rest);
        let rest = String::from_utf8_lossy(&rest);
        assert!(
            rest.to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "{path}: {rest}"
        );
        assert!(!rest.ends_with("0\r\n\r\n"), "{path} ended cleanly: {rest}");
        // Nor is a cut response framed with a length it then fails to meet
        // silently: the framing is chunked, and the chunk stream is cut.
        let whole = format!("{status}{rest}");
        assert!(
            read_response(&mut whole.as_bytes()).is_err(),
            "{path}: {rest}"
        );
    }
}

/// The response-head cap applies to proxy components too.
#[test]
fn proxy_headers_over_the_head_cap_are_refused() {
    let server = TestServer::start(wasm::PROXY_BEHAVIOURS);
    let r = server.get("/headers-big?n=200");
    assert_eq!(r.status, 500);
    assert!(r.header("x-big-0").is_none());
}

/// An HTTP/1.1 server on 127.0.0.1 that answers every request with
/// `status` and `body` (plus what it was asked, in `x-seen`), until the
/// test ends.
fn upstream(status: u16, body: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            std::thread::spawn(move || answer(conn, status, body));
        }
    });
    addr
}

fn answer(conn: TcpStream, status: u16, body: &str) {
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut request_body = vec![0; length];
    let _ = reader.read_exact(&mut request_body);
    let seen = format!(
        "{} {}",
        request_line.trim_end(),
        String::from_utf8_lossy(&request_body)
    );
    let response = format!(
        "HTTP/1.1 {status} Whatever\r\nContent-Type: text/x-upstream\r\nContent-Length: {}\r\n\
         x-seen: {}\r\nConnection: close\r\n\r\n{body}",
        body.len(),
        seen.trim_end()
    );
    let mut conn = conn;
    let _ = conn.write_all(response.as_bytes());
}

/// A gateway file serving `wasm` as app `app` at `/`, with `grant` as its
/// `outbound-http` list.
fn serve_with_grant(name: &str, wasm: &str, grant: &[String]) -> TestServer {
    let dir = temp_dir(name);
    let list: Vec<String> = grant.iter().map(|g| format!("{g:?}")).collect();
    serve_toml(
        &dir,
        &format!(
            "[apps.app]\nwasm = {wasm:?}\nroutes = [\"/\"]\n\n[apps.app.grants]\noutbound-http = [{}]\n",
            list.join(", ")
        ),
    )
}

/// A proxy component forwards to an upstream its grant names; anywhere
/// else (here: the same upstream, not granted) the call is denied and the
/// guest sees `HttpRequestDenied`.
#[test]
fn proxy_forward_under_the_outbound_grant() {
    let up = upstream(201, "from upstream");
    let granted = serve_with_grant(
        "proxy-forward",
        wasm::PROXY_BEHAVIOURS,
        &[format!("http://{up}")],
    );
    let r = granted.get(&format!("/forward?url=http://{up}/path%3Fq%3D1"));
    assert_eq!((r.status, r.text().as_str()), (201, "from upstream"));
    // A guest that waited first goes on on the slow lane; its calls work
    // there too.
    let r = granted.get(&format!("/forward?url=http://{up}/&after_ms=20"));
    assert_eq!((r.status, r.text().as_str()), (201, "from upstream"));
    assert_eq!(r.header("content-type"), Some("text/x-upstream"));
    let r = granted.request(format!(
        "POST /forward?url=http://{up}/post HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n\
         Content-Length: 5\r\nConnection: close\r\n\r\nhello"
    ));
    assert_eq!((r.status, r.text().as_str()), (201, "from upstream"));

    let denied = Binary::serve(wasm::PROXY_BEHAVIOURS, &[]);
    let r = get_from(denied.addr, &format!("/forward?url=http://{up}/"));
    assert_eq!(r.status, 502);
    assert!(r.text().contains("HttpRequestDenied"), "{}", r.text());
    // The log names the grant that would allow the call.
    let log = denied.stop();
    assert!(
        log.contains(&format!("--outbound-http http://{up}")) && log.contains("outbound-http"),
        "{log}"
    );

    // A name that resolves to a private address is refused even when the
    // grant names it: only an IP or CIDR rule opens loopback.
    let port = up.port();
    let by_name = serve_with_grant(
        "proxy-forward-localhost",
        wasm::PROXY_BEHAVIOURS,
        &[format!("http://localhost:{port}")],
    );
    let r = by_name.get(&format!("/forward?url=http://localhost:{port}/"));
    assert_eq!(r.status, 502);
    assert!(r.text().contains("DestinationIpProhibited"), "{}", r.text());
}

/// A WSGI-world app calling out through the SDK's client: the upstream's
/// answer with the grant, a "denied" error naming the grant without it (the
/// component, which imports `wasi:http/outgoing-handler`, loads either way).
#[test]
pub fn wsgi_fetch() {
    let up = upstream(200, "upstream says hi");
    let granted = serve_with_grant("wsgi-fetch", wasm::WSGI_FETCH, &[format!("http://{up}")]);
    let r = granted.get(&format!("/?url=http://{up}/hello"));
    assert_eq!((r.status, r.text().as_str()), (200, "upstream says hi"));
    assert_eq!(r.header("content-type"), Some("text/x-upstream"));

    let denied = TestServer::start(wasm::WSGI_FETCH);
    let r = denied.get(&format!("/?url=http://{up}/hello"));
    assert_eq!(r.status, 502);
    let text = r.text();
    assert!(text.contains("denied"), "{text}");
    assert!(text.contains("outbound-http"), "{text}");
}

/// The raw request `raw` with its target replaced by `path`.
fn with_path(raw: &[u8], path: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let (method, rest) = text.split_once(' ').unwrap();
    let (_, rest) = rest.split_once(' ').unwrap();
    format!("{method} {path} {rest}").into_bytes()
}

/// The per-app limits hold for a wasi:http component as for a WSGI one:
/// fuel (500), memory (500), the body cap by Content-Length and as a
/// chunked body streams (413, before or instead of the guest's answer), the
/// concurrency cap and its queue (503 past them), and the server keeps
/// serving.
#[test]
fn proxy_components_get_the_same_limits() {
    let bin = Binary::serve(
        wasm::PROXY_BEHAVIOURS,
        &[
            "--fuel",
            "50000000",
            "--memory",
            "16MiB",
            "--max-body",
            "1KiB",
            "--concurrency",
            "1",
            "--queue",
            "1",
            "--timeout",
            "10s",
        ],
    );
    assert_eq!(get_from(bin.addr, "/spin").status, 500, "out of fuel");
    assert_eq!(
        get_from(bin.addr, "/grow?mb=64").status,
        500,
        "over its memory"
    );
    assert_eq!(get_from(bin.addr, "/grow?mb=1").status, 200);

    let r = request_to(
        bin.addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 413, "refused by its Content-Length");
    let mut chunked =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    for _ in 0..4 {
        chunked.extend_from_slice(format!("400\r\n{}\r\n", "a".repeat(1024)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    // An app that reads the whole body first: the client hears 413, not
    // the app's reaction to the failed read.
    let r = request_to(bin.addr, &with_path(&chunked, "/length"));
    assert_eq!(r.status, 413, "cut as it streams: {}", r.text());
    // The echo has answered before the body passes the cap: its response
    // is cut there (never a complete echo of the oversized body).
    let r = request_to(bin.addr, &chunked);
    assert!(
        r.status == 413 || (r.status == 200 && r.body.len() < 4096),
        "cut as it streams: {} with {} bytes",
        r.status,
        r.body.len()
    );

    // One slot and one place in the queue: a third request while the
    // first sleeps and the second waits is 503.
    let addr = bin.addr;
    let sleepers: Vec<_> = (0..2)
        .map(|_| {
            let sleeper = std::thread::spawn(move || get_from(addr, "/sleep?ms=1000"));
            std::thread::sleep(Duration::from_millis(300));
            sleeper
        })
        .collect();
    let r = get_from(bin.addr, "/status?code=200");
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
    for sleeper in sleepers {
        assert_eq!(sleeper.join().unwrap().status, 200);
    }
    assert_eq!(get_from(bin.addr, "/status?code=200").status, 200);
    bin.stop();
}

/// Opt-in instance reuse: one instance serves the next requests (its state
/// shows), and without the option every request gets a fresh one.
#[test]
fn proxy_components_reuse_instances_only_when_asked() {
    let fresh = TestServer::start(wasm::PROXY_BEHAVIOURS);
    for _ in 0..3 {
        assert_eq!(fresh.get("/count").text(), "1\n");
    }
    let reused = Binary::serve(wasm::PROXY_BEHAVIOURS, &["--instance-reuse", "3"]);
    let counts: Vec<String> = (0..4)
        .map(|_| get_from(reused.addr, "/count").text())
        .collect();
    assert_eq!(
        counts,
        ["1\n", "2\n", "3\n", "1\n"],
        "three requests per instance"
    );
    // A HEAD whose guest goes on after its first poll: hyper sends no
    // body, the guest's writes still succeed, and the instance is reused.
    let mut conn = TcpStream::connect(reused.addr).unwrap();
    conn.write_all(b"HEAD /sleep?ms=20 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    conn.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.ends_with("\r\n\r\n"), "a head and no body: {raw}");
    // The head left before the guest wrote its body and returned: give it
    // a moment to go back to the pool.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get_from(reused.addr, "/count").text(), "3\n");
    // A trap discards the instance: the next request starts afresh.
    assert_eq!(get_from(reused.addr, "/trap-before").status, 500);
    assert_eq!(get_from(reused.addr, "/count").text(), "1\n");
    reused.stop();
}

/// An HTTP/1.0 request may come without `Host`; a wasi:http request always
/// has an authority: the address the client connected to.
#[test]
fn proxy_http_1_0_without_host_gets_the_local_address_as_authority() {
    let server = TestServer::start(wasm::PROXY_BEHAVIOURS);
    let r = server.request("GET /authority HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(
        text.starts_with(&format!(
            "scheme=http authority={} path=/authority",
            server.addr
        )),
        "{text}"
    );
}

/// Middleware speak the WSGI interface: one stacked in front of a wasi:http
/// app is refused at load, naming the problem, and `check` names each
/// app's kind.
#[test]
fn proxy_apps_take_no_middleware_and_check_names_their_kind() {
    let dir = temp_dir("proxy-kinds");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        format!(
            "[apps.api]\nwasm = {:?}\nroutes = [\"/api\"]\n\n[apps.site]\nwasm = {:?}\nroutes = [\"/\"]\n",
            wasm::PROXY_HELLO,
            wasm::HELLO
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = crate::support::run(&["check", good.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("/api -> api (wasi:http)"), "{stdout}");
    assert!(stdout.contains("/ -> site (wsgi)"), "{stdout}");

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "[middleware.ids]\nwasm = {:?}\n\n[apps.api]\nwasm = {:?}\nroutes = [\"/\"]\nmiddleware = [\"ids\"]\n",
            wasm::REQUEST_ID,
            wasm::PROXY_HELLO
        ),
    )
    .unwrap();
    let (code, _, stderr) = crate::support::run(&["check", bad.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("[apps.api]")
            && stderr.contains("middleware cannot be stacked in front of it"),
        "{stderr}"
    );
    // On the command line too, and a wasi:http component is no middleware.
    let (code, _, stderr) =
        crate::support::run(&["check", wasm::PROXY_HELLO, "--middleware", wasm::REQUEST_ID]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("middleware cannot be stacked"), "{stderr}");
    let (code, _, stderr) =
        crate::support::run(&["check", wasm::HELLO, "--middleware", wasm::PROXY_HELLO]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot be a middleware"), "{stderr}");
}

/// examples/wstd-hello, a component written with wstd as for any host:
/// hello, a relayed upstream under the grant, and, without it, the denial
/// as wstd's client sees it (`HttpRequestDenied`, not a broken body: the
/// host reads a refused call's body before it answers).
#[test]
fn the_wstd_example_serves_and_calls_out_under_its_grant() {
    let up = upstream(200, "upstream for wstd");
    let granted = serve_with_grant("wstd-hello", wasm::WSTD_HELLO, &[format!("http://{up}")]);
    let r = granted.get("/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Hello from a wasi:http component\n")
    );
    let r = granted.get(&format!("/fetch?url=http://{up}/x"));
    assert_eq!((r.status, r.text().as_str()), (200, "upstream for wstd"));

    let denied = TestServer::start(wasm::WSTD_HELLO);
    let r = denied.get(&format!("/fetch?url=http://{up}/x"));
    assert_eq!(r.status, 502);
    assert!(
        r.text()
            .contains("denied: not in this app's outbound-http grant"),
        "{}",
        r.text()
    );
}

/// examples/fetch, a WSGI app calling out with the SDK's client: the
/// upstream's answer with the grant, and the grant line to add without it.
#[test]
fn the_fetch_example_reports_the_upstream_or_the_grant_to_add() {
    let up = upstream(200, "first line\nsecond line");
    let dir = temp_dir("fetch-example");
    let toml = |grant: &str| {
        format!(
            "[apps.app]\nwasm = {:?}\nroutes = [\"/\"]\nenv = {{ FETCH_URL = \"http://{up}/status\" }}\n{grant}",
            wasm::FETCH
        )
    };
    let granted = serve_toml(
        &dir,
        &toml(&format!(
            "[apps.app.grants]\noutbound-http = [\"http://{up}\"]\n"
        )),
    );
    let r = granted.get("/");
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert!(
        text.contains("status: 200") && text.contains("second line"),
        "{text}"
    );

    let denied = serve_toml(&temp_dir("fetch-example-denied"), &toml(""));
    let r = denied.get("/");
    assert_eq!(r.status, 502);
    assert!(
        r.text()
            .contains(&format!("outbound-http = [\"http://{up}\"]")),
        "{}",
        r.text()
    );
}
