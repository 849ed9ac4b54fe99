//! `reprise backup`: one snapshot of the given paths or of standard input.

use crate::cli::{BackupArgs, GlobalOptions};
use crate::commands::detect;
use crate::progress::{self, Ticker};
use crate::{exit, output, repo_open};
use anyhow::{Context, Result};
use reprise_backup::{
    BackupOptions, BackupProgress, BackupReport, FileState, PathPatterns, Preview,
};
use reprise_detect::incident::Step;
use reprise_detect::Verdict;
use std::sync::atomic::Ordering;
use std::sync::Arc;

fn patterns(args: &BackupArgs) -> Result<PathPatterns> {
    let mut all = args.excludes.clone();
    for f in &args.exclude_files {
        all.extend(
            PathPatterns::patterns_from_file(f)
                .with_context(|| format!("cannot read the exclude file {}", f.display()))?,
        );
    }
    Ok(PathPatterns::new(all)?)
}

pub fn run(g: &GlobalOptions, args: &BackupArgs) -> Result<u8> {
    if args.all || !args.services.is_empty() {
        return crate::commands::services::backup(g, args);
    }
    let repo = repo_open::open(g)?;
    if args.dry_run {
        return dry_run(g, args, &repo);
    }
    let streams = if args.stdin {
        let mut stdin = reprise_backup::Stream::reader(
            args.stdin_filename.clone(),
            "standard input",
            Box::new(std::io::stdin()),
        );
        stdin.allow_empty = args.allow_empty;
        // Opt-in: finding bases costs time on every changed chunk, which a
        // stream of other bytes (a compressed archive) would pay for nothing.
        stdin.delta = args.stdin_delta;
        vec![stdin]
    } else {
        Vec::new()
    };
    let options = BackupOptions {
        paths: args.paths.clone(),
        excludes: patterns(args)?,
        one_file_system: args.one_file_system,
        tags: args.tags.clone(),
        hostname: args.host.clone().unwrap_or_else(reprise_repo::hostname),
        streams,
        force_read: args.force,
        detection: !args.no_detection,
    };
    let progress = Arc::new(BackupProgress::default());
    let ticker = {
        let p = Arc::clone(&progress);
        Ticker::start(progress::wanted(g), progress::Unit::Bytes, move || {
            let files = p.files_done.load(Ordering::Relaxed);
            let errors = p.errors.load(Ordering::Relaxed);
            let msg = if errors > 0 {
                format!("{files} files, {errors} errors")
            } else {
                format!("{files} files")
            };
            (
                p.bytes_done.load(Ordering::Relaxed),
                p.bytes_expected.load(Ordering::Relaxed),
                msg,
            )
        })
    };
    let scanner = progress::wanted(g).then(|| {
        let (p, paths, excludes, one_fs) = (
            Arc::clone(&progress),
            options.paths.clone(),
            options.excludes.clone(),
            options.one_file_system,
        );
        std::thread::spawn(move || reprise_backup::scan_totals(&paths, &excludes, one_fs, &p))
    });
    let result = reprise_backup::run(&repo, options, &progress);
    progress.finished.store(true, Ordering::Relaxed);
    if let Some(s) = scanner {
        let _ = s.join();
    }
    drop(ticker);
    let report = result.context("backup failed")?;
    print_report(g, &report)?;
    alert(args, &report, &repo.backend().location());
    Ok(match &report.detection {
        // An attack outranks an incomplete snapshot: it is what to act on first.
        Some(d) if d.verdict == Verdict::Attack => exit::ATTACK,
        _ if report.is_incomplete() => exit::INCOMPLETE,
        _ => exit::OK,
    })
}

/// `backup --dry-run`: every file with what a backup would do with it,
/// then the totals; nothing is written to the repository.
fn dry_run(g: &GlobalOptions, args: &BackupArgs, repo: &reprise_repo::Repository) -> Result<u8> {
    let mut options = BackupOptions::new(
        args.paths.clone(),
        args.host.clone().unwrap_or_else(reprise_repo::hostname),
    );
    options.excludes = patterns(args)?;
    options.one_file_system = args.one_file_system;
    options.force_read = args.force;
    let preview = reprise_backup::preview(repo, &options).context("backup --dry-run failed")?;
    if g.json {
        let mut doc = serde_json::to_value(&preview)?;
        doc["dry_run"] = true.into();
        output::json(&doc)?;
    } else {
        print_preview(g, &preview)?;
    }
    Ok(if preview.warnings.is_empty() {
        exit::OK
    } else {
        exit::INCOMPLETE
    })
}

fn print_preview(g: &GlobalOptions, p: &Preview) -> Result<()> {
    for w in &p.warnings {
        eprintln!("warning: {}: {}", w.path, w.message);
    }
    for f in &p.files {
        let state = match f.state {
            FileState::New => "new",
            FileState::Changed => "changed",
            FileState::Unchanged => "unchanged",
        };
        output::line(&format!(
            "{state:<9}  {:>10}  {}",
            output::bytes(f.size),
            f.path
        ))?;
    }
    if g.quiet {
        return Ok(());
    }
    let skipped = match p.parent {
        Some(id) => format!(
            "skip {} unchanged since snapshot {}",
            output::count(p.files_unmodified, "file", "files"),
            id.short()
        ),
        None => "skip none (no earlier snapshot of these paths)".to_string(),
    };
    output::line(&format!(
        "dry run: would read {} ({} new, {} changed, {}) and {skipped}; {} in all; nothing was written",
        output::count(p.files_new + p.files_changed, "file", "files"),
        p.files_new,
        p.files_changed,
        output::bytes(p.bytes_to_read),
        output::bytes(p.total_bytes),
    ))
}

/// Runs the alert command on anything but a clean verdict, and when a
/// backup closes an incident (the all-clear is news too).
fn alert(args: &BackupArgs, report: &BackupReport, repository: &str) {
    let (Some(command), Some(detection)) = (&args.alert_command, &report.detection) else {
        return;
    };
    let closed = report
        .incident
        .as_ref()
        .is_some_and(|i| i.step == Step::Closed);
    if detection.verdict != Verdict::Clean || closed {
        let mut doc = detect::report_json(&report.snapshot_id, report.parent.as_ref(), detection);
        doc["hostname"] = serde_json::json!(report.snapshot.hostname);
        doc["repository"] = serde_json::json!(repository);
        doc["paths"] = serde_json::json!(report.snapshot.paths);
        doc["time"] = serde_json::json!(report.snapshot.time);
        doc["incident"] = serde_json::json!(report.incident);
        detect::run_alert(command, &doc);
    }
}

/// Whether the report carries an alarm that `--quiet` must not hide.
fn alarming(report: &BackupReport) -> bool {
    let attack = report
        .detection
        .as_ref()
        .is_some_and(|d| d.verdict == Verdict::Attack);
    let open = report
        .incident
        .as_ref()
        .is_some_and(|i| i.step != Step::Closed);
    attack || open
}

/// The one summary `--quiet` still prints, on standard error, so that cron
/// mails it.
fn print_quiet_alarm(report: &BackupReport) {
    if let Some(d) = &report.detection {
        eprintln!("reprise backup: {}", d.summary);
    }
    let summary = report.detection.as_ref().map(|d| d.summary.as_str());
    if let Some(i) = report
        .incident
        .as_ref()
        .filter(|i| !summary.is_some_and(|s| s.contains(reprise_detect::incident::short_id(&i.id))))
    {
        eprintln!("reprise backup: {}", i.line());
    }
    eprintln!(
        "reprise backup: snapshot {} saved as evidence; {} (exit status 4)",
        report.snapshot_id.short(),
        recovery_hint(report)
    );
}

/// The command that cleans the share up: in place, originals back and
/// what the attack left moved to a quarantine.
fn recovery_hint(report: &BackupReport) -> String {
    let path = match report.snapshot.paths.as_slice() {
        [one] => one.as_str(),
        _ => "PATH",
    };
    format!(
        "recover with: reprise restore {} --last-clean --in-place {path} (or --target DIR to restore elsewhere)",
        report.snapshot_id.short()
    )
}

fn print_report(g: &GlobalOptions, report: &BackupReport) -> Result<()> {
    let s = report.snapshot.summary.clone().unwrap_or_default();
    if g.json {
        return output::json(&serde_json::json!({
            "message_type": "summary",
            "snapshot_id": report.snapshot_id,
            "parent": report.parent,
            "passed_over": report.passed_over.iter().map(|p| serde_json::json!({
                "snapshot_id": p.id, "id": p.id, "time": p.time, "stored": p.stored,
            })).collect::<Vec<_>>(),
            "files_new": s.files_new,
            "files_changed": s.files_changed,
            "files_unmodified": s.files_unmodified,
            "dirs_new": s.dirs_new,
            "dirs_changed": s.dirs_changed,
            "dirs_unmodified": s.dirs_unmodified,
            "total_files": s.total_files,
            "total_bytes": s.total_bytes,
            "bytes_read": s.bytes_read,
            "bytes_added": s.bytes_added,
            "blobs_added": s.blobs_added,
            "duration_s": s.duration_s,
            "warnings": report.warnings,
            "detection": report.detection.as_ref().map(|d| {
                let mut doc = detect::summary_json(d);
                doc["incident"] = serde_json::json!(report.incident);
                doc
            }),
        }));
    }
    for w in &report.warnings {
        eprintln!("warning: {}: {}", w.path, w.message);
    }
    for p in &report.passed_over {
        let stored = p
            .stored
            .map_or("an unknown time".to_string(), |t| output::text_time(&t));
        eprintln!(
            "warning: snapshot {} of this source is dated {} but the storage received it at {stored}: not used as parent (a forged snapshot, or a wrong clock here or on the storage; see `reprise forget --dry-run`)",
            p.id.short(),
            output::text_time(&p.time)
        );
    }
    if g.quiet {
        if alarming(report) {
            print_quiet_alarm(report);
        }
        return Ok(());
    }
    println!(
        "Files: {} new, {} changed, {} unmodified",
        s.files_new, s.files_changed, s.files_unmodified
    );
    println!(
        "Dirs:  {} new, {} changed, {} unmodified",
        s.dirs_new, s.dirs_changed, s.dirs_unmodified
    );
    println!(
        "Read {} of {} in {:.2} s, added {} to the repository",
        output::bytes(s.bytes_read),
        output::bytes(s.total_bytes),
        s.duration_s,
        output::bytes(s.bytes_added)
    );
    let skipped = report.warnings.iter().filter(|w| w.skipped).count();
    if skipped > 0 {
        println!(
            "{} not be backed up: the snapshot is incomplete (exit status 3)",
            output::count(skipped as u64, "file could", "files could")
        );
    }
    println!("snapshot {} saved", report.snapshot_id.short());
    if let Some(d) = &report.detection {
        detect::print_verdict(d)?;
        // An open incident is in the evidence; a closure is news of its own.
        if let Some(i) = report.incident.as_ref().filter(|i| i.step == Step::Closed) {
            println!("  {}", i.line());
        }
        if d.verdict == Verdict::Attack {
            println!(
                "The snapshot was kept as evidence; {} (exit status 4)",
                recovery_hint(report)
            );
        }
    }
    Ok(())
}
