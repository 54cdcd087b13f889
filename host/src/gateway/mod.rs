//! The gateway: every configured application and document root, loaded, and
//! the route table that picks one of them for each request.
//!
//! Applications share nothing: each has its own compiled component,
//! `InstancePre` and settings. They are compiled in parallel at start-up,
//! and any that fails stops start-up, before the port is opened, with a line
//! naming the application and its file.

pub mod static_files;

use crate::config::{AppKind, GatewayConfig};
use crate::gateway::static_files::StaticRoot;
use crate::http::body::ResponseBody;
use crate::http::pages::error_page;
use crate::http::routes::RouteError;
use crate::http::routes::{Match, RouteTable, RouteTableBuilder};
use crate::http::syntax::host_of;
use crate::runtime::chain::Layers;
use crate::runtime::{App, Kind, Role, Runtime};
use crate::runtime::{AppConfig, Compiled, LoadError};
use crate::stats::AppStats;
use crate::wsgi::environ::ConnInfo;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a route leads to.
pub enum Target {
    /// A WebAssembly application, with any middleware in front of it
    /// (outermost first, the application last).
    App(Layers),
    /// A static document root, and its counters.
    Static(Arc<StaticRoot>, Arc<AppStats>),
}

impl Target {
    /// The counters of the entry the route leads to (for a chain, the
    /// application's).
    pub fn stats(&self) -> &Arc<AppStats> {
        match self {
            Target::App(layers) => &layers[layers.len() - 1].stats,
            Target::Static(_, stats) => stats,
        }
    }
}

/// The gateway being served, which a reload replaces as a whole: each
/// request reads the current one once, and keeps it to its end.
pub type LiveGateway = Arc<arc_swap::ArcSwap<Gateway>>;

/// Everything the server serves, and how requests find it.
pub struct Gateway {
    routes: RouteTable<Target>,
    /// What it was loaded from, entry by entry: for the status page, and
    /// for a reload to keep what did not change.
    entries: Vec<Entry>,
}

/// One entry of a gateway: an `[apps.NAME]` or `[middleware.NAME]` table
/// (or the one app of `serve app.wasm`), as loaded.
pub struct Entry {
    /// Its name.
    pub name: Arc<str>,
    /// An application (or document root), or a middleware.
    pub role: Role,
    /// Its component or document root.
    pub source: PathBuf,
    /// Its routes (none for a middleware).
    pub routes: Vec<String>,
    /// The middleware in front of it, outermost first.
    pub middleware: Vec<String>,
    /// What it runs: the app alone (middleware are entries of their own),
    /// or the document root.
    pub target: Target,
}

impl Entry {
    /// What it is, as the log and the status page say: `wasm`,
    /// `middleware` or `static`.
    pub fn kind(&self) -> &'static str {
        match (&self.target, self.role) {
            (Target::Static(..), _) => "static",
            (_, Role::Middleware) => "middleware",
            (Target::App(layers), Role::App) => {
                layers.last().map_or("wsgi", |app| app.kind().as_str())
            }
        }
    }
}

/// What a reload did, entry by entry.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Entries whose component bytes and settings are unchanged: kept as
    /// they were (queue, reuse pool, counters).
    pub kept: usize,
    /// Entries whose component or settings changed: loaded anew, their
    /// counters carried over.
    pub changed: usize,
    /// New entries.
    pub added: usize,
    /// Entries no longer in the file.
    pub removed: usize,
    /// Routes now served.
    pub routes: usize,
}

impl fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} kept, {} changed, {} added, {} removed; {} routes",
            self.kept, self.changed, self.added, self.removed, self.routes
        )
    }
}

impl Gateway {
    /// One application at the root of every host: `wasm-gateway serve app.wasm`.
    pub fn single(app: Arc<App>) -> Gateway {
        Gateway::single_chain(Arc::from([app]))
    }

    /// One application behind its middleware (`layers`, outermost first),
    /// at the root of every host: `serve app.wasm --middleware m.wasm`.
    pub fn single_chain(layers: Layers) -> Gateway {
        let mut routes = RouteTableBuilder::new();
        let app = layers[layers.len() - 1].clone();
        let name = app.config.name.clone();
        let mut entries: Vec<Entry> = layers[..layers.len() - 1]
            .iter()
            .map(|layer| Entry {
                name: layer.config.name.clone(),
                role: Role::Middleware,
                source: layer.compiled.path().to_path_buf(),
                routes: Vec::new(),
                middleware: Vec::new(),
                target: Target::App(Arc::from([layer.clone()])),
            })
            .collect();
        entries.push(Entry {
            name: name.clone(),
            role: Role::App,
            source: app.compiled.path().to_path_buf(),
            routes: vec!["/".to_owned()],
            middleware: entries.iter().map(|e| e.name.to_string()).collect(),
            target: Target::App(Arc::from([app])),
        });
        routes
            .add("/", &name, Target::App(layers))
            .expect("the root route is valid");
        Gateway {
            routes: routes.build(),
            entries,
        }
    }

    /// The entries, apps first then middleware, each in name order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Loads every application and document root of `config`, compiling the
    /// components in parallel, and builds the route table. The error lists
    /// every entry that failed, one line each, naming it and its file.
    pub fn load(config: &GatewayConfig, runtime: &Runtime) -> Result<Gateway, GatewayError> {
        Gateway::load_reusing(config, runtime, None).map(|(gateway, _)| gateway)
    }

    /// [`Gateway::load`], keeping what `previous` already has: an entry
    /// whose component bytes and settings are unchanged is kept as it is
    /// (its queue, reuse pool and counters), a component whose bytes are
    /// unchanged is not compiled again, and an entry that changed keeps
    /// its counters under its name.
    pub fn load_reusing(
        config: &GatewayConfig,
        runtime: &Runtime,
        previous: Option<&Gateway>,
    ) -> Result<(Gateway, ReloadSummary), GatewayError> {
        let mut problems = Vec::new();
        let before = Before::of(previous);
        let compiled = compile(config, runtime, &before);
        let mut summary = ReloadSummary::default();
        let (targets, middleware) = link(
            config,
            runtime,
            &compiled,
            &before,
            &mut summary,
            &mut problems,
        );
        let entries = entries(config, &targets, &middleware);
        let targets = assemble_chains(config, targets, &middleware);
        let routes = build_routes(config, targets, &mut problems);
        if problems.is_empty() {
            summary.removed = before
                .entries
                .keys()
                .filter(|(name, role)| !entries.iter().any(|e| e.name == *name && e.role == *role))
                .count();
            summary.routes = routes.routes().len();
            Ok((Gateway { routes, entries }, summary))
        } else {
            Err(GatewayError {
                file: config.path.clone(),
                problems,
            })
        }
    }

    /// Every route and what it leads to, sorted, for `wasm-gateway check`.
    pub fn route_lines(&self) -> Vec<String> {
        self.routes
            .routes()
            .into_iter()
            .map(|(route, label)| {
                let kind = self
                    .entries()
                    .iter()
                    .find(|entry| entry.role == Role::App && *entry.name == *label)
                    .map_or("", Entry::kind);
                format!("{route} -> {label} ({kind})")
            })
            .collect()
    }

    /// Where a request goes: its route's target, mount point and name;
    /// `None` when no route matches (a 404).
    pub fn route(&self, parts: &Parts) -> Option<Match<'_, Target>> {
        self.routes
            .lookup(host_of(parts), parts.uri.path().as_bytes())
    }

    /// Serves a request along the route [`Gateway::route`] found: runs the
    /// application chain or serves the file.
    pub async fn serve(
        &self,
        found: Match<'_, Target>,
        parts: &Parts,
        body: Incoming,
        conn: ConnInfo,
    ) -> Response<ResponseBody> {
        match found.target {
            Target::App(layers) if layers[0].kind() == Kind::Proxy => {
                crate::runtime::proxy::handle(&layers[0], parts, body, conn, found.script_name)
                    .await
            }
            Target::App(layers) => {
                crate::runtime::invoke::handle(layers, parts, body, conn, found.script_name).await
            }
            Target::Static(root, _) => {
                // Routes match the raw path, but a document root decodes it:
                // `/%70rivate/x` misses an app at `/private` and would reach
                // the root's `private/` folder. A request whose decoded path
                // routes elsewhere is refused.
                let raw = parts.uri.path().as_bytes();
                if raw.contains(&b'%') {
                    let decoded = crate::http::syntax::percent_decode(raw);
                    let same = self
                        .routes
                        .lookup(host_of(parts), &decoded)
                        .is_some_and(|other| {
                            std::ptr::eq(other.target, found.target)
                                && other.script_name == found.script_name
                        });
                    if !same {
                        tracing::warn!(remote = %conn.remote, uri = %parts.uri, "refused: the decoded path belongs to another mount");
                        return error_page(StatusCode::NOT_FOUND);
                    }
                }
                let below = &raw[found.script_name.len()..];
                root.serve(parts, below, parts.uri.query()).await
            }
        }
    }
}

/// Why a gateway file's applications could not be loaded: every entry that
/// failed, one line each, `FILE: [apps.NAME] problem`.
#[derive(Debug)]
pub struct GatewayError {
    file: PathBuf,
    problems: Vec<Problem>,
}

/// One entry that failed to load.
#[derive(Debug)]
struct Problem {
    role: Role,
    name: Arc<str>,
    kind: ProblemKind,
}

/// What went wrong with one entry.
#[derive(Debug, thiserror::Error)]
enum ProblemKind {
    /// Its component failed to compile (shared by every entry using it).
    #[error(transparent)]
    Compile(Arc<LoadError>),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("loading panicked")]
    Panicked,
    #[error("static root {}: {source}", dir.display())]
    StaticRoot { dir: PathBuf, source: io::Error },
    #[error(transparent)]
    Route(#[from] RouteError),
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            let table = match problem.role {
                Role::App => "apps",
                Role::Middleware => "middleware",
            };
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(
                f,
                "{}: [{table}.{}] {}",
                self.file.display(),
                problem.name,
                problem.kind
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for GatewayError {}

/// The middleware of a gateway file that loaded, by name.
type MiddlewareByName = HashMap<Arc<str>, Arc<App>>;

/// What a previous gateway had, for a reload: entries by name and role,
/// compiled components by the digest of their bytes.
#[derive(Default)]
struct Before<'g> {
    entries: HashMap<(Arc<str>, Role), &'g Entry>,
    compiled: HashMap<u64, &'g Compiled>,
}

impl<'g> Before<'g> {
    fn of(previous: Option<&'g Gateway>) -> Self {
        let mut before = Before::default();
        for entry in previous.map_or(&[][..], |g| &g.entries[..]) {
            before
                .entries
                .insert((entry.name.clone(), entry.role), entry);
            if let Target::App(layers) = &entry.target {
                for app in layers.iter() {
                    before.compiled.insert(app.compiled.digest(), &app.compiled);
                }
            }
        }
        before
    }
}

/// Every component a gateway file names, compiled once each (the same app
/// under two names, a middleware in many chains), in parallel: compiling is
/// the slow part of start-up. A file whose bytes a previous gateway
/// compiled already is not compiled again.
fn compile<'c>(
    config: &'c GatewayConfig,
    runtime: &Runtime,
    before: &Before<'_>,
) -> HashMap<&'c Path, Result<Compiled, Arc<LoadError>>> {
    let mut paths: Vec<&Path> = config
        .apps
        .iter()
        .filter_map(|spec| match &spec.kind {
            AppKind::Wasm(path) => Some(path.as_path()),
            AppKind::Static(_) => None,
        })
        .chain(config.middleware.iter().map(|spec| spec.wasm.as_path()))
        .collect();
    paths.sort();
    paths.dedup();
    let compile_one = |path: &Path| {
        let bytes = Runtime::read(path)?;
        match before.compiled.get(&crate::runtime::digest(&bytes)) {
            Some(&compiled) => Ok(compiled.clone()),
            None => runtime.compile_bytes(path, &bytes),
        }
    };
    let results = in_parallel(paths.iter().map(|&path| move || compile_one(path)))
        .into_iter()
        .zip(&paths)
        .map(|(result, &path)| {
            let result = result.unwrap_or_else(|| {
                Err(LoadError::Link {
                    file: path.to_path_buf(),
                    reason: "compiling panicked".into(),
                })
            });
            (path, result.map_err(Arc::new))
        });
    results.collect()
}

/// Links every application (or opens its document root) and every
/// middleware, in parallel. Returns each `[apps]` entry's target (`None`
/// when it failed) and the middleware that loaded, by name.
fn link(
    config: &GatewayConfig,
    runtime: &Runtime,
    compiled: &HashMap<&Path, Result<Compiled, Arc<LoadError>>>,
    before: &Before<'_>,
    summary: &mut ReloadSummary,
    problems: &mut Vec<Problem>,
) -> (Vec<Option<Target>>, MiddlewareByName) {
    // What each entry was before (the same name in the same role).
    let was = |app: &AppConfig, role| before.entries.get(&(app.name.clone(), role)).copied();
    let kept = std::sync::atomic::AtomicUsize::new(0);
    let changed = std::sync::atomic::AtomicUsize::new(0);
    let added = std::sync::atomic::AtomicUsize::new(0);
    let tally = |previous: Option<&Entry>, same: bool| {
        let counter = match (previous, same) {
            (Some(_), true) => &kept,
            (Some(_), false) => &changed,
            (None, _) => &added,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    let load = |path: &Path, app: &AppConfig, role| -> Result<Arc<App>, ProblemKind> {
        let compiled = compiled[path]
            .as_ref()
            .map_err(|err| ProblemKind::Compile(err.clone()))?;
        let previous = was(app, role);
        let old = previous.and_then(|entry| match &entry.target {
            Target::App(layers) => layers.last(),
            Target::Static(..) => None,
        });
        if let Some(old) = old
            && old.compiled.digest() == compiled.digest()
            && old.config == *app
        {
            tally(previous, true);
            return Ok(old.clone());
        }
        let loaded = runtime.link_as(compiled, app, role)?;
        let stats = old.map(|old| old.stats.clone()).unwrap_or_default();
        let fresh = App::with_stats(runtime, loaded, app.clone(), stats);
        tally(previous, false);
        Ok(Arc::new(fresh))
    };
    let apps = config.apps.iter().map(|spec| {
        let load = &load;
        move || match &spec.kind {
            AppKind::Wasm(path) => {
                let app = load(path, &spec.config, Role::App)?;
                if !spec.middleware.is_empty() && app.kind() == Kind::Proxy {
                    return Err(ProblemKind::Load(LoadError::MiddlewareBeforeProxy {
                        file: path.clone(),
                    }));
                }
                Ok(Target::App(Arc::from([app])))
            }
            AppKind::Static(dir) => {
                let previous = was(&spec.config, Role::App);
                let stats = match previous.map(|e| &e.target) {
                    Some(Target::Static(_, stats)) => stats.clone(),
                    _ => Arc::default(),
                };
                // A document root is opened again (its directory may have
                // moved); only its counters carry over.
                tally(previous, previous.is_some_and(|e| e.source == *dir));
                StaticRoot::new(dir)
                    .map(|root| Target::Static(Arc::new(root), stats))
                    .map_err(|source| ProblemKind::StaticRoot {
                        dir: dir.clone(),
                        source,
                    })
            }
        }
    });
    let layers = config.middleware.iter().map(|spec| {
        let load = &load;
        move || load(&spec.wasm, &spec.config, Role::Middleware)
    });
    let targets = in_parallel(apps);
    let layers = in_parallel(layers);
    let mut report = |role, name: &Arc<str>, kind| {
        problems.push(Problem {
            role,
            name: name.clone(),
            kind,
        })
    };
    let mut middleware = HashMap::new();
    for (spec, result) in config.middleware.iter().zip(layers) {
        match result.unwrap_or(Err(ProblemKind::Panicked)) {
            Ok(app) => {
                middleware.insert(spec.config.name.clone(), app);
            }
            Err(kind) => report(Role::Middleware, &spec.config.name, kind),
        }
    }
    let targets = config
        .apps
        .iter()
        .zip(targets)
        .map(|(spec, result)| {
            result
                .unwrap_or(Err(ProblemKind::Panicked))
                .map_err(|kind| report(Role::App, &spec.config.name, kind))
                .ok()
        })
        .collect();
    summary.kept = kept.into_inner();
    summary.changed = changed.into_inner();
    summary.added = added.into_inner();
    (targets, middleware)
}

/// The entries of a gateway file that loaded (before the chains are put
/// together: each app alone, each middleware on its own).
fn entries(
    config: &GatewayConfig,
    targets: &[Option<Target>],
    middleware: &MiddlewareByName,
) -> Vec<Entry> {
    let apps = config
        .apps
        .iter()
        .zip(targets)
        .filter_map(|(spec, target)| {
            let target = match target.as_ref()? {
                Target::App(app) => Target::App(app.clone()),
                Target::Static(root, stats) => Target::Static(root.clone(), stats.clone()),
            };
            Some(Entry {
                name: spec.config.name.clone(),
                role: Role::App,
                source: match &spec.kind {
                    AppKind::Wasm(path) | AppKind::Static(path) => path.clone(),
                },
                routes: spec.routes.clone(),
                middleware: spec.middleware.clone(),
                target,
            })
        });
    let layers = config.middleware.iter().filter_map(|spec| {
        let app = middleware.get(&spec.config.name)?;
        Some(Entry {
            name: spec.config.name.clone(),
            role: Role::Middleware,
            source: spec.wasm.clone(),
            routes: Vec::new(),
            middleware: Vec::new(),
            target: Target::App(Arc::from([app.clone()])),
        })
    });
    apps.chain(layers).collect()
}

/// Puts each application behind its middleware, outermost first. Each
/// middleware is one [`App`] (one compiled component, one concurrency cap),
/// shared by every chain it is stacked in. An application whose middleware
/// failed to load gets no target (that failure is reported already).
fn assemble_chains(
    config: &GatewayConfig,
    targets: Vec<Option<Target>>,
    middleware: &MiddlewareByName,
) -> Vec<Option<Target>> {
    config
        .apps
        .iter()
        .zip(targets)
        .map(|(spec, target)| match target? {
            Target::App(app) if !spec.middleware.is_empty() => {
                let mut chain = Vec::with_capacity(spec.middleware.len() + 1);
                for name in &spec.middleware {
                    chain.push(Arc::clone(middleware.get(name.as_str())?));
                }
                chain.extend(app.iter().cloned());
                Some(Target::App(Arc::from(chain)))
            }
            target => Some(target),
        })
        .collect()
}

/// The route table: every route of every entry that loaded.
fn build_routes(
    config: &GatewayConfig,
    targets: Vec<Option<Target>>,
    problems: &mut Vec<Problem>,
) -> RouteTable<Target> {
    let mut routes = RouteTableBuilder::new();
    for (spec, target) in config.apps.iter().zip(targets) {
        let Some(target) = target else { continue };
        for route in &spec.routes {
            let shared = match &target {
                Target::App(app) => Target::App(app.clone()),
                Target::Static(root, stats) => Target::Static(root.clone(), stats.clone()),
            };
            if let Err(err) = routes.add(route, &spec.config.name, shared) {
                problems.push(Problem {
                    role: Role::App,
                    name: spec.config.name.clone(),
                    kind: err.into(),
                });
            }
        }
    }
    routes.build()
}

/// Runs `jobs` on scoped threads, one each; `None` for a job that panicked.
fn in_parallel<T: Send>(jobs: impl Iterator<Item = impl FnOnce() -> T + Send>) -> Vec<Option<T>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs.map(|job| scope.spawn(job)).collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    })
}
