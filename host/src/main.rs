//! The `wasm-gateway` binary: sets up logging and hands over to the library.

use clap::Parser;

// Every request allocates its store, environ and channels; mimalloc's
// per-thread free lists make that measurably cheaper than the system
// allocator under load (see docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = wasm_gateway::Cli::parse();
    let _log = wasm_gateway::init_logging(cli.log_format());
    wasm_gateway::run(cli)
}
