//! Python WSGI applications built with `wasm-gateway python build` and served
//! for real: the seed examples under `wsgiref.validate.validator` (any
//! complaint is a 500, so a test expecting 200 fails on it), the contract
//! details through `tests/fixtures/python/probe.py`, the sandbox, the build's
//! errors and the compile cache.
//!
//! The toolchain (componentize-py and Flask, pinned) goes into a virtualenv
//! under the test target directory, made once; each app is built once per
//! change of its sources or of the adapter (the output is keyed by their
//! hash), so a second test run builds nothing.

use crate::support::{Binary, TestServer, temp_dir};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use wasm_gateway::Reuse;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// The pinned requirements of the toolchain and the examples.
fn requirement_files() -> [PathBuf; 2] {
    [
        root().join("guest-sdk/python/requirements-build.txt"),
        root().join("examples/python/requirements.txt"),
    ]
}

/// The virtualenv with componentize-py and Flask, made once.
fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let dir = tmp().join("python-venv");
        let stamp = dir.join("wasm-gateway-requirements");
        let wanted: String = requirement_files()
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
            return dir;
        }
        let _ = std::fs::remove_dir_all(&dir);
        let run = |command: &mut Command, what: &str| {
            let output = command
                .output()
                .unwrap_or_else(|e| panic!("{what}: {e} (is python3 installed?)"));
            assert!(
                output.status.success(),
                "{what} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        run(
            Command::new("python3").arg("-m").arg("venv").arg(&dir),
            "python3 -m venv",
        );
        let mut pip = Command::new(dir.join("bin/pip"));
        pip.args(["install", "--quiet", "--disable-pip-version-check"]);
        for file in requirement_files() {
            pip.arg("-r").arg(file);
        }
        run(&mut pip, "pip install (componentize-py, Flask)");
        std::fs::write(&stamp, wanted).unwrap();
        dir
    })
}

/// `python build` run as a user runs it, from the venv.
fn python_build_command() -> Command {
    let venv = venv();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![venv.join("bin")];
    paths.extend(std::env::split_paths(&path));
    let mut command = crate::support::binary();
    command
        .env("PATH", std::env::join_paths(paths).unwrap())
        .env("VIRTUAL_ENV", venv)
        .args(["python", "build"]);
    command
}

/// How each app is built.
struct Recipe {
    target: &'static str,
    dir: &'static str,
    /// The requirements file, from the repository's root.
    requirements: Option<&'static str>,
    validate: bool,
    warmup: &'static [&'static str],
}

fn recipe(name: &str) -> Recipe {
    let r = |target, dir, requirements: bool, validate, warmup| Recipe {
        target,
        dir,
        requirements: requirements.then_some("examples/python/requirements.txt"),
        validate,
        warmup,
    };
    match name {
        "flask-app" => r(
            "app:app",
            "examples/python/flask-app",
            true,
            true,
            &["/", "/user/x"],
        ),
        "flaskapp" => r(
            "flaskapp:app",
            "examples/python/flaskapp",
            true,
            true,
            &["/hello"],
        ),
        "bare" => r(
            "hello_wsgi:application",
            "examples/python/bare",
            false,
            true,
            &[],
        ),
        "classapp" => r(
            "classapp:application",
            "examples/python/classapp",
            false,
            true,
            &[],
        ),
        "fetch" => r(
            "fetch_app:application",
            "examples/python/fetch",
            false,
            true,
            &[],
        ),
        "files" => r(
            "files_app:app",
            "tests/fixtures/python-files",
            true,
            true,
            &["/"],
        ),
        "django" => Recipe {
            target: "mysite.wsgi:application",
            dir: "examples/python/django",
            requirements: Some("examples/python/django/requirements.txt"),
            validate: true,
            warmup: &["/"],
        },
        "kv-notes" => r(
            "notes_app:application",
            "examples/python/kv-notes",
            false,
            true,
            &[],
        ),
        "kv-probe" => r(
            "kv_probe:application",
            "tests/fixtures/python-kv",
            false,
            true,
            &[],
        ),
        "probe" => r(
            "probe:application",
            "tests/fixtures/python",
            false,
            false,
            &[],
        ),
        "invalid" => r(
            "invalid:application",
            "tests/fixtures/python",
            false,
            true,
            &[],
        ),
        "passwords" => r(
            "passwords:app",
            "tests/fixtures/python",
            true,
            true,
            &["/pbkdf2"],
        ),
        other => panic!("no Python app {other}"),
    }
}

/// Hashes every file under `dir` (names and contents), sorted.
fn hash_dir(dir: &Path, hasher: &mut impl Hasher) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "__pycache__"))
        .collect();
    entries.sort();
    for path in entries {
        path.file_name().hash(hasher);
        if path.is_dir() {
            hash_dir(&path, hasher);
        } else {
            std::fs::read(&path).unwrap().hash(hasher);
        }
    }
}

/// The component for Python app `name`, built once per change of what it
/// is built from.
pub fn python_app(name: &str) -> String {
    static BUILT: OnceLock<Mutex<HashMap<String, Arc<OnceLock<String>>>>> = OnceLock::new();
    let slot = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(name.to_owned())
        .or_default()
        .clone();
    slot.get_or_init(|| build(name)).clone()
}

fn build(name: &str) -> String {
    let recipe = recipe(name);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hash_dir(&root().join(recipe.dir), &mut hasher);
    hash_dir(&root().join("guest-sdk/python"), &mut hasher);
    // How the build goes, too (pip's flags, what is packed).
    std::fs::read(root().join("host/src/cli/python.rs"))
        .unwrap()
        .hash(&mut hasher);
    std::fs::read(root().join("wit/wsgi.wit"))
        .unwrap()
        .hash(&mut hasher);
    (
        recipe.target,
        recipe.requirements,
        recipe.validate,
        recipe.warmup,
    )
        .hash(&mut hasher);
    let out_dir = tmp().join("python-apps");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join(format!("{name}-{:016x}.wasm", hasher.finish()));
    if out.is_file() {
        return out.to_string_lossy().into_owned();
    }
    let mut command = python_build_command();
    command
        .arg(recipe.target)
        .arg("-o")
        .arg(&out)
        .arg("--app-dir")
        .arg(root().join(recipe.dir));
    if let Some(requirements) = recipe.requirements {
        command.arg("--requirements").arg(root().join(requirements));
    }
    if recipe.validate {
        command.arg("--validate");
    }
    for path in recipe.warmup {
        command.arg("--warmup").arg(path);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "python build {name} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("built "), "no report: {report}");
    out.to_string_lossy().into_owned()
}

fn reuse() -> Option<Reuse> {
    Some(Reuse {
        requests: 1000,
        lifetime: std::time::Duration::from_secs(60),
    })
}

/// Seed 003's Flask app: `/` answers GET and POST, `/user/<name>` greets,
/// Flask's own 404 and 405; fresh instances and reused ones alike.
#[test]
fn flask_seed_003_app_answers_under_the_validator() {
    let wasm = python_app("flask-app");
    for reuse in [None, reuse()] {
        let server = TestServer::with_config(&wasm, |c| {
            c.instance_reuse = reuse;
            // Without reuse: a fresh instance per request (a Python
            // component would otherwise reuse by default).
            c.reuse_by_default = false;
        });
        let home = server.get("/");
        assert_eq!(home.status, 200, "{}", home.text());
        assert_eq!(home.text(), "<h1>Home</h1>");
        assert_eq!(
            home.header("content-type"),
            Some("text/html; charset=utf-8")
        );

        let post = server.request(
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\nConnection: close\r\n\r\na=1&b=2",
        );
        assert_eq!(post.status, 200, "{}", post.text());
        assert_eq!(post.text(), "<h1>Home</h1>");

        let user = server.get("/user/Ann");
        assert_eq!(user.status, 200);
        assert_eq!(user.text(), "<h1>Hello, Ann!</h1>");
        let hostile = server.get("/user/%3Cscript%3E");
        assert_eq!(hostile.text(), "<h1>Hello, &lt;script&gt;!</h1>");

        assert_eq!(server.get("/nowhere").status, 404);
        let put = server
            .request("PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        assert_eq!(put.status, 405);
        assert!(put.header("allow").is_some_and(|a| a.contains("POST")));
    }
}

/// Seed 000's `flaskapp:app` (the Flask app's `wsgi_app`), `/hello` as
/// text/plain through `Response`.
#[test]
fn flask_seed_000_flaskapp_says_hello_in_plain_text() {
    let server = TestServer::start(&python_app("flaskapp"));
    let hello = server.get("/hello");
    assert_eq!(hello.status, 200, "{}", hello.text());
    assert_eq!(hello.text(), "Hello world from Flask!\n");
    assert_eq!(
        hello.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(server.get("/").status, 404);
}

/// A bare `application(environ, start_response)` function.
#[test]
fn bare_wsgi_function_app() {
    let server = TestServer::start(&python_app("bare"));
    let response = server.get("/anything");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "This is a python application!");
    assert_eq!(response.header("content-type"), Some("text/plain"));
}

/// Seed 004: a class whose instances are the body (start_response runs on
/// the first iteration) behind the IP-list middleware, in one component.
#[test]
fn class_based_app_behind_its_ip_middleware() {
    let wasm = python_app("classapp");
    let open = TestServer::start(&wasm);
    let response = open.get("/");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "Hello world!\n");

    let closed = TestServer::with_config(&wasm, |c| {
        c.env
            .push(("ALLOWED_IPS".into(), "10.0.0.1, 10.0.0.2".into()));
    });
    let refused = closed.get("/");
    assert_eq!(refused.status, 403);
    assert_eq!(refused.text(), "Forbidden");
}

/// `--validate` really validates: a response with no Content-Type, which
/// plain WSGI servers pass through, is a 500 with the validator's complaint
/// in the log.
#[test]
fn validator_complaints_fail_the_request() {
    let wasm = python_app("invalid");
    let binary = Binary::serve(&wasm, &[]);
    let get = |path: &str| {
        crate::support::request_to(
            binary.addr,
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    };
    assert_eq!(get("/").status, 200);
    assert_eq!(get("/bad").status, 500);
    let log = binary.stop();
    assert!(log.contains("AssertionError"), "{log}");
    assert!(log.contains("Content-Type"), "{log}");
}

/// Bytes that are not UTF-8 in the path, query and header values reach the
/// app unchanged (latin-1 native strings), with every PEP 3333 key.
#[test]
fn environ_carries_every_key_and_raw_bytes() {
    let server = TestServer::start(&python_app("probe"));
    let raw = b"POST /environ/%FF%2Fx?q=%FF&r=%C3%A9 HTTP/1.1\r\nHost: example.com:8080\r\nX-Raw: caf\xe9\r\nX-Dup: a\r\nX-Dup: b\r\nCookie: a=1\r\nCookie: b=2\r\nX_Under: dropped\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let response = server.request(raw);
    assert_eq!(response.status, 200);
    let lines: Vec<&[u8]> = response.body.split(|&b| b == b'\n').collect();
    let has = |line: &[u8]| lines.contains(&line);
    for expected in [
        &b"REQUEST_METHOD=POST"[..],
        b"PATH_INFO=/environ/\xff/x",
        b"REQUEST_URI=/environ/%FF%2Fx?q=%FF&r=%C3%A9",
        b"SCRIPT_NAME=",
        b"QUERY_STRING=q=%FF&r=%C3%A9",
        b"HTTP_X_RAW=caf\xe9",
        b"HTTP_X_DUP=a, b",
        b"HTTP_COOKIE=a=1; b=2",
        b"HTTP_HOST=example.com:8080",
        b"SERVER_NAME=example.com",
        b"SERVER_PORT=8080",
        b"SERVER_PROTOCOL=HTTP/1.1",
        b"REMOTE_ADDR=127.0.0.1",
        b"CONTENT_TYPE=text/plain",
        b"CONTENT_LENGTH=5",
        b"wsgi.url_scheme=http",
        b"wsgi.version=(1, 0)",
        b"wsgi.multithread=False",
        b"wsgi.multiprocess=True",
        b"wsgi.run_once=True",
        b"wsgi.input_terminated=True",
        b"BODY_LEN=5",
    ] {
        assert!(
            has(expected),
            "missing {:?} in\n{}",
            String::from_utf8_lossy(expected),
            response.text()
        );
    }
    let text = response.text();
    assert!(!text.contains("HTTP_CONTENT_TYPE"), "{text}");
    assert!(!text.contains("HTTP_CONTENT_LENGTH"), "{text}");
    assert!(!text.contains("HTTP_X_UNDER"), "{text}");
    assert!(text.contains("REMOTE_PORT="), "{text}");
}

/// `wsgi.input`: iteration by lines, `read(n)` filling `n` until the end,
/// a chunked body (no CONTENT_LENGTH) read to EOF.
#[test]
fn wsgi_input_reads_lines_sizes_and_chunked_bodies() {
    let server = TestServer::start(&python_app("probe"));
    let lines = server.request(
        "POST /lines HTTP/1.1\r\nHost: t\r\nContent-Length: 14\r\nConnection: close\r\n\r\none\ntwo\n\nlast!",
    );
    assert_eq!(lines.text(), "4:one\n4:two\n1:\n5:last!");

    let body = "x".repeat(20_000);
    let sized = server.request(format!(
        "POST /sized HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    assert_eq!(sized.text(), "7000 7000 6000 0 after-eof=b''");

    let chunked = server.request(
        "POST /sized HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n1f40\r\n".to_owned()
            + &"y".repeat(8000)
            + "\r\n0\r\n\r\n",
    );
    assert_eq!(chunked.text(), "7000 1000 0 after-eof=b''");
}

/// A generator body streams chunk by chunk; `write()` data goes first.
#[test]
fn generator_bodies_stream_and_write_goes_first() {
    let server = TestServer::start(&python_app("probe"));
    let stream = server.get("/stream?256");
    assert_eq!(stream.status, 200);
    assert_eq!(stream.body.len(), 256 * 1024);
    assert!(stream.body.starts_with(b"00000."));
    assert_eq!(&stream.body[255 * 1024..255 * 1024 + 5], b"00255");

    let write = server.get("/write");
    assert_eq!(write.text(), "written first, then returned");
}

/// The variables the operator grants reach `os.environ` (as a gunicorn
/// worker has its process's environment), in each new instance and on every
/// request of a reused one; nothing else does (not the build's). The
/// snapshot holds the build's `os.environ`; componentize-py's runtime
/// replaces it with `wasi:cli/environment`'s at an instance's first call.
#[test]
fn granted_environment_variables_reach_os_environ() {
    let probe = python_app("probe");
    for reused in [true, false] {
        let server = TestServer::with_config(&probe, |c| {
            c.reuse_by_default = reused;
            c.grants.env.push(("GREETING".into(), "bonjour".into()));
        });
        for _ in 0..3 {
            let r = server.get("/os-environ?GREETING");
            assert_eq!(
                (r.status, r.text().as_str()),
                (200, "bonjour"),
                "reused: {reused}"
            );
        }
        assert_eq!(server.get("/os-environ?HOME").text(), "(unset)");
    }
    let bare = TestServer::start(&probe);
    assert_eq!(bare.get("/os-environ?GREETING").text(), "(unset)");
}

/// An exception before the headers is a 500, never a trap: the same
/// instance serves on (reuse mode), and the traceback is logged.
#[test]
fn exceptions_become_500s_with_the_traceback_logged() {
    let probe = python_app("probe");
    let server = TestServer::with_config(&probe, |c| c.instance_reuse = reuse());
    let failed = server.get("/raise-before");
    assert_eq!(failed.status, 500);
    assert!(!failed.text().contains("boom"), "no detail to the client");
    assert_eq!(server.get("/str-body").status, 500);
    assert_eq!(server.get("/no-start").status, 500);

    // The body of /close is closed; /closed counts it. Both served by the
    // instance that just raised three times: it was not lost.
    assert_eq!(server.get("/close").text(), "closing body");
    assert_eq!(server.get("/closed").text(), "1");

    let binary = Binary::serve(&probe, &[]);
    let response = crate::support::request_to(
        binary.addr,
        b"GET /raise-before HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 500);
    let response = crate::support::request_to(
        binary.addr,
        b"GET /log HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.text(), "logged");
    let log = binary.stop();
    assert!(log.contains("Traceback (most recent call last)"), "{log}");
    assert!(log.contains("ValueError: boom before the headers"), "{log}");
    assert!(log.contains("probe log: first line"), "{log}");
    assert!(log.contains("probe log: second line, unfinished"), "{log}");
}

/// An exception after the headers went out aborts the response (the client
/// sees a truncated body, not a clean end).
#[test]
fn exceptions_after_the_headers_abort_the_response() {
    let server = TestServer::start(&python_app("probe"));
    for path in ["/raise-after", "/exc-info-late"] {
        let mut stream = server.connect();
        use std::io::{Read, Write};
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 200"), "{path}: {text}");
        assert!(
            !text.ends_with("0\r\n\r\n"),
            "{path}: the body must not end cleanly: {text}"
        );
        assert!(!text.contains("never sent"), "{path}: {text}");
    }
}

/// `start_response` with `exc_info` before anything was sent replaces the
/// status; a second call without it, and a hop-by-hop header, are errors
/// the app sees.
#[test]
fn start_response_exc_info_and_refusals() {
    let server = TestServer::start(&python_app("probe"));
    let replaced = server.get("/exc-info");
    assert_eq!(replaced.status, 503);
    assert_eq!(replaced.header("retry-after"), Some("5"));
    assert_eq!(replaced.text(), "custom error page");

    let second = server.get("/second-start");
    assert_eq!(second.status, 200);
    assert!(
        second.text().starts_with("refused: WSGIError"),
        "{}",
        second.text()
    );

    let hop = server.get("/hop-by-hop");
    assert_eq!(hop.status, 200);
    assert!(hop.text().contains("hop-by-hop"), "{}", hop.text());
}

/// No directory and no socket unless granted: the filesystem is empty and
/// a socket call traps (500), while the app keeps serving.
#[test]
fn python_apps_get_no_files_and_no_sockets() {
    let server = TestServer::start(&python_app("probe"));
    assert_eq!(server.get("/fs").text(), "FileNotFoundError");
    // componentize-py reseeds `random` from wasi:random in each instance,
    // though all start from one snapshot: keep it that way.
    let draws: std::collections::HashSet<String> =
        (0..3).map(|_| server.get("/random").text()).collect();
    assert_eq!(
        draws.len(),
        3,
        "fresh instances drew the same numbers: {draws:?}"
    );
    assert_eq!(server.get("/socket").status, 500);
    assert_eq!(server.get("/closed").status, 200);
}

/// The build's errors name the problem and the fix.
#[test]
fn python_build_errors_say_what_to_do() {
    let dir = temp_dir("python-build-errors");
    let out = dir.join("out.wasm");

    let no_tool = crate::support::binary()
        .env("PATH", "/nonexistent")
        .args(["python", "build", "app:app", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(no_tool.status.code(), Some(1));
    let err = String::from_utf8_lossy(&no_tool.stderr);
    assert!(err.contains("componentize-py was not found"), "{err}");
    assert!(err.contains("pip install componentize-py==0.25.1"), "{err}");

    let bad_target = crate::support::binary()
        .args(["python", "build", "flaskapp", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(bad_target.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_target.stderr).contains("is not MODULE:CALLABLE"));

    // A failing build: exit status 1, no component, and stderr.
    let failing_build = |module: &str, source: &str, target: &str| {
        std::fs::write(dir.join(format!("{module}.py")), source).unwrap();
        let output = python_build_command()
            .arg(target)
            .arg("-o")
            .arg(&out)
            .arg("--app-dir")
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert!(!out.exists(), "no component from a failed build");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let err = failing_build(
        "needs",
        "import not_installed_anywhere\napp = None\n",
        "needs:app",
    );
    assert!(
        err.contains("module `not_installed_anywhere` cannot be bundled"),
        "{err}"
    );
    let err = failing_build("nocall", "application = None\n", "nocall:app");
    assert!(err.contains("has no WSGI callable `app`"), "{err}");

    // A requirement that exists only as a C extension is named, with why
    // it cannot be used (pip alone said "no matching distribution").
    let requirements = dir.join("native.txt");
    std::fs::write(&requirements, "ujson==5.11.0\n").unwrap();
    std::fs::write(
        dir.join("plain.py"),
        "def app(environ, start_response): pass\n",
    )
    .unwrap();
    let output = python_build_command()
        .args(["plain:app", "-o"])
        .arg(&out)
        .arg("--app-dir")
        .arg(&dir)
        .arg("--requirements")
        .arg(&requirements)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("`ujson`") && err.contains("C extensions cannot run"),
        "{err}"
    );
}

/// The second load of a component comes from the compile cache.
#[test]
fn the_second_start_loads_from_the_compile_cache() {
    use wasm_gateway::CompileCache;
    use wasm_gateway::{Runtime, RuntimeConfig};
    let wasm = python_app("bare");
    // Under target/, emptied first: the cache's worker keeps writing after
    // the test, so a directory in /tmp would stay behind run after run.
    let cache = tmp().join("compile-cache-test");
    let _ = std::fs::remove_dir_all(&cache);
    let config = RuntimeConfig {
        compile_cache: Some(CompileCache {
            directory: cache.clone(),
            max_size: CompileCache::DEFAULT_MAX_SIZE,
        }),
        max_instances: 4,
        ..RuntimeConfig::default()
    };
    let first = Runtime::new(&config)
        .unwrap()
        .compile(Path::new(&wasm))
        .unwrap();
    assert!(!first.from_cache());
    assert_eq!(first.profile(), wasm_gateway::Profile::Python);
    let second = Runtime::new(&config)
        .unwrap()
        .compile(Path::new(&wasm))
        .unwrap();
    assert!(
        second.from_cache(),
        "the second compile should hit the cache"
    );
}

/// A Python instance takes 14 core instances of the pool. Every instance
/// slot comes with as many as the largest component allowed needs, so an
/// app within its concurrency always gets an instance: here two at once,
/// with two slots in all (four core instances per slot made even one fail).
#[test]
fn every_instance_slot_holds_a_python_instance() {
    use wasm_gateway::{
        App, AppConfig, CompileCache, Gateway, Runtime, RuntimeConfig, ServerConfig,
    };
    let wasm = python_app("probe");
    let runtime = Runtime::new(&RuntimeConfig {
        max_instances: 2,
        compile_cache: Some(CompileCache {
            directory: Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"),
            max_size: CompileCache::DEFAULT_MAX_SIZE,
        }),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let mut config = AppConfig::new("probe");
    config.concurrency = 2;
    let loaded = runtime.load(Path::new(&wasm), &config).unwrap();
    let app = Arc::new(App::new(&runtime, loaded, config));
    let server = TestServer::serve_gateway(Gateway::single(app), ServerConfig::default());
    // Two streams nobody reads hold their instances.
    let held: Vec<_> = (0..2)
        .map(|_| {
            let mut conn = server.connect();
            std::io::Write::write_all(
                &mut conn,
                b"GET /stream?100000 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
            conn
        })
        .collect();
    for mut conn in held {
        let mut head = [0u8; 12];
        std::io::Read::read_exact(&mut conn, &mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 200", "each got an instance");
    }
}

/// An upstream HTTP/1.1 server on 127.0.0.1 for outbound calls, in a thread
/// for the rest of the test process: `GET /hello` greets, `POST /echo`
/// answers `echo: METHOD BODY (CONTENT-TYPE)`, anything else is 404. Counts
/// the requests it served.
fn upstream() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_owned();
            let target = parts.next().unwrap_or("").to_owned();
            let (mut length, mut content_type) = (0usize, String::new());
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap_or((&header, ""));
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "content-type" => content_type = value.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (status, text) = match (method.as_str(), target.as_str()) {
                ("GET", "/hello") => ("200 OK", "hello from upstream".to_owned()),
                (_, "/echo") => (
                    "200 OK",
                    format!(
                        "echo: {method} {} ({content_type})",
                        String::from_utf8_lossy(&body)
                    ),
                ),
                _ => ("404 Not Found", "nothing here".to_owned()),
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (port, served)
}

/// examples/python/fetch under `--outbound-http`: `urlopen` GET and POST
/// reach the upstream and the app relays what it answered, an upstream 404
/// comes back as `HTTPError` (relayed), the adapter's `outbound.request`
/// works, and a port the grant does not name is denied (502, "denied").
///
/// Needs the host to link `wasi:http` for WSGI apps and the outbound hook
/// (issue 16); until then the component does not load.
#[test]
fn python_apps_call_out_with_urllib_under_the_grant() {
    let wasm = python_app("fetch");
    let (port, served) = upstream();
    let (other, other_served) = upstream();
    let base = format!("http://127.0.0.1:{port}");
    let bin = Binary::serve(&wasm, &["--outbound-http", &base]);

    let get = crate::support::get_from(bin.addr, &format!("/get?url={base}/hello"));
    assert_eq!(get.status, 200, "{}", get.text());
    assert_eq!(get.text(), "hello from upstream");
    assert_eq!(get.header("x-upstream-status"), Some("200"));

    let post = crate::support::request_to(
        bin.addr,
        format!(
            "POST /post?url={base}/echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/x-ping\r\nContent-Length: 4\r\nConnection: close\r\n\r\nping"
        )
        .as_bytes(),
    );
    assert_eq!(post.status, 200, "{}", post.text());
    assert_eq!(post.text(), "echo: POST ping (text/x-ping)");

    let missing = crate::support::get_from(bin.addr, &format!("/get?url={base}/nowhere"));
    assert_eq!(missing.status, 404, "{}", missing.text());
    assert_eq!(missing.text(), "nothing here");

    let module = crate::support::get_from(bin.addr, &format!("/outbound?url={base}/hello"));
    assert_eq!(module.status, 200, "{}", module.text());
    assert!(
        module.text().contains(r#""status": 200"#)
            && module.text().contains(r#""text": "hello from upstream""#),
        "{}",
        module.text()
    );
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 4);

    let elsewhere = crate::support::get_from(
        bin.addr,
        &format!("/get?url=http://127.0.0.1:{other}/hello"),
    );
    assert_eq!(elsewhere.status, 502, "{}", elsewhere.text());
    assert!(elsewhere.text().contains("denied"), "{}", elsewhere.text());
    assert_eq!(other_served.load(std::sync::atomic::Ordering::SeqCst), 0);
    bin.stop();
}

/// Without the `outbound-http` grant a Python app still loads (every one
/// imports wasi:http), and each call fails with `HTTP-request-denied`: the
/// app sees `URLError` (or `OutboundDenied`) saying which origin to grant.
/// Needs the host's wasi:http linking for WSGI apps (issue 16).
#[test]
fn python_outbound_without_the_grant_is_denied() {
    let wasm = python_app("fetch");
    let (port, served) = upstream();
    let base = format!("http://127.0.0.1:{port}");
    let bin = Binary::serve(&wasm, &[]);

    let denied = crate::support::get_from(bin.addr, &format!("/get?url={base}/hello"));
    assert_eq!(denied.status, 502, "{}", denied.text());
    assert!(
        denied.text().contains("denied")
            && denied
                .text()
                .contains(&format!("--outbound-http http://127.0.0.1:{port}")),
        "{}",
        denied.text()
    );
    let module = crate::support::get_from(bin.addr, &format!("/outbound?url={base}/hello"));
    assert_eq!(module.status, 502, "{}", module.text());
    assert!(
        module.text().contains("(HTTP-request-denied)"),
        "{}",
        module.text()
    );
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 0);
    bin.stop();
}

/// The adapter's outbound module and urllib opener under the machine's
/// CPython against a fake wasi:http (tests/python/test_outbound.py), and
/// its `hashlib.pbkdf2_hmac` and `hashlib.scrypt` against the machine's
/// (tests/python/test_kdf.py): no component build needed.
#[test]
fn python_outbound_adapter_unit_tests() {
    let output = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s"])
        .arg(root().join("tests/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 (is it installed?)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Python components keep module state between requests by default, as a
/// gunicorn worker does (the probe counts closed bodies in a global);
/// `--instance-reuse 0` gives each request a fresh instance again.
#[test]
fn python_components_reuse_instances_by_default_and_0_turns_it_off() {
    let probe = python_app("probe");
    let get = crate::support::get_from;
    let by_default = Binary::serve(&probe, &[]);
    for _ in 0..2 {
        assert_eq!(get(by_default.addr, "/close").text(), "closing body");
    }
    assert_eq!(
        get(by_default.addr, "/closed").text(),
        "2",
        "one instance served all three"
    );
    by_default.stop();

    let fresh = Binary::serve(&probe, &["--instance-reuse", "0"]);
    assert_eq!(get(fresh.addr, "/close").text(), "closing body");
    assert_eq!(
        get(fresh.addr, "/closed").text(),
        "0",
        "a fresh instance knows nothing of the last"
    );
    fresh.stop();
}

/// The build leaves nothing in the user's tree: no `__pycache__` in
/// `--app-dir`, nor what the app writes beside itself on import (the
/// build imports it from a copy).
#[test]
fn the_build_writes_nothing_into_the_app_dir() {
    let dir = crate::support::temp_dir("python-pristine");
    let app_dir = dir.join("app");
    std::fs::create_dir_all(&app_dir).unwrap();
    let mut source =
        std::fs::read_to_string(root().join("examples/python/bare/hello_wsgi.py")).unwrap();
    source.push_str(
        "\nimport os\nwith open(os.path.join(os.path.dirname(__file__), 'cache.db'), 'w') as f:\n    f.write('x')\n",
    );
    std::fs::write(app_dir.join("hello_wsgi.py"), source).unwrap();
    std::fs::create_dir_all(app_dir.join("static")).unwrap();
    std::fs::write(app_dir.join("static/site.css"), "p {}\n").unwrap();
    let output = dir.join("out.wasm");
    let build = python_build_command()
        .args(["hello_wsgi:application", "--app-dir"])
        .arg(&app_dir)
        .arg("-o")
        .arg(&output)
        .output()
        .unwrap();
    assert!(build.status.success());
    assert!(output.is_file());
    // The report says what the component holds for run time: the app's
    // files as the build left them (`cache.db` was written at import, into
    // the build's copy).
    let report = String::from_utf8_lossy(&build.stdout);
    assert!(
        report.contains("more modules importable at run time"),
        "{report}"
    );
    assert!(
        report.contains("files:    3 app files (1 kB) and 0 package data files (0 kB)"),
        "{report}"
    );
    let mut left: Vec<_> = std::fs::read_dir(&app_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["hello_wsgi.py", "static"],
        "the app dir holds only what it held"
    );
}

/// What no build step saw is there at run time, with no grant: a module of
/// the standard library and one of the app imported only inside a view
/// (from the code store), a template no warm-up rendered, the app's own
/// data file and its packages' metadata (the files the build packed,
/// mounted read-only where the build found them); in fresh instances and
/// reused ones.
#[test]
fn python_apps_import_and_read_at_run_time_what_the_build_did_not_touch() {
    let wasm = python_app("files");
    for fresh in [true, false] {
        let server = TestServer::with_config(&wasm, |c| c.reuse_by_default = !fresh);
        let stdlib = server.get("/stdlib");
        assert_eq!(
            (stdlib.status, stdlib.text().as_str()),
            (200, "imported before: False; mean 2.5"),
            "fresh: {fresh}"
        );
        for (path, body) in [
            ("/own-module", "imported at run time"),
            ("/template", "<p>rendered at run time</p>"),
            ("/data", "notes read at run time\n"),
            ("/metadata", "3.1.3"),
            // Read-only: the app cannot change its own files.
            ("/write", "PermissionError"),
        ] {
            let response = server.get(path);
            assert_eq!(
                (response.status, response.text().as_str()),
                (200, body),
                "{path}, fresh: {fresh}"
            );
        }
        // The app's sources are there too: tracebacks show its lines.
        let traceback = server.get("/traceback").text();
        assert!(
            traceback.contains("File \"/1/files_app.py\"") && traceback.contains("raise_here()"),
            "{traceback}"
        );
    }
}

/// Password hashing (issue 17, point 6): `hashlib.pbkdf2_hmac` and
/// `hashlib.scrypt`, which CPython has only with OpenSSL, exist in the
/// component, derived by the host with CPython's results: werkzeug's
/// `generate_password_hash` (scrypt by default) and `check_password_hash`
/// work. A hostile call is refused at once with CPython's `ValueError`, and
/// one that runs long ends at the request's deadline, giving its worker
/// back, while the server answers everything else.
#[test]
fn python_apps_hash_passwords_with_the_host_s_kdf() {
    use std::time::{Duration, Instant};
    let wasm = python_app("passwords");
    // The default deadline: hashing runs at low priority, and under the
    // load of the whole suite a 130 ms scrypt can take seconds.
    let server = TestServer::start(&wasm);
    let get = |server: &TestServer, path: &str| {
        let response = server.get(path);
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        response.text()
    };
    let ok = |path: &str| get(&server, path);
    assert_eq!(ok("/hashlib"), "pbkdf2_hmac=True scrypt=True");
    assert_eq!(
        ok("/pbkdf2"),
        "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
    );
    // RFC 7914's third vector.
    assert_eq!(
        ok("/scrypt"),
        "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887"
    );
    assert_eq!(
        ok("/werkzeug?password=s3cret"),
        "scrypt:32768:8:1 right=True wrong=False"
    );
    assert_eq!(
        ok("/werkzeug?password=s3cret&method=pbkdf2:sha256:1000"),
        "pbkdf2:sha256:1000 right=True wrong=False"
    );

    // Refused before anything runs: quickly, with CPython's exception.
    let started = Instant::now();
    let huge = ok("/scrypt-huge");
    assert!(
        huge.starts_with("ValueError: memory limit exceeded"),
        "{huge}"
    );
    let huge = ok("/pbkdf2-huge");
    assert!(
        huge.starts_with("ValueError: pbkdf2_hmac: ") && huge.contains("wasm-gateway's limit"),
        "{huge}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Two derivations far longer than a 3 s deadline: each ends with it
    // (504), while the server's threads answer other requests at once.
    let short = Arc::new(TestServer::with_config(&wasm, |c| {
        c.timeout = Duration::from_secs(3);
    }));
    let long: Vec<_> = (0..2)
        .map(|_| {
            let server = short.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                (server.get("/pbkdf2-long").status, started.elapsed())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    assert_eq!(get(&short, "/hashlib"), "pbkdf2_hmac=True scrypt=True");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a plain request waited {:?} behind the hashing",
        started.elapsed()
    );
    for thread in long {
        let (status, took) = thread.join().unwrap();
        assert_eq!(status, 504);
        assert!(took < Duration::from_secs(6), "{took:?}");
    }
    // Their workers are free again: a derivation runs within its deadline.
    assert_eq!(
        get(&short, "/pbkdf2"),
        "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
    );
}

/// `wasm_gateway.kv` on both backends: every operation, a store that is not
/// granted, a write over the quota, and the notes example's counter and
/// notes surviving fresh instances and a restart of the server.
#[test]
fn python_apps_keep_data_in_key_value_stores() {
    let probe = python_app("kv-probe");
    let notes = python_app("kv-notes");
    for redis in [false, true] {
        let tag = if redis { "redis" } else { "sqlite" };
        let dir = temp_dir(&format!("python-kv-{tag}"));
        // Unique app names: the Redis server is the whole test process's.
        let store = if redis {
            format!(
                "[kv.default]\ntype = \"redis\"\nurl = \"{}\"\n",
                crate::redis::shared().url(0)
            )
        } else {
            String::new()
        };
        let toml = format!(
            r#"
[server]
data-dir = "data"
{store}
[apps.py-probe-{tag}]
wasm = "{probe}"
routes = ["/probe"]
[apps.py-probe-{tag}.grants]
kv = ["default"]
[apps.py-probe-{tag}.limits]
kv-value-size = "1KiB"
instance-reuse = 0

[apps.py-notes-{tag}]
wasm = "{notes}"
routes = ["/"]
[apps.py-notes-{tag}.grants]
kv = ["default"]
[apps.py-notes-{tag}.limits]
instance-reuse = 0

[apps.py-denied-{tag}]
wasm = "{notes}"
routes = ["/denied"]
"#
        );
        let server = crate::support::serve_toml(&dir, &toml);
        let ops = server.get("/probe/ops");
        assert_eq!(ops.status, 200, "{tag}: {}", ops.text());
        let ops: serde_json::Value = serde_json::from_slice(&ops.body).unwrap();
        let expected = serde_json::json!({
            "missing": null,
            "get": "bytes",
            "get_text": "text \u{e9}",
            "exists": [true, false],
            "increment": [1, 42, "42"],
            "cas_create": true,
            "cas_stale": false,
            "cas_ok": true,
            "update": "v2+",
            "get_many": {"ops:m1": "1", "ops:m2": "2", "ops:m3": null},
            "keys": ["ops:b", "ops:c", "ops:m2", "ops:n"],
        });
        for (key, value) in expected.as_object().unwrap() {
            assert_eq!(&ops[key], value, "{tag}: {key} in {ops}");
        }
        assert_eq!(ops["denied"][0], "access-denied", "{tag}: {ops}");
        assert_eq!(ops["denied"][1], true, "{tag}: {ops}");
        let big = server.get("/probe/big?size=2048");
        let big: serde_json::Value = serde_json::from_slice(&big.body).unwrap();
        assert_eq!(big["error"], "other", "{tag}: {big}");
        assert!(
            big["message"].as_str().unwrap().contains("kv-value-size"),
            "{tag}: {big}"
        );

        // The example: the counter and the notes outlive every (fresh)
        // instance, and the server.
        assert!(server.get("/").text().contains("visit 1"));
        let post = |server: &TestServer, text: &str| {
            server.request(format!(
                "POST /notes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\ntext={text}",
                text.len() + 5
            ))
        };
        let added = post(&server, "buy+milk");
        assert_eq!(added.status, 303, "{tag}: {}", added.text());
        assert_eq!(added.header("location"), Some("/notes/000001"));
        assert_eq!(server.get("/notes/000001").text(), "buy milk");
        let denied = server.get("/denied/");
        assert_eq!(denied.status, 503);
        assert!(denied.text().contains("not granted"), "{}", denied.text());
        drop(server);

        let server = crate::support::serve_toml(&dir, &toml);
        let page = server.get("/").text();
        assert!(
            page.contains("visit 2") && page.contains("buy milk"),
            "{tag}: after a restart: {page}"
        );
        assert_eq!(
            post(&server, "call+mum").header("location"),
            Some("/notes/000002")
        );
    }
}
