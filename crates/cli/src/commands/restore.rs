//! `reprise restore`: a snapshot, or one path of it (`SNAPSHOT:/path`), into a directory.

use crate::cli::{GlobalOptions, RestoreArgs};
use crate::commands::select;
use crate::progress::{self, Ticker};
use crate::{exit, output, repo_open};
use anyhow::{Context, Result};
use reprise_format::NodeKind;
use reprise_repo::walk::resolve;
use reprise_repo::PathPatterns;
use reprise_restore::{RestoreOptions, RestoreProgress, RestoreReport};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub fn run(g: &GlobalOptions, args: &RestoreArgs) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let (selector, subpath) = match args.snapshot.split_once(':') {
        Some((s, p)) => (s, p),
        None => (args.snapshot.as_str(), "/"),
    };
    let (id, snapshot) = select(&repo, selector, &args.filter)?;
    let (nodes, base) = match resolve(&repo, &snapshot.tree, subpath.as_bytes())? {
        None => (repo.load_tree(&snapshot.tree)?.nodes, "/".to_string()),
        Some(node) if node.kind == NodeKind::Dir => {
            let tree = node.subtree.context("directory without a tree")?;
            (
                repo.load_tree(&tree)?.nodes,
                format!("/{}", subpath.trim_matches('/')),
            )
        }
        Some(node) => {
            let parent = subpath
                .trim_end_matches('/')
                .rsplit_once('/')
                .map(|(p, _)| p)
                .unwrap_or("");
            (vec![node], format!("/{}", parent.trim_matches('/')))
        }
    };
    let options = RestoreOptions {
        includes: PathPatterns::new(args.includes.clone())?,
        excludes: PathPatterns::new(args.excludes.clone())?,
        verify: args.verify,
    };
    let progress = Arc::new(RestoreProgress::default());
    let ticker = {
        let p = Arc::clone(&progress);
        Ticker::start(progress::wanted(g), progress::Unit::Bytes, move || {
            let files = format!(
                "{}/{} files",
                p.files_done.load(Ordering::Relaxed),
                p.files_total.load(Ordering::Relaxed)
            );
            (
                p.bytes_done.load(Ordering::Relaxed),
                p.bytes_total.load(Ordering::Relaxed),
                files,
            )
        })
    };
    let started = std::time::Instant::now();
    let report = reprise_restore::run(
        &repo,
        nodes,
        base.as_bytes(),
        &args.target,
        &options,
        &progress,
    )
    .with_context(|| format!("cannot restore snapshot {}", id.short()))?;
    drop(ticker);
    print_report(
        g,
        &report,
        id.short(),
        started.elapsed().as_secs_f64(),
        &args.target,
    )?;
    Ok(if report.failures.is_empty() {
        exit::OK
    } else {
        exit::INCOMPLETE
    })
}

fn print_report(
    g: &GlobalOptions,
    r: &RestoreReport,
    id: String,
    secs: f64,
    target: &std::path::Path,
) -> Result<()> {
    if g.json {
        let mut doc = serde_json::to_value(r)?;
        doc["duration_s"] = secs.into();
        return output::json(&doc);
    }
    for f in &r.failures {
        eprintln!("error: {}: {}", f.path, f.message);
    }
    if g.quiet {
        return Ok(());
    }
    println!(
        "restored snapshot {id} to {}: {} files written, {} already up to date, {} dirs, {} links/specials, {} in {secs:.2} s",
        target.display(),
        r.files_restored,
        r.files_unchanged,
        r.dirs,
        r.links + r.specials,
        output::bytes(r.bytes_written)
    );
    if r.files_verified > 0 {
        println!("verified {} files against the snapshot", r.files_verified);
    }
    if !r.failures.is_empty() {
        println!(
            "{} path(s) could not be restored (exit status 3)",
            r.failures.len()
        );
    }
    Ok(())
}
