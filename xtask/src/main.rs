//! Project tasks that cargo has no command for.
//!
//! `cargo xtask build-examples` compiles every example to
//! `target/examples/<name>.wasm` (the alias lives in `.cargo/config.toml`).

#[allow(
    dead_code,
    reason = "shared with tests/artifacts/build.rs, which uses the fixture helpers"
)]
mod guest_build;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build-examples") => build_examples(),
        _ => Err("usage: cargo xtask build-examples\n\n  build-examples   build every example to target/examples/<name>.wasm".to_owned()),
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

fn build_examples() -> Result<(), String> {
    let root = workspace_root();
    let target_dir = guest_build::build(&root, guest_build::EXAMPLES, None)?;
    let out = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("examples");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    for name in guest_build::EXAMPLES {
        let from = guest_build::package_wasm(&target_dir, name);
        let to = out.join(format!("{name}.wasm"));
        std::fs::copy(&from, &to)
            .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
        println!("{}", to.display());
    }
    Ok(())
}
