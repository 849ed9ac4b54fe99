//! The repository's small objects that `check` verifies besides the data:
//! both copies of the config, every key file's structure, and every mark.

use crate::{CheckReport, Finding, Severity};
use reprise_repo::{ConfigState, IndexLoadReport, RepoError, Repository};

/// Reports a config copy that is unreadable, not authentic or different
/// from the one in use. A missing `config.copy` is not reported: only
/// repositories made since format revision 1.3 have one.
pub(crate) fn check_config(repo: &Repository, report: &mut CheckReport) {
    for copy in repo.config_copies() {
        let reason = match copy.state {
            ConfigState::Intact => continue,
            ConfigState::Missing if copy.name == "config.copy" => continue,
            ConfigState::Missing => "it is missing".to_string(),
            ConfigState::Damaged(reason) => reason,
        };
        report.findings.push(Finding {
            severity: Severity::Error,
            code: "config_damaged",
            object: copy.name.to_string(),
            message: format!(
                "{reason}; commands use the other, intact copy. In a local repository, copy the intact one over it (config and config.copy hold the same bytes)"
            ),
            affected: vec![],
        });
    }
}

/// Reports every key file no password can open. The repository was opened
/// with the given password, so at least one key file is intact.
pub(crate) fn check_keys(repo: &Repository, report: &mut CheckReport) -> Result<(), RepoError> {
    for key in repo.damaged_keys()? {
        report.findings.push(Finding {
            severity: Severity::Error,
            code: "key_damaged",
            object: format!("key {}", key.name),
            message: format!(
                "key file is damaged ({}): no password can open it; the other key files still open the repository. Remove it with `reprise key remove`, or restore it from a copy",
                key.reason
            ),
            affected: vec![],
        });
    }
    Ok(())
}

/// Reports every mark that could not be read. Readers skip them; but an
/// unreadable prune mark no longer keeps backups from reusing packs that
/// prune is about to delete, and garbage in `marks/` (which an append-only
/// token can upload) should be known.
pub(crate) fn check_marks(load: &IndexLoadReport, report: &mut CheckReport) {
    for (name, reason) in &load.unreadable_marks {
        report.findings.push(Finding {
            severity: Severity::Error,
            code: "mark_unreadable",
            object: format!("mark {name}"),
            message: format!(
                "mark is unreadable ({reason}) and ignored. If no client of this repository wrote it (garbage uploaded with an append token), delete it with credentials that may delete"
            ),
            affected: vec![],
        });
    }
}
