//! What an application may reach outside its sandbox, and nothing more.
//!
//! Deny by default: an application gets clocks, randomness, the
//! wasm-gateway interface and the host's password hashing
//! (`wasm-gateway:python/kdf`, see `crate::runtime::kdf`); everything else
//! is a grant the operator writes in `[apps.NAME.grants]`:
//!
//! - `env`: WASI environment variables (never the host's own);
//! - `dirs`: read-only preopened directories (without it the
//!   `wasi:filesystem` interfaces are not linked at all);
//! - `stdout`, `stderr`: captured line by line into the log, tagged with the
//!   application and request, under a per-application rate limit (without
//!   them the streams exist and discard what they get, because every Rust
//!   program imports them).
//!
//! - `outbound-http`: the destinations `wasi:http/outgoing-handler` may
//!   reach (the interface is always linked; without the grant every call is
//!   denied, see `crate::outbound`).
//! - `kv`: the key-value stores `wasi:keyvalue` may open (the interfaces
//!   are always linked, at `0.2.0-draft2`; opening a store not granted
//!   fails with `access-denied`, see `crate::kv`).
//!
//! Sockets are never linked. A component that imports an interface the host
//! does not link for it fails at load with a message naming the imports,
//! unless the operator opts in to trapping stubs (`trap-unknown-imports`):
//! then it loads, and a call to one of them traps that request (500).

use crate::runtime::kdf;
use crate::runtime::profile::Profile;
use crate::wsgi::app_log::{Capture, Captured, LogBudget};
use crate::wsgi::bindings;
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::component::{Component, HasData, Linker, ResourceTable};
use wasmtime_wasi::cli::WasiCli;
use wasmtime_wasi::clocks::WasiClocks;
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemCtx};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiView};

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
    /// Where the application may send HTTP requests (`outbound-http`);
    /// empty: nowhere (every call fails with `HTTP-request-denied`).
    pub outbound_http: crate::outbound::AllowList,
    /// The key-value stores the application may open, by the name it opens
    /// them by; empty: none (`open` fails with `access-denied`).
    pub kv: Vec<crate::kv::KvGrant>,
}

/// WASI interfaces every application gets, by name without version (the
/// host's own interfaces, [`bindings::INTERFACES`], too).
const ALWAYS: &[&str] = &[
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
    // Outbound HTTP: linked for everyone, each call checked against the
    // outbound-http grant (denied without it).
    "wasi:http/types",
    "wasi:http/outgoing-handler",
];

/// The most bytes one `wasi:random` call may ask for; a larger call traps.
/// The host makes the bytes inside the call, where no deadline can stop it:
/// bounded, a call takes about a millisecond, and a guest that loops still
/// reaches an epoch check between calls (wasmtime-wasi's own bound is 64
/// MiB, which held a runtime thread for tens of milliseconds per call).
pub const MAX_RANDOM_BYTES: u64 = 1 << 20;

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
        if bindings::INTERFACES.contains(&interface) {
            return bindings::serves_version(version);
        }
        // A draft: only its own version.
        if crate::kv::bindings::INTERFACES.contains(&interface) {
            return version == crate::kv::bindings::VERSION;
        }
        if interface == kdf::INTERFACE {
            return kdf::serves_version(version);
        }
        version.starts_with("0.2.")
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
    /// gets the filesystem interface, with its own `files` (the mounts its
    /// build packed: its application directory and its packages' data,
    /// read-only where the build found them) and the operator's
    /// directories, which win on the same guest path. With neither, the
    /// filesystem is empty: CPython probes paths as it starts, and "not
    /// found" grants nothing.
    pub fn for_profile(
        &self,
        profile: Profile,
        files: &[(String, PathBuf)],
    ) -> std::borrow::Cow<'_, Grants> {
        match profile {
            Profile::Python if self.dirs.is_none() || !files.is_empty() => {
                let operator = self.dirs.clone().unwrap_or_default();
                let mut dirs: Vec<(String, PathBuf)> = files
                    .iter()
                    .filter(|(guest, _)| operator.iter().all(|(g, _)| g != guest))
                    .cloned()
                    .collect();
                dirs.extend(operator);
                std::borrow::Cow::Owned(Grants {
                    dirs: Some(dirs),
                    ..self.clone()
                })
            }
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

    /// Adds the WASI interfaces these grants allow to `linker`, for any
    /// store data that has a WASI context (the application's own interface
    /// is added by the caller).
    pub fn link<T: WasiView + 'static>(&self, linker: &mut Linker<T>) -> wasmtime::Result<()> {
        use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random};
        use wasmtime_wasi_io::bindings::wasi::io;
        let l = linker;
        io::error::add_to_linker::<T, Io>(l, |s| s.ctx().table)?;
        io::poll::add_to_linker::<T, Io>(l, |s| s.ctx().table)?;
        io::streams::add_to_linker::<T, Io>(l, |s| s.ctx().table)?;
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
    pub fn stub_ungranted<T: 'static>(
        linker: &mut Linker<T>,
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
    pub fn open_dirs(&self) -> Result<WasiFilesystemCtx, GrantError> {
        let mut builder = WasiCtx::builder();
        for (guest, host) in self.dirs.iter().flatten() {
            builder
                .preopened_dir(host, guest, FsPerms::ReadOnly)
                .map_err(|err| GrantError {
                    dir: host.clone(),
                    guest: guest.clone(),
                    reason: format!("{err:#}"),
                })?;
        }
        let mut ctx = builder.build();
        Ok(std::mem::take(ctx.filesystem()))
    }
}

/// A granted directory that cannot be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open directory {} (granted as {guest}): {reason}", dir.display())]
pub struct GrantError {
    dir: PathBuf,
    guest: String,
    reason: String,
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
    /// Prepares `grants` for an application.
    pub fn new(grants: &Grants) -> Result<Self, GrantError> {
        Ok(Sandbox {
            env: grants.env.clone(),
            filesystem: match &grants.dirs {
                Some(dirs) if !dirs.is_empty() => Some(grants.open_dirs()?),
                _ => None,
            },
            stdout: grants.stdout,
            stderr: grants.stderr,
            log_budget: Arc::new(LogBudget::default()),
        })
    }

    /// A WASI context with exactly the grants: no sockets, no host
    /// environment, no stdin; clocks and randomness work. With stdout or
    /// stderr granted, also the captured streams, to flush at the end of
    /// each request the instance serves.
    pub fn wasi_ctx(&self) -> (WasiCtx, Option<Captured>) {
        let mut streams = Vec::new();
        let mut builder = WasiCtx::builder();
        builder
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(MAX_RANDOM_BYTES)
            .envs(&self.env);
        if self.stdout {
            let capture = Capture::new("stdout", &self.log_budget);
            streams.push(capture.clone());
            builder.stdout(capture);
        }
        if self.stderr {
            let capture = Capture::new("stderr", &self.log_budget);
            streams.push(capture.clone());
            builder.stderr(capture);
        }
        let mut ctx = builder.build();
        if let Some(filesystem) = &self.filesystem {
            *ctx.filesystem() = filesystem.clone();
        }
        let captured = (!streams.is_empty()).then(|| Captured::new(streams));
        (ctx, captured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn keyvalue_is_linked_for_everyone_at_its_draft_version_only() {
        let none = Grants::default();
        assert!(none.links("wasi:keyvalue/store@0.2.0-draft2"));
        assert!(none.links("wasi:keyvalue/atomics@0.2.0-draft2"));
        assert!(none.links("wasi:keyvalue/batch@0.2.0-draft2"));
        assert!(!none.links("wasi:keyvalue/store@0.2.0-draft"));
        assert!(!none.links("wasi:keyvalue/store@0.2.0"));
        assert!(!none.links("wasi:keyvalue/watcher@0.2.0-draft2"));
    }
}
