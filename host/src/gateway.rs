//! The gateway: every configured application and document root, loaded, and
//! the route table that picks one of them for each request.
//!
//! Applications share nothing: each has its own compiled component,
//! `InstancePre` and settings. They are compiled in parallel at start-up,
//! and any that fails stops start-up, before the port is opened, with a line
//! naming the application and its file.

use crate::access_log::AccessLog;
use crate::config::{AppKind, GatewayConfig};
use crate::environ::{ConnInfo, host_of};
use crate::error::error_page;
use crate::response::ResponseBody;
use crate::routing::{RouteTable, RouteTableBuilder};
use crate::runtime::{App, Runtime};
use crate::static_files::StaticRoot;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::sync::Arc;

/// What a route leads to.
pub enum Target {
    /// A WebAssembly application.
    App(Arc<App>),
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
        let mut routes = RouteTableBuilder::new();
        let name = app.config.name.clone();
        routes
            .add("/", &name, Target::App(app))
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
        let loaded: Vec<Result<Target, String>> = std::thread::scope(|scope| {
            let jobs: Vec<_> = config
                .apps
                .iter()
                .map(|spec| {
                    scope.spawn(move || match &spec.kind {
                        AppKind::Wasm(path) => runtime
                            .load(path, &spec.config)
                            .map(|loaded| {
                                Target::App(Arc::new(App::new(
                                    runtime,
                                    loaded,
                                    spec.config.clone(),
                                )))
                            })
                            .map_err(|err| format!("{file}: [apps.{}] {err}", spec.config.name)),
                        AppKind::Static(dir) => StaticRoot::new(dir)
                            .map(|root| Target::Static(Arc::new(root)))
                            .map_err(|err| {
                                format!(
                                    "{file}: [apps.{}] static root {}: {err}",
                                    spec.config.name,
                                    dir.display()
                                )
                            }),
                    })
                })
                .collect();
            jobs.into_iter()
                .map(|job| {
                    job.join()
                        .unwrap_or_else(|_| Err("loading panicked".into()))
                })
                .collect()
        });

        let mut errors = Vec::new();
        let mut routes = RouteTableBuilder::new();
        for (spec, target) in config.apps.iter().zip(loaded) {
            let target = match target {
                Ok(target) => Arc::new(target),
                Err(err) => {
                    errors.push(err);
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

    /// Serves one request: routes it, then runs the application or serves
    /// the file. No route: 404.
    pub async fn serve(&self, req: Request<Incoming>, conn: ConnInfo) -> Response<ResponseBody> {
        let (head, body) = req.into_parts();
        let Some(found) = self
            .routes
            .lookup(host_of(&head), head.uri.path().as_bytes())
        else {
            let parts = head;
            tracing::debug!(remote = %conn.remote, uri = %parts.uri, "no route");
            let log = AccessLog::new(conn.remote.ip(), parts.method, parts.uri, parts.version);
            return error_page(StatusCode::NOT_FOUND, log);
        };
        match found.target {
            Target::App(app) => {
                let req = Request::from_parts(head, body);
                crate::invoke::handle(app.clone(), req, conn, found.script_name).await
            }
            Target::Static(root) => {
                let parts = head;
                // Routes match the raw path, but a document root decodes it:
                // `/%70rivate/x` misses an app at `/private` and would reach
                // the root's `private/` folder. A request whose decoded path
                // routes elsewhere is refused.
                let raw = parts.uri.path().as_bytes();
                if raw.contains(&b'%') {
                    let decoded = crate::environ::percent_decode(raw);
                    let same = self
                        .routes
                        .lookup(host_of(&parts), &decoded)
                        .is_some_and(|other| {
                            std::ptr::eq(other.target, found.target)
                                && other.script_name == found.script_name
                        });
                    if !same {
                        tracing::warn!(remote = %conn.remote, uri = %parts.uri, "refused: the decoded path belongs to another mount");
                        let log = AccessLog::new(
                            conn.remote.ip(),
                            parts.method,
                            parts.uri,
                            parts.version,
                        );
                        return error_page(StatusCode::NOT_FOUND, log);
                    }
                }
                let below = &parts.uri.path().as_bytes()[found.script_name.len()..];
                let log = AccessLog::new(
                    conn.remote.ip(),
                    parts.method.clone(),
                    parts.uri.clone(),
                    parts.version,
                );
                root.serve(&parts, below, parts.uri.query(), log).await
            }
        }
    }
}
