//! What an application may reach outside its sandbox, and nothing more.
//!
//! Deny by default: an application gets clocks, randomness and the
//! wasm-gateway interface; everything else is a grant the operator writes in
//! `[apps.NAME.grants]`:
//!
//! - `env`: WASI environment variables (never the host's own);
//! - `dirs`: read-only preopened directories (without it the
//!   `wasi:filesystem` interfaces are not linked at all);
//! - `stdout`, `stderr`: captured line by line into the log, tagged with the
//!   application and request, under a per-application rate limit (without
//!   them the streams exist and discard what they get, because every Rust
//!   program imports them).
//!
//! Sockets are never linked. A component that imports an interface the host
//! does not link for it fails at load with a message naming the imports,
//! unless the operator opts in to trapping stubs (`trap-unknown-imports`):
//! then it loads, and a call to one of them traps that request (500).

use crate::runtime::profile::Profile;
use crate::runtime::store::RequestState;
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wasmtime::component::{Component, HasData, Linker, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream, WasiCli};
use wasmtime_wasi::clocks::WasiClocks;
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemCtx};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{FsPerms, WasiCtx};

/// What the operator grants one application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// WASI environment variables, in order.
    pub env: Vec<(String, String)>,
    /// Read-only directories as (guest path, host path). `None`: no
    /// filesystem interface at all; `Some(empty)`: the interface with
    /// nothing in it (for runtimes such as CPython that probe paths).
    pub dirs: Option<Vec<(String, PathBuf)>>,
    /// Capture the guest's stdout into the log.
    pub stdout: bool,
    /// Capture the guest's stderr into the log.
    pub stderr: bool,
    /// Load a component whose imports are not all granted, with calls to
    /// the ungranted ones trapping.
    pub trap_unknown_imports: bool,
}

/// Interfaces every application gets, by name without version.
const ALWAYS: &[&str] = &[
    "wasm-gateway:wsgi/types",
    "wasm-gateway:wsgi/server",
    "wasm-gateway:wsgi/next",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/exit",
    "wasi:cli/environment",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
];

/// Interfaces linked only with a `dirs` grant.
const FILESYSTEM: &[&str] = &["wasi:filesystem/types", "wasi:filesystem/preopens"];

/// `HasData` for the `wasi:io` bindings, which only need the resource table.
struct Io;

impl HasData for Io {
    type Data<'a> = &'a mut ResourceTable;
}

impl Grants {
    /// Whether the import `name` (`package/interface@version`) is linked:
    /// a granted interface at a version the host's implementation serves
    /// (WASI 0.2.x, wasm-gateway 0.1.x). Anything else is ungranted, so
    /// it is named at load (or stubbed), never a raw link error.
    fn links(&self, name: &str) -> bool {
        let Some((interface, version)) = name.split_once('@') else {
            return false;
        };
        let compatible = if interface.starts_with("wasi:") {
            version.starts_with("0.2.")
        } else {
            version.starts_with("0.1.")
        };
        compatible
            && (ALWAYS.contains(&interface)
                || (self.dirs.is_some() && FILESYSTEM.contains(&interface)))
    }

    /// The imports of `component` this application is not granted, in the
    /// component's order, with their versions.
    pub fn ungranted(&self, component: &Component, engine: &wasmtime::Engine) -> Vec<String> {
        component
            .component_type()
            .imports(engine)
            .map(|(name, _)| name)
            .filter(|name| !self.links(name))
            .map(str::to_owned)
            .collect()
    }

    /// The grants a component of `profile` runs with: a Python component
    /// gets the filesystem interface with nothing in it when the operator
    /// granted no directories (CPython probes paths as it starts; an
    /// empty filesystem answers "not found" and grants nothing).
    pub fn for_profile(&self, profile: Profile) -> std::borrow::Cow<'_, Grants> {
        match profile {
            Profile::Python if self.dirs.is_none() => std::borrow::Cow::Owned(Grants {
                dirs: Some(Vec::new()),
                ..self.clone()
            }),
            _ => std::borrow::Cow::Borrowed(self),
        }
    }

    /// [`Grants::ungranted`], split for `profile`: the imports to refuse
    /// (or stub, with `trap_unknown_imports`), and those the profile stubs
    /// anyway. CPython imports every `wasi:sockets` interface whether the
    /// application opens a socket or not; a Python component loads with
    /// them trapping, since sockets are never granted.
    pub fn ungranted_for(
        &self,
        component: &Component,
        engine: &wasmtime::Engine,
        profile: Profile,
    ) -> (Vec<String>, Vec<String>) {
        let ungranted = self.ungranted(component, engine);
        match profile {
            Profile::Python => ungranted.into_iter().partition(|name| {
                !(name.starts_with("wasi:sockets/")
                    && name
                        .split_once('@')
                        .is_some_and(|(_, v)| v.starts_with("0.2.")))
            }),
            Profile::Plain => (ungranted, Vec::new()),
        }
    }

    /// Adds the WASI interfaces these grants allow to `linker` (the
    /// application's own interface is added by the caller).
    pub fn link(&self, linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
        use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random};
        use wasmtime_wasi_io::bindings::wasi::io;
        type T = RequestState;
        let l = linker;
        io::error::add_to_linker::<T, Io>(l, |s| s.table())?;
        io::poll::add_to_linker::<T, Io>(l, |s| s.table())?;
        io::streams::add_to_linker::<T, Io>(l, |s| s.table())?;
        {
            use wasmtime_wasi::clocks::WasiClocksView as _;
            clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
            clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
        }
        {
            use wasmtime_wasi::random::WasiRandomView as _;
            random::random::add_to_linker::<T, WasiRandom>(l, T::random)?;
            random::insecure::add_to_linker::<T, WasiRandom>(l, T::random)?;
            random::insecure_seed::add_to_linker::<T, WasiRandom>(l, T::random)?;
        }
        {
            use wasmtime_wasi::cli::WasiCliView as _;
            cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
            cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
            cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
            cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
            cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
            cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
            cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
            cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
            cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
            cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
        }
        if self.dirs.is_some() {
            use wasmtime_wasi::filesystem::WasiFilesystemView as _;
            filesystem::types::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
            filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
        }
        Ok(())
    }

    /// Defines every function of the `ungranted` interfaces (names as the
    /// component imports them) as a stub that traps with a message naming
    /// it, and their resources as opaque host types. Only those: the
    /// granted interfaces keep their real implementations.
    pub fn stub_ungranted(
        linker: &mut Linker<RequestState>,
        component: &Component,
        engine: &wasmtime::Engine,
        ungranted: &[String],
    ) -> wasmtime::Result<()> {
        use wasmtime::component::types::ComponentItem;
        // A resource an interface only `use`s (say `pollable` in
        // `wasi:sockets/tcp`) is exported by an earlier import, its owner,
        // and must resolve to the owner's definition: only resources seen
        // here for the first time are defined.
        let mut seen = Vec::new();
        for (name, import) in component.component_type().imports(engine) {
            let ComponentItem::ComponentInstance(instance) = import.ty else {
                if ungranted.iter().any(|u| u == name) {
                    wasmtime::bail!("cannot stub `{name}`: only interface imports can trap");
                }
                continue;
            };
            // Asking the linker for an instance by its exact name would
            // shadow the granted ones, which match by semver.
            let mut stub = if ungranted.iter().any(|u| u == name) {
                Some(linker.instance(name)?)
            } else {
                None
            };
            for (export, item) in instance.exports(engine) {
                match (item.ty, &mut stub) {
                    (ComponentItem::Resource(ty), stub) => {
                        if seen.contains(&ty) {
                            continue;
                        }
                        seen.push(ty);
                        if let Some(stub) = stub {
                            stub.resource(
                                export,
                                wasmtime::component::ResourceType::host::<()>(),
                                |_, _| Ok(()),
                            )?;
                        }
                    }
                    (ComponentItem::ComponentFunc(_), Some(stub)) => {
                        let what = format!("{name}#{export}");
                        stub.func_new(export, move |_, _, _, _| {
                            wasmtime::bail!(
                                "the application called `{what}`, which it is not granted (the import was linked as a trapping stub)"
                            )
                        })?;
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Opens the granted directories once, at load: every instance gets a
    /// copy of these handles, so no request opens a path. The error names
    /// the directory.
    pub fn open_dirs(&self) -> Result<WasiFilesystemCtx, String> {
        let mut builder = WasiCtx::builder();
        for (guest, host) in self.dirs.iter().flatten() {
            builder
                .preopened_dir(host, guest, FsPerms::ReadOnly)
                .map_err(|err| {
                    format!(
                        "cannot open directory {} (granted as {guest}): {err:#}",
                        host.display()
                    )
                })?;
        }
        let mut ctx = builder.build();
        Ok(std::mem::take(ctx.filesystem()))
    }
}

/// Everything an instance's WASI context is built from, prepared at load.
pub struct Sandbox {
    env: Vec<(String, String)>,
    /// The granted directories, opened; `None` without any.
    filesystem: Option<WasiFilesystemCtx>,
    stdout: bool,
    stderr: bool,
    /// Shared by every instance of the application: its captured output and
    /// `wsgi.errors` lines.
    pub log_budget: Arc<LogBudget>,
}

impl Sandbox {
    /// Prepares `grants` for the application `app`.
    pub fn new(app: &Arc<str>, grants: &Grants) -> Result<Self, String> {
        Ok(Sandbox {
            env: grants.env.clone(),
            filesystem: match &grants.dirs {
                Some(dirs) if !dirs.is_empty() => Some(grants.open_dirs()?),
                _ => None,
            },
            stdout: grants.stdout,
            stderr: grants.stderr,
            log_budget: Arc::new(LogBudget::new(app.clone())),
        })
    }

    /// A WASI context with exactly the grants: no sockets, no host
    /// environment, no stdin; clocks and randomness work. With stdout or
    /// stderr granted, also the counter their lines take the request
    /// number from (set before each request the instance serves).
    pub fn wasi_ctx(&self) -> (WasiCtx, Option<Captured>) {
        let request = (self.stdout || self.stderr).then(|| Arc::new(AtomicU64::new(0)));
        let mut streams = Vec::new();
        let mut builder = WasiCtx::builder();
        builder
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .envs(&self.env);
        if let Some(request) = &request {
            if self.stdout {
                let capture = Capture::new("stdout", &self.log_budget, request);
                streams.push(capture.clone());
                builder.stdout(capture);
            }
            if self.stderr {
                let capture = Capture::new("stderr", &self.log_budget, request);
                streams.push(capture.clone());
                builder.stderr(capture);
            }
        }
        let mut ctx = builder.build();
        if let Some(filesystem) = &self.filesystem {
            *ctx.filesystem() = filesystem.clone();
        }
        (ctx, request.map(|request| Captured { request, streams }))
    }
}

/// Most application log lines per second, per application, once the burst
/// is spent.
const LOG_LINES_PER_SECOND: f64 = 100.0;
/// Lines an application may log at once before the rate applies.
const LOG_BURST: f64 = 1000.0;
/// A captured line longer than this is cut into pieces of this size.
const MAX_LOG_LINE: usize = 8 << 10;

/// A token bucket over one application's log lines (captured stdout and
/// stderr, and `wsgi.errors`): a chatty or hostile application cannot flood
/// the server's log. Dropped lines are counted and reported once the
/// application may log again.
pub struct LogBudget {
    app: Arc<str>,
    state: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
    dropped: u64,
}

/// `message` cut into log lines: at newlines, and into pieces of at most
/// 8 KiB, so that no application line is unbounded in the log.
pub fn log_lines(message: &str) -> impl Iterator<Item = &str> {
    message.lines().filter(|l| !l.is_empty()).flat_map(|line| {
        let mut rest = line;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let mut end = rest.len().min(MAX_LOG_LINE);
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            let (piece, tail) = rest.split_at(end);
            rest = tail;
            Some(piece)
        })
    })
}

impl LogBudget {
    /// A full budget for `app`.
    pub fn new(app: Arc<str>) -> Self {
        LogBudget {
            app,
            state: Mutex::new(Bucket {
                tokens: LOG_BURST,
                last: Instant::now(),
                dropped: 0,
            }),
        }
    }

    /// Whether one more line may be logged now.
    pub fn allow(&self) -> bool {
        let mut bucket = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(bucket.last).as_secs_f64() * LOG_LINES_PER_SECOND;
        bucket.tokens = (bucket.tokens + refill).min(LOG_BURST);
        bucket.last = now;
        if bucket.tokens < 1.0 {
            bucket.dropped += 1;
            return false;
        }
        bucket.tokens -= 1.0;
        let dropped = std::mem::take(&mut bucket.dropped);
        drop(bucket);
        if dropped > 0 {
            tracing::warn!(
                target: "wasm_gateway::app",
                app = %self.app,
                dropped,
                "application log lines dropped by the rate limit ({LOG_LINES_PER_SECOND}/s)"
            );
        }
        true
    }
}

/// An instance's captured streams: the request number their lines carry,
/// and the streams, to flush an unfinished line when a request ends.
pub struct Captured {
    request: Arc<AtomicU64>,
    streams: Vec<Capture>,
}

impl Captured {
    /// Tags the lines that follow with `request`.
    pub fn begin(&self, request: u64) {
        self.request.store(request, Ordering::Relaxed);
    }

    /// Logs what is left of an unfinished line, under the request that
    /// wrote it (a reused instance's next request must not inherit it).
    pub fn end(&self) {
        for stream in &self.streams {
            stream.inner.flush_partial();
        }
    }
}

/// A captured stdout or stderr: each complete line becomes a log event
/// tagged with the application, the request and the stream.
#[derive(Clone)]
struct Capture {
    inner: Arc<CaptureInner>,
}

struct CaptureInner {
    stream: &'static str,
    budget: Arc<LogBudget>,
    request: Arc<AtomicU64>,
    /// The unfinished line, shared by every handle the guest opens to the
    /// stream (Rust's std may get a fresh handle per write).
    partial: Mutex<Vec<u8>>,
}

impl Capture {
    fn new(stream: &'static str, budget: &Arc<LogBudget>, request: &Arc<AtomicU64>) -> Self {
        Capture {
            inner: Arc::new(CaptureInner {
                stream,
                budget: budget.clone(),
                request: request.clone(),
                partial: Mutex::new(Vec::new()),
            }),
        }
    }
}

impl CaptureInner {
    fn emit(&self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        for piece in line.chunks(MAX_LOG_LINE) {
            if !self.budget.allow() {
                return;
            }
            tracing::info!(
                target: "wasm_gateway::app",
                app = %self.budget.app,
                request = self.request.load(Ordering::Relaxed),
                stream = self.stream,
                "{}",
                String::from_utf8_lossy(piece)
            );
        }
    }

    fn flush_partial(&self) {
        let partial = std::mem::take(&mut *self.partial.lock().unwrap_or_else(|e| e.into_inner()));
        self.emit(&partial);
    }

    fn write(&self, mut bytes: &[u8]) {
        let mut partial = self.partial.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            if partial.is_empty() {
                self.emit(&bytes[..end]);
            } else {
                partial.extend_from_slice(&bytes[..end]);
                self.emit(&partial);
                partial.clear();
            }
            bytes = &bytes[end + 1..];
        }
        partial.extend_from_slice(bytes);
        while partial.len() >= MAX_LOG_LINE {
            let rest = partial.split_off(MAX_LOG_LINE);
            self.emit(&partial);
            *partial = rest;
        }
    }
}

impl Drop for CaptureInner {
    fn drop(&mut self) {
        // The last line of an instance need not end with a newline.
        let partial = std::mem::take(self.partial.get_mut().unwrap_or_else(|e| e.into_inner()));
        self.emit(&partial);
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.inner.write(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.inner.write(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_allows_a_burst_then_refuses() {
        let budget = LogBudget::new("a".into());
        let allowed = (0..5000).filter(|_| budget.allow()).count();
        // The burst, plus whatever refilled while the loop ran.
        assert!((1000..1100).contains(&allowed), "{allowed}");
        assert!(budget.state.lock().unwrap().dropped > 3000);
    }

    #[test]
    fn log_lines_are_cut_at_newlines_and_8_kib() {
        let long = "é".repeat(10_000);
        let text = format!("a\n\n{long}\nb");
        let lines: Vec<&str> = log_lines(&text).collect();
        assert_eq!(lines[0], "a");
        assert_eq!(*lines.last().unwrap(), "b");
        assert!(lines.iter().all(|l| l.len() <= MAX_LOG_LINE));
        assert_eq!(lines[1..lines.len() - 1].concat(), long);
    }

    #[test]
    fn dirs_decide_whether_the_filesystem_is_linked() {
        let none = Grants::default();
        assert!(none.links("wasi:cli/stdout@0.2.6"));
        assert!(none.links("wasm-gateway:wsgi/server@0.1.0"));
        assert!(!none.links("wasi:filesystem/preopens@0.2.6"));
        assert!(!none.links("wasi:sockets/tcp@0.2.6"));
        let empty = Grants {
            dirs: Some(Vec::new()),
            ..Grants::default()
        };
        assert!(empty.links("wasi:filesystem/preopens@0.2.0"));
        assert!(!empty.links("wasi:sockets/tcp@0.2.6"));
    }

    #[test]
    fn versions_the_host_cannot_serve_are_ungranted() {
        let none = Grants::default();
        assert!(!none.links("wasi:cli/stdout@0.3.0"));
        assert!(!none.links("wasi:cli/stdout@1.2.6"));
        assert!(!none.links("wasi:cli/stdout"));
        assert!(!none.links("wasm-gateway:wsgi/server@0.2.0"));
    }
}
