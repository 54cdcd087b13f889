//! Each test fixture's behaviour: traps, contract breaks, streaming, isolation.
//! Each test is named after its fixture (see `main.rs`).

use crate::support::{Binary, TestServer, read_response, request_to, temp_dir};
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use wasm_gateway::Grants;
use wasm_gateway_test_artifacts as wasm;
use wasm_gateway_test_artifacts::{RESPOND, SLEEP};

// The `wasi:http` fixtures' tests live with the rest of that feature's.
pub use crate::proxy::{proxy_behaviours, proxy_hello, wsgi_fetch};
// So do the key-value fixture's.
pub use crate::kv::{kv, proxy_kv};

const INTERNAL_ERROR_PAGE: &str = "500 Internal Server Error\n";

#[test]
pub fn trap() {
    let server = TestServer::start(wasm::TRAP);
    for _ in 0..3 {
        let r = server.get("/");
        assert_eq!(r.status, 500);
        assert_eq!(
            r.text(),
            INTERNAL_ERROR_PAGE,
            "no internal detail reaches the client"
        );
    }
}

#[test]
fn trap_detail_goes_to_the_log_and_the_server_keeps_serving() {
    let bin = Binary::serve(wasm::TRAP, &[]);
    let r = request_to(
        bin.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 500);
    assert!(!r.text().contains("fixture panic"));
    let again = request_to(
        bin.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(again.status, 500, "still serving after a trap");
    let log = bin.stop();
    assert!(log.contains("fixture panic"), "trap detail logged:\n{log}");
    assert!(log.contains("trapped"), "{log}");
}

#[test]
pub fn counter() {
    // A fresh instance per request: the guest's global starts at 0 each time.
    let server = TestServer::start(wasm::COUNTER);
    for _ in 0..5 {
        assert_eq!(server.get("/").text(), "count=1");
    }
}

#[test]
pub fn stream() {
    // 64 MiB streamed through the real binary; its peak memory must stay far
    // below the body size.
    let bin = Binary::serve(wasm::STREAM, &[]);
    // A small request first (inside the helper), so one-time set-up
    // (runtime threads, allocator arenas, the instance pool's first slot) is
    // not counted as growth.
    let (r, total, growth_mib) = bin.stream_bytes(64 << 20);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(total, 64 << 20);
    assert!(
        growth_mib < 24,
        "host memory grew by {growth_mib} MiB while streaming 64 MiB"
    );
}

#[test]
pub fn body_before_start() {
    let server = TestServer::start(wasm::BODY_BEFORE_START);
    let r = server.get("/");
    assert_eq!((r.status, r.text().as_str()), (500, INTERNAL_ERROR_PAGE));
}

#[test]
pub fn no_start_response() {
    let server = TestServer::start(wasm::NO_START_RESPONSE);
    let r = server.get("/");
    assert_eq!((r.status, r.text().as_str()), (500, INTERNAL_ERROR_PAGE));
    // One fault, one error line, with or without instance reuse.
    for flags in [&[][..], &["--instance-reuse", "10"]] {
        let bin = Binary::serve(wasm::NO_START_RESPONSE, flags);
        let r = request_to(
            bin.addr,
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(r.status, 500);
        let log = bin.stop();
        let errors: Vec<_> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
        assert_eq!(errors.len(), 1, "{flags:?}: {log}");
        assert!(
            errors[0].contains("without calling start_response"),
            "{log}"
        );
    }
}

#[test]
pub fn app_error() {
    let bin = Binary::serve(wasm::APP_ERROR, &[]);
    let r = request_to(
        bin.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((r.status, r.text().as_str()), (500, INTERNAL_ERROR_PAGE));
    let log = bin.stop();
    assert!(log.contains("fixture error"), "app error logged:\n{log}");
}

#[test]
pub fn echo() {
    let server = TestServer::start(wasm::ECHO);
    let body: Vec<u8> = (0..(3 << 20)).map(|i| (i % 251) as u8).collect();
    // With a Content-Length...
    let mut raw = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    let r = server.request(&raw);
    assert_eq!(r.status, 200);
    assert!(
        r.body == body,
        "echoed {} bytes of {}",
        r.body.len(),
        body.len()
    );
    // ...and chunked, sent in pieces while the response streams back.
    let conn = server.connect();
    let mut writer = conn.try_clone().unwrap();
    let sender = std::thread::spawn({
        let body = body.clone();
        move || {
            writer
                .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                .unwrap();
            for piece in body.chunks(100_000) {
                writer
                    .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                    .unwrap();
                writer.write_all(piece).unwrap();
                writer.write_all(b"\r\n").unwrap();
            }
            writer.write_all(b"0\r\n\r\n").unwrap();
        }
    });
    let r = crate::support::read_response(&mut BufReader::new(conn)).unwrap();
    sender.join().unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.body == body,
        "echoed {} bytes of {}",
        r.body.len(),
        body.len()
    );
}

#[test]
pub fn late_start() {
    let server = TestServer::start(wasm::LATE_START);
    let r = server.get("/");
    assert_eq!((r.status, r.text().as_str()), (200, "late"));
}

#[test]
pub fn bad_header() {
    let server = TestServer::start(wasm::BAD_HEADER);
    let r = server.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text().lines().collect::<Vec<_>>(),
        [
            "invalid-header",
            "hop-by-hop-header",
            "invalid-status",
            "invalid-header"
        ]
    );
    assert!(
        r.header("x-bad").is_none(),
        "a refused header never reaches the client"
    );
}

#[test]
pub fn exc_info() {
    let server = TestServer::start(wasm::EXC_INFO);
    let r = server.get("/");
    assert_eq!((r.status, r.text().as_str()), (500, "replaced"));
}

#[test]
pub fn write_legacy() {
    let server = TestServer::start(wasm::WRITE_LEGACY);
    let r = server.get("/");
    assert_eq!((r.status, r.text().as_str()), (200, "first,second"));
}

#[test]
fn a_client_that_leaves_mid_stream_does_not_stop_the_server() {
    let server = TestServer::start(wasm::STREAM);
    let mut conn = server.connect();
    conn.write_all(b"GET /?bytes=1073741824 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0; 4096];
    conn.read_exact(&mut buf).unwrap();
    drop(conn);
    let r = server.get("/?bytes=10");
    assert_eq!((r.status, r.text().as_str()), (200, "xxxxxxxxxx"));
}

#[test]
fn http_1_0_responses_are_close_delimited() {
    let server = TestServer::start(wasm::STREAM);
    let r = server.request("GET /?bytes=100000 HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(r.header("transfer-encoding").is_none());
    assert_eq!(r.body.len(), 100_000);
}

#[test]
pub fn wrong_length() {
    let server = TestServer::start(wasm::WRONG_LENGTH);
    // Declared too short: exactly the declared bytes go out, and the
    // connection stays in step (the next response on it parses cleanly).
    let conn = server.connect();
    let mut writer = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    writer
        .write_all(b"GET /?declared=5 HTTP/1.1\r\nHost: x\r\n\r\nGET /?declared=10 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let first = crate::support::read_response(&mut reader).unwrap();
    assert_eq!((first.status, first.text().as_str()), (200, "01234"));
    let second = crate::support::read_response(&mut reader).unwrap();
    assert_eq!((second.status, second.text().as_str()), (200, "0123456789"));

    // Declared too long: the connection closes (read_to_end returns rather
    // than waiting for bytes that never come) and the client never sees a
    // complete response.
    let mut conn = server.connect();
    conn.write_all(b"GET /?declared=20 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let body_len = text
        .split_once("\r\n\r\n")
        .map_or(0, |(_, body)| body.len());
    assert!(
        body_len < 20,
        "an incomplete body must not pass as complete: {text:?}"
    );

    // Not a number: refused at start_response.
    let r = server.get("/?declared=abc");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "refused: invalid-header")
    );
}

#[test]
pub fn close_on_disconnect() {
    let bin = Binary::serve(wasm::CLOSE_ON_DISCONNECT, &[]);
    let mut conn = std::net::TcpStream::connect(bin.addr).unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = vec![0; 256 * 1024];
    conn.read_exact(&mut buf).unwrap();
    drop(conn);
    // The server notices, the guest's next write fails, and its body is
    // closed well within a second; the log says so once the server stops.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let stderr = bin.stop();
    assert!(
        stderr.contains("fixture body closed"),
        "close() ran:\n{stderr}"
    );
}

/// 204 and 304 carry no body even when the app gives one; HEAD gets the
/// headers only but still runs the app and closes its body; Date and
/// Server appear once each, the app's own winning.
#[test]
pub fn respond() {
    let server = TestServer::start(RESPOND);
    let mut conn = server.connect();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    for (query, status) in [
        ("status=204+No+Content&body=ignored", 204),
        ("status=304+Not+Modified&body=ignored", 304),
    ] {
        conn.write_all(format!("GET /?{query} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
            .unwrap();
        let r = read_response(&mut reader).unwrap();
        assert_eq!(r.status, status);
        assert!(r.body.is_empty());
        assert_eq!(r.header("transfer-encoding"), None);
    }
    // The same connection still frames the next response correctly, so no
    // stray body bytes were written after the 204 or 304.
    conn.write_all(b"GET /?body=next HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let r = read_response(&mut reader).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "next"));
    assert_eq!(r.headers.iter().filter(|(n, _)| n == "date").count(), 1);
    assert_eq!(r.headers.iter().filter(|(n, _)| n == "server").count(), 1);
    assert!(r.header("server").unwrap().starts_with("wasm-gateway/"));

    let r = server.get("/?header=Server:app/1.0&header=Date:Mon,+01+Jan+2024+00:00:00+GMT&body=x");
    let count = |name: &str| r.headers.iter().filter(|(n, _)| n == name).count();
    assert_eq!((count("server"), count("date")), (1, 1));
    assert_eq!(r.header("server"), Some("app/1.0"));
    assert_eq!(r.header("date"), Some("Mon, 01 Jan 2024 00:00:00 GMT"));
}

#[test]
fn head_sends_headers_only_but_runs_the_app_and_closes_it() {
    let binary = Binary::serve(RESPOND, &[]);
    let mut conn = TcpStream::connect(binary.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn.write_all(b"HEAD /?body=hello HTTP/1.1\r\nHost: h\r\n\r\nGET /?body=after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    // The HEAD response announces the body's length but sends none: the next
    // bytes are the second response's status line.
    let (head_response, rest) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head_response.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(rest.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(rest.ends_with("after"), "{raw}");
    let stderr = binary.stop();
    assert_eq!(stderr.matches("respond closed").count(), 2, "{stderr}");
}

/// A request still being served is not an idle connection: the keep-alive
/// timer only runs between requests.
#[test]
pub fn sleep() {
    let server = TestServer::with_limits(SLEEP, |limits| {
        limits.keep_alive_timeout = Duration::from_millis(200);
    });
    let mut conn = server.connect();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    conn.write_all(b"GET /one?ms=600 HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let r = read_response(&mut reader).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "slept /one"));
    // Idle past the keep-alive timeout: the server closes without a word.
    std::thread::sleep(Duration::from_millis(800));
    let _ = conn.write_all(b"GET /two?ms=0 HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}

/// The fixtures really run under the validator: a response the host would
/// pass but wsgiref's checks refuse becomes a 500 with the reason logged.
#[test]
pub fn no_content_type() {
    let binary = Binary::serve(wasm::NO_CONTENT_TYPE, &[]);
    let response = request_to(
        binary.addr,
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 500);
    let stderr = binary.stop();
    assert!(stderr.contains("wsgi validator:"), "{stderr}");
    assert!(stderr.contains("Content-Type"), "{stderr}");
}

#[test]
pub fn restart() {
    let server = TestServer::start(wasm::RESTART);
    let r = server.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "sent\nalready-started\nheaders-sent\n");
}

/// A guest that never yields is stopped at its deadline: 504, logged, and
/// the server goes on serving.
#[test]
pub fn spin() {
    let binary = Binary::serve(wasm::SPIN, &["--timeout", "300ms"]);
    let get = || {
        request_to(
            binary.addr,
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        )
    };
    assert_eq!(get().status, 504);
    assert_eq!(get().status, 504, "the runtime thread was not pinned");
    let stderr = binary.stop();
    assert!(stderr.contains("deadline"), "{stderr}");
}

/// A guest that allocates without end hits its memory limit and traps.
#[test]
pub fn hog() {
    let server = TestServer::with_config(wasm::HOG, |app| app.memory = 16 << 20);
    assert_eq!(server.get("/").status, 500);
    assert_eq!(server.get("/").status, 500);
}

/// Unbounded recursion overflows the guest's stack: a trap, 500.
#[test]
pub fn recurse() {
    let server = TestServer::start(wasm::RECURSE);
    assert_eq!(server.get("/").status, 500);
}

/// A 1 MiB response header is refused at the call.
#[test]
pub fn big_header() {
    let server = TestServer::start(wasm::BIG_HEADER);
    let r = server.get("/");
    assert_eq!((r.status, r.text().as_str()), (200, "invalid-header"));
    assert!(r.header("x-huge").is_none());
}

/// Grants, and nothing more: with a read-only directory, an environment
/// variable and trapping stubs for the rest, the app reads the directory,
/// writes nothing, sees nothing outside it, sees only the granted variable
/// (not the host's environment), and its socket call traps (500). Without
/// grants the component is refused at load (see `isolation.rs`).
#[test]
pub fn sandbox() {
    let dir = temp_dir("sandbox-grant");
    std::fs::write(dir.join("hello.txt"), "granted\n").unwrap();
    let server = TestServer::with_config(wasm::SANDBOX, |app| {
        app.grants = Grants {
            env: vec![("GREETING".into(), "hi".into())],
            dirs: Some(vec![("/data".into(), dir.clone())]),
            trap_unknown_imports: true,
            ..Grants::default()
        };
    });
    let answer = |query: &str| {
        let r = server.get(&format!("/?{query}"));
        (r.status, r.text())
    };
    assert_eq!(
        answer("do=read&path=/data/hello.txt"),
        (200, "allowed: granted\n\n".into())
    );
    assert_eq!(
        answer("do=list&path=/data"),
        (200, "allowed: hello.txt\n".into())
    );
    for escape in [
        "do=read&path=/etc/passwd",
        "do=read&path=/data/../../../etc/passwd",
        "do=list&path=/",
        "do=create&path=/data/new.txt",
        "do=create&path=/tmp/new.txt",
    ] {
        let (status, text) = answer(escape);
        assert_eq!(status, 200, "{escape}");
        assert!(text.starts_with("denied"), "{escape}: {text}");
    }
    assert!(!dir.join("new.txt").exists());
    assert_eq!(answer("do=env"), (200, "env: GREETING=hi\n".into()));
    assert_eq!(answer("do=connect").0, 500);
    // The trap took only its own instance.
    assert_eq!(answer("do=env").0, 200);
}

/// stdout and stderr are discarded unless granted; granted, every line
/// reaches the log tagged with the app, the request and the stream, and a
/// last line without a newline is not lost.
#[test]
pub fn chatty() {
    let quiet = Binary::serve(wasm::CHATTY, &[]);
    let r = request_to(
        quiet.addr,
        b"GET /?out=2&err=2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    let log = quiet.stop();
    assert!(
        !log.contains("out line") && !log.contains("err line"),
        "{log}"
    );

    let loud = Binary::serve(wasm::CHATTY, &["--stdout", "--stderr"]);
    let r = request_to(
        loud.addr,
        b"GET /?out=2&err=1&tail=bye HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let log = loud.stop();
    for (text, stream) in [
        ("out line 0", "stdout"),
        ("out line 1", "stdout"),
        ("err line 0", "stderr"),
        ("bye", "stdout"),
    ] {
        let line = log
            .lines()
            .find(|l| l.contains(&format!("wasm_gateway::app: {text} ")))
            .unwrap_or_else(|| panic!("no {text:?} in the log: {log}"));
        assert!(line.contains("app=chatty"), "{line}");
        assert!(line.contains("request=1"), "{line}");
        assert!(line.contains(&format!("stream=\"{stream}\"")), "{line}");
    }
}

/// A middleware that traps, before or after calling the next layer: 500,
/// and the next request passes through it again (more in `middleware.rs`).
#[test]
pub fn mw_panic() {
    let bin = Binary::serve(wasm::HELLO, &["--middleware", wasm::MW_PANIC]);
    let get = |target: &str| {
        request_to(
            bin.addr,
            format!("GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    };
    assert_eq!(get("/?boom").status, 500);
    assert_eq!(get("/?late-boom").status, 500);
    let r = get("/");
    assert_eq!((r.status, r.header("x-passed")), (200, Some("mw_panic")));
    let log = bin.stop();
    assert!(log.contains("mw_panic asked to panic"), "{log}");
    assert!(log.contains("app=mw_panic"), "{log}");
}

/// Guest-controlled text never reaches the client's status line or the log
/// at full size: a reason phrase over 512 bytes is refused, refused
/// `start_response` calls are logged within the app's log budget and cut
/// to one 8 KiB line, and so is an application error of 16 MiB; and one
/// host call carries at most 16 MiB.
#[test]
pub fn hostile_text() {
    let bin = Binary::serve(wasm::HOSTILE_TEXT, &[]);
    let get = |target: &str| {
        request_to(
            bin.addr,
            format!("GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    };
    let r = get("/?reason=1048576");
    assert_eq!((r.status, r.text().as_str()), (200, "invalid-status"));
    let r = get(&format!("/?reason={}", 512));
    assert_eq!((r.status, r.text().as_str()), (200, "accepted"));
    // 3,000 refusals quoting a 60 KiB header name: 180 MB of log unbounded.
    let r = get("/?refusals=3000&name=61440");
    assert_eq!(r.status, 200);
    assert_eq!(get("/?error=16777216").status, 500);
    // One host call may carry 16 MiB at most: a 20 MiB message traps.
    assert_eq!(get("/?log=4194304").status, 200);
    assert_eq!(get("/?log=20971520").status, 500);
    let log = bin.stop();
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 9 << 10, "a log line of {longest} bytes");
    assert!(log.len() < 12 << 20, "{} bytes of log", log.len());
    let refusals = log.matches("start_response refused").count();
    assert!(
        (1000..2000).contains(&refusals),
        "{refusals} refusals logged"
    );
    assert!(
        log.contains("the application failed: eeee"),
        "the app error is logged"
    );
    assert!(log.contains("bytes, cut)"), "cut lines say so");
}

/// A guest asking `wasi:random` for huge amounts: one call is bounded (a
/// 32 MiB call traps at once), a guest looping on 1 MiB calls still meets
/// its deadline, and an app beside it keeps answering.
#[test]
pub fn random_hog() {
    let dir = temp_dir("random-hog");
    let server = crate::support::serve_toml(
        &dir,
        &format!(
            "[apps.hog]\nwasm = \"{}\"\nroutes = [\"/hog\"]\n[apps.hog.limits]\ntimeout = \"2s\"\nconcurrency = 4\n\n[apps.hello]\nwasm = \"{}\"\nroutes = [\"/\"]\n",
            wasm::RANDOM_HOG,
            wasm::HELLO
        ),
    );
    let addr = server.addr;
    let timed = move |target: &'static str| {
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let r = request_to(
                addr,
                format!("GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
            );
            (r.status, started.elapsed())
        })
    };
    let big = timed("/hog?mib=32&calls=1");
    let hogs: Vec<_> = (0..4).map(|_| timed("/hog?mib=1")).collect();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        let (status, took) = timed("/").join().unwrap();
        assert_eq!(status, 200);
        assert!(took < Duration::from_millis(1500), "hello took {took:?}");
    }
    let (status, took) = big.join().unwrap();
    assert_eq!(status, 500, "a call over the bound traps");
    assert!(took < Duration::from_secs(1), "{took:?}");
    for hog in hogs {
        let (status, took) = hog.join().unwrap();
        assert_eq!(status, 504);
        assert!(
            took < Duration::from_millis(3500),
            "the 2 s deadline held at {took:?}"
        );
    }
}
