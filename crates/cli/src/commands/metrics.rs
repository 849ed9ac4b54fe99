//! `reprise metrics`: the repository's metrics for Prometheus
//! (reprise_web::metrics), printed once, for a textfile collector or a
//! cron job.

use anyhow::Result;

use crate::cli::GlobalOptions;
use crate::{exit, output, repo_open};

pub fn run(g: &GlobalOptions) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let text = reprise_web::metrics::scrape(&repo)?;
    output::line(text.trim_end())?;
    Ok(exit::OK)
}
