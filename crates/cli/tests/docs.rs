//! The documentation must not drift from the code: every crate is on the
//! map in docs/ARCHITECTURE.md, every subcommand that `reprise --help` lists
//! is documented in docs/CLI.md, and CLI.md's exit code table has every code
//! that `exit.rs` documents.

use crate::common::{reprise, workspace_root};
use std::fs;

fn read_doc(name: &str) -> String {
    let path = workspace_root().join("docs").join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `reprise <args>` with none of the caller's `REPRISE_*` settings.
fn help_of(args: &[&str]) -> String {
    let mut cmd = reprise();
    let out = cmd.args(args).output().expect("reprise runs");
    assert!(out.status.success(), "reprise {args:?} failed: {out:?}");
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The subcommand names of a clap help text: the first word of each line
/// of its "Commands:" section.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Every inline code span of a markdown text (the text between single backticks).
fn code_spans(markdown: &str) -> Vec<String> {
    let mut spans = Vec::new();
    for line in markdown.lines() {
        let mut parts = line.split('`');
        parts.next();
        while let (Some(inside), Some(_)) = (parts.next(), parts.next()) {
            spans.push(inside.trim().to_string());
        }
    }
    spans
}

/// True when `command` (e.g. "key add") is a heading of the document, or a
/// code span of it, with or without the leading `reprise`.
fn documents(markdown: &str, command: &str) -> bool {
    let full = format!("reprise {command}");
    let in_heading = markdown.lines().filter(|l| l.starts_with('#')).any(|l| {
        let text = l.trim_start_matches('#').replace('`', "");
        let text = text.trim();
        text == command || text == full || text.starts_with(&format!("{full} "))
    });
    in_heading
        || code_spans(markdown)
            .iter()
            .any(|s| *s == command || *s == full || s.starts_with(&format!("{full} ")))
}

#[test]
fn every_crate_is_described_in_architecture_md() {
    let doc = read_doc("ARCHITECTURE.md");
    let crates = workspace_root().join("crates");
    let mut dirs: Vec<String> = fs::read_dir(&crates)
        .expect("crates/ is listable")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 2,
        "found no crates under {}",
        crates.display()
    );
    let missing: Vec<&String> = dirs
        .iter()
        .filter(|d| !doc.contains(&format!("reprise-{d}")) && !doc.contains(&format!("crates/{d}")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md does not mention these crates (write `reprise-<dir>` or \
         `crates/<dir>` in a section about each): {missing:?}"
    );
}

#[test]
fn every_subcommand_of_the_help_is_documented_in_cli_md() {
    let doc = read_doc("CLI.md");
    let top = subcommands(&help_of(&["--help"]));
    assert!(
        top.iter().any(|c| c == "backup") && top.iter().any(|c| c == "restore"),
        "could not read the subcommands from `reprise --help`: {top:?}"
    );
    let mut commands = Vec::new();
    for command in &top {
        commands.push(command.clone());
        if command == "help" {
            continue;
        }
        // Nested subcommands, such as `key add`.
        for sub in subcommands(&help_of(&[command, "--help"])) {
            commands.push(format!("{command} {sub}"));
        }
    }
    let missing: Vec<&String> = commands.iter().filter(|c| !documents(&doc, c)).collect();
    assert!(
        missing.is_empty(),
        "docs/CLI.md does not document these commands (add a heading or a code span \
         such as `reprise <command>`): {missing:?}"
    );
}

#[test]
fn every_exit_code_of_exit_rs_is_in_cli_md() {
    let exit_rs = workspace_root().join("crates/cli/src/exit.rs");
    let source = fs::read_to_string(&exit_rs).expect("exit.rs is readable");
    // The module doc of exit.rs holds the table: `//! | 10 | the repository … |`.
    let codes: Vec<String> = source
        .lines()
        .filter_map(|l| l.strip_prefix("//! |"))
        .filter_map(|rest| rest.split('|').next())
        .map(|cell| cell.trim().to_string())
        .filter(|cell| !cell.is_empty() && cell.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert!(
        codes.len() >= 3,
        "could not read the exit code table of {}",
        exit_rs.display()
    );
    let doc = read_doc("CLI.md");
    let missing: Vec<&String> = codes
        .iter()
        .filter(|code| {
            !doc.lines().any(|l| {
                l.strip_prefix('|')
                    .and_then(|rest| rest.split('|').next())
                    .is_some_and(|cell| cell.trim().trim_matches('`') == code.as_str())
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the exit code table of docs/CLI.md lacks codes documented in exit.rs: {missing:?}"
    );
}
