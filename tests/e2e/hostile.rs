//! Hostile and broken clients: configurable limits, slow clients, bodies
//! over the maximum, `Expect: 100-continue`, pipelining, and a slowloris
//! crowd that must not keep a normal client out. (The table of malformed
//! requests is in `corpus.rs`.)

use crate::support::{Binary, TestServer, read_response};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use wasm_gateway_test_artifacts::{ENVIRON, HELLO, RESPOND, SLEEP};

/// Reads until the server closes; panics if it does not within the read
/// timeout.
fn read_until_closed(conn: &mut impl Read) -> Vec<u8> {
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest)
        .expect("the server closes the connection");
    rest
}

#[test]
fn head_limits_are_configurable() {
    let server = TestServer::with_limits(ENVIRON, |limits| {
        limits.max_request_line = 100;
        limits.max_header_count = 5;
        limits.max_header_field = 50;
    });
    let line = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(100));
    assert_eq!(server.request(line).status, 414);
    let ok = format!(
        "GET /{} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "a".repeat(80)
    );
    assert_eq!(server.request(ok).status, 200);

    let fields: String = (0..5).map(|i| format!("X-{i}: 1\r\n")).collect();
    let six = format!("GET / HTTP/1.1\r\nHost: h\r\n{fields}\r\n");
    assert_eq!(server.request(six).status, 431);
    let field = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "v".repeat(50));
    assert_eq!(server.request(field).status, 431);
}

#[test]
fn refusals_are_logged_and_access_logged() {
    let mut binary = Binary::serve(HELLO, &[]);
    let mut conn = TcpStream::connect(binary.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nHost : h\r\n\r\n")
        .unwrap();
    let response = read_response(&mut BufReader::new(&mut conn)).unwrap();
    assert_eq!(response.status, 400);
    assert_eq!(response.header("connection"), Some("close"));
    let mut access = String::new();
    binary.stdout.read_line(&mut access).unwrap();
    assert!(access.contains("\"GET / HTTP/1.1\" 400 "), "{access}");
    let stderr = binary.stop();
    assert!(
        stderr.contains("refused a request: whitespace between a header name and its colon"),
        "{stderr}"
    );
}

#[test]
fn a_slow_head_gets_408_and_the_connection_closes() {
    let server = TestServer::with_limits(HELLO, |limits| {
        limits.header_timeout = Duration::from_millis(300);
    });
    let mut conn = server.connect();
    conn.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n").unwrap();
    let response = read_response(&mut BufReader::new(&mut conn)).unwrap();
    assert_eq!(response.status, 408);
    assert!(read_until_closed(&mut conn).is_empty());
}

#[test]
fn an_idle_connection_is_closed_without_a_response() {
    let server = TestServer::with_limits(HELLO, |limits| {
        limits.keep_alive_timeout = Duration::from_millis(200);
    });
    // Idle from the start: closed, nothing written.
    let mut conn = server.connect();
    assert!(read_until_closed(&mut conn).is_empty());

    // Idle after a request: the first response, then the close.
    let mut conn = server.connect();
    conn.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(conn);
    assert_eq!(read_response(&mut reader).unwrap().status, 200);
    assert!(read_until_closed(&mut reader).is_empty());
}

#[test]
fn a_slow_body_gets_408() {
    let server = TestServer::with_limits(ENVIRON, |limits| {
        limits.body_timeout = Duration::from_millis(300);
    });
    let mut conn = server.connect();
    conn.write_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    let response = read_response(&mut BufReader::new(&mut conn)).unwrap();
    assert_eq!(response.status, 408);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(read_until_closed(&mut conn).is_empty());
}

#[test]
fn a_chunked_body_over_the_maximum_is_cut_with_413() {
    let server = TestServer::with_config(ENVIRON, |app| app.max_body = 1000);
    let mut conn = server.connect();
    conn.write_all(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    // Up to the limit is fine; the chunk that crosses it ends the request.
    let chunk = format!("200\r\n{}\r\n", "x".repeat(0x200));
    for _ in 0..3 {
        if conn.write_all(chunk.as_bytes()).is_err() {
            break;
        }
    }
    let response = read_response(&mut BufReader::new(&mut conn)).unwrap();
    assert_eq!(response.status, 413);
    assert_eq!(response.header("connection"), Some("close"));

    // A body exactly at the limit passes.
    let body = "y".repeat(1000);
    let request = format!(
        "POST / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n{body}"
    );
    let response = server.request(request);
    assert_eq!(response.status, 200);
    assert!(response.text().contains("BODY_LEN=1000"));
}

#[test]
fn an_oversized_declared_body_gets_413_without_100_continue() {
    let server = TestServer::with_config(ENVIRON, |app| app.max_body = 1000);
    let mut conn = server.connect();
    conn.write_all(
        b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1001\r\n\r\n",
    )
    .unwrap();
    // The answer comes without the client sending a byte of the body, and
    // is the final one: no interim 100.
    let mut reader = BufReader::new(&mut conn);
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert_eq!(first, "HTTP/1.1 413 Payload Too Large\r\n");
}

#[test]
fn expect_100_continue_is_answered_on_the_first_read() {
    let server = TestServer::start(ENVIRON);
    let mut conn = server.connect();
    conn.write_all(
        b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    // The app reads the body, so the server asks for it before we send it.
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    let mut blank = String::new();
    reader.read_line(&mut blank).unwrap();
    assert_eq!(blank, "\r\n");
    conn.write_all(b"hello").unwrap();
    let response = read_response(&mut reader).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.text().contains("BODY_LEN=5"));
}

#[test]
fn expect_100_continue_is_not_sent_when_the_app_never_reads() {
    let server = TestServer::start(HELLO);
    let mut conn = server.connect();
    conn.write_all(
        b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut reader = BufReader::new(&mut conn);
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert_eq!(
        first, "HTTP/1.1 200 OK\r\n",
        "the final response, no 100 before it"
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start(SLEEP);
    let mut conn = server.connect();
    // The first takes longest; answers must still come back in order.
    conn.write_all(
        b"GET /first?ms=300 HTTP/1.1\r\nHost: h\r\n\r\n\
          GET /second?ms=0 HTTP/1.1\r\nHost: h\r\n\r\n\
          GET /third?ms=100 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut reader = BufReader::new(conn);
    for path in ["/first", "/second", "/third"] {
        let response = read_response(&mut reader).unwrap();
        assert_eq!(response.text(), format!("slept {path}"));
    }
}

#[test]
fn a_refused_request_in_a_pipeline_is_answered_after_the_good_ones() {
    let server = TestServer::start(ENVIRON);
    let mut conn = server.connect();
    conn.write_all(
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\
          POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz\
          GET /c HTTP/1.1\r\nHost : h\r\n\r\n\
          GET /d HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    .unwrap();
    let mut reader = BufReader::new(conn);
    let first = read_response(&mut reader).unwrap();
    assert!(first.text().contains("PATH_INFO=/a\n"));
    let second = read_response(&mut reader).unwrap();
    assert!(second.text().contains("PATH_INFO=/b\n"));
    assert!(second.text().contains("BODY_LEN=3\n"));
    let third = read_response(&mut reader).unwrap();
    assert_eq!(third.status, 400);
    // Nothing after the refused request is served.
    assert!(read_until_closed(&mut reader).is_empty());
}

#[test]
fn a_slowloris_crowd_does_not_keep_a_normal_client_out() {
    // Two descriptors per connection in this process (client and server).
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let server = TestServer::start(HELLO);
    let mut crowd = Vec::new();
    for _ in 0..1000 {
        let mut conn = TcpStream::connect(server.addr).unwrap();
        // A head that never ends, a byte at a time.
        conn.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ")
            .unwrap();
        crowd.push(conn);
    }
    for conn in &mut crowd {
        let _ = conn.write_all(b"a");
    }
    let response = server.get("/");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "Hello, world!");
    // The crowd is still connected (nobody was dropped to make room).
    let mut probe = [0u8; 1];
    crowd[0].set_nonblocking(true).unwrap();
    assert!(matches!(
        crowd[0].read(&mut probe),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
    ));
}

#[test]
fn a_slow_reader_gets_the_whole_response_despite_the_keep_alive_timer() {
    let server = TestServer::with_limits(RESPOND, |limits| {
        limits.keep_alive_timeout = Duration::from_millis(200);
    });
    let mut conn = server.connect();
    // 8 MiB in one chunk: hyper holds it after the app is done, and the
    // client takes well over the keep-alive timeout to read it.
    conn.write_all(b"GET /?body=x&repeat=8388608 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut total = 0;
    let mut buf = vec![0; 256 * 1024];
    loop {
        std::thread::sleep(Duration::from_millis(10));
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(err) => panic!("after {total} bytes: {err}"),
        }
    }
    assert!(total > 8 << 20, "only {total} bytes arrived");
}

#[test]
fn a_client_that_stops_reading_is_dropped_after_the_send_timeout() {
    let server = TestServer::with_limits(RESPOND, |limits| {
        limits.send_timeout = Duration::from_millis(300);
    });
    let mut conn = server.connect();
    conn.write_all(b"GET /?body=x&repeat=67108864 HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // The server gave up: reading now drains what was buffered and then
    // ends (or is reset), instead of waiting for the remaining 64 MiB.
    let mut total = 0;
    let mut buf = vec![0; 1 << 20];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(err) => panic!("after {total} bytes: {err}"),
        }
    }
    assert!(total < 64 << 20, "{total} bytes: the whole body went out");
}

#[test]
fn connections_over_the_limit_wait_until_one_closes() {
    let server = TestServer::with_limits(HELLO, |limits| limits.max_connections = 2);
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut conn = server.connect();
            conn.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n").unwrap();
            conn
        })
        .collect();
    // Give the server time to accept both.
    std::thread::sleep(Duration::from_millis(200));
    let mut third = server.connect();
    third
        .write_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut byte = [0u8; 1];
    let waiting = third.read(&mut byte);
    assert!(
        matches!(&waiting, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "the third connection was served while two were open: {waiting:?}"
    );
    // One held connection goes away: the third is accepted and served.
    drop(held.pop());
    third
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let response = read_response(&mut BufReader::new(third)).unwrap();
    assert_eq!(response.text(), "Hello, world!");
}

#[test]
fn an_app_at_its_concurrency_cap_queues_then_answers_503_with_retry_after() {
    let server = TestServer::with_config(SLEEP, |app| {
        app.concurrency = 1;
        app.queue = 1;
        app.queue_timeout = Duration::from_millis(300);
    });
    let send = |target: &str| {
        let mut conn = server.connect();
        conn.write_all(
            format!("GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        conn
    };
    // One runs for a while...
    let running = send("/running?ms=1500");
    std::thread::sleep(Duration::from_millis(200));
    // ...one waits in the queue (and gives up after 300 ms)...
    let queued = send("/queued?ms=0");
    std::thread::sleep(Duration::from_millis(100));
    // ...and one more finds the queue full: 503 at once.
    let refused = read_response(&mut BufReader::new(send("/refused?ms=0"))).unwrap();
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    let queued = read_response(&mut BufReader::new(queued)).unwrap();
    assert_eq!(queued.status, 503);
    assert!(queued.header("retry-after").is_some());
    let running = read_response(&mut BufReader::new(running)).unwrap();
    assert_eq!(running.text(), "slept /running");
    // The slot is free again.
    assert_eq!(server.get("/after?ms=0").text(), "slept /after");
}

/// A TLS handshake or the HTTP/2 preface on the plain port is refused the
/// moment it arrives (not after the 30 s header timeout), and the log says
/// what it looks like.
#[test]
fn other_protocols_are_refused_at_once_and_named_in_the_log() {
    let binary = Binary::serve(HELLO, &[]);
    let started = std::time::Instant::now();
    for hello in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ] {
        let mut conn = TcpStream::connect(binary.addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        conn.write_all(hello).unwrap();
        let response = read_response(&mut BufReader::new(&mut conn)).unwrap();
        assert!(matches!(response.status, 400 | 505), "{}", response.status);
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered as the bytes arrived, not at the header timeout"
    );
    let stderr = binary.stop();
    assert!(
        stderr.contains("a TLS handshake on a plain-HTTP port"),
        "{stderr}"
    );
    assert!(stderr.contains("HTTP/2 with prior knowledge"), "{stderr}");
}

/// `"` in a target used to be refused by hyper with a bare 400 and no log
/// line; it is served now, and access-logged.
#[test]
fn a_quote_in_the_target_is_served_and_logged() {
    let mut binary = Binary::serve(ENVIRON, &[]);
    let r = crate::support::request_to(
        binary.addr,
        b"GET /with_\"quotes\" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains("PATH_INFO=/with_\"quotes\""),
        "{}",
        r.text()
    );
    let mut access = String::new();
    binary.stdout.read_line(&mut access).unwrap();
    assert!(
        access.contains("\"GET /with_%22quotes%22 HTTP/1.1\" 200 "),
        "{access}"
    );
    binary.stop();
}

/// A client that stops sending in the middle of its declared body (and
/// half-closes) hears 400: its fault, not the application's 500.
#[test]
fn a_body_cut_short_by_the_client_gets_400() {
    let binary = Binary::serve(ENVIRON, &[]);
    let mut conn = TcpStream::connect(binary.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn.write_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabcd")
        .unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let response = read_response(&mut BufReader::new(&mut conn)).unwrap();
    assert_eq!(response.status, 400);
    let stderr = binary.stop();
    assert!(
        stderr.contains("ended before it was complete: the client stopped sending"),
        "{stderr}"
    );
    assert!(!stderr.contains("ERROR"), "not the app's fault: {stderr}");
}

/// Response header names go out as the application wrote them, as
/// gunicorn, waitress and wsgiref send them; names the host adds are
/// Title-Case. Also through a middleware, whose headers and challenge
/// keep their spelling.
#[test]
fn header_names_keep_the_applications_spelling() {
    let server = TestServer::start(RESPOND);
    let mut conn = server.connect();
    conn.write_all(
        b"GET /?header=ETag:abc&header=x-lower:1&header=Content-Type:text/plain&header=X-XSS-Protection:0&body=hi HTTP/1.1\r\nHost: h\r\n\r\n\
HEAD /?header=WWW-Authenticate:Basic&header=Content-Type:text/plain&body=hello HTTP/1.1\r\nHost: h\r\n\r\n\
GET /?header=ETag:second&body=ok HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let raw = String::from_utf8(read_until_closed(&mut conn)).unwrap();
    for line in [
        "\r\nETag: abc\r\n",
        "\r\nx-lower: 1\r\n",
        "\r\nContent-Type: text/plain\r\n",
        "\r\nX-XSS-Protection: 0\r\n",
        "\r\nWWW-Authenticate: Basic\r\n",
        "\r\nETag: second\r\n",
        "\r\nContent-Length: 2\r\n",
        "\r\nServer: wasm-gateway/",
    ] {
        assert!(raw.contains(line), "{line:?} in {raw}");
    }
    assert_eq!(raw.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{raw}");
    // The last body is framed by its length, or chunked when it was not
    // whole yet as the head went out (under load): the same two bytes.
    assert!(
        raw.ends_with("\r\n\r\nok") || raw.ends_with("\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
        "{raw}"
    );
}

/// A component of eleven core instances with a memory each is refused at
/// load, in one line naming the cap and how to raise it.
#[test]
fn a_component_with_many_memories_is_refused_at_load() {
    let dir = crate::support::temp_dir("many-memories");
    let wasm = dir.join("many_memories.wasm");
    let wat = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/hostile/many_memories.wat"
    );
    std::fs::write(&wasm, wat::parse_file(wat).unwrap()).unwrap();
    let wasm = wasm.to_str().unwrap();
    let check = |extra: &[&str]| {
        let (code, _, stderr) = crate::support::run(&[&["check", wasm][..], extra].concat());
        (code, stderr)
    };
    let (code, stderr) = check(&[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("11 Wasm linear memories") && stderr.contains("max-component-memories"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // `check` takes the server's flags too: with the cap raised it passes
    // that check, and fails on the next one (it is no application).
    let (code, stderr) = check(&["--max-component-memories", "16"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("exports neither"), "{stderr}");
}
