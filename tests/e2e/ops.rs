//! Running in production: the admin listener (health, readiness, metrics,
//! reload, status page), reloads under load, drain, `--watch`.

use crate::support::{Binary, read_response, request_to, temp_dir};
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasm_gateway_test_artifacts as wasm;

fn call(addr: SocketAddr, method: &str, target: &str) -> (u16, String) {
    let r = request_to(
        addr,
        format!("{method} {target} HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    (r.status, r.text())
}

fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    call(addr, "GET", target)
}

fn write_gateway(dir: &Path, apps: &str) -> std::path::PathBuf {
    let path = dir.join("gateway.toml");
    // Write then rename, as editors and deploy tools do: a reader never
    // sees half a file.
    let tmp = dir.join("gateway.toml.tmp");
    std::fs::write(&tmp, apps).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn app(name: &str, wasm: &str, route: &str) -> String {
    format!("[apps.{name}]\nwasm = {wasm:?}\nroutes = [{route:?}]\n")
}

/// The value of the metric line starting with `prefix` (name and labels).
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Scrapes until the metric `prefix` reads `want` (a request is counted as
/// its response ends, which the client may see a moment before).
fn wait_metric(admin: SocketAddr, prefix: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&get(admin, "/metrics").1, prefix) != Some(want) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_admin_listener_reports_health_readiness_and_metrics() {
    let dir = temp_dir("ops-metrics");
    let file = write_gateway(
        &dir,
        &(app("hello", wasm::HELLO, "/")
            + &app("trap", wasm::TRAP, "/trap")
            + &app("hog", wasm::HOG, "/hog")
            + "[apps.hog.limits]\nmemory = \"16MiB\"\n"),
    );
    let (bin, admin) = Binary::serve_with_admin(&["serve", file.to_str().unwrap()]);
    assert_eq!(get(admin, "/healthz"), (200, "ok\n".into()));
    // Allocates until its memory limit refuses: a trap, counted as memory.
    assert_eq!(get(bin.addr, "/hog").0, 500);
    assert_eq!(get(admin, "/readyz"), (200, "ready\n".into()));
    for _ in 0..3 {
        assert_eq!(get(bin.addr, "/").0, 200);
    }
    for _ in 0..2 {
        assert_eq!(get(bin.addr, "/trap").0, 500);
    }
    // The tenants' listener knows nothing of the admin paths.
    assert_eq!(get(bin.addr, "/metrics").1, "Hello, world!");

    let expect = [
        (
            r#"wasm_gateway_http_requests_total{app="hello",code="200"}"#,
            4.0,
        ),
        (
            r#"wasm_gateway_http_requests_total{app="trap",code="500"}"#,
            2.0,
        ),
        (
            r#"wasm_gateway_guest_failures_total{app="trap",kind="trap"}"#,
            2.0,
        ),
        (
            r#"wasm_gateway_guest_failures_total{app="hello",kind="trap"}"#,
            0.0,
        ),
        (
            r#"wasm_gateway_http_request_duration_seconds_count{app="hello"}"#,
            4.0,
        ),
        (
            r#"wasm_gateway_http_request_duration_seconds_bucket{le="+Inf",app="trap"}"#,
            2.0,
        ),
        (r#"wasm_gateway_http_requests_in_flight{app="hello"}"#, 0.0),
        (
            r#"wasm_gateway_requests_rejected_total{app="hello",reason="queue_full"}"#,
            0.0,
        ),
        (
            r#"wasm_gateway_app_log_lines_dropped_total{app="trap"}"#,
            0.0,
        ),
        ("wasm_gateway_instances_live ", 0.0),
        (r#"wasm_gateway_config_reloads_total{result="ok"}"#, 0.0),
        (
            &format!(
                r#"wasm_gateway_build_info{{version="{}"}}"#,
                env!("CARGO_PKG_VERSION")
            ),
            1.0,
        ),
        ("wasm_gateway_ready ", 1.0),
    ];
    // A request is counted as its response ends, which the client may see
    // a moment before: scrape until the counts are in (or give up).
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let (status, text) = get(admin, "/metrics");
        assert_eq!(status, 200);
        let all = expect
            .iter()
            .all(|(prefix, want)| metric(&text, prefix) == Some(*want));
        if all || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for (prefix, want) in expect {
        assert_eq!(metric(&text, prefix), Some(want), "{prefix}\n{text}");
    }
    assert!(
        metric(&text, "wasm_gateway_connections_open ").is_some(),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");

    assert_eq!(get(admin, "/reload").0, 405);
    assert_eq!(call(admin, "POST", "/metrics").0, 405);
    assert_eq!(get(admin, "/nothing-here").0, 404);
    let (status, page) = get(admin, "/");
    assert_eq!(status, 200);
    assert!(
        page.contains("<title>wasm-gateway status</title>"),
        "{page}"
    );
    assert!(page.contains("<strong>trap</strong>"), "{page}");
    drop(bin);
}

/// Requests that must all succeed, on keep-alive and new connections,
/// while the test reloads: counts failures.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<std::sync::Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
        let threads = (0..4)
            .map(|i| {
                let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
                std::thread::spawn(move || {
                    let keep_alive = i % 2 == 0;
                    let mut conn: Option<BufReader<TcpStream>> = None;
                    while !stop.load(Ordering::Relaxed) {
                        let result = (|| -> std::io::Result<u16> {
                            if conn.is_none() {
                                let stream = TcpStream::connect(addr)?;
                                stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                                conn = Some(BufReader::new(stream));
                            }
                            let reader = conn.as_mut().unwrap();
                            let close = if keep_alive {
                                ""
                            } else {
                                "Connection: close\r\n"
                            };
                            reader.get_mut().write_all(
                                format!("GET / HTTP/1.1\r\nHost: h\r\n{close}\r\n").as_bytes(),
                            )?;
                            let r = read_response(reader)?;
                            if !keep_alive || r.header("connection") == Some("close") {
                                conn = None;
                            }
                            Ok(r.status)
                        })();
                        match result {
                            Ok(200) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(status) => failures.lock().unwrap().push(format!("status {status}")),
                            Err(err) => {
                                failures.lock().unwrap().push(format!("{err}"));
                                conn = None;
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failures,
            threads,
        }
    }

    /// Stops the load; the requests that succeeded, and the failures.
    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.ok.load(Ordering::Relaxed), failures)
    }
}

#[test]
fn reloads_under_load_drop_no_request_and_no_connection() {
    let dir = temp_dir("ops-reload");
    let hello = app("hello", wasm::HELLO, "/");
    let counter = app("counter", wasm::COUNTER, "/c");
    let file = write_gateway(&dir, &(hello.clone() + &counter));
    let (bin, admin) = Binary::serve_with_admin(&["serve", file.to_str().unwrap()]);
    assert_eq!(get(bin.addr, "/c").1, "count=1");
    let load = Load::start(bin.addr);
    std::thread::sleep(Duration::from_millis(300));

    // Adding an app.
    write_gateway(
        &dir,
        &(hello.clone() + &counter + &app("trap", wasm::TRAP, "/t")),
    );
    let (status, text) = call(admin, "POST", "/reload");
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("2 kept, 0 changed, 1 added, 0 removed"),
        "{text}"
    );
    assert_eq!(get(bin.addr, "/t").0, 500);
    std::thread::sleep(Duration::from_millis(200));

    // Removing a route: /c now falls to hello at /.
    write_gateway(&dir, &(hello.clone() + &app("trap", wasm::TRAP, "/t")));
    let (status, text) = call(admin, "POST", "/reload");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("1 removed"), "{text}");
    assert_eq!(get(bin.addr, "/c").1, "Hello, world!");
    std::thread::sleep(Duration::from_millis(200));

    // A reload that fails leaves the previous configuration serving.
    write_gateway(
        &dir,
        &(hello.clone() + "[apps.broken]\nwasm = \"/nonexistent.wasm\"\nroutes = [\"/b\"]\n"),
    );
    let (status, text) = call(admin, "POST", "/reload");
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("previous configuration still serves"),
        "{text}"
    );
    assert!(text.contains("nonexistent.wasm"), "{text}");
    assert_eq!(get(bin.addr, "/t").0, 500, "the trap app still serves");
    // So does a change that needs a restart.
    write_gateway(&dir, &format!("[server]\nmax-instances = 7\n{hello}"));
    let (status, text) = call(admin, "POST", "/reload");
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("max-instances"), "{text}");
    // And SIGHUP reloads like POST /reload.
    write_gateway(
        &dir,
        &(hello.clone() + &app("counter", wasm::COUNTER, "/again")),
    );
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &bin.child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(bin.addr, "/again").1 != "count=1" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(bin.addr, "/again").1, "count=1");
    std::thread::sleep(Duration::from_millis(200));

    let (ok, failures) = load.finish();
    assert!(
        failures.is_empty(),
        "{} failures: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(ok > 50, "only {ok} requests under load");
    let metrics = get(admin, "/metrics").1;
    assert_eq!(
        metric(
            &metrics,
            r#"wasm_gateway_config_reloads_total{result="ok"}"#
        ),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            r#"wasm_gateway_config_reloads_total{result="error"}"#
        ),
        Some(2.0),
        "{metrics}"
    );
    // hello was kept through every reload: its counters carried over.
    let served = metric(
        &metrics,
        r#"wasm_gateway_http_requests_total{app="hello",code="200"}"#,
    )
    .unwrap();
    assert!(served >= ok as f64, "{served} < {ok}");
    let log = bin.stop();
    assert!(
        log.contains("reload failed, the previous configuration still serves"),
        "{log}"
    );
    // What is served is logged after each reload, entry by entry.
    assert!(log.contains("loaded app=trap kind=\"wsgi\""), "{log}");
    assert!(
        log.contains("trigger=\"SIGHUP\"") || log.contains("trigger=SIGHUP"),
        "{log}"
    );
}

#[test]
fn a_stop_signal_turns_readiness_off_then_drains_and_exits_0() {
    let (mut bin, admin) =
        Binary::serve_with_admin(&["serve", wasm::SLEEP, "--shutdown-delay", "2s"]);
    assert_eq!(get(admin, "/readyz").0, 200);
    // A slow request in flight when the drain begins still completes.
    let addr = bin.addr;
    let slow = std::thread::spawn(move || get(addr, "/?ms=2500"));
    std::thread::sleep(Duration::from_millis(200));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &bin.child.id().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(admin, "/readyz").0, 503, "readiness off at once");
    assert_eq!(
        get(bin.addr, "/?ms=1").0,
        200,
        "still serving during the delay"
    );
    assert_eq!(slow.join().unwrap().0, 200);
    let status = bin.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sighup_reloads_the_one_app_form_from_its_file() {
    let dir = temp_dir("ops-one-app");
    let path = dir.join("app.wasm");
    std::fs::copy(wasm::HELLO, &path).unwrap();
    let bin = Binary::serve(path.to_str().unwrap(), &[]);
    assert_eq!(get(bin.addr, "/").1, "Hello, world!");
    let tmp = dir.join("app.wasm.tmp");
    std::fs::copy(wasm::COUNTER, &tmp).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &bin.child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(bin.addr, "/").1 != "count=1" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(bin.addr, "/").1, "count=1");
}

#[test]
fn watch_reloads_when_the_gateway_file_changes() {
    let dir = temp_dir("ops-watch");
    let hello = app("hello", wasm::HELLO, "/");
    let file = write_gateway(&dir, &hello);
    let bin = Binary::serve(file.to_str().unwrap(), &["--watch"]);
    assert_eq!(get(bin.addr, "/c").1, "Hello, world!");
    write_gateway(&dir, &(hello + &app("counter", wasm::COUNTER, "/c")));
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(bin.addr, "/c").1 != "count=1" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(bin.addr, "/c").1, "count=1");
}

/// The status page in a real browser (headless chromium): the apps with
/// their routes and live counters, readable without JavaScript; the
/// screenshot is kept in target/test-artifacts/browser/status-page.png.
#[test]
fn the_status_page_renders_in_a_real_browser() {
    let dir = temp_dir("ops-status");
    std::fs::create_dir_all(dir.join("public")).unwrap();
    std::fs::write(dir.join("public/index.html"), "<p>hi</p>").unwrap();
    let file = write_gateway(
        &dir,
        &(app("hello", wasm::HELLO, "/")
            + &app("trap", wasm::TRAP, "/trap")
            + "[apps.site]\nstatic = \"public\"\nroutes = [\"/site\"]\n"),
    );
    let (bin, admin) = Binary::serve_with_admin(&["serve", file.to_str().unwrap()]);
    for _ in 0..5 {
        assert_eq!(get(bin.addr, "/").0, 200);
    }
    assert_eq!(get(bin.addr, "/trap").0, 500);
    wait_metric(
        admin,
        r#"wasm_gateway_http_requests_total{app="hello",code="200"}"#,
        5.0,
    );
    wait_metric(
        admin,
        r#"wasm_gateway_guest_failures_total{app="trap",kind="trap"}"#,
        1.0,
    );
    let page = crate::browser::render(&format!("http://{admin}/"), "status-page");
    let dom = &page.dom;
    assert!(dom.contains("<title>wasm-gateway status</title>"), "{dom}");
    assert!(dom.contains("ready"), "{dom}");
    for name in ["hello", "trap", "site"] {
        assert!(
            dom.contains(&format!("<strong>{name}</strong>")),
            "{name}: {dom}"
        );
    }
    // hello's row: 5 requests, 0 5xx; trap's: 1 request, 1 5xx, 1 failure.
    let row = |name: &str| {
        let start = dom.find(&format!("<strong>{name}</strong>")).unwrap();
        let end = dom[start..].find("</tr>").unwrap() + start;
        dom[start..end].to_owned()
    };
    assert!(
        row("hello").contains("<td class=\"n\">5</td><td class=\"n\">0</td>"),
        "{}",
        row("hello")
    );
    assert!(
        row("trap").contains("<td class=\"n\">1</td><td class=\"n\">1</td><td class=\"n\">1</td>"),
        "{}",
        row("trap")
    );
    assert!(row("site").contains("static"), "{}", row("site"));
    assert!(dom.contains("http-equiv=\"refresh\""), "{dom}");
    let recent = &dom[dom
        .find("Recent guest failures")
        .expect("the failures table")..];
    assert!(
        recent.contains("<td>trap</td><td>trap</td><td><code>the application trapped"),
        "{recent}"
    );
    assert!(page.screenshot.exists());
    drop(bin);
}

/// A component the configuration added in a directory of its own is
/// watched from then on: replacing it reloads too.
#[test]
fn watch_follows_a_component_added_in_a_new_directory() {
    let dir = temp_dir("ops-watch-new");
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let component = elsewhere.join("app.wasm");
    std::fs::copy(wasm::HELLO, &component).unwrap();
    let hello = app("hello", wasm::HELLO, "/");
    let file = write_gateway(&dir, &hello);
    let bin = Binary::serve(file.to_str().unwrap(), &["--watch"]);
    let until = |target: &str, want: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(bin.addr, target).1 != want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(get(bin.addr, target).1, want);
    };
    write_gateway(
        &dir,
        &(hello + &app("new", component.to_str().unwrap(), "/new/")),
    );
    until("/new/x", "Hello, world!");
    let tmp = elsewhere.join("app.wasm.tmp");
    std::fs::copy(wasm::COUNTER, &tmp).unwrap();
    std::fs::rename(&tmp, &component).unwrap();
    until("/new/x", "count=1");
}

/// A request in flight when a reload removes its app finishes on the app
/// it started with.
#[test]
fn a_request_in_flight_finishes_on_the_app_a_reload_removed() {
    let dir = temp_dir("ops-in-flight");
    let hello = app("hello", wasm::HELLO, "/");
    let file = write_gateway(&dir, &(hello.clone() + &app("sleep", wasm::SLEEP, "/s")));
    let (bin, admin) = Binary::serve_with_admin(&["serve", file.to_str().unwrap()]);
    let addr = bin.addr;
    let slow = std::thread::spawn(move || get(addr, "/s?ms=1500"));
    std::thread::sleep(Duration::from_millis(300));
    write_gateway(&dir, &hello);
    let (status, text) = call(admin, "POST", "/reload");
    assert_eq!(status, 200, "{text}");
    assert_eq!(get(bin.addr, "/s").1, "Hello, world!", "the route is gone");
    // PATH_INFO is empty below the mount point.
    assert_eq!(slow.join().unwrap(), (200, "slept ".to_owned()));
}

/// The one-app form names the app after its file, which may hold quotes
/// and backslashes: label values are escaped, so the exposition stays
/// valid and no line can be forged.
#[test]
fn metric_labels_are_escaped() {
    let dir = temp_dir("ops-labels");
    let path = dir.join("we\"ird\\name.wasm");
    std::fs::copy(wasm::HELLO, &path).unwrap();
    let (bin, admin) = Binary::serve_with_admin(&["serve", path.to_str().unwrap()]);
    assert_eq!(get(bin.addr, "/").0, 200);
    wait_metric(
        admin,
        r#"wasm_gateway_http_requests_total{app="we\"ird\\name",code="200"}"#,
        1.0,
    );
    let text = get(admin, "/metrics").1;
    assert!(
        text.contains(r#"wasm_gateway_http_requests_total{app="we\"ird\\name",code="200"} 1"#),
        "{text}"
    );
}

/// Files written beside the gateway file (a log, an app's data) do not
/// reload it: only the files a reload reads count.
#[test]
fn watch_ignores_other_files_in_the_directory() {
    let dir = temp_dir("ops-watch-other");
    let file = write_gateway(&dir, &app("hello", wasm::HELLO, "/"));
    let (bin, admin) = Binary::serve_with_admin(&["serve", file.to_str().unwrap(), "--watch"]);
    for i in 0..10 {
        std::fs::write(dir.join("server.log"), format!("line {i}\n")).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(600));
    let text = get(admin, "/metrics").1;
    assert_eq!(
        metric(&text, r#"wasm_gateway_config_reloads_total{result="ok"}"#),
        Some(0.0),
        "{text}"
    );
    drop(bin);
}

/// A body that fails as the app reads it (here, chunked past max-body) is
/// the client's doing: counted as a rejection, not as the guest's failure.
#[test]
fn a_client_body_failure_is_a_rejection_not_a_guest_failure() {
    let (bin, admin) = Binary::serve_with_admin(&["serve", wasm::ECHO, "--max-body", "10"]);
    let r = request_to(
        bin.addr,
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 413);
    wait_metric(
        admin,
        r#"wasm_gateway_requests_rejected_total{app="echo",reason="body_too_large"}"#,
        1.0,
    );
    let text = get(admin, "/metrics").1;
    for kind in ["app_error", "contract", "trap"] {
        let prefix = format!(r#"wasm_gateway_guest_failures_total{{app="echo",kind="{kind}"}}"#);
        assert_eq!(metric(&text, &prefix), Some(0.0), "{kind}\n{text}");
    }
}

/// A wasi:http app is counted like any other: its statuses, its guest's
/// failures by kind, and the status page names its kind.
#[test]
fn wasi_http_apps_are_counted_like_any_other() {
    let dir = temp_dir("ops-proxy");
    let file = write_gateway(&dir, &app("api", wasm::PROXY_BEHAVIOURS, "/"));
    let (bin, admin) = Binary::serve_with_admin(&["serve", file.to_str().unwrap()]);
    assert_eq!(get(bin.addr, "/status?code=201").0, 201);
    assert_eq!(get(bin.addr, "/trap-before").0, 500);
    assert_eq!(get(bin.addr, "/no-response").0, 500);
    wait_metric(
        admin,
        r#"wasm_gateway_http_requests_total{app="api",code="201"}"#,
        1.0,
    );
    let (_, text) = get(admin, "/metrics");
    assert_eq!(
        metric(
            &text,
            r#"wasm_gateway_guest_failures_total{app="api",kind="trap"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            r#"wasm_gateway_guest_failures_total{app="api",kind="contract"}"#
        ),
        Some(1.0),
        "{text}"
    );
    let (_, page) = get(admin, "/");
    assert!(page.contains("wasi:http"), "{page}");
    bin.stop();
}
