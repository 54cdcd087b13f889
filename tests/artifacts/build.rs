//! Compiles every example and test fixture to a wasm component once per test
//! run (cargo reruns this only when guest sources change), then writes their
//! paths as constants plus a `foreach_fixture!` macro for the tests.

#[path = "../../xtask/src/guest_build.rs"]
#[allow(dead_code, reason = "shared with xtask, which uses the rest")]
mod guest_build;

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().parent().unwrap().to_path_buf();
    for dir in ["guest-sdk", "examples", "tests/fixtures", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-changed=../../xtask/src/guest_build.rs");

    let fixtures = guest_build::fixture_names(&root).unwrap_or_else(|e| panic!("{e}"));
    // A fresh machine may lack the guest target; say so where cargo shows it.
    match guest_build::ensure_target(&root) {
        Ok(Some(notice)) => println!("cargo:warning={notice}"),
        Ok(None) => {}
        Err(message) => panic!("{message}"),
    }
    let target_dir = match guest_build::build(
        &root,
        guest_build::EXAMPLES,
        Some(guest_build::FIXTURES_PACKAGE),
    ) {
        Ok(dir) => dir,
        Err(message) => panic!("{message}"),
    };

    let mut code = String::new();
    for name in guest_build::EXAMPLES {
        let path = guest_build::package_wasm(&target_dir, name);
        writeln!(
            code,
            "/// The `{name}` example.\npub const {}: &str = {:?};",
            constant(name),
            path.display().to_string()
        )
        .unwrap();
    }
    for name in &fixtures {
        let path = guest_build::example_wasm(&target_dir, name);
        writeln!(
            code,
            "/// The `{name}` fixture.\npub const {}: &str = {:?};",
            constant(name),
            path.display().to_string()
        )
        .unwrap();
    }
    writeln!(
        code,
        "/// Calls `$m!(name)` for every fixture, so tests can check each has a test."
    )
    .unwrap();
    writeln!(
        code,
        "#[macro_export]\nmacro_rules! foreach_fixture {{\n    ($m:ident) => {{"
    )
    .unwrap();
    for name in &fixtures {
        writeln!(code, "        $m!({name});").unwrap();
    }
    writeln!(code, "    }};\n}}").unwrap();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("artifacts.rs");
    std::fs::write(out, code).unwrap();
}

fn constant(name: &str) -> String {
    name.replace('-', "_").to_uppercase()
}
