//! The gateway configuration file (`gateway.toml`): many applications and
//! static document roots, their routes, environ and limits, in one strict
//! TOML file. `docs/configuration.md` documents every key.
//!
//! Strict means an unknown key, a mistyped value or a missing requirement
//! stops start-up with one line naming the file, the line and the problem:
//! a typo in a limit must not silently leave the default in force.

pub mod listen;
pub mod options;
pub mod units;

use crate::config::options::{AppGrants, AppLimits, ServerOptions, ServerSettings};
use crate::kv::{Catalog, StoreSpec};
use crate::runtime::AppConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration that could not be read or is invalid.
#[derive(Debug)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The whole gateway, as the file describes it.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The file it came from.
    pub path: PathBuf,
    /// The `[server]` settings, defaults filled in.
    pub server: ServerSettings,
    /// The applications and document roots, in name order.
    pub apps: Vec<AppSpec>,
    /// The middleware declared in `[middleware.NAME]`, in name order.
    pub middleware: Vec<MiddlewareSpec>,
    /// The key-value stores declared in `[kv.NAME]`, and the default one.
    pub kv: Catalog,
}

/// One `[middleware.NAME]` table.
#[derive(Debug, Clone)]
pub struct MiddlewareSpec {
    /// Its component, resolved against the file's folder.
    pub wasm: PathBuf,
    /// Name, environ extras, limits and grants, as for an application.
    pub config: AppConfig,
}

/// One `[apps.NAME]` table.
#[derive(Debug, Clone)]
pub struct AppSpec {
    /// What it serves.
    pub kind: AppKind,
    /// Its routes, `"[host]/prefix"`.
    pub routes: Vec<String>,
    /// Name, environ extras and limits, ready for the runtime.
    pub config: AppConfig,
    /// The middleware stacked in front of it, outermost first.
    pub middleware: Vec<String>,
}

/// What an `[apps.NAME]` table serves.
#[derive(Debug, Clone)]
pub enum AppKind {
    /// A component (`wasm = "..."`), path resolved against the file's folder.
    Wasm(PathBuf),
    /// A document root (`static = "..."`), resolved the same way.
    Static(PathBuf),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: ServerOptions,
    #[serde(default)]
    apps: BTreeMap<String, RawApp>,
    #[serde(default)]
    middleware: BTreeMap<String, RawMiddleware>,
    #[serde(default)]
    kv: BTreeMap<String, RawStore>,
}

/// One `[kv.NAME]` table.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum RawStore {
    /// `type = "sqlite"`, `path = "data/kv.db"` (relative to the file).
    Sqlite { path: PathBuf },
    /// `type = "redis"`, `url = "redis://127.0.0.1:6379/0"`.
    Redis { url: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawMiddleware {
    wasm: PathBuf,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    limits: AppLimits,
    grants: Option<AppGrants>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawApp {
    wasm: Option<PathBuf>,
    #[serde(rename = "static")]
    static_dir: Option<PathBuf>,
    routes: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    limits: AppLimits,
    grants: Option<AppGrants>,
    #[serde(default)]
    middleware: Vec<String>,
}

/// Reads and checks the configuration file at `path`.
pub fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
    load_with(path, &ServerOptions::default())
}

/// Reads and checks the configuration file at `path`, with `overrides`
/// (the command line's) over its `[server]` table.
pub fn load_with(path: &Path, overrides: &ServerOptions) -> Result<GatewayConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        ConfigError(format!(
            "{}: cannot read the configuration: {err}",
            path.display()
        ))
    })?;
    parse_with(&text, path, overrides)
}

/// Checks configuration `text`, read from `path` (relative paths inside it
/// are resolved against `path`'s folder).
#[cfg(test)]
pub fn parse(text: &str, path: &Path) -> Result<GatewayConfig, ConfigError> {
    parse_with(text, path, &ServerOptions::default())
}

/// [`parse`] with `overrides` over the file's `[server]` table (they decide
/// where the default key-value store is, which the grants name).
pub fn parse_with(
    text: &str,
    path: &Path,
    overrides: &ServerOptions,
) -> Result<GatewayConfig, ConfigError> {
    let file = path.display();
    // Another TOML file (a Cargo.toml, say) would otherwise be reported by
    // its first key as an unknown field, which hides the real mistake.
    if let Ok(table) = text.parse::<toml::Table>()
        && !table.is_empty()
        && !["server", "apps", "middleware", "kv"]
            .iter()
            .any(|key| table.contains_key(*key))
    {
        return Err(ConfigError(format!(
            "{file} is not a gateway file: it has none of the [server], [apps.NAME] or [middleware.NAME] tables (see docs/configuration.md; to serve one component, give its .wasm file)"
        )));
    }
    let mut raw: RawConfig = toml::from_str(text).map_err(|err| located(text, path, &err))?;
    let base = path.parent().unwrap_or(Path::new(""));

    let mut server = ServerSettings::default();
    std::mem::take(&mut raw.server)
        .relative_to(base)
        .apply(&mut server);
    overrides.apply(&mut server);
    server
        .validate()
        .map_err(|problem| ConfigError(format!("{file}: [server] {problem}")))?;

    let mut stores = BTreeMap::new();
    for (name, store) in std::mem::take(&mut raw.kv) {
        let problem = |what: String| ConfigError(format!("{file}: [kv.{name}] {what}"));
        check_name(&name).map_err(problem)?;
        let spec = match store {
            RawStore::Sqlite { path } => StoreSpec::Sqlite {
                path: std::path::absolute(base.join(&path)).unwrap_or_else(|_| base.join(path)),
            },
            RawStore::Redis { url } => StoreSpec::redis(&url).map_err(problem)?,
        };
        stores.insert(name, spec);
    }
    let catalog = Catalog::new(stores, &server.data_dir);

    if raw.apps.is_empty() {
        return Err(ConfigError(format!(
            "{file}: no applications: add an [apps.NAME] table with `wasm` or `static` and `routes`"
        )));
    }
    let mut apps = Vec::with_capacity(raw.apps.len());
    let mut routes = crate::http::routes::RouteTableBuilder::<()>::new();
    for (name, app) in std::mem::take(&mut raw.apps) {
        let problem = |what: String| ConfigError(format!("{file}: [apps.{name}] {what}"));
        check_name(&name).map_err(problem)?;
        let kind = match (app.wasm, app.static_dir) {
            (Some(wasm), None) => AppKind::Wasm(base.join(wasm)),
            (None, Some(dir)) => AppKind::Static(base.join(dir)),
            (Some(_), Some(_)) => {
                return Err(problem(
                    "has both `wasm` and `static`: an entry serves one or the other".to_owned(),
                ));
            }
            (None, None) => {
                return Err(problem(
                    "needs `wasm = \"app.wasm\"` or `static = \"dir/\"`".to_owned(),
                ));
            }
        };
        if app.routes.is_empty() {
            return Err(problem(
                "has no routes: add e.g. `routes = [\"/\"]`".to_owned(),
            ));
        }
        if matches!(kind, AppKind::Static(_)) && !app.env.is_empty() {
            return Err(problem(
                "`env` is for applications; a static root has no environ".to_owned(),
            ));
        }
        if matches!(kind, AppKind::Static(_)) && app.grants.is_some() {
            return Err(problem(
                "[grants] are for applications; a static root runs no code".to_owned(),
            ));
        }
        let wasm_only = app.limits.code_only();
        if let (AppKind::Static(_), Some((key, _))) =
            (&kind, wasm_only.iter().find(|(_, set)| *set))
        {
            return Err(problem(format!(
                "[limits] {key} is for applications; a static root runs no code"
            )));
        }
        if matches!(kind, AppKind::Static(_)) && !app.middleware.is_empty() {
            return Err(problem(
                "`middleware` runs in front of applications; a static root cannot have any"
                    .to_owned(),
            ));
        }
        for layer in &app.middleware {
            if !raw.middleware.contains_key(layer) {
                return Err(problem(format!(
                    "middleware {layer:?} is not declared: add a [middleware.{layer}] table with `wasm`"
                )));
            }
        }
        let config = app_config(
            &name,
            app.env,
            app.limits,
            app.grants,
            (base, &catalog),
            &problem,
        )?;

        // Route syntax is checked now, with the file's name, rather than
        // after every component has compiled.
        for route in &app.routes {
            routes
                .add(route, &name, ())
                .map_err(|err| problem(err.to_string()))?;
        }
        apps.push(AppSpec {
            kind,
            routes: app.routes,
            config,
            middleware: app.middleware,
        });
    }

    let mut middleware = Vec::with_capacity(raw.middleware.len());
    for (name, layer) in raw.middleware {
        let problem = |what: String| ConfigError(format!("{file}: [middleware.{name}] {what}"));
        check_name(&name).map_err(&problem)?;
        if apps.iter().any(|app| *app.config.name == *name) {
            return Err(problem(format!(
                "an application is also called {name:?}: log lines could not tell them apart; rename one"
            )));
        }
        let config = app_config(
            &name,
            layer.env,
            layer.limits,
            layer.grants,
            (base, &catalog),
            &problem,
        )?;
        middleware.push(MiddlewareSpec {
            wasm: base.join(layer.wasm),
            config,
        });
    }

    Ok(GatewayConfig {
        path: path.to_owned(),
        server,
        apps,
        middleware,
        kv: catalog,
    })
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("the name may only use letters, digits, `-` and `_`".to_owned());
    }
    Ok(())
}

/// The settings of an application or middleware called `name` from its
/// table's `env`, `[limits]` and `[grants]` (paths relative to `base`, the
/// file's folder, and stores from `stores`); `problem` prefixes the file
/// and table to a message.
fn app_config(
    name: &str,
    env: BTreeMap<String, String>,
    limits: AppLimits,
    grants: Option<AppGrants>,
    (base, stores): (&Path, &Catalog),
    problem: &dyn Fn(String) -> ConfigError,
) -> Result<AppConfig, ConfigError> {
    for key in env.keys() {
        if key.is_empty() || key.chars().any(|c| c == '=' || c.is_control()) {
            return Err(problem(format!(
                "env key {key:?} is not a valid environ name"
            )));
        }
    }
    let mut config = AppConfig::new(name);
    config.env = env.into_iter().collect();
    limits.apply(&mut config);
    if let Some(grants) = grants {
        grants.validate().map_err(problem)?;
        grants.apply(&mut config, base, stores).map_err(problem)?;
    }
    config.validate().map_err(problem)?;
    Ok(config)
}

/// `FILE:LINE:COLUMN: message` for a TOML or schema error.
fn located(text: &str, path: &Path, err: &toml::de::Error) -> ConfigError {
    let message = err.message().trim().replace('\n', " ");
    match err.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            ConfigError(format!("{}:{line}:{column}: {message}", path.display()))
        }
        None => ConfigError(format!("{}: {message}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::grants::Grants;
    use crate::runtime::reuse::Reuse;
    use std::time::Duration;

    fn check(text: &str) -> Result<GatewayConfig, String> {
        parse(text, Path::new("/etc/gw/gateway.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_config_parses_with_paths_relative_to_the_file() {
        let config = check(
            r#"
[server]
listen = "127.0.0.1:9000"
max-request-line = 4094
header-timeout = "10s"

[apps.blog]
wasm = "apps/blog.wasm"
routes = ["/blog", "blog.example.com/"]
env = { BLOG_TITLE = "Notes" }
[apps.blog.limits]
memory = "64MiB"
timeout = "5s"
max-body = "1MiB"
concurrency = 4
queue = 8
queue-timeout = "2s"

[apps.site]
static = "public/"
routes = ["/"]
"#,
        )
        .unwrap();
        assert_eq!(
            config.server.listen,
            Some("127.0.0.1:9000".parse().unwrap())
        );
        assert_eq!(config.server.limits.max_request_line, 4094);
        assert_eq!(config.server.limits.header_timeout, Duration::from_secs(10));
        assert_eq!(config.server.limits.max_header_count, 100);
        let blog = &config.apps[0];
        assert!(matches!(&blog.kind, AppKind::Wasm(p) if p == Path::new("/etc/gw/apps/blog.wasm")));
        assert_eq!(&*blog.config.name, "blog");
        assert_eq!(blog.config.env, [("BLOG_TITLE".into(), "Notes".into())]);
        assert_eq!(blog.config.memory, 64 << 20);
        assert_eq!(blog.config.timeout, Duration::from_secs(5));
        assert_eq!(blog.config.max_body, 1 << 20);
        assert_eq!((blog.config.concurrency, blog.config.queue), (4, 8));
        assert_eq!(blog.config.queue_timeout, Duration::from_secs(2));
        assert!(
            matches!(&config.apps[1].kind, AppKind::Static(p) if p == Path::new("/etc/gw/public/"))
        );
    }

    #[test]
    fn isolation_limits_and_grants_parse() {
        let tmp = std::env::temp_dir();
        let config = check(&format!(
            r#"
[apps.py]
wasm = "py.wasm"
routes = ["/"]
[apps.py.limits]
fuel = 1000000
table-elements = 50000
max-response-head = "16KiB"
instance-reuse = {{ requests = 500, lifetime = "2m" }}
[apps.py.grants]
env = {{ MODE = "prod" }}
dirs = {{ "/data" = {tmp:?} }}
stdout = true
trap-unknown-imports = true

[apps.rs]
wasm = "rs.wasm"
routes = ["/rs"]
[apps.rs.limits]
instance-reuse = 10
"#
        ))
        .unwrap();
        let py = &config.apps[0].config;
        assert_eq!(py.fuel, Some(1_000_000));
        assert_eq!(py.table_elements, 50_000);
        assert_eq!(py.max_response_head, 16 << 10);
        assert_eq!(
            py.instance_reuse,
            Some(Reuse {
                requests: 500,
                lifetime: Duration::from_secs(120)
            })
        );
        assert_eq!(py.grants.env, [("MODE".into(), "prod".into())]);
        assert_eq!(py.grants.dirs, Some(vec![("/data".into(), tmp.clone())]));
        assert!(py.grants.stdout && !py.grants.stderr && py.grants.trap_unknown_imports);
        let rs = &config.apps[1].config;
        assert_eq!(rs.grants, Grants::default());
        assert_eq!(rs.fuel, None);
        assert_eq!(
            rs.instance_reuse,
            Some(Reuse {
                requests: 10,
                lifetime: Reuse::DEFAULT_LIFETIME
            })
        );
    }

    #[test]
    fn instance_reuse_0_asks_for_a_fresh_instance_per_request() {
        let dir = std::env::temp_dir().join(format!("wg-reuse0-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gateway.toml");
        let apps = "[apps.off]\nwasm = \"a.wasm\"\nroutes = [\"/off\"]\n[apps.off.limits]\ninstance-reuse = 0\n\n[apps.unset]\nwasm = \"a.wasm\"\nroutes = [\"/\"]\n";
        std::fs::write(&path, apps).unwrap();
        let config = load(&path).unwrap();
        let app = |name: &str| {
            &config
                .apps
                .iter()
                .find(|a| &*a.config.name == name)
                .unwrap()
                .config
        };
        // Off: no reuse, whatever the component's kind.
        assert_eq!(app("off").instance_reuse, None);
        assert!(!app("off").reuse_by_default);
        // Unset: the kind decides (a Python component reuses).
        assert_eq!(app("unset").instance_reuse, None);
        assert!(app("unset").reuse_by_default);
    }

    #[test]
    fn bad_isolation_settings_name_the_app_and_the_fix() {
        let app = "[apps.a]\nwasm = \"a.wasm\"\nroutes = [\"/\"]\n";
        let cases = [
            ("[apps.a.limits]\nfuel = 0\n", "fuel is 0"),
            (
                "[apps.a.limits]\nmax-response-head = 10\n",
                "max-response-head",
            ),
            (
                "[apps.a.grants]\ndirs = { \"data\" = \"/\" }\n",
                "must be an absolute guest path",
            ),
            (
                "[apps.a.grants]\ndirs = { \"/data\" = \"/no/such/dir\" }\n",
                "is not a directory",
            ),
            ("[apps.a.grants]\nnetwork = true\n", "network"),
            (
                "[apps.a.limits]\ninstance-reuse = { requests = 5, lifetme = \"1s\" }\n",
                "a request count (instance-reuse = 1000) or a table",
            ),
            (
                "[apps.a.limits]\ntable-elements = 0\n",
                "table-elements is 0",
            ),
            (
                "[apps.a.grants]\nenv = { \"A=B\" = \"x\" }\n",
                "not a valid environment",
            ),
        ];
        for (extra, expected) in cases {
            let err = check(&format!("{app}{extra}")).unwrap_err();
            assert!(err.contains(expected), "{extra}: {err}");
            assert!(err.contains("gateway.toml"), "{err}");
        }
        let err = check(
            "[apps.s]\nstatic = \"public\"\nroutes = [\"/\"]\n[apps.s.grants]\nstdout = true\n",
        )
        .unwrap_err();
        assert!(err.contains("a static root runs no code"), "{err}");
        let err =
            check("[apps.s]\nstatic = \"public\"\nroutes = [\"/\"]\n[apps.s.limits]\nfuel = 5\n")
                .unwrap_err();
        assert!(err.contains("fuel is for applications"), "{err}");
    }

    #[test]
    fn outbound_grants_limits_and_ca_parse() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let pem = rcgen::generate_simple_self_signed(vec!["ca.test".to_owned()])
            .unwrap()
            .cert
            .pem();
        std::fs::write(&ca, pem).unwrap();
        let config = parse(
            r#"
[server]
outbound-ca = "ca.pem"

[apps.api]
wasm = "api.wasm"
routes = ["/"]
[apps.api.limits]
outbound-connections = 8
[apps.api.grants]
outbound-http = ["https://api.example.com", "http://127.0.0.1:8081", "https://*.example.org", "http://10.0.0.0/8:*"]

[apps.quiet]
wasm = "quiet.wasm"
routes = ["/q"]
"#,
            &dir.path().join("gateway.toml"),
        )
        .unwrap();
        assert_eq!(config.server.outbound_ca, Some(ca));
        let api = &config.apps[0].config;
        assert_eq!(api.outbound_connections, 8);
        assert_eq!(
            api.grants.outbound_http,
            crate::outbound::AllowList::parse(&[
                "https://api.example.com",
                "http://127.0.0.1:8081",
                "https://*.example.org",
                "http://10.0.0.0/8:*"
            ])
            .unwrap()
        );
        let quiet = &config.apps[1].config;
        assert!(quiet.grants.outbound_http.is_empty());
        assert_eq!(
            quiet.outbound_connections,
            crate::runtime::DEFAULT_OUTBOUND_CONNECTIONS
        );
    }

    #[test]
    fn bad_outbound_settings_name_the_app_the_rule_and_the_file() {
        let app = "[apps.a]\nwasm = \"a.wasm\"\nroutes = [\"/\"]\n";
        for (extra, expected) in [
            (
                "[apps.a.grants]\noutbound-http = [\"api.example.com\"]\n",
                "[apps.a] [grants] outbound-http rule \"api.example.com\": it has no scheme",
            ),
            (
                "[apps.a.grants]\noutbound-http = [\"ftp://x.example\"]\n",
                "scheme://host[:port], e.g. \"https://api.example.com\"",
            ),
            (
                "[apps.a.grants]\noutbound-http = \"https://x.example\"\n",
                "expected a sequence",
            ),
            (
                "[apps.a.limits]\noutbound-connections = 0\n",
                "outbound-connections is 0",
            ),
            (
                "[server]\noutbound-ca = \"no-such-ca.pem\"\n",
                "outbound-ca /etc/gw/no-such-ca.pem: cannot read it",
            ),
        ] {
            let err = check(&format!("{app}{extra}")).unwrap_err();
            assert!(err.contains(expected), "{extra}: {err}");
            assert!(err.contains("gateway.toml"), "{err}");
        }
        let err = check(
            "[apps.s]\nstatic = \"public\"\nroutes = [\"/\"]\n[apps.s.limits]\noutbound-connections = 5\n",
        )
        .unwrap_err();
        assert!(
            err.contains("outbound-connections is for applications"),
            "{err}"
        );
    }

    #[test]
    fn kv_stores_grants_and_quotas_parse() {
        use crate::kv::{KvGrant, Quota, StoreSpec};
        let config = check(
            r#"
[server]
data-dir = "state"

[kv.sessions]
type = "sqlite"
path = "data/sessions.db"

[kv.cache]
type = "redis"
url = "redis://:secret@127.0.0.1:6379/2"

[apps.shop]
wasm = "shop.wasm"
routes = ["/"]
[apps.shop.grants]
kv = ["default", "sessions", "cache"]
[apps.shop.limits]
kv-key-size = 128
kv-value-size = "64KiB"
kv-keys = 1000
kv-total-bytes = "10MiB"

[apps.blog]
wasm = "blog.wasm"
routes = ["/blog"]
"#,
        )
        .unwrap();
        let shop = &config.apps[1].config;
        assert_eq!(&*shop.name, "shop");
        assert_eq!(
            shop.grants.kv,
            [
                KvGrant {
                    name: "default".into(),
                    store: StoreSpec::Sqlite {
                        path: "/etc/gw/state/kv.db".into()
                    }
                },
                KvGrant {
                    name: "sessions".into(),
                    store: StoreSpec::Sqlite {
                        path: "/etc/gw/data/sessions.db".into()
                    }
                },
                KvGrant {
                    name: "cache".into(),
                    store: StoreSpec::Redis {
                        url: "redis://:secret@127.0.0.1:6379/2".into()
                    }
                },
            ]
        );
        assert_eq!(
            shop.kv_quota,
            Quota {
                key_size: 128,
                value_size: 64 << 10,
                keys: 1000,
                total_bytes: 10 << 20
            }
        );
        let blog = &config.apps[0].config;
        assert!(blog.grants.kv.is_empty());
        assert_eq!(blog.kv_quota, Quota::default());
        // The command line's data directory wins, relative to where it runs.
        let overrides = ServerOptions {
            data_dir: Some("/var/lib/gw".into()),
            ..ServerOptions::default()
        };
        let config = parse_with(
            "[apps.a]\nwasm = \"a.wasm\"\nroutes = [\"/\"]\n[apps.a.grants]\nkv = [\"default\"]\n",
            Path::new("/etc/gw/gateway.toml"),
            &overrides,
        )
        .unwrap();
        assert_eq!(
            config.apps[0].config.grants.kv[0].store,
            StoreSpec::Sqlite {
                path: "/var/lib/gw/kv.db".into()
            }
        );
    }

    #[test]
    fn bad_kv_settings_name_the_store_or_app_and_the_fix() {
        let app = "[apps.a]\nwasm = \"a.wasm\"\nroutes = [\"/\"]\n";
        for (extra, expected) in [
            (
                "[apps.a.grants]\nkv = [\"cache\"]\n",
                "[apps.a] [grants] kv store \"cache\" is not declared: add a [kv.cache] table",
            ),
            (
                "[kv.cache]\ntype = \"redis\"\nurl = \"127.0.0.1:6379\"\n",
                "[kv.cache] url \"127.0.0.1:6379\" is not a Redis URL",
            ),
            (
                "[kv.cache]\ntype = \"memcached\"\nurl = \"x\"\n",
                "unknown variant `memcached`",
            ),
            (
                "[kv.cache]\ntype = \"sqlite\"\npath = \"a.db\"\nurl = \"x\"\n",
                "unknown field `url`",
            ),
            (
                "[kv.\"a b\"]\ntype = \"sqlite\"\npath = \"a.db\"\n",
                "[kv.a b] the name",
            ),
            (
                "[apps.a.limits]\nkv-value-size = \"100MiB\"\n",
                "kv-value-size is 104857600 bytes",
            ),
            ("[apps.a.limits]\nkv-keys = 0\n", "kv-keys is 0"),
        ] {
            let err = check(&format!("{app}{extra}")).unwrap_err();
            assert!(err.contains(expected), "{extra}: {err}");
            assert!(err.contains("gateway.toml"), "{err}");
        }
        let err = check(
            "[apps.s]\nstatic = \"public\"\nroutes = [\"/\"]\n[apps.s.limits]\nkv-keys = 5\n",
        )
        .unwrap_err();
        assert!(err.contains("kv-keys is for applications"), "{err}");
    }

    #[test]
    fn unknown_keys_name_the_key_file_and_line() {
        let err = check("[server]\nlisten = \"127.0.0.1:0\"\nmax-body-size = 5\n").unwrap_err();
        assert!(err.starts_with("/etc/gw/gateway.toml:3:1: "), "{err}");
        assert!(err.contains("max-body-size"), "{err}");

        let err =
            check("[apps.a]\nwasm = \"a.wasm\"\nroutes = [\"/\"]\nrouts = [\"/x\"]\n").unwrap_err();
        assert!(err.starts_with("/etc/gw/gateway.toml:4:1: "), "{err}");
        assert!(err.contains("routs"), "{err}");
    }

    #[test]
    fn bad_values_are_located_too() {
        let err = check("[server]\nheader-timeout = \"soon\"\n").unwrap_err();
        assert!(err.starts_with("/etc/gw/gateway.toml:2:"), "{err}");
        assert!(err.contains("not a duration"), "{err}");
        let err = check(
            "[apps.a]\nwasm = \"a.wasm\"\nroutes = [\"/\"]\n[apps.a.limits]\nmemory = \"lots\"\n",
        )
        .unwrap_err();
        assert!(err.starts_with("/etc/gw/gateway.toml:5:"), "{err}");
    }

    #[test]
    fn semantic_errors_name_the_app() {
        let err = check("[apps.a]\nroutes = [\"/\"]\n").unwrap_err();
        assert!(err.contains("[apps.a] needs `wasm"), "{err}");
        let err =
            check("[apps.a]\nwasm = \"a.wasm\"\nstatic = \"d\"\nroutes = [\"/\"]\n").unwrap_err();
        assert!(err.contains("both `wasm` and `static`"), "{err}");
        let err = check("[apps.a]\nwasm = \"a.wasm\"\nroutes = []\n").unwrap_err();
        assert!(err.contains("has no routes"), "{err}");
        let err = check("").unwrap_err();
        assert!(err.contains("no applications"), "{err}");
        let err = check("[apps.a]\nwasm = \"a.wasm\"\nroutes = [\"api\"]\n").unwrap_err();
        assert!(err.contains("[apps.a]") && err.contains("\"api\""), "{err}");
        let err = check(
            "[apps.a]\nwasm = \"a.wasm\"\nroutes = [\"/\"]\n[apps.a.limits]\ntimeout = \"0s\"\n",
        )
        .unwrap_err();
        assert!(err.contains("timeout is 0"), "{err}");
        let err = check("[apps.a]\nwasm = \"a.wasm\"\nroutes = [\"/x\"]\n[apps.b]\nwasm = \"b.wasm\"\nroutes = [\"/x/\"]\n")
            .unwrap_err();
        assert!(err.contains("[apps.b]") && err.contains("\"a\""), "{err}");
        let err = check(
            "[server]\nmax-request-line = 70000\n[apps.a]\nwasm = \"a.wasm\"\nroutes = [\"/\"]\n",
        )
        .unwrap_err();
        assert!(err.contains("max-request-line"), "{err}");
    }
}
