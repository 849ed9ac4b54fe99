//! A last-clean restore, from the plan `reprise_detect::clean` makes: the
//! [`Overlay`] that mixes the chosen snapshot with clean earlier versions,
//! and, in place, which existing files of the live share the restore may
//! rewrite and what of the share moves to the quarantine. In place, the
//! live share's path is the snapshot path it was backed up under.

use crate::{quarantine, Overlay, QuarantineError, QuarantineReport};
use reprise_detect::{LastClean, LeftOut};
use reprise_repo::walk::join;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The overlay that restores the plan: notes and encrypted copies left
/// out, encrypted files replaced by their clean versions, deleted files
/// added back.
pub fn overlay_of(plan: &LastClean) -> Overlay {
    Overlay {
        omit: plan.omit.clone(),
        replace: plan.replace.clone(),
        add: plan.add.clone(),
    }
}

/// Where the files the plan puts back land in the live share `share`: the
/// only existing files an in-place restore may rewrite.
pub fn recovered_paths(plan: &LastClean, share: &Path) -> BTreeSet<PathBuf> {
    let prefix = share.as_os_str().as_bytes();
    let replaced = plan.replace.keys().cloned();
    let added = plan
        .add
        .iter()
        .flat_map(|(dir, nodes)| nodes.iter().map(move |n| join(dir, n.name.as_bytes())));
    replaced
        .chain(added)
        .filter_map(|p| relative_below(&p, prefix))
        .map(|rel| share.join(rel))
        .collect()
}

/// Moves what `plan` leaves out and the live share `share` holds into the
/// quarantine directory `dir` (nothing in a dry run).
pub fn quarantine_left_out(
    share: &Path,
    dir: &Path,
    plan: &LastClean,
    dry_run: bool,
) -> Result<QuarantineReport, QuarantineError> {
    let prefix = share.as_os_str().as_bytes();
    let relative: Vec<PathBuf> = plan
        .left_out
        .keys()
        .filter_map(|p| relative_below(p, prefix))
        .collect();
    quarantine(share, dir, &relative, dry_run)
}

/// Where an in-place restore of `share` quarantines what the attack left,
/// by default: beside the share, named after it and the time, so it is on
/// the same file system (a move, not a copy) and never inside the share.
pub fn default_quarantine_dir(share: &Path, now: chrono::DateTime<chrono::Utc>) -> PathBuf {
    let mut name = share.as_os_str().to_owned();
    name.push(format!(
        ".reprise-quarantine-{}",
        now.format("%Y%m%dT%H%M%S")
    ));
    PathBuf::from(name)
}

/// `path` relative to `prefix` (both snapshot paths), if strictly below it.
pub fn relative_below(path: &[u8], prefix: &[u8]) -> Option<PathBuf> {
    let rest = path.strip_prefix(prefix)?.strip_prefix(b"/")?;
    (!rest.is_empty()).then(|| PathBuf::from(OsStr::from_bytes(rest)))
}

/// The counts of a last-clean restore below the restored directory: the
/// last line of its report, and its `--json` counterpart.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct LastCleanSummary {
    pub recovered: usize,
    /// In place: moved into the quarantine (to move, in a dry run); into a
    /// fresh target: left out.
    pub quarantined: usize,
    pub left_out: usize,
    pub encrypted_copies: usize,
    pub notes: usize,
    pub changed_versions: usize,
    pub unrecoverable: usize,
    pub changed_not_judged: usize,
    pub in_place: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine_dir: Option<String>,
}

/// Counts what `plan` (made for the whole snapshot) means below `base`,
/// the restored directory's snapshot path. In place, `quarantine` is the
/// report of the move, and only what it moved counts as quarantined.
pub fn summarise(
    plan: &LastClean,
    quarantine: Option<&QuarantineReport>,
    base: &[u8],
) -> LastCleanSummary {
    let in_scope =
        |path: &[u8]| base == b"/" || path == base || relative_below(path, base).is_some();
    let mut s = LastCleanSummary {
        recovered: plan
            .recovered
            .iter()
            .filter(|r| in_scope(r.path.as_bytes()))
            .count(),
        unrecoverable: plan
            .unrecoverable
            .iter()
            .filter(|u| in_scope(u.path.as_bytes()))
            .count(),
        changed_not_judged: plan
            .changed_not_judged
            .iter()
            .filter(|c| in_scope(c.path.as_bytes()))
            .count(),
        ..Default::default()
    };
    let kinds: Vec<LeftOut> = match quarantine {
        Some(q) => {
            let by_path = kinds_in_share(plan, base);
            s.in_place = true;
            s.quarantine_dir = Some(q.quarantine.clone());
            q.moved
                .iter()
                .filter_map(|m| by_path.get(&m.relative).copied())
                .collect()
        }
        None => plan
            .left_out
            .iter()
            .filter(|(p, _)| in_scope(p))
            .map(|(_, k)| *k)
            .collect(),
    };
    for k in &kinds {
        match k {
            LeftOut::Note => s.notes += 1,
            LeftOut::EncryptedCopy => s.encrypted_copies += 1,
            LeftOut::ChangedVersion => s.changed_versions += 1,
        }
    }
    if s.in_place {
        s.quarantined = kinds.len();
    } else {
        s.left_out = kinds.len();
    }
    s
}

/// What each left-out path is, by its path relative to the live share
/// `share` (in place, the share's path is the snapshot's).
pub fn kinds_in_share(plan: &LastClean, share: &[u8]) -> BTreeMap<PathBuf, LeftOut> {
    plan.left_out
        .iter()
        .filter_map(|(p, k)| Some((relative_below(p, share)?, *k)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise_format::{Node, NodeKind};

    fn file(name: &str) -> Node {
        Node::new(name.as_bytes().to_vec(), NodeKind::File)
    }

    fn plan() -> LastClean {
        let mut plan = LastClean::default();
        plan.replace
            .insert(b"/srv/partage/a.ods".to_vec(), file("a.ods"));
        plan.replace
            .insert(b"/srv/other/b.ods".to_vec(), file("b.ods"));
        plan.add
            .insert(b"/srv/partage/sub".to_vec(), vec![file("c.ods")]);
        plan.omit.insert(b"/srv/partage/LISEZ-MOI.txt".to_vec());
        for (path, kind) in [
            (&b"/srv/partage/LISEZ-MOI.txt"[..], LeftOut::Note),
            (b"/srv/partage/a.ods", LeftOut::ChangedVersion),
            (b"/srv/other/x.locked", LeftOut::EncryptedCopy),
        ] {
            plan.left_out.insert(path.to_vec(), kind);
        }
        plan
    }

    #[test]
    fn only_paths_strictly_below_the_prefix_are_relative() {
        assert_eq!(
            relative_below(b"/srv/partage/a", b"/srv/partage"),
            Some("a".into())
        );
        assert_eq!(relative_below(b"/srv/partage", b"/srv/partage"), None);
        assert_eq!(relative_below(b"/srv/partage/", b"/srv/partage"), None);
        assert_eq!(relative_below(b"/srv/partagees/a", b"/srv/partage"), None);
        assert_eq!(relative_below(b"/srv/a", b"/srv/partage"), None);
    }

    #[test]
    fn an_in_place_restore_rewrites_only_what_the_plan_puts_back_in_the_share() {
        let share = Path::new("/srv/partage");
        let paths: Vec<PathBuf> = recovered_paths(&plan(), share).into_iter().collect();
        assert_eq!(
            paths,
            [
                PathBuf::from("/srv/partage/a.ods"),
                PathBuf::from("/srv/partage/sub/c.ods")
            ]
        );
    }

    #[test]
    fn the_overlay_is_the_plan() {
        let overlay = overlay_of(&plan());
        assert_eq!(overlay.omit.len(), 1);
        assert_eq!(overlay.replace.len(), 2);
        assert_eq!(overlay.add[&b"/srv/partage/sub".to_vec()].len(), 1);
    }

    #[test]
    fn what_is_left_out_of_the_share_moves_to_the_quarantine() {
        let dir = tempfile::tempdir().unwrap();
        let share = dir.path().join("srv/partage");
        std::fs::create_dir_all(&share).unwrap();
        std::fs::write(share.join("LISEZ-MOI.txt"), "pay").unwrap();
        std::fs::write(share.join("a.ods"), "encrypted").unwrap();
        let mut plan = LastClean::default();
        let prefix = share.as_os_str().as_bytes();
        for name in ["LISEZ-MOI.txt", "a.ods", "gone.ods"] {
            plan.left_out
                .insert(join(prefix, name.as_bytes()), LeftOut::Note);
        }
        let quarantine_dir = dir.path().join("quarantine");
        let report = quarantine_left_out(&share, &quarantine_dir, &plan, false).unwrap();
        assert_eq!(report.moved.len(), 2, "{report:?}");
        assert!(quarantine_dir.join("a.ods").exists());
        assert!(!share.join("LISEZ-MOI.txt").exists());
    }

    #[test]
    fn the_summary_counts_only_what_is_below_the_restored_directory() {
        let plan = plan();
        let whole = summarise(&plan, None, b"/");
        assert_eq!(
            (whole.left_out, whole.notes, whole.encrypted_copies),
            (3, 1, 1)
        );
        assert_eq!(whole.changed_versions, 1);
        let share = summarise(&plan, None, b"/srv/partage");
        assert_eq!(
            (share.left_out, share.notes, share.encrypted_copies),
            (2, 1, 0)
        );
        assert!(!share.in_place && share.quarantine_dir.is_none());
        let kinds = kinds_in_share(&plan, b"/srv/partage");
        assert_eq!(
            kinds.get(Path::new("a.ods")),
            Some(&LeftOut::ChangedVersion)
        );
        assert_eq!(kinds.len(), 2);
    }
}
