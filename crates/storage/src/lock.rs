//! Retention locks: the policy a repository asks of its storage, and the lock
//! an object actually carries. Only object storage with Object Lock (S3)
//! enforces them; the types live here so that `check` and `locks extend`
//! can speak about any backend.

use std::fmt;
use std::time::{Duration, SystemTime};

/// S3 Object Lock modes. In `Governance` a user with a special permission
/// may still shorten or remove a lock; in `Compliance` nobody can, not even
/// the account's root, until the date passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockMode {
    Governance,
    Compliance,
}

impl LockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Governance => "governance",
            LockMode::Compliance => "compliance",
        }
    }

    /// Parses `governance` or `compliance`, in any case.
    pub fn parse(s: &str) -> Option<LockMode> {
        match s.to_ascii_lowercase().as_str() {
            "governance" => Some(LockMode::Governance),
            "compliance" => Some(LockMode::Compliance),
            _ => None,
        }
    }
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a repository asks: every object stays locked at least `retention`
/// after it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockPolicy {
    pub mode: LockMode,
    pub retention: Duration,
}

impl LockPolicy {
    /// The retain-until date for an object written at `now`.
    pub fn until_from(&self, now: SystemTime) -> SystemTime {
        now + self.retention
    }
}

/// The lock an object carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectLock {
    pub mode: LockMode,
    pub until: SystemTime,
}
