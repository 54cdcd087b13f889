//! Key-value stores (issue 18), through a real guest (the `kv` fixture,
//! built on the SDK's `kv` module) over real sockets.
//!
//! The behaviour tests run on both backends, SQLite and a real
//! `redis-server` (`crate::redis`), with the same expectations: isolation,
//! grants, quotas, atomicity, persistence. Then each backend's faults: a
//! SQLite file crashed under (`kill -9`), corrupt or unwritable; a Redis
//! server down at start, or gone while serving.

use crate::redis::RedisServer;
use crate::support::{Binary, TestServer, get_from, run, serve_toml, temp_dir};
use std::path::Path;
use wasm_gateway_test_artifacts as wasm;

/// Where the store under test keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Redis,
}

impl Backend {
    /// The `[kv.shared]` table of a gateway file.
    fn store(self) -> String {
        match self {
            Backend::Sqlite => {
                "[kv.shared]\ntype = \"sqlite\"\npath = \"data/shared.db\"\n".to_owned()
            }
            Backend::Redis => format!(
                "[kv.shared]\ntype = \"redis\"\nurl = \"{}\"\n",
                crate::redis::shared().url(0)
            ),
        }
    }
}

/// The `kv` fixture served as apps named `PREFIX-a` and `PREFIX-b`, both
/// granted the store `shared` (and `a` the `default` one too), with
/// `limits` for `a`, and `PREFIX-c`, granted nothing. App names are unique
/// per test: the Redis server is shared by the whole test process.
struct Apps {
    server: TestServer,
    prefix: String,
}

impl Apps {
    fn serve(backend: Backend, test: &str, limits: &str) -> Apps {
        let dir = temp_dir(&format!("kv-{test}-{backend:?}"));
        Self::serve_in(backend, test, limits, &dir)
    }

    fn serve_in(backend: Backend, test: &str, limits: &str, dir: &Path) -> Apps {
        let prefix = format!("{test}-{}", backend_tag(backend));
        let wasm = wasm::KV;
        let toml = format!(
            r#"
[server]
data-dir = "data"

{store}
[apps.{prefix}-a]
wasm = "{wasm}"
routes = ["/a"]
[apps.{prefix}-a.grants]
kv = ["shared", "default"]
[apps.{prefix}-a.limits]
{limits}

[apps.{prefix}-b]
wasm = "{wasm}"
routes = ["/b"]
[apps.{prefix}-b.grants]
kv = ["shared"]

[apps.{prefix}-c]
wasm = "{wasm}"
routes = ["/c"]
"#,
            store = backend.store(),
        );
        Apps {
            server: serve_toml(dir, &toml),
            prefix,
        }
    }

    /// `GET /APP?op=OP&store=shared&QUERY`: the status and the body.
    fn call(&self, app: &str, op: &str, query: &str) -> (u16, String) {
        let r = self
            .server
            .get(&format!("/{app}?op={op}&store=shared&{query}"));
        (r.status, r.text())
    }

    /// [`Apps::call`], which must succeed.
    fn ok(&self, app: &str, op: &str, query: &str) -> String {
        let (status, body) = self.call(app, op, query);
        assert_eq!(status, 200, "{app} {op} {query}: {body}");
        body
    }
}

fn backend_tag(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sql",
        Backend::Redis => "red",
    }
}

/// Runs each behaviour on both backends, as `sqlite_NAME` and `redis_NAME`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(super::Backend::Sqlite) })*
        }
        mod redis {
            $(#[test] fn $name() { super::$name(super::Backend::Redis) })*
        }
    };
}

on_both_backends!(
    every_operation_works,
    apps_never_see_each_others_keys,
    a_store_not_granted_is_denied,
    quotas_refuse_writes_with_a_clear_error,
    the_key_limit_holds_under_concurrent_writes,
    increments_are_atomic,
    data_outlives_the_server,
);

/// The fixture's own test (every fixture has one): it answers, and an app
/// granted nothing is denied.
#[test]
pub fn kv() {
    let apps = Apps::serve(Backend::Sqlite, "fixture", "");
    assert_eq!(apps.ok("a", "open", ""), "ok");
    assert_eq!(apps.call("c", "open", "").0, 403);
    // Every call is bounded, whatever the guest asks.
    let keys: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    let (status, body) = apps.call("a", "get_many", &format!("keys={}", keys.join(",")));
    assert_eq!(status, 409);
    assert!(
        body.contains("a batch of 1001 keys; at most 1000"),
        "{body}"
    );
    let long = "k".repeat(5000);
    let (status, body) = apps.call("a", "get", &format!("key={long}"));
    assert_eq!(status, 409);
    assert!(body.contains("longer than any key can be"), "{body}");
}

/// A `wasi:http` component (as written for Spin's key-value API) gets the
/// stores it is granted too, under the same rules.
#[test]
pub fn proxy_kv() {
    let dir = temp_dir("kv-proxy");
    let server = serve_toml(
        &dir,
        &format!(
            "[server]\ndata-dir = \"data\"\n[apps.spin-like]\nwasm = \"{wasm}\"\nroutes = [\"/granted\"]\n[apps.spin-like.grants]\nkv = [\"default\"]\n[apps.other]\nwasm = \"{wasm}\"\nroutes = [\"/other\"]\n",
            wasm = wasm::PROXY_KV
        ),
    );
    assert_eq!(server.get("/granted").text(), "1");
    assert_eq!(server.get("/granted").text(), "2");
    let r = server.get("/other");
    assert_eq!(r.status, 403, "{}", r.text());
}

fn every_operation_works(backend: Backend) {
    let apps = Apps::serve(backend, "ops", "");
    assert_eq!(apps.ok("a", "get", "key=k"), "(none)");
    assert_eq!(apps.ok("a", "exists", "key=k"), "false");
    apps.ok("a", "set", "key=k&value=v1");
    assert_eq!(apps.ok("a", "get", "key=k"), "v1");
    assert_eq!(apps.ok("a", "exists", "key=k"), "true");
    apps.ok("a", "set", "key=k&value=v2");
    assert_eq!(apps.ok("a", "get", "key=k"), "v2");
    apps.ok("a", "delete", "key=k");
    assert_eq!(apps.ok("a", "get", "key=k"), "(none)");
    apps.ok("a", "delete", "key=k");

    // Counters: decimal text, made at the first increment.
    assert_eq!(apps.ok("a", "incr", "key=n&by=5"), "5");
    assert_eq!(apps.ok("a", "incr", "key=n&by=-7"), "-2");
    assert_eq!(apps.ok("a", "get", "key=n"), "-2");
    apps.ok("a", "set", "key=word&value=hello");
    let (status, body) = apps.call("a", "incr", "key=word");
    assert_eq!(status, 409);
    assert!(body.contains("not an integer"), "{body}");
    apps.ok("a", "set", &format!("key=max&value={}", i64::MAX));
    let (status, body) = apps.call("a", "incr", "key=max");
    assert_eq!(status, 409);
    assert!(body.contains("overflow"), "{body}");
    assert_eq!(apps.ok("a", "get", "key=max"), i64::MAX.to_string());

    // Compare-and-swap.
    assert_eq!(apps.ok("a", "cas", "key=c&value=1"), "swapped");
    assert_eq!(apps.ok("a", "cas", "key=c&value=2"), "changed");
    assert_eq!(apps.ok("a", "cas", "key=c&expect=0&value=2"), "changed");
    assert_eq!(apps.ok("a", "cas", "key=c&expect=1&value=2"), "swapped");
    assert_eq!(apps.ok("a", "get", "key=c"), "2");
    assert_eq!(apps.ok("a", "update", "key=c&value=3"), "23");

    // Batches.
    apps.ok("a", "set_many", "keys=x,y,z");
    assert_eq!(
        apps.ok("a", "get_many", "keys=x,nope,z"),
        "x=x;nope=(none);z=z"
    );
    apps.ok("a", "delete_many", "keys=x,y");
    assert_eq!(
        apps.ok("a", "get_many", "keys=x,y,z"),
        "x=(none);y=(none);z=z"
    );

    // Listing, in key order, page by page.
    assert_eq!(
        apps.ok("a", "list", ""),
        "cursor=(end)\nc\nmax\nn\nword\nz\n"
    );
    apps.ok("a", "fill", "key=page&count=1005");
    let first = apps.ok("a", "list", "");
    let mut lines = first.lines();
    let cursor = lines
        .next()
        .unwrap()
        .strip_prefix("cursor=")
        .unwrap()
        .to_owned();
    assert_eq!(lines.count(), 1000);
    let rest = apps.ok("a", "list", &format!("cursor={cursor}"));
    assert!(rest.starts_with("cursor=(end)\n"), "{rest}");
    assert_eq!(rest.lines().count() - 1, 1010 - 1000);
    assert_eq!(apps.ok("a", "count", ""), "1010");
}

fn apps_never_see_each_others_keys(backend: Backend) {
    let apps = Apps::serve(backend, "iso", "");
    apps.ok("a", "set", "key=secret&value=of-a");
    assert_eq!(apps.ok("b", "get", "key=secret"), "(none)");
    assert_eq!(apps.ok("b", "exists", "key=secret"), "false");
    assert_eq!(apps.ok("b", "list", ""), "cursor=(end)\n");
    assert_eq!(apps.ok("b", "get_many", "keys=secret"), "secret=(none)");
    // What b does to the same key is its own key.
    apps.ok("b", "delete", "key=secret");
    apps.ok("b", "delete_many", "keys=secret");
    assert_eq!(apps.ok("b", "cas", "key=secret&value=of-b"), "swapped");
    assert_eq!(apps.ok("b", "incr", "key=count"), "1");
    assert_eq!(apps.ok("a", "get", "key=secret"), "of-a");
    assert_eq!(apps.ok("b", "get", "key=secret"), "of-b");
    assert_eq!(apps.ok("a", "get", "key=count"), "(none)");
    assert_eq!(apps.ok("a", "list", ""), "cursor=(end)\nsecret\n");
    if backend == Backend::Redis {
        // The layout: the app in a hash tag, then the store, then the key.
        let a = format!("{}-a", apps.prefix);
        let keys = crate::redis::shared().command(&format!("KEYS wg:{{{a}}}:*"));
        for key in [
            format!("wg:{{{a}}}:shared:v:secret"),
            format!("wg:{{{a}}}:shared:i"),
            format!("wg:{{{a}}}:shared:b"),
        ] {
            assert!(keys.contains(&key), "{key} not in {keys}");
        }
    }
    // A cursor is only a position in the app's own keys.
    assert_eq!(
        apps.ok("b", "list", "cursor=a"),
        "cursor=(end)\ncount\nsecret\n"
    );
    // The same app's other store is another namespace.
    let default = apps.server.get("/a?op=get&store=default&key=secret").text();
    assert_eq!(default, "(none)");
}

fn a_store_not_granted_is_denied(backend: Backend) {
    let apps = Apps::serve(backend, "deny", "");
    assert_eq!(apps.call("c", "open", ""), (403, "access denied".into()));
    // Whether or not the store exists, declared or not.
    let r = apps.server.get("/c?op=open&store=default");
    assert_eq!(r.status, 403);
    let r = apps.server.get("/b?op=open&store=default");
    assert_eq!(r.status, 403, "b is granted `shared` only");
    let r = apps.server.get("/a?op=open&store=no-such-store");
    assert_eq!(r.status, 403);
    // The server goes on serving the others.
    assert_eq!(apps.ok("a", "open", ""), "ok");
}

fn quotas_refuse_writes_with_a_clear_error(backend: Backend) {
    let apps = Apps::serve(
        backend,
        "quota",
        "kv-key-size = 16\nkv-value-size = 100\nkv-keys = 5\nkv-total-bytes = 300\n",
    );
    let (status, body) = apps.call("a", "set", "key=k&size=101");
    assert_eq!(status, 409);
    assert!(
        body.contains("kv-value-size: the value is 101 bytes, over the app's limit of 100"),
        "{body}"
    );
    let (status, body) = apps.call("a", "set", "key=seventeen-bytes-k&value=v");
    assert_eq!(status, 409);
    assert!(body.contains("kv-key-size"), "{body}");
    assert_eq!(
        apps.ok("a", "get", "key=k"),
        "(none)",
        "nothing was written"
    );

    // Five keys, then the sixth is refused; overwriting one still works.
    assert_eq!(apps.ok("a", "fill", "key=k&count=6&value=v"), {
        "wrote 5, then: key-value store: kv-keys: the store holds 5 keys of this app, its limit; delete some first"
    });
    apps.ok("a", "set", "key=k0&value=w");
    apps.ok("a", "delete", "key=k4");
    apps.ok("a", "set", "key=k5&value=v");
    let (status, body) = apps.call("a", "incr", "key=counter");
    assert_eq!(status, 409);
    assert!(body.contains("kv-keys"), "{body}");

    // Bytes: 5 keys of 2 bytes and values of 1; growing one value past
    // 300 bytes in all is refused, and the value stays as it was.
    let (status, body) = apps.call("a", "set", "key=k0&size=100");
    assert_eq!(status, 200, "{body}");
    apps.ok("a", "set", "key=k1&size=100");
    let (status, body) = apps.call("a", "set", "key=k2&size=100");
    assert_eq!(status, 409);
    assert!(body.contains("kv-total-bytes"), "{body}");
    assert_eq!(apps.ok("a", "get", "key=k2"), "v");
    // Shrinking makes room again.
    apps.ok("a", "set", "key=k1&value=small");
    apps.ok("a", "set", "key=k2&size=100");
    // The other app's quota is its own.
    assert_eq!(apps.ok("b", "fill", "key=k&count=10&size=200"), "wrote 10");
}

fn the_key_limit_holds_under_concurrent_writes(backend: Backend) {
    let apps = Apps::serve(backend, "race", "kv-keys = 7\n");
    let written = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..24)
            .map(|i| {
                let apps = &apps;
                scope.spawn(move || apps.call("a", "set", &format!("key=k{i}&value=v")))
            })
            .collect();
        writers
            .into_iter()
            .map(|w| w.join().unwrap())
            .filter(|(status, body)| {
                assert!(
                    *status == 200 || body.contains("kv-keys"),
                    "{status} {body}"
                );
                *status == 200
            })
            .count()
    });
    assert_eq!(written, 7);
    assert_eq!(apps.ok("a", "count", ""), "7");
}

fn increments_are_atomic(backend: Backend) {
    let apps = Apps::serve(backend, "incr", "");
    std::thread::scope(|scope| {
        for _ in 0..6 {
            let apps = &apps;
            scope.spawn(move || {
                for _ in 0..10 {
                    apps.ok("a", "incr", "key=hits");
                    apps.ok("a", "update", "key=log&value=x");
                }
            });
        }
    });
    assert_eq!(apps.ok("a", "get", "key=hits"), "60");
    assert_eq!(apps.ok("a", "get", "key=log"), "x".repeat(60));
}

fn data_outlives_the_server(backend: Backend) {
    let dir = temp_dir(&format!("kv-persist-{backend:?}"));
    {
        let apps = Apps::serve_in(backend, "persist", "", &dir);
        apps.ok("a", "set", "key=kept&value=yes");
        apps.ok("a", "incr", "key=n&by=41");
    }
    let apps = Apps::serve_in(backend, "persist", "", &dir);
    assert_eq!(apps.ok("a", "get", "key=kept"), "yes");
    assert_eq!(apps.ok("a", "incr", "key=n"), "42");
    if backend == Backend::Sqlite {
        // The default store is in the data directory, next to the file.
        apps.server.get("/a?op=set&store=default&key=d&value=1");
        assert!(dir.join("data/kv.db").is_file());
        assert!(dir.join("data/shared.db").is_file());
    }
}

/// `serve` of one app with `--kv default`: the store is SQLite in
/// `--data-dir`; without the flag the app is denied.
#[test]
fn one_app_is_granted_the_default_store_by_flag() {
    let dir = temp_dir("kv-one-app");
    let data = dir.join("state");
    let bin = Binary::serve(
        wasm::KV,
        &["--kv", "default", "--data-dir", data.to_str().unwrap()],
    );
    let r = get_from(bin.addr, "/?op=incr&key=visits");
    assert_eq!((r.status, r.text()), (200, "1".into()));
    let r = get_from(bin.addr, "/?op=incr&key=visits");
    assert_eq!(r.text(), "2");
    assert!(data.join("kv.db").is_file());
    drop(bin);
    let bin = Binary::serve(wasm::KV, &[]);
    assert_eq!(get_from(bin.addr, "/?op=open").status, 403);
    let (code, _, err) = run(&["check", wasm::KV, "--kv", "cache"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("kv store \"cache\" is not declared") && err.contains("only \"default\""),
        "{err}"
    );
}

/// A write over quota is logged (within the app's log budget) and counted
/// in the metrics, besides the guest's error.
#[test]
fn a_refused_write_is_logged_and_counted() {
    let dir = temp_dir("kv-refused");
    let toml = dir.join("gateway.toml");
    std::fs::write(
        &toml,
        format!(
            "[apps.shop]\nwasm = \"{}\"\nroutes = [\"/\"]\n[apps.shop.grants]\nkv = [\"default\"]\n[apps.shop.limits]\nkv-value-size = 10\n",
            wasm::KV
        ),
    )
    .unwrap();
    let (bin, admin) = Binary::serve_with_admin(&[
        "serve",
        toml.to_str().unwrap(),
        "--data-dir",
        dir.join("data").to_str().unwrap(),
    ]);
    assert_eq!(get_from(bin.addr, "/?op=set&key=k&size=11").status, 409);
    assert_eq!(get_from(bin.addr, "/?op=set&key=k&size=10").status, 200);
    let metrics = get_from(admin, "/metrics").text();
    for line in [
        r#"wasm_gateway_kv_quota_refusals_total{app="shop",limit="kv-value-size"} 1"#,
        r#"wasm_gateway_kv_calls_total{app="shop",result="over_quota"} 1"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
    let log = bin.stop();
    assert!(
        log.contains("kv write refused by the app's quota")
            && log.contains("limit=\"kv-value-size\"")
            && log.contains("shop"),
        "{log}"
    );
}

/// Acknowledged writes survive the process being killed (`kill -9`): WAL
/// with `synchronous = NORMAL` has them in the log when the call returns.
#[test]
fn sqlite_keeps_every_acknowledged_write_through_a_crash() {
    let dir = temp_dir("kv-crash");
    let data = dir.join("data");
    let args = |data: &Path| {
        vec![
            "serve".to_owned(),
            wasm::KV.to_owned(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--kv".into(),
            "default".into(),
            "--data-dir".into(),
            data.display().to_string(),
        ]
    };
    let spawn = || {
        let args = args(&data);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Binary::spawn(&args, &[])
    };
    let mut bin = spawn();
    let mut acknowledged = Vec::new();
    for i in 0..200 {
        let r = get_from(bin.addr, &format!("/?op=set&key=k{i}&value=v{i}"));
        assert_eq!(r.status, 200, "{}", r.text());
        acknowledged.push(i);
        if i % 2 == 0 {
            assert_eq!(get_from(bin.addr, "/?op=incr&key=n").status, 200);
        }
    }
    bin.child.kill().unwrap();
    bin.child.wait().unwrap();
    let bin = spawn();
    for i in acknowledged {
        assert_eq!(
            get_from(bin.addr, &format!("/?op=get&key=k{i}")).text(),
            format!("v{i}")
        );
    }
    assert_eq!(get_from(bin.addr, "/?op=get&key=n").text(), "100");
}

/// A SQLite store that cannot be used stops the load with its path named.
#[test]
fn a_corrupt_or_unwritable_sqlite_file_is_a_load_error_naming_it() {
    let dir = temp_dir("kv-bad-sqlite");
    std::fs::write(dir.join("corrupt.db"), vec![b'?'; 4096]).unwrap();
    std::fs::write(dir.join("a-file"), b"").unwrap();
    for (path, problem) in [
        ("corrupt.db", "file is not a database"),
        ("a-file/kv.db", "cannot make its folder"),
    ] {
        let toml = dir.join("gateway.toml");
        std::fs::write(
            &toml,
            format!(
                "[kv.notes]\ntype = \"sqlite\"\npath = \"{path}\"\n[apps.notes]\nwasm = \"{}\"\nroutes = [\"/\"]\n[apps.notes.grants]\nkv = [\"notes\"]\n",
                wasm::KV
            ),
        )
        .unwrap();
        let (code, _, err) = run(&["check", toml.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("[apps.notes]")
                && err.contains("kv store `notes`")
                && err.contains(&dir.join(path).display().to_string())
                && err.contains(problem),
            "{err}"
        );
    }
}

/// The documented rule: a Redis server down at start is not a load error;
/// the store's calls fail (the guest gets an error, the log says why) and
/// work again once the server answers, without a reload. The same when it
/// goes away while serving; other apps are served all along.
#[test]
fn redis_down_or_gone_fails_calls_not_the_server() {
    let redis = RedisServer::start();
    redis.kill();
    let dir = temp_dir("kv-redis-down");
    let toml = dir.join("gateway.toml");
    std::fs::write(
        &toml,
        format!(
            "[kv.cache]\ntype = \"redis\"\nurl = \"{}\"\n[apps.shop]\nwasm = \"{wasm}\"\nroutes = [\"/shop\"]\n[apps.shop.grants]\nkv = [\"cache\"]\n[apps.blog]\nwasm = \"{wasm}\"\nroutes = [\"/blog\"]\n[apps.blog.grants]\nkv = [\"default\"]\n",
            redis.url(0),
            wasm = wasm::KV
        ),
    )
    .unwrap();
    let bin = Binary::spawn(
        &[
            "serve",
            toml.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.join("data").to_str().unwrap(),
        ],
        &[],
    );
    let r = get_from(bin.addr, "/shop?op=incr&store=cache&key=n");
    assert_eq!(r.status, 409);
    assert!(r.text().contains("unavailable"), "{}", r.text());
    assert_eq!(get_from(bin.addr, "/blog?op=incr&key=n").status, 200);

    redis.restart();
    assert_eq!(until_ok(bin.addr, "/shop?op=incr&store=cache&key=n"), "1");

    redis.kill();
    let r = get_from(bin.addr, "/shop?op=incr&store=cache&key=n");
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(get_from(bin.addr, "/blog?op=incr&key=n").text(), "2");
    redis.restart();
    assert_eq!(until_ok(bin.addr, "/shop?op=incr&store=cache&key=n"), "1");

    let log = bin.stop();
    assert!(
        log.contains("does not answer") && log.contains("serving anyway"),
        "{log}"
    );
    assert!(log.contains("kv store failed"), "{log}");
}

/// A store that never answers (a server that accepts and says nothing)
/// holds no request past its deadline, nor the server: the load goes on,
/// the request ends at its deadline, other apps are served.
#[test]
fn a_store_that_never_answers_is_cut_by_the_deadline() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    // Accepts connections and keeps them open, answering nothing.
    let held = std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming().take(8) {
            held.push(conn);
        }
        held
    });
    let dir = temp_dir("kv-silent");
    let server = serve_toml(
        &dir,
        &format!(
            "[server]\ndata-dir = \"data\"\n[kv.slow]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{port}/0\"\n[apps.stuck]\nwasm = \"{wasm}\"\nroutes = [\"/stuck\"]\n[apps.stuck.grants]\nkv = [\"slow\"]\n[apps.stuck.limits]\ntimeout = \"1s\"\n[apps.fine]\nwasm = \"{wasm}\"\nroutes = [\"/fine\"]\n[apps.fine.grants]\nkv = [\"default\"]\n",
            wasm = wasm::KV
        ),
    );
    let r = server.get("/stuck?op=get&store=slow&key=k");
    assert!(
        r.status == 504 || (r.status == 409 && r.text().contains("unavailable")),
        "{} {}",
        r.status,
        r.text()
    );
    assert_eq!(server.get("/fine?op=incr&key=n").text(), "1");
    drop(server);
    drop(held);
}

/// The body of `path` once it answers 200: a reconnecting client gets
/// there after a few failed calls (bounded, not timed).
fn until_ok(addr: std::net::SocketAddr, path: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        let r = get_from(addr, path);
        if r.status == 200 {
            return r.text();
        }
        last = r.text();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{path} never succeeded; last: {last}");
}

/// A reload applies a changed store: the app's next calls go to the new
/// SQLite file or Redis database (its data stays in the old one), and the
/// status page names the stores each app is granted. A changed `data-dir` would move the `default` store the
/// same way unseen, so it needs a restart: the reload is refused.
#[test]
fn a_reload_moves_apps_to_a_changed_store_and_refuses_a_changed_data_dir() {
    let dir = temp_dir("kv-reload");
    let redis = crate::redis::shared();
    let toml = dir.join("gateway.toml");
    let write = |data_dir: &str, file: &str, db: u8| {
        let url = redis.url(db);
        let tmp = dir.join("gateway.toml.tmp");
        std::fs::write(
            &tmp,
            format!(
                "[server]\ndata-dir = \"{data_dir}\"\n\
                 [kv.notes]\ntype = \"sqlite\"\npath = \"{file}\"\n\
                 [kv.cache]\ntype = \"redis\"\nurl = \"{url}\"\n\
                 [apps.kv-reload]\nwasm = \"{wasm}\"\nroutes = [\"/\"]\n\
                 [apps.kv-reload.grants]\nkv = [\"notes\", \"cache\", \"default\"]\n",
                wasm = wasm::KV
            ),
        )
        .unwrap();
        std::fs::rename(&tmp, &toml).unwrap();
    };
    write("data", "one.db", 0);
    let (bin, admin) = Binary::serve_with_admin(&["serve", toml.to_str().unwrap()]);
    let call = |query: &str| {
        let r = get_from(bin.addr, &format!("/?{query}"));
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        r.text()
    };
    let reload = || {
        let r = crate::support::request_to(
            admin,
            b"POST /reload HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        (r.status, r.text())
    };
    call("op=delete&store=cache&key=k");
    call("op=set&store=notes&key=k&value=one");
    call("op=set&store=cache&key=k&value=db0");
    call("op=set&store=default&key=k&value=d");

    write("data", "two.db", 1);
    let (status, text) = reload();
    assert_eq!(status, 200, "{text}");
    assert_eq!(call("op=get&store=notes&key=k"), "(none)");
    assert_eq!(call("op=get&store=cache&key=k"), "(none)");
    assert_eq!(call("op=get&store=default&key=k"), "d");
    call("op=set&store=notes&key=k&value=two");
    let status_page = get_from(admin, "/").text();
    for granted in [
        format!("kv notes (SQLite {})", dir.join("two.db").display()),
        format!(
            "kv cache (Redis {})",
            redis.url(1).trim_start_matches("redis://")
        ),
    ] {
        assert!(
            status_page.contains(&granted),
            "{granted} not in\n{status_page}"
        );
    }

    write("elsewhere", "two.db", 1);
    let (status, text) = reload();
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("data-dir"), "{text}");
    assert_eq!(call("op=get&store=default&key=k"), "d");
    assert_eq!(call("op=get&store=notes&key=k"), "two");
    drop(bin);
    // The first file kept what was written to it (read as bytes, in the
    // file or its log: the tests do not link SQLite).
    let one = std::fs::read(dir.join("one.db")).unwrap();
    assert!(one.starts_with(b"SQLite format 3\0"));
    let log = std::fs::read(dir.join("one.db-wal")).unwrap_or_default();
    assert!(
        [one, log].iter().any(|b| b.windows(3).any(|w| w == b"one")),
        "one.db lost its value"
    );
}
