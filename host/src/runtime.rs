//! The wasmtime engine, and loading applications into it.
//!
//! One [`Runtime`] holds the engine (pooling allocator, async support, epoch
//! interruption) and the epoch ticker. Loading an application compiles it once
//! and links it once into an `InstancePre`; requests only instantiate.

use crate::admission::Admission;
use crate::bindings::{AppBindings, AppBindingsPre};
use crate::request::RequestState;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// The export every application must have.
pub const APPLICATION_EXPORT: &str = "wasm-gateway:wsgi/application@0.1.0";

/// How often the epoch advances. A running guest yields to the async runtime
/// at every tick, so a guest that never returns cannot pin a worker thread
/// for longer than this.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// How many instances may exist at once across all applications (the
    /// pooling allocator's slot count).
    pub max_instances: u32,
    /// The largest linear memory any instance may have, in bytes.
    pub max_memory: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_instances: 1000,
            max_memory: 1 << 30,
        }
    }
}

/// The engine every application runs in.
pub struct Runtime {
    engine: Engine,
    ticker: Arc<Ticker>,
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
    /// Creates the engine and starts its epoch ticker.
    pub fn new(config: &RuntimeConfig) -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances.saturating_mul(4))
            .total_memories(config.max_instances.saturating_mul(2))
            .total_tables(config.max_instances.saturating_mul(4))
            .total_stacks(config.max_instances)
            .max_memory_size(config.max_memory)
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(1 << 16)
            .pagemap_scan(wasmtime::Enabled::Auto)
            .decommit_batch_size(32);

        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(|e| anyhow::anyhow!("{e:?}"))?;

        let stop = Arc::new(AtomicBool::new(false));
        let ticker = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn({
                let engine = engine.clone();
                let stop = stop.clone();
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                }
            })?;
        Ok(Runtime {
            engine,
            ticker: Arc::new(Ticker {
                stop,
                handle: Some(ticker),
            }),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles and links the application at `path`.
    pub fn load(&self, path: &Path) -> Result<Loaded, LoadError> {
        let file = || path.to_path_buf();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            file: file(),
            source,
        })?;
        if !wasmtime::wasmparser::Parser::is_component(&bytes) {
            return Err(if wasmtime::wasmparser::Parser::is_core_wasm(&bytes) {
                LoadError::CoreModule { file: file() }
            } else {
                LoadError::NotWasm { file: file() }
            });
        }
        let component = Component::new(&self.engine, &bytes).map_err(|e| LoadError::Compile {
            file: file(),
            reason: format!("{e:#}"),
        })?;
        self.link(component, path)
    }

    fn link(&self, component: Component, path: &Path) -> Result<Loaded, LoadError> {
        let file = || path.to_path_buf();
        let exports_app = component
            .component_type()
            .exports(&self.engine)
            .any(|(name, _)| name == APPLICATION_EXPORT);
        if !exports_app {
            return Err(LoadError::MissingExport { file: file() });
        }

        let mut linker = Linker::<RequestState>::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| LoadError::Link {
            file: file(),
            reason: format!("{e:#}"),
        })?;
        AppBindings::add_to_linker::<_, HasSelf<RequestState>>(&mut linker, |s| s).map_err(
            |e| LoadError::Link {
                file: file(),
                reason: format!("{e:#}"),
            },
        )?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link {
                file: file(),
                reason: format!("{e:#}"),
            })?;
        let pre = AppBindingsPre::new(pre).map_err(|e| LoadError::Link {
            file: file(),
            reason: format!("{e:#}"),
        })?;
        Ok(Loaded { pre })
    }
}

/// A compiled and linked application, ready to instantiate.
#[derive(Clone)]
pub struct Loaded {
    pub(crate) pre: AppBindingsPre<RequestState>,
}

/// Per-application settings.
#[derive(Debug, Clone)]
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
}

impl AppConfig {
    /// Defaults for an application called `name`: mounted at the root, 30 s
    /// deadline (gunicorn's default timeout), 128 MiB of memory, 100 MiB
    /// request bodies, 100 requests at once with up to 1000 more waiting 10 s.
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
        if self.memory < 64 << 10 {
            return Err(format!(
                "app `{}`: memory is {} bytes, less than one WebAssembly page (64KiB)",
                self.name, self.memory
            ));
        }
        Ok(())
    }
}

/// An application ready to serve: compiled code plus its settings.
pub struct App {
    pub(crate) engine: Engine,
    pub(crate) pre: AppBindingsPre<RequestState>,
    /// The application's settings.
    pub config: AppConfig,
    /// Its concurrency cap and queue.
    pub(crate) admission: Admission,
    /// Keeps the epoch ticker running while the application can serve.
    _ticker: Arc<Ticker>,
}

impl App {
    /// Binds a loaded application to its settings.
    pub fn new(runtime: &Runtime, loaded: Loaded, config: AppConfig) -> Self {
        App {
            engine: runtime.engine.clone(),
            pre: loaded.pre,
            admission: Admission::new(config.concurrency, config.queue, config.queue_timeout),
            config,
            _ticker: runtime.ticker.clone(),
        }
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
    /// The component does not export the application interface.
    #[error("{} does not implement the wasm-gateway:wsgi/app world: it has no export `{APPLICATION_EXPORT}` (write the app with wasm-gateway-sdk's `app!` macro)", file.display())]
    MissingExport {
        /// The file.
        file: PathBuf,
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
