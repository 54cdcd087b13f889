//! The `wasm-gateway` binary: sets up logging and hands over to the library.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = wasm_gateway::cli::Cli::parse();
    let _log = wasm_gateway::logging::init();
    wasm_gateway::cli::main(cli)
}
