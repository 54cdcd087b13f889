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
use crate::http::routes::{Match, RouteTable, RouteTableBuilder};
use crate::http::syntax::host_of;
use crate::runtime::chain::Layers;
use crate::runtime::{App, Role, Runtime};
use crate::wsgi::environ::ConnInfo;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};
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
    pub fn load(config: &GatewayConfig, runtime: &Runtime) -> Result<Gateway, String> {
        let file = &config.path.display();
        /// What one loading job produced.
        enum Loaded {
            Target(Target),
            Middleware(Arc<App>),
        }
        // Each component is compiled once, however many entries use it
        // (the same app under two names, a middleware in many chains).
        let mut paths: Vec<&std::path::Path> = config
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
        let compiled: std::collections::HashMap<&std::path::Path, _> =
            std::thread::scope(|scope| {
                let jobs: Vec<_> = paths
                    .iter()
                    .map(|&path| (path, scope.spawn(move || runtime.compile(path))))
                    .collect();
                jobs.into_iter()
                    .map(|(path, job)| {
                        let result = job.join().unwrap_or_else(|_| {
                            Err(crate::runtime::LoadError::Link {
                                file: path.to_path_buf(),
                                reason: "compiling panicked".into(),
                            })
                        });
                        (path, result)
                    })
                    .collect()
            });
        let load_app = |path: &std::path::Path, app: &crate::runtime::AppConfig, role| {
            let table = match role {
                Role::App => "apps",
                Role::Middleware => "middleware",
            };
            let compiled = match &compiled[path] {
                Ok(compiled) => compiled,
                Err(err) => return Err(format!("{file}: [{table}.{}] {err}", app.name)),
            };
            runtime
                .link_as(compiled, app, role)
                .map(|loaded| Arc::new(App::new(runtime, loaded, app.clone())))
                .map_err(|err| format!("{file}: [{table}.{}] {err}", app.name))
        };
        let results: Vec<Result<Loaded, String>> = std::thread::scope(|scope| {
            let apps = config.apps.iter().map(|spec| {
                scope.spawn(move || match &spec.kind {
                    AppKind::Wasm(path) => load_app(path, &spec.config, Role::App)
                        .map(|app| Loaded::Target(Target::App(Arc::from([app])))),
                    AppKind::Static(dir) => StaticRoot::new(dir)
                        .map(|root| Loaded::Target(Target::Static(Arc::new(root))))
                        .map_err(|err| {
                            format!(
                                "{file}: [apps.{}] static root {}: {err}",
                                spec.config.name,
                                dir.display()
                            )
                        }),
                })
            });
            let middleware = config.middleware.iter().map(|spec| {
                scope.spawn(move || {
                    load_app(&spec.wasm, &spec.config, Role::Middleware).map(Loaded::Middleware)
                })
            });
            let jobs: Vec<_> = apps.chain(middleware).collect();
            jobs.into_iter()
                .map(|job| {
                    job.join()
                        .unwrap_or_else(|_| Err("loading panicked".into()))
                })
                .collect()
        });
        let (app_results, middleware_results) = {
            let mut results = results;
            let middleware = results.split_off(config.apps.len());
            (results, middleware)
        };
        let mut errors = Vec::new();
        let mut middleware = std::collections::HashMap::new();
        for (spec, result) in config.middleware.iter().zip(middleware_results) {
            match result {
                Ok(Loaded::Middleware(app)) => {
                    middleware.insert(spec.config.name.clone(), app);
                }
                Ok(Loaded::Target(_)) => unreachable!("middleware jobs load middleware"),
                Err(err) => errors.push(err),
            }
        }
        let loaded: Vec<Result<Target, String>> = config
            .apps
            .iter()
            .zip(app_results)
            .map(|(spec, result)| match result? {
                // Each middleware is one App (one compiled component, one
                // concurrency cap), shared by every chain it is stacked in.
                Loaded::Target(Target::App(layers)) if !spec.middleware.is_empty() => {
                    let mut chain = Vec::with_capacity(spec.middleware.len() + 1);
                    for name in &spec.middleware {
                        match middleware.get(name.as_str()) {
                            Some(layer) => chain.push(Arc::clone(layer)),
                            // Its own load failed and is reported already.
                            None => return Err(String::new()),
                        }
                    }
                    chain.extend(layers.iter().cloned());
                    Ok(Target::App(Arc::from(chain)))
                }
                Loaded::Target(target) => Ok(target),
                Loaded::Middleware(_) => unreachable!("app jobs load apps"),
            })
            .collect();

        let mut routes = RouteTableBuilder::new();
        for (spec, target) in config.apps.iter().zip(loaded) {
            let target = match target {
                Ok(target) => Arc::new(target),
                Err(err) => {
                    if !err.is_empty() {
                        errors.push(err);
                    }
                    continue;
                }
            };
            for route in &spec.routes {
                let shared = match &*target {
                    Target::App(app) => Target::App(app.clone()),
                    Target::Static(root) => Target::Static(root.clone()),
                };
                if let Err(err) = routes.add(route, &spec.config.name, shared) {
                    errors.push(format!("{file}: [apps.{}] {err}", spec.config.name));
                }
            }
        }
        if errors.is_empty() {
            Ok(Gateway {
                routes: routes.build(),
            })
        } else {
            Err(errors.join("\n"))
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
