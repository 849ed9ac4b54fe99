//! Replays the kept fuzzing corpus (fuzz/corpus/<target>/, and
//! fuzz/artifacts/<target>/ where a finding is kept) through the same
//! bodies the fuzzer ran, on the stable toolchain and without a fuzzer.

// Test helpers may panic: a panic is the test's verdict (the workspace denies
// it in the crates' own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reprise_fuzz_targets::{seeds::seeds, Outcome, TARGETS};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files_of(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_kept_input_replays_and_some_of_each_target_decode() {
    for target in TARGETS {
        let corpus = files_of(&fuzz_dir().join("corpus").join(target.name));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{} is empty or missing",
            target.name
        );
        let artifacts = files_of(&fuzz_dir().join("artifacts").join(target.name));
        let mut decoded = 0;
        for (path, bytes) in corpus.iter().chain(&artifacts) {
            eprintln!("{}", path.display());
            if (target.body)(bytes) == Outcome::Decoded {
                decoded += 1;
            }
        }
        assert!(
            decoded > 0,
            "no input of {} gets past the decoder",
            target.name
        );
    }
}

#[test]
fn every_target_accepts_its_well_formed_seeds() {
    for target in TARGETS {
        let seeds = seeds(target.name);
        assert!(!seeds.is_empty(), "{} has no seed", target.name);
        for (i, seed) in seeds.iter().enumerate() {
            assert_eq!(
                (target.body)(seed),
                Outcome::Decoded,
                "seed {i} of {}: {}",
                target.name,
                String::from_utf8_lossy(seed)
            );
        }
    }
}

/// Writes the seeds into fuzz/corpus/<target>/ to start a first run:
/// `cargo test -p reprise-fuzz-targets --test corpus -- --ignored`.
#[test]
#[ignore = "writes into the source tree; run by hand to start a corpus"]
fn write_seeds_into_the_corpus() {
    for target in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target.name);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, seed) in seeds(target.name).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed).unwrap();
        }
    }
}
