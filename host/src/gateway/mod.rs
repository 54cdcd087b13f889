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
use crate::runtime::{App, Role, Runtime};
use crate::runtime::{AppConfig, Compiled, LoadError};
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
    /// A static document root.
    Static(Arc<StaticRoot>),
}

/// Everything the server serves, and how requests find it.
pub struct Gateway {
    routes: RouteTable<Target>,
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
        let name = layers[layers.len() - 1].config.name.clone();
        routes
            .add("/", &name, Target::App(layers))
            .expect("the root route is valid");
        Gateway {
            routes: routes.build(),
        }
    }

    /// Loads every application and document root of `config`, compiling the
    /// components in parallel, and builds the route table. The error lists
    /// every entry that failed, one line each, naming it and its file.
    pub fn load(config: &GatewayConfig, runtime: &Runtime) -> Result<Gateway, GatewayError> {
        let mut problems = Vec::new();
        let compiled = compile(config, runtime);
        let (targets, middleware) = link(config, runtime, &compiled, &mut problems);
        let targets = assemble_chains(config, targets, &middleware);
        let routes = build_routes(config, targets, &mut problems);
        if problems.is_empty() {
            Ok(Gateway { routes })
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
            .map(|(route, label)| format!("{route} -> {label}"))
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
            Target::App(layers) => {
                crate::runtime::invoke::handle(layers, parts, body, conn, found.script_name).await
            }
            Target::Static(root) => {
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

/// Every component a gateway file names, compiled once each (the same app
/// under two names, a middleware in many chains), in parallel: compiling is
/// the slow part of start-up.
fn compile<'c>(
    config: &'c GatewayConfig,
    runtime: &Runtime,
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
    let results = in_parallel(paths.iter().map(|&path| move || runtime.compile(path)))
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
    problems: &mut Vec<Problem>,
) -> (Vec<Option<Target>>, MiddlewareByName) {
    let load = |path: &Path, app: &AppConfig, role| -> Result<Arc<App>, ProblemKind> {
        let compiled = compiled[path]
            .as_ref()
            .map_err(|err| ProblemKind::Compile(err.clone()))?;
        let loaded = runtime.link_as(compiled, app, role)?;
        Ok(Arc::new(App::new(runtime, loaded, app.clone())))
    };
    let apps = config.apps.iter().map(|spec| {
        move || match &spec.kind {
            AppKind::Wasm(path) => {
                load(path, &spec.config, Role::App).map(|app| Target::App(Arc::from([app])))
            }
            AppKind::Static(dir) => StaticRoot::new(dir)
                .map(|root| Target::Static(Arc::new(root)))
                .map_err(|source| ProblemKind::StaticRoot {
                    dir: dir.clone(),
                    source,
                }),
        }
    });
    let layers = config
        .middleware
        .iter()
        .map(|spec| move || load(&spec.wasm, &spec.config, Role::Middleware));
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
    (targets, middleware)
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
                Target::Static(root) => Target::Static(root.clone()),
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
