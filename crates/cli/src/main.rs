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

/// Keeps the allocator from hoarding memory. reprise moves data in buffers
/// of a few MiB; glibc raises its mmap threshold each time such a buffer is
/// freed, after which large buffers come from arenas that never shrink, and
/// it adds an arena per thread. A fixed threshold returns every large buffer
/// to the system when freed, and two arenas suffice for a few threads.
fn bound_allocator_memory() {
    // SAFETY: mallopt only adjusts glibc's tunables; it is called before any
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Lets a closed pipe end reprise quietly (`reprise ls latest | head`), as
/// it ends other command-line tools. Rust ignores SIGPIPE, which turns every
/// later print into a panic.
fn die_quietly_on_closed_pipe() {
    // SAFETY: restoring the default disposition of one signal, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> std::process::ExitCode {
    bound_allocator_memory();
    die_quietly_on_closed_pipe();
    let args = cli::Cli::parse();
    let code = match commands::dispatch(&args) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    };
    std::process::ExitCode::from(code)
}
