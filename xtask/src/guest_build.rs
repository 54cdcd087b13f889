//! Compiling guest crates (examples and test fixtures) to `wasm32-wasip2`
//! components. Shared, as a source file, by `cargo xtask` and the build
//! script of `tests/artifacts`, so both build guests the same way into the
//! same target directory and reuse each other's work.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest target.
pub const TARGET: &str = "wasm32-wasip2";

/// The cargo profile guests are built with (see the workspace `Cargo.toml`).
pub const PROFILE: &str = "guest";

/// The example crates, by package name, in the order `examples/README.md`
/// lists them.
pub const EXAMPLES: &[&str] = &[
    "hello",
    "environ",
    "flask-like",
    "dispatch",
    "ip-blocklist",
    "basic-auth",
    "request-id",
    "gzip",
    "fetch",
    "visits",
    "notes",
    "wstd-hello",
];

/// The package holding one fixture per `examples/<name>.rs`.
pub const FIXTURES_PACKAGE: &str = "wasm-gateway-fixtures";

/// Where guest builds go: `<target>/guests`, beside the host's own builds
/// but in a directory of its own so a nested cargo never waits on the lock of
/// the outer one.
pub fn guest_target_dir(workspace: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    target.join("guests")
}

/// The `.wasm` a cdylib package compiles to.
pub fn package_wasm(target_dir: &Path, package: &str) -> PathBuf {
    profile_dir(target_dir).join(format!("{}.wasm", package.replace('-', "_")))
}

/// The `.wasm` a cdylib example target compiles to.
pub fn example_wasm(target_dir: &Path, example: &str) -> PathBuf {
    profile_dir(target_dir)
        .join("examples")
        .join(format!("{}.wasm", example.replace('-', "_")))
}

fn profile_dir(target_dir: &Path) -> PathBuf {
    target_dir.join(TARGET).join(PROFILE)
}

/// Makes sure the toolchain used for `workspace` has the standard library
/// for [`TARGET`], installing it with `rustup target add` when it is
/// missing. Returns the line to show the user when it installed something.
///
/// `rust-toolchain.toml` lists the target, but rustup installs listed
/// targets only when it installs the toolchain itself: a machine that
/// already has the pinned toolchain (or runs with `RUSTUP_AUTO_INSTALL=0`)
/// would fail later with "can't find crate for `core`".
pub fn ensure_target(workspace: &Path) -> Result<Option<String>, String> {
    // The rustup proxy on PATH, which honours `rust-toolchain.toml` (a
    // build script's `RUSTC` may be a wrapper).
    let sysroot = Command::new("rustc")
        .current_dir(workspace)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run rustc to find its sysroot: {e}"))?;
    if !sysroot.status.success() {
        return Err(format!(
            "`rustc --print sysroot` failed: {}",
            String::from_utf8_lossy(&sysroot.stderr).trim()
        ));
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot
        .join("lib/rustlib")
        .join(TARGET)
        .join("lib")
        .is_dir()
    {
        return Ok(None);
    }
    let notice = format!(
        "the {TARGET} target is not installed for {}; installing it: rustup target add {TARGET}",
        sysroot.display()
    );
    eprintln!("{notice}");
    let added = Command::new("rustup")
        .current_dir(workspace)
        .args(["target", "add", TARGET])
        .status();
    match added {
        Ok(status) if status.success() => Ok(Some(notice)),
        Ok(status) => Err(format!(
            "`rustup target add {TARGET}` failed ({status}); run it by hand and retry"
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "the {TARGET} target is not installed for the Rust toolchain at {} and rustup is not on PATH to install it: install that target's standard library for this toolchain (with rustup: `rustup target add {TARGET}`)",
            sysroot.display()
        )),
        Err(e) => Err(format!("cannot run rustup to add the {TARGET} target: {e}")),
    }
}

/// Builds the listed library packages, plus every example target of
/// `with_examples`, in one cargo invocation (so the guests build in
/// parallel and share their dependencies).
pub fn build(
    workspace: &Path,
    packages: &[&str],
    with_examples: Option<&str>,
) -> Result<PathBuf, String> {
    ensure_target(workspace)?;
    let target_dir = guest_target_dir(workspace);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args([
            "build",
            "--profile",
            PROFILE,
            "--target",
            TARGET,
            "--target-dir",
        ])
        .arg(&target_dir);
    for p in packages {
        cmd.args(["--package", p]);
    }
    if !packages.is_empty() {
        cmd.arg("--lib");
    }
    if let Some(p) = with_examples {
        cmd.args(["--package", p, "--examples"]);
    }
    // When called from a build script, the outer cargo's settings for the
    // host build must not leak into the guest build.
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_RUSTC_WRAPPER",
        "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_INCREMENTAL",
        "CARGO_LLVM_COV",
        "RUSTC",
        "RUSTDOC",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo to build the guests: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the guests for {TARGET} failed ({status}); the compiler's errors are above"
        ));
    }
    Ok(target_dir)
}

/// The fixtures: one per `tests/fixtures/examples/<name>.rs`, in name
/// order.
pub fn fixture_names(root: &Path) -> Result<Vec<String>, String> {
    let dir = root.join("tests/fixtures/examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    Ok(names)
}
