//! A restore job: one path of one snapshot into a directory, as `reprise
//! restore SNAPSHOT:/path --target DIR [--last-clean]` does, with its
//! progress in the job's `live.json` as one row.
//!
//! In place (a last-clean restore into the live share itself, as `reprise
//! restore --last-clean --in-place`), what the attack left moves into a
//! quarantine beside the share first, and only the files the plan puts back
//! are rewritten: the users' other work stays as it is.
//!
//! Files are compared with the snapshot before they are written
//! (`Overwrite::IfChanged`), so a job the server's end cut off resumes by
//! running again: what is already restored is skipped, the file cut short
//! is completed, and what is already in the quarantine is not there to
//! move again.

use std::path::{Component, Path};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reprise_format::SnapshotId;
use reprise_repo::browse::list_then_index;
use reprise_repo::SnapshotFilter;
use reprise_restore::last_clean::summarise;
use reprise_restore::{
    quarantine_left_out, recovered_paths, select, Overwrite, QuarantineReport, RestoreReport,
    Versions,
};
use reprise_services::live::LiveWriter;
use reprise_services::report::RunKind;
use reprise_services::schedule::{Event, ServiceProgress};

use super::{append_log, Job, JobContext, JobError, JobSpec, JobState, RestoreSpec};

/// How often the progress is written while the restore runs.
const TICK: Duration = Duration::from_millis(250);
/// Failed paths written to the log, at most.
const MOST_LOGGED_FAILURES: usize = 100;

/// Refuses a restore job that names no snapshot or an unsafe target.
pub(super) fn check(spec: &JobSpec) -> Result<(), JobError> {
    if !spec.services.is_empty() || spec.replace || spec.target_root.is_some() {
        return Err(JobError::Refused(
            "a restore takes a snapshot, a path and a target directory, not services".into(),
        ));
    }
    let Some(restore) = &spec.restore else {
        return Err(JobError::Refused("choose the snapshot to restore".into()));
    };
    if restore.snapshot.parse::<SnapshotId>().is_err() {
        return Err(JobError::Refused(format!(
            "{:?} is not a snapshot id: choose the snapshot from the list",
            restore.snapshot
        )));
    }
    let target = &restore.target_path();
    if !target.is_absolute() || target.components().any(|c| c == Component::ParentDir) {
        return Err(JobError::Refused(format!(
            "the target {} must be an absolute path without ..",
            target.display()
        )));
    }
    if target.parent().is_none() {
        return Err(JobError::Refused(
            "the target / is refused: restore into a directory of its own, e.g. /srv/restore"
                .into(),
        ));
    }
    if restore.in_place {
        check_in_place(spec, restore)?;
    }
    Ok(())
}

/// An in-place restore is a last-clean one of the share it names, with a
/// quarantine outside it.
fn check_in_place(spec: &JobSpec, restore: &RestoreSpec) -> Result<(), JobError> {
    if !spec.last_clean {
        return Err(JobError::Refused(
            "in place, a restore puts back the last clean versions: tick last clean too".into(),
        ));
    }
    if restore.target.as_bytes() != restore.path.as_bytes() {
        return Err(JobError::Refused(
            "in place, the target is the restored directory itself".into(),
        ));
    }
    match restore.quarantine_path() {
        Some(q) if q.is_absolute() && !q.starts_with(restore.target_path()) => Ok(()),
        _ => Err(JobError::Refused(
            "in place, the quarantine must be an absolute path outside the share".into(),
        )),
    }
}

/// What the job's progress row is called.
fn row_name(restore: &RestoreSpec) -> String {
    format!("{}:{}", short_id(&restore.snapshot), restore.path.display())
}

/// A snapshot id as people read it, or the text as it is if it is none.
pub fn short_id(id: &str) -> String {
    id.parse::<SnapshotId>()
        .map_or_else(|_| id.to_owned(), |id| id.short())
}

/// Runs the restore to its end; returns the job's file as it should be left.
pub(super) fn run(context: &dyn JobContext, dir: &Path, mut job: Job) -> Job {
    let Some(restore) = job.spec.restore.clone() else {
        job.state = JobState::Failed;
        job.summary = "the job names no snapshot: start it again".into();
        return job;
    };
    let name = row_name(&restore);
    let mut live = LiveWriter::new(dir, RunKind::Recover, std::slice::from_ref(&name));
    let progress = Arc::new(ServiceProgress::new());
    live.observe(&Event::Started {
        service: name.clone(),
        resuming: job.resumed > 0,
        progress: Arc::clone(&progress),
    });
    let outcome = restore_with_progress(
        context,
        dir,
        &restore,
        job.spec.last_clean,
        &progress,
        &mut |view| {
            live.observe(&Event::Progress {
                service: name.clone(),
                view,
            });
        },
    );
    job.finished_at = Some(Utc::now());
    match outcome {
        Ok(Restored {
            report,
            clean,
            quarantined,
        }) => {
            let quarantine_failures = quarantined.as_ref().map_or(&[][..], |q| &q.failures[..]);
            let failed = !report.failures.is_empty()
                || !quarantine_failures.is_empty()
                || clean.is_some_and(|(_, lost)| lost > 0);
            for f in quarantine_failures.iter().take(MOST_LOGGED_FAILURES) {
                append_log(
                    dir,
                    &format!("cannot move {} into the quarantine: {}", f.path, f.message),
                );
            }
            for f in report.failures.iter().take(MOST_LOGGED_FAILURES) {
                append_log(dir, &format!("cannot restore {}: {}", f.path, f.message));
            }
            progress.finish();
            live.observe(&Event::Progress {
                service: name.clone(),
                view: progress.view(),
            });
            live.observe(&if failed {
                Event::Failed {
                    service: name.clone(),
                    reason: "some files could not be restored".into(),
                }
            } else {
                Event::Healthy {
                    service: name.clone(),
                    checked: false,
                    resumed: job.resumed > 0,
                }
            });
            job.state = if failed {
                JobState::Failed
            } else {
                JobState::Succeeded
            };
            job.summary = summary(&report, clean, quarantined.as_ref(), &restore);
        }
        Err(reason) => {
            live.observe(&Event::Failed {
                service: name,
                reason: reason.clone(),
            });
            job.state = JobState::Failed;
            job.summary = reason;
        }
    }
    let _ = live.finish();
    append_log(dir, &job.summary);
    job
}

/// Files recovered from earlier snapshots, and files without a clean
/// version, of a last-clean restore.
type CleanCounts = Option<(usize, usize)>;

/// What a restore did.
struct Restored {
    report: RestoreReport,
    clean: CleanCounts,
    /// In place: what moved into the quarantine.
    quarantined: Option<QuarantineReport>,
}

/// Restores, calling `tick` with the progress every [`TICK`] meanwhile.
fn restore_with_progress(
    context: &dyn JobContext,
    job_dir: &Path,
    restore: &RestoreSpec,
    last_clean: bool,
    progress: &ServiceProgress,
    tick: &mut dyn FnMut(reprise_services::schedule::ProgressView),
) -> Result<Restored, String> {
    let repo = context.repo();
    let list = list_then_index(repo)
        .map_err(|e| format!("cannot read the repository: {e}"))?
        .snapshots;
    let (id, snapshot) = list
        .select(&restore.snapshot, &SnapshotFilter::default())
        .map_err(|e| format!("{e}: it may have been forgotten since"))?;
    let versions = if last_clean {
        Versions::LastClean { all_changed: false }
    } else {
        Versions::AsSnapshot
    };
    let selection = select(
        repo,
        &list,
        (&id, &snapshot),
        restore.path.as_bytes(),
        versions,
    )
    .map_err(|e| format!("in snapshot {}: {e}", id.short()))?;
    let mut options = selection.options(&id, &snapshot, Overwrite::IfChanged);
    let target = restore.target_path();
    let quarantined = if restore.in_place {
        let plan = selection.last_clean.as_ref();
        let (Some(plan), Some(dir)) = (plan, restore.quarantine_path()) else {
            return Err("an in-place restore needs its last clean plan and its quarantine".into());
        };
        in_place(&selection, &snapshot, restore)?;
        options.rewrite_only = Some(recovered_paths(plan, &target));
        Some(quarantine_once(job_dir, &target, &dir, plan)?)
    } else {
        None
    };
    let report = std::thread::scope(|scope| {
        let running = scope.spawn(|| {
            reprise_restore::run(
                repo,
                selection.nodes.clone(),
                &selection.base,
                &target,
                &options,
                progress.restoring(),
            )
        });
        while !running.is_finished() {
            std::thread::sleep(TICK);
            let total = progress
                .restoring()
                .bytes_total
                .load(std::sync::atomic::Ordering::Relaxed);
            progress.set_total(total);
            tick(progress.view());
        }
        running.join()
    })
    .map_err(|_| {
        "the restore stopped on an internal error (a bug): see the server's log".to_owned()
    })?
    .map_err(|e| e.to_string())?;
    let clean = selection.last_clean.as_ref().map(|plan| {
        let s = summarise(plan, quarantined.as_ref(), &selection.base);
        (s.recovered, s.unrecoverable)
    });
    Ok(Restored {
        report,
        clean,
        quarantined,
    })
}

/// An in-place restore names a directory of the snapshot, in the snapshot's
/// own spelling: the plan's paths are compared byte for byte with it, so
/// `/srv//share` would match nothing, clean nothing, and report success.
fn in_place(
    selection: &reprise_restore::Selection,
    snapshot: &reprise_format::Snapshot,
    restore: &RestoreSpec,
) -> Result<(), String> {
    if selection.at.tree_below(&snapshot.tree).is_none() {
        return Err(format!(
            "{} is a file in the snapshot: in place, restore a directory",
            restore.path.display()
        ));
    }
    if selection.at.path != restore.path.as_bytes() {
        return Err(format!(
            "give the directory as the snapshot names it, {}, not {}",
            String::from_utf8_lossy(&selection.at.path),
            restore.path.display()
        ));
    }
    Ok(())
}

/// Marks, in the job's directory, that its quarantine step is done.
const QUARANTINED: &str = "quarantined";

/// Moves what the attack left into the quarantine, once per job: a job
/// resumed after the step would find the clean files it had put back where
/// the encrypted ones were, and move them in turn. The move is recorded
/// (synced) before any file is restored; a job cut off during the move
/// moves the rest when it resumes, what already moved being absent.
fn quarantine_once(
    job_dir: &Path,
    share: &Path,
    dir: &Path,
    plan: &reprise_detect::LastClean,
) -> Result<QuarantineReport, String> {
    let marker = job_dir.join(QUARANTINED);
    if marker.exists() {
        return Ok(QuarantineReport {
            share: share.display().to_string(),
            quarantine: dir.display().to_string(),
            ..QuarantineReport::default()
        });
    }
    let report = quarantine_left_out(share, dir, plan, false)
        .map_err(|e| format!("nothing was moved and nothing restored: {e}"))?;
    crate::files::replace_durably(job_dir, QUARANTINED, b"")
        .map_err(|e| format!("{}: {e}", marker.display()))?;
    Ok(report)
}

fn summary(
    report: &RestoreReport,
    clean: CleanCounts,
    quarantined: Option<&QuarantineReport>,
    restore: &RestoreSpec,
) -> String {
    let mut text = format!(
        "{} restored into {}: {} file(s) written ({} replaced), {} already up to date",
        restore.path.display(),
        restore.target.display(),
        report.files_restored,
        report.files_replaced,
        report.files_unchanged,
    );
    if !report.failures.is_empty() {
        text.push_str(&format!(
            "; {} path(s) could not be restored (see the log)",
            report.failures.len()
        ));
    }
    if let Some(q) = quarantined {
        text.push_str(&format!(
            "; {} encrypted copies, notes and replaced versions moved into {}",
            q.moved.len(),
            q.quarantine
        ));
    }
    if let Some((recovered, lost)) = clean {
        text.push_str(&format!(
            "; last clean: {recovered} file(s) taken from earlier snapshots, {lost} without a clean version"
        ));
    }
    text
}
