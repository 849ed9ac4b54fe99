//! The benchmark harness runs end to end: `bench/run` on the tiny dataset, with reprise
//! alone and nothing installed, takes this build's binaries, generates the data, takes
//! reprise through every step, verifies the restored tree and writes its markdown report.
//! No timing is asserted (timings never go in tests): only that every step produced a
//! number and that the restore gave the source back. Peers need not be installed.

use crate::common::{bench_bin_dir, scrub_reprise_env, workspace_root};
use std::fs;
use std::process::Command;

/// The lines of the report section whose heading starts with `heading`.
fn section<'a>(report: &'a str, heading: &str) -> Vec<&'a str> {
    report
        .lines()
        .skip_while(|line| !line.starts_with(heading))
        .skip(1)
        .take_while(|line| !line.starts_with("## "))
        .collect()
}

/// The cells after the tool name in the table row of reprise.
fn reprise_cells<'a>(lines: &[&'a str], what: &str) -> Vec<&'a str> {
    let row = lines
        .iter()
        .find(|line| line.starts_with("| reprise |"))
        .unwrap_or_else(|| panic!("no reprise row in the {what} table: {lines:#?}"));
    row.trim_matches('|')
        .split('|')
        .map(str::trim)
        .skip(1)
        .collect()
}

fn assert_all_numbers(cells: &[&str], count: usize, what: &str) {
    assert_eq!(cells.len(), count, "{what}: {cells:?}");
    for cell in cells {
        assert!(
            cell.parse::<f64>().is_ok(),
            "{what}: `{cell}` is not a number in {cells:?}"
        );
    }
}

#[test]
fn bench_run_measures_every_step_of_reprise_on_a_tiny_dataset() {
    let scratch = tempfile::tempdir().expect("temporary directory");
    let report_path = scratch.path().join("report.md");
    let mut command = Command::new(workspace_root().join("bench/run"));
    command
        .args(["--size", "tiny", "--runs", "1", "--tools", "reprise"])
        .arg("--no-install")
        .arg("--workdir")
        .arg(scratch.path().join("work"))
        .arg("--output")
        .arg(&report_path)
        .arg("--bin-dir")
        .arg(bench_bin_dir());
    scrub_reprise_env(&mut command);
    let output = command.output().expect("bench/run starts");
    assert!(
        output.status.success(),
        "bench/run failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = fs::read_to_string(&report_path).expect("the report was written");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        report,
        "the report is also printed"
    );

    let steps = 5;
    let wall = reprise_cells(&section(&report, "## Wall time"), "wall time");
    assert_all_numbers(&wall, steps, "wall time");
    let cpu = reprise_cells(&section(&report, "## CPU time"), "CPU time");
    assert_all_numbers(&cpu, steps, "CPU time");
    // Steps, their maximum, and the repository size; memory may be "n/a" without
    // /usr/bin/time, but no step may have failed.
    let memory = reprise_cells(&section(&report, "## Peak memory"), "memory");
    assert_eq!(memory.len(), steps + 2, "memory: {memory:?}");
    assert!(!memory.contains(&"failed"), "memory: {memory:?}");
    assert!(
        memory[steps + 1].parse::<f64>().is_ok(),
        "repository size: {memory:?}"
    );
    let verification = reprise_cells(&section(&report, "## Restore verification"), "verification");
    assert_eq!(verification, ["passed (1/1 runs)"], "{report}");
}
