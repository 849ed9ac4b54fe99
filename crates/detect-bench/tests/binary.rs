//! The `reprise-detect-bench` binary lists every scenario of the library,
//! in the tab-separated form bench/detection/run reads. Being an
//! integration test, it also makes `cargo test --workspace` build the
//! binary, with the workspace's features, so the CLI's detection test finds
//! it built instead of building it again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reprise_detect_bench::scenario;
use std::process::Command;

#[test]
fn list_names_every_scenario_with_its_kind() {
    let out = Command::new(env!("CARGO_BIN_EXE_reprise-detect-bench"))
        .args(["list", "--scale", "small"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), scenario::every().count(), "{text}");
    for s in scenario::every() {
        let row = rows
            .iter()
            .find(|r| r[0] == s.name)
            .unwrap_or_else(|| panic!("{} missing: {text}", s.name));
        let kind = if s.is_attack() { "attack" } else { "benign" };
        assert_eq!(row[1], kind, "{text}");
    }
}
