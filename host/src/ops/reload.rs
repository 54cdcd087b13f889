//! Reloading a running server's gateway: the same for SIGHUP, `POST
//! /reload` and `serve --watch`.
//!
//! The file is read and checked as strictly as at start; only components
//! whose bytes changed are compiled (off the async threads); the new route
//! table replaces the old one in one atomic swap. Requests in flight finish
//! on the apps they started with; an entry whose bytes and settings did not
//! change is kept as it is. Anything that fails, or a change only a restart
//! can apply, leaves the old gateway serving.

use crate::config::listen::ListenAddr;
use crate::config::options::{ServerOptions, ServerSettings};
use crate::gateway::{Gateway, LiveGateway, ReloadSummary};
use crate::http::access_log::Format as AccessFormat;
use crate::runtime::{App, AppConfig, Runtime, RuntimeConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the gateway comes from.
pub enum Source {
    /// A gateway file, with the command line's `[server]` overrides.
    File {
        path: PathBuf,
        overrides: Box<ServerOptions>,
    },
    /// `serve app.wasm`: one app behind its middleware (outermost first),
    /// each with the settings it was started with.
    OneApp {
        layers: Vec<(PathBuf, AppConfig)>,
        app: Box<(PathBuf, AppConfig)>,
    },
}

/// Why a reload left the old gateway serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file, or an entry, failed to load.
    #[error("{0}")]
    Invalid(String),
    /// The change needs a restart.
    #[error("{0}; restart the server to apply it")]
    NeedsRestart(String),
}

/// Reloads one server's gateway, one reload at a time.
pub struct Reloader {
    source: Source,
    runtime: Arc<Runtime>,
    /// The server settings being served (what a reload may not change).
    settings: ServerSettings,
    live: LiveGateway,
    busy: tokio::sync::Mutex<()>,
    /// Reloads that succeeded, and those that failed.
    pub ok: AtomicU64,
    pub failed: AtomicU64,
}

impl Reloader {
    pub fn new(
        source: Source,
        runtime: Arc<Runtime>,
        settings: ServerSettings,
        live: LiveGateway,
    ) -> Self {
        Reloader {
            source,
            runtime,
            settings,
            live,
            busy: tokio::sync::Mutex::new(()),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// Reloads (`why` names the trigger in the log); the summary, or why
    /// the old gateway still serves. Logs either way.
    pub async fn reload(self: &Arc<Self>, why: &str) -> Result<ReloadSummary, ReloadError> {
        // In a task of its own: a caller that goes away (a client that
        // hung up on POST /reload) neither frees the lock early nor stops
        // a load that would then swap in a stale file after a newer one.
        let this = self.clone();
        let why = why.to_owned();
        tokio::spawn(async move { this.reload_now(&why).await })
            .await
            .unwrap_or_else(|_| Err(ReloadError::Invalid("the reload panicked".into())))
    }

    async fn reload_now(self: &Arc<Self>, why: &str) -> Result<ReloadSummary, ReloadError> {
        let _one = self.busy.lock().await;
        let this = self.clone();
        // Reading files and compiling block: off the async threads.
        let result = tokio::task::spawn_blocking(move || this.load())
            .await
            .unwrap_or_else(|_| Err(ReloadError::Invalid("the reload panicked".into())));
        match &result {
            Ok(summary) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                tracing::info!(trigger = why, "reloaded: {summary}");
                log_loaded(&self.live.load());
            }
            Err(err) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    trigger = why,
                    "reload failed, the previous configuration still serves: {err}"
                );
            }
        }
        result
    }

    /// The files a reload reads: the gateway file (or the one app's) and
    /// every component and document root now served.
    pub fn sources(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = match &self.source {
            Source::File { path, .. } => vec![path.clone()],
            Source::OneApp { layers, app } => layers
                .iter()
                .chain(std::iter::once(&**app))
                .map(|(path, _)| path.clone())
                .collect(),
        };
        paths.extend(self.live.load().entries().iter().map(|e| e.source.clone()));
        paths
    }

    fn load(&self) -> Result<ReloadSummary, ReloadError> {
        let previous = self.live.load_full();
        let (gateway, summary) = match &self.source {
            Source::File { path, overrides } => {
                let config = crate::config::load_with(path, overrides)
                    .map_err(|err| ReloadError::Invalid(err.to_string()))?;
                let mut settings = config.server.clone();
                overrides.apply(&mut settings);
                settings.validate().map_err(ReloadError::Invalid)?;
                self.check_server(&settings)?;
                let apps = config
                    .apps
                    .iter()
                    .filter(|app| matches!(app.kind, crate::config::AppKind::Wasm(_)))
                    .map(|app| &app.config)
                    .chain(config.middleware.iter().map(|layer| &layer.config));
                self.check_sizing(apps)?;
                Gateway::load_reusing(&config, &self.runtime, Some(&previous))
                    .map_err(|err| ReloadError::Invalid(err.to_string()))?
            }
            Source::OneApp { layers, app } => self.load_one_app(layers, app, &previous)?,
        };
        self.live.store(Arc::new(gateway));
        Ok(summary)
    }

    /// The one-app form: each component read again, and linked again when
    /// its bytes changed.
    fn load_one_app(
        &self,
        layers: &[(PathBuf, AppConfig)],
        app: &(PathBuf, AppConfig),
        previous: &Gateway,
    ) -> Result<(Gateway, ReloadSummary), ReloadError> {
        let mut summary = ReloadSummary::default();
        let mut chain = Vec::with_capacity(layers.len() + 1);
        let entries = layers
            .iter()
            .map(|layer| (layer, crate::runtime::Role::Middleware))
            .chain(std::iter::once((app, crate::runtime::Role::App)));
        for (position, ((path, config), role)) in entries.enumerate() {
            let invalid = |err: crate::runtime::LoadError| ReloadError::Invalid(err.to_string());
            let bytes = Runtime::read(path).map_err(invalid)?;
            let digest = crate::runtime::digest(&bytes);
            // By position: two layers may share a file name, and so a name.
            let old = previous
                .entries()
                .get(position)
                .and_then(|entry| match &entry.target {
                    crate::gateway::Target::App(apps) if entry.role == role => apps.last().cloned(),
                    _ => None,
                });
            match old {
                Some(old) if old.compiled.digest() == digest => {
                    summary.kept += 1;
                    chain.push(old);
                }
                old => {
                    let compiled = self.runtime.compile_bytes(path, &bytes).map_err(invalid)?;
                    let loaded = self
                        .runtime
                        .link_as(&compiled, config, role)
                        .map_err(invalid)?;
                    let stats = old.map(|old| old.stats.clone()).unwrap_or_default();
                    let fresh = App::with_stats(&self.runtime, loaded, config.clone(), stats);
                    summary.changed += 1;
                    chain.push(Arc::new(fresh));
                }
            }
        }
        summary.routes = 1;
        crate::runtime::check_chain(&chain).map_err(|err| ReloadError::Invalid(err.to_string()))?;
        Ok((Gateway::single_chain(Arc::from(chain)), summary))
    }

    /// Refuses changes to what the running server was started with.
    fn check_server(&self, new: &ServerSettings) -> Result<(), ReloadError> {
        let old = &self.settings;
        let mut changed = Vec::new();
        let listen = |s: &ServerSettings| s.listen.clone().unwrap_or(ListenAddr::DEFAULT);
        let access = |s: &ServerSettings| s.access_log.unwrap_or(AccessFormat::Common);
        if listen(new) != listen(old) {
            changed.push("listen");
        }
        if new.admin_listen != old.admin_listen {
            changed.push("admin-listen");
        }
        if new.max_instances != old.max_instances {
            changed.push("max-instances");
        }
        if new.caps != old.caps {
            changed.push("max-component-*");
        }
        if new.limits != old.limits {
            changed.push("the HTTP limits and timeouts");
        }
        if access(new) != access(old) {
            changed.push("access-log");
        }
        if new.shutdown_delay != old.shutdown_delay || new.shutdown_grace != old.shutdown_grace {
            changed.push("shutdown-delay/shutdown-grace");
        }
        // The TLS roots are built once, with the engine.
        if new.outbound_ca != old.outbound_ca {
            changed.push("outbound-ca");
        }
        // Apps granted the store `default` would find it empty, their data
        // left in the old folder: a move the operator makes with the
        // server stopped.
        if new.data_dir != old.data_dir {
            changed.push("data-dir");
        }
        if changed.is_empty() {
            Ok(())
        } else {
            Err(ReloadError::NeedsRestart(format!(
                "[server] {} changed",
                changed.join(", ")
            )))
        }
    }

    /// Refuses apps the engine was not sized for.
    fn check_sizing<'a>(
        &self,
        apps: impl Iterator<Item = &'a AppConfig>,
    ) -> Result<(), ReloadError> {
        let sized = self.runtime.sizing();
        let wants = RuntimeConfig::for_apps(sized.max_instances, apps);
        if wants.max_memory > sized.max_memory {
            return Err(ReloadError::NeedsRestart(format!(
                "an app's memory limit ({} MiB) is above what the instance pool was sized for at start ({} MiB)",
                wants.max_memory >> 20,
                sized.max_memory >> 20
            )));
        }
        if wants.max_table_elements > sized.max_table_elements {
            return Err(ReloadError::NeedsRestart(format!(
                "an app's table-elements limit ({}) is above what the instance pool was sized for at start ({})",
                wants.max_table_elements, sized.max_table_elements
            )));
        }
        if wants.fuel && !sized.fuel {
            return Err(ReloadError::NeedsRestart(
                "an app has a fuel limit, and the engine was started without fuel metering".into(),
            ));
        }
        Ok(())
    }
}

/// Logs what a gateway serves, entry by entry.
pub fn log_loaded(gateway: &Gateway) {
    for entry in gateway.entries() {
        let kind = entry.kind();
        tracing::info!(
            app = %entry.name,
            kind,
            source = %entry.source.display(),
            routes = %entry.routes.join(" "),
            middleware = %entry.middleware.join(" "),
            "loaded"
        );
    }
}
