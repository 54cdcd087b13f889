//! Multi-tenant isolation: imports refused at load unless granted, opt-in
//! instance reuse, fuel, table and response-head limits, the log rate
//! limit, and the fault suite: every fault contained with its status and a
//! log line while a healthy app keeps answering.

use crate::support::{Binary, TestServer, compiled, request_to, runtime, temp_dir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use wasm_gateway::Reuse;
use wasm_gateway::{App, AppConfig, Gateway, Runtime, RuntimeConfig, ServerConfig};
use wasm_gateway_test_artifacts as wasm;

fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    let r = request_to(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    (r.status, r.text())
}

fn link_error(wasm: &str, config: &AppConfig) -> String {
    match runtime().link(&compiled(wasm), config) {
        Ok(_) => panic!("{wasm} linked"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn ungranted_imports_are_refused_at_load_naming_them() {
    let mut config = AppConfig::new("sandbox");
    let err = link_error(wasm::SANDBOX, &config);
    for named in [
        "`wasi:filesystem/preopens@0.2",
        "`wasi:sockets/tcp@0.2",
        "`wasi:sockets/ip-name-lookup@0.2",
        "[apps.sandbox.grants] dirs",
        "network access is never granted",
        "trap-unknown-imports = true",
    ] {
        assert!(err.contains(named), "{named} not in: {err}");
    }
    assert!(
        !err.contains("wasi:cli/"),
        "granted imports are not named: {err}"
    );

    // A `dirs` grant links the filesystem; sockets stay refused.
    config.grants.dirs = Some(Vec::new());
    let err = link_error(wasm::SANDBOX, &config);
    assert!(!err.contains("wasi:filesystem"), "{err}");
    assert!(err.contains("`wasi:sockets/tcp@0.2"), "{err}");

    // An app that imports nothing ungranted loads with no grants at all.
    runtime()
        .link(&compiled(wasm::HELLO), &AppConfig::new("hello"))
        .unwrap();
}

#[test]
fn the_cli_refuses_an_ungranted_component_in_one_line_with_status_2() {
    let out = crate::support::binary()
        .args(["serve", wasm::SANDBOX, "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("sandbox.wasm imports `wasi:filesystem"),
        "{stderr}"
    );
    assert!(stderr.contains("--trap-unknown-imports"), "{stderr}");
}

#[test]
fn check_takes_the_same_grants_as_serve() {
    let check = |extra: &[&str]| {
        crate::support::binary()
            .args(["check", wasm::SANDBOX])
            .args(extra)
            .output()
            .unwrap()
    };
    let refused = check(&[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--trap-unknown-imports"));
    let accepted = check(&["--trap-unknown-imports"]);
    assert_eq!(
        accepted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    assert!(String::from_utf8_lossy(&accepted.stdout).contains(": ok"));
}

#[test]
fn without_a_dirs_grant_file_calls_trap_under_trapping_stubs() {
    let server = TestServer::with_config(wasm::SANDBOX, |app| {
        app.grants.trap_unknown_imports = true;
    });
    assert_eq!(server.get("/?do=read&path=/etc/passwd").status, 500);
    // No environment unless granted: not the host's.
    let r = server.get("/?do=env");
    assert_eq!((r.status, r.text().as_str()), (200, "env: \n"));
}

#[test]
fn an_empty_dirs_grant_gives_a_filesystem_with_nothing_in_it() {
    let server = TestServer::with_config(wasm::SANDBOX, |app| {
        app.grants.dirs = Some(Vec::new());
        app.grants.trap_unknown_imports = true;
    });
    let r = server.get("/?do=read&path=/etc/passwd");
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("denied"), "{}", r.text());
}

/// A server for the counter app reusing instances, and the app (to see
/// its idle instances).
fn reusing(
    runtime: &Runtime,
    requests: u64,
    lifetime: Duration,
    fuel: Option<u64>,
) -> (TestServer, Arc<App>) {
    let mut config = AppConfig::new("counter");
    config.instance_reuse = Some(Reuse { requests, lifetime });
    config.fuel = fuel;
    let loaded = runtime
        .load(std::path::Path::new(wasm::COUNTER), &config)
        .unwrap();
    let app = Arc::new(App::new(runtime, loaded, config));
    let server = TestServer::serve_gateway(Gateway::single(app.clone()), ServerConfig::default());
    (server, app)
}

/// GET / and wait until the instance is back in the pool: it goes back
/// after the body's `close()`, which can run just after the client has the
/// response; the next request would then get a fresh instance.
fn count(server: &TestServer, app: &App, target: &str, idle_after: usize) -> (u16, String) {
    let r = server.get(target);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.idle_instances() != idle_after && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    (r.status, r.text())
}

#[test]
fn instance_reuse_serves_up_to_n_requests_per_instance() {
    let (server, app) = reusing(runtime(), 3, Duration::from_secs(60), None);
    let counts: Vec<String> = (1..=7)
        .map(|n| count(&server, &app, "/", usize::from(n % 3 != 0)).1)
        .collect();
    assert_eq!(
        counts,
        [
            "count=1", "count=2", "count=3", "count=1", "count=2", "count=3", "count=1"
        ]
    );
}

#[test]
fn a_trapped_instance_is_never_reused() {
    let (server, app) = reusing(runtime(), 100, Duration::from_secs(60), None);
    assert_eq!(count(&server, &app, "/", 1).1, "count=1");
    assert_eq!(count(&server, &app, "/", 1).1, "count=2");
    assert_eq!(count(&server, &app, "/?panic", 0).0, 500);
    assert_eq!(count(&server, &app, "/", 1).1, "count=1");
}

#[test]
fn reused_instances_are_replaced_after_their_lifetime() {
    let (server, app) = reusing(runtime(), 100, Duration::from_millis(300), None);
    assert_eq!(count(&server, &app, "/", 1).1, "count=1");
    assert_eq!(count(&server, &app, "/", 1).1, "count=2");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(count(&server, &app, "/", 1).1, "count=1");
}

#[test]
fn reuse_is_per_app_and_off_by_default() {
    let fresh = TestServer::start(wasm::COUNTER);
    let (reused, app) = reusing(runtime(), 100, Duration::from_secs(60), None);
    for n in 1..=3 {
        assert_eq!(fresh.get("/").text(), "count=1");
        assert_eq!(count(&reused, &app, "/", 1).1, format!("count={n}"));
    }
}

/// Fuel ends a guest that never yields long before its 60 s deadline (a
/// 504 would mean the fuel limit did nothing), while an ordinary request
/// fits within the same budget.
#[test]
fn fuel_stops_a_spinning_guest_with_500() {
    let spin = Binary::serve(wasm::SPIN, &["--fuel", "20000000", "--timeout", "60s"]);
    assert_eq!(get(spin.addr, "/").0, 500);
    let log = spin.stop();
    assert!(log.contains("ran out of fuel (20000000 units"), "{log}");

    let hello = Binary::serve(wasm::HELLO, &["--fuel", "20000000"]);
    assert_eq!(get(hello.addr, "/"), (200, "Hello, world!".into()));
}

#[test]
fn fuel_resets_for_each_request_of_a_reused_instance() {
    let runtime = Runtime::new(&RuntimeConfig {
        fuel: true,
        ..RuntimeConfig::default()
    })
    .unwrap();
    // One request burns 50,000-100,000 units (measured): 200,000 covers
    // one, never twenty, so the test fails if fuel is not reset.
    let (server, app) = reusing(&runtime, 50, Duration::from_secs(60), Some(200_000));
    for n in 1..=20 {
        assert_eq!(count(&server, &app, "/", 1), (200, format!("count={n}")));
    }
}

#[test]
fn the_table_limit_applies_per_app() {
    let capped = TestServer::with_config(wasm::HELLO, |app| app.table_elements = 1);
    assert_eq!(capped.get("/").status, 500);
    assert_eq!(TestServer::start(wasm::HELLO).get("/").status, 200);
}

#[test]
fn the_response_head_limit_applies_per_app() {
    let target = format!("/?header=X-Big:{}", "x".repeat(2000));
    let r = TestServer::start(wasm::RESPOND).get(&target);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-big").map(str::len), Some(2000));
    let capped = TestServer::with_config(wasm::RESPOND, |app| app.max_response_head = 1024);
    let r = capped.get(&target);
    assert_eq!(r.status, 500);
    assert!(r.header("x-big").is_none());
}

/// A flood of output is cut by the per-app rate limit (a burst of 1000
/// lines, then 100 a second), and the drop is reported.
#[test]
fn captured_output_is_rate_limited() {
    let server = Binary::serve(wasm::CHATTY, &["--stdout"]);
    assert_eq!(get(server.addr, "/?out=5000").0, 200);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(get(server.addr, "/?out=1").0, 200);
    let log = server.stop();
    let logged = log.lines().filter(|l| l.contains(": out line ")).count();
    assert!((1000..1500).contains(&logged), "{logged} lines logged");
    assert!(log.contains("dropped by the rate limit"), "{log}");
}

/// A body that streams forever is cut at the deadline: the client got its
/// 200 head, then the connection ends without the last chunk, so the body
/// cannot pass for complete; the log says why.
#[test]
fn an_endless_body_is_cut_at_the_deadline() {
    let server = Binary::serve(wasm::STREAM, &["--timeout", "500ms"]);
    let mut conn = std::net::TcpStream::connect(server.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn.write_all(
        b"GET /?bytes=1000000000000&chunk=16 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut reader = BufReader::new(conn);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    // Read to the end, keeping only the tail.
    let mut tail = Vec::new();
    let mut buf = vec![0; 64 << 10];
    loop {
        let n = reader.read(&mut buf).expect("the connection must end");
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        let keep = tail.len().saturating_sub(16);
        tail.drain(..keep);
    }
    assert!(!tail.ends_with(b"0\r\n\r\n"), "the body looked complete");
    let log = server.stop();
    assert!(log.contains("deadline"), "{log}");
}

/// The fault suite, behind one gateway: each fault gets its status and a
/// log line naming its app, and the healthy app answers between them all.
#[test]
fn every_fault_is_contained_with_its_status_and_a_log_line() {
    let dir = temp_dir("faults");
    let app = |name: &str, wasm: &str, route: &str, limits: &str| {
        format!(
            "[apps.{name}]\nwasm = {wasm:?}\nroutes = [{route:?}]\n[apps.{name}.limits]\n{limits}\n"
        )
    };
    let toml = [
        app("hello", wasm::HELLO, "/", ""),
        app("spin", wasm::SPIN, "/spin", "timeout = \"300ms\""),
        app("hog", wasm::HOG, "/hog", "memory = \"16MiB\""),
        app("recurse", wasm::RECURSE, "/recurse", ""),
        app("trap", wasm::TRAP, "/panic", ""),
        app("restart", wasm::RESTART, "/twice", ""),
        app("never", wasm::NO_START_RESPONSE, "/never", ""),
        app("crlf", wasm::BAD_HEADER, "/crlf", ""),
        app("big", wasm::BIG_HEADER, "/big", ""),
        app("endless", wasm::STREAM, "/endless", "timeout = \"300ms\""),
        app("sandbox", wasm::SANDBOX, "/sandbox", "")
            + "[apps.sandbox.grants]\ntrap-unknown-imports = true\n",
    ]
    .concat();
    let path = dir.join("gateway.toml");
    std::fs::write(&path, toml).unwrap();
    let server = Binary::serve(path.to_str().unwrap(), &[]);

    let faults: &[(&str, &str, u16)] = &[
        ("spin", "/spin", 504),
        ("hog", "/hog", 500),
        ("recurse", "/recurse", 500),
        ("trap", "/panic", 500),
        ("restart", "/twice", 200),
        ("never", "/never", 500),
        ("crlf", "/crlf", 200),
        ("big", "/big", 200),
        ("sandbox", "/sandbox?do=connect", 500),
        ("sandbox", "/sandbox?do=read&path=/etc/passwd", 500),
    ];
    for &(name, target, status) in faults {
        assert_eq!(get(server.addr, target).0, status, "{name}");
        assert_eq!(
            get(server.addr, "/"),
            (200, "Hello, world!".into()),
            "after {name}"
        );
    }
    // The endless body: its head is 200, then it is cut.
    let mut conn = std::net::TcpStream::connect(server.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn.write_all(b"GET /endless?bytes=1000000000000&chunk=16 HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut received = Vec::new();
    conn.read_to_end(&mut received).unwrap();
    assert!(received.starts_with(b"HTTP/1.1 200"));
    assert!(!received.ends_with(b"0\r\n\r\n"));
    assert_eq!(get(server.addr, "/"), (200, "Hello, world!".into()));

    let log = server.stop();
    for (name, what) in [
        ("spin", "deadline"),
        ("hog", "trapped"),
        ("recurse", "trapped"),
        ("trap", "trapped"),
        ("restart", "start_response refused"),
        ("never", "without calling start_response"),
        ("crlf", "start_response refused"),
        ("big", "start_response refused"),
        ("endless", "deadline"),
        ("sandbox", "not granted"),
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("app={name} ")) && l.contains(what))
                || log
                    .split("\n20")
                    .any(|entry| entry.contains(&format!("app={name} ")) && entry.contains(what)),
            "no log line for {name} with {what:?}:\n{log}"
        );
    }
}

/// Idle reused instances hold instance slots: an app that needs a slot
/// gets one by freeing them, and the epoch ticker frees expired ones
/// even when their app gets no more requests.
#[test]
fn idle_reused_instances_never_starve_other_apps() {
    let runtime = Runtime::new(&RuntimeConfig {
        max_instances: 4,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let dir = temp_dir("reuse-slots");
    let path = dir.join("gateway.toml");
    std::fs::write(
        &path,
        format!(
            "[apps.reuser]\nwasm = \"{}\"\nroutes = [\"/r\"]\n[apps.reuser.limits]\nconcurrency = 4\ninstance-reuse = {{ requests = 1000, lifetime = \"600s\" }}\n\n[apps.other]\nwasm = \"{}\"\nroutes = [\"/o\"]\n",
            wasm::SLEEP,
            wasm::HELLO
        ),
    )
    .unwrap();
    let config = wasm_gateway::load_config(&path).unwrap();
    let gateway = Gateway::load(&config, &runtime).unwrap();
    let server = TestServer::serve_gateway(gateway, ServerConfig::default());
    // Four at once: four instances, all kept idle afterwards.
    let slow: Vec<_> = (0..4)
        .map(|_| {
            let mut conn = server.connect();
            conn.write_all(b"GET /r?ms=300 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                .unwrap();
            conn
        })
        .collect();
    for conn in slow {
        let r = crate::support::read_response(&mut BufReader::new(conn)).unwrap();
        assert_eq!(r.status, 200);
    }
    let r = server.get("/o");
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, world!"));
}

#[test]
fn expired_idle_instances_are_freed_without_further_requests() {
    let (server, app) = reusing(runtime(), 100, Duration::from_millis(200), None);
    assert_eq!(count(&server, &app, "/", 1).1, "count=1");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.idle_instances() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(app.idle_instances(), 0, "the sweep did not free it");
}

/// With reuse, an unfinished line is logged under the request that wrote
/// it, never glued to the next request's output; and a long line is cut
/// into 8 KiB pieces.
#[test]
fn captured_lines_belong_to_their_request_and_are_bounded() {
    let server = Binary::serve(wasm::CHATTY, &["--stdout", "--instance-reuse", "10"]);
    assert_eq!(get(server.addr, "/?tail=FIRSTTAIL").0, 200);
    assert_eq!(get(server.addr, "/?out=1").0, 200);
    assert_eq!(get(server.addr, "/?long=100000").0, 200);
    let log = server.stop();
    let tail = log
        .lines()
        .find(|l| l.contains("FIRSTTAIL"))
        .expect("tail logged");
    assert!(tail.contains("request=1"), "{tail}");
    assert!(!tail.contains("out line"), "{tail}");
    let next = log
        .lines()
        .find(|l| l.contains("out line 0"))
        .expect("line logged");
    assert!(next.contains("request=2"), "{next}");
    let pieces: Vec<usize> = log
        .lines()
        .filter(|l| l.contains("xxxxxxxx"))
        .map(|l| l.bytes().filter(|&b| b == b'x').count())
        .collect();
    assert!(pieces.len() >= 13, "{pieces:?}");
    assert!(pieces.iter().all(|&n| n <= 8192 + 16), "{pieces:?}");
}

/// An application whose requests fault is served on the slow lane from
/// then on, its requests answered as before. (That an application
/// answering at once stays on the server's threads is not asserted here: a
/// busy test machine can stretch any request; `bench/faults.sh` shows it.)
#[test]
fn an_app_whose_requests_fault_starts_them_on_the_slow_lane() {
    let runtime = runtime();
    let config = AppConfig::new("counter");
    let loaded = runtime
        .load(std::path::Path::new(wasm::COUNTER), &config)
        .unwrap();
    let faulty = Arc::new(App::new(runtime, loaded, config));
    let server =
        TestServer::serve_gateway(Gateway::single(faulty.clone()), ServerConfig::default());
    for _ in 0..3 {
        assert_eq!(server.get("/?panic").status, 500);
    }
    // A request's cost is counted as its task ends, just after its
    // response went out.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !faulty.cost.heavy() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(faulty.cost.heavy(), "{} µs", faulty.cost.average_us());
    // Served from the slow lane, as well as ever. (The way back, once its
    // requests are short again, is unit-tested in `runtime::lanes`: how
    // short a request is here depends on how busy the test machine is.)
    for n in 1..=3 {
        let r = server.get("/");
        assert_eq!((r.status, r.text().as_str()), (200, "count=1"), "{n}");
    }
}

/// The first request of an instance kept for more carries the instance's
/// start (CPython's lazy set-up: 10-30 ms for Django, the next requests
/// under 1 ms), so it cannot alone send the app to the slow lane, where
/// every request would pay a hop between threads and a lower priority:
/// here four instances start at once, each first request computing for
/// 40 ms, and the app stays on the server's threads.
#[test]
fn new_instances_first_requests_do_not_send_a_reusing_app_to_the_slow_lane() {
    let (server, app) = reusing(runtime(), 100, Duration::from_secs(60), None);
    let addr = server.addr;
    let barrier = Arc::new(std::sync::Barrier::new(4));
    let firsts = (0..4)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                get(addr, "/?warm=40")
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .inspect(|(status, _)| assert_eq!(*status, 200))
        .filter(|(_, body)| body == "count=1")
        .count();
    assert!(
        firsts >= 3,
        "only {firsts} new instances: the requests did not overlap"
    );
    // Counted as each task ends, just after its response went out: three
    // first requests at most HEAVY (2 ms) each make an average of 660 µs.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.cost.average_us() < 600 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(app.cost.average_us() >= 600, "{} µs", app.cost.average_us());
    // Counted in full (or as any other long request, at most
    // `lanes::SPIKE`), three of them would have made it heavy.
    assert!(!app.cost.heavy(), "{} µs", app.cost.average_us());
}

/// The move is said once in the log (and again when the app comes back).
#[test]
fn the_move_to_the_slow_lane_is_logged_once() {
    let bin = Binary::serve(wasm::TRAP, &[]);
    for _ in 0..6 {
        assert_eq!(get(bin.addr, "/").0, 500);
    }
    let log = bin.stop();
    assert_eq!(
        log.matches("they start on the slow lane").count(),
        1,
        "{log}"
    );
}
