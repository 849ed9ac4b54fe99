//! One module per subcommand, and the dispatch between them.

mod backup;
mod check;
pub mod config;
mod copy;
mod demo;
mod detect;
mod diff;
mod drills;
mod dump;
mod find;
mod forget;
mod incident;
mod init;
mod key;
mod locks;
mod ls;
mod metrics;
mod prune;
mod recover;
mod repair;
mod restore;
mod serve;
mod services;
mod snapshots;
mod stats;
mod status;
mod web;

use crate::cli::{Cli, Command, FilterArgs};
use anyhow::{Context, Result};
use reprise_format::{Snapshot, SnapshotId};
use reprise_repo::{Repository, SnapshotFilter, SnapshotList};

pub fn dispatch(cli: &Cli) -> Result<u8> {
    let resolved;
    let g = if uses_repository(&cli.command) {
        resolved = crate::repo_open::with_configured_repository(&cli.global)?;
        &resolved
    } else {
        &cli.global
    };
    match &cli.command {
        Command::Init(a) => init::run(g, a),
        Command::Backup(a) => backup::run(g, a),
        Command::Snapshots(a) => snapshots::run(g, a),
        Command::Ls(a) => ls::run(g, a),
        Command::Diff(a) => diff::run(g, a),
        Command::Detect(a) => detect::run(g, a),
        Command::Incident(c) => incident::run(g, c),
        Command::Status(c) => status::run(g, c),
        Command::Metrics => metrics::run(g),
        Command::Web(a) => web::run(g, a),
        Command::Find(a) => find::run(g, a),
        Command::Dump(a) => dump::run(g, a),
        Command::Restore(a) => restore::run(g, a),
        Command::Check(a) => check::run(g, a),
        Command::Stats => stats::run(g),
        Command::Key(k) => key::run(g, k),
        Command::Demo(a) => demo::run(g, a),
        Command::Serve(a) => serve::run(g, a),
        Command::Forget(a) => forget::run(g, a),
        Command::Prune(a) => prune::run(g, a),
        Command::Copy(a) => copy::run(g, a),
        Command::Locks(l) => locks::run(g, l),
        Command::Repair(r) => repair::run(g, r),
        Command::Config(c) => config::run(g, c),
        Command::Recover(a) => recover::recover(g, a),
        Command::Drill(a) => recover::drill(g, a),
        Command::Drills => recover::drills(g),
    }
}

/// Whether `command` works on a client's repository, which the
/// configuration file may name (`--repository`, a default one).
fn uses_repository(command: &Command) -> bool {
    !matches!(
        command,
        Command::Demo(_) | Command::Serve(_) | Command::Config(_)
    )
}

pub fn filter_of(args: &FilterArgs) -> SnapshotFilter {
    SnapshotFilter {
        hosts: args.hosts.clone(),
        tags: args.tags.clone(),
        paths: args.paths.clone(),
    }
}

/// Wraps a failure of a command that deletes with `what` as context, and
/// says that deleting needs credentials that may delete only when the
/// storage refused for want of them: a local repository that cannot be
/// written has its own message (not writable, read-only file system).
pub fn deletion_failure(
    err: impl std::error::Error + Send + Sync + 'static,
    what: String,
) -> anyhow::Error {
    use reprise_storage::StorageError;
    let refused = |e: &StorageError| {
        matches!(
            e,
            StorageError::Refused { .. } | StorageError::Unauthorized { .. }
        )
    };
    let err = anyhow::Error::new(err);
    let needs_rights = err.chain().any(|c| {
        c.downcast_ref::<StorageError>().is_some_and(refused)
            || c.downcast_ref::<reprise_repo::RepoError>()
                .and_then(|e| e.storage())
                .is_some_and(refused)
    });
    if needs_rights {
        err.context(format!("{what} (deleting needs credentials that may delete: an admin token, or S3 keys with delete rights)"))
    } else {
        err.context(what)
    }
}

/// Stops `command` before it deletes anything when the storage has
/// already said these credentials may not delete (a reprise server names
/// the token's role): a deletion it refuses is recorded in its audit log
/// like one from a compromised client.
pub fn refuse_without_delete_rights(repo: &Repository, command: &str) -> Result<()> {
    match repo.backend().deletion_refused() {
        None => Ok(()),
        Some(why) => Err(anyhow::Error::new(crate::exit::RefusedUpFront(format!(
            "{why}: nothing was sent to delete; run {command} with an admin token (or --dry-run to see what it would delete)"
        )))
        .context(format!("{command} of {} refused", repo.backend().location()))),
    }
}

/// Resolves a snapshot selector (id, prefix or `latest`) to one snapshot,
/// and loads the index.
pub fn select(
    repo: &Repository,
    selector: &str,
    filter: &FilterArgs,
) -> Result<(SnapshotId, Snapshot)> {
    let list = reprise_repo::browse::list_then_index(repo)?.snapshots;
    select_in(&list, selector, &filter_of(filter))
}

/// Resolves a snapshot selector in `list`. `latest` is the newest snapshot
/// that can be read: when one that cannot be read may be newer, the user
/// is told, with the snapshot used instead, rather than silently given an
/// older state.
pub fn select_in(
    list: &SnapshotList,
    selector: &str,
    filter: &SnapshotFilter,
) -> Result<(SnapshotId, Snapshot)> {
    let selected = list.select(selector, filter);
    if selector != "latest" {
        return Ok(selected?);
    }
    let (id, snapshot) = match selected {
        Ok(found) => found,
        Err(e) if list.unreadable.is_empty() => return Err(e.into()),
        Err(e) => {
            let unreadable = list.unreadable.len();
            return Err(e).with_context(|| {
                format!(
                    "{} be read: run `reprise check`",
                    crate::output::count(unreadable as u64, "snapshot cannot", "snapshots cannot")
                )
            });
        }
    };
    for (other_id, other) in list.future_dated_after(&snapshot, filter) {
        eprintln!(
            "warning: snapshot {} claims to be of {}, after the storage received it: only a forged \
             snapshot does that, so `latest` is snapshot {} of {} instead (select the other by id \
             to see it)",
            other_id.short(),
            crate::output::text_time(&other.time),
            id.short(),
            crate::output::text_time(&snapshot.time),
        );
    }
    for (name, reason) in list.unreadable_not_older_than(&id) {
        eprintln!(
            "warning: snapshot {name} cannot be read ({reason}) and may be newer than the one used: \
             `latest` is snapshot {} of {} ({} {})",
            id.short(),
            crate::output::text_time(&snapshot.time),
            snapshot.hostname,
            snapshot.paths.join(" ")
        );
    }
    Ok((id, snapshot))
}

#[cfg(test)]
mod tests {
    use super::deletion_failure;
    use reprise_storage::{ObjectKind, StorageError};

    /// Finding 21: a local repository that cannot be written is not told
    /// to get an admin token; a storage that refused the credentials is.
    #[test]
    fn only_a_refusal_of_the_credentials_asks_for_rights_to_delete() {
        let local = StorageError::NotWritable {
            path: "/srv/repo/snapshots/ab".into(),
        };
        let text = format!("{:#}", deletion_failure(local, "prune stopped".into()));
        assert!(!text.contains("admin token"), "{text}");
        assert!(text.contains("not writable by this user"), "{text}");
        let remote = StorageError::Refused {
            action: "delete",
            kind: ObjectKind::Pack,
            name: "ab".into(),
            location: "rest:https://backup".into(),
            reason: "append-only token".into(),
        };
        let text = format!("{:#}", deletion_failure(remote, "prune stopped".into()));
        assert!(text.contains("admin token"), "{text}");
    }
}
