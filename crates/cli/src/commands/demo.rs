//! `reprise demo`: the main job on a sample town share, end to end, with
//! timings: generate Saint-Exemple's share, create a repository, back up,
//! simulate a working day, back up again, restore, compare byte for byte,
//! and verify every byte of the repository.

use crate::cli::{DemoArgs, GlobalOptions};
use crate::{exit, output};
use anyhow::{bail, Context, Result};
use reprise_backup::{BackupOptions, BackupProgress, BackupReport};
use reprise_check::{CheckOptions, CheckProgress};
use reprise_repo::walk::resolve;
use reprise_repo::{InitOptions, Repository};
use reprise_restore::{RestoreOptions, RestoreProgress};
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
    format!(
        "snapshot {}: {} new, {} changed, {} unmodified files; read {}, added {}",
        r.snapshot_id.short(),
        s.files_new,
        s.files_changed,
        s.files_unmodified,
        output::bytes(s.bytes_read),
        output::bytes(s.bytes_added)
    )
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
        let node = resolve(
            &repo,
            &second.snapshot.tree,
            share.as_os_str().as_encoded_bytes(),
        )?
        .context("share missing from the snapshot")?;
        let nodes = repo
            .load_tree(&node.subtree.context("share is not a directory")?)?
            .nodes;
        let r = reprise_restore::run(
            &repo,
            nodes,
            b"/",
            &restored,
            &RestoreOptions::default(),
            &RestoreProgress::default(),
        )?;
        if !r.failures.is_empty() {
            bail!("restore failed for {} paths", r.failures.len());
        }
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
        let r = reprise_check::run(
            &repo,
            &CheckOptions {
                read_data: true,
                read_data_percent: None,
            },
            &CheckProgress::default(),
        )?;
        if r.errors() > 0 {
            bail!("check found {} error(s)", r.errors());
        }
        Ok((
            (),
            format!(
                "{} packs read, {} blobs verified, no error",
                r.packs_read, r.blobs_verified
            ),
        ))
    })?;
    if g.json {
        output::json(&serde_json::json!({ "workdir": work, "steps": demo.steps, "ok": true }))?;
    } else {
        println!("\nAll steps succeeded. Try it yourself:");
        println!(
            "  export REPRISE_REPOSITORY={} REPRISE_PASSWORD=saint-exemple-demo",
            repo_dir.display()
        );
        println!("  reprise snapshots; reprise diff <first> latest; reprise find '*.odt'");
        if args.dir.is_none() {
            println!("(the demo's temporary directory is removed on exit: use --dir to keep it)");
        }
    }
    Ok(exit::OK)
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
