//! The `reprise-bench-data` binary end to end: a generated share verifies
//! against itself and not against a changed copy. Being an integration
//! test, it also makes `cargo test --workspace` build the binary that
//! bench/run uses, with the workspace's features, so the CLI's bench test
//! finds it built instead of building it again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reprise-bench-data"))
        .args(args)
        .output()
        .unwrap()
}

fn verify(expected: &Path, actual: &Path) -> Option<i32> {
    let (e, a) = (expected.to_str().unwrap(), actual.to_str().unwrap());
    tool(&["verify", "--expected", e, "--actual", a])
        .status
        .code()
}

#[test]
fn a_generated_share_verifies_and_a_changed_one_does_not() {
    let scratch = tempfile::tempdir().unwrap();
    let (a, b) = (scratch.path().join("a"), scratch.path().join("b"));
    for dir in [&a, &b] {
        let out = Command::new(env!("CARGO_BIN_EXE_reprise-bench-data"))
            .args(["generate", "--size", "256K", "--files", "20", "--out"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(verify(&a, &b), Some(0));
    let out = tool(&["change", "--dir", b.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(verify(&a, &b), Some(1));
}
