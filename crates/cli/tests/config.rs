//! The configuration file from the command line: `reprise config check`
//! (problems with their lines, exit codes, reachability, `--offline`), and
//! `--repository NAME` / the default repository opening what the file says.

use crate::common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes `text` as a configuration file in `dir`.
fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("reprise.toml");
    fs::write(&path, text).unwrap();
    path
}

fn config_check(config: &Path, extra: &[&str]) -> Output {
    reprise()
        .arg("--config")
        .arg(config)
        .args(["config", "check"])
        .args(extra)
        .output()
        .unwrap()
}

/// A port nothing listens on: one the system just gave and took back.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn the_saint_exemple_example_has_no_error_offline() {
    let example = workspace_root().join("examples/saint-exemple.toml");
    let out = reprise()
        .arg("--config")
        .arg(&example)
        .args(["config", "check", "--offline"])
        .env("MARIADB_RH_PASSWORD", "secret")
        .output()
        .unwrap();
    assert_success(&out, "config check of the example");
    let text = stdout(&out);
    assert!(
        text.ends_with("6 services, 6 sources, 2 repositories: OK\n"),
        "{}",
        describe(&out)
    );
}

#[test]
fn config_check_prints_each_problem_on_its_line_and_exits_1_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "\
[sources.orphan]
type = \"files\"
paths = [\"/srv\"]

[services.eau]
public_name = \"Eau\"
depends_on = [\"ghost\"]
",
    );
    let out = config_check(&config, &["--offline"]);
    assert_exit(&out, 1, "config check with an error");
    let shown = config.display();
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "{shown}:1: warning: [sources.orphan] is used by no service"
        )),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{shown}:7: error: [services.eau] depends on \"ghost\""
        )),
        "{text}"
    );
    assert_eq!(
        lines[2],
        "1 service, 1 source, 0 repositories: 1 error, 1 warning"
    );

    // Warnings alone exit 0.
    let config = write_config(
        dir.path(),
        "[sources.orphan]\ntype = \"files\"\npaths = [\"/srv\"]\n",
    );
    let out = config_check(&config, &["--offline"]);
    assert_exit(&out, 0, "config check with a warning only");
}

#[test]
fn config_check_reports_a_type_error_with_its_line_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[servers.pg]\nengine = \"postgres\"\nport = \"5432\"\n[recovery]\nparallel = 2\nhealth_timeout = \"5 minutes\"\n",
    );
    let out = config_check(&config, &["--offline", "--json"]);
    assert_exit(&out, 1, "config check of a file that does not parse");
    let json = parse_json(&out.stdout);
    let problems = json["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{json}");
    assert_eq!(problems[0]["line"], 3);
    assert_eq!(problems[0]["severity"], "error");
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("[servers.pg]:"),
        "{json}"
    );
    assert_eq!(problems[1]["line"], 6);
    assert!(
        problems[1]["message"]
            .as_str()
            .unwrap()
            .contains("is not a duration"),
        "{json}"
    );
    assert_eq!(json["errors"], 2);
}

#[test]
fn a_named_configuration_file_that_is_missing_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.toml");
    let out = config_check(&missing, &[]);
    assert_exit(&out, 1, "config check of a missing file");
    assert!(
        stderr(&out).contains(&format!("{} does not exist", missing.display())),
        "{}",
        describe(&out)
    );
    // The same through REPRISE_CONFIG, for a command that needs a repository.
    let out = reprise()
        .arg("snapshots")
        .env("REPRISE_CONFIG", &missing)
        .output()
        .unwrap();
    assert_exit(&out, 1, "snapshots with a missing REPRISE_CONFIG");
    assert!(
        stderr(&out).contains(&format!("{} does not exist", missing.display())),
        "{}",
        describe(&out)
    );
}

#[test]
fn an_unreachable_server_and_repository_are_errors_unless_offline() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let config = write_config(
        dir.path(),
        &format!(
            "\
[repositories.vide]
location = \"{}\"
password_command = \"echo x\"

[servers.pg]
engine = \"postgres\"
host = \"127.0.0.1\"
port = {port}
",
            dir.path().join("no-repository-here").display()
        ),
    );
    let out = config_check(&config, &[]);
    assert_exit(&out, 1, "config check with a server down");
    let text = stdout(&out);
    assert!(
        text.contains(":2: error: [repositories.vide] cannot be reached"),
        "{text}"
    );
    assert!(text.contains("is not a reprise repository"), "{text}");
    assert!(
        text.contains(&format!(
            ":5: error: [servers.pg] does not answer at 127.0.0.1:{port}"
        )),
        "{text}"
    );
    let out = config_check(&config, &["--offline"]);
    assert_exit(&out, 0, "config check --offline");
    assert!(!stdout(&out).contains("answer"), "{}", describe(&out));
}

/// A configuration naming two repositories in `dir` (`a`, the default
/// one, and `b`), each with a password file.
fn two_repositories(dir: &Path) -> PathBuf {
    let password = dir.join("password");
    fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    fs::set_permissions(&password, fs::Permissions::from_mode(0o600)).unwrap();
    let mut text = String::new();
    for (name, default) in [("a", true), ("b", false)] {
        text.push_str(&format!(
            "[repositories.{name}]\nlocation = \"{}\"\npassword_file = \"{}\"\ndefault = {default}\n",
            dir.join(format!("repo-{name}")).display(),
            password.display()
        ));
    }
    write_config(dir, &text)
}

fn snapshot_count(dir: &Path, repo: &str) -> usize {
    let out = reprise()
        .arg("--repo")
        .arg(dir.join(repo))
        .env("REPRISE_PASSWORD", PASSWORD)
        .args(["snapshots", "--json"])
        .output()
        .unwrap();
    assert_success(&out, "snapshots");
    parse_json(&out.stdout).as_array().unwrap().len()
}

#[test]
fn repository_by_name_opens_its_location_with_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_repositories(dir.path());
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("f"), "registre").unwrap();
    let through_b = || {
        let mut cmd = reprise();
        cmd.arg("--config").arg(&config).args(["--repository", "b"]);
        cmd
    };
    let out = through_b().arg("init").args(FAST_KDF).output().unwrap();
    assert_success(&out, "--repository b init");
    let out = through_b()
        .args(["backup", "--no-detection"])
        .arg(&data)
        .output()
        .unwrap();
    assert_success(&out, "--repository b backup");
    assert_eq!(snapshot_count(dir.path(), "repo-b"), 1);
    assert!(!dir.path().join("repo-a").exists());
}

#[test]
fn the_default_repository_is_used_when_none_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_repositories(dir.path());
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("f"), "registre").unwrap();
    let out = reprise()
        .env("REPRISE_CONFIG", &config)
        .arg("init")
        .args(FAST_KDF)
        .output()
        .unwrap();
    assert_success(&out, "init with the default repository");
    let out = reprise()
        .env("REPRISE_CONFIG", &config)
        .args(["backup", "--no-detection"])
        .arg(&data)
        .output()
        .unwrap();
    assert_success(&out, "backup with the default repository");
    assert_eq!(snapshot_count(dir.path(), "repo-a"), 1);
    // --repo still wins over the default.
    let out = reprise()
        .env("REPRISE_CONFIG", &config)
        .arg("--repo")
        .arg(dir.path().join("repo-b"))
        .arg("snapshots")
        .output()
        .unwrap();
    assert_exit(&out, 10, "--repo naming another place");
}

#[test]
fn an_unknown_repository_name_lists_the_configured_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_repositories(dir.path());
    let out = reprise()
        .arg("--config")
        .arg(&config)
        .args(["--repository", "offsite", "snapshots"])
        .output()
        .unwrap();
    assert_exit(&out, 1, "--repository with an unknown name");
    assert!(
        stderr(&out).contains("--repository offsite: no [repositories.offsite] in")
            && stderr(&out).contains("(it names a, b)"),
        "{}",
        describe(&out)
    );
}

#[test]
fn repo_and_repository_together_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_repositories(dir.path());
    let out = reprise()
        .arg("--config")
        .arg(&config)
        .args(["--repository", "a", "--repo", "/tmp/x", "snapshots"])
        .output()
        .unwrap();
    assert_exit(&out, 2, "--repo with --repository");
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        describe(&out)
    );
}

#[test]
fn repository_wins_over_reprise_repository_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_repositories(dir.path());
    let out = reprise()
        .arg("--config")
        .arg(&config)
        .args(["--repository", "b", "init"])
        .args(FAST_KDF)
        .env("REPRISE_REPOSITORY", dir.path().join("elsewhere"))
        .output()
        .unwrap();
    assert_success(&out, "--repository with REPRISE_REPOSITORY set");
    assert!(dir.path().join("repo-b").join("config").exists());
    assert!(!dir.path().join("elsewhere").exists());
}

#[test]
fn a_password_env_of_the_configuration_unlocks_the_repository() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[repositories.mairie]\nlocation = \"{}\"\npassword_env = \"MAIRIE_PASSWORD\"\n",
            dir.path().join("repo").display()
        ),
    );
    let run = |args: &[&str], password: Option<&str>| {
        let mut cmd = reprise();
        cmd.arg("--config")
            .arg(&config)
            .args(["--repository", "mairie"])
            .args(args);
        if let Some(p) = password {
            cmd.env("MAIRIE_PASSWORD", p);
        }
        cmd.output().unwrap()
    };
    let init = ["init", FAST_KDF[0], FAST_KDF[1], FAST_KDF[2], FAST_KDF[3]];
    let out = run(&init, Some(PASSWORD));
    assert_success(&out, "init with password_env");
    assert_success(
        &run(&["snapshots"], Some(PASSWORD)),
        "snapshots with password_env",
    );
    let out = run(&["snapshots"], Some("wrong"));
    assert_exit(&out, 12, "a wrong password from password_env");
    assert!(
        stderr(&out).contains("the variable MAIRIE_PASSWORD"),
        "{}",
        describe(&out)
    );
    let out = run(&["snapshots"], None);
    assert_exit(&out, 1, "password_env unset");
    assert!(
        stderr(&out).contains("MAIRIE_PASSWORD is not set"),
        "{}",
        describe(&out)
    );
}

/// docs/CONFIG.md shows the example file as it is: the test above checks
/// the file, and this one that the page shows the checked file.
#[test]
fn config_md_shows_the_example_file_verbatim() {
    let root = workspace_root();
    let doc = fs::read_to_string(root.join("docs/CONFIG.md")).unwrap();
    let example = fs::read_to_string(root.join("examples/saint-exemple.toml")).unwrap();
    let after = doc
        .split("## The complete example")
        .nth(1)
        .expect("a section `## The complete example`");
    let block = after
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a toml block in that section");
    assert_eq!(
        block, example,
        "docs/CONFIG.md's example differs from examples/saint-exemple.toml"
    );
}

#[test]
fn without_a_default_repository_a_command_asks_for_one_and_names_repository() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[repositories.offsite]\nlocation = \"/srv/r\"\npassword_command = \"echo x\"\n",
    );
    let out = reprise()
        .env("REPRISE_CONFIG", &config)
        .arg("snapshots")
        .output()
        .unwrap();
    assert_exit(&out, 1, "snapshots with no repository given");
    assert!(
        stderr(&out).contains("no repository given") && stderr(&out).contains("--repository NAME"),
        "{}",
        describe(&out)
    );
}

#[test]
fn rest_and_s3_repositories_are_reached_by_tcp_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = open.local_addr().unwrap().port();
    let down = closed_port();
    let config = write_config(
        dir.path(),
        &format!(
            "\
[repositories.serveur]
location = \"rest:https://127.0.0.1:{up}/mairie\"
password_command = \"echo x\"
[repositories.s3-up]
location = \"s3:http://127.0.0.1:{up}/sauvegardes\"
password_command = \"echo x\"
[repositories.s3-down]
location = \"s3:http://127.0.0.1:{down}/sauvegardes\"
password_command = \"echo x\"
"
        ),
    );
    let out = config_check(&config, &[]);
    assert_exit(&out, 1, "config check with an S3 endpoint down");
    let text = stdout(&out);
    let errors: Vec<&str> = text.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(
        errors[0].contains(":8: error: [repositories.s3-down] cannot be reached: 127.0.0.1:"),
        "{text}"
    );
}

/// The PostgreSQL server of scripts/db-server as `[servers.NAME]` lines
/// (host, port, bin_dir), or `None` when told to skip database tests.
fn test_pg_server_lines() -> Option<String> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    if var("REPRISE_TEST_SKIP_DB").as_deref() == Some("1") {
        eprintln!("skipped: needs a PostgreSQL server (REPRISE_TEST_SKIP_DB=1)");
        return None;
    }
    let (Some(host), Some(port)) = (var("REPRISE_TEST_PG_HOST"), var("REPRISE_TEST_PG_PORT"))
    else {
        panic!("this test needs a PostgreSQL server: `eval \"$(scripts/db-server)\"` first, or set REPRISE_TEST_SKIP_DB=1");
    };
    let mut lines = format!("host = \"{host}\"\nport = {port}\n");
    if let Some(bin) = var("REPRISE_TEST_PG_BIN") {
        lines.push_str(&format!("bin_dir = \"{bin}\"\n"));
    }
    Some(lines)
}

#[test]
fn a_real_server_passes_and_a_wrong_user_is_reported_on_its_entry() {
    let Some(address) = test_pg_server_lines() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let user = std::env::var("REPRISE_TEST_PG_USER").unwrap_or_else(|_| "postgres".into());
    let good = write_config(
        dir.path(),
        &format!("[servers.pg]\nengine = \"postgres\"\nuser = \"{user}\"\n{address}"),
    );
    let out = config_check(&good, &[]);
    assert_exit(&out, 0, "config check of a live server");
    assert!(stdout(&out).ends_with(": OK\n"), "{}", describe(&out));
    let bad = write_config(
        dir.path(),
        &format!("[servers.pg]\nengine = \"postgres\"\nuser = \"no_such_role_c\"\n{address}"),
    );
    let out = config_check(&bad, &[]);
    assert_exit(&out, 1, "config check with a user the server does not know");
    assert!(
        stdout(&out).contains(":1: error: [servers.pg] answers at")
            && stdout(&out).contains("cannot log in"),
        "{}",
        describe(&out)
    );
}
