//! A last word on Ctrl-C (or `systemctl stop`): a command that can be
//! resumed says so, and how, before it ends as the signal would end it.

use std::sync::OnceLock;

/// What the handler writes: set once, before the handler is installed, so
/// that the handler itself allocates nothing.
static LAST_WORD: OnceLock<Box<[u8]>> = OnceLock::new();

/// On SIGINT or SIGTERM, prints `message` on standard error, then ends the
/// process by that signal (exit status 130 or 143 in a shell).
pub fn say_on_interrupt(message: &str) {
    if LAST_WORD
        .set(
            format!("\nreprise: {message}\n")
                .into_bytes()
                .into_boxed_slice(),
        )
        .is_err()
    {
        return;
    }
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installs a handler that only calls async-signal-safe
        // functions (write, signal, raise) on memory set before.
        unsafe {
            libc::signal(signal, on_signal as *const () as libc::sighandler_t);
        }
    }
}

extern "C" fn on_signal(signal: libc::c_int) {
    if let Some(word) = LAST_WORD.get() {
        // SAFETY: writes a buffer that lives as long as the process.
        unsafe {
            libc::write(libc::STDERR_FILENO, word.as_ptr().cast(), word.len());
        }
    }
    // SAFETY: the default disposition ends the process with this signal.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}
