//! The `reprise` command: parses arguments, opens the repository, runs one
//! subcommand, and turns the outcome into output and a documented exit code.
//!
//! Each subcommand lives in its own module under `commands/`; this file only
//! dispatches. Libraries below return typed errors; here they gain context
//! and an exit code (see [`exit`]).

mod cli;
mod commands;
mod exit;
mod output;
mod password;
mod progress;
mod repo_open;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    let code = match commands::dispatch(&args) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    };
    std::process::ExitCode::from(code)
}
