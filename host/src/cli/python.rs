//! `wasm-gateway python build`: a Python WSGI application, unmodified, into a
//! component of the `app` world.
//!
//! componentize-py (from PyPI) does the heavy lifting: it bundles CPython and
//! the application's modules into a component and snapshots the interpreter
//! after the entry module ran. This module prepares what it runs on: a build
//! directory holding our WIT packages (the `app` world plus
//! `wasi:http/outgoing-handler`, for outbound HTTP, and the host's password
//! hashing), the Python adapter
//! (`guest-sdk/python/wasm_gateway_wsgi`), the entry module that imports the
//! application, pre-imports what WSGI apps touch lazily and runs warm-up
//! requests, and the application's requirements installed with pip. It then
//! reads back what the entry module reported (what was bundled, or why the
//! build failed) and marks the component as a Python one, which tells the
//! host to give it the empty filesystem and trapping sockets CPython's
//! imports need (see [`Profile`](crate::runtime::profile::Profile)).

use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::runtime::profile::PROFILE_SECTION;
use crate::runtime::python_files::{FILES_SECTION, Packed, Packer, append_section};

/// The componentize-py version the adapter is built and tested against.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

const WIT: &str = include_str!("../../../wit/wsgi.wit");
/// The world Python apps are built against: WSGI's `app` plus
/// `wasi:http/outgoing-handler` and `kdf` (guest-sdk/python/wit/README.md).
const PYTHON_WIT: &str = include_str!("../../../guest-sdk/python/wit/python.wit");
const PYTHON_WORLD: &str = "wasm-gateway:python/app@0.1.0";
/// The WASI 0.2 packages `wasi:http` needs, as the build lays them out
/// (`wit/deps/NAME.wit`).
macro_rules! wasi_wit {
    ($($name:literal),*) => {
        &[$((
            $name,
            include_str!(concat!("../../../guest-sdk/python/wit/deps/", $name, ".wit")),
        )),*]
    };
}
const WASI_WIT: &[(&str, &str)] = wasi_wit!(
    "cli",
    "clocks",
    "filesystem",
    "http",
    "io",
    "random",
    "sockets"
);
const ADAPTER: &str = include_str!("../../../guest-sdk/python/wasm_gateway_wsgi/__init__.py");
const OUTBOUND: &str = include_str!("../../../guest-sdk/python/wasm_gateway_wsgi/outbound.py");
const KDF: &str = include_str!("../../../guest-sdk/python/wasm_gateway_wsgi/kdf.py");
/// `wasm_gateway`, the Python SDK package: `wasm_gateway.kv`.
const SDK: &str = include_str!("../../../guest-sdk/python/wasm_gateway/__init__.py");
const SDK_KV: &str = include_str!("../../../guest-sdk/python/wasm_gateway/kv.py");
/// `wasi:keyvalue@0.2.0-draft2`, which the Python world imports for
/// `wasm_gateway.kv`: the host's own copy.
const KEYVALUE_WIT: &str = include_str!("../../../wit/deps/keyvalue.wit");
const ENTRY: &str = include_str!("../../../guest-sdk/python/wasm_gateway_entry.py");
const ENTRY_MODULE: &str = "wasm_gateway_entry";
const CODESTORE: &str = include_str!("../../../guest-sdk/python/wasm_gateway_codestore.py");
const STAGE: &str = include_str!("../../../guest-sdk/python/wasm_gateway_stage.py");
const STAGE_MODULE: &str = "wasm_gateway_stage";

/// Appends the custom section that marks `wasm` as built with `profile`.
fn mark(wasm: &mut Vec<u8>, profile: &str) {
    append_section(wasm, PROFILE_SECTION, profile.as_bytes());
}

/// What `python build` was asked to do.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// `MODULE:CALLABLE`, as gunicorn takes it.
    pub target: String,
    /// Where the component goes.
    pub output: PathBuf,
    /// The directory holding the application's modules.
    pub app_dir: PathBuf,
    /// A pip requirements file installed into the build.
    pub requirements: Option<PathBuf>,
    /// Paths requested through the application at build time.
    pub warmup: Vec<String>,
    /// Wrap the application in `wsgiref.validate.validator`, warnings as
    /// errors: every contract violation becomes a 500 and a log line.
    pub validate: bool,
    /// Import every submodule of the third-party packages the application
    /// imported.
    pub import_packages: bool,
    /// The componentize-py executable; found on `PATH` if not given.
    pub componentize_py: Option<PathBuf>,
}

/// What the entry module reported from inside the build.
#[derive(Debug, Clone, Deserialize)]
pub struct Report {
    /// CPython's version inside the component.
    #[serde(default)]
    pub python: String,
    /// How many modules the snapshot holds.
    #[serde(default)]
    pub modules: usize,
    /// How many more modules the code store holds, importable at run time.
    #[serde(default)]
    pub code_store: usize,
    /// The compressed size of the code it holds, in bytes.
    #[serde(default)]
    pub code_store_bytes: u64,
    /// The files packed for run time: the application's, its packages'.
    #[serde(skip)]
    pub files: Option<(Packed, Packed, usize)>,
    /// The third-party packages bundled.
    #[serde(default)]
    pub packages: Vec<Package>,
    /// The top-level standard library modules bundled.
    #[serde(default)]
    pub stdlib: Vec<String>,
    /// Modules that were tried (pre-imports) but could not be imported.
    #[serde(default)]
    pub skipped: Vec<String>,
    /// The warm-up requests and their statuses.
    #[serde(default)]
    pub warmup: Vec<Warmup>,
    /// Why the build failed, when it did.
    #[serde(default)]
    pub error: Option<Failure>,
}

/// One bundled third-party package.
#[derive(Debug, Clone, Deserialize)]
pub struct Package {
    /// Its top-level module name.
    pub name: String,
    /// Its distribution's version, when known.
    pub version: Option<String>,
}

/// One warm-up request.
#[derive(Debug, Clone, Deserialize)]
pub struct Warmup {
    /// The path requested.
    pub path: String,
    /// The status line the application answered.
    pub status: String,
}

/// Why the application could not be bundled.
#[derive(Debug, Clone, Deserialize)]
pub struct Failure {
    /// `import`, `callable` or `warmup`.
    pub stage: String,
    /// The exception, one line.
    pub exception: String,
    /// The full traceback.
    pub traceback: String,
    /// The module Python could not find, for a `ModuleNotFoundError`.
    pub missing_module: Option<String>,
}

/// Why `python build` failed. Each message names the problem and its fix.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `MODULE:CALLABLE` is malformed.
    #[error(
        "`{0}` is not MODULE:CALLABLE: give the module (a dotted name, e.g. `flaskapp` or `pkg.app`) and the WSGI callable in it, e.g. `flaskapp:app`"
    )]
    Target(String),
    /// componentize-py is not installed.
    #[error(
        "componentize-py was not found on PATH; install it with `python3 -m pip install componentize-py=={COMPONENTIZE_PY_VERSION}` (in a virtualenv: `python3 -m venv .venv && .venv/bin/pip install componentize-py=={COMPONENTIZE_PY_VERSION}`, then activate it), or pass --componentize-py PATH"
    )]
    NoComponentizePy,
    /// A directory or file given does not exist.
    #[error("{what} {path} does not exist")]
    Missing {
        /// What it is.
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// pip could not install the requirements.
    #[error("pip could not install {file}: {detail}")]
    Pip {
        /// The requirements file.
        file: PathBuf,
        /// pip's last words.
        detail: String,
    },
    /// The pip that would install the requirements is too old to resolve
    /// them for the guest's Python.
    #[error(
        "{python} -m pip is pip {version}: pip {MIN_PIP} or later is needed to resolve requirements for the component's CPython {GUEST_PYTHON} (older pips check Requires-Python against the Python running them); upgrade it with `{python} -m pip install --upgrade 'pip>={MIN_PIP}'`"
    )]
    OldPip {
        /// The Python whose pip it is.
        python: String,
        /// Its version.
        version: String,
    },
    /// A requirement exists only as native code for the guest's Python.
    #[error("`{package}`{} has no pure-Python wheel for CPython {GUEST_PYTHON} and its source distribution builds only with its C extension: C extensions cannot run in the WebAssembly sandbox. Remove it or use a pure-Python alternative (docs/python.md lists packages known to work)", required_by.as_ref().map(|p| format!(" (required by {p})")).unwrap_or_default())]
    Native {
        /// The package.
        package: String,
        /// What required it, when pip said.
        required_by: Option<String>,
    },
    /// The application cannot be imported, resolved or warmed up.
    #[error("{0}")]
    App(String),
    /// componentize-py failed for another reason.
    #[error("componentize-py failed: {0}")]
    Componentize(String),
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let context = context.into();
    move |source| BuildError::Io { context, source }
}

/// Checks `MODULE:CALLABLE`.
fn check_target(target: &str) -> Result<(), BuildError> {
    let bad = || BuildError::Target(target.to_owned());
    let (module, callable) = target.split_once(':').ok_or_else(bad)?;
    let dotted = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|part| {
                let mut chars = part.chars();
                chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
                    && chars.all(|c| c.is_alphanumeric() || c == '_')
            })
    };
    if dotted(module) && dotted(callable) {
        Ok(())
    } else {
        Err(bad())
    }
}

/// The componentize-py to run: the one given, else the first on `PATH`.
fn find_componentize_py(given: Option<&Path>) -> Result<PathBuf, BuildError> {
    if let Some(path) = given {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(BuildError::Missing {
                what: "componentize-py executable",
                path: path.to_path_buf(),
            })
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("componentize-py"))
        .find(|candidate| candidate.is_file())
        .ok_or(BuildError::NoComponentizePy)
}

/// The Python whose pip installs requirements: the one installed beside
/// componentize-py (its virtualenv), else `python3` on `PATH`.
fn python_beside(componentize_py: &Path) -> PathBuf {
    componentize_py
        .parent()
        .map(|dir| dir.join("python3"))
        .filter(|python| python.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// The last `lines` non-empty lines of a process's stderr.
fn tail(output: &Output, lines: usize) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let kept: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    kept[kept.len().saturating_sub(lines)..].join("\n")
}

/// The Python traceback in componentize-py's error output, without the
/// Rust backtrace that follows it.
fn python_error(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let start = text
        .find("AssertionError: Traceback")
        .map(|i| i + "AssertionError: ".len())
        .unwrap_or(0);
    let end = text[start..]
        .find("\n\nCaused by:")
        .or_else(|| text[start..].find("Stack backtrace:"))
        .map_or(text.len(), |i| start + i);
    text[start..end].trim().to_owned()
}

/// Builds the application; returns what was bundled.
pub fn build(
    options: &BuildOptions,
    progress: &mut dyn std::io::Write,
) -> Result<Report, BuildError> {
    check_target(&options.target)?;
    if !options.app_dir.is_dir() {
        return Err(BuildError::Missing {
            what: "application directory",
            path: options.app_dir.clone(),
        });
    }
    if let Some(file) = &options.requirements
        && !file.is_file()
    {
        return Err(BuildError::Missing {
            what: "requirements file",
            path: file.clone(),
        });
    }
    let componentize_py = find_componentize_py(options.componentize_py.as_deref())?;

    let build = tempfile::Builder::new()
        .prefix("wasm-gateway-python-")
        .tempdir()
        .map_err(io("creating the build directory"))?;
    let dir = build.path();
    let write = |relative: &str, content: &[u8]| -> Result<(), BuildError> {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        std::fs::write(&path, content).map_err(io(format!("writing {}", path.display())))
    };
    write("wit/python.wit", PYTHON_WIT.as_bytes())?;
    write("wit/deps/wsgi.wit", WIT.as_bytes())?;
    for (package, wit) in WASI_WIT {
        write(&format!("wit/deps/{package}.wit"), wit.as_bytes())?;
    }
    write("wasm_gateway_wsgi/__init__.py", ADAPTER.as_bytes())?;
    write("wasm_gateway_wsgi/outbound.py", OUTBOUND.as_bytes())?;
    write("wasm_gateway_wsgi/kdf.py", KDF.as_bytes())?;
    write("wasm_gateway/__init__.py", SDK.as_bytes())?;
    write("wasm_gateway/kv.py", SDK_KV.as_bytes())?;
    write("wit/deps/keyvalue.wit", KEYVALUE_WIT.as_bytes())?;
    write(&format!("{ENTRY_MODULE}.py"), ENTRY.as_bytes())?;
    write("wasm_gateway_codestore.py", CODESTORE.as_bytes())?;
    write(&format!("{STAGE_MODULE}.py"), STAGE.as_bytes())?;
    #[derive(Serialize)]
    struct Settings<'a> {
        target: &'a str,
        warmup: &'a [String],
        validate: bool,
        import_packages: bool,
    }
    let settings = serde_json::to_vec(&Settings {
        target: &options.target,
        warmup: &options.warmup,
        validate: options.validate,
        import_packages: options.import_packages,
    })
    .expect("settings serialize");
    write("wasm_gateway_build.json", &settings)?;

    // The build works on a copy of the application: whatever the import or
    // the warm-up writes (bytecode, a SQLite file) stays out of the user's
    // tree, and the copy is what the component's files are packed from.
    let app = dir.join("app");
    copy_app(&options.app_dir, &app)?;
    // Requirements go into a virtualenv-shaped directory that
    // componentize-py is pointed at (VIRTUAL_ENV): it always adds a
    // virtualenv's site-packages to the search path, and would otherwise
    // add the host's own (its Python's packages, for the wrong version).
    let env = dir.join("env");
    let site_packages = env.join(format!("lib/python{GUEST_PYTHON}/site-packages"));
    std::fs::create_dir_all(&site_packages)
        .map_err(io(format!("creating {}", site_packages.display())))?;
    if let Some(file) = &options.requirements {
        let _ = writeln!(
            progress,
            "installing {} with pip, for the component's CPython {GUEST_PYTHON}",
            file.display()
        );
        install_requirements(
            &python_beside(&componentize_py),
            file,
            &site_packages,
            &dir.join("wheels"),
            progress,
        )?;
    }
    // componentize-py mounts each -p directory at /0, /1, ... in order,
    // then the virtualenv's site-packages: the entry module finds its
    // settings beside itself in /0, the application is /1, packages /2.
    let python_path = [dir.to_path_buf(), app.clone()];

    let _ = writeln!(
        progress,
        "compiling every module the app could import at run time (~10 s)"
    );
    stage(&componentize_py, dir, &python_path, &env)?;

    let output_tmp = {
        let mut name = options.output.clone().into_os_string();
        name.push(".partial");
        PathBuf::from(name)
    };
    let _ = writeln!(
        progress,
        "bundling {} with componentize-py (imports the app, pre-imports, warm-up: ~20 s)",
        options.target
    );
    let output = componentize(
        &componentize_py,
        dir,
        ENTRY_MODULE,
        &python_path,
        &env,
        &output_tmp,
    )?;

    let report: Option<Report> = std::fs::read(dir.join("wasm_gateway_report.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    if !output.status.success() {
        let _ = std::fs::remove_file(&output_tmp);
        return Err(match report.and_then(|r| r.error) {
            Some(failure) => BuildError::App(describe_failure(options, &failure)),
            None => BuildError::Componentize(python_error(&output)),
        });
    }
    let mut report = report.ok_or_else(|| {
        BuildError::Componentize("the entry module wrote no report (is the adapter intact?)".into())
    })?;

    let mut wasm =
        std::fs::read(&output_tmp).map_err(io(format!("reading {}", output_tmp.display())))?;
    mark(&mut wasm, "python");
    let (section, app_files, package_files) = pack_files(&app, &site_packages)?;
    report.files = Some((app_files, package_files, section.len()));
    append_section(&mut wasm, FILES_SECTION, &section);
    std::fs::write(&output_tmp, &wasm).map_err(io(format!("writing {}", output_tmp.display())))?;
    std::fs::rename(&output_tmp, &options.output).map_err(io(format!(
        "moving the component to {}",
        options.output.display()
    )))?;
    Ok(report)
}

/// Runs componentize-py on `module`, with the build's WIT and world, the
/// `-p` directories `python_path` and the virtualenv `env`.
fn componentize(
    componentize_py: &Path,
    dir: &Path,
    module: &str,
    python_path: &[PathBuf],
    env: &Path,
    output: &Path,
) -> Result<Output, BuildError> {
    let mut args: Vec<OsString> = vec![
        "--quiet".into(),
        "-d".into(),
        dir.join("wit").into(),
        "-w".into(),
        PYTHON_WORLD.into(),
        "componentize".into(),
        module.into(),
    ];
    for path in python_path {
        args.push("-p".into());
        args.push(path.clone().into());
    }
    args.push("-o".into());
    args.push(output.into());
    Command::new(componentize_py)
        .args(&args)
        .env("VIRTUAL_ENV", env)
        .output()
        .map_err(io(format!("running {}", componentize_py.display())))
}

/// The build's first stage (`wasm_gateway_stage`): compiles every module
/// on the component's search path into the code store, with the guest's
/// CPython, in a componentize-py run of its own that ends on purpose
/// before writing a component (the module says how it went in
/// `wasm_gateway_stage.json`).
fn stage(
    componentize_py: &Path,
    dir: &Path,
    python_path: &[PathBuf],
    env: &Path,
) -> Result<(), BuildError> {
    let output = componentize(
        componentize_py,
        dir,
        STAGE_MODULE,
        python_path,
        env,
        &dir.join("stage.wasm"),
    )?;
    if !(dir.join("wasm_gateway_stage.json").is_file()
        && dir.join("wasm_gateway_code.bin").is_file())
    {
        return Err(BuildError::Componentize(python_error(&output)));
    }
    Ok(())
}

/// Copies the application directory `from` into `to`: regular files and
/// directories, following links, without hidden entries, bytecode caches
/// and components (a previous build's output, often written beside the
/// app, would otherwise be packed into the next).
fn copy_app(from: &Path, to: &Path) -> Result<(), BuildError> {
    std::fs::create_dir_all(to).map_err(io(format!("creating {}", to.display())))?;
    let entries = std::fs::read_dir(from).map_err(io(format!("reading {}", from.display())))?;
    for entry in entries {
        let entry = entry.map_err(io(format!("reading {}", from.display())))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') || name == "__pycache__" {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        let Ok(meta) = std::fs::metadata(&source) else {
            continue; // a dangling link
        };
        if meta.is_dir() {
            // A link cycle ends at the path length limit, with an error.
            copy_app(&source, &target)?;
        } else if meta.is_file()
            && source
                .extension()
                .is_none_or(|e| !matches!(e.to_str(), Some("pyc" | "wasm" | "partial")))
        {
            std::fs::copy(&source, &target).map_err(io(format!("copying {}", source.display())))?;
        }
    }
    Ok(())
}

/// Packs the files the component reads by path at run time: everything in
/// the application's copy (mounted at `/1`; its sources too, for
/// tracebacks), and the data files of its packages (`/2`: what is not code,
/// which the code store holds, nor native code, nor translation sources,
/// `*.po`, of which only the compiled `*.mo` are read).
fn pack_files(app: &Path, site_packages: &Path) -> Result<(Vec<u8>, Packed, Packed), BuildError> {
    let packing = io("packing the application's files");
    let mut packer = Packer::new().map_err(io("packing the application's files"))?;
    let app_files = packer
        .add_tree("1", app, &|_| true)
        .map_err(io("packing the application's files"))?;
    let package_files = packer
        .add_tree("2", site_packages, &|path| {
            let top_bin = path
                .components()
                .next()
                .is_some_and(|c| c.as_os_str() == "bin");
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            !top_bin
                && !matches!(
                    ext,
                    "py" | "pyc" | "pyo" | "pyi" | "so" | "pyd" | "dylib" | "po"
                )
        })
        .map_err(io("packing the packages' data files"))?;
    let section = packer.finish().map_err(packing)?;
    Ok((section, app_files, package_files))
}

/// The CPython the component embeds (componentize-py 0.25.1's): what
/// requirements are resolved for, whatever Python runs pip.
const GUEST_PYTHON: &str = "3.14";

/// The oldest pip that resolves for `--python-version` in full.
const MIN_PIP: &str = "25.0";

/// Fails unless `python`'s pip is [`MIN_PIP`] or later.
fn check_pip(python: &Path) -> Result<(), BuildError> {
    let output = Command::new(python)
        .args(["-m", "pip", "--version", "--disable-pip-version-check"])
        .output()
        .map_err(io(format!("running {} -m pip", python.display())))?;
    if !output.status.success() {
        return Err(BuildError::Pip {
            file: python.to_path_buf(),
            detail: format!("`-m pip --version` failed: {}", tail(&output, 3)),
        });
    }
    // `pip 23.2.1 from /path (python 3.11)`
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    if version_at_least(&version, MIN_PIP) {
        Ok(())
    } else {
        Err(BuildError::OldPip {
            python: python.display().to_string(),
            version,
        })
    }
}

/// Whether dotted version `version` is `floor` or later (numeric parts
/// compared in order; anything unreadable is too old).
fn version_at_least(version: &str, floor: &str) -> bool {
    let parts = |v: &str| -> Option<Vec<u64>> {
        v.split('.')
            .map(|p| {
                // `1rc1` counts as 1: a pre-release of 25.1 is past 25.0.
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect()
    };
    match (parts(version), parts(floor)) {
        (Some(v), Some(f)) => v >= f,
        _ => false,
    }
}

/// Requirements with no pure wheel on PyPI built from source, at most.
const MAX_SOURCE_BUILDS: usize = 10;

/// Installs the requirements `file` into `target` for the guest's Python:
/// pure-Python wheels only (`--platform any --abi none`). A requirement
/// with none on PyPI is built from its source distribution with its C
/// extension off (`CC=false`, and the switches of the packages that have
/// one), into `wheels`, and kept only if the wheel is pure; then the
/// install is tried again. A package that stays native is named.
fn install_requirements(
    python: &Path,
    file: &Path,
    target: &Path,
    wheels: &Path,
    progress: &mut dyn std::io::Write,
) -> Result<(), BuildError> {
    check_pip(python)?;
    std::fs::create_dir_all(wheels).map_err(io(format!("creating {}", wheels.display())))?;
    let mut built: Vec<String> = Vec::new();
    loop {
        let output = Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--target")
            .arg(target)
            .args(["--python-version", GUEST_PYTHON])
            .args([
                "--implementation",
                "py",
                "--abi",
                "none",
                "--platform",
                "any",
            ])
            .arg("--only-binary=:all:")
            .arg("--find-links")
            .arg(wheels)
            .arg("-r")
            .arg(file)
            .output()
            .map_err(io("running pip"))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let Some((spec, required_by)) = no_distribution(&stderr) else {
            return Err(BuildError::Pip {
                file: file.to_path_buf(),
                detail: tail(&output, 5),
            });
        };
        let name = requirement_name(&spec);
        if built.contains(&name) || built.len() >= MAX_SOURCE_BUILDS {
            return Err(BuildError::Native {
                package: name,
                required_by,
            });
        }
        let _ = writeln!(
            progress,
            "{name} has no pure-Python wheel: building one from its source, without its C extension"
        );
        if !pure_wheel(python, &spec, &name, wheels)? {
            return Err(BuildError::Native {
                package: name,
                required_by,
            });
        }
        built.push(name);
    }
}

/// The requirement pip found nothing for, and what required it: from
/// `No matching distribution found for markupsafe>=2.1.1 (from flask)`.
fn no_distribution(stderr: &str) -> Option<(String, Option<String>)> {
    let line = stderr.lines().find_map(|line| {
        line.split_once("No matching distribution found for ")
            .map(|(_, rest)| rest)
    })?;
    let (spec, from) = match line.split_once(" (from ") {
        Some((spec, from)) => (spec, from.split([')', ',']).next()),
        None => (line, None),
    };
    let spec = spec.trim().to_owned();
    (!spec.is_empty()).then(|| (spec, from.map(|f| f.trim().to_owned())))
}

/// The distribution name of a requirement, normalized as wheel file names
/// spell it (`MarkupSafe>=2` is `markupsafe`).
fn requirement_name(spec: &str) -> String {
    spec.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Builds `spec` (distribution `name`) from source into `wheels` with its
/// C extension off; whether the wheel is pure (`-none-any`). An impure
/// one is removed, so that pip never picks it.
fn pure_wheel(python: &Path, spec: &str, name: &str, wheels: &Path) -> Result<bool, BuildError> {
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
        ])
        // A cached wheel may be one compiled for the host.
        .args(["--no-cache-dir", "--no-deps", "--no-binary", name])
        .arg("-w")
        .arg(wheels)
        .arg(spec)
        // No compiler: a package with an optional extension falls back to
        // its pure Python; these two need their own switch.
        .env("CC", "false")
        .env("CXX", "false")
        .env("MSGPACK_PUREPYTHON", "1")
        .env("PYYAML_FORCE_LIBYAML", "0")
        .output()
        .map_err(io("running pip wheel"))?;
    let mut pure = false;
    let entries = std::fs::read_dir(wheels).map_err(io(format!("reading {}", wheels.display())))?;
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = file.strip_suffix(".whl") else {
            continue;
        };
        // `{distribution}-{version}-...`, the distribution normalized.
        if requirement_name(stem.split('-').next().unwrap_or_default()) != name {
            continue;
        }
        if stem.ends_with("-none-any") {
            pure = true;
        } else {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(output.status.success() && pure)
}

/// A build failure in the application's terms: what failed, and the fix.
fn describe_failure(options: &BuildOptions, failure: &Failure) -> String {
    let (module, callable) = options
        .target
        .split_once(':')
        .unwrap_or((&options.target, ""));
    let fix = match (failure.stage.as_str(), &failure.missing_module) {
        (_, Some(missing)) if failure.stage == "import" || failure.stage == "warmup" => format!(
            "module `{missing}` cannot be bundled: it is neither in {} nor in the packages installed from --requirements; add the package that provides it to a requirements file given with --requirements",
            options.app_dir.display()
        ),
        ("import", None) => format!("importing `{module}` raised {}", failure.exception),
        ("callable", _) => format!(
            "`{module}` has no WSGI callable `{callable}` ({}); name the callable after the colon, e.g. `{module}:app`",
            failure.exception
        ),
        _ => format!(
            "a warm-up request raised {}; fix the app or choose other --warmup paths",
            failure.exception
        ),
    };
    format!("{fix}\n{}", failure.traceback.trim_end())
}

/// `bytes` for people: `48 kB`, `2.4 MB`.
fn size_text(bytes: u64) -> String {
    if bytes < 1_000_000 {
        format!("{} kB", bytes.div_ceil(1000))
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

/// The report as `python build` prints it.
pub fn summary(report: &Report, output: &Path, size: u64) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "built {} ({:.1} MB): CPython {}, {} modules",
        output.display(),
        size as f64 / 1e6,
        report.python,
        report.modules
    );
    let packages: Vec<String> = report
        .packages
        .iter()
        .map(|p| match &p.version {
            Some(v) => format!("{} {v}", p.name),
            None => p.name.clone(),
        })
        .collect();
    let _ = writeln!(
        text,
        "  packages: {}",
        if packages.is_empty() {
            "(none)".into()
        } else {
            packages.join(", ")
        }
    );
    let _ = writeln!(
        text,
        "  stdlib:   {} top-level modules",
        report.stdlib.len()
    );
    let _ = writeln!(
        text,
        "  imports:  {} more modules importable at run time ({} of compiled code)",
        report.code_store,
        size_text(report.code_store_bytes)
    );
    if let Some((app, packages, packed)) = report.files {
        let _ = writeln!(
            text,
            "  files:    {} app files ({}) and {} package data files ({}), readable at run time; {} compressed",
            app.files,
            size_text(app.bytes),
            packages.files,
            size_text(packages.bytes),
            size_text(packed as u64)
        );
    }
    for warm in &report.warmup {
        let _ = writeln!(text, "  warm-up:  GET {} -> {}", warm.path, warm.status);
    }
    if !report.skipped.is_empty() {
        let _ = writeln!(
            text,
            "  cannot be imported (tried ahead of need; a request importing one fails the same way): {}",
            report.skipped.join(", ")
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::profile::Profile;

    #[test]
    fn pip_s_missing_distribution_is_read_with_its_parent() {
        let stderr = "ERROR: Could not find a version that satisfies the requirement markupsafe>=2.1.1 (from flask) (from versions: none)\nERROR: No matching distribution found for markupsafe>=2.1.1 (from flask)\n";
        assert_eq!(
            no_distribution(stderr),
            Some(("markupsafe>=2.1.1".into(), Some("flask".into())))
        );
        assert_eq!(
            no_distribution("ERROR: No matching distribution found for ujson\n"),
            Some(("ujson".into(), None))
        );
        assert_eq!(no_distribution("ERROR: ResolutionImpossible"), None);
        assert_eq!(requirement_name("MarkupSafe>=2.1.1"), "markupsafe");
        assert_eq!(requirement_name("zope.interface==7"), "zope_interface");
        assert_eq!(requirement_name("PyYAML"), "pyyaml");
    }

    #[test]
    fn pip_versions_compare_by_number() {
        assert!(version_at_least("25.0", MIN_PIP));
        assert!(version_at_least("26.0.1", MIN_PIP));
        assert!(version_at_least("100.1", MIN_PIP));
        assert!(!version_at_least("24.3.1", MIN_PIP));
        assert!(!version_at_least("9.0", MIN_PIP));
        assert!(!version_at_least("", MIN_PIP));
        assert!(version_at_least("25.1rc1", MIN_PIP));
    }

    #[test]
    fn targets_are_module_colon_callable() {
        for good in ["flaskapp:app", "pkg.mod:make.app", "_a:b_1"] {
            assert!(check_target(good).is_ok(), "{good}");
        }
        for bad in ["flaskapp", ":app", "app:", "a b:c", "1a:b", "a:b:c", "a.:b"] {
            assert!(check_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_python_world_is_the_wsgi_app_world_plus_outbound_http_and_kdf() {
        assert!(PYTHON_WIT.contains(&format!("package {};", PYTHON_WORLD.replace("/app", ""))));
        assert!(PYTHON_WIT.contains("include wasm-gateway:wsgi/app@0.1.0;"));
        // The adapter's password hashing imports the interface the host
        // links (runtime/kdf).
        assert!(PYTHON_WIT.contains("    import kdf;"));
        assert!(KDF.contains("from wit_world.imports import kdf as _host"));
        assert!(ENTRY.contains("kdf.install()") && ENTRY.contains("kdf.built()"));
        assert!(WIT.contains("package wasm-gateway:wsgi@0.1.0;") && WIT.contains("world app {"));
        // The wasi:http version it imports is the one vendored beside it.
        let http = WASI_WIT.iter().find(|(name, _)| *name == "http").unwrap().1;
        let version = http
            .strip_prefix("package wasi:http@")
            .and_then(|rest| rest.split(';').next())
            .unwrap();
        assert!(PYTHON_WIT.contains(&format!("import wasi:http/outgoing-handler@{version};")));
        for (name, wit) in WASI_WIT {
            assert!(
                wit.starts_with(&format!("package wasi:{name}@{version};")),
                "{name}.wit is not WASI {version}"
            );
        }
    }

    #[test]
    fn a_marked_component_has_the_python_profile() {
        // The smallest component: preamble only.
        let mut wasm = b"\0asm\x0d\0\x01\0".to_vec();
        assert_eq!(Profile::of(&wasm), Profile::Plain);
        mark(&mut wasm, "python");
        assert!(
            wasmtime::wasmparser::Validator::new()
                .validate_all(&wasm)
                .is_ok()
        );
        assert_eq!(Profile::of(&wasm), Profile::Python);
        let mut other = b"\0asm\x0d\0\x01\0".to_vec();
        mark(&mut other, "cobol");
        assert_eq!(Profile::of(&other), Profile::Plain);
    }
}
