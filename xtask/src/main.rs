//! Project tasks that cargo has no command for.
//!
//! `cargo xtask build-examples` compiles every example to
//! `target/examples/<name>.wasm`, and `cargo xtask build-fixtures` every test
//! fixture to `target/fixtures/<name>.wasm` (the alias lives in
//! `.cargo/config.toml`).

mod guest_build;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build-examples") => build_examples(),
        Some("build-fixtures") => build_fixtures(),
        _ => Err("usage: cargo xtask build-examples|build-fixtures\n\n  build-examples   build every example to target/examples/<name>.wasm\n  build-fixtures   build every test fixture to target/fixtures/<name>.wasm".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// `<target>/<name>`, created: where the built components are copied to, at
/// a path that does not depend on the guest profile or target triple.
fn output_dir(root: &Path, name: &str) -> Result<PathBuf, String> {
    let out = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join(name);
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    Ok(out)
}

fn copy_wasm(from: &Path, out: &Path, name: &str) -> Result<(), String> {
    let to = out.join(format!("{name}.wasm"));
    std::fs::copy(from, &to)
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
    println!("{}", to.display());
    Ok(())
}

fn build_examples() -> Result<(), String> {
    let root = workspace_root();
    let target_dir = guest_build::build(&root, guest_build::EXAMPLES, None)?;
    let out = output_dir(&root, "examples")?;
    for name in guest_build::EXAMPLES {
        copy_wasm(&guest_build::package_wasm(&target_dir, name), &out, name)?;
    }
    Ok(())
}

/// Builds the fixtures the same way the test build does (same command, same
/// target directory, so either reuses the other's work), for tools outside
/// the tests such as `bench/faults.sh`.
fn build_fixtures() -> Result<(), String> {
    let root = workspace_root();
    let target_dir = guest_build::build(&root, &[], Some(guest_build::FIXTURES_PACKAGE))?;
    let out = output_dir(&root, "fixtures")?;
    for name in &guest_build::fixture_names(&root)? {
        copy_wasm(&guest_build::example_wasm(&target_dir, name), &out, name)?;
    }
    Ok(())
}
