//! The `wasm-gateway` command line: start-up errors and what it prints.

use crate::support::{Binary, read_response, request_to, run};
use std::io::Write;
use wasm_gateway_test_artifacts as wasm;

/// Runs `wasm-gateway serve FILE` and returns (exit code, stderr).
fn serve_error(file: &std::path::Path) -> (Option<i32>, String) {
    let out = crate::support::binary()
        .args(["serve"])
        .arg(file)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(
        out.stdout.is_empty(),
        "nothing served: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wasm-gateway-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn assert_one_line_error(stderr: &str, file: &std::path::Path, what: &str) {
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains(&file.display().to_string()),
        "names the file: {stderr}"
    );
    assert!(stderr.contains(what), "says {what:?}: {stderr}");
}

#[test]
fn missing_file_exits_2_naming_it() {
    let file = std::path::Path::new("/nonexistent/app.wasm");
    let (code, stderr) = serve_error(file);
    assert_eq!(code, Some(2));
    assert_one_line_error(&stderr, file, "No such file");
}

#[test]
fn a_file_that_is_not_wasm_exits_2() {
    let file = temp_file("notes.wasm", b"this is text");
    let (code, stderr) = serve_error(&file);
    assert_eq!(code, Some(2));
    assert_one_line_error(&stderr, &file, "not a WebAssembly file");
}

#[test]
fn a_core_module_exits_2_and_says_to_build_a_component() {
    let file = temp_file("core.wasm", b"\0asm\x01\0\0\0");
    let (code, stderr) = serve_error(&file);
    assert_eq!(code, Some(2));
    assert_one_line_error(&stderr, &file, "core WebAssembly module, not a component");
}

#[test]
fn a_component_without_the_app_export_exits_2_naming_the_export() {
    // The smallest valid component: a header and nothing else.
    let file = temp_file("empty.wasm", b"\0asm\x0d\0\x01\0");
    let (code, stderr) = serve_error(&file);
    assert_eq!(code, Some(2));
    // Both exports the host accepts are named.
    assert_one_line_error(&stderr, &file, "wasm-gateway:wsgi/application@0.1.0");
    assert!(
        stderr.contains("wasi:http/incoming-handler@0.2.x"),
        "{stderr}"
    );
}

#[test]
fn a_broken_component_exits_2() {
    let file = temp_file("broken.wasm", b"\0asm\x0d\0\x01\0\x07\xff\xff");
    let (code, stderr) = serve_error(&file);
    assert_eq!(code, Some(2));
    assert_one_line_error(&stderr, &file, "not a valid component");
}

#[test]
fn serve_prints_the_bound_address_and_an_access_log_line() {
    let mut bin = Binary::serve(wasm::HELLO, &[]);
    assert_ne!(bin.addr.port(), 0);
    let r = request_to(
        bin.addr,
        b"GET /some/path?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut bin.stdout, &mut line).unwrap();
    // 127.0.0.1 - - [21/Nov/2026:12:00:00 +0000] "GET /some/path?x=1 HTTP/1.1" 200 13
    let line = line.trim_end();
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.ends_with("] \"GET /some/path?x=1 HTTP/1.1\" 200 13"),
        "{line}"
    );
    let date = &line["127.0.0.1 - - [".len()..line.find(']').unwrap()];
    assert_eq!(date.len(), "21/Nov/2026:12:00:00 +0000".len(), "{date}");
    bin.stop();
}

/// A compile cache that cannot be used costs start-up time, not service:
/// the server warns and serves.
#[test]
fn an_unusable_compile_cache_is_a_warning_not_a_failure() {
    let dir = crate::support::temp_dir("bad-cache");
    let not_a_dir = dir.join("file");
    std::fs::write(&not_a_dir, "a file where the cache directory should be").unwrap();
    let bin = Binary::serve(
        wasm::HELLO,
        &["--cache-dir", &not_a_dir.join("cache").to_string_lossy()],
    );
    let r = request_to(
        bin.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let log = bin.stop();
    assert!(log.contains("cannot use the compile cache"), "{log}");
}

/// A component in the wrong role fails at load, naming the file, what it
/// is and where it belongs: before this, a middleware served as an app
/// answered every request with 500, and an app stacked as a middleware
/// silently answered in place of the real app.
#[test]
fn a_component_in_the_wrong_role_is_a_load_error() {
    let dir = crate::support::temp_dir("roles");
    let gateway = |name: &str, toml: String| {
        let path = dir.join(name);
        std::fs::write(&path, toml).unwrap();
        path
    };
    let as_app = gateway(
        "mw-as-app.toml",
        format!(
            "[apps.a]\nwasm = \"{}\"\nroutes = [\"/\"]\n",
            wasm::REQUEST_ID
        ),
    );
    let as_mw = gateway(
        "app-as-mw.toml",
        format!(
            "[middleware.x]\nwasm = \"{}\"\n[apps.a]\nwasm = \"{}\"\nroutes = [\"/\"]\nmiddleware = [\"x\"]\n",
            wasm::HELLO,
            wasm::DISPATCH
        ),
    );
    let cases = [
        (
            &as_app,
            &[
                wasm::REQUEST_ID,
                "is a middleware, not an application",
                "wasm-gateway:wsgi/next",
                "[middleware.NAME]",
            ],
        ),
        (
            &as_mw,
            &[
                wasm::HELLO,
                "[middleware.x]",
                "is an application, not a middleware",
                "wasm-gateway:wsgi/application@0.1.0",
            ],
        ),
    ];
    for (file, says) in cases {
        let file = file.to_str().unwrap();
        for args in [
            &["check", file][..],
            &["serve", file, "--listen", "127.0.0.1:0"],
        ] {
            let (code, stdout, stderr) = run(args);
            assert_eq!(code, Some(2), "{args:?}: {stdout}{stderr}");
            for what in says {
                assert!(stderr.contains(what), "{args:?} says {what:?}: {stderr}");
            }
        }
    }
    let (code, _, stderr) = run(&[
        "serve",
        wasm::HELLO,
        "--middleware",
        wasm::DISPATCH,
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--middleware") && stderr.contains("is an application, not a middleware"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["check", wasm::REQUEST_ID]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("is a middleware, not an application"),
        "{stderr}"
    );
}

#[test]
fn a_toml_file_that_is_not_a_gateway_file_says_so() {
    let cargo = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let (code, stderr) = serve_error(std::path::Path::new(cargo));
    assert_eq!(code, Some(2));
    assert_one_line_error(
        &stderr,
        std::path::Path::new(cargo),
        "is not a gateway file: it has none of the [server], [apps.NAME] or [middleware.NAME] tables",
    );
}

/// `--listen` takes a host name (resolved at start) and a bare port, as
/// `[server] listen` does.
#[test]
fn listen_takes_host_names_and_bare_ports() {
    for listen in ["localhost:0", "0"] {
        let bin = Binary::spawn(&["serve", wasm::HELLO, "--listen", listen], &[]);
        assert_eq!(bin.addr.ip().to_string(), "127.0.0.1", "{listen}");
        let r = request_to(
            bin.addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(r.status, 200, "{listen}");
    }
    let dir = crate::support::temp_dir("listen-file");
    let path = dir.join("gateway.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"localhost:0\"\n[apps.hello]\nwasm = \"{}\"\nroutes = [\"/\"]\n",
            wasm::HELLO
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = run(&["check", path.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let (code, _, stderr) = run(&["serve", wasm::HELLO, "--listen", "localhost"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("not a listen address") && stderr.contains("HOST:PORT"),
        "{stderr}"
    );
}

fn signal(child: &std::process::Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// SIGHUP reloads (it used to kill the server) and the server keeps
/// serving; the first SIGTERM drains, saying how many requests are in
/// flight; a second one ends the process at once instead of waiting for a
/// 20-second request.
#[test]
fn sighup_reloads_and_a_second_stop_signal_ends_the_drain() {
    use std::io::{BufRead, Read, Write};
    let mut bin = Binary::serve(wasm::SLEEP, &[]);
    signal(&bin.child, "HUP");
    let r = request_to(
        bin.addr,
        b"GET /?ms=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200, "still serving after SIGHUP");
    let mut slow = std::net::TcpStream::connect(bin.addr).unwrap();
    slow.write_all(b"GET /?ms=20000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The access line of the first request shows the server is up; give
    // the slow request a moment to be accepted.
    let mut access = String::new();
    bin.stdout.read_line(&mut access).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    signal(&bin.child, "TERM");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(bin.child.try_wait().unwrap().is_none(), "still draining");
    signal(&bin.child, "TERM");
    let status = bin.child.wait().unwrap();
    let elapsed = started.elapsed();
    let mut stderr = String::new();
    bin.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        elapsed < std::time::Duration::from_secs(10),
        "the second signal ended the drain at once, not after the 20 s request ({elapsed:?}): {stderr}"
    );
    assert!(!status.success(), "a forced stop is not a clean exit");
    assert!(
        stderr.contains("reloaded: 1 kept") && stderr.contains("SIGHUP"),
        "{stderr}"
    );
    assert!(
        stderr.contains("draining") && stderr.contains("in_flight=1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stopping now, abandoning the requests in flight"),
        "{stderr}"
    );
}

/// A single SIGTERM waits for the request in flight, which completes.
#[test]
fn one_stop_signal_lets_the_request_in_flight_finish() {
    use std::io::{BufRead, Write};
    let mut bin = Binary::serve(wasm::SLEEP, &[]);
    let mut slow = std::net::TcpStream::connect(bin.addr).unwrap();
    slow.write_all(b"GET /?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    signal(&bin.child, "TERM");
    let r = crate::support::read_response(&mut std::io::BufReader::new(slow)).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "slept /"));
    let mut access = String::new();
    bin.stdout.read_line(&mut access).unwrap();
    assert!(access.contains("\" 200 "), "{access}");
    let stderr = bin.stop();
    assert!(stderr.contains("drained in_flight=0"), "{stderr}");
}

/// The access line is the Common Log Format of Apache and gunicorn, with
/// the user a middleware authenticated.
#[test]
fn access_lines_have_the_clf_date_and_the_remote_user() {
    use std::io::BufRead;
    let dir = crate::support::temp_dir("access-user");
    let path = dir.join("gateway.toml");
    std::fs::write(
        &path,
        format!(
            "[middleware.auth]\nwasm = \"{}\"\nenv = {{ USERS = \"alice:wonder\" }}\n[apps.hello]\nwasm = \"{}\"\nroutes = [\"/\"]\nmiddleware = [\"auth\"]\n",
            wasm::BASIC_AUTH,
            wasm::HELLO
        ),
    )
    .unwrap();
    let mut bin = Binary::serve(path.to_str().unwrap(), &[]);
    let r = request_to(
        bin.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U6d29uZGVy\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let r = request_to(
        bin.addr,
        b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 401);
    let mut lines = [String::new(), String::new()];
    for line in &mut lines {
        bin.stdout.read_line(line).unwrap();
    }
    // 127.0.0.1 - alice [29/Nov/2026:20:41:18 +0000] "GET / HTTP/1.1" 200 13
    let line = lines[0].trim_end();
    assert!(line.starts_with("127.0.0.1 - alice ["), "{line}");
    assert!(line.ends_with("] \"GET / HTTP/1.1\" 200 13"), "{line}");
    let date = &line[line.find('[').unwrap() + 1..line.find(']').unwrap()];
    let bytes = date.as_bytes();
    assert_eq!(date.len(), "29/Nov/2026:20:41:18 +0000".len(), "{date}");
    assert_eq!(
        (bytes[2], bytes[6], bytes[11]),
        (b'/', b'/', b':'),
        "{date}"
    );
    assert!(date.ends_with(" +0000"), "{date}");
    assert!(lines[1].starts_with("127.0.0.1 - - ["), "{}", lines[1]);
    bin.stop();
}

/// `--access-log off` silences access lines only: a trap is still logged.
#[test]
fn access_log_off_keeps_every_other_log_line() {
    let get = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let bin = Binary::serve(wasm::TRAP, &["--access-log", "off"]);
    assert_eq!(request_to(bin.addr, get).status, 500);
    let (stdout, stderr) = bin.stop_with_output();
    assert_eq!(stdout, "", "no access line");
    assert!(stderr.contains("trapped"), "{stderr}");
    // And RUST_LOG naming only the access target no longer hides errors.
    let bin = Binary::spawn(
        &["serve", wasm::TRAP, "--listen", "127.0.0.1:0"],
        &[("RUST_LOG", "wasm_gateway::access=off")],
    );
    assert_eq!(request_to(bin.addr, get).status, 500);
    let (stdout, stderr) = bin.stop_with_output();
    assert_eq!(stdout, "", "no access line");
    assert!(stderr.contains("trapped"), "{stderr}");
}

/// The resident set of a process, in bytes (Linux).
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb << 10)
}

/// With nobody reading its stderr, a server logging at trace level (two
/// million lines as it compiles and serves) drops lines instead of queueing
/// them: requests are answered at once, memory stays bounded, the drops are
/// counted and reported, and a stop signal still ends it.
#[test]
fn a_stalled_log_reader_costs_dropped_lines_not_memory() {
    let bin = Binary::spawn(
        &[
            "serve",
            wasm::HELLO,
            "--listen",
            "127.0.0.1:0",
            "--no-cache",
        ],
        &[("RUST_LOG", "trace")],
    );
    for _ in 0..20 {
        let started = std::time::Instant::now();
        let r = request_to(
            bin.addr,
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(r.status, 200);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
    let rss = rss(bin.child.id());
    assert!(rss < 400 << 20, "{} MiB resident", rss >> 20);
    let started = std::time::Instant::now();
    let log = bin.stop();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "stopping took {:?}",
        started.elapsed()
    );
    assert!(
        log.contains("log lines were dropped in all because the log reader was too slow"),
        "{}",
        &log[log.len().saturating_sub(2000)..]
    );
}

/// Access lines for a reader that stopped reading stdout do not keep the
/// process from ending on SIGTERM: the writer blocked on the full pipe
/// holds stdout's lock, and the exit's flush gives up on it after a few
/// seconds instead of waiting forever.
#[test]
fn a_stalled_stdout_reader_does_not_hang_the_exit() {
    let mut bin = Binary::serve(wasm::HELLO, &[]);
    let conn = std::net::TcpStream::connect(bin.addr).unwrap();
    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    // More access lines than the pipe (64 KiB) and the writer's queue
    // (4096 lines) hold together.
    for _ in 0..6000 {
        conn.write_all(
            b"GET /a-long-enough-path-to-fill-the-pipe-sooner HTTP/1.1\r\nHost: h\r\n\r\n",
        )
        .unwrap();
        assert_eq!(read_response(&mut reader).unwrap().status, 200);
    }
    drop((conn, reader));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &bin.child.id().to_string()])
        .status();
    let started = std::time::Instant::now();
    let mut exited = None;
    while started.elapsed() < std::time::Duration::from_secs(20) {
        if let Some(status) = bin.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = exited.expect("the server did not exit within 20 s of SIGTERM");
    assert_eq!(status.code(), Some(0));
}
