//! Progress bars on a terminal; nothing at all when standard error is not
//! one (cron, systemd), or with --quiet or --json.

use crate::cli::GlobalOptions;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub fn wanted(global: &GlobalOptions) -> bool {
    !global.quiet && !global.json && std::io::stderr().is_terminal()
}

/// What a bar counts.
#[derive(Clone, Copy)]
pub enum Unit {
    Bytes,
    /// Items, e.g. packs.
    Items,
}

/// A bar refreshed from counters by a background thread until dropped.
pub struct Ticker {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    /// `read` returns (done bytes, total bytes or 0 if unknown, message).
    pub fn start<F>(enabled: bool, unit: Unit, read: F) -> Ticker
    where
        F: Fn() -> (u64, u64, String) + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        if !enabled {
            return Ticker { stop, handle: None };
        }
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let (with_total, without_total) = match unit {
                Unit::Bytes => (
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
                    "{spinner} [{elapsed_precise}] {bytes} {bytes_per_sec} {msg}",
                ),
                Unit::Items => (
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} ETA {eta}",
                    "{spinner} [{elapsed_precise}] {pos} {msg}",
                ),
            };
            let with_total = ProgressStyle::with_template(with_total);
            let without_total = ProgressStyle::with_template(without_total);
            while !flag.load(Ordering::Relaxed) {
                let (done, total, msg) = read();
                if total > 0 && done <= total {
                    if let Ok(s) = &with_total {
                        bar.set_style(s.clone());
                    }
                    bar.set_length(total);
                } else if let Ok(s) = &without_total {
                    bar.set_style(s.clone());
                }
                bar.set_position(done);
                bar.set_message(msg);
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        Ticker {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
