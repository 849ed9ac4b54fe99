//! The `reprise` command: parses arguments, opens the repository, runs one
//! subcommand, and turns the outcome into output and a documented exit code.
//!
//! Each subcommand lives in its own module under `commands/`; this file only
//! dispatches. Libraries below return typed errors; here they gain context
//! and an exit code (see [`exit`]).

mod cli;
mod commands;
mod exit;
mod interrupt;
mod output;
mod password;
mod progress;
mod repo_open;

use clap::FromArgMatches;

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

/// A closed pipe on standard output ends reprise quietly, as it ends other
/// command-line tools (`reprise ls latest | head`), while a closed network
/// connection never ends it.
///
/// SIGPIPE stays ignored (Rust's default) for the whole process: the signal
/// cannot tell standard output from a socket, and with its default
/// disposition any peer that resets a connection kills the process at the
/// next write to it — `reprise serve` answering a client that left, or a
/// `rest:` client whose server dropped it. Instead, a write to a standard
/// output whose reader is gone (an error from the output helpers, or the
/// panic of `println!`) ends reprise with SIGPIPE, as the default
/// disposition would have; every other broken pipe is an ordinary error.
fn die_quietly_when_stdout_is_closed() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if stdout_reader_is_gone() {
            die_of_sigpipe();
        }
        default_hook(info);
    }));
}

/// Whether standard output is a pipe or socket whose reading end is
/// closed: poll reports POLLERR for it without writing anything.
fn stdout_reader_is_gone() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no timeout.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready == 1 && fd.revents & libc::POLLERR != 0
}

fn die_of_sigpipe() -> ! {
    // SAFETY: restores the default disposition of one signal and raises it;
    // the process ends there, as the shell expects of a closed pipe.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(128 + libc::SIGPIPE);
}

/// Whether a failed command failed writing to standard output.
fn failed_on_closed_stdout(err: &anyhow::Error) -> bool {
    let pipe = Some(std::io::ErrorKind::BrokenPipe);
    let broken_pipe = err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().map(|e| e.kind()) == pipe
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == pipe
    });
    broken_pipe && stdout_reader_is_gone()
}

fn main() -> std::process::ExitCode {
    bound_allocator_memory();
    die_quietly_when_stdout_is_closed();
    let matches = cli::command().get_matches();
    let mut args = match cli::Cli::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    if let Err(e) = cli::settle_repository(&matches, &mut args.global) {
        e.exit()
    }
    let code = match commands::dispatch(&args) {
        Ok(code) => code,
        Err(err) if failed_on_closed_stdout(&err) => die_of_sigpipe(),
        Err(err) => exit::report(&err),
    };
    std::process::ExitCode::from(code)
}
