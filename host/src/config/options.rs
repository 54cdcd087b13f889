//! Every option, declared once for both the command line and the gateway
//! file (the pattern of wasmtime's `CommonOptions`): each struct derives
//! `clap::Args` for the flags and `serde::Deserialize` for its table, and has
//! one `apply` onto the settings it changes. A flag and its key share a name
//! (`--max-body` and `max-body`), a meaning and a default; adding an option
//! is one field here plus its use.
//!
//! - [`ServerOptions`]: `[server]`, and `serve`'s server flags.
//! - [`AppLimits`]: `[apps.NAME.limits]` (and `[middleware.NAME.limits]`),
//!   and the one-app limit flags of `serve` and `check`.
//! - [`AppGrants`]: `[apps.NAME.grants]`, and the one-app grant flags.

use crate::config::listen::ListenAddr;
use crate::config::units::{self, parse_size};
use crate::http::access_log::Format as AccessFormat;
use crate::http::limits::HttpLimits;
use crate::outbound::AllowList;
use crate::runtime::grants::Grants;
use crate::runtime::reuse::Reuse;
use crate::runtime::{AppConfig, ComponentCaps, RuntimeConfig};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Server-wide settings: the file's `[server]` table, and the flags of
/// `serve`, which win over it. Every field left out keeps the default.
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[command(next_help_heading = "Server (a gateway file's [server]; given here, these win over it)")]
pub struct ServerOptions {
    /// Address to listen on: HOST:PORT (a host name is resolved at start)
    /// or a bare PORT on 127.0.0.1 [default: 127.0.0.1:8000]; port 0 picks
    /// a free port. The bound address is printed as `http://HOST:PORT` once
    /// the server is ready.
    #[arg(long, env = "WASM_GATEWAY_LISTEN", value_name = "ADDR")]
    #[serde(default)]
    pub listen: Option<ListenAddr>,

    /// The operator's listener (health, readiness, metrics, reload, status
    /// page), on an address of its own: HOST:PORT or PORT; off unless set.
    /// With port 0 the bound address is printed as `admin: http://HOST:PORT`
    /// after the `http://` line.
    #[arg(long, env = "WASM_GATEWAY_ADMIN_LISTEN", value_name = "ADDR")]
    #[serde(default)]
    pub admin_listen: Option<ListenAddr>,

    /// After SIGTERM or SIGINT, how long to keep serving (with /readyz
    /// answering 503) before no longer accepting connections, so load
    /// balancers notice first [default: 0s].
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(default, deserialize_with = "units::duration")]
    pub shutdown_delay: Option<Duration>,

    /// Then how long requests in flight get to finish (each within its own
    /// deadline) before the process exits [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(default, deserialize_with = "units::duration")]
    pub shutdown_grace: Option<Duration>,

    /// Access lines on stdout, one per request: `common` (the Common Log
    /// Format; `on` means the same), `combined` (nginx's, plus the request
    /// number and X-Request-Id), `json`, or `off`; errors and every other
    /// log line go to stderr either way [default: common].
    #[arg(long, value_name = "FORMAT")]
    #[serde(default)]
    pub access_log: Option<AccessFormat>,

    /// Most instances alive at once, all applications together [default:
    /// 1000].
    #[arg(long)]
    #[serde(default)]
    pub max_instances: Option<u32>,

    /// Longest request line in bytes; longer gets 414 (at most 65534)
    /// [default: 8190].
    #[arg(long)]
    #[serde(default)]
    pub max_request_line: Option<usize>,

    /// Most header fields in a request; more gets 431 [default: 100].
    #[arg(long)]
    #[serde(default)]
    pub max_header_count: Option<usize>,

    /// Longest header field line (name, colon, value) in bytes; longer gets
    /// 431 [default: 8190].
    #[arg(long)]
    #[serde(default)]
    pub max_header_field: Option<usize>,

    /// Largest request head as a whole (suffixes KiB, MiB); larger gets 431
    /// [default: 64KiB].
    #[arg(long, value_parser = parse_size)]
    #[serde(default, deserialize_with = "units::size")]
    pub max_head_size: Option<usize>,

    /// Time from a request head's first byte to its end; past it, 408
    /// [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(default, deserialize_with = "units::duration")]
    pub header_timeout: Option<Duration>,

    /// Idle time allowed on a connection before its (next) request; past it
    /// the connection is closed [default: 5s].
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(default, deserialize_with = "units::duration")]
    pub keep_alive_timeout: Option<Duration>,

    /// Longest wait for more request body bytes while the app reads; past
    /// it the read fails and the client gets 408 [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(default, deserialize_with = "units::duration")]
    pub body_timeout: Option<Duration>,

    /// Longest a client may leave its response unread; past it the
    /// connection is dropped [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(default, deserialize_with = "units::duration")]
    pub send_timeout: Option<Duration>,

    /// Most open client connections; further ones wait in the listen
    /// backlog [default: 10000].
    #[arg(long)]
    #[serde(default)]
    pub max_connections: Option<usize>,

    /// Most core module instances one component may contain; a larger one
    /// is refused at load [default: 32].
    #[arg(long)]
    #[serde(default)]
    pub max_component_core_instances: Option<u32>,

    /// Most linear memories one component may define; a larger one is
    /// refused at load [default: 4].
    #[arg(long)]
    #[serde(default)]
    pub max_component_memories: Option<u32>,

    /// Most tables one component may define; a larger one is refused at
    /// load [default: 8].
    #[arg(long)]
    #[serde(default)]
    pub max_component_tables: Option<u32>,

    /// A PEM file of certificate authorities that apps' outbound HTTPS
    /// trusts besides the built-in webpki (Mozilla) roots, e.g. a private
    /// CA; in a file, relative to the file's folder [default: the roots
    /// only].
    #[arg(long, value_name = "FILE")]
    #[serde(default)]
    pub outbound_ca: Option<PathBuf>,

    /// Where the server keeps data: the default key-value store is SQLite
    /// at DIR/kv.db (made at the first start that grants it); in a file,
    /// relative to the file's folder [default: ./wasm-gateway-data].
    #[arg(long, env = "WASM_GATEWAY_DATA_DIR", value_name = "DIR")]
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
}

/// The data directory when none is given, relative to the working
/// directory.
pub const DEFAULT_DATA_DIR: &str = "wasm-gateway-data";

/// Server-wide settings once the defaults, the file and the command line
/// have had their say.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Where to listen; `None`: [`ListenAddr::DEFAULT`].
    pub listen: Option<ListenAddr>,
    /// Where the admin listener listens; `None`: no admin listener.
    pub admin_listen: Option<ListenAddr>,
    /// How long to keep serving after a stop signal.
    pub shutdown_delay: Duration,
    /// How long requests in flight then get.
    pub shutdown_grace: Duration,
    /// The format of access lines, or off; `None`: common.
    pub access_log: Option<AccessFormat>,
    /// Instances alive at once, all applications together.
    pub max_instances: u32,
    /// What clients must stay within.
    pub limits: HttpLimits,
    /// What one component may contain.
    pub caps: ComponentCaps,
    /// Extra certificate authorities for outbound HTTPS.
    pub outbound_ca: Option<PathBuf>,
    /// Where the default key-value store lives.
    pub data_dir: PathBuf,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: None,
            admin_listen: None,
            shutdown_delay: Duration::ZERO,
            shutdown_grace: Duration::from_secs(30),
            access_log: None,
            max_instances: RuntimeConfig::default().max_instances,
            limits: HttpLimits::default(),
            caps: ComponentCaps::default(),
            outbound_ca: None,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
        }
    }
}

impl ServerSettings {
    /// Checks that the settings can serve; the message names the setting
    /// and what to change.
    pub fn validate(&self) -> Result<(), String> {
        // Two port-0 listeners get two ports; any other equal pair collides.
        let listen = self.listen.clone().unwrap_or(ListenAddr::DEFAULT);
        if self
            .admin_listen
            .as_ref()
            .is_some_and(|admin| *admin == listen && admin.port() != 0)
        {
            return Err("admin-listen is the same address as listen: the admin listener needs an address of its own, never the tenants' (e.g. admin-listen = \"127.0.0.1:9000\")".to_owned());
        }
        if self.max_instances == 0 {
            return Err("max-instances is 0: no request could run; use at least 1".to_owned());
        }
        for (name, cap) in [
            ("max-component-core-instances", self.caps.core_instances),
            ("max-component-memories", self.caps.memories),
            ("max-component-tables", self.caps.tables),
        ] {
            if cap == 0 {
                return Err(format!(
                    "{name} is 0: no component could load; use at least 1"
                ));
            }
        }
        if let Some(ca) = &self.outbound_ca {
            crate::outbound::Tls::new(Some(ca))?;
        }
        self.limits.validate()
    }
}

/// Sets `field` to `value` when the option was given.
fn set<T: Clone>(field: &mut T, value: &Option<T>) {
    if let Some(value) = value {
        *field = value.clone();
    }
}

impl ServerOptions {
    /// Applies the options given onto `settings` (those left out keep
    /// theirs): the file's onto the defaults, then the command line's.
    pub fn apply(&self, settings: &mut ServerSettings) {
        if self.listen.is_some() {
            settings.listen.clone_from(&self.listen);
        }
        if self.admin_listen.is_some() {
            settings.admin_listen.clone_from(&self.admin_listen);
        }
        set(&mut settings.shutdown_delay, &self.shutdown_delay);
        set(&mut settings.shutdown_grace, &self.shutdown_grace);
        if self.access_log.is_some() {
            settings.access_log = self.access_log;
        }
        set(&mut settings.max_instances, &self.max_instances);
        let limits = &mut settings.limits;
        set(&mut limits.max_request_line, &self.max_request_line);
        set(&mut limits.max_header_count, &self.max_header_count);
        set(&mut limits.max_header_field, &self.max_header_field);
        set(&mut limits.max_head_size, &self.max_head_size);
        set(&mut limits.header_timeout, &self.header_timeout);
        set(&mut limits.keep_alive_timeout, &self.keep_alive_timeout);
        set(&mut limits.body_timeout, &self.body_timeout);
        set(&mut limits.send_timeout, &self.send_timeout);
        set(&mut limits.max_connections, &self.max_connections);
        let caps = &mut settings.caps;
        set(&mut caps.core_instances, &self.max_component_core_instances);
        set(&mut caps.memories, &self.max_component_memories);
        set(&mut caps.tables, &self.max_component_tables);
        if self.outbound_ca.is_some() {
            settings.outbound_ca.clone_from(&self.outbound_ca);
        }
        set(&mut settings.data_dir, &self.data_dir);
    }

    /// These options with their paths resolved against `base` (the
    /// gateway file's folder), as a file's `[server]` means them.
    pub fn relative_to(mut self, base: &Path) -> Self {
        self.outbound_ca = self.outbound_ca.map(|ca| base.join(ca));
        self.data_dir = self.data_dir.map(|dir| base.join(dir));
        self
    }
}

/// What one application (or middleware) may use: `[apps.NAME.limits]` in
/// a gateway file; as flags, the limits of the one app `serve APP.wasm`
/// runs. Every field left out keeps the default.
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[command(next_help_heading = "One-app limits (in a gateway file: [apps.NAME.limits])")]
pub struct AppLimits {
    /// Wall-clock deadline of one request (e.g. 30s, 500ms); past it the
    /// instance is killed and the client gets 504 [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(default, deserialize_with = "units::duration")]
    pub timeout: Option<Duration>,

    /// Most linear memory one instance may use (bytes; suffixes KiB, MiB,
    /// GiB) [default: 128MiB].
    #[arg(long, value_parser = parse_size)]
    #[serde(default, deserialize_with = "units::size")]
    pub memory: Option<usize>,

    /// Largest request body (suffixes KiB, MiB, GiB): a larger
    /// Content-Length gets 413 before the app runs; a chunked body is cut
    /// [default: 100MiB].
    #[arg(long, value_parser = parse_size)]
    #[serde(default, deserialize_with = "units::size")]
    pub max_body: Option<usize>,

    /// Most requests running at once [default: 100].
    #[arg(long)]
    #[serde(default)]
    pub concurrency: Option<usize>,

    /// Most requests waiting for a slot; beyond, 503 at once [default:
    /// 1000].
    #[arg(long)]
    #[serde(default)]
    pub queue: Option<usize>,

    /// Longest wait for a slot before 503 with Retry-After [default: 10s].
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(default, deserialize_with = "units::duration")]
    pub queue_timeout: Option<Duration>,

    /// Most outbound HTTP connections the app's instances may hold open at
    /// once, all together; one more call fails at once with
    /// connection-limit-reached [default: 64].
    #[arg(long)]
    #[serde(default)]
    pub outbound_connections: Option<usize>,

    /// Fuel per request (about one unit per WebAssembly instruction); past
    /// it the request traps with 500 [default: no limit]. Makes all guest
    /// code count fuel, a few percent slower.
    #[arg(long)]
    #[serde(default)]
    pub fuel: Option<u64>,

    /// Most elements of one table of an instance [default: 20000].
    #[arg(long)]
    #[serde(default)]
    pub table_elements: Option<usize>,

    /// Most bytes of response head (status line and header lines) an app
    /// may send (suffixes KiB, MiB) [default: 64KiB]; a reason phrase has at
    /// most 512.
    #[arg(long, value_parser = parse_size)]
    #[serde(default, deserialize_with = "units::size")]
    pub max_response_head: Option<usize>,

    /// Let one instance serve up to N requests (state then survives between
    /// them; see docs/security.md); 0: a fresh instance per request
    /// [default: 1000 for a Python component, else 0]. In a file also
    /// `{ requests = N, lifetime = "60s" }`.
    #[arg(long, value_name = "N")]
    #[serde(default)]
    pub instance_reuse: Option<ReuseOption>,

    /// With --instance-reuse: replace an instance this long after it was
    /// created [default: 60s]. (In a file: the `lifetime` of
    /// `instance-reuse`.)
    #[arg(long, value_parser = humantime::parse_duration, requires = "instance_reuse")]
    #[serde(skip)]
    pub instance_lifetime: Option<Duration>,

    /// Longest key the app may write to a key-value store, in bytes (at
    /// most 4KiB) [default: 512].
    #[arg(long, value_parser = parse_size)]
    #[serde(default, deserialize_with = "units::size")]
    pub kv_key_size: Option<usize>,

    /// Largest value the app may write to a key-value store (suffixes KiB,
    /// MiB; at most 8MiB) [default: 1MiB].
    #[arg(long, value_parser = parse_size)]
    #[serde(default, deserialize_with = "units::size")]
    pub kv_value_size: Option<usize>,

    /// Most keys the app may keep in each key-value store it is granted
    /// [default: 100000].
    #[arg(long)]
    #[serde(default)]
    pub kv_keys: Option<u64>,

    /// Most bytes of keys and values the app may keep in each key-value
    /// store it is granted (suffixes KiB, MiB, GiB) [default: 64MiB].
    #[arg(long, value_parser = parse_size)]
    #[serde(default, deserialize_with = "units::size")]
    pub kv_total_bytes: Option<usize>,
}

/// `instance-reuse`: a request count, and in a file optionally a lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(
    untagged,
    expecting = "a request count (instance-reuse = 1000) or a table such as { requests = 1000, lifetime = \"60s\" }"
)]
pub enum ReuseOption {
    /// `instance-reuse = 1000`, `--instance-reuse 1000`.
    Requests(u64),
    /// `instance-reuse = { requests = 1000, lifetime = "60s" }`.
    Table(ReuseTable),
}

/// The table form of `instance-reuse`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReuseTable {
    requests: u64,
    #[serde(default, deserialize_with = "units::duration")]
    lifetime: Option<Duration>,
}

impl FromStr for ReuseOption {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        text.parse()
            .map(ReuseOption::Requests)
            .map_err(|_| format!("{text:?} is not a request count such as 1000"))
    }
}

impl AppLimits {
    /// The limits that only mean something for code, with whether each is
    /// set: a static document root runs none.
    pub fn code_only(&self) -> [(&'static str, bool); 9] {
        [
            ("fuel", self.fuel.is_some()),
            ("outbound-connections", self.outbound_connections.is_some()),
            ("table-elements", self.table_elements.is_some()),
            ("max-response-head", self.max_response_head.is_some()),
            ("instance-reuse", self.instance_reuse.is_some()),
            ("kv-key-size", self.kv_key_size.is_some()),
            ("kv-value-size", self.kv_value_size.is_some()),
            ("kv-keys", self.kv_keys.is_some()),
            ("kv-total-bytes", self.kv_total_bytes.is_some()),
        ]
    }

    /// Applies the limits given onto `config` (those left out keep theirs).
    pub fn apply(&self, config: &mut AppConfig) {
        set(&mut config.timeout, &self.timeout);
        set(&mut config.memory, &self.memory);
        if let Some(max_body) = self.max_body {
            config.max_body = max_body as u64;
        }
        set(&mut config.concurrency, &self.concurrency);
        set(&mut config.queue, &self.queue);
        set(&mut config.queue_timeout, &self.queue_timeout);
        set(&mut config.outbound_connections, &self.outbound_connections);
        if self.fuel.is_some() {
            config.fuel = self.fuel;
        }
        set(&mut config.table_elements, &self.table_elements);
        set(&mut config.max_response_head, &self.max_response_head);
        let quota = &mut config.kv_quota;
        set(&mut quota.key_size, &self.kv_key_size);
        set(&mut quota.value_size, &self.kv_value_size);
        set(&mut quota.keys, &self.kv_keys);
        set(
            &mut quota.total_bytes,
            &self.kv_total_bytes.map(|n| n as u64),
        );
        if let Some(reuse) = self.instance_reuse {
            let (requests, lifetime) = match reuse {
                ReuseOption::Requests(requests) => (requests, None),
                ReuseOption::Table(table) => (table.requests, table.lifetime),
            };
            // 0: a fresh instance per request, whatever the kind.
            config.reuse_by_default = false;
            config.instance_reuse = (requests > 0).then(|| Reuse {
                requests,
                lifetime: lifetime
                    .or(self.instance_lifetime)
                    .unwrap_or(Reuse::DEFAULT_LIFETIME),
            });
        }
    }
}

/// What one application (or middleware) may reach beyond its sandbox:
/// `[apps.NAME.grants]` in a gateway file; as flags, the grants of the one
/// app `serve APP.wasm` runs. Nothing is granted by default.
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[command(next_help_heading = "One-app grants (in a gateway file: [apps.NAME.grants])")]
pub struct AppGrants {
    /// Grant a WASI environment variable (repeatable); the host's own
    /// environment is never passed. In a file: `env = { NAME = "value" }`.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_pair)]
    #[serde(default, deserialize_with = "units::pairs")]
    pub env: Vec<(String, String)>,

    /// Grant read-only access to a host directory, seen by the app at the
    /// guest path (repeatable). In a file: `dirs = { "/data" = "dir" }`,
    /// relative to the file's folder.
    #[arg(long = "dir", value_name = "GUEST=HOST", value_parser = parse_pair)]
    #[serde(default, deserialize_with = "units::some_pairs")]
    pub dirs: Option<Vec<(String, String)>>,

    /// Capture the app's stdout into the log (line by line, tagged,
    /// rate-limited) instead of discarding it.
    #[arg(long)]
    #[serde(default)]
    pub stdout: bool,

    /// Capture the app's stderr into the log.
    #[arg(long)]
    #[serde(default)]
    pub stderr: bool,

    /// Load a component that imports interfaces it is not granted, with
    /// calls to them trapping (500) instead of refusing it.
    #[arg(long)]
    #[serde(default)]
    pub trap_unknown_imports: bool,

    /// Let the app call out over HTTP to URL (repeatable): Spin's
    /// allowed-hosts syntax, scheme://host[:port] with `*` wildcards, port
    /// ranges and CIDR hosts, e.g. https://api.example.com,
    /// http://127.0.0.1:8081, https://*.example.org, http://10.0.0.0/8:*
    /// [default: no outbound calls]. In a file: `outbound-http = [...]`.
    #[arg(long = "outbound-http", value_name = "URL", value_parser = parse_outbound_rule)]
    #[serde(default)]
    pub outbound_http: Vec<String>,

    /// Let the app open the key-value store NAME (repeatable): `default`
    /// is SQLite at DATA-DIR/kv.db; a gateway file declares others in
    /// [kv.NAME] [default: none; `open` fails with access-denied]. In a
    /// file: `kv = ["default"]`.
    #[arg(long = "kv", value_name = "NAME")]
    #[serde(default)]
    pub kv: Vec<String>,
}

impl AppGrants {
    /// Checks the names; the message names the problem.
    pub fn validate(&self) -> Result<(), String> {
        for (name, _) in &self.env {
            if name.is_empty() || name.chars().any(|c| c == '=' || c == '\0') {
                return Err(format!(
                    "[grants] env name {name:?} is not a valid environment variable name"
                ));
            }
        }
        AllowList::parse(&self.outbound_http).map_err(|err| format!("[grants] {err}"))?;
        Ok(())
    }

    /// Sets `config`'s grants to these, host directories resolved against
    /// `base` (the gateway file's folder; empty on the command line) and
    /// key-value stores found in `stores`; the error names a store that is
    /// not declared.
    pub fn apply(
        &self,
        config: &mut AppConfig,
        base: &Path,
        stores: &crate::kv::Catalog,
    ) -> Result<(), String> {
        config.grants = Grants {
            env: self.env.clone(),
            dirs: self.dirs.as_ref().map(|dirs| {
                dirs.iter()
                    .map(|(guest, host)| (guest.clone(), base.join(host)))
                    .collect()
            }),
            stdout: self.stdout,
            stderr: self.stderr,
            trap_unknown_imports: self.trap_unknown_imports,
            // `validate` reports a bad rule before the settings are used; a
            // list that does not parse grants nothing.
            outbound_http: AllowList::parse(&self.outbound_http).unwrap_or_default(),
            kv: stores.grant(&self.kv)?,
        };
        Ok(())
    }
}

/// Checks one `--outbound-http` rule as the flag is read.
fn parse_outbound_rule(text: &str) -> Result<String, String> {
    AllowList::parse(&[text])?;
    Ok(text.to_owned())
}

/// Parses `NAME=VALUE`.
fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

/// The long flags of an option struct, `--a, --b and --c`, for messages.
pub fn flag_list<A: clap::Args>() -> Vec<String> {
    A::augment_args(clap::Command::new("options"))
        .get_arguments()
        .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Flags<A: clap::Args> {
        #[command(flatten)]
        options: A,
    }

    fn flags<A: clap::Args>(args: &[&str]) -> A {
        Flags::<A>::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{e}"))
            .options
    }

    /// Every flag is a key of the same name in its table (and the only
    /// flag without one says so): one declaration serves both.
    fn every_flag_is_a_key<A: clap::Args + for<'de> Deserialize<'de>>(flag_only: &[&str]) {
        for flag in flag_list::<A>() {
            let key = flag.trim_start_matches("--");
            let key = match key {
                "dir" => "dirs",
                other => other,
            };
            let err = toml::from_str::<A>(&format!("{key} = \"?\"")).err();
            let unknown = err
                .as_ref()
                .is_some_and(|e| e.to_string().contains("unknown field"));
            assert_eq!(
                unknown,
                flag_only.contains(&key),
                "{flag}: {}",
                err.map(|e| e.to_string()).unwrap_or_default()
            );
        }
    }

    #[test]
    fn flags_and_keys_are_the_same_options() {
        every_flag_is_a_key::<ServerOptions>(&[]);
        every_flag_is_a_key::<AppLimits>(&["instance-lifetime"]);
        every_flag_is_a_key::<AppGrants>(&[]);
    }

    #[test]
    fn a_flag_and_its_key_parse_alike() {
        let from_flags: ServerOptions = flags(&[
            "--listen=0.0.0.0:8080",
            "--access-log=off",
            "--max-instances=7",
            "--max-head-size=32KiB",
            "--header-timeout=10s",
            "--max-connections=5",
        ]);
        let from_file: ServerOptions = toml::from_str(
            "listen = \"0.0.0.0:8080\"\naccess-log = \"off\"\nmax-instances = 7\nmax-head-size = \"32KiB\"\nheader-timeout = \"10s\"\nmax-connections = 5\n",
        )
        .unwrap();
        assert_eq!(from_flags, from_file);

        let from_flags: AppLimits = flags(&[
            "--timeout=5s",
            "--memory=64MiB",
            "--max-body=1MiB",
            "--concurrency=4",
            "--queue=8",
            "--queue-timeout=2s",
            "--fuel=1000",
            "--table-elements=30000",
            "--max-response-head=8KiB",
            "--instance-reuse=100",
        ]);
        let from_file: AppLimits = toml::from_str(
            "timeout = \"5s\"\nmemory = \"64MiB\"\nmax-body = \"1MiB\"\nconcurrency = 4\nqueue = 8\nqueue-timeout = \"2s\"\nfuel = 1000\ntable-elements = 30000\nmax-response-head = \"8KiB\"\ninstance-reuse = 100\n",
        )
        .unwrap();
        assert_eq!(from_flags, from_file);

        let from_flags: AppGrants = flags(&[
            "--env=A=1",
            "--dir=/data=d",
            "--stdout",
            "--trap-unknown-imports",
            "--outbound-http=https://api.example.com",
            "--outbound-http=http://10.0.0.0/8:*",
        ]);
        let from_file: AppGrants = toml::from_str(
            "env = { A = \"1\" }\ndirs = { \"/data\" = \"d\" }\nstdout = true\ntrap-unknown-imports = true\noutbound-http = [\"https://api.example.com\", \"http://10.0.0.0/8:*\"]\n",
        )
        .unwrap();
        assert_eq!(from_flags, from_file);
        let mut config = AppConfig::new("a");
        from_flags
            .apply(&mut config, Path::new(""), &Default::default())
            .unwrap();
        assert!(!config.grants.outbound_http.is_empty());

        let from_flags: AppGrants = flags(&["--kv=default", "--kv=cache"]);
        let from_file: AppGrants = toml::from_str("kv = [\"default\", \"cache\"]\n").unwrap();
        assert_eq!(from_flags, from_file);
        let from_flags: AppLimits = flags(&[
            "--kv-key-size=1KiB",
            "--kv-value-size=2MiB",
            "--kv-keys=10",
            "--kv-total-bytes=1GiB",
        ]);
        let from_file: AppLimits = toml::from_str(
            "kv-key-size = \"1KiB\"\nkv-value-size = \"2MiB\"\nkv-keys = 10\nkv-total-bytes = \"1GiB\"\n",
        )
        .unwrap();
        assert_eq!(from_flags, from_file);
        let mut config = AppConfig::new("a");
        from_flags.apply(&mut config);
        assert_eq!(
            config.kv_quota,
            crate::kv::Quota {
                key_size: 1024,
                value_size: 2 << 20,
                keys: 10,
                total_bytes: 1 << 30
            }
        );
        let from_flags: ServerOptions = flags(&["--data-dir=/var/lib/gw"]);
        let from_file: ServerOptions = toml::from_str("data-dir = \"/var/lib/gw\"\n").unwrap();
        assert_eq!(from_flags, from_file);

        let from_flags: AppLimits = flags(&["--outbound-connections=3"]);
        let from_file: AppLimits = toml::from_str("outbound-connections = 3\n").unwrap();
        assert_eq!(from_flags, from_file);
        let from_flags: ServerOptions = flags(&["--outbound-ca=ca.pem"]);
        let from_file: ServerOptions = toml::from_str("outbound-ca = \"ca.pem\"\n").unwrap();
        assert_eq!(from_flags, from_file);
    }

    #[test]
    fn a_bad_outbound_rule_is_refused_as_the_flag_is_read() {
        let err = Flags::<AppGrants>::try_parse_from(["x", "--outbound-http=example.com"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--outbound-http") && err.contains("no scheme"),
            "{err}"
        );
    }

    #[test]
    fn the_file_then_the_command_line_apply_over_the_defaults() {
        let mut settings = ServerSettings::default();
        let file: ServerOptions =
            toml::from_str("max-connections = 5\nbody-timeout = \"3s\"\n").unwrap();
        file.apply(&mut settings);
        flags::<ServerOptions>(&["--max-connections=9"]).apply(&mut settings);
        assert_eq!(settings.limits.max_connections, 9);
        assert_eq!(settings.limits.body_timeout, Duration::from_secs(3));
        assert_eq!(
            settings.limits.header_timeout,
            HttpLimits::default().header_timeout
        );
        assert_eq!(settings.max_instances, 1000);

        let mut config = AppConfig::new("a");
        let defaults = AppConfig::new("a");
        flags::<AppLimits>(&["--instance-reuse=10", "--instance-lifetime=5s"]).apply(&mut config);
        assert_eq!(
            config.instance_reuse,
            Some(Reuse {
                requests: 10,
                lifetime: Duration::from_secs(5)
            })
        );
        assert_eq!(config.timeout, defaults.timeout);
        assert_eq!(config.memory, defaults.memory);
    }
}
