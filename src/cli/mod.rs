//! Command-line front end. Human output by default, `--json` for machines.

mod args;
mod commands;
mod fragment;
mod phantom;
mod stats;

use std::process::ExitCode;

use clap::Parser;

pub fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("impart: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
