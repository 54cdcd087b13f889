//! The wasmtime engine, and loading applications into it.
//!
//! One [`Runtime`] holds the engine (pooling allocator, async support, epoch
//! interruption) and the epoch ticker. Loading an application compiles it once
//! and links it once into an `InstancePre`; requests only instantiate.

pub mod admission;
pub mod chain;
pub mod grants;
pub mod invoke;
pub mod kdf;
pub mod lanes;
pub mod profile;
pub mod proxy;
pub mod python_files;
pub mod quota;
pub mod reuse;
pub mod store;

use crate::outbound::{Outbound, Tls};
use crate::proxy::{INCOMING_HANDLER, ProxyPre, is_handler_export};
use crate::runtime::admission::Admission;
use crate::runtime::grants::{GrantError, Grants, Sandbox};
use crate::runtime::profile::Profile;
use crate::runtime::reuse::{IdlePools, Reuse, ReusePool};
use crate::runtime::store::StoreData;
use crate::wsgi::bindings::{APPLICATION_EXPORT, AppBindings, AppBindingsPre, NEXT_IMPORT};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// The place a component is loaded for: an application ends a chain, a
/// middleware sits in front of another layer and calls it through `next`.
/// A component in the wrong place would fail every request (a middleware
/// with no layer behind it) or never run the app behind it (an app in a
/// middleware's place), so the role is checked at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Answers requests itself (`[apps.NAME]`, `serve APP.wasm`).
    App,
    /// Wraps the layer behind it (`[middleware.NAME]`, `--middleware`).
    Middleware,
}

/// Which world a component serves: the host's own WSGI interface, or the
/// ecosystem's `wasi:http/proxy`. Told from its exports at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Exports `wasm-gateway:wsgi/application`.
    Wsgi,
    /// Exports `wasi:http/incoming-handler@0.2.x`.
    Proxy,
}

impl Kind {
    /// How `check`, the status page and the logs name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Wsgi => "wsgi",
            Kind::Proxy => "wasi:http",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A linked component, ready to instantiate, in its world.
#[derive(Clone)]
pub(crate) enum Pre {
    Wsgi(AppBindingsPre<StoreData>),
    Proxy(ProxyPre<StoreData>),
}

/// An instance, in its world.
pub(crate) enum Instance {
    Wsgi(AppBindings),
    Proxy(crate::proxy::Proxy),
}

/// How often the epoch advances. A running guest yields to the async runtime
/// at every tick, so a guest that never returns cannot pin a worker thread
/// for longer than this.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// From this size on, loading a component is logged: it compiles for
/// seconds (a Python app is 25-35 MB).
const LARGE_COMPONENT: usize = 4 << 20;

/// How often idle reused instances past their lifetime are freed.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// How many instances may exist at once across all applications (the
    /// pooling allocator's slot count).
    pub max_instances: u32,
    /// The largest linear memory any instance may have, in bytes.
    pub max_memory: usize,
    /// The most elements any table of any instance may have.
    pub max_table_elements: usize,
    /// Whether guests count fuel. Compiled code then checks its fuel
    /// as it runs (some percent slower), so it is on only when some
    /// application has a `fuel` limit.
    pub fuel: bool,
    /// What one component may contain, checked when it is compiled.
    pub caps: ComponentCaps,
    /// Where compiled components are cached on disk (keyed by the wasm's
    /// hash and these engine settings), so that a restart loads machine code
    /// instead of compiling again; `None`: no cache.
    pub compile_cache: Option<CompileCache>,
    /// A PEM file of certificate authorities that outbound HTTPS trusts on
    /// top of the webpki roots (`[server] outbound-ca`).
    pub outbound_ca: Option<PathBuf>,
}

/// What one component may contain: each core instance, memory and table is
/// a slot of the pooling allocator, so a component with hundreds of them
/// would hold as many slots per request (and a memory limit per memory).
/// Larger components are refused at load. Rust guests have 3 core
/// instances, 1 memory and 2 tables; a Python component 14, 1 and 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComponentCaps {
    /// Core module instances.
    pub core_instances: u32,
    /// Linear memories defined by those instances.
    pub memories: u32,
    /// Tables defined by those instances.
    pub tables: u32,
}

impl Default for ComponentCaps {
    fn default() -> Self {
        ComponentCaps {
            core_instances: 32,
            memories: 4,
            tables: 8,
        }
    }
}

/// The on-disk cache of compiled components: wasmtime's own cache, which
/// keys entries by a SHA-256 of the wasm and the engine's settings, writes
/// them atomically (a temporary file renamed into place, so concurrent
/// servers cannot read half an entry) and trims the directory to a size in
/// a background worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileCache {
    /// The directory.
    pub directory: PathBuf,
    /// Past this many bytes, the least recently used entries are removed.
    pub max_size: u64,
}

impl CompileCache {
    /// The default size bound: room for a few dozen large (Python) apps.
    pub const DEFAULT_MAX_SIZE: u64 = 2 << 30;

    /// The cache in `$WASM_GATEWAY_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/wasm-gateway`, else `~/.cache/wasm-gateway`; `None`
    /// when none of them is set.
    pub fn default_location() -> Option<CompileCache> {
        let env = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let directory = env("WASM_GATEWAY_CACHE_DIR")
            .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("wasm-gateway")))
            .or_else(|| env("HOME").map(|d| d.join(".cache").join("wasm-gateway")))?;
        Some(CompileCache {
            directory,
            max_size: Self::DEFAULT_MAX_SIZE,
        })
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_instances: 1000,
            max_memory: 1 << 30,
            max_table_elements: DEFAULT_TABLE_ELEMENTS,
            fuel: false,
            caps: ComponentCaps::default(),
            compile_cache: None,
            outbound_ca: None,
        }
    }
}

impl RuntimeConfig {
    /// The engine settings that can run every one of `apps`.
    pub fn for_apps<'a>(max_instances: u32, apps: impl IntoIterator<Item = &'a AppConfig>) -> Self {
        let mut config = RuntimeConfig {
            max_instances,
            ..RuntimeConfig::default()
        };
        for app in apps {
            config.max_memory = config.max_memory.max(app.memory);
            config.max_table_elements = config.max_table_elements.max(app.table_elements);
            config.fuel |= app.fuel.is_some();
        }
        config
    }
}

/// How many instances `apps` may hold at once: each its concurrency, and
/// as many again kept idle when it reuses instances. Above the pool's
/// `max_instances`, some app within its limits could find no slot.
pub fn instance_demand<'a>(apps: impl IntoIterator<Item = &'a AppConfig>) -> u64 {
    apps.into_iter()
        .map(|app| {
            let idle = if app.instance_reuse.is_some() {
                app.concurrency
            } else {
                0
            };
            (app.concurrency + idle) as u64
        })
        .sum()
}

/// Says so when `apps` may want more instances at once than `max_instances`.
pub fn warn_on_oversubscription<'a>(
    max_instances: u32,
    apps: impl IntoIterator<Item = &'a AppConfig>,
) {
    let demand = instance_demand(apps);
    if demand > u64::from(max_instances) {
        tracing::warn!(
            demand,
            max_instances,
            "the applications may hold up to {demand} instances at once (their concurrency, plus idle instances kept for reuse), more than max-instances ({max_instances}): with all of them busy, some requests within their app's limits get 503; raise max-instances or lower concurrency"
        );
    }
}

/// The default cap on one application's open outbound HTTP connections.
pub const DEFAULT_OUTBOUND_CONNECTIONS: usize = 64;

/// The default most elements of one table (function references), as many
/// as wasmtime's pooling allocator allows by default: ample for Rust and
/// CPython guests.
pub const DEFAULT_TABLE_ELEMENTS: usize = 20_000;

/// Whether instance memory is reset with the pagemap scan (only the pages
/// a guest dirtied, much cheaper) or whole. With swap in use, a dirty page
/// that was swapped out is neither reset nor discarded by the scan in
/// wasmtime 48 (its pull request 14357), so the next instance in that slot,
/// maybe another tenant's, could read it: then memory is reset whole.
fn memory_reset_scan() -> wasmtime::Enabled {
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
    if swap_in_use(&swaps) {
        tracing::info!(
            "swap is on: instance memory is reset whole, not by the pagemap scan (which misses pages swapped out); see docs/security.md"
        );
        wasmtime::Enabled::No
    } else {
        wasmtime::Enabled::Auto
    }
}

/// Whether `/proc/swaps` (its text) lists a swap area.
fn swap_in_use(proc_swaps: &str) -> bool {
    proc_swaps
        .lines()
        .skip(1)
        .any(|line| !line.trim().is_empty())
}

/// Where Python components' files are unpacked: beside the compiled code
/// in the compile cache, or without one, in a directory of this process's
/// own, made on first need and removed with the runtime.
enum FilesRoot {
    /// The compile cache's directory, and its size bound, which the
    /// unpacked copies are trimmed to as well.
    Cache {
        dir: PathBuf,
        max_size: u64,
    },
    Temporary(std::sync::OnceLock<tempfile::TempDir>),
}

impl FilesRoot {
    fn path(&self) -> std::io::Result<PathBuf> {
        match self {
            FilesRoot::Cache { dir, .. } => Ok(dir.clone()),
            FilesRoot::Temporary(cell) => {
                if let Some(dir) = cell.get() {
                    return Ok(dir.path().to_path_buf());
                }
                let dir = tempfile::Builder::new()
                    .prefix("wasm-gateway-files-")
                    .tempdir()?;
                // Another thread may have won: either directory serves.
                Ok(cell.get_or_init(|| dir).path().to_path_buf())
            }
        }
    }
}

/// The engine every application runs in.
pub struct Runtime {
    engine: Engine,
    /// Whether the engine counts fuel.
    fuel: bool,
    ticker: Arc<Ticker>,
    /// The applications' reuse pools, swept by the ticker.
    idle: Arc<IdlePools>,
    /// The compile cache, to tell hits from misses.
    cache: Option<wasmtime::Cache>,
    /// Where Python components' files are unpacked (see [`python_files`]).
    files_root: FilesRoot,
    /// What the engine and its pool were sized for: a reload within these
    /// can use this runtime; beyond them it needs a restart.
    sized: Sizing,
    /// Live instances and compile results, for the metrics.
    pub stats: Arc<crate::stats::RuntimeStats>,
    /// Outbound HTTPS settings every application's calls share.
    tls: Arc<Tls>,
    /// The key-value stores open in this process, shared by every app
    /// granted one (and kept across reloads while one is).
    kv: crate::kv::Registry,
}

/// What a runtime's engine and pool were built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    pub max_instances: u32,
    pub max_memory: usize,
    pub max_table_elements: usize,
    pub fuel: bool,
    pub caps: ComponentCaps,
}

/// The thread that advances the engine's epoch, which is what interrupts a
/// running guest (deadlines, yielding). Every [`App`] holds it too: the
/// ticker stops only when the runtime and all its applications are gone, so
/// dropping a `Runtime` whose apps still serve cannot leave guests that
/// never yield and never time out.
struct Ticker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Runtime {
    /// What the engine and its pool were built for.
    pub fn sizing(&self) -> Sizing {
        self.sized
    }

    /// Creates the engine and starts its epoch ticker.
    pub fn new(config: &RuntimeConfig) -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        // Every instance slot comes with the core instances, memories and
        // tables the largest component allowed (ComponentCaps) needs, so no
        // pooled resource runs out before instance slots do: an app within
        // its concurrency always finds one, whatever the other apps'
        // components are made of (a Python instance takes 14 core instances;
        // four per slot made them run out at about 285 Python instances).
        let caps = &config.caps;
        pool.total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances.saturating_mul(caps.core_instances))
            .total_memories(config.max_instances.saturating_mul(caps.memories))
            .total_tables(config.max_instances.saturating_mul(caps.tables))
            .total_stacks(config.max_instances)
            .max_memory_size(config.max_memory)
            .table_elements(config.max_table_elements)
            .max_core_instances_per_component(config.caps.core_instances)
            .max_memories_per_component(config.caps.memories)
            .max_tables_per_component(config.caps.tables)
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(1 << 16)
            .pagemap_scan(memory_reset_scan())
            .decommit_batch_size(32);

        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(config.fuel)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        // A cache that cannot be used (say, a read-only home directory)
        // costs start-up time, not service: warn and compile every time.
        let cache = config.compile_cache.as_ref().and_then(|settings| {
            let mut cache = wasmtime::CacheConfig::new();
            cache
                .with_directory(std::path::absolute(settings.directory.join("compiled")).ok()?)
                .with_files_total_size_soft_limit(settings.max_size);
            match wasmtime::Cache::new(cache) {
                Ok(cache) => Some(cache),
                Err(err) => {
                    tracing::warn!(
                        directory = %settings.directory.display(),
                        "cannot use the compile cache, compiling every component at start: {err:#} (choose another directory with --cache-dir, or --no-cache)"
                    );
                    None
                }
            }
        });
        wasm.cache(cache.clone());
        let tls =
            Tls::new(config.outbound_ca.as_deref()).map_err(|err| anyhow::anyhow!("{err}"))?;
        let engine = Engine::new(&wasm).map_err(|e| anyhow::anyhow!("{e:?}"))?;

        let stop = Arc::new(AtomicBool::new(false));
        let idle = Arc::new(IdlePools::default());
        let ticker = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn({
                let engine = engine.clone();
                let stop = stop.clone();
                let idle = idle.clone();
                move || {
                    let sweep_every = (SWEEP_INTERVAL.as_micros() / EPOCH_TICK.as_micros()).max(1);
                    let mut ticks = 0u128;
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                        ticks += 1;
                        if ticks.is_multiple_of(sweep_every) {
                            idle.sweep_expired();
                        }
                    }
                }
            })?;
        Ok(Runtime {
            engine,
            fuel: config.fuel,
            idle,
            cache,
            files_root: match &config.compile_cache {
                Some(settings) => FilesRoot::Cache {
                    dir: settings.directory.clone(),
                    max_size: settings.max_size,
                },
                None => FilesRoot::Temporary(std::sync::OnceLock::new()),
            },
            sized: Sizing {
                max_instances: config.max_instances,
                max_memory: config.max_memory,
                max_table_elements: config.max_table_elements,
                fuel: config.fuel,
                caps: config.caps,
            },
            stats: Arc::default(),
            tls: Arc::new(tls),
            kv: crate::kv::Registry::default(),
            ticker: Arc::new(Ticker {
                stop,
                handle: Some(ticker),
            }),
        })
    }

    /// Compiles the application at `path` and links it with what `config`
    /// grants it.
    pub fn load(&self, path: &Path, config: &AppConfig) -> Result<Loaded, LoadError> {
        self.link(&self.compile(path)?, config)
    }

    /// Compiles the middleware at `path` and links it with what `config`
    /// grants it.
    pub fn load_middleware(&self, path: &Path, config: &AppConfig) -> Result<Loaded, LoadError> {
        self.link_as(&self.compile(path)?, config, Role::Middleware)
    }

    /// Compiles the component at `path` (the slow part of loading).
    pub fn compile(&self, path: &Path) -> Result<Compiled, LoadError> {
        let bytes = Self::read(path)?;
        self.compile_bytes(path, &bytes)
    }

    /// Reads a component file.
    pub fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
        std::fs::read(path).map_err(|source| LoadError::Read {
            file: path.to_path_buf(),
            source,
        })
    }

    /// [`Runtime::compile`] of `bytes`, read from `path`.
    pub fn compile_bytes(&self, path: &Path, bytes: &[u8]) -> Result<Compiled, LoadError> {
        let file = || path.to_path_buf();
        if !wasmtime::wasmparser::Parser::is_component(bytes) {
            return Err(if wasmtime::wasmparser::Parser::is_core_wasm(bytes) {
                LoadError::CoreModule { file: file() }
            } else {
                LoadError::NotWasm { file: file() }
            });
        }
        let profile = Profile::of(bytes);
        // A component this large (a Python app) takes seconds to compile:
        // say so before, and how it went after. Small ones compile in
        // milliseconds and say nothing (their errors stay one line).
        let large = bytes.len() >= LARGE_COMPONENT;
        if large {
            tracing::info!(
                file = %path.display(),
                size = bytes.len(),
                "compiling component, or loading its machine code from the compile cache (a first compile of a component this size takes seconds)"
            );
        }
        let hits = self.cache.as_ref().map(wasmtime::Cache::cache_hits);
        let started = std::time::Instant::now();
        let component = Component::new(&self.engine, bytes).map_err(|e| {
            self.stats.compiled(crate::stats::CompileResult::Error);
            let reason = format!("{e:#}");
            // The pooling allocator's per-component caps (ComponentCaps).
            if reason.contains("which exceeds the configured maximum") {
                LoadError::TooLarge {
                    file: file(),
                    reason,
                }
            } else {
                LoadError::Compile {
                    file: file(),
                    reason,
                }
            }
        })?;
        let cached = match (&self.cache, hits) {
            (Some(cache), Some(hits)) => Some(cache.cache_hits() > hits),
            _ => None,
        };
        self.stats.compiled(if cached == Some(true) {
            crate::stats::CompileResult::Hit
        } else {
            crate::stats::CompileResult::Miss
        });
        let cache = match cached {
            Some(true) => "hit",
            Some(false) => "miss (stored for the next start)",
            None => "off",
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        if large {
            tracing::info!(file = %path.display(), elapsed_ms, cache, "compiled component");
        } else {
            tracing::debug!(file = %path.display(), elapsed_ms, cache, "compiled component");
        }
        let (files, files_in_use) = match profile {
            Profile::Python => self.python_files(path, bytes)?,
            Profile::Plain => (Vec::new(), None),
        };
        Ok(Compiled {
            component,
            path: path.to_path_buf(),
            profile,
            files: files.into(),
            _files_in_use: files_in_use,
            cached: cached == Some(true),
            digest: digest(bytes),
        })
    }

    /// The read-only mounts of a Python component's files, unpacked from
    /// its section once per content.
    fn python_files(&self, path: &Path, bytes: &[u8]) -> Result<FilesInUse, LoadError> {
        let Some(section) = python_files::custom_section(bytes, python_files::FILES_SECTION) else {
            return Ok((Vec::new(), None));
        };
        let error = |reason: String| LoadError::PythonFiles {
            file: path.to_path_buf(),
            reason,
        };
        let root = self.files_root.path().map_err(|e| error(e.to_string()))?;
        let unpacked = python_files::unpack(section, &root).map_err(|e| error(e.to_string()))?;
        if let (true, FilesRoot::Cache { max_size, .. }) = (unpacked.new, &self.files_root) {
            let removed = python_files::trim(&root, *max_size);
            if removed > 0 {
                tracing::info!(
                    removed_mib = removed >> 20,
                    "removed the least recently used Python files from the cache, to its size bound"
                );
            }
        }
        Ok((unpacked.mounts, Some(Arc::new(unpacked.in_use))))
    }

    /// Links a compiled component with what `config` grants its
    /// application: refuses it if it imports anything else (unless the
    /// grants let such imports trap).
    pub fn link(&self, compiled: &Compiled, config: &AppConfig) -> Result<Loaded, LoadError> {
        self.link_as(compiled, config, Role::App)
    }

    /// [`Runtime::link`] for a component in `role`: refuses a middleware
    /// loaded as an application and the other way round.
    pub fn link_as(
        &self,
        compiled: &Compiled,
        config: &AppConfig,
        role: Role,
    ) -> Result<Loaded, LoadError> {
        let Compiled {
            component,
            path,
            profile,
            files,
            ..
        } = compiled;
        let file = || path.clone();
        let kind = Self::kind_of(component, &self.engine).map_err(|both| {
            if both {
                LoadError::TwoWorlds { file: file() }
            } else {
                LoadError::MissingExport { file: file() }
            }
        })?;
        let imports_next = component
            .component_type()
            .imports(&self.engine)
            .any(|(name, _)| name.split('@').next() == Some(NEXT_IMPORT));
        match (kind, role, imports_next) {
            (Kind::Proxy, Role::Middleware, _) => {
                return Err(LoadError::ProxyAsMiddleware { file: file() });
            }
            (Kind::Wsgi, Role::App, true) => {
                return Err(LoadError::MiddlewareAsApp { file: file() });
            }
            (Kind::Wsgi, Role::Middleware, false) => {
                return Err(LoadError::AppAsMiddleware { file: file() });
            }
            _ => {}
        }

        if config.fuel.is_some() && !self.fuel {
            return Err(LoadError::Link {
                file: file(),
                reason: "it has a fuel limit but the engine was created without fuel (RuntimeConfig::for_apps sets it)".into(),
            });
        }
        let grants = &config.grants.for_profile(*profile, files);
        let (ungranted, stubbed_by_profile) =
            grants.ungranted_for(component, &self.engine, *profile);
        if !ungranted.is_empty() && !grants.trap_unknown_imports {
            return Err(LoadError::Ungranted {
                file: file(),
                app: config.name.to_string(),
                imports: ungranted,
            });
        }
        let link_error = |e: wasmtime::Error| LoadError::Link {
            file: file(),
            reason: format!("{e:#}"),
        };
        let mut linker = Linker::<StoreData>::new(&self.engine);
        grants.link(&mut linker).map_err(link_error)?;
        // Every app may import `wasi:http` (many SDKs do whether or not
        // the app calls out); without an outbound-http grant each call is
        // denied.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(link_error)?;
        // Password hashing, for every app (Python components import it).
        kdf::add_to_linker(&mut linker).map_err(link_error)?;
        if kind == Kind::Wsgi {
            AppBindings::add_to_linker::<_, HasSelf<StoreData>>(&mut linker, |s| s)
                .map_err(link_error)?;
        }
        // Every app may import `wasi:keyvalue` (a Python adapter does
        // whether or not the app uses it); without a kv grant `open` is
        // denied.
        crate::kv::add_to_linker(&mut linker, StoreData::kv).map_err(link_error)?;
        if !stubbed_by_profile.is_empty() {
            tracing::debug!(
                app = %config.name,
                imports = %stubbed_by_profile.join(", "),
                "Python component: these imports trap if called"
            );
        }
        if !ungranted.is_empty() {
            tracing::warn!(
                app = %config.name,
                imports = %ungranted.join(", "),
                "loading with ungranted imports as trapping stubs (trap-unknown-imports)"
            );
        }
        let mut stubbed = stubbed_by_profile;
        stubbed.extend(ungranted);
        if !stubbed.is_empty() {
            Grants::stub_ungranted(&mut linker, component, &self.engine, &stubbed)
                .map_err(link_error)?;
        }
        let sandbox = Sandbox::new(grants).map_err(|source| LoadError::Grant {
            file: file(),
            source,
        })?;
        let kv = self.kv.open(&grants.kv).map_err(|source| LoadError::Kv {
            file: file(),
            source,
        })?;
        let pre = linker.instantiate_pre(component).map_err(link_error)?;
        let pre = match kind {
            Kind::Wsgi => Pre::Wsgi(AppBindingsPre::new(pre).map_err(link_error)?),
            Kind::Proxy => Pre::Proxy(ProxyPre::new(pre).map_err(link_error)?),
        };
        Ok(Loaded {
            pre,
            sandbox,
            outbound_http: grants.outbound_http.clone(),
            kv,
            compiled: compiled.clone(),
        })
    }

    /// The world `component` serves, from its exports; `Err(true)` when it
    /// exports both interfaces, `Err(false)` when neither.
    fn kind_of(component: &Component, engine: &Engine) -> Result<Kind, bool> {
        let (mut wsgi, mut proxy) = (false, false);
        for (name, _) in component.component_type().exports(engine) {
            wsgi |= name == APPLICATION_EXPORT;
            proxy |= is_handler_export(name);
        }
        match (wsgi, proxy) {
            (true, false) => Ok(Kind::Wsgi),
            (false, true) => Ok(Kind::Proxy),
            (both, _) => Err(both),
        }
    }
}

/// A Python component's mounts, and the hold on their unpacked copy.
type FilesInUse = (Vec<(String, PathBuf)>, Option<Arc<python_files::InUse>>);

/// A compiled component, not yet linked.
#[derive(Clone)]
pub struct Compiled {
    component: Component,
    path: PathBuf,
    profile: Profile,
    /// A Python component's files: (guest path, host directory), mounted
    /// read-only.
    files: Arc<[(String, PathBuf)]>,
    /// Keeps those files from being trimmed from the cache while the
    /// component (and every app linked from it) lives.
    _files_in_use: Option<Arc<python_files::InUse>>,
    cached: bool,
    /// A digest of the file's bytes: a reload keeps what was built from
    /// the same bytes.
    digest: u64,
}

/// A digest of a component's bytes, to tell a changed file from the same
/// one (not a defence against crafted collisions: the operator supplies
/// the files).
pub fn digest(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

impl Compiled {
    /// The digest of the file's bytes it was compiled from.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The file it was compiled from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What kind of guest it is (a Python component gets CPython's
    /// harmless extra imports).
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Whether its machine code came from the compile cache.
    pub fn from_cache(&self) -> bool {
        self.cached
    }
}

/// A compiled and linked application, ready to instantiate.
pub struct Loaded {
    pub(crate) pre: Pre,
    pub(crate) sandbox: Sandbox,
    /// The outbound-http grant it was linked with.
    pub(crate) outbound_http: crate::outbound::AllowList,
    /// Its granted key-value stores, open, by the name it opens them by.
    pub(crate) kv: Vec<(String, Arc<crate::kv::Backend>)>,
    pub(crate) compiled: Compiled,
}

/// Per-application settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    /// The name used in log lines.
    pub name: Arc<str>,
    /// Extra environ variables set by the operator (`env` in the
    /// configuration), in order.
    pub env: Vec<(String, String)>,
    /// The wall-clock deadline of one request.
    pub timeout: Duration,
    /// The most linear memory one instance may grow to, in bytes.
    pub memory: usize,
    /// The largest request body accepted, in bytes: a larger Content-Length
    /// gets 413 before the application runs, and a chunked body is cut there.
    pub max_body: u64,
    /// Most requests of this application running at once.
    pub concurrency: usize,
    /// Most requests waiting for one of those slots; beyond, 503 at once.
    pub queue: usize,
    /// Longest a request waits for a slot before it gets 503.
    pub queue_timeout: Duration,
    /// Fuel one request may burn (roughly, WebAssembly instructions); past
    /// it the instance traps and the client gets 500. `None`: unmetered.
    pub fuel: Option<u64>,
    /// The most elements one table of an instance may grow to.
    pub table_elements: usize,
    /// The most bytes the application's response head (status line and
    /// header lines) may take;
    /// past it `start-response` refuses them.
    pub max_response_head: usize,
    /// Reuse of instances across requests as the operator set it; `None`:
    /// not set (see `reuse_by_default`).
    pub instance_reuse: Option<Reuse>,
    /// With `instance_reuse` unset: whether the component's kind decides
    /// (a Python component reuses its instances, [`Reuse::PYTHON_DEFAULT`];
    /// anything else gets a fresh instance per request). `false` once the
    /// operator asked for a fresh instance per request (`instance-reuse =
    /// 0`).
    pub reuse_by_default: bool,
    /// What the application may reach beyond its sandbox.
    pub grants: Grants,
    /// Most outbound HTTP connections its instances may hold open at once,
    /// all together; past it a call fails with `connection-limit-reached`.
    pub outbound_connections: usize,
    /// Its key-value quota, per store it is granted.
    pub kv_quota: crate::kv::Quota,
}

impl AppConfig {
    /// Defaults for an application called `name`: mounted at the root, 30 s
    /// deadline (gunicorn's default timeout), 128 MiB of memory, 100 MiB
    /// request bodies, 100 requests at once with up to 1000 more waiting 10 s,
    /// no fuel limit, 20,000 table elements, 64 KiB of response headers, a
    /// fresh instance per request, the default key-value quota
    /// ([`crate::kv::Quota::default`]), and no grants.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        AppConfig {
            name: name.into(),
            env: Vec::new(),
            timeout: Duration::from_secs(30),
            memory: 128 << 20,
            max_body: 100 << 20,
            concurrency: 100,
            queue: 1000,
            queue_timeout: Duration::from_secs(10),
            fuel: None,
            table_elements: DEFAULT_TABLE_ELEMENTS,
            max_response_head: crate::wsgi::start_response::MAX_RESPONSE_HEAD,
            instance_reuse: None,
            reuse_by_default: true,
            grants: Grants::default(),
            outbound_connections: DEFAULT_OUTBOUND_CONNECTIONS,
            kv_quota: crate::kv::Quota::default(),
        }
    }
}

impl AppConfig {
    /// Checks the limits can serve anything; the error names the limit and
    /// the application.
    pub fn validate(&self) -> Result<(), String> {
        if self.timeout.is_zero() {
            return Err(format!(
                "app `{}`: timeout is 0: every request would get 504; use e.g. \"30s\"",
                self.name
            ));
        }
        if self.concurrency == 0 {
            return Err(format!(
                "app `{}`: concurrency is 0: no request could run; use at least 1",
                self.name
            ));
        }
        if self.outbound_connections == 0 {
            return Err(format!(
                "app `{}`: outbound-connections is 0: every outbound call would fail; use at least 1",
                self.name
            ));
        }
        if self.memory < 64 << 10 {
            return Err(format!(
                "app `{}`: memory is {} bytes, less than one WebAssembly page (64KiB)",
                self.name, self.memory
            ));
        }
        if self.fuel == Some(0) {
            return Err(format!(
                "app `{}`: fuel is 0: every request would trap; leave it out for no limit",
                self.name
            ));
        }
        if self.table_elements == 0 {
            return Err(format!(
                "app `{}`: table-elements is 0: no component could be instantiated; leave it out for the default (20000)",
                self.name
            ));
        }
        if self.max_response_head < 1024 {
            return Err(format!(
                "app `{}`: max-response-head is {} bytes; allow at least 1KiB",
                self.name, self.max_response_head
            ));
        }
        if let Some(reuse) = &self.instance_reuse {
            reuse
                .validate()
                .map_err(|why| format!("app `{}`: {why}", self.name))?;
        }
        self.kv_quota
            .validate()
            .map_err(|why| format!("app `{}`: {why}", self.name))?;
        for (guest, host) in self.grants.dirs.iter().flatten() {
            if !guest.starts_with('/') {
                return Err(format!(
                    "app `{}`: granted directory {guest:?} must be an absolute guest path such as \"/data\"",
                    self.name
                ));
            }
            if !host.is_dir() {
                return Err(format!(
                    "app `{}`: granted directory {} (as {guest}) is not a directory on this machine",
                    self.name,
                    host.display()
                ));
            }
        }
        Ok(())
    }
}

/// An application ready to serve: compiled code plus its settings.
pub struct App {
    pub(crate) engine: Engine,
    pub(crate) pre: Pre,
    /// The application's settings.
    pub config: AppConfig,
    /// Its concurrency cap and queue.
    pub(crate) admission: Admission,
    /// Its grants, ready to build each instance's WASI context.
    pub(crate) sandbox: Sandbox,
    /// Its way out (outbound HTTP), shared by its instances.
    pub(crate) outbound: Arc<Outbound>,
    /// Its key-value stores, quota and counters, shared by its instances.
    pub(crate) kv: Arc<crate::kv::AppKv>,
    /// Its share of the host's password hashing workers.
    pub(crate) kdf: kdf::Share,
    /// Idle instances kept for reuse, when the application opted in.
    pub(crate) reuse: Option<Arc<ReusePool>>,
    /// Every application's idle instances, to release when no instance
    /// slot is free.
    pub(crate) idle: Arc<IdlePools>,
    /// Whether the engine counts fuel (then every store needs some).
    pub(crate) fuel: bool,
    /// What its requests cost lately: where the next ones start.
    pub cost: lanes::Cost,
    /// Its counters (kept by a reload that keeps its name).
    pub stats: Arc<crate::stats::AppStats>,
    /// The runtime's counters (live instances).
    pub(crate) runtime_stats: Arc<crate::stats::RuntimeStats>,
    /// Its compiled component (a reload links it again when only the
    /// settings changed).
    pub(crate) compiled: Compiled,
    /// Keeps the epoch ticker running while the application can serve.
    _ticker: Arc<Ticker>,
}

impl App {
    /// Binds a loaded application to its settings (those it was loaded
    /// with: its grants were linked then).
    pub fn new(runtime: &Runtime, loaded: Loaded, config: AppConfig) -> Self {
        Self::with_stats(runtime, loaded, config, Arc::default())
    }

    /// [`App::new`] counting into `stats` (a reload keeps an app's
    /// counters when it replaces its component or settings).
    pub fn with_stats(
        runtime: &Runtime,
        loaded: Loaded,
        config: AppConfig,
        stats: Arc<crate::stats::AppStats>,
    ) -> Self {
        let outbound = Arc::new(Outbound::new(
            config.name.clone(),
            loaded.outbound_http,
            config.outbound_connections,
            runtime.tls.clone(),
            loaded.sandbox.log_budget.clone(),
            stats.outbound.clone(),
        ));
        let kv = Arc::new(crate::kv::AppKv::new(
            config.name.clone(),
            loaded.kv,
            config.kv_quota,
            stats.kv.clone(),
            loaded.sandbox.log_budget.clone(),
        ));
        let reuse = config.instance_reuse.or_else(|| {
            let python = loaded.compiled.profile() == Profile::Python;
            (config.reuse_by_default && python).then_some(Reuse::PYTHON_DEFAULT)
        });
        App {
            engine: runtime.engine.clone(),
            pre: loaded.pre,
            admission: Admission::new(config.concurrency, config.queue, config.queue_timeout),
            sandbox: loaded.sandbox,
            outbound,
            kv,
            kdf: kdf::Share::new(),
            reuse: reuse.map(|reuse| {
                let pool = Arc::new(ReusePool::new(reuse, config.concurrency));
                runtime.idle.register(&pool);
                pool
            }),
            idle: runtime.idle.clone(),
            fuel: runtime.fuel,
            cost: lanes::Cost::default(),
            stats,
            runtime_stats: runtime.stats.clone(),
            compiled: loaded.compiled,
            config,
            _ticker: runtime.ticker.clone(),
        }
    }

    /// The world its component serves.
    pub fn kind(&self) -> Kind {
        match self.pre {
            Pre::Wsgi(_) => Kind::Wsgi,
            Pre::Proxy(_) => Kind::Proxy,
        }
    }

    /// How many instances wait idle for reuse (always 0 without
    /// `instance-reuse`). An instance goes back after its request's
    /// `close()`, which may be just after the client got the response.
    pub fn idle_instances(&self) -> usize {
        self.reuse.as_ref().map_or(0, |pool| pool.idle_count())
    }
}

/// Checks a chain of layers (middleware first, the app last) can serve:
/// middleware speak the WSGI interface, so nothing may stand in front of a
/// `wasi:http` component.
pub fn check_chain(layers: &[Arc<App>]) -> Result<(), LoadError> {
    match layers.last() {
        Some(app) if layers.len() > 1 && app.kind() == Kind::Proxy => {
            Err(LoadError::MiddlewareBeforeProxy {
                file: app.compiled.path().to_path_buf(),
            })
        }
        _ => Ok(()),
    }
}

/// Why an application could not be loaded. Each message names the file and
/// what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not WebAssembly at all.
    #[error("{} is not a WebAssembly file (build the app with `cargo build --target wasm32-wasip2`)", file.display())]
    NotWasm {
        /// The file.
        file: PathBuf,
    },
    /// A core module, not a component.
    #[error("{} is a core WebAssembly module, not a component (build it for the wasm32-wasip2 target, which produces components)", file.display())]
    CoreModule {
        /// The file.
        file: PathBuf,
    },
    /// The component failed to compile.
    #[error("{} is not a valid component: {reason}", file.display())]
    Compile {
        /// The file.
        file: PathBuf,
        /// What wasmtime said.
        reason: String,
    },
    /// The component contains more core instances, memories or tables than
    /// one instance may have.
    #[error("{} is larger than one instance may be: {reason} (an instance's core instances, memories and tables are capped so that no component holds many pool slots per request; raise max-component-core-instances, max-component-memories or max-component-tables in [server], or the flags of the same names, only for a component you trust)", file.display())]
    TooLarge {
        /// The file.
        file: PathBuf,
        /// What wasmtime counted.
        reason: String,
    },
    /// The component exports neither interface the host serves.
    #[error("{} is not a web application: it exports neither `{APPLICATION_EXPORT}` (the wasm-gateway:wsgi/app world; write the app with wasm-gateway-sdk's `app!` macro) nor `{INCOMING_HANDLER}@0.2.x` (a standard wasi:http/proxy component, as wstd, wasip2, Spin's SDK or componentize-py's http world build)", file.display())]
    MissingExport {
        /// The file.
        file: PathBuf,
    },
    /// The component exports both interfaces: which one to call would be a
    /// guess.
    #[error("{} exports both `{APPLICATION_EXPORT}` and `{INCOMING_HANDLER}`: the host serves a component in one world only; build it for either the wasm-gateway:wsgi/app world or the wasi:http/proxy world", file.display())]
    TwoWorlds {
        /// The file.
        file: PathBuf,
    },
    /// Middleware stacked in front of a `wasi:http` component.
    #[error("{} is a wasi:http component, and middleware cannot be stacked in front of it: middleware chains speak the wasm-gateway:wsgi interface; remove its `middleware = [...]` (or --middleware), or serve a WSGI app behind the middleware", file.display())]
    MiddlewareBeforeProxy {
        /// The file.
        file: PathBuf,
    },
    /// A `wasi:http` component where a middleware belongs.
    #[error("{} is a wasi:http component, which cannot be a middleware: middleware chains are for the wasm-gateway:wsgi world (write middleware with wasm-gateway-middleware's `middleware!` macro); serve it as an app instead: `[apps.NAME] wasm = ...`", file.display())]
    ProxyAsMiddleware {
        /// The file.
        file: PathBuf,
    },
    /// A middleware (it imports `next`) where an application belongs.
    #[error("{} is a middleware, not an application: it imports `{NEXT_IMPORT}` to call a layer behind it, and an application must answer requests itself (export `{APPLICATION_EXPORT}` without importing `{NEXT_IMPORT}`); stack it in front of an app instead: `[middleware.NAME] wasm = ...` and `middleware = [\"NAME\"]` in the app's table, or `--middleware` on the command line", file.display())]
    MiddlewareAsApp {
        /// The file.
        file: PathBuf,
    },
    /// An application (it does not import `next`) where a middleware
    /// belongs.
    #[error("{} is an application, not a middleware: it exports `{APPLICATION_EXPORT}` but does not import `{NEXT_IMPORT}`, so it could never pass a request on and the app behind it would never run (write middleware with wasm-gateway-middleware's `middleware!` macro); serve it as an app instead: `[apps.NAME] wasm = ...`, or `serve APP.wasm`", file.display())]
    AppAsMiddleware {
        /// The file.
        file: PathBuf,
    },
    /// The component imports interfaces its application is not granted.
    #[error("{} imports {}, which app `{app}` is not granted: {}", file.display(), quoted(imports), ungranted_hint(imports, app))]
    Ungranted {
        /// The file.
        file: PathBuf,
        /// The application's name.
        app: String,
        /// The ungranted imports, with versions.
        imports: Vec<String>,
    },
    /// A Python component's files cannot be unpacked.
    #[error("{}: {reason}", file.display())]
    PythonFiles {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A granted key-value store cannot be opened.
    #[error("{}: {source}", file.display())]
    Kv {
        /// The file.
        file: PathBuf,
        /// The store and what went wrong.
        source: crate::kv::OpenError,
    },
    /// A grant cannot be honoured (a directory cannot be opened).
    #[error("{}: {source}", file.display())]
    Grant {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        source: GrantError,
    },
    /// The component needs something this host does not provide.
    #[error("{} cannot be linked: {reason}", file.display())]
    Link {
        /// The file.
        file: PathBuf,
        /// What wasmtime said (names the missing import or mismatched type).
        reason: String,
    },
}

fn quoted(imports: &[String]) -> String {
    imports
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the operator can do about ungranted imports.
fn ungranted_hint(imports: &[String], app: &str) -> String {
    let mut hints = Vec::new();
    if imports.iter().any(|i| i.starts_with("wasi:filesystem/")) {
        hints.push(format!(
            "files need a read-only directory grant (`[apps.{app}.grants] dirs = {{ \"/data\" = \"host/dir\" }}`, or `--dir /data=host/dir`)"
        ));
    }
    if imports.iter().any(|i| i.starts_with("wasi:sockets/")) {
        hints.push("network access is never granted".to_owned());
    }
    hints.push(format!(
        "to load it anyway with calls to these imports trapping (500), set `trap-unknown-imports = true` in [apps.{app}.grants] (or `--trap-unknown-imports`)"
    ));
    hints.join("; ")
}

#[cfg(test)]
mod tests {
    use super::swap_in_use;

    /// A component exporting an (empty) instance under each of `names`.
    fn exporting(names: &[&str]) -> wasmtime::component::Component {
        let exports: String = names
            .iter()
            .map(|name| format!("(export \"{name}\" (instance $i))"))
            .collect();
        let wat = format!("(component (instance $i) {exports})");
        let engine = wasmtime::Engine::default();
        wasmtime::component::Component::new(&engine, wat::parse_str(wat).unwrap()).unwrap()
    }

    #[test]
    fn the_kind_comes_from_the_exports() {
        use super::{Kind, Runtime};
        let engine = wasmtime::Engine::default();
        let kind = |names: &[&str]| Runtime::kind_of(&exporting(names), &engine);
        assert_eq!(
            kind(&["wasm-gateway:wsgi/application@0.1.0"]),
            Ok(Kind::Wsgi)
        );
        assert_eq!(kind(&["wasi:http/incoming-handler@0.2.0"]), Ok(Kind::Proxy));
        assert_eq!(
            kind(&["wasi:http/incoming-handler@0.2.12"]),
            Ok(Kind::Proxy)
        );
        // Another world's `run` beside the handler does not matter.
        assert_eq!(
            kind(&["wasi:cli/run@0.2.0", "wasi:http/incoming-handler@0.2.3"]),
            Ok(Kind::Proxy)
        );
        assert_eq!(
            kind(&[
                "wasm-gateway:wsgi/application@0.1.0",
                "wasi:http/incoming-handler@0.2.0"
            ]),
            Err(true)
        );
        assert_eq!(kind(&["wasi:cli/run@0.2.0"]), Err(false));
        assert_eq!(kind(&["wasi:http/incoming-handler@0.3.0"]), Err(false));
    }

    /// The unpacked files of a Python component stay in the cache while
    /// anything compiled from it lives, whatever the size bound; then the
    /// next trim removes them.
    #[test]
    fn a_python_component_holds_its_unpacked_files_while_it_lives() {
        use super::{CompileCache, Runtime, RuntimeConfig, python_files};
        let cache = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(&RuntimeConfig {
            compile_cache: Some(CompileCache {
                directory: cache.path().to_owned(),
                max_size: 0,
            }),
            ..RuntimeConfig::default()
        })
        .unwrap();
        let app = tempfile::tempdir().unwrap();
        std::fs::write(app.path().join("data.txt"), "kept").unwrap();
        let mut packer = python_files::Packer::new().unwrap();
        packer.add_tree("1", app.path(), &|_| true).unwrap();
        let mut bytes = wat::parse_str("(component)").unwrap();
        python_files::append_section(&mut bytes, super::profile::PROFILE_SECTION, b"python");
        python_files::append_section(
            &mut bytes,
            python_files::FILES_SECTION,
            &packer.finish().unwrap(),
        );
        let path = app.path().join("app.wasm");
        std::fs::write(&path, &bytes).unwrap();

        let compiled = runtime.compile(&path).unwrap();
        let dir = compiled.files[0].1.clone();
        // The load trimmed to a bound of 0, but not the copy it holds.
        assert!(dir.join("data.txt").is_file());
        let copy = compiled.clone();
        drop(compiled);
        assert_eq!(python_files::trim(cache.path(), 0), 0);
        assert!(dir.join("data.txt").is_file());
        drop(copy);
        assert_eq!(python_files::trim(cache.path(), 0), 4);
        assert!(!dir.exists());
    }

    #[test]
    fn demand_counts_concurrency_and_idle_reused_instances() {
        use super::{AppConfig, instance_demand};
        use crate::runtime::reuse::Reuse;
        let mut fresh = AppConfig::new("a");
        fresh.concurrency = 10;
        let mut reusing = AppConfig::new("b");
        reusing.concurrency = 4;
        reusing.instance_reuse = Some(Reuse {
            requests: 10,
            lifetime: Reuse::DEFAULT_LIFETIME,
        });
        assert_eq!(instance_demand([&fresh, &reusing]), 18);
    }

    #[test]
    fn swap_is_in_use_when_proc_swaps_lists_an_area() {
        let header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
        assert!(!swap_in_use(header));
        assert!(!swap_in_use(""));
        assert!(swap_in_use(&format!(
            "{header}/swapfile                               file\t\t1048572\t\t0\t\t-2\n"
        )));
    }
}
