//! `reprise demo`: the main job on a sample town share, end to end, with
//! timings: generate Saint-Exemple's share, create a repository, back up,
//! simulate a working day, back up again, restore, compare byte for byte,
//! and verify every byte of the repository. Then a ransomware attack: the
//! documents are encrypted and renamed and ransom notes dropped, the next
//! backup raises the alarm, two more nightly backups keep it (the incident
//! stays open), `forget --keep-last 2` keeps the last clean snapshot all
//! the same, and the last clean version of every file is restored and
//! compared with the share as it was before the attack; then the live share
//! is cleaned up in place (originals back, encrypted copies and notes moved
//! to a quarantine) and the next backup closes the incident.
//! Last, the recovered share is backed up to an append-only server, and the
//! client, as ransomware holding its token would, tries to destroy those
//! backups and is refused (see `server`). Then the town's services: a
//! small catalogue backed up and drilled, and the drill's RTO table (see
//! `drill`).

mod catalogue;
mod drill;
mod postgres;
mod server;
mod web;

use crate::cli::{DemoArgs, GlobalOptions};
use crate::{exit, output};
use anyhow::{bail, Context, Result};
use reprise_backup::{BackupOptions, BackupProgress, BackupReport};
use reprise_check::{CheckOptions, CheckProgress, CheckReport};
use reprise_detect::incident::{Step as IncidentStep, KEEP_INCIDENT_DAYS};
use reprise_format::SnapshotId;
use reprise_maintenance::{plan, remove_forgotten, KeepPolicy};
use reprise_repo::browse::resolve_subpath;
use reprise_repo::{InitOptions, Repository, SnapshotFilter};
use reprise_restore::{
    overlay_of, quarantine_left_out, recovered_paths, Overlay, RestoreOptions, RestoreProgress,
};
use reprise_sample::{generate_share, simulate_workday, ShareSpec};
use reprise_storage::LocalBackend;
use serde::Serialize;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Serialize)]
struct Step {
    step: String,
    seconds: f64,
    detail: String,
}

struct Demo {
    steps: Vec<Step>,
    json: bool,
}

impl Demo {
    fn timed<T>(&mut self, name: &str, f: impl FnOnce() -> Result<(T, String)>) -> Result<T> {
        let start = Instant::now();
        let (value, detail) = f()?;
        let seconds = start.elapsed().as_secs_f64();
        if !self.json {
            println!("{:>7.2} s  {name:<34} {detail}", seconds);
        }
        self.steps.push(Step {
            step: name.into(),
            seconds,
            detail,
        });
        Ok(value)
    }
}

fn backup(repo: &Repository, share: &Path) -> Result<BackupReport> {
    let mut options = BackupOptions::new(vec![share.to_path_buf()], "mairie-saint-exemple");
    options.tags = vec!["demo".into()];
    Ok(reprise_backup::run(
        repo,
        options,
        &BackupProgress::default(),
    )?)
}

fn backup_detail(r: &BackupReport) -> String {
    let s = r.snapshot.summary.clone().unwrap_or_default();
    let verdict = r.detection.as_ref().map_or("-", |d| d.verdict.as_str());
    format!(
        "snapshot {}: {} new, {} changed, {} unmodified files; read {}, added {}; verdict {verdict}",
        r.snapshot_id.short(),
        s.files_new,
        s.files_changed,
        s.files_unmodified,
        output::bytes(s.bytes_read),
        output::bytes(s.bytes_added)
    )
}

/// The name of the ransom note the demo's attack drops.
const RANSOM_NOTE: &str = "Restore-My-Files.txt";

const RANSOM_TEXT: &str = "Vos fichiers sont chiffrés. All your files are encrypted.\n\
To decrypt them, pay 2 BTC to the wallet below and contact us with the Tor browser at \
lockdemo5x7.onion. Do not rename the files or you will lose them.\n";

/// What ransomware does to a directory: every file encrypted (XOR with a
/// random keystream, then a random trailer such as the encrypted key real
/// families append), written as `<name>.lockbit`, the original deleted, and a
/// ransom note in every directory. Returns (files encrypted, notes dropped).
fn strike(dir: &Path, seed: &mut u64) -> Result<(u64, u64)> {
    let mut encrypted = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let (e, _) = strike(&path, seed)?;
            encrypted += e;
        } else if kind.is_file() {
            *seed += 1;
            let mut data = std::fs::read(&path)?;
            let keystream = reprise_sample::random_bytes(data.len(), *seed);
            data.iter_mut().zip(keystream).for_each(|(b, k)| *b ^= k);
            data.extend(reprise_sample::random_bytes(512, !*seed));
            let mut locked = path.clone().into_os_string();
            locked.push(".lockbit");
            std::fs::write(&locked, data)?;
            std::fs::remove_file(&path)?;
            encrypted += 1;
        }
    }
    std::fs::write(dir.join(RANSOM_NOTE), RANSOM_TEXT)?;
    let notes = count_named(dir, RANSOM_NOTE)?;
    Ok((encrypted, notes))
}

fn count_named(dir: &Path, name: &str) -> Result<u64> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            n += count_named(&entry.path(), name)?;
        } else if entry.file_name() == name {
            n += 1;
        }
    }
    Ok(n)
}

/// Restores the share's directory of `snapshot` into `target`, with the
/// attack undone when `last_clean` is given.
fn restore_share(
    repo: &Repository,
    snapshot: &reprise_format::Snapshot,
    share: &Path,
    target: &Path,
    overlay: Overlay,
) -> Result<reprise_restore::RestoreReport> {
    restore_share_with(repo, snapshot, share, target, overlay, None)
}

/// [`restore_share`], rewriting only `rewrite_only` among existing files
/// when given (an in-place restore).
fn restore_share_with(
    repo: &Repository,
    snapshot: &reprise_format::Snapshot,
    share: &Path,
    target: &Path,
    overlay: Overlay,
    rewrite_only: Option<std::collections::BTreeSet<PathBuf>>,
) -> Result<reprise_restore::RestoreReport> {
    let share_path = share.as_os_str().as_encoded_bytes();
    let at = resolve_subpath(repo, &snapshot.tree, share_path)?;
    let share_tree = at.tree_below(&snapshot.tree);
    let nodes = repo
        .load_tree(&share_tree.context("share is not a directory")?)?
        .nodes;
    let options = RestoreOptions {
        overlay,
        rewrite_only,
        ..RestoreOptions::default()
    };
    let r = reprise_restore::run(
        repo,
        nodes,
        share_path,
        target,
        &options,
        &RestoreProgress::default(),
    )?;
    if !r.failures.is_empty() {
        bail!("restore failed for {} paths", r.failures.len());
    }
    Ok(r)
}

pub fn run(g: &GlobalOptions, args: &DemoArgs) -> Result<u8> {
    let temp;
    let work: PathBuf = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new().prefix("reprise-demo-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let share = work.join("saint-exemple");
    let repo_dir = work.join("depot");
    let restored = work.join("restauration");
    if repo_dir.exists() {
        bail!("{} already exists: give an empty --dir", repo_dir.display());
    }
    let mut demo = Demo {
        steps: Vec::new(),
        json: g.json,
    };
    if !g.json {
        println!(
            "reprise demo: the file share of Saint-Exemple's town hall, in {}\n",
            work.display()
        );
    }
    let spec = ShareSpec {
        total_bytes: args.size_mib * 1024 * 1024,
        ..ShareSpec::demo()
    };
    demo.timed("generate the town's file share", || {
        let s = generate_share(&share, &spec)?;
        Ok((
            (),
            format!(
                "{} files in {} dirs, {}",
                s.files,
                s.dirs,
                output::bytes(s.bytes)
            ),
        ))
    })?;
    let repo = demo.timed("create an encrypted repository", || {
        let repo = Repository::init(
            Arc::new(LocalBackend::new(&repo_dir)),
            b"saint-exemple-demo",
            &InitOptions::default(),
        )?;
        let detail = format!("{} (XChaCha20-Poly1305, Argon2id)", repo_dir.display());
        Ok((repo, detail))
    })?;
    demo.timed("first backup", || {
        let r = backup(&repo, &share)?;
        let d = backup_detail(&r);
        Ok(((), d))
    })?;
    demo.timed("a working day on the share", || {
        let c = simulate_workday(&share, 7)?;
        Ok((
            (),
            format!(
                "{} files edited, {} added, {} deleted",
                c.files_modified, c.files_added, c.files_deleted
            ),
        ))
    })?;
    let second = demo.timed("second backup (incremental)", || {
        let r = backup(&repo, &share)?;
        let d = backup_detail(&r);
        Ok((r, d))
    })?;
    demo.timed("restore the latest snapshot", || {
        let r = restore_share(
            &repo,
            &second.snapshot,
            &share,
            &restored,
            Overlay::default(),
        )?;
        Ok((
            (),
            format!(
                "{} files, {} into {}",
                r.files_restored,
                output::bytes(r.bytes_written),
                restored.display()
            ),
        ))
    })?;
    demo.timed("compare byte for byte", || {
        let n = compare_trees(&share, &restored)?;
        Ok(((), format!("{n} entries identical (content, mode, mtime)")))
    })?;
    demo.timed("check every byte of the repository", || {
        let r = check_every_byte(&repo)?;
        Ok((
            (),
            format!(
                "{} packs read, {} blobs verified, no error",
                r.packs_read, r.blobs_verified
            ),
        ))
    })?;
    ransomware(
        &mut demo,
        &repo,
        &share,
        (&restored, &second.snapshot_id),
        &work.join("restauration-propre"),
    )?;
    server::run(&mut demo, &work.join("restauration-propre"), &work)?;
    let drill = drill::run(&mut demo, &repo, &work)?;
    if g.json {
        output::json(&serde_json::json!({
            "workdir": work,
            "steps": demo.steps,
            "drill": drill,
            "ok": true
        }))?;
    } else {
        println!("\nAll steps succeeded. Try it yourself:");
        println!(
            "  export REPRISE_REPOSITORY={} REPRISE_PASSWORD=saint-exemple-demo",
            repo_dir.display()
        );
        println!("  reprise snapshots; reprise incident list; reprise detect <attack>; reprise diff <first> latest");
        println!("  reprise restore latest --target /tmp/propre --last-clean");
        println!(
            "  the service catalogue the drill used: {}",
            work.join("services/reprise.toml").display()
        );
        if args.dir.is_none() && !args.web {
            println!("(the demo's temporary directory is removed on exit: use --dir to keep it)");
        }
    }
    if args.web {
        web::serve(repo, &work, g.json)?;
    }
    Ok(exit::OK)
}

/// The attack, its alarm, and the recovery of the last clean versions.
fn ransomware(
    demo: &mut Demo,
    repo: &Repository,
    share: &Path,
    (before_attack, last_clean_id): (&Path, &SnapshotId),
    recovered: &Path,
) -> Result<()> {
    let documents = share.join("partage");
    demo.timed("ransomware encrypts partage/", || {
        let (files, notes) = strike(&documents, &mut 1000)?;
        let detail = format!(
            "{files} files encrypted and renamed *.lockbit, {notes} ransom notes {RANSOM_NOTE}"
        );
        Ok(((), detail))
    })?;
    let (third, summary) = demo.timed("third backup: the alarm", || {
        let r = backup(repo, share)?;
        let Some(d) = r
            .detection
            .as_ref()
            .filter(|d| d.verdict == reprise_detect::Verdict::Attack)
        else {
            bail!(
                "the backup after the attack did not raise the alarm: {:?}",
                r.detection
            );
        };
        let detail = format!(
            "snapshot {}: verdict ATTACK, score {:.0}/100 (a real backup exits with status 4)",
            r.snapshot_id.short(),
            d.score
        );
        let summary = d.summary.clone();
        Ok(((r, summary), detail))
    })?;
    if !demo.json {
        println!("{:>9}  {summary}", "");
    }
    let newest = nights_after_the_attack(demo, repo, share)?.unwrap_or(third);
    forget_keeps_the_clean_copy(demo, repo, last_clean_id)?;
    let plan = demo.timed("find the last clean versions", || {
        let list = repo.list_snapshots()?;
        let plan = reprise_detect::last_clean(repo, &list, &newest.snapshot_id, &newest.snapshot)?;
        let detail = format!(
            "{} files to recover from earlier snapshots, {} ransom notes to leave out, {} without a clean version",
            plan.recovered.len(),
            plan.notes_left_out.len(),
            plan.unrecoverable.len()
        );
        Ok((plan, detail))
    })?;
    demo.timed("restore --last-clean", || {
        let r = restore_share(repo, &newest.snapshot, share, recovered, overlay_of(&plan))?;
        Ok((
            (),
            format!("{} files into {}", r.files_restored, recovered.display()),
        ))
    })?;
    demo.timed("compare with the pre-attack share", || {
        let n = compare_trees(before_attack, recovered)?;
        Ok((
            (),
            format!("{n} entries identical: nothing lost, no ransom note, no encrypted copy"),
        ))
    })?;
    clean_up_in_place(demo, repo, share, &newest, before_attack)
}

/// The clean-up of the live share: the originals put back in place, the
/// encrypted copies and notes moved to a quarantine beside it (never
/// deleted); the next backup closes the incident.
fn clean_up_in_place(
    demo: &mut Demo,
    repo: &Repository,
    share: &Path,
    newest: &BackupReport,
    before_attack: &Path,
) -> Result<()> {
    let quarantine = share.with_file_name("saint-exemple.quarantaine");
    demo.timed("restore --last-clean --in-place", || {
        let list = repo.list_snapshots()?;
        let plan = reprise_detect::last_clean(repo, &list, &newest.snapshot_id, &newest.snapshot)?;
        let moved = quarantine_left_out(share, &quarantine, &plan, false)?;
        if !moved.failures.is_empty() {
            bail!(
                "the quarantine move failed for {} entries",
                moved.failures.len()
            );
        }
        let r = restore_share_with(
            repo,
            &newest.snapshot,
            share,
            share,
            overlay_of(&plan),
            Some(recovered_paths(&plan, share)),
        )?;
        let detail = format!(
            "{} originals put back into the share, {} encrypted copies and notes moved to {}",
            r.files_restored,
            moved.moved.len(),
            quarantine.display()
        );
        Ok(((), detail))
    })?;
    demo.timed("compare the share with before", || {
        let n = compare_trees(before_attack, share)?;
        Ok(((), format!("{n} entries identical: the share is as it was")))
    })?;
    demo.timed("backup after the clean-up", || {
        let r = backup(repo, share)?;
        let Some(i) = r
            .incident
            .as_ref()
            .filter(|i| i.step == IncidentStep::Closed)
        else {
            bail!(
                "the backup after the clean-up did not close the incident: {:?}",
                r.incident
            );
        };
        let detail = format!(
            "verdict clean: incident {} closed, {} files restored",
            reprise_detect::incident::short_id(&i.id),
            i.restored
        );
        Ok(((), detail))
    })
}

/// Two more nightly backups of the untouched, encrypted share: the open
/// incident keeps the alarm. Returns the newest.
fn nights_after_the_attack(
    demo: &mut Demo,
    repo: &Repository,
    share: &Path,
) -> Result<Option<BackupReport>> {
    demo.timed("two more nights: the alarm holds", || {
        let mut newest = None;
        let mut detail = String::new();
        for night in 1..=2 {
            let r = backup(repo, share)?;
            let attack = r
                .detection
                .as_ref()
                .is_some_and(|d| d.verdict == reprise_detect::Verdict::Attack);
            let Some(i) = r
                .incident
                .as_ref()
                .filter(|i| attack && i.step == IncidentStep::StillOpen)
            else {
                bail!(
                    "night {night} after the attack did not keep the alarm: {:?}",
                    r.incident
                );
            };
            detail = format!(
                "verdict ATTACK both nights: incident {} open, {} encrypted files still present",
                reprise_detect::incident::short_id(&i.id),
                i.still_encrypted
            );
            newest = Some(r);
        }
        Ok((newest, detail))
    })
}

/// `forget --keep-last 2`: before incidents, it kept two snapshots of the
/// encrypted share and nothing clean.
fn forget_keeps_the_clean_copy(
    demo: &mut Demo,
    repo: &Repository,
    last_clean: &SnapshotId,
) -> Result<()> {
    demo.timed("forget --keep-last 2", || {
        let list = repo.list_snapshots()?;
        let policy = KeepPolicy {
            last: 2,
            ..KeepPolicy::default()
        };
        let (_, decisions) = plan(
            repo,
            &list,
            &SnapshotFilter::default(),
            &policy,
            KEEP_INCIDENT_DAYS,
            chrono::Utc::now(),
        )?;
        let Some(kept) = decisions.iter().find(|d| d.id == *last_clean && d.keep) else {
            bail!(
                "forget would remove the last clean snapshot {}",
                last_clean.short()
            );
        };
        let why = kept.reasons.join("; ");
        let outcome = remove_forgotten(repo, &decisions, false)?;
        let detail = format!(
            "removed {} of {} snapshots; kept the last clean one, {} ({why})",
            outcome.removed.len(),
            decisions.len(),
            last_clean.short()
        );
        Ok(((), detail))
    })
}

/// Compares two trees entry by entry; returns how many entries matched.
fn compare_trees(a: &Path, b: &Path) -> Result<u64> {
    let mut count = 0;
    let mut names: Vec<_> = std::fs::read_dir(a)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    let mut other: Vec<_> = std::fs::read_dir(b)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    other.sort();
    if names != other {
        bail!("{} and {} hold different entries", a.display(), b.display());
    }
    for name in names {
        let (pa, pb) = (a.join(&name), b.join(&name));
        let (ma, mb) = (
            std::fs::symlink_metadata(&pa)?,
            std::fs::symlink_metadata(&pb)?,
        );
        if ma.file_type() != mb.file_type() || ma.permissions().mode() != mb.permissions().mode() {
            bail!("{} differs in type or mode", pb.display());
        }
        if ma.is_dir() {
            count += compare_trees(&pa, &pb)?;
        } else if ma.is_file() {
            if ma.modified()? != mb.modified()? || std::fs::read(&pa)? != std::fs::read(&pb)? {
                bail!("{} differs in content or mtime", pb.display());
            }
        } else if ma.file_type().is_symlink()
            && std::fs::read_link(&pa)? != std::fs::read_link(&pb)?
        {
            bail!("{} points elsewhere", pb.display());
        }
        count += 1;
    }
    Ok(count)
}

/// `check --read-data`, failing the demo on any error.
fn check_every_byte(repo: &Repository) -> Result<CheckReport> {
    let r = reprise_check::run(
        repo,
        &CheckOptions {
            read_data: true,
            read_data_percent: None,
        },
        &CheckProgress::default(),
    )?;
    if r.errors() > 0 {
        bail!("check found {} error(s)", r.errors());
    }
    Ok(r)
}
