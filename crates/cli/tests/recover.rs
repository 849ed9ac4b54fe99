//! Services from the command line: `backup --all`, `drill` (with its record
//! in the repository and `drills`), and `recover` (dependency order, never
//! over an existing database unless `--replace`), on an SQLite database, a
//! file share and a command source.

use crate::common::*;
use reprise_databases::Engine;
use std::fs;
use std::path::{Path, PathBuf};

struct Town {
    repo: TestRepo,
    config: PathBuf,
}

impl Town {
    fn new() -> Town {
        let repo = TestRepo::new();
        let root = repo.path().to_path_buf();
        fs::create_dir_all(root.join("partages/compta")).unwrap();
        fs::write(root.join("partages/compta/budget.ods"), b"budget 2027").unwrap();
        fs::write(root.join("annuaire.ldif"), b"dn: dc=saint-exemple\n").unwrap();
        let sql = "BEGIN TRANSACTION;\n\
                   CREATE TABLE repas(id INTEGER PRIMARY KEY, menu TEXT);\n\
                   INSERT INTO repas VALUES(1,'soupe'),(2,'gratin'),(3,'poisson');\n\
                   COMMIT;\n";
        let db = root.join("cantine.sqlite").display().to_string();
        reprise_databases::Sqlite::new()
            .restore(&db, &mut sql.as_bytes(), reprise_databases::Replace::Never)
            .unwrap();
        let config = root.join("reprise.toml");
        fs::write(&config, config_text(&root)).unwrap();
        Town { repo, config }
    }

    fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = self.repo.cmd();
        cmd.arg("--config").arg(&self.config);
        cmd
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.repo.path().join(rel)
    }
}

fn config_text(root: &Path) -> String {
    format!(
        r#"
[sources.partages]
type = "files"
paths = ["{root}/partages"]

[sources.cantine-db]
type = "sqlite"
path = "{root}/cantine.sqlite"

[sources.annuaire]
type = "command"
dump = ["cat", "{root}/annuaire.ldif"]
restore = ["sh", "-c", "cat > {root}/annuaire-restored.ldif"]
filename = "annuaire.ldif"

[services.annuaire]
public_name = "Annuaire"
priority = 1
sources = ["annuaire"]

[services.cantine]
public_name = "Cantine scolaire"
priority = 2
depends_on = ["annuaire"]
sources = ["cantine-db"]
health = [{{ type = "sql", source = "cantine-db", query = "select count(*) from repas", expect = "3" }}]
target = "10m"

[services.partages]
public_name = "Partages"
priority = 3
sources = ["partages"]
# Reaches the live file server, which a drill must not take for its copy.
health = [{{ type = "tcp", host = "127.0.0.1", port = 1 }}]

[recovery]
health_timeout = "5s"
drill_dir = "{root}/drill"
state_dir = "{root}/recover-state"

[web]
town = "Saint-Exemple"
data_dir = "{root}/web"
"#,
        root = root.display()
    )
}

#[test]
fn backup_all_then_a_drill_recorded_in_the_repository() {
    let town = Town::new();
    let out = town.cmd().args(["backup", "--all"]).output().unwrap();
    assert_success(&out, "backup --all");
    let text = String::from_utf8_lossy(&out.stdout);
    for source in ["annuaire", "cantine-db", "partages"] {
        assert!(text.contains(source), "{text}");
    }
    let tags: Vec<serde_json::Value> = town
        .repo
        .snapshots()
        .iter()
        .map(|s| s["tags"].clone())
        .collect();
    assert_eq!(tags.len(), 3, "{tags:?}");

    let out = town.cmd().args(["drill", "--json"]).output().unwrap();
    assert_success(&out, "drill");
    let report = parse_json(&out.stdout);
    assert_eq!(report["ok"], true, "{report:#}");
    let cantine = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "cantine")
        .unwrap()
        .clone();
    assert_eq!(cantine["status"]["state"], "up", "{cantine:#}");
    assert_eq!(cantine["target_met"], true, "{cantine:#}");
    assert!(
        !town.path("drill").exists(),
        "the drill cleans up after itself"
    );
    assert!(!town.path("annuaire-restored.ldif").exists());

    let out = town.cmd().args(["drills"]).output().unwrap();
    assert_success(&out, "drills");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("OK") && text.contains("3/3 services up"),
        "{text}"
    );
    let out = town.cmd().args(["drills", "--json"]).output().unwrap();
    let drills = parse_json(&out.stdout);
    assert_eq!(drills.as_array().unwrap().len(), 1, "{drills:#}");
}

#[test]
fn recover_brings_back_a_lost_database_after_what_it_depends_on_and_never_overwrites() {
    let town = Town::new();
    assert_success(
        &town.cmd().args(["backup", "--all"]).output().unwrap(),
        "backup --all",
    );
    let state = town.path("state");
    let recover = |extra: &[&str]| {
        town.cmd()
            .args(["recover", "cantine", "--state-dir"])
            .arg(&state)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = recover(&[]);
    assert_exit(&out, 1, "recover over the live database");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("already exists"), "{text}");

    fs::remove_file(town.path("cantine.sqlite")).unwrap();
    let out = recover(&["--restart"]);
    assert_success(&out, "recover of a lost database");
    assert_eq!(
        fs::read(town.path("annuaire-restored.ldif")).unwrap(),
        b"dn: dc=saint-exemple\n",
        "the service it depends on came back first"
    );
    assert!(town.path("cantine.sqlite").exists());

    let out = recover(&["--replace"]);
    assert_success(&out, "recover --replace over the live database");
}

/// The public state of `public_name` in `reprise status show --json`.
fn public_state(town: &Town, public_name: &str) -> String {
    let out = town
        .cmd()
        .args(["status", "show", "--json"])
        .output()
        .unwrap();
    assert_success(&out, "status show");
    let summary = parse_json(&out.stdout);
    summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == public_name)
        .unwrap_or_else(|| panic!("{public_name} not in {summary:#}"))["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_public_status_page_follows_a_recovery_and_the_operator() {
    let town = Town::new();
    assert_success(
        &town.cmd().args(["backup", "--all"]).output().unwrap(),
        "backup --all",
    );
    let status = |args: &[&str]| town.cmd().arg("status").args(args).output().unwrap();
    assert_eq!(public_state(&town, "Cantine scolaire"), "operational");
    assert_success(&status(&["set", "cantine", "major_outage"]), "status set");
    assert_success(
        &status(&["set", "partages", "degraded_performance"]),
        "status set",
    );
    let out = status(&[
        "open",
        "--title",
        "Cantine indisponible",
        "--service",
        "cantine",
        "--message",
        "Les inscriptions reviennent dans l'heure.",
    ]);
    assert_success(&out, "status open");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(id.len(), 12, "{id}");
    assert_eq!(public_state(&town, "Cantine scolaire"), "major_outage");

    // A recovery that fails leaves the service down on the page.
    let out = town.cmd().args(["recover", "cantine"]).output().unwrap();
    assert_exit(&out, 1, "recover over the live database");
    assert_eq!(public_state(&town, "Cantine scolaire"), "major_outage");

    // One that succeeds brings it back by itself, and leaves alone what it
    // did not recover.
    fs::remove_file(town.path("cantine.sqlite")).unwrap();
    let out = town
        .cmd()
        .args(["recover", "cantine", "--restart"])
        .output()
        .unwrap();
    assert_success(&out, "recover of a lost database");
    assert!(town.path("recover-state/live.json").exists());
    assert_eq!(public_state(&town, "Cantine scolaire"), "operational");
    assert_eq!(public_state(&town, "Partages"), "degraded_performance");

    assert_success(
        &status(&[
            "update",
            &id,
            "--stage",
            "resolved",
            "--message",
            "Tout est rétabli.",
        ]),
        "status update",
    );
    let export = town.path("public");
    let out = town
        .cmd()
        .args(["status", "export"])
        .arg(&export)
        .output()
        .unwrap();
    assert_success(&out, "status export");
    let html = fs::read_to_string(export.join("index.html")).unwrap();
    assert!(
        html.contains("Cantine scolaire") && html.contains("Résolu"),
        "{html}"
    );
    assert!(
        !html.contains("Annuaire</span> <span class=\"badge major"),
        "{html}"
    );
    assert!(
        !html.contains(&town.repo.path().display().to_string()),
        "no path of the town on its public page"
    );
    let out = status(&["open", "--title", "x", "--message", "voir /srv/partages"]);
    assert_exit(&out, 1, "a message naming a path");
    assert!(String::from_utf8_lossy(&out.stderr).contains("path"));
}

#[test]
fn an_empty_command_output_fails_its_source_with_exit_1_and_no_snapshot() {
    let town = Town::new();
    fs::write(town.path("annuaire.ldif"), b"").unwrap();
    let out = town
        .cmd()
        .args(["backup", "--service", "annuaire"])
        .output()
        .unwrap();
    assert_exit(&out, 1, "backup of an empty command output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("annuaire") && text.contains("FAILED") && text.contains("empty"),
        "{text}"
    );
    assert!(town.repo.snapshots().is_empty());
}
