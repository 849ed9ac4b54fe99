//! The [`Backend`] contract as executable checks, which every backend's
//! tests run against a real instance of it: local directories, memory, a
//! `reprise serve` server, S3.
//!
//! The contract is the trait's documentation and FORMAT.md §2–3: objects of
//! six kinds in separate namespaces, named by the BLAKE3 of their bytes
//! (`config` aside); written once and never replaced; read whole, by range
//! (never fewer bytes than asked), or sized; listed with their size and
//! storage time; missing objects and invalid names reported as such. Where
//! backends legitimately differ the caller says what to expect
//! ([`Expectations`]): whether `remove` deletes or is refused (an
//! append-only token, a retention lock), and whether the storage keeps
//! object locks.
//!
//! [`run`] expects a location that is empty and not yet created, and leaves
//! objects in it. It returns the first [`Violation`] rather than panicking,
//! so that it can live in this library.

use crate::{Backend, LockPolicy, ObjectKind, StorageError, WriteOutcome, CONFIG_COPY_NAME};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

/// What the backend under test does where backends may differ.
#[derive(Debug, Clone, Copy)]
pub struct Expectations {
    pub removal: Removal,
    pub locks: Locks,
}

/// What `remove` does to an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// It deletes it (local, memory, S3 without locks, a server's admin
    /// token once retention is over).
    Deletes,
    /// [`StorageError::Refused`], and the object stays (an append-only token).
    Refused,
    /// [`StorageError::Locked`], and the object stays (S3 Object Lock, a
    /// server's retention period).
    Locked,
}

/// Whether the backend keeps S3-style object locks.
#[derive(Debug, Clone, Copy)]
pub enum Locks {
    /// `set_lock_policy(Some(..))` and `extend_lock` are
    /// [`StorageError::Unsupported`]; `lock_of` is always `None`.
    Unsupported,
    /// The suite sets this policy right after `create`: every object it
    /// writes must carry it, and locks only ever grow.
    Enforced(LockPolicy),
}

/// A broken promise: which property, and what the backend did instead.
#[derive(Debug, thiserror::Error)]
#[error("{location} breaks the Backend contract ({property}): {detail}")]
pub struct Violation {
    pub location: String,
    pub property: &'static str,
    pub detail: String,
}

type Checked<T = ()> = std::result::Result<T, Violation>;

/// Runs every property in turn on `backend`, a location that is empty and
/// not created yet; stops at the first violation.
pub fn run(backend: &dyn Backend, expect: &Expectations) -> Checked {
    let started = SystemTime::now();
    let c = |property| Check { backend, property };
    c("a new location is empty").new_location_is_empty(expect)?;
    let written = c("objects round-trip").objects_round_trip()?;
    c("a second write changes nothing").second_write_changes_nothing(&written)?;
    c("kinds are separate namespaces").kinds_are_separate(&written)?;
    c("listings name what was written").listings_match(&written, started)?;
    c("missing objects are not found").missing_objects_are_not_found()?;
    c("range reads are exact").range_reads_are_exact()?;
    c("invalid names are refused").invalid_names_are_refused()?;
    c("concurrent writes of one object agree").concurrent_writes_agree()?;
    c("remove").removal(expect.removal)?;
    c("object locks").locks(expect.locks, &written, started)?;
    c("create refuses an existing repository").create_refuses_a_repository()
}

/// The hex BLAKE3 of `data`: the name of every object but the config.
pub fn content_name(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// One object the suite wrote.
struct Written {
    kind: ObjectKind,
    name: String,
    data: Vec<u8>,
}

/// Distinct contents for the suite's objects: `tag` keeps them apart.
fn payload(tag: &str, len: usize) -> Vec<u8> {
    let seed = blake3::hash(tag.as_bytes());
    seed.as_bytes().iter().copied().cycle().take(len).collect()
}

/// Names the contract refuses for a content-named kind.
const INVALID_NAMES: [&str; 6] = ["", "../config", "ABCD", "ab/cd", "abcg", "x y"];

struct Check<'a> {
    backend: &'a dyn Backend,
    property: &'static str,
}

impl Check<'_> {
    fn fail(&self, detail: impl Into<String>) -> Violation {
        Violation {
            location: self.backend.location(),
            property: self.property,
            detail: detail.into(),
        }
    }

    fn ensure(&self, holds: bool, detail: impl FnOnce() -> String) -> Checked {
        if holds {
            Ok(())
        } else {
            Err(self.fail(detail()))
        }
    }

    fn ok<T>(&self, what: &str, result: crate::Result<T>) -> Checked<T> {
        result.map_err(|e| self.fail(format!("{what} failed: {e}")))
    }

    /// Writes `data` under its content name (or `name` for the config).
    fn write(&self, kind: ObjectKind, name: &str, data: &[u8]) -> Checked<Written> {
        let outcome = self.ok(
            &format!("write_once({kind} {name})"),
            self.backend.write_once(kind, name, data),
        )?;
        self.ensure(outcome == WriteOutcome::Created, || {
            format!("write_once of a new {kind} {name} said {outcome:?}")
        })?;
        Ok(Written {
            kind,
            name: name.to_string(),
            data: data.to_vec(),
        })
    }

    fn write_new(&self, kind: ObjectKind, tag: &str, len: usize) -> Checked<Written> {
        let data = payload(tag, len);
        self.write(kind, &content_name(&data), &data)
    }

    /// Reads `w` back every way the trait offers and compares.
    fn reads_back(&self, w: &Written) -> Checked {
        let (kind, name) = (w.kind, w.name.as_str());
        let read = self.ok(
            &format!("read({kind} {name})"),
            self.backend.read(kind, name),
        )?;
        self.ensure(read == w.data, || {
            format!(
                "read({kind} {name}) gave {} bytes other than the {} written",
                read.len(),
                w.data.len()
            )
        })?;
        // read_into clears the buffer first: leftovers would corrupt it.
        let mut buf = b"leftover bytes of an earlier read".to_vec();
        self.ok(
            &format!("read_into({kind} {name})"),
            self.backend.read_into(kind, name, &mut buf),
        )?;
        self.ensure(buf == w.data, || {
            format!("read_into({kind} {name}) gave other bytes")
        })?;
        let size = self.ok(
            &format!("size({kind} {name})"),
            self.backend.size(kind, name),
        )?;
        self.ensure(size == w.data.len() as u64, || {
            format!(
                "size({kind} {name}) is {size}, {} were written",
                w.data.len()
            )
        })
    }

    fn is_not_found(result: &crate::Result<impl Sized>, kind: ObjectKind, name: &str) -> bool {
        matches!(result, Err(StorageError::NotFound { kind: k, name: n, .. }) if *k == kind && n == name)
    }

    fn new_location_is_empty(&self, expect: &Expectations) -> Checked {
        self.ok("create()", self.backend.create())?;
        for kind in ObjectKind::ALL {
            let listed = self.ok(&format!("list({kind})"), self.backend.list(kind))?;
            self.ensure(listed.is_empty(), || {
                format!("a new location lists {} {kind} object(s)", listed.len())
            })?;
        }
        let set_none = self.backend.set_lock_policy(None);
        self.ok("set_lock_policy(None)", set_none)?;
        match expect.locks {
            Locks::Enforced(policy) => self.ok(
                "set_lock_policy(Some(..))",
                self.backend.set_lock_policy(Some(policy)),
            ),
            Locks::Unsupported => {
                let policy = LockPolicy {
                    mode: crate::LockMode::Governance,
                    retention: Duration::from_secs(86_400),
                };
                let result = self.backend.set_lock_policy(Some(policy));
                self.ensure(
                    matches!(result, Err(StorageError::Unsupported { .. })),
                    || {
                        format!(
                            "set_lock_policy(Some(..)) on a backend without locks gave {result:?}"
                        )
                    },
                )
            }
        }
    }

    /// One object of every kind (and the config's second copy), among them
    /// an empty one, each read back.
    fn objects_round_trip(&self) -> Checked<Vec<Written>> {
        let config = payload("config", 300);
        let mut written = vec![
            self.write(ObjectKind::Config, "config", &config)?,
            self.write(ObjectKind::Config, CONFIG_COPY_NAME, &config)?,
            self.write_new(ObjectKind::Key, "key", 0)?,
        ];
        for (i, kind) in [
            ObjectKind::Pack,
            ObjectKind::Index,
            ObjectKind::Snapshot,
            ObjectKind::Mark,
        ]
        .into_iter()
        .enumerate()
        {
            written.push(self.write_new(kind, &format!("{kind}"), 1000 + 700 * i)?);
        }
        for w in &written {
            self.reads_back(w)?;
        }
        Ok(written)
    }

    /// The same bytes again are `AlreadyExisted`; other bytes under the
    /// name are that or an error, and never replace the object.
    fn second_write_changes_nothing(&self, written: &[Written]) -> Checked {
        for w in written {
            let (kind, name) = (w.kind, w.name.as_str());
            let again = self.backend.write_once(kind, name, &w.data);
            self.ensure(matches!(again, Ok(WriteOutcome::AlreadyExisted)), || {
                format!("writing {kind} {name} again gave {again:?}")
            })?;
            let other = self.backend.write_once(kind, name, b"other bytes");
            self.ensure(!matches!(other, Ok(WriteOutcome::Created)), || {
                format!("other bytes under the existing {kind} {name} were Created")
            })?;
            self.reads_back(w)?;
        }
        Ok(())
    }

    fn kinds_are_separate(&self, written: &[Written]) -> Checked {
        for w in written.iter().filter(|w| w.kind.is_content_named()) {
            let other = match w.kind {
                ObjectKind::Snapshot => ObjectKind::Index,
                _ => ObjectKind::Snapshot,
            };
            let read = self.backend.read(other, &w.name).map(|b| b.len());
            self.ensure(Self::is_not_found(&read, other, &w.name), || {
                format!("{} {} is readable as a {other}: {read:?}", w.kind, w.name)
            })?;
        }
        Ok(())
    }

    fn missing_objects_are_not_found(&self) -> Checked {
        let name = content_name(b"never written");
        for kind in ObjectKind::ALL.into_iter().filter(|k| k.is_content_named()) {
            let size = self.backend.size(kind, &name);
            let read = self.backend.read(kind, &name);
            let mut buf = Vec::new();
            let read_into = self.backend.read_into(kind, &name, &mut buf);
            let range = self.backend.read_range(kind, &name, 0, 1);
            let empty_range = self.backend.read_range(kind, &name, 0, 0);
            for (what, found) in [
                ("size", size.map(|_| ())),
                ("read", read.map(|_| ())),
                ("read_into", read_into),
                ("read_range(0, 1)", range.map(|_| ())),
                ("read_range(0, 0)", empty_range.map(|_| ())),
            ] {
                self.ensure(Self::is_not_found(&found, kind, &name), || {
                    format!("{what} of a missing {kind} gave {found:?}, not NotFound naming it")
                })?;
            }
        }
        Ok(())
    }

    fn range_reads_are_exact(&self) -> Checked {
        let w = self.write_new(ObjectKind::Pack, "ranges", 1000)?;
        let (kind, name) = (w.kind, w.name.as_str());
        for (offset, len) in [(0, 1000), (10, 20), (999, 1), (1000, 0), (0, 0)] {
            let got = self.ok(
                &format!("read_range({offset}, {len}) of a 1000-byte object"),
                self.backend.read_range(kind, name, offset, len),
            )?;
            let want = w.data.get(offset as usize..(offset + len) as usize);
            self.ensure(Some(got.as_slice()) == want, || {
                format!(
                    "read_range({offset}, {len}) gave other bytes ({} of them)",
                    got.len()
                )
            })?;
        }
        for (offset, len) in [
            (990, 20),
            (0, 1001),
            (1001, 0),
            (5000, 1),
            (u64::MAX, 2),
            (5, u64::MAX),
        ] {
            let got = self.backend.read_range(kind, name, offset, len);
            self.ensure(matches!(got, Err(StorageError::ShortRead { .. })), || {
                let got = got.map(|b| format!("{} bytes", b.len()));
                format!(
                    "read_range({offset}, {len}) of a 1000-byte object gave {got:?}, not ShortRead"
                )
            })?;
        }
        Ok(())
    }

    /// Each kind lists exactly its objects, with sizes and storage times
    /// (within a day of the run: clocks of remote storage may differ a little).
    fn listings_match(&self, written: &[Written], started: SystemTime) -> Checked {
        let earliest = started - Duration::from_secs(86_400);
        let latest = SystemTime::now() + Duration::from_secs(86_400);
        for kind in ObjectKind::ALL {
            let listed = self.ok(&format!("list({kind})"), self.backend.list(kind))?;
            let names: BTreeSet<&str> = listed.iter().map(|o| o.name.as_str()).collect();
            self.ensure(names.len() == listed.len(), || {
                format!("list({kind}) names an object twice")
            })?;
            let expected: BTreeSet<&str> = written
                .iter()
                .filter(|w| w.kind == kind && w.name != CONFIG_COPY_NAME)
                .map(|w| w.name.as_str())
                .collect();
            // Whether the config's copy is listed is left open; nothing else may differ.
            let mut listed_names = names.clone();
            listed_names.remove(CONFIG_COPY_NAME);
            self.ensure(listed_names == expected, || {
                format!("list({kind}) gave {names:?}, expected {expected:?}")
            })?;
            for o in listed.iter().filter(|o| o.name != CONFIG_COPY_NAME) {
                let Some(w) = written.iter().find(|w| w.kind == kind && w.name == o.name) else {
                    continue;
                };
                self.ensure(o.size == w.data.len() as u64, || {
                    format!(
                        "list({kind}) gives {} {} bytes, not {}",
                        o.name,
                        o.size,
                        w.data.len()
                    )
                })?;
                self.ensure(o.stored.is_some_and(|t| t > earliest && t < latest), || {
                    format!(
                        "list({kind}) gives {} the storage time {:?}",
                        o.name, o.stored
                    )
                })?;
            }
        }
        Ok(())
    }

    fn invalid_names_are_refused(&self) -> Checked {
        let mut cases: Vec<(ObjectKind, String)> = INVALID_NAMES
            .iter()
            .map(|n| (ObjectKind::Index, n.to_string()))
            .collect();
        cases.push((ObjectKind::Pack, "a".repeat(129)));
        cases.push((ObjectKind::Config, "keys".into()));
        cases.push((ObjectKind::Config, "config/../x".into()));
        for (kind, name) in &cases {
            let (kind, name) = (*kind, name.as_str());
            let mut buf = Vec::new();
            for (what, result) in [
                (
                    "write_once",
                    self.backend.write_once(kind, name, b"x").map(|_| ()),
                ),
                ("read", self.backend.read(kind, name).map(|_| ())),
                ("read_into", self.backend.read_into(kind, name, &mut buf)),
                (
                    "read_range",
                    self.backend.read_range(kind, name, 0, 1).map(|_| ()),
                ),
                ("size", self.backend.size(kind, name).map(|_| ())),
                ("remove", self.backend.remove(kind, name)),
            ] {
                self.ensure(
                    matches!(result, Err(StorageError::InvalidName { .. })),
                    || format!("{what}({kind} {name:?}) gave {result:?}, not InvalidName"),
                )?;
            }
        }
        Ok(())
    }

    /// Writers racing on one name all succeed and agree on its bytes.
    fn concurrent_writes_agree(&self) -> Checked {
        let data = payload("raced", 2000);
        let name = content_name(&data);
        let outcomes: Vec<_> = std::thread::scope(|s| {
            let writers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| self.backend.write_once(ObjectKind::Pack, &name, &data)))
                .collect();
            writers.into_iter().map(|w| w.join().ok()).collect()
        });
        let created = outcomes
            .iter()
            .filter(|o| matches!(o, Some(Ok(WriteOutcome::Created))))
            .count();
        self.ensure(
            created >= 1 && outcomes.iter().all(|o| matches!(o, Some(Ok(_)))),
            || format!("four concurrent writes of one pack gave {outcomes:?}"),
        )?;
        self.reads_back(&Written {
            kind: ObjectKind::Pack,
            name,
            data,
        })
    }

    fn removal(&self, removal: Removal) -> Checked {
        let w = self.write_new(ObjectKind::Snapshot, "removed", 500)?;
        let (kind, name) = (w.kind, w.name.as_str());
        let removed = self.backend.remove(kind, name);
        match removal {
            Removal::Deletes => {
                self.ok(&format!("remove({kind} {name})"), removed)?;
                let read = self.backend.read(kind, name);
                let size = self.backend.size(kind, name).map(|_| ());
                let again = self.backend.remove(kind, name);
                for (what, result) in [
                    ("read", read.map(|_| ())),
                    ("size", size),
                    ("a second remove", again),
                ] {
                    self.ensure(Self::is_not_found(&result, kind, name), || {
                        format!("{what} after remove gave {result:?}, not NotFound")
                    })?;
                }
                let listed = self.ok("list after remove", self.backend.list(kind))?;
                self.ensure(listed.iter().all(|o| o.name != name), || {
                    format!("{kind} {name} is still listed after remove")
                })?;
                // The name is free again: prune may delete what a later backup writes anew.
                self.write(kind, name, &w.data)?;
            }
            Removal::Refused => self
                .ensure(matches!(removed, Err(StorageError::Refused { .. })), || {
                    format!("remove on an append-only backend gave {removed:?}, not Refused")
                })?,
            Removal::Locked => self
                .ensure(matches!(removed, Err(StorageError::Locked { .. })), || {
                    format!("remove of a locked object gave {removed:?}, not Locked")
                })?,
        }
        self.reads_back(&w)
    }

    fn locks(&self, locks: Locks, written: &[Written], started: SystemTime) -> Checked {
        let Some(w) = written.iter().find(|w| w.kind == ObjectKind::Index) else {
            return Err(self.fail("no index object to look at"));
        };
        let (kind, name) = (w.kind, w.name.as_str());
        let lock = self.ok(
            &format!("lock_of({kind} {name})"),
            self.backend.lock_of(kind, name),
        )?;
        let later = SystemTime::now() + Duration::from_secs(3 * 86_400);
        match locks {
            Locks::Unsupported => {
                self.ensure(lock.is_none(), || {
                    format!("lock_of without locks gave {lock:?}")
                })?;
                let extend = self.backend.extend_lock(kind, name, later);
                self.ensure(
                    matches!(extend, Err(StorageError::Unsupported { .. })),
                    || format!("extend_lock without locks gave {extend:?}"),
                )
            }
            Locks::Enforced(policy) => {
                // Lock dates are kept to the second.
                let at_least = started + policy.retention - Duration::from_secs(1);
                self.ensure(
                    lock.is_some_and(|l| l.mode == policy.mode && l.until >= at_least),
                    || format!("{kind} {name} written under {policy:?} carries {lock:?}"),
                )?;
                self.ok(
                    "extend_lock to later",
                    self.backend.extend_lock(kind, name, later),
                )?;
                let extended = self.ok(
                    "lock_of after extend_lock",
                    self.backend.lock_of(kind, name),
                )?;
                self.ensure(
                    extended.is_some_and(|l| l.until >= later - Duration::from_secs(1)),
                    || format!("extend_lock to {later:?} left {extended:?}"),
                )?;
                self.ok(
                    "extend_lock to earlier",
                    self.backend.extend_lock(kind, name, started),
                )?;
                let kept = self.ok(
                    "lock_of after a shorter extend_lock",
                    self.backend.lock_of(kind, name),
                )?;
                self.ensure(kept == extended, || {
                    format!("extend_lock to an earlier date changed {extended:?} into {kept:?}")
                })
            }
        }
    }

    fn create_refuses_a_repository(&self) -> Checked {
        let again = self.backend.create();
        self.ensure(again.is_err(), || {
            "create() succeeded where a config exists".to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LocalBackend, MemoryBackend};

    const PLAIN: Expectations = Expectations {
        removal: Removal::Deletes,
        locks: Locks::Unsupported,
    };

    #[test]
    fn the_memory_backend_keeps_the_contract() {
        run(&MemoryBackend::new(), &PLAIN).unwrap_or_else(|v| panic!("{v}"));
    }

    /// A memory backend with one flaw.
    struct Flawed(MemoryBackend, Flaw);

    #[derive(Debug, Clone, Copy)]
    enum Flaw {
        /// write_once replaces an existing object.
        Replaces,
        /// read_range returns what there is past the end.
        ShortRanges,
        /// a missing object reads as empty.
        EmptyForMissing,
        /// remove says it deleted, and leaves the object.
        KeepsRemoved,
    }

    impl Backend for Flawed {
        fn location(&self) -> String {
            format!("flawed ({:?})", self.1)
        }
        fn create(&self) -> crate::Result<()> {
            self.0.create()
        }
        fn list(&self, kind: ObjectKind) -> crate::Result<Vec<crate::ObjectInfo>> {
            self.0.list(kind)
        }
        fn read(&self, kind: ObjectKind, name: &str) -> crate::Result<Vec<u8>> {
            match (self.1, self.0.read(kind, name)) {
                (Flaw::EmptyForMissing, Err(StorageError::NotFound { .. })) => Ok(Vec::new()),
                (_, result) => result,
            }
        }
        fn read_range(
            &self,
            kind: ObjectKind,
            name: &str,
            offset: u64,
            len: u64,
        ) -> crate::Result<Vec<u8>> {
            match self.1 {
                Flaw::ShortRanges => {
                    let all = self.0.read(kind, name)?;
                    Ok(all
                        .iter()
                        .skip(offset as usize)
                        .take(len as usize)
                        .copied()
                        .collect())
                }
                _ => self.0.read_range(kind, name, offset, len),
            }
        }
        fn size(&self, kind: ObjectKind, name: &str) -> crate::Result<u64> {
            self.0.size(kind, name)
        }
        fn write_once(
            &self,
            kind: ObjectKind,
            name: &str,
            data: &[u8],
        ) -> crate::Result<WriteOutcome> {
            if matches!(self.1, Flaw::Replaces) {
                let _ = self.0.remove(kind, name);
            }
            self.0.write_once(kind, name, data)
        }
        fn remove(&self, kind: ObjectKind, name: &str) -> crate::Result<()> {
            match self.1 {
                Flaw::KeepsRemoved => crate::validate_name(kind, name),
                _ => self.0.remove(kind, name),
            }
        }
    }

    /// The suite can fail: each flaw breaks the property that covers it.
    #[test]
    fn a_flawed_backend_is_caught_by_the_property_it_breaks() {
        for (flaw, property) in [
            (Flaw::Replaces, "a second write changes nothing"),
            (Flaw::ShortRanges, "range reads are exact"),
            (Flaw::EmptyForMissing, "kinds are separate namespaces"),
            (Flaw::KeepsRemoved, "remove"),
        ] {
            let violation = run(&Flawed(MemoryBackend::new(), flaw), &PLAIN)
                .expect_err(&format!("{flaw:?} went unnoticed"));
            assert_eq!(violation.property, property, "{flaw:?}: {violation}");
        }
    }

    #[test]
    fn the_local_backend_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        run(&LocalBackend::new(dir.path().join("repo")), &PLAIN).unwrap_or_else(|v| panic!("{v}"));
    }
}
