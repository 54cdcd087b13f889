//! The `wasm-gateway` command line: start-up errors and what it prints.

use crate::support::{Binary, request_to};
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
    assert_one_line_error(&stderr, &file, "wasm-gateway:wsgi/application@0.1.0");
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
    // 127.0.0.1 - - [21/Nov/2026 12:00:00] "GET /some/path?x=1 HTTP/1.1" 200 13
    let line = line.trim_end();
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.ends_with("] \"GET /some/path?x=1 HTTP/1.1\" 200 13"),
        "{line}"
    );
    let date = &line["127.0.0.1 - - [".len()..line.find(']').unwrap()];
    assert_eq!(date.len(), "21/Nov/2026 12:00:00".len(), "{date}");
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
