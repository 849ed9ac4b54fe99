//! The retention policy: which snapshots `forget` keeps, and why.
//!
//! Rules are those a restic or borg user knows (`--keep-last`, `--keep-hourly`
//! … `--keep-yearly`, `--keep-within`), applied per source (host and
//! backed-up paths), with one difference: a client that holds the repository
//! key can write snapshots, so the policy only trusts what it can check.
//!
//! - A snapshot whose detection verdict is `suspicious` or `attack` never
//!   fills a keep slot. It is kept while it is newer than the newest clean
//!   snapshot of its source (it may hold the newest data) or within
//!   `--keep-within`, and forgotten otherwise.
//! - A snapshot dated after the storage received it (plus clock skew) is
//!   forged: treated like a flagged one, by its storage time.
//! - A snapshot dated well before the storage received it is a *late
//!   arrival* (a copy, or a forgery dated in the past): it may only fill the
//!   slots that timely snapshots left free, so it can never push one out.
//! - The newest trusted snapshot of every source is always kept.
//!
//! - Whatever the rules say, the snapshots a ransomware incident holds
//!   ([`hold`]) are kept, with the incident named as the reason.
//!
//! So snapshots an attacker adds never change what happens to the timely,
//! clean snapshots: the property tests in `tests/retention.rs` check that.

use chrono::{DateTime, Datelike, Duration, Local, Utc};
use reprise_format::snapshot::received;
use reprise_format::SnapshotId;
use std::collections::{BTreeMap, HashSet};

pub use reprise_format::snapshot::{Standing, CLOCK_SKEW, LATE_AFTER};

/// What to keep. All counts zero and no `within` keeps only the newest
/// snapshot of each source; the CLI refuses an empty policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeepPolicy {
    pub last: u32,
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
    /// Keep every trusted snapshot this close to the newest one of its source.
    pub within: Option<Duration>,
}

impl KeepPolicy {
    pub fn is_empty(&self) -> bool {
        *self == KeepPolicy::default()
    }
}

/// A snapshot as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: SnapshotId,
    /// The date the snapshot claims.
    pub time: DateTime<Utc>,
    /// When the storage received it, if the storage says.
    pub stored: Option<DateTime<Utc>>,
    pub hostname: String,
    /// Backed-up paths, byte-exact and sorted (`Snapshot::source_paths`).
    pub paths: Vec<Vec<u8>>,
    /// The detection verdict recorded with it, if any.
    pub verdict: Option<String>,
}

impl Candidate {
    /// The shared trust rules (`reprise_format::snapshot::Standing`), which
    /// also choose a backup's parent.
    pub fn standing(&self, now: DateTime<Utc>) -> Standing {
        Standing::of(self.time, self.stored, self.verdict.as_deref(), now)
    }

    /// The date the policy may rely on: the storage's when the snapshot's
    /// own is forged into the future (whatever its verdict, so that a 2099
    /// snapshot marked `attack` is not "newer than every clean one" forever).
    fn effective_time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match Standing::of_dates(self.time, self.stored, now) {
            Standing::FutureDated => received(self.stored, now),
            _ => self.time,
        }
    }
}

/// The fate of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub id: SnapshotId,
    pub keep: bool,
    pub standing: Standing,
    /// Why, in plain words: each rule that keeps it, or why none does.
    pub reasons: Vec<String>,
}

/// Decides every snapshot's fate; the result is in the order of `candidates`.
pub fn decide(candidates: &[Candidate], policy: &KeepPolicy, now: DateTime<Utc>) -> Vec<Decision> {
    let mut groups: BTreeMap<(&str, &[Vec<u8>]), Vec<usize>> = BTreeMap::new();
    for (i, c) in candidates.iter().enumerate() {
        groups
            .entry((c.hostname.as_str(), c.paths.as_slice()))
            .or_default()
            .push(i);
    }
    let mut decisions: Vec<Decision> = candidates
        .iter()
        .map(|c| Decision {
            id: c.id,
            keep: false,
            standing: c.standing(now),
            reasons: Vec::new(),
        })
        .collect();
    for members in groups.values() {
        decide_group(candidates, members, policy, now, &mut decisions);
    }
    decisions
}

/// Keeps the snapshots that something beyond the policy needs, with why:
/// ransomware incidents hold the last clean copy before them
/// (`reprise_detect::incident::retention_holds`), whatever the policy says.
pub fn hold(decisions: &mut [Decision], holds: &BTreeMap<SnapshotId, Vec<String>>) {
    for d in decisions.iter_mut() {
        if let Some(reasons) = holds.get(&d.id) {
            d.keep = true;
            d.reasons.extend(reasons.iter().cloned());
        }
    }
}

fn decide_group(
    all: &[Candidate],
    members: &[usize],
    policy: &KeepPolicy,
    now: DateTime<Utc>,
    decisions: &mut [Decision],
) {
    let newest_first = |standing: Standing| -> Vec<usize> {
        let mut v: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| decisions[i].standing == standing)
            .collect();
        v.sort_by(|&a, &b| {
            all[b]
                .time
                .cmp(&all[a].time)
                .then(all[b].id.cmp(&all[a].id))
        });
        v
    };
    let trusted = newest_first(Standing::Trusted);
    let late = newest_first(Standing::LateArrival);
    // Timely snapshots first, late arrivals only into the slots left free.
    let mut slots = Slots::new(policy);
    let anchor = trusted.first().or(late.first()).map(|&i| all[i].time);
    for &i in trusted.iter().chain(late.iter()) {
        let mut reasons = slots.claim(all[i].time);
        if let (Some(within), Some(anchor)) = (policy.within, anchor) {
            if all[i].time >= anchor - within {
                reasons.push(format!("within {} of the newest", human(within)));
            }
        }
        decisions[i].reasons = reasons;
    }
    if let Some(&newest) = trusted.first().or(late.first()) {
        decisions[newest]
            .reasons
            .insert(0, "newest trusted snapshot of its source".into());
    }
    for &i in trusted.iter().chain(late.iter()) {
        decisions[i].keep = !decisions[i].reasons.is_empty();
        if decisions[i].standing == Standing::LateArrival {
            decisions[i]
                .reasons
                .push("dated long before it was stored: fills only free slots".into());
        }
    }
    for &i in members {
        if matches!(
            decisions[i].standing,
            Standing::Flagged | Standing::FutureDated
        ) {
            decide_untrusted(&all[i], anchor, policy, now, &mut decisions[i]);
        }
    }
}

/// A flagged or forged snapshot never fills a slot; it is kept while it may
/// hold the newest data of its source, or within `--keep-within`.
fn decide_untrusted(
    c: &Candidate,
    anchor: Option<DateTime<Utc>>,
    policy: &KeepPolicy,
    now: DateTime<Utc>,
    d: &mut Decision,
) {
    let what = match d.standing {
        Standing::Flagged => format!(
            "detection said {}: never fills a keep slot",
            c.verdict.as_deref().unwrap_or("?")
        ),
        _ => {
            "dated after the storage received it (forged date): never fills a keep slot".to_string()
        }
    };
    let t = c.effective_time(now);
    let newer = anchor.is_none_or(|a| t > a);
    let within = matches!((policy.within, anchor), (Some(w), Some(a)) if t >= a - w);
    d.keep = newer || within;
    d.reasons.push(what);
    if newer {
        d.reasons
            .push("kept: newer than every clean snapshot of its source".into());
    } else if within {
        d.reasons.push(format!(
            "kept: within {}",
            human(policy.within.unwrap_or_default())
        ));
    }
}

/// Keep-rule bookkeeping: how many snapshots each rule still keeps, and
/// which periods already have theirs.
struct Slots {
    last: u32,
    periods: Vec<Period>,
}

struct Period {
    name: &'static str,
    left: u32,
    key: fn(&DateTime<Local>) -> String,
    used: HashSet<String>,
}

impl Slots {
    fn new(p: &KeepPolicy) -> Slots {
        let period = |name, left, key| Period {
            name,
            left,
            key,
            used: HashSet::new(),
        };
        Slots {
            last: p.last,
            periods: vec![
                period("hourly", p.hourly, |t| {
                    t.format("%Y-%m-%d %H:00").to_string()
                }),
                period("daily", p.daily, |t| t.format("%Y-%m-%d").to_string()),
                period("weekly", p.weekly, |t| {
                    let w = t.iso_week();
                    format!("{}-W{:02}", w.year(), w.week())
                }),
                period("monthly", p.monthly, |t| t.format("%Y-%m").to_string()),
                period("yearly", p.yearly, |t| t.year().to_string()),
            ],
        }
    }

    /// Called newest first: the rules that keep a snapshot of this date.
    fn claim(&mut self, time: DateTime<Utc>) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.last > 0 {
            self.last -= 1;
            reasons.push("last".to_string());
        }
        let local = time.with_timezone(&Local);
        for p in &mut self.periods {
            if p.left == 0 {
                continue;
            }
            let key = (p.key)(&local);
            if p.used.insert(key.clone()) {
                p.left -= 1;
                reasons.push(format!("{} {key}", p.name));
            }
        }
        reasons
    }
}

/// `3d`, `12h`, `90m`: durations as the command line takes them.
pub fn human(d: Duration) -> String {
    let mins = d.num_minutes();
    if mins % 1440 == 0 && mins != 0 {
        format!("{}d", mins / 1440)
    } else if mins % 60 == 0 && mins != 0 {
        format!("{}h", mins / 60)
    } else {
        format!("{mins}m")
    }
}

/// Parses a duration: a number followed by `m` (minutes), `h`, `d`, `w`,
/// `y` (365 days); several may be combined, as in `1d12h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::zero();
    let mut digits = String::new();
    for ch in s.trim().chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let n: i64 = digits.parse().ok()?;
        digits.clear();
        let unit = match ch {
            'm' => Duration::minutes(1),
            'h' => Duration::hours(1),
            'd' => Duration::days(1),
            'w' => Duration::weeks(1),
            'y' => Duration::days(365),
            _ => return None,
        };
        total = total.checked_add(&unit.checked_mul(n.try_into().ok()?)?)?;
    }
    (digits.is_empty() && total > Duration::zero()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(n: u8, time: DateTime<Utc>, stored: DateTime<Utc>, verdict: &str) -> Candidate {
        Candidate {
            id: SnapshotId::from_bytes([n; 32]),
            time,
            stored: Some(stored),
            hostname: "srv".into(),
            paths: vec!["/srv/partage".into()],
            verdict: Some(verdict.into()),
        }
    }

    #[test]
    fn durations_parse_like_the_command_line_writes_them() {
        assert_eq!(parse_duration("30d"), Some(Duration::days(30)));
        assert_eq!(parse_duration("1d12h"), Some(Duration::hours(36)));
        assert_eq!(parse_duration("2w"), Some(Duration::days(14)));
        for bad in ["", "d", "12", "3x", "0d", "-1d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(human(Duration::days(3)), "3d");
    }

    #[test]
    fn a_flood_of_attack_snapshots_does_not_push_clean_ones_out() {
        let now = Utc::now();
        let day = Duration::days(1);
        let mut all = vec![
            snap(1, now - day * 3, now - day * 3, "clean"),
            snap(2, now - day * 2, now - day * 2, "clean"),
        ];
        for n in 10..20u8 {
            all.push(snap(n, now - day, now - day, "attack"));
        }
        let policy = KeepPolicy {
            last: 2,
            ..KeepPolicy::default()
        };
        let d = decide(&all, &policy, now);
        assert!(d[0].keep && d[1].keep, "{d:#?}");
        // The attack snapshots are newer than the newest clean one: kept for review.
        assert!(d[2..]
            .iter()
            .all(|x| x.keep && x.standing == Standing::Flagged));
    }

    #[test]
    fn future_dated_snapshots_count_for_nothing() {
        let now = Utc::now();
        let day = Duration::days(1);
        let all = vec![
            snap(1, now - day * 2, now - day * 2, "clean"),
            snap(2, now - day, now - day, "clean"),
            snap(3, now + day * 300, now - day * 5, "clean"),
        ];
        let policy = KeepPolicy {
            last: 1,
            ..KeepPolicy::default()
        };
        let d = decide(&all, &policy, now);
        assert_eq!(d[2].standing, Standing::FutureDated);
        assert!(!d[2].keep, "stored before the newest clean one: {d:#?}");
        assert!(d[1].keep && !d[0].keep);
    }

    #[test]
    fn past_dated_snapshots_only_fill_free_slots() {
        let now = Utc::now();
        let day = Duration::days(1);
        // A real monthly history, and a forgery dated inside one of its months.
        let real_old = snap(1, now - day * 40, now - day * 40, "clean");
        let real_new = snap(2, now - day, now - day, "clean");
        let forged = snap(3, now - day * 39, now, "clean");
        let policy = KeepPolicy {
            monthly: 2,
            ..KeepPolicy::default()
        };
        let d = decide(&[real_old, real_new, forged], &policy, now);
        assert_eq!(d[2].standing, Standing::LateArrival);
        assert!(d[0].keep && d[1].keep, "{d:#?}");
    }
}
