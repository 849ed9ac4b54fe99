//! Reading and writing marks (prune marks, damaged-copy lists) and applying
//! them to the index, so that every writer avoids what they name.

use crate::{keys, RepoError, Repository, Result};
use chrono::Utc;
use reprise_format::{CheckRecord, IncidentRecord, Mark, MarkBody, PackId, OBJECT_VERSION};
use reprise_storage::ObjectKind;
use std::time::SystemTime;

/// A mark as stored: its object name and when the storage received it.
#[derive(Debug, Clone)]
pub struct StoredMark {
    pub name: String,
    /// The storage's own time for the object; `None` where it keeps none.
    pub stored: Option<SystemTime>,
    pub mark: Mark,
}

impl StoredMark {
    /// When the storage received the mark, or its writer's clock where the
    /// storage keeps no time.
    pub fn received(&self) -> chrono::DateTime<Utc> {
        self.stored
            .map(chrono::DateTime::<Utc>::from)
            .unwrap_or(self.mark.time)
    }
}

/// Every readable mark, and the names of those that could not be read.
#[derive(Debug, Default)]
pub struct MarkList {
    pub marks: Vec<StoredMark>,
    pub unreadable: Vec<(String, String)>,
}

impl MarkList {
    /// Every pack a prune mark names.
    pub fn pruned_packs(&self) -> impl Iterator<Item = PackId> + '_ {
        self.marks
            .iter()
            .flat_map(|m| match &m.mark.body {
                MarkBody::Prune { packs } => packs.as_slice(),
                MarkBody::Damaged { .. }
                | MarkBody::Started { .. }
                | MarkBody::Ended { .. }
                | MarkBody::Incident(_)
                | MarkBody::Drill { .. }
                | MarkBody::Check(_) => &[],
            })
            .copied()
    }
}

impl MarkList {
    /// The incident records, in the order the storage received them (by
    /// the writer's clock where the storage keeps no time), events of the
    /// same instant in their natural order.
    pub fn incident_records(&self) -> Vec<StoredIncident> {
        let mut records: Vec<StoredIncident> = self
            .marks
            .iter()
            .filter_map(|m| match &m.mark.body {
                MarkBody::Incident(record) => Some(StoredIncident {
                    stored: m.received(),
                    hostname: m.mark.hostname.clone(),
                    record: record.clone(),
                }),
                _ => None,
            })
            .collect();
        records.sort_by_key(|r| (r.stored, r.record.event.rank()));
        records
    }
}

impl MarkList {
    /// The drill records, oldest first by when the storage received them
    /// (the writer's clock where the storage keeps no time).
    pub fn drill_records(&self) -> Vec<StoredDrill> {
        let mut drills: Vec<StoredDrill> = self
            .marks
            .iter()
            .filter_map(|m| match &m.mark.body {
                MarkBody::Drill { drill, report } => Some(StoredDrill {
                    stored: m.received(),
                    hostname: m.mark.hostname.clone(),
                    drill: drill.clone(),
                    report: report.clone(),
                }),
                _ => None,
            })
            .collect();
        drills.sort_by(|a, b| (a.stored, &a.drill).cmp(&(b.stored, &b.drill)));
        drills
    }
}

impl MarkList {
    /// The check records, oldest first by when the storage received them
    /// (the writer's clock where the storage keeps no time).
    pub fn check_records(&self) -> Vec<StoredCheck> {
        let mut checks: Vec<(chrono::DateTime<Utc>, StoredCheck)> = self
            .marks
            .iter()
            .filter_map(|m| match &m.mark.body {
                MarkBody::Check(record) => Some((
                    m.mark.time,
                    StoredCheck {
                        stored: m.received(),
                        hostname: m.mark.hostname.clone(),
                        record: record.clone(),
                    },
                )),
                _ => None,
            })
            .collect();
        // Checks received in the same instant of the storage's clock
        // (one-second file times) keep the order their writers gave.
        checks.sort_by_key(|(written, c)| (c.stored, *written));
        checks.into_iter().map(|(_, c)| c).collect()
    }
}

/// A check's record with when the storage received it and the host that
/// ran the check.
#[derive(Debug, Clone)]
pub struct StoredCheck {
    pub stored: chrono::DateTime<Utc>,
    pub hostname: String,
    pub record: CheckRecord,
}

/// A drill's record with when the storage received it and the host that
/// ran the drill.
#[derive(Debug, Clone)]
pub struct StoredDrill {
    pub stored: chrono::DateTime<Utc>,
    pub hostname: String,
    pub drill: String,
    pub report: serde_json::Value,
}

/// An incident record with when the storage received it and the host that
/// wrote it.
#[derive(Debug, Clone)]
pub struct StoredIncident {
    pub stored: chrono::DateTime<Utc>,
    pub hostname: String,
    pub record: IncidentRecord,
}

impl Repository {
    /// Writes a drill's record.
    pub fn save_drill_record(&self, drill: &str, report: serde_json::Value) -> Result<String> {
        self.save_mark(MarkBody::Drill {
            drill: drill.to_owned(),
            report,
        })
    }

    /// Writes a check's record.
    pub fn save_check_record(&self, record: CheckRecord) -> Result<String> {
        self.save_mark(MarkBody::Check(record))
    }

    /// Writes an incident record.
    pub fn save_incident_record(&self, record: IncidentRecord) -> Result<String> {
        self.save_mark(MarkBody::Incident(record))
    }

    /// Reads every mark, in parallel.
    pub fn list_marks(&self) -> Result<MarkList> {
        let names = self.backend().list(ObjectKind::Mark)?;
        let read = self.read_sealed(ObjectKind::Mark, &names, |b| {
            Mark::open(self.key(), b).map_err(|e| e.to_string())
        });
        let mut list = MarkList::default();
        for (o, r) in read {
            match r {
                Ok(mark) => list.marks.push(StoredMark {
                    name: o.name,
                    stored: o.stored,
                    mark,
                }),
                Err(e) => list.unreadable.push((o.name, e)),
            }
        }
        Ok(list)
    }

    /// Writes a new mark; returns its name.
    pub fn save_mark(&self, body: MarkBody) -> Result<String> {
        let mark = Mark {
            version: OBJECT_VERSION,
            time: Utc::now(),
            hostname: keys::hostname(),
            body,
        };
        let sealed = mark
            .seal(self.key())
            .map_err(|e| RepoError::format("mark", e))?;
        let name = hex::encode(reprise_crypto::storage_hash(&sealed));
        self.backend()
            .write_once(ObjectKind::Mark, &name, &sealed)?;
        Ok(name)
    }

    /// Writes a started mark for a backup of `paths`; returns the session id
    /// its snapshot must carry.
    pub fn announce_start(&self, paths: &[String]) -> Result<String> {
        self.announce_backup(paths, None)
    }

    /// [`Self::announce_start`] with the paths also byte-exact, for paths
    /// that are not UTF-8 (see `Snapshot::paths_bytes`).
    pub fn announce_backup(
        &self,
        paths: &[String],
        paths_bytes: Option<Vec<reprise_format::RawBytes>>,
    ) -> Result<String> {
        let mut session = [0u8; 16];
        reprise_crypto::fill_random(&mut session)?;
        let session = hex::encode(session);
        self.save_mark(MarkBody::Started {
            session: session.clone(),
            paths: paths.to_vec(),
            paths_bytes,
        })?;
        Ok(session)
    }

    /// Writes an ended mark: the backup of `session` stopped without a
    /// snapshot, so prune need not wait for it.
    pub fn announce_end(&self, session: &str) -> Result<String> {
        self.save_mark(MarkBody::Ended {
            session: session.to_string(),
        })
    }

    /// Makes the loaded index avoid what the marks name.
    pub(crate) fn apply_marks(&self, marks: &MarkList) {
        let mut index = self.index_mut();
        for m in &marks.marks {
            match &m.mark.body {
                MarkBody::Prune { packs } => packs.iter().for_each(|p| index.shun_pack(p)),
                MarkBody::Damaged { blobs } => {
                    blobs.iter().for_each(|c| index.shun_copy(&c.blob, &c.pack))
                }
                MarkBody::Started { .. }
                | MarkBody::Ended { .. }
                | MarkBody::Incident(_)
                | MarkBody::Drill { .. }
                | MarkBody::Check(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise_format::IncidentEvent;

    #[test]
    fn a_drill_record_reads_back_with_its_report_and_is_shunned_by_nothing() {
        let (_dir, repo) = crate::browse::testing::fresh_repo();
        let report = serde_json::json!({ "ok": false, "services": [ { "name": "paie" } ] });
        repo.save_drill_record("d-1", report.clone()).unwrap();
        repo.announce_start(&["/srv".to_owned()]).unwrap();
        let marks = repo.list_marks().unwrap();
        assert!(marks.unreadable.is_empty());
        let drills = marks.drill_records();
        assert_eq!(drills.len(), 1);
        assert_eq!(drills[0].drill, "d-1");
        assert_eq!(drills[0].report, report);
        assert_eq!(marks.pruned_packs().count(), 0);
    }

    fn incident_mark(event: IncidentEvent, stored: SystemTime) -> StoredMark {
        StoredMark {
            name: format!("{event:?}"),
            stored: Some(stored),
            mark: Mark {
                version: OBJECT_VERSION,
                time: Utc::now(),
                hostname: "srv".into(),
                body: MarkBody::Incident(IncidentRecord {
                    incident: "aa".into(),
                    event,
                    source_host: "srv".into(),
                    paths: vec!["/srv/partage".into()],
                    paths_bytes: None,
                    snapshot: None,
                    last_clean: None,
                    files: vec![],
                    reason: String::new(),
                }),
            },
        }
    }

    /// S3 keeps times to the second: records of one instant come in the
    /// order an incident lives, whatever order the listing gave.
    #[test]
    fn incident_records_of_one_instant_keep_the_order_of_events() {
        let second = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let list = MarkList {
            marks: vec![
                incident_mark(IncidentEvent::Closed, second),
                incident_mark(IncidentEvent::Wave, second),
                incident_mark(IncidentEvent::Opened, second),
            ],
            unreadable: vec![],
        };
        let events: Vec<IncidentEvent> = list
            .incident_records()
            .iter()
            .map(|r| r.record.event)
            .collect();
        assert_eq!(
            events,
            [
                IncidentEvent::Opened,
                IncidentEvent::Wave,
                IncidentEvent::Closed
            ]
        );
    }
}
