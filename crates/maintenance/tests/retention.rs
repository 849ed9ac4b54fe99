//! Retention against a client that holds the key: for random histories of
//! honest, clean snapshots, with random attack-flagged, future-dated and
//! past-dated snapshots injected, `forget` never removes the newest clean
//! snapshot of a source, keeps at least as many clean snapshots as the
//! policy asks, and decides every honest snapshot exactly as it would have
//! without the injected ones.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use reprise_format::SnapshotId;
use reprise_maintenance::{decide, Candidate, KeepPolicy};
use std::collections::{HashMap, HashSet};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

const SOURCES: [&str; 2] = ["mairie-fichiers", "mairie-compta"];

#[derive(Debug, Clone)]
enum Injected {
    /// Detection flagged it; any date.
    Flagged { minutes_ago: i64, verdict: bool },
    /// Claims a date after it was stored.
    FutureDated {
        stored_minutes_ago: i64,
        ahead_minutes: i64,
    },
    /// Claims a date long before it was stored.
    PastDated {
        stored_minutes_ago: i64,
        back_days: i64,
    },
}

fn honest(source: usize, minutes_ago: i64, n: usize) -> Candidate {
    let time = now() - Duration::minutes(minutes_ago);
    Candidate {
        id: id_of(0, n),
        time,
        // Stored when the backup ended, up to a few hours later.
        stored: Some(time + Duration::minutes((minutes_ago % 180).max(1))),
        hostname: SOURCES[source].into(),
        paths: vec!["/srv/partage".into()],
        verdict: Some("clean".into()),
    }
}

fn injected(source: usize, i: &Injected, n: usize) -> Candidate {
    let (time, stored, verdict) = match *i {
        Injected::Flagged {
            minutes_ago,
            verdict,
        } => {
            let t = now() - Duration::minutes(minutes_ago);
            (t, t, if verdict { "attack" } else { "suspicious" })
        }
        Injected::FutureDated {
            stored_minutes_ago,
            ahead_minutes,
        } => {
            let stored = now() - Duration::minutes(stored_minutes_ago);
            (stored + Duration::minutes(ahead_minutes), stored, "clean")
        }
        Injected::PastDated {
            stored_minutes_ago,
            back_days,
        } => {
            let stored = now() - Duration::minutes(stored_minutes_ago);
            (stored - Duration::days(back_days), stored, "clean")
        }
    };
    Candidate {
        id: id_of(1, n),
        time,
        stored: Some(stored),
        hostname: SOURCES[source].into(),
        paths: vec!["/srv/partage".into()],
        verdict: Some(verdict.into()),
    }
}

fn id_of(kind: u8, n: usize) -> SnapshotId {
    let mut b = [0u8; 32];
    b[0] = kind;
    b[1..9].copy_from_slice(&(n as u64).to_le_bytes());
    SnapshotId::from_bytes(b)
}

fn injection() -> impl Strategy<Value = Injected> {
    prop_oneof![
        (0i64..800_000, any::<bool>()).prop_map(|(minutes_ago, verdict)| Injected::Flagged {
            minutes_ago,
            verdict
        }),
        (0i64..800_000, 20i64..2_000_000).prop_map(|(s, a)| Injected::FutureDated {
            stored_minutes_ago: s,
            ahead_minutes: a
        }),
        (0i64..800_000, 8i64..800).prop_map(|(s, b)| Injected::PastDated {
            stored_minutes_ago: s,
            back_days: b
        }),
    ]
}

fn policy() -> impl Strategy<Value = KeepPolicy> {
    (
        0u32..6,
        0u32..30,
        0u32..10,
        0u32..8,
        0u32..14,
        0u32..3,
        proptest::option::of(1i64..60),
    )
        .prop_map(
            |(last, hourly, daily, weekly, monthly, yearly, within)| KeepPolicy {
                last,
                hourly,
                daily,
                weekly,
                monthly,
                yearly,
                within: within.map(Duration::days),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn injected_snapshots_never_change_the_fate_of_clean_ones(
        history in proptest::collection::vec((0usize..2, 30i64..800_000), 1..60),
        injections in proptest::collection::vec((0usize..2, injection()), 0..40),
        policy in policy(),
    ) {
        let clean: Vec<Candidate> = history
            .iter()
            .enumerate()
            .map(|(n, (src, ago))| honest(*src, *ago, n))
            .collect();
        let mut all = clean.clone();
        all.extend(injections.iter().enumerate().map(|(n, (src, i))| injected(*src, i, n)));

        let alone = decide(&clean, &policy, now());
        let attacked = decide(&all, &policy, now());
        let kept_alone: HashMap<SnapshotId, bool> = alone.iter().map(|d| (d.id, d.keep)).collect();
        for d in &attacked[..clean.len()] {
            prop_assert_eq!(Some(&d.keep), kept_alone.get(&d.id), "clean snapshot {:?} changed fate", d.id);
        }

        for source in SOURCES {
            let mine: Vec<&Candidate> = clean.iter().filter(|c| c.hostname == source).collect();
            let Some(newest) = mine.iter().max_by_key(|c| (c.time, c.id)) else { continue };
            let kept: HashSet<SnapshotId> = attacked.iter().filter(|d| d.keep).map(|d| d.id).collect();
            prop_assert!(kept.contains(&newest.id), "newest clean snapshot of {} removed", source);
            let kept_clean = mine.iter().filter(|c| kept.contains(&c.id)).count();
            let asked_last = (policy.last as usize).min(mine.len());
            prop_assert!(kept_clean >= asked_last.max(1),
                "{} kept {} clean snapshots, policy asks {}", source, kept_clean, asked_last);
            let days: HashSet<_> = mine.iter().map(|c| c.time.with_timezone(&chrono::Local).date_naive()).collect();
            prop_assert!(kept_clean >= (policy.daily as usize).min(days.len()),
                "{} kept {} clean snapshots, --keep-daily asks {} of {} days", source, kept_clean, policy.daily, days.len());
        }
    }
}
