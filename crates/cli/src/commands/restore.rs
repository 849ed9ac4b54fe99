//! `reprise restore`: a snapshot, or one path of it (`SNAPSHOT:/path`), into a directory.

use crate::cli::{GlobalOptions, OverwriteArg, RestoreArgs};
use crate::commands::{filter_of, select_in, snapshots_then_index};
use crate::progress::{self, Ticker};
use crate::{exit, output, repo_open};
use anyhow::{Context, Result};
use reprise_detect::LastClean;
use reprise_format::NodeKind;
use reprise_repo::walk::resolve;
use reprise_repo::{PathPatterns, WalkBudget};
use reprise_restore::{Overlay, Overwrite, RestoreOptions, RestoreProgress, RestoreReport};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub fn run(g: &GlobalOptions, args: &RestoreArgs) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let (selector, subpath) = match args.snapshot.split_once(':') {
        Some((s, p)) => (s, p),
        None => (args.snapshot.as_str(), "/"),
    };
    let list = snapshots_then_index(&repo)?;
    let (id, snapshot) = select_in(&list, selector, &filter_of(&args.filter))?;
    let last_clean = if args.last_clean {
        Some(
            reprise_detect::last_clean(&repo, &list, &id, &snapshot).with_context(|| {
                format!("cannot find the clean versions for snapshot {}", id.short())
            })?,
        )
    } else {
        None
    };
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
        overlay: last_clean.as_ref().map(overlay_of).unwrap_or_default(),
        budget: WalkBudget::for_snapshot(&id, &snapshot),
        overwrite: match args.overwrite {
            OverwriteArg::Never => Overwrite::Never,
            OverwriteArg::IfChanged => Overwrite::IfChanged,
            OverwriteArg::Always => Overwrite::Always,
        },
        dry_run: args.dry_run,
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
        last_clean.as_ref(),
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
    last_clean: Option<&LastClean>,
) -> Result<()> {
    if g.json {
        let mut doc = serde_json::to_value(r)?;
        doc["duration_s"] = secs.into();
        if let Some(plan) = last_clean {
            doc["last_clean"] = serde_json::to_value(plan)?;
        }
        return output::json(&doc);
    }
    for f in &r.failures {
        eprintln!("error: {}: {}", f.path, f.message);
    }
    if g.quiet {
        return Ok(());
    }
    if r.dry_run {
        print_dry_run(r, &id, target)?;
    } else {
        println!(
            "restored snapshot {id} to {}: {} files written ({} replaced), {} already up to date, {} kept, {} dirs, {} links/specials, {} in {secs:.2} s",
            target.display(),
            r.files_restored,
            r.files_replaced,
            r.files_unchanged,
            r.files_kept,
            r.dirs,
            r.links + r.specials,
            output::bytes(r.bytes_written)
        );
    }
    if r.files_verified > 0 {
        println!("verified {} files against the snapshot", r.files_verified);
    }
    if !r.failures.is_empty() {
        println!(
            "{} path(s) could not be restored (exit status 3)",
            r.failures.len()
        );
    }
    if let Some(plan) = last_clean {
        print_last_clean(plan)?;
    }
    Ok(())
}

/// One line per path a restore would create, replace or keep, then the counts.
fn print_dry_run(r: &RestoreReport, id: &str, target: &std::path::Path) -> Result<()> {
    for a in &r.actions {
        output::line(&format!("would {} {}", a.action, a.path))?;
    }
    output::line(&format!(
        "dry run of snapshot {id} to {}: {} files would be written ({} replacing existing ones), {} already up to date, {} kept; nothing was written",
        target.display(),
        r.files_restored,
        r.files_replaced,
        r.files_unchanged,
        r.files_kept,
    ))
}

fn overlay_of(plan: &LastClean) -> Overlay {
    Overlay {
        omit: plan.omit.clone(),
        replace: plan.replace.clone(),
        add: plan.add.clone(),
    }
}

/// What the last-clean restore put back, from where, and what each file may
/// have lost.
fn print_last_clean(plan: &LastClean) -> Result<()> {
    output::line(&format!(
        "last clean: {} file(s) recovered from earlier snapshots, {} ransom note(s) left out, {} file(s) without a clean version ({} snapshots examined)",
        plan.recovered.len(),
        plan.notes_left_out.len(),
        plan.unrecoverable.len(),
        plan.snapshots_examined
    ))?;
    for r in &plan.recovered {
        let copy = r
            .encrypted_copy
            .as_ref()
            .map(|c| format!(", encrypted copy {c} left out"))
            .unwrap_or_default();
        output::line(&format!(
            "  recovered {} from snapshot {} ({}); changes between then and {} are lost ({:.1} h){copy}",
            r.path,
            r.from_snapshot,
            r.clean_as_of.format("%Y-%m-%d %H:%M"),
            r.encrypted_by.format("%Y-%m-%d %H:%M"),
            r.loss_window_hours
        ))?;
    }
    for u in &plan.unrecoverable {
        output::line(&format!("  NO CLEAN VERSION: {} ({})", u.path, u.why))?;
    }
    for n in &plan.notes_left_out {
        output::line(&format!("  left out ransom note {n}"))?;
    }
    Ok(())
}
