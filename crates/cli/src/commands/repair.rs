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
        "{verb}index {} pack(s) from their headers into {} new index file(s)",
        r.reindexed_packs.len(),
        if r.dry_run {
            r.reindexed_packs.len().div_ceil(4096)
        } else {
            r.written.len()
        }
    );
    let doomed = r.damaged.len() + r.obsolete.len();
    if r.dry_run {
        println!("would delete {doomed} damaged or obsolete index file(s)");
        return;
    }
    println!(
        "deleted {} damaged or obsolete index file(s)",
        r.deleted.len()
    );
    if !r.not_deleted.is_empty() {
        for (name, reason) in &r.not_deleted {
            println!("could not delete index {name}: {reason}");
        }
        println!("{} index file(s) could not be deleted (append-only or locked storage); this is harmless: readers skip damaged index files, and the new index files hold what they held. An admin can delete them later", r.not_deleted.len());
    }
}
