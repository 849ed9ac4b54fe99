//! Incidents: an attack stays open after the backup that saw it.
//!
//! A backup whose verdict is `attack` opens an incident for its source
//! (host and paths), recorded in the repository as write-once marks
//! (`reprise_format::incident`). While it is open, every backup of the
//! source is also compared with the last clean snapshot before the attack:
//! as long as encrypted files or ransom notes remain, the verdict stays
//! `attack`, whatever changed since the previous backup. More files
//! encrypted meanwhile are a second wave, added to the incident. The
//! incident closes by itself when a backup finds nothing left encrypted,
//! or when an operator resolves it.
//!
//! Retention reads incidents too ([`retention_holds`]): the last clean
//! snapshot before an incident, and the newest clean version of every file
//! it flagged, are kept while it is open and for a while after it closed.

use crate::analysis::{Flagged, History, Report, Verdict};
use crate::judge::Reason;
use crate::{analyze_snapshot, earlier_snapshots, last_clean};
use chrono::{DateTime, Duration, Utc};
use reprise_format::{IncidentEvent, IncidentFile, IncidentRecord, IncidentState, RawBytes};
use reprise_format::{Snapshot, SnapshotId};
use reprise_repo::{RepoError, Repository, Result, SnapshotList, StoredIncident};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// How long after it closed an incident still holds its clean copies, by
/// default (`forget --keep-incident-days`).
pub const KEEP_INCIDENT_DAYS: u32 = 90;

/// An incident, folded from its records.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub id: String,
    pub hostname: String,
    pub paths: Vec<String>,
    #[serde(skip)]
    pub source_paths: Vec<Vec<u8>>,
    /// When the storage received the record that opened it.
    pub opened: DateTime<Utc>,
    /// The snapshot whose backup saw the attack (or that an operator
    /// confirmed).
    pub opened_by: Option<SnapshotId>,
    /// The newest clean snapshot of the source before the attack.
    pub last_clean: Option<SnapshotId>,
    /// The files the attack left, every wave included.
    pub files: Vec<IncidentFileView>,
    pub waves: Vec<Wave>,
    pub closed: Option<Closure>,
}

/// A flagged file of an incident, for display.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentFileView {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced: Option<String>,
    pub note: bool,
    #[serde(skip)]
    pub path_bytes: Vec<u8>,
}

/// One record that added files to the incident.
#[derive(Debug, Clone, Serialize)]
pub struct Wave {
    pub at: DateTime<Utc>,
    pub snapshot: Option<SnapshotId>,
    pub files: usize,
}

/// How an incident ended.
#[derive(Debug, Clone, Serialize)]
pub struct Closure {
    /// When the storage received the closing record.
    pub at: DateTime<Utc>,
    /// `backup` (nothing left encrypted) or `operator`.
    pub by: String,
    /// The host that wrote the closing record.
    pub host: String,
    pub snapshot: Option<SnapshotId>,
    pub reason: String,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    /// Whether the incident concerns the source of `snapshot`.
    pub fn is_of(&self, snapshot: &Snapshot) -> bool {
        snapshot.is_of(&self.hostname, &self.source_paths)
    }

    /// Whether it still holds its clean copies: open, or closed less than
    /// `keep_days` ago (by the storage's time of the closing record, which
    /// a writer cannot date in the past).
    pub fn holds_copies(&self, keep_days: u32, now: DateTime<Utc>) -> bool {
        match &self.closed {
            None => true,
            Some(c) => c.at + Duration::days(i64::from(keep_days)) > now,
        }
    }

    /// Encrypted files (not notes) the incident flagged.
    pub fn encrypted_files(&self) -> impl Iterator<Item = &IncidentFileView> {
        self.files.iter().filter(|f| !f.note)
    }

    /// "open since 2026-12-03 02:14 UTC" or "closed 2026-12-04 02:10 UTC".
    pub fn status_phrase(&self) -> String {
        match &self.closed {
            None => format!("open since {}", self.opened.format("%Y-%m-%d %H:%M UTC")),
            Some(c) => format!("closed {} by {}", c.at.format("%Y-%m-%d %H:%M UTC"), c.by),
        }
    }
}

fn view(f: &IncidentFile) -> IncidentFileView {
    IncidentFileView {
        path: f.path.display(),
        replaced: f.replaced.as_ref().map(RawBytes::display),
        note: f.note,
        path_bytes: f.path.0.clone(),
    }
}

/// Folds records (oldest first) into incidents, oldest first. Records for
/// an unknown incident, and records after its closure, are ignored: a
/// second attack after a closure opens a new incident.
pub fn fold(records: &[StoredIncident]) -> Vec<Incident> {
    let mut incidents: Vec<Incident> = Vec::new();
    for stored in records {
        let r = &stored.record;
        let existing = incidents.iter_mut().find(|i| i.id == r.incident);
        match (r.event, existing) {
            (IncidentEvent::Opened, None) => incidents.push(opened(stored)),
            (_, Some(i)) if i.closed.is_some() => {}
            (IncidentEvent::Wave, Some(i)) => add_wave(i, stored),
            (IncidentEvent::Closed | IncidentEvent::Resolved, Some(i)) => {
                i.closed = Some(Closure {
                    at: stored.stored,
                    by: if r.event == IncidentEvent::Closed {
                        "backup".into()
                    } else {
                        "operator".into()
                    },
                    host: stored.hostname.clone(),
                    snapshot: r.snapshot,
                    reason: r.reason.clone(),
                })
            }
            _ => {}
        }
    }
    incidents
}

fn opened(stored: &StoredIncident) -> Incident {
    let r = &stored.record;
    Incident {
        id: r.incident.clone(),
        hostname: r.source_host.clone(),
        paths: r.paths.clone(),
        source_paths: reprise_format::snapshot::source_paths(&r.paths, r.paths_bytes.as_deref()),
        opened: stored.stored,
        opened_by: r.snapshot,
        last_clean: r.last_clean,
        files: r.files.iter().map(view).collect(),
        waves: vec![Wave {
            at: stored.stored,
            snapshot: r.snapshot,
            files: r.files.len(),
        }],
        closed: None,
    }
}

fn add_wave(incident: &mut Incident, stored: &StoredIncident) {
    let known: HashSet<Vec<u8>> = incident
        .files
        .iter()
        .map(|f| f.path_bytes.clone())
        .collect();
    let new: Vec<IncidentFileView> = stored
        .record
        .files
        .iter()
        .filter(|f| !known.contains(&f.path.0))
        .map(view)
        .collect();
    incident.waves.push(Wave {
        at: stored.stored,
        snapshot: stored.record.snapshot,
        files: new.len(),
    });
    incident.files.extend(new);
}

/// Incidents of the repository, from the records read with its index.
pub fn loaded(repo: &Repository) -> Vec<Incident> {
    fold(&repo.loaded_incident_records())
}

/// The first 8 characters of an incident id, as lists show it. Ids come
/// from the repository, which may be hostile: never cut inside a character.
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Finds an incident by id or unique prefix.
pub fn find<'a>(incidents: &'a [Incident], prefix: &str) -> Option<&'a Incident> {
    let mut matching = incidents.iter().filter(|i| i.id.starts_with(prefix));
    let first = matching.next()?;
    matching.next().is_none().then_some(first)
}

/// A new incident id: 16 random hex digits.
pub fn new_id() -> Result<String> {
    let n = reprise_crypto::random_u64().map_err(RepoError::Crypto)?;
    Ok(format!("{n:016x}"))
}

/// The newest snapshot of `snapshot`'s source, older than `before`, whose
/// backup judged it clean.
pub fn last_clean_before<'a>(
    list: &'a SnapshotList,
    snapshot: &Snapshot,
    before: DateTime<Utc>,
) -> Option<&'a (SnapshotId, Snapshot)> {
    earlier_snapshots(list, snapshot)
        .into_iter()
        .filter(|(_, s)| s.time < before)
        .find(|(_, s)| s.detection.as_ref().is_some_and(|d| d.verdict == "clean"))
}

/// The record template for `snapshot`'s source.
fn record(id: &str, event: IncidentEvent, snapshot: &Snapshot) -> IncidentRecord {
    IncidentRecord {
        incident: id.to_string(),
        event,
        source_host: snapshot.hostname.clone(),
        paths: snapshot.paths.clone(),
        paths_bytes: snapshot.paths_bytes.clone(),
        snapshot: None,
        last_clean: None,
        files: Vec::new(),
        reason: String::new(),
    }
}

fn files_of<'a>(flagged: impl Iterator<Item = &'a Flagged>) -> Vec<IncidentFile> {
    flagged
        .map(|f| IncidentFile {
            path: RawBytes(f.path_bytes.clone()),
            replaced: f.replaced_bytes.clone().map(RawBytes),
            note: f.reason == Reason::RansomNote,
        })
        .collect()
}

/// What a backup did to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// This backup saw the attack and opened the incident.
    Opened,
    /// The incident stays open; nothing new was encrypted.
    StillOpen,
    /// More files were encrypted: a second wave, added to the incident.
    Wave,
    /// Nothing is left encrypted: the backup closed the incident.
    Closed,
}

/// An incident as a backup found it, for its report and alert.
#[derive(Debug, Clone, Serialize)]
pub struct Followed {
    pub id: String,
    pub step: Step,
    pub opened: DateTime<Utc>,
    /// The last clean snapshot compared with, and its time.
    pub last_clean: Option<SnapshotId>,
    pub last_clean_time: Option<DateTime<Utc>>,
    pub still_encrypted: u64,
    pub notes: u64,
    pub restored: u64,
    /// The record to write once the snapshot's id is known.
    #[serde(skip)]
    record: Option<IncidentRecord>,
}

impl Followed {
    /// What the snapshot stores about the incident.
    pub fn state(&self) -> IncidentState {
        IncidentState {
            id: self.id.clone(),
            still_encrypted: self.still_encrypted,
            notes: self.notes,
            restored: self.restored,
            closed: self.step == Step::Closed,
        }
    }

    /// The incident record this backup writes, naming its snapshot.
    pub fn record_for(&self, snapshot: SnapshotId) -> Option<IncidentRecord> {
        self.record.clone().map(|mut r| {
            r.snapshot = Some(snapshot);
            r
        })
    }

    /// "incident 3fa2c1d0 open since …: 400 encrypted files and 20 ransom
    /// notes still present, 0 restored".
    pub fn line(&self) -> String {
        let short = short_id(&self.id);
        let since = self.opened.format("%Y-%m-%d %H:%M UTC");
        match self.step {
            Step::Closed => format!(
                "incident {short} (open since {since}) closed: no flagged file is left encrypted, {} restored",
                self.restored
            ),
            _ => format!(
                "incident {short} open since {since}: {} encrypted file(s) and {} ransom note(s) still present, {} restored",
                self.still_encrypted, self.notes, self.restored
            ),
        }
    }
}

/// Weighs a new backup's analysis against the incidents of its source:
/// opens one on an attack, keeps an open one open (and the verdict
/// `attack`) while anything is left encrypted compared with the last clean
/// snapshot, adds a second wave, or closes it. Changes `report` in place.
pub fn follow(
    repo: &Repository,
    list: &SnapshotList,
    incidents: &[Incident],
    snapshot: &Snapshot,
    report: &mut Report,
) -> Result<Option<Followed>> {
    let open = incidents
        .iter()
        .rev()
        .find(|i| i.is_open() && i.is_of(snapshot));
    match open {
        None if report.verdict == Verdict::Attack => {
            open_incident(list, snapshot, report).map(Some)
        }
        None => Ok(None),
        Some(incident) => continue_incident(repo, list, incident, snapshot, report).map(Some),
    }
}

fn open_incident(list: &SnapshotList, snapshot: &Snapshot, report: &Report) -> Result<Followed> {
    let id = new_id()?;
    let clean = last_clean_before(list, snapshot, snapshot.time);
    let mut record = record(&id, IncidentEvent::Opened, snapshot);
    record.last_clean = clean.map(|(cid, _)| *cid);
    record.files = files_of(report.flagged.iter());
    let notes = report.ransom_notes().count() as u64;
    Ok(Followed {
        id,
        step: Step::Opened,
        opened: Utc::now(),
        last_clean: clean.map(|(cid, _)| *cid),
        last_clean_time: clean.map(|(_, s)| s.time),
        still_encrypted: report.flagged.len() as u64 - notes,
        notes,
        restored: 0,
        record: Some(record),
    })
}

/// The snapshot an open incident compares with: its last clean one while it
/// exists, else the newest clean one before the incident opened.
fn reference<'a>(
    list: &'a SnapshotList,
    incident: &Incident,
    snapshot: &Snapshot,
) -> Option<&'a (SnapshotId, Snapshot)> {
    incident
        .last_clean
        .and_then(|id| list.snapshots.iter().find(|(i, _)| *i == id))
        .or_else(|| {
            let before = incident
                .opened_by
                .and_then(|id| list.snapshots.iter().find(|(i, _)| *i == id))
                .map_or(incident.opened, |(_, s)| s.time);
            last_clean_before(list, snapshot, before)
        })
}

fn continue_incident(
    repo: &Repository,
    list: &SnapshotList,
    incident: &Incident,
    snapshot: &Snapshot,
    report: &mut Report,
) -> Result<Followed> {
    let clean = reference(list, incident, snapshot);
    let since = analyze_snapshot(repo, snapshot, clean.map(|(_, s)| s), &History::default())?;
    // What is left: what the comparison with the last clean snapshot flags,
    // and the incident's own files still there (with no clean snapshot to
    // compare with, the comparison alone would miss them).
    // By path, only the files whose path says what they are: notes and
    // renamed copies. A file encrypted in place and restored in place is
    // back at the same path, clean: the comparison above judges it.
    let by_path: Vec<&IncidentFileView> = incident
        .files
        .iter()
        .filter(|f| f.note || f.replaced.is_some())
        .collect();
    let present = still_present(repo, &snapshot.tree, &by_path)?;
    let mut encrypted: HashSet<&[u8]> =
        since.encrypted().map(|f| f.path_bytes.as_slice()).collect();
    let mut notes: HashSet<&[u8]> = since
        .ransom_notes()
        .map(|f| f.path_bytes.as_slice())
        .collect();
    for f in by_path.iter().filter(|f| present.contains(&f.path_bytes)) {
        if f.note {
            notes.insert(&f.path_bytes);
        } else {
            encrypted.insert(&f.path_bytes);
        }
    }
    let restored = incident
        .encrypted_files()
        .filter(|f| !encrypted.contains(f.path_bytes.as_slice()))
        .count() as u64;
    let (still, notes_left) = (encrypted.len() as u64, notes.len() as u64);
    let known: HashSet<&[u8]> = incident
        .files
        .iter()
        .map(|f| f.path_bytes.as_slice())
        .collect();
    let new: Vec<&Flagged> = report
        .flagged
        .iter()
        .filter(|f| !known.contains(f.path_bytes.as_slice()))
        .collect();
    let (step, record) = if !new.is_empty() {
        let mut r = record(&incident.id, IncidentEvent::Wave, snapshot);
        r.files = files_of(new.into_iter());
        (Step::Wave, Some(r))
    } else if still == 0 && notes_left == 0 && report.verdict != Verdict::Attack {
        let mut r = record(&incident.id, IncidentEvent::Closed, snapshot);
        r.reason = "a backup found no flagged file left encrypted".into();
        (Step::Closed, Some(r))
    } else {
        (Step::StillOpen, None)
    };
    let followed = Followed {
        id: incident.id.clone(),
        step,
        opened: incident.opened,
        last_clean: clean.map(|(id, _)| *id),
        last_clean_time: clean.map(|(_, s)| s.time),
        still_encrypted: still,
        notes: notes_left,
        restored,
        record,
    };
    if step != Step::Closed {
        keep_the_alarm(report, &since, &followed);
    } else {
        report.evidence.insert(0, followed.line());
    }
    Ok(followed)
}

/// The incident's files still present in `tree`, by path: each directory
/// holding one is resolved once.
fn still_present(
    repo: &Repository,
    tree: &reprise_format::BlobId,
    files: &[&IncidentFileView],
) -> Result<HashSet<Vec<u8>>> {
    let mut by_dir: BTreeMap<&[u8], Vec<&[u8]>> = BTreeMap::new();
    for f in files {
        let (dir, name) = crate::clean::split(&f.path_bytes);
        by_dir.entry(dir).or_default().push(name);
    }
    let mut present = HashSet::new();
    for (dir, names) in by_dir {
        let Some(nodes) = dir_nodes(repo, tree, dir)? else {
            continue;
        };
        let here: HashSet<&[u8]> = nodes.iter().map(|n| n.name.as_bytes()).collect();
        for name in names.into_iter().filter(|n| here.contains(n)) {
            present.insert(reprise_repo::walk::join(dir, name));
        }
    }
    Ok(present)
}

/// The entries of directory `dir` of `tree`, or `None` if it is not there.
fn dir_nodes(
    repo: &Repository,
    tree: &reprise_format::BlobId,
    dir: &[u8],
) -> Result<Option<Vec<reprise_format::Node>>> {
    if reprise_repo::walk::components(dir).is_empty() {
        return Ok(Some(repo.load_tree(tree)?.nodes));
    }
    match reprise_repo::walk::resolve(repo, tree, dir) {
        Ok(Some(node)) => match node.subtree {
            Some(sub) if node.kind == reprise_format::NodeKind::Dir => {
                Ok(Some(repo.load_tree(&sub)?.nodes))
            }
            _ => Ok(None),
        },
        Ok(None) | Err(RepoError::PathNotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// While an incident is open the verdict stays `attack`: the encrypted
/// files are still there, whatever changed since the previous backup.
fn keep_the_alarm(report: &mut Report, since: &Report, followed: &Followed) {
    let line = followed.line();
    if report.verdict != Verdict::Attack {
        report.summary = format!(
            "RANSOMWARE INCIDENT STILL OPEN: {line}; nothing more was encrypted since the previous backup."
        );
    } else {
        report.summary = format!("{} (second wave of {line})", report.summary);
    }
    report.verdict = Verdict::Attack;
    report.score = report.score.max(since.score).max(50.0);
    let reference = match (followed.last_clean, followed.last_clean_time) {
        (Some(id), Some(t)) => format!(
            "compared with the last clean snapshot {} of {}",
            id.short(),
            t.format("%Y-%m-%d %H:%M UTC")
        ),
        _ => "no clean snapshot of this source before the attack: files judged on their own".into(),
    };
    report.evidence.insert(0, format!("{line} ({reference})"));
}

/// Why forget must keep snapshots that incidents hold: the last clean
/// snapshot before every incident that is open or closed less than
/// `keep_days` ago, and the snapshots holding the newest clean version of
/// every file such an incident flagged (those `restore --last-clean` of the
/// incident's newest snapshot draws from).
pub fn retention_holds(
    repo: &Repository,
    list: &SnapshotList,
    incidents: &[Incident],
    keep_days: u32,
    now: DateTime<Utc>,
) -> Result<BTreeMap<SnapshotId, Vec<String>>> {
    let mut holds: BTreeMap<SnapshotId, Vec<String>> = BTreeMap::new();
    let mut planned: HashSet<SnapshotId> = HashSet::new();
    for incident in incidents.iter().filter(|i| i.holds_copies(keep_days, now)) {
        let short = short_id(&incident.id);
        let Some((newest_id, newest)) = newest_during(list, incident) else {
            continue;
        };
        if let Some((id, _)) = reference(list, incident, newest) {
            add_hold(
                &mut holds,
                *id,
                format!("last clean snapshot before incident {short}"),
            );
        }
        let why = format!("clean versions of files incident {short} flagged");
        hold_clean_versions(repo, list, (newest_id, newest), &why, &mut holds)?;
        planned.insert(*newest_id);
    }
    // A slow drip that never became an attack opened no incident, but its
    // files' clean versions matter as much: the newest snapshot of every
    // source with a flagged snapshot keeps what its last-clean restore needs.
    for (id, newest) in newest_of_flagged_sources(list) {
        if planned.insert(*id) {
            let why = "clean versions of files detection flagged";
            hold_clean_versions(repo, list, (id, newest), why, &mut holds)?;
        }
    }
    Ok(holds)
}

fn add_hold(holds: &mut BTreeMap<SnapshotId, Vec<String>>, id: SnapshotId, reason: String) {
    let reasons = holds.entry(id).or_default();
    if !reasons.contains(&reason) {
        reasons.push(reason);
    }
}

/// Holds every snapshot that `restore --last-clean` of `newest` draws from.
fn hold_clean_versions(
    repo: &Repository,
    list: &SnapshotList,
    (newest_id, newest): (&SnapshotId, &Snapshot),
    why: &str,
    holds: &mut BTreeMap<SnapshotId, Vec<String>>,
) -> Result<()> {
    let plan = last_clean(repo, list, newest_id, newest)?;
    let sources: BTreeSet<&str> = plan
        .recovered
        .iter()
        .map(|r| r.from_snapshot.as_str())
        .collect();
    for (id, _) in list
        .snapshots
        .iter()
        .filter(|(id, s)| s.same_source(newest) && sources.contains(id.short().as_str()))
    {
        add_hold(holds, *id, why.to_string());
    }
    Ok(())
}

/// The newest snapshot of every source whose last [`crate::clean::MAX_DEPTH`]
/// snapshots include one that detection did not judge clean.
fn newest_of_flagged_sources(list: &SnapshotList) -> Vec<(&SnapshotId, &Snapshot)> {
    type Source<'a> = (&'a str, Vec<Vec<u8>>);
    let mut by_source: BTreeMap<Source, Vec<&(SnapshotId, Snapshot)>> = BTreeMap::new();
    for entry in &list.snapshots {
        by_source
            .entry((entry.1.hostname.as_str(), entry.1.source_paths()))
            .or_default()
            .push(entry);
    }
    by_source
        .into_values()
        .filter_map(|mut members| {
            members.sort_by_key(|(_, s)| std::cmp::Reverse(s.time));
            let flagged = members
                .iter()
                .take(crate::clean::MAX_DEPTH)
                .any(|(_, s)| s.detection.as_ref().is_some_and(|d| d.verdict != "clean"));
            let (id, newest) = members.first()?;
            flagged.then_some((id, newest))
        })
        .collect()
}

/// The newest snapshot of the incident's source taken while it was open
/// (the newest of all while it still is).
fn newest_during<'a>(
    list: &'a SnapshotList,
    incident: &Incident,
) -> Option<(&'a SnapshotId, &'a Snapshot)> {
    let until = incident.closed.as_ref().map(|c| c.at);
    let closing = |s: &Snapshot| {
        s.detection
            .as_ref()
            .and_then(|d| d.incident.as_ref())
            .is_some_and(|st| st.closed)
    };
    list.snapshots
        .iter()
        .filter(|(_, s)| incident.is_of(s) && !closing(s) && until.is_none_or(|t| s.time <= t))
        .max_by_key(|(_, s)| s.time)
        .map(|(id, s)| (id, s))
}

/// The record an operator writes to confirm a suspicious snapshot as an
/// attack: the files its analysis flagged, and the last clean snapshot
/// before it.
pub fn confirm(
    repo: &Repository,
    list: &SnapshotList,
    id: &SnapshotId,
    snapshot: &Snapshot,
    reason: &str,
) -> Result<IncidentRecord> {
    let earlier = earlier_snapshots(list, snapshot);
    let previous = earlier.first().map(|(_, s)| s);
    let report = analyze_snapshot(repo, snapshot, previous, &History::default())?;
    let mut r = record(&new_id()?, IncidentEvent::Opened, snapshot);
    r.snapshot = Some(*id);
    r.last_clean = last_clean_before(list, snapshot, snapshot.time).map(|(cid, _)| *cid);
    r.files = files_of(report.flagged.iter());
    r.reason = reason.to_string();
    Ok(r)
}

/// The record an operator writes to close an incident.
pub fn resolution(incident: &Incident, reason: &str) -> IncidentRecord {
    IncidentRecord {
        incident: incident.id.clone(),
        event: IncidentEvent::Resolved,
        source_host: incident.hostname.clone(),
        paths: incident.paths.clone(),
        paths_bytes: None,
        snapshot: None,
        last_clean: None,
        files: Vec::new(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise_format::BlobId;

    fn stored(minute: i64, record: IncidentRecord) -> StoredIncident {
        StoredIncident {
            stored: DateTime::<Utc>::from_timestamp(1_700_000_000 + minute * 60, 0).unwrap(),
            hostname: "srv".into(),
            record,
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            version: 1,
            time: Utc::now(),
            tree: BlobId::from_bytes([0; 32]),
            paths: vec!["/srv/partage".into()],
            hostname: "srv".into(),
            username: "root".into(),
            uid: 0,
            gid: 0,
            tags: vec![],
            parent: None,
            excludes: vec![],
            program_version: String::new(),
            summary: None,
            detection: None,
            original: None,
            session: None,
            paths_bytes: None,
        }
    }

    fn file(path: &str) -> IncidentFile {
        IncidentFile {
            path: RawBytes(path.as_bytes().to_vec()),
            replaced: None,
            note: false,
        }
    }

    #[test]
    fn short_ids_never_cut_inside_a_character() {
        assert_eq!(short_id("3fa2c1d05e6b7a81"), "3fa2c1d0");
        assert_eq!(short_id("abc"), "abc");
        // A hostile record's id with a character across byte 8.
        assert_eq!(short_id("abcdefgé"), "abcdefgé");
    }

    #[test]
    fn records_fold_into_incidents_with_waves_and_closures() {
        let s = snapshot();
        let mut open = record("aa", IncidentEvent::Opened, &s);
        open.files = vec![file("/srv/partage/a.pysa"), file("/srv/partage/b.pysa")];
        let mut wave = record("aa", IncidentEvent::Wave, &s);
        wave.files = vec![file("/srv/partage/b.pysa"), file("/srv/partage/c.pysa")];
        let close = resolution(&fold(&[stored(0, open.clone())])[0], "restored by hand");
        let late_wave = wave.clone();
        let stray = record("bb", IncidentEvent::Wave, &s);
        let all = fold(&[
            stored(0, open),
            stored(5, wave),
            stored(9, stray),
            stored(10, close),
            stored(20, late_wave),
        ]);
        assert_eq!(all.len(), 1, "a wave for an unknown incident opens nothing");
        let i = &all[0];
        assert_eq!(i.files.len(), 3, "the wave adds only the new file");
        assert_eq!(i.waves.len(), 2, "the wave after the closure is ignored");
        let closed = i.closed.as_ref().unwrap();
        assert_eq!(
            (closed.by.as_str(), closed.reason.as_str()),
            ("operator", "restored by hand")
        );
        assert!(i.is_of(&s));
        let day = Duration::days(1);
        assert!(i.holds_copies(90, closed.at + day * 89));
        assert!(!i.holds_copies(90, closed.at + day * 91));
        assert_eq!(find(&all, "a").map(|i| i.id.as_str()), Some("aa"));
        assert!(find(&all, "b").is_none());
    }
}
