//! `reprise detect`: the full ransomware report of a snapshot, recomputed
//! from its trees against the previous snapshot of its source (after an
//! upgrade of the detector, say). Also the report printing and the alert
//! command that `backup` shares.

use crate::cli::{DetectArgs, GlobalOptions};
use crate::commands::{filter_of, select_in};
use crate::{exit, output, repo_open};
use anyhow::{Context, Result};
use reprise_detect::{Report, Verdict};
use reprise_format::SnapshotId;
use reprise_repo::browse::list_then_index;
use std::io::Write;

pub fn run(g: &GlobalOptions, args: &DetectArgs) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let list = list_then_index(&repo)?.snapshots;
    let (id, snapshot) = select_in(&list, &args.snapshot, &filter_of(&args.filter))?;
    let earlier = reprise_detect::earlier_snapshots(&list, &snapshot);
    let previous = earlier.first().copied();
    let history = reprise_detect::history(&earlier);
    let report =
        reprise_detect::analyze_snapshot(&repo, &snapshot, previous.map(|(_, s)| s), &history)
            .with_context(|| format!("cannot analyse snapshot {}", id.short()))?;
    if g.json {
        output::json(&report_json(&id, previous.map(|(p, _)| p), &report))?;
    } else {
        print_full(&id, &report)?;
    }
    Ok(exit_code(&report))
}

/// Exit status 4 for an attack, so scripts and monitoring can act on it.
pub fn exit_code(report: &Report) -> u8 {
    match report.verdict {
        Verdict::Attack => exit::ATTACK,
        _ => exit::OK,
    }
}

/// The `"detection"` object of `backup --json`.
pub fn summary_json(report: &Report) -> serde_json::Value {
    serde_json::json!({
        "verdict": report.verdict.as_str(),
        "score": report.score,
        "flagged_files": report.flagged.len(),
        "evidence": report.evidence,
        "summary": report.summary,
    })
}

/// The whole report, for `detect --json` and the alert command.
pub fn report_json(
    id: &SnapshotId,
    previous: Option<&SnapshotId>,
    report: &Report,
) -> serde_json::Value {
    let mut doc = serde_json::to_value(report).unwrap_or_default();
    doc["snapshot_id"] = serde_json::json!(id);
    doc["compared_with"] = serde_json::json!(previous);
    doc
}

/// The verdict and evidence, as `backup` prints them after its summary.
pub fn print_verdict(report: &Report) -> Result<()> {
    let label = match report.verdict {
        Verdict::Clean => "clean",
        Verdict::Suspicious => "SUSPICIOUS",
        Verdict::Attack => "ATTACK",
    };
    output::line(&format!(
        "Ransomware detection: {label} (score {:.0}/100)",
        report.score
    ))?;
    output::line(&format!("  {}", report.summary))?;
    if report.verdict != Verdict::Clean {
        for e in &report.evidence {
            output::line(&format!("  - {e}"))?;
        }
    }
    Ok(())
}

/// The verdict, then every flagged and unusual file with its reason.
fn print_full(id: &SnapshotId, report: &Report) -> Result<()> {
    output::line(&format!("snapshot {}", id.short()))?;
    print_verdict(report)?;
    let c = &report.changes;
    output::line(&format!(
        "  changes: {} new, {} changed, {} removed files, of {}",
        c.added, c.modified, c.removed, report.total_files
    ))?;
    if !report.flagged.is_empty() {
        output::line("flagged:")?;
    }
    for f in &report.flagged {
        output::line(&flag_line(f))?;
    }
    if !report.unusual.is_empty() {
        output::line("unusual (not counted):")?;
    }
    for f in &report.unusual {
        output::line(&flag_line(f))?;
    }
    Ok(())
}

fn flag_line(f: &reprise_detect::Flagged) -> String {
    match &f.replaced {
        Some(r) => format!("  {}  ({}; replaced {r})", f.path, f.reason.phrase()),
        None => format!("  {}  ({})", f.path, f.reason.phrase()),
    }
}

/// Runs the alert command through `sh -c` with the report on its standard
/// input. A failing alert is reported but does not fail the backup: the
/// snapshot is written and the exit status already tells.
pub fn run_alert(command: &str, doc: &serde_json::Value) {
    let result = (|| -> std::io::Result<std::process::ExitStatus> {
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(std::process::Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            // The command may not read its input: a closed pipe is fine.
            let _ = serde_json::to_writer_pretty(&mut stdin, doc);
            let _ = stdin.write_all(b"\n");
        }
        child.wait()
    })();
    match result {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("warning: the alert command `{command}` failed ({status})"),
        Err(e) => eprintln!("warning: cannot run the alert command `{command}`: {e}"),
    }
}
