//! `reprise repair index`: rebuilds the index files that cannot be read.

use crate::cli::{GlobalOptions, RepairCommand, RepairIndexArgs};
use crate::{exit, output, repo_open};
use anyhow::{Context, Result};
use reprise_repo::IndexRepair;

pub fn run(g: &GlobalOptions, command: &RepairCommand) -> Result<u8> {
    match command {
        RepairCommand::Index(args) => index(g, args),
    }
}

fn index(g: &GlobalOptions, args: &RepairIndexArgs) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let repair = repo.repair_index(args.dry_run).with_context(|| {
        format!(
            "repair of the index of {} stopped",
            repo.backend().location()
        )
    })?;
    if g.json {
        output::json(&repair)?;
    } else if !g.quiet {
        print_repair(&repair);
    }
    Ok(if repair.unreadable_packs.is_empty() {
        exit::OK
    } else {
        exit::INCOMPLETE
    })
}

fn print_repair(r: &IndexRepair) {
    let verb = if r.dry_run { "would " } else { "" };
    for (name, reason) in &r.damaged {
        println!("index {name} is damaged: {reason}");
    }
    for name in &r.obsolete {
        println!("index {name} is obsolete: every pack it lists was deleted by prune");
    }
    for (id, reason) in &r.unreadable_packs {
        println!("warning: pack {id} is in no readable index file and its header is unreadable ({reason}): its blobs cannot be indexed; `reprise check` names the files affected");
    }
    println!(
        "{verb}index {} from their headers into {}",
        output::count(r.reindexed_packs.len() as u64, "pack", "packs"),
        output::count(
            (if r.dry_run {
                r.reindexed_packs.len().div_ceil(4096)
            } else {
                r.written.len()
            }) as u64,
            "new index file",
            "new index files"
        )
    );
    let doomed = r.damaged.len() + r.obsolete.len();
    if r.dry_run {
        println!(
            "would delete {}",
            output::count(
                doomed as u64,
                "damaged or obsolete index file",
                "damaged or obsolete index files"
            )
        );
        return;
    }
    println!(
        "deleted {}",
        output::count(
            r.deleted.len() as u64,
            "damaged or obsolete index file",
            "damaged or obsolete index files"
        )
    );
    if !r.not_deleted.is_empty() {
        for (name, reason) in &r.not_deleted {
            println!("could not delete index {name}: {reason}");
        }
        println!("{} not be deleted (append-only or locked storage); this is harmless: readers skip damaged index files, and the new index files hold what they held. An admin can delete {} later", output::count(r.not_deleted.len() as u64, "index file could", "index files could"), output::agree(r.not_deleted.len() as u64, "it", "them"));
    }
}
