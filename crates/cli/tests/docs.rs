//! The documentation must not drift from the code: docs/ARCHITECTURE.md's
//! crate map has every crate and exactly its dependencies (as `cargo
//! metadata` reports them), every subcommand that `reprise --help` lists
//! is documented in docs/CLI.md, and CLI.md's exit code table has every code
//! that `exit.rs` documents.

use crate::common::{reprise, workspace_root};
use crate::manifests::{workspace_packages, Package};
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

/// The crate sections of ARCHITECTURE.md: for each heading
/// `` ### `reprise-x` (`crates/x`) ``, the crate's name, its directory and
/// the workspace crates its "Depends on:" sentence names (`None` when the
/// section has no such sentence).
fn crate_sections(doc: &str, crate_names: &[String]) -> Vec<(String, String, Option<Vec<String>>)> {
    let mut sections = Vec::new();
    let mut lines = doc.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(heading) = line.strip_prefix("### ") else {
            continue;
        };
        let spans = code_spans(heading);
        let (Some(name), Some(dir)) = (spans.first(), spans.get(1)) else {
            continue;
        };
        let Some(dir) = dir.strip_prefix("crates/") else {
            continue;
        };
        let mut body = Vec::new();
        while let Some(next) = lines.next_if(|l| !l.starts_with('#')) {
            body.push(next);
        }
        let depends = depends_on_sentence(&body.join("\n"))
            .map(|sentence| crates_named(&sentence, crate_names));
        sections.push((name.clone(), dir.to_string(), depends));
    }
    sections
}

/// The first sentence of the paragraph that starts with "Depends on:": up
/// to a `;` or a full stop (a `.` before a space or the end, so that
/// `repo_open.rs` does not end it).
fn depends_on_sentence(body: &str) -> Option<String> {
    let start = body.find("Depends on:")?;
    let paragraph = body[start..].split("\n\n").next().unwrap_or_default();
    let chars: Vec<char> = paragraph.chars().collect();
    let end = (0..chars.len())
        .find(|&i| {
            chars[i] == ';'
                || (chars[i] == '.' && chars.get(i + 1).is_none_or(|c| c.is_whitespace()))
        })
        .map_or(chars.len(), |i| i + 1);
    Some(chars[..end].iter().collect::<String>().replace('\n', " "))
}

/// The workspace crates a text names in code spans, sorted.
fn crates_named(text: &str, crate_names: &[String]) -> Vec<String> {
    let mut named: Vec<String> = code_spans(text)
        .into_iter()
        .filter(|s| crate_names.contains(s))
        .collect();
    named.sort();
    named.dedup();
    named
}

/// What ARCHITECTURE.md's crate map gets wrong, one line each.
fn crate_map_errors(doc: &str, packages: &[Package]) -> Vec<String> {
    let names: Vec<String> = packages.iter().map(|p| p.name.clone()).collect();
    let sections = crate_sections(doc, &names);
    let mut errors = Vec::new();
    for (name, _, _) in &sections {
        if !names.contains(name) {
            errors.push(format!(
                "a section describes `{name}`, which is not a workspace crate"
            ));
        }
    }
    for package in packages {
        let dir = package
            .dir()
            .file_name()
            .map(|d| d.to_string_lossy().into_owned());
        let Some((_, _, depends)) = sections
            .iter()
            .find(|(name, d, _)| *name == package.name && Some(d) == dir.as_ref())
        else {
            errors.push(format!(
                "no section `### `{}` (`crates/{}`)`",
                package.name,
                dir.unwrap_or_default()
            ));
            continue;
        };
        let real = crates_named(&workspace_edges(package, &names), &names);
        match depends {
            None => errors.push(format!(
                "the section of `{}` has no \"Depends on:\" sentence (it should name {real:?})",
                package.name
            )),
            Some(stated) if *stated != real => errors.push(format!(
                "`{}` depends on {real:?}, but its section says {stated:?}",
                package.name
            )),
            Some(_) => {}
        }
    }
    errors
}

/// The workspace crates `package` depends on (normal dependencies: what
/// its own code uses), as code spans.
fn workspace_edges(package: &Package, names: &[String]) -> String {
    package
        .dependencies
        .iter()
        .filter(|d| d.kind.is_none() && names.contains(&d.name))
        .map(|d| format!("`{}` ", d.name))
        .collect()
}

#[test]
fn the_crate_map_of_architecture_md_matches_cargo_metadata() {
    let packages = workspace_packages();
    let errors = crate_map_errors(&read_doc("ARCHITECTURE.md"), &packages);
    assert!(
        errors.is_empty(),
        "docs/ARCHITECTURE.md's crate map is out of step with the manifests (each \
         crate has a section `### `name` (`crates/dir`)` whose \"Depends on:\" \
         sentence names, in code spans, exactly the workspace crates it depends on, \
         dev-dependencies left out):\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_crate_map_check_sees_a_missing_and_a_false_edge() {
    let packages = workspace_packages();
    let doc = read_doc("ARCHITECTURE.md");
    let format = "Depends on: `reprise-crypto` (to seal and open).";
    assert!(doc.contains(format), "the test's sample sentence moved");
    let without = doc.replace(format, "Depends on: no other reprise crate.");
    let false_edge = doc.replace(format, "Depends on: `reprise-crypto`, `reprise-storage`.");
    for wrong in [without, false_edge] {
        let errors = crate_map_errors(&wrong, &packages);
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("`reprise-format` depends on")),
            "{errors:?}"
        );
    }
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

/// Words that say something is missing or still to be done.
const NOT_THERE_YET: &[&str] = &[
    "not implemented",
    "not yet",
    "to come",
    "planned",
    "later issue",
    "will be added",
    "coming soon",
];

/// Names of things that exist, beyond the subcommands: the backends and
/// detection. Matched as whole words, case and all.
const EXISTING_NAMES: &[&str] = &[
    "S3",
    "REST",
    "Object Lock",
    "local:",
    "rest:",
    "s3:",
    "detection",
    "forget",
    "prune",
];

/// Sentences that say "not yet" next to the name of something that exists
/// and are true, each with why. Future work with no existing name near it
/// (recovery plans, databases, drills, the dashboard, the status page:
/// issues 13 and 14) needs no entry.
const TRUE_NOT_YET: &[&str] = &[
    // ARCHITECTURE.md, Concurrency: packs, not `check`, are not yet indexed.
    "uploaded but not yet indexed",
];

/// The sentences (and table cells) of a markdown text, each on one line.
fn sentences(markdown: &str) -> Vec<String> {
    markdown
        .split("\n\n")
        .flat_map(|paragraph| paragraph.split("\n- "))
        .flat_map(|item| item.split('|'))
        .flat_map(|part| {
            part.split(". ")
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// True when `word` stands in `text` as a whole word.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric() && c != '_');
        boundary(before) && boundary(after)
    })
}

/// The existing things a sentence names: a subcommand in a code span
/// (`forget`, `reprise forget …`) or one of [`EXISTING_NAMES`].
fn existing_things_named(sentence: &str, commands: &[String]) -> Vec<String> {
    let mut named: Vec<String> = commands
        .iter()
        .filter(|c| documents(sentence, c))
        .cloned()
        .collect();
    named.extend(
        EXISTING_NAMES
            .iter()
            .filter(|n| has_word(sentence, n))
            .map(|n| n.to_string()),
    );
    named
}

/// Every subcommand of `reprise --help`, nested ones as "key add".
fn all_subcommands() -> Vec<String> {
    let mut commands = Vec::new();
    for command in subcommands(&help_of(&["--help"])) {
        if command != "help" {
            for sub in subcommands(&help_of(&[&command, "--help"])) {
                commands.push(format!("{command} {sub}"));
            }
        }
        commands.push(command);
    }
    commands
}

/// The sentences of `text` that call something that exists missing.
fn stale_claims(text: &str, commands: &[String]) -> Vec<String> {
    sentences(text)
        .into_iter()
        .filter(|s| {
            let lower = s.to_lowercase();
            NOT_THERE_YET.iter().any(|p| lower.contains(p))
        })
        .filter(|s| !TRUE_NOT_YET.iter().any(|allowed| s.contains(allowed)))
        .filter_map(|s| {
            let named = existing_things_named(&s, commands);
            (!named.is_empty()).then(|| format!("{s:?} (names {named:?}, which exist)"))
        })
        .collect()
}

#[test]
fn no_doc_calls_an_existing_command_or_backend_missing() {
    let commands = all_subcommands();
    assert!(
        commands.iter().any(|c| c == "forget") && commands.iter().any(|c| c == "key add"),
        "could not read the subcommands from `reprise --help`: {commands:?}"
    );
    let mut files: Vec<_> = fs::read_dir(workspace_root().join("docs"))
        .expect("docs/ is listable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.push(workspace_root().join("README.md"));
    let mut stale = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("a doc is readable");
        for claim in stale_claims(&text, &commands) {
            stale.push(format!("{}: {claim}", file.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "these sentences say something that exists is not implemented: fix them, or, \
         if one is true, add it to TRUE_NOT_YET in {} with why:\n{}",
        file!(),
        stale.join("\n")
    );
}

#[test]
fn the_stale_claim_scan_sees_the_claims_the_review_found() {
    let commands: Vec<String> = ["forget", "prune", "copy", "backup", "key add"]
        .map(String::from)
        .to_vec();
    let cli = "Not implemented yet (planned): `forget`, `prune`, `copy`, ransomware\n\
               detection during backup.";
    let format = "Other backends (a REST server, S3) are not implemented yet. Whatever.";
    assert_eq!(stale_claims(cli, &commands).len(), 1);
    assert_eq!(stale_claims(format, &commands).len(), 1);
    let future = "A web dashboard is not implemented yet.";
    assert!(stale_claims(future, &commands).is_empty());
}
