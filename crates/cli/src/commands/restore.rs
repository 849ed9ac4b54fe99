//! `reprise restore`: a snapshot, or one path of it (`SNAPSHOT:/path`), into
//! a directory; with `--last-clean --in-place PATH`, into the live share,
//! moving what the attack left into a quarantine directory.

use crate::cli::{GlobalOptions, OverwriteArg, RestoreArgs};
use crate::commands::{filter_of, select_in};
use crate::progress::{self, Ticker};
use crate::{exit, output, repo_open};
use anyhow::{bail, Context, Result};
use reprise_detect::{LastClean, LeftOut};
use reprise_repo::browse::{list_then_index, split_selector};
use reprise_repo::{PathPatterns, Repository};
use reprise_restore::last_clean::{
    default_quarantine_dir, kinds_in_share, summarise, LastCleanSummary,
};
use reprise_restore::selection::{select, Selection, Versions};
use reprise_restore::{
    quarantine_left_out, recovered_paths, Overwrite, QuarantineReport, RestoreOptions,
    RestoreProgress, RestoreReport,
};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub fn run(g: &GlobalOptions, args: &RestoreArgs) -> Result<u8> {
    if !args.dry_run {
        crate::interrupt::say_on_interrupt(resume_hint(args));
    }
    let repo = repo_open::open(g)?;
    let (selector, subpath) = match split_selector(&args.snapshot) {
        (s, Some(p)) => (s, p.as_bytes().to_vec()),
        (s, None) => (s, b"/".to_vec()),
    };
    let (target, subpath) = match (&args.in_place, &args.target) {
        (Some(share), _) => {
            if split_selector(&args.snapshot).1.is_some() {
                bail!("with --in-place PATH, give the snapshot alone: PATH is the part of it restored");
            }
            let share = live_share_path(share)?;
            let subpath = share.as_os_str().as_bytes().to_vec();
            (share, subpath)
        }
        (None, Some(target)) => (target.clone(), subpath),
        (None, None) => bail!("give --target DIR, or --in-place PATH with --last-clean"),
    };
    let list = list_then_index(&repo)?.snapshots;
    let (id, snapshot) = select_in(&list, selector, &filter_of(&args.filter))?;
    let versions = if args.last_clean {
        Versions::LastClean {
            all_changed: args.all_changed,
        }
    } else {
        Versions::AsSnapshot
    };
    let selection = selected(
        &repo,
        &list,
        (&id, &snapshot),
        &subpath,
        versions,
        args.in_place.is_some(),
    )?;
    let overwrite = match args.overwrite {
        OverwriteArg::Never => Overwrite::Never,
        OverwriteArg::IfChanged => Overwrite::IfChanged,
        OverwriteArg::Always => Overwrite::Always,
    };
    let options = RestoreOptions {
        includes: PathPatterns::new(args.includes.clone())?,
        excludes: PathPatterns::new(args.excludes.clone())?,
        verify: args.verify,
        rewrite_only: match (&args.in_place, &selection.last_clean) {
            (Some(_), Some(plan)) => Some(recovered_paths(plan, &target)),
            _ => None,
        },
        dry_run: args.dry_run,
        ..selection.options(&id, &snapshot, overwrite)
    };
    let Selection {
        nodes,
        base,
        last_clean,
        ..
    } = selection;
    let quarantine = match (&args.in_place, &last_clean) {
        (Some(_), Some(plan)) => Some(move_to_quarantine(args, &target, plan)?),
        _ => None,
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
    let report = reprise_restore::run(&repo, nodes, &base, &target, &options, &progress)
        .with_context(|| format!("cannot restore snapshot {}", id.short()))?;
    drop(ticker);
    let outcome = Outcome {
        restore: &report,
        plan: last_clean.as_ref(),
        quarantine: quarantine.as_ref(),
        base: &base,
    };
    print_report(g, &outcome, &id, started.elapsed().as_secs_f64(), &target)?;
    Ok(outcome.exit_status())
}

/// What an interrupted restore says: run again, it finds what is already
/// restored up to date and skips it.
fn resume_hint(args: &RestoreArgs) -> &'static str {
    match args.overwrite {
        OverwriteArg::IfChanged => "restore interrupted: resume it by running the same command again; it skips the files already restored and completes the one cut short",
        OverwriteArg::Always => "restore interrupted: resume it by running the same command again with --overwrite if-changed, which skips the files already restored and completes the one cut short",
        OverwriteArg::Never => "restore interrupted: resume it by running the same command again with --overwrite if-changed (with never, the file cut short would be kept as it is)",
    }
}

/// The live share's path as the snapshot names it: absolute, without a
/// trailing slash (symlinks are not resolved: the snapshot holds the path
/// that was backed up).
fn live_share_path(share: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(share)
        .with_context(|| format!("cannot make {} absolute", share.display()))?;
    let trimmed: PathBuf = absolute.components().collect();
    if trimmed.parent().is_none() {
        bail!("--in-place / is refused: give the backed-up directory, e.g. /srv/partage");
    }
    Ok(trimmed)
}

/// What the restore writes; in place, the path must be a directory the
/// snapshot holds.
fn selected(
    repo: &Repository,
    list: &reprise_repo::SnapshotList,
    (id, snapshot): (&reprise_format::SnapshotId, &reprise_format::Snapshot),
    subpath: &[u8],
    versions: Versions,
    in_place: bool,
) -> Result<Selection> {
    let shown = || String::from_utf8_lossy(subpath).into_owned();
    let selection = match select(repo, list, (id, snapshot), subpath, versions) {
        Ok(selection) => selection,
        Err(reprise_repo::RepoError::PathNotFound(_)) if in_place => bail!(
            "{} is not in the snapshot: --in-place takes a path the snapshot backed up (see `reprise ls SNAPSHOT`)",
            shown()
        ),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "in snapshot {}: cannot find what to restore{}",
                id.short(),
                if versions == Versions::AsSnapshot { "" } else { " and its clean versions" }
            )))
        }
    };
    if in_place && selection.at.tree_below(&snapshot.tree).is_none() {
        bail!(
            "{} is a file in the snapshot: --in-place takes a directory",
            shown()
        );
    }
    Ok(selection)
}

/// Moves what the plan leaves out (encrypted copies, notes, replaced
/// versions), if the live share holds it, into the quarantine.
fn move_to_quarantine(
    args: &RestoreArgs,
    share: &Path,
    plan: &LastClean,
) -> Result<QuarantineReport> {
    let dir = match &args.quarantine {
        Some(q) => q.clone(),
        None => default_quarantine_dir(share, chrono::Utc::now()),
    };
    quarantine_left_out(share, &dir, plan, args.dry_run)
        .context("nothing was moved and nothing restored")
}

/// Everything a restore did, for the report and the exit status.
struct Outcome<'a> {
    restore: &'a RestoreReport,
    plan: Option<&'a LastClean>,
    quarantine: Option<&'a QuarantineReport>,
    /// The restored directory's snapshot path: the plan covers the whole
    /// snapshot, the counts only what is below it.
    base: &'a [u8],
}

impl Outcome<'_> {
    fn exit_status(&self) -> u8 {
        let failed = !self.restore.failures.is_empty()
            || self.quarantine.is_some_and(|q| !q.failures.is_empty())
            || self.plan.is_some_and(|p| self.summary(p).unrecoverable > 0);
        if failed {
            exit::INCOMPLETE
        } else {
            exit::OK
        }
    }

    fn summary(&self, plan: &LastClean) -> LastCleanSummary {
        summarise(plan, self.quarantine, self.base)
    }
}

fn print_report(
    g: &GlobalOptions,
    o: &Outcome,
    snapshot: &reprise_format::SnapshotId,
    secs: f64,
    target: &Path,
) -> Result<()> {
    let r = o.restore;
    let id = snapshot.short();
    if g.json {
        let mut doc = serde_json::to_value(r)?;
        // The snapshot restored, `latest` resolved.
        doc["snapshot_id"] = serde_json::json!(snapshot);
        doc["duration_s"] = secs.into();
        if let Some(plan) = o.plan {
            doc["last_clean"] = serde_json::to_value(plan)?;
            doc["last_clean_summary"] = serde_json::to_value(o.summary(plan))?;
        }
        if let Some(q) = o.quarantine {
            doc["quarantine"] = serde_json::to_value(q)?;
        }
        return output::json(&doc);
    }
    for f in &r.failures {
        eprintln!("error: {}: {}", f.path, f.message);
    }
    for f in o.quarantine.iter().flat_map(|q| &q.failures) {
        eprintln!("error: {}: {}", f.path, f.message);
    }
    if g.quiet {
        return Ok(());
    }
    if r.dry_run {
        print_dry_run(r, &id, target)?;
    } else {
        println!(
            "restored snapshot {id} to {}: {} written ({} replaced), {} already up to date, {} kept, {}, {} links/specials, {} in {secs:.2} s",
            target.display(),
            output::count(r.files_restored, "file", "files"),
            r.files_replaced,
            r.files_unchanged,
            r.files_kept,
            output::count(r.dirs, "dir", "dirs"),
            r.links + r.specials,
            output::bytes(r.bytes_written)
        );
    }
    if r.files_verified > 0 {
        println!(
            "verified {} against the snapshot",
            output::count(r.files_verified, "file", "files")
        );
    }
    if !r.failures.is_empty() {
        println!(
            "{} not be restored (exit status 3)",
            output::count(r.failures.len() as u64, "path could", "paths could")
        );
    }
    if let Some(plan) = o.plan {
        print_last_clean(plan, o.quarantine, o.base)?;
        print_summary(&o.summary(plan), r.dry_run)?;
    }
    Ok(())
}

/// One line per path a restore would create, replace or keep, then the counts.
fn print_dry_run(r: &RestoreReport, id: &str, target: &std::path::Path) -> Result<()> {
    for a in &r.actions {
        output::line(&format!("would {} {}", a.action, a.path))?;
    }
    output::line(&format!(
        "dry run of snapshot {id} to {}: {} be written ({} replacing existing ones), {} already up to date, {} kept; nothing was written",
        target.display(),
        output::count(r.files_restored, "file would", "files would"),
        r.files_replaced,
        r.files_unchanged,
        r.files_kept,
    ))
}

fn phrase(kind: LeftOut) -> &'static str {
    match kind {
        LeftOut::Note => "ransom note",
        LeftOut::EncryptedCopy => "encrypted copy",
        LeftOut::ChangedVersion => "changed version",
    }
}

/// What the last-clean restore put back, from where, what each file may
/// have lost, and what became of what the attack left.
fn print_last_clean(
    plan: &LastClean,
    quarantine: Option<&QuarantineReport>,
    base: &[u8],
) -> Result<()> {
    output::line(&format!(
        "last clean: {} recovered from earlier snapshots, {} and {} not restored, {} without a clean version ({} examined{})",
        output::count(plan.recovered.len() as u64, "file", "files"),
        output::count(plan.notes_left_out.len() as u64, "ransom note", "ransom notes"),
        output::count(plan.left_out.values().filter(|k| **k == LeftOut::EncryptedCopy).count() as u64, "encrypted copy", "encrypted copies"),
        output::count(plan.unrecoverable.len() as u64, "file", "files"),
        output::count(plan.snapshots_examined as u64, "snapshot", "snapshots"),
        plan.last_clean_snapshot.as_ref().map(|s| format!(", last clean snapshot {s}")).unwrap_or_default(),
    ))?;
    for r in &plan.recovered {
        let copy = r
            .encrypted_copy
            .as_ref()
            .map(|c| format!(", encrypted copy {c}"))
            .unwrap_or_default();
        let cause = match r.cause {
            "deleted" => ", deleted by the attack",
            "changed" => ", changed since (--all-changed)",
            _ => "",
        };
        output::line(&format!(
            "  recovered {} from snapshot {} ({}); changes between then and {} are lost ({:.1} h){cause}{copy}",
            r.path,
            r.from_snapshot,
            output::text_time(&r.clean_as_of),
            output::text_time(&r.encrypted_by),
            r.loss_window_hours
        ))?;
    }
    for u in &plan.unrecoverable {
        output::line(&format!("  NO CLEAN VERSION: {} ({})", u.path, u.why))?;
    }
    match quarantine {
        Some(q) => print_quarantined(plan, q, base)?,
        None => {
            for (path, kind) in &plan.left_out {
                if !plan.replace.contains_key(path) {
                    output::line(&format!(
                        "  not restored ({}): {}",
                        phrase(*kind),
                        String::from_utf8_lossy(path)
                    ))?;
                }
            }
        }
    }
    print_not_judged(plan)
}

fn print_quarantined(plan: &LastClean, q: &QuarantineReport, share: &[u8]) -> Result<()> {
    let verb = if q.dry_run {
        "would move to quarantine"
    } else {
        "moved to quarantine"
    };
    let kinds = kinds_in_share(plan, share);
    for m in &q.moved {
        let kind = kinds.get(&m.relative).map_or("left out", |k| phrase(*k));
        output::line(&format!("  {verb} {}: {} ({kind})", q.quarantine, m.path))?;
    }
    for f in &q.failures {
        output::line(&format!("  NOT MOVED: {} ({})", f.path, f.message))?;
    }
    Ok(())
}

/// The changed files of the affected directories that were not judged
/// encrypted: a partial result must not look complete.
fn print_not_judged(plan: &LastClean) -> Result<()> {
    if plan.changed_not_judged.is_empty() {
        return Ok(());
    }
    let n = plan.changed_not_judged.len();
    if plan.all_changed {
        output::line(&format!(
            "{} in the affected directories {} not judged encrypted and {} put back as {} in the last clean snapshot {} (--all-changed)",
            output::count(n as u64, "changed file", "changed files"),
            output::agree(n as u64, "was", "were"),
            output::agree(n as u64, "was", "were"),
            output::agree(n as u64, "it was", "they were"),
            plan.last_clean_snapshot.as_deref().unwrap_or("?")
        ))?;
    } else {
        output::line(&format!(
            "WARNING: {} in the affected directories {} not judged encrypted and {} restored as {} in the snapshot; check {}, or use --all-changed",
            output::count(n as u64, "changed file", "changed files"),
            output::agree(n as u64, "was", "were"),
            output::agree(n as u64, "was", "were"),
            output::agree(n as u64, "it is", "they are"),
            output::agree(n as u64, "it", "them"),
        ))?;
    }
    for c in &plan.changed_not_judged {
        output::line(&format!(
            "  not judged encrypted ({}): {}",
            c.change, c.path
        ))?;
    }
    Ok(())
}

/// The one line that ends a last-clean restore's report.
fn print_summary(s: &LastCleanSummary, dry_run: bool) -> Result<()> {
    let mut parts = vec![
        output::count(
            s.encrypted_copies as u64,
            "encrypted copy",
            "encrypted copies",
        ),
        output::count(s.notes as u64, "note", "notes"),
    ];
    if s.changed_versions > 0 {
        parts.push(output::count(
            s.changed_versions as u64,
            "changed version",
            "changed versions",
        ));
    }
    let moved = match (s.in_place, dry_run) {
        (true, false) => format!("{} quarantined", s.quarantined),
        (true, true) => format!("{} to quarantine", s.quarantined),
        (false, _) => format!("{} not restored", s.left_out),
    };
    let dry = if dry_run {
        " (dry run: nothing was written or moved)"
    } else {
        ""
    };
    output::line(&format!(
        "Last-clean restore: {} recovered, {moved} ({}), {} unrecoverable, {} not judged encrypted.{dry}",
        s.recovered,
        parts.join(", "),
        s.unrecoverable,
        output::count(s.changed_not_judged as u64, "changed file", "changed files"),
    ))
}
