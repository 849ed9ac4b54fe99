//! The help texts: global options grouped apart from a command's own,
//! client options left out of `serve`'s help, every exit code listed.

use crate::common::*;

fn help(args: &[&str]) -> String {
    let out = reprise().args(args).arg("--help").output().unwrap();
    assert_success(&out, &format!("{args:?} --help"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of one heading's section (up to the next blank-line-separated heading).
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("\n{heading}:\n"))
        .unwrap_or_else(|| panic!("no {heading:?} section in:\n{text}"));
    let rest = &text[start + heading.len() + 3..];
    let end = rest.find("\n\n").unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn global_options_have_their_own_heading_and_are_not_in_usage_lines() {
    for command in [
        &["backup"][..],
        &["restore"],
        &["ls"],
        &["key", "add"],
        &["copy"],
    ] {
        let text = help(command);
        let global = section(&text, "Global options");
        assert!(global.contains("--repo <REPO>"), "{command:?}:\n{text}");
        assert!(global.contains("--password-file"), "{command:?}:\n{text}");
        let own = section(&text, "Options");
        assert!(
            !own.contains("--repo"),
            "{command:?} mixes global options in:\n{text}"
        );
        let usage = text.lines().find(|l| l.starts_with("Usage:")).unwrap();
        for global in ["--repo", "--password", "--cacert", "--json", "--quiet"] {
            assert!(
                !usage.contains(global),
                "{command:?} usage shows {global}: {usage}"
            );
        }
    }
}

#[test]
fn serve_help_leaves_out_the_client_options() {
    for command in [
        &["serve"][..],
        &["serve", "token", "list"],
        &["serve", "init-config"],
    ] {
        let text = help(command);
        // Option lines, not the deployment example after them.
        let options: Vec<&str> = text
            .lines()
            .filter(|l| l.trim_start().starts_with('-'))
            .collect();
        assert!(!options.is_empty(), "{command:?}:\n{text}");
        for client in [
            "--repo",
            "--password-file",
            "--password-command",
            "--cacert",
        ] {
            assert!(
                !options.iter().any(|l| l.contains(client)),
                "{command:?} --help lists {client}:\n{text}"
            );
        }
    }
    // `serve token add --repo` is that command's own option, and stays.
    assert!(help(&["serve", "token", "add"]).contains("--repo <NAME>"));
    // Hidden, the client options still work where they are given.
    let dir = tempfile::tempdir().unwrap();
    let out = reprise()
        .args(["serve", "init-config", "--repo", "ignored"])
        .arg(dir.path().join("server.toml"))
        .arg("--data")
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_success(&out, "serve init-config with a global --repo");
}

#[test]
fn top_level_help_lists_every_exit_code() {
    let text = help(&[]);
    let codes = &text[text.find("Exit codes:").expect("an exit code list")..];
    for code in ["0", "1", "2", "3", "4", "10", "12", "13", "14"] {
        assert!(
            codes
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{code} "))),
            "exit code {code} missing:\n{codes}"
        );
    }
}
