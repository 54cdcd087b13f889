//! What an operator reads: the access line in each `--access-log` format,
//! parsed field by field, hostile header values that must not forge a
//! field or a line, and `--log-format json` for the server's own log.

use crate::support::{Binary, request_to};
use serde_json::Value;
use std::io::BufRead;
use wasm_gateway_test_artifacts as wasm;

/// Reads the next access line from the server's stdout.
fn next_line(bin: &mut Binary) -> String {
    let mut line = String::new();
    bin.stdout.read_line(&mut line).unwrap();
    assert!(line.ends_with('\n'), "a whole line: {line:?}");
    line.pop();
    line
}

/// Splits a text access line into its fields: `[...]` and `"..."` are one
/// field each (a backslash escapes the next character inside quotes), the
/// rest are separated by single spaces. Quoted fields come back without
/// their quotes, escapes left as they are.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        let mut field = String::new();
        match c {
            '"' => {
                chars.next();
                loop {
                    match chars.next().expect("an unterminated quoted field") {
                        '"' => break,
                        '\\' => {
                            field.push('\\');
                            field.push(chars.next().expect("an escape"));
                        }
                        c => field.push(c),
                    }
                }
            }
            '[' => {
                chars.next();
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    field.push(c);
                }
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    if c == ' ' {
                        break;
                    }
                    field.push(c);
                    chars.next();
                }
            }
        }
        out.push(field);
        match chars.next() {
            None => break,
            Some(' ') => {}
            Some(other) => panic!("fields are separated by one space, got {other:?} in {line:?}"),
        }
    }
    out
}

/// Checks a CLF date, `29/Nov/2026:20:41:18 +0000`.
fn assert_clf_date(date: &str) {
    let bytes = date.as_bytes();
    assert_eq!(date.len(), "29/Nov/2026:20:41:18 +0000".len(), "{date}");
    assert_eq!(
        (bytes[2], bytes[6], bytes[11]),
        (b'/', b'/', b':'),
        "{date}"
    );
    assert!(date.ends_with(" +0000"), "{date}");
}

/// Checks an RFC 3339 UTC time with milliseconds (or microseconds) and
/// that it is within a minute of now.
fn assert_rfc3339_now(time: &str) {
    let b = time.as_bytes();
    assert!(time.ends_with('Z'), "{time}");
    assert_eq!(
        (b[4], b[7], b[10], b[13], b[16], b[19]),
        (b'-', b'-', b'T', b':', b':', b'.'),
        "{time}"
    );
    let frac = &time[20..time.len() - 1];
    assert!(
        matches!(frac.len(), 3 | 6) && frac.bytes().all(|c| c.is_ascii_digit()),
        "{time}"
    );
    let n = |range: std::ops::Range<usize>| time[range].parse::<u32>().unwrap();
    let date = time::Date::from_calendar_date(
        n(0..4) as i32,
        time::Month::try_from(n(5..7) as u8).unwrap(),
        n(8..10) as u8,
    )
    .unwrap();
    let at = date
        .with_hms(n(11..13) as u8, n(14..16) as u8, n(17..19) as u8)
        .unwrap()
        .assume_utc()
        .unix_timestamp();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - at).abs() < 60, "{time} is not now");
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

const GET: &[u8] = b"GET /some/path?x=1 HTTP/1.1\r\nHost: x\r\nReferer: https://example.org/from?a=1\r\nUser-Agent: curl/8.5.0\r\nConnection: close\r\n\r\n";

/// `common` is the Common Log Format, exactly what the access log printed
/// before it had formats; `on`, its old name, is the same.
#[test]
fn access_log_common_is_clf_and_on_still_means_it() {
    for format in ["common", "on"] {
        let mut bin = Binary::serve(wasm::HELLO, &["--access-log", format]);
        assert_eq!(request_to(bin.addr, GET).status, 200);
        let line = next_line(&mut bin);
        let f = fields(&line);
        // 127.0.0.1 - - [29/Nov/2026:20:41:18 +0000] "GET /some/path?x=1 HTTP/1.1" 200 13
        assert_eq!(f.len(), 7, "{format}: {line}");
        assert_eq!(&f[..3], ["127.0.0.1", "-", "-"], "{line}");
        assert_clf_date(&f[3]);
        assert_eq!(
            &f[4..],
            ["GET /some/path?x=1 HTTP/1.1", "200", "13"],
            "{line}"
        );
        bin.stop();
    }
}

/// `combined` is nginx's combined format (the referer and the user agent,
/// quoted) with the request number and the X-Request-Id after it.
#[test]
fn access_log_combined_adds_referer_user_agent_and_the_ids() {
    let mut bin = Binary::serve(wasm::HELLO, &["--access-log", "combined"]);
    assert_eq!(request_to(bin.addr, GET).status, 200);
    let with_id =
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: 3f2a-proxy:7\r\nConnection: close\r\n\r\n";
    let r = request_to(bin.addr, with_id);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), None, "the host sends none");
    for (n, (request, referer, agent, xid)) in [
        (
            "GET /some/path?x=1 HTTP/1.1",
            "https://example.org/from?a=1",
            "curl/8.5.0",
            "-",
        ),
        ("GET / HTTP/1.1", "-", "-", "3f2a-proxy:7"),
    ]
    .into_iter()
    .enumerate()
    {
        let line = next_line(&mut bin);
        let f = fields(&line);
        assert_eq!(f.len(), 11, "{line}");
        assert_eq!(&f[..3], ["127.0.0.1", "-", "-"], "{line}");
        assert_clf_date(&f[3]);
        let id = (n + 1).to_string();
        assert_eq!(
            &f[4..],
            [request, "200", "13", referer, agent, &id, xid],
            "{line}"
        );
    }
    bin.stop();
}

/// `json`: one object per line with every field.
#[test]
fn access_log_json_has_every_field() {
    let mut bin = Binary::serve(wasm::HELLO, &["--access-log", "json"]);
    assert_eq!(request_to(bin.addr, GET).status, 200);
    let line = next_line(&mut bin);
    let v = json(&line);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = [
        "time",
        "remote",
        "user",
        "method",
        "target",
        "protocol",
        "status",
        "bytes",
        "referer",
        "user_agent",
        "app",
        "request",
        "x_request_id",
        "duration",
    ];
    let mut keys = keys.clone();
    keys.sort_unstable();
    expected.sort_unstable();
    assert_eq!(keys, expected, "{line}");
    assert_rfc3339_now(v["time"].as_str().unwrap());
    assert_eq!(v["remote"], "127.0.0.1");
    assert_eq!(v["user"], Value::Null);
    assert_eq!(v["method"], "GET");
    assert_eq!(v["target"], "/some/path?x=1");
    assert_eq!(v["protocol"], "HTTP/1.1");
    assert_eq!(v["status"], 200);
    assert_eq!(v["bytes"], 13);
    assert_eq!(v["referer"], "https://example.org/from?a=1");
    assert_eq!(v["user_agent"], "curl/8.5.0");
    assert_eq!(v["app"], "hello");
    assert_eq!(v["request"], 1);
    assert_eq!(v["x_request_id"], Value::Null);
    let duration = v["duration"].as_f64().expect("seconds as a number");
    assert!(duration > 0.0 && duration < 30.0, "{line}");
    // The next request has the next number.
    assert_eq!(request_to(bin.addr, GET).status, 200);
    assert_eq!(json(&next_line(&mut bin))["request"], 2);
    bin.stop();
}

/// The duration runs to the end of the response body: a response that
/// takes 300 ms shows at least that.
#[test]
fn the_json_duration_covers_the_whole_response() {
    let mut bin = Binary::serve(wasm::SLEEP, &["--access-log", "json"]);
    let r = request_to(
        bin.addr,
        b"GET /?ms=300 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let v = json(&next_line(&mut bin));
    let duration = v["duration"].as_f64().unwrap();
    assert!((0.3..10.0).contains(&duration), "{v}");
    bin.stop();
}

/// The Referer, the User-Agent and X-Request-Id are the client's text:
/// quotes, backslashes, escape-looking text, tabs and bytes that are not
/// ASCII cannot end a field or a line, in combined or JSON lines, and a
/// 100 KB value is cut.
#[test]
fn hostile_header_values_cannot_forge_a_field_or_a_line() {
    // A referer that tries to close its field and start a forged one, with
    // an escape that a careless reader would decode, a tab, UTF-8 and a
    // byte that is not UTF-8.
    let mut referer = b"http://x/\" 200 999 \"forged \\x22 \\\" \\r\\n\t".to_vec();
    referer.extend_from_slice(&[0xc3, 0xa9, 0xff]);
    let agent = "A\"".repeat(50 * 1024);
    let mut request = b"GET / HTTP/1.1\r\nHost: x\r\nReferer: ".to_vec();
    request.extend_from_slice(&referer);
    request.extend_from_slice(b"\r\nUser-Agent: ");
    request.extend_from_slice(agent.as_bytes());
    request.extend_from_slice(b"\r\nX-Request-Id: abc\" 1 \"2\r\nConnection: close\r\n\r\n");
    let limits = ["--max-header-field", "200000", "--max-head-size", "256KiB"];

    let mut args = vec!["--access-log", "combined"];
    args.extend(limits);
    let bin = Binary::serve(wasm::HELLO, &args);
    assert_eq!(request_to(bin.addr, &request).status, 200);
    let (rest, _) = bin.stop_with_output();
    let mut lines = rest.lines();
    let line = lines.next().expect("an access line");
    assert_eq!(lines.next(), None, "one line: {rest:?}");
    let f = fields(line);
    assert_eq!(f.len(), 11, "{line}");
    assert_eq!(&f[4..7], ["GET / HTTP/1.1", "200", "13"], "{line}");
    assert_eq!(
        f[7],
        r#"http://x/\x22 200 999 \x22forged \x5Cx22 \x5C\x22 \x5Cr\x5Cn\x09\xC3\xA9\xFF"#
    );
    assert_eq!(f[8], format!("{}...", r"A\x22".repeat(512)));
    assert_eq!(f[9], "1");
    assert_eq!(
        f[10], "-",
        "an X-Request-Id that is not plausible is left out"
    );

    let mut args = vec!["--access-log", "json"];
    args.extend(limits);
    let bin = Binary::serve(wasm::HELLO, &args);
    assert_eq!(request_to(bin.addr, &request).status, 200);
    let (rest, _) = bin.stop_with_output();
    let mut lines = rest.lines();
    let line = lines.next().expect("an access line");
    assert_eq!(lines.next(), None, "one line: {rest:?}");
    assert!(
        !line.contains(['\t', '\u{1b}']),
        "control characters are escaped"
    );
    let v = json(line);
    assert_eq!(
        v["referer"],
        "http://x/\" 200 999 \"forged \\x22 \\\" \\r\\n\t\u{e9}\u{fffd}"
    );
    assert_eq!(v["user_agent"], format!("{}...", "A\"".repeat(512)));
    assert_eq!(v["x_request_id"], Value::Null);
    assert_eq!(v["status"], 200);
}

/// The host never sends its request number; the X-Request-Id the client
/// got from the `request-id` middleware (or that a proxy sent) is the one
/// the access line shows, beside the number.
#[test]
fn the_access_line_shows_the_x_request_id_the_client_got() {
    let mut bin = Binary::serve(
        wasm::HELLO,
        &["--access-log", "json", "--middleware", wasm::REQUEST_ID],
    );
    let r = request_to(bin.addr, GET);
    assert_eq!(r.status, 200);
    let sent = r
        .header("x-request-id")
        .expect("the middleware's id")
        .to_owned();
    assert_eq!(sent.len(), 32, "{sent}");
    let v = json(&next_line(&mut bin));
    assert_eq!(v["x_request_id"], sent.as_str());
    assert_eq!(
        (v["app"].as_str(), v["request"].as_u64()),
        (Some("hello"), Some(1))
    );
    // A proxy's id is kept by the middleware, and shown.
    let r = request_to(
        bin.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: f47ac10b-58cc-4372-a567-0e02b2c3d479\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        r.header("x-request-id"),
        Some("f47ac10b-58cc-4372-a567-0e02b2c3d479")
    );
    let v = json(&next_line(&mut bin));
    assert_eq!(v["x_request_id"], "f47ac10b-58cc-4372-a567-0e02b2c3d479");
    assert_eq!(v["request"], 2);
    bin.stop();
}

/// `[server] access-log` in a gateway file chooses the format (`on`
/// included); the command line wins over it; a request no route matches
/// has no app.
#[test]
fn the_gateway_file_chooses_the_access_log_format() {
    let dir = crate::support::temp_dir("access-format");
    let path = dir.join("gateway.toml");
    let write = |format: &str| {
        std::fs::write(
            &path,
            format!(
                "[server]\naccess-log = \"{format}\"\n[apps.greeter]\nwasm = \"{}\"\nroutes = [\"/hello\"]\n",
                wasm::HELLO
            ),
        )
        .unwrap();
    };
    write("json");
    let config = path.to_str().unwrap();
    let mut bin = Binary::serve(config, &[]);
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(request_to(bin.addr, get("/hello").as_bytes()).status, 200);
    assert_eq!(request_to(bin.addr, get("/nowhere").as_bytes()).status, 404);
    let routed = json(&next_line(&mut bin));
    assert_eq!(
        (&routed["app"], &routed["status"]),
        (&Value::from("greeter"), &Value::from(200))
    );
    let missed = json(&next_line(&mut bin));
    assert_eq!(
        (&missed["app"], &missed["status"]),
        (&Value::Null, &Value::from(404))
    );
    assert_eq!(missed["request"], 2, "every request answered has a number");
    bin.stop();

    let mut bin = Binary::serve(config, &["--access-log", "combined"]);
    assert_eq!(request_to(bin.addr, get("/hello").as_bytes()).status, 200);
    let line = next_line(&mut bin);
    assert_eq!(fields(&line).len(), 11, "the flag wins: {line}");
    bin.stop();

    write("on");
    let mut bin = Binary::serve(config, &[]);
    assert_eq!(request_to(bin.addr, get("/hello").as_bytes()).status, 200);
    let line = next_line(&mut bin);
    assert_eq!(fields(&line).len(), 7, "on is common: {line}");
    bin.stop();
}

/// `--log-format json`: every line on stderr is a JSON object with the
/// level, target and message; a line logged inside a request also has its
/// app and request number, which the access line shows too.
#[test]
fn log_format_json_lines_carry_the_app_and_the_request() {
    let bin = Binary::serve(
        wasm::TRAP,
        &["--log-format", "json", "--access-log", "json"],
    );
    let get = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(request_to(bin.addr, get).status, 500);
    assert_eq!(request_to(bin.addr, get).status, 500);
    let (stdout, stderr) = bin.stop_with_output();
    let lines: Vec<Value> = stderr.lines().map(json).collect();
    assert!(lines.len() >= 4, "{stderr}");
    for line in &lines {
        assert_rfc3339_now(line["time"].as_str().unwrap());
        assert!(
            ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&line["level"].as_str().unwrap()),
            "{line}"
        );
        assert!(line["target"].is_string(), "{line}");
        assert!(line["message"].is_string(), "{line}");
    }
    let serving = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .unwrap()
                .starts_with("serving on http://")
        })
        .expect("the serving line");
    assert_eq!(
        serving["serving"],
        wasm::TRAP,
        "an event's fields: {serving}"
    );
    assert!(
        serving.get("request").is_none(),
        "outside a request: {serving}"
    );
    let traps: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(traps.len(), 2, "{stderr}");
    let access: Vec<Value> = stdout.lines().map(json).collect();
    // The guest's panic message, and the trap, name the request.
    let panics: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"].as_str().unwrap().contains("fixture panic"))
        .collect();
    assert_eq!(panics.len(), 2, "{stderr}");
    for (n, (trap, panic)) in traps.iter().zip(panics).enumerate() {
        assert_eq!(
            (&panic["app"], &panic["request"]),
            (&trap["app"], &trap["request"]),
            "{panic}"
        );
        assert!(
            trap["message"].as_str().unwrap().contains("trapped"),
            "{trap}"
        );
        assert!(
            trap["target"].as_str().unwrap().starts_with("wasm_gateway"),
            "{trap}"
        );
        assert_eq!(trap["app"], "trap", "{trap}");
        assert_eq!(trap["request"], n as u64 + 1, "{trap}");
        assert_eq!(access[n]["request"], trap["request"], "the same number");
        assert_eq!(access[n]["status"], 500);
    }
}

/// A line logged inside a middleware names the route's app, the request,
/// and the layer; `WASM_GATEWAY_LOG_FORMAT` sets the format as the flag
/// does.
#[test]
fn json_lines_inside_a_middleware_name_the_layer() {
    let dir = crate::support::temp_dir("json-layer");
    let path = dir.join("gateway.toml");
    std::fs::write(
        &path,
        format!(
            "[middleware.panicky]\nwasm = \"{}\"\n[apps.hello]\nwasm = \"{}\"\nroutes = [\"/\"]\nmiddleware = [\"panicky\"]\n",
            wasm::MW_PANIC,
            wasm::HELLO
        ),
    )
    .unwrap();
    let bin = Binary::spawn(
        &["serve", path.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        &[("WASM_GATEWAY_LOG_FORMAT", "json")],
    );
    let r = request_to(
        bin.addr,
        b"GET /?boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 500);
    let stderr = bin.stop();
    let lines: Vec<Value> = stderr.lines().map(json).collect();
    // The middleware's panic message comes from inside its layer.
    let panic = lines
        .iter()
        .find(|l| l["message"] == "mw_panic asked to panic")
        .unwrap_or_else(|| panic!("the panic message: {stderr}"));
    assert_eq!(panic["app"], "hello", "{panic}");
    assert_eq!(panic["request"], 1, "{panic}");
    assert_eq!(panic["layer.app"], "panicky", "{panic}");
    let trap = lines.iter().find(|l| l["level"] == "ERROR").unwrap();
    assert_eq!(
        (&trap["app"], &trap["request"]),
        (&panic["app"], &panic["request"]),
        "{trap}"
    );
}
