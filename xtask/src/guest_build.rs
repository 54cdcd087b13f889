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

/// Builds the listed library packages, plus every example target of
/// `with_examples`, in one cargo invocation (so the guests build in
/// parallel and share their dependencies).
pub fn build(
    workspace: &Path,
    packages: &[&str],
    with_examples: Option<&str>,
) -> Result<PathBuf, String> {
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
            "building the guests for {TARGET} failed ({status}); if the target is missing, run `rustup target add {TARGET}`"
        ));
    }
    Ok(target_dir)
}
