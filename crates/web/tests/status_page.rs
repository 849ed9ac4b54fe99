//! The public status page: its states follow a recovery and the operator,
//! every file of it is free of private details, and it is readable.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use chrono::{Duration, Utc};
use reprise_services::config::Config;
use reprise_services::live::{LiveRecovery, LiveService, LiveState};
use reprise_services::report::RunKind;
use reprise_web::status::board::{BoardStore, NewIncident};
use reprise_web::status::model::{Impact, IncidentStage, ServiceState};
use reprise_web::status::page::PublicPage;
use reprise_web::status::privacy::Privacy;
use reprise_web::status::{export, public_files, PALETTE};

/// Saint-Exemple, with every private detail a configuration holds.
const CONFIG: &str = r#"
[repositories.principal]
location = "rest:https://sauvegarde-7.mairie-interne.lan:8443/depot"
password_file = "/etc/reprise/secret-principal"
default = true

[servers.pg]
engine = "postgres"
host = "pg-prod-03.mairie-interne.lan"
user = "svc_reprise"

[sources.civil-db]
type = "postgres"
server = "pg"
databases = ["etat_civil_2026"]

[sources.share]
type = "files"
paths = ["/srv/partages-mairie"]

[sources.ldap]
type = "command"
dump = ["/usr/local/bin/export-annuaire"]
restore = ["/usr/local/bin/import-annuaire"]
filename = "annuaire.ldif"

[services.svc-annuaire-01]
public_name = "Annuaire interne des agents"
public = false
sources = ["ldap"]

[services.svc-civil-01]
public_name = "État civil"
priority = 1
depends_on = ["svc-annuaire-01"]
sources = ["civil-db"]
health = [{ type = "tcp", host = "etatcivil-app.mairie-interne.lan", port = 443 }]

[services.svc-share-01]
public_name = "Dossiers partagés"
priority = 3
sources = ["share"]

[web]
town = "Saint-Exemple"
"#;

fn config() -> Config {
    Config::parse(CONFIG, Path::new("reprise.toml")).unwrap()
}

fn store(dir: &Path, config: &Config) -> BoardStore {
    BoardStore::new(dir, Privacy::of(config))
}

fn live(kind: RunKind, states: &[(&str, LiveState)], since: chrono::DateTime<Utc>) -> LiveRecovery {
    LiveRecovery {
        kind,
        started_at: since,
        updated_at: since,
        finished: false,
        services: states
            .iter()
            .map(|(name, state)| {
                (
                    name.to_string(),
                    LiveService {
                        state: *state,
                        since,
                        bytes_done: 0,
                        bytes_total: 0,
                        files_done: 0,
                        eta_seconds: None,
                    },
                )
            })
            .collect(),
    }
}

fn state_of(page: &PublicPage, public_name: &str) -> ServiceState {
    page.services
        .iter()
        .find(|s| s.name == public_name)
        .unwrap_or_else(|| panic!("{public_name} is not on the page"))
        .state
}

#[test]
fn a_service_shows_the_newest_word_the_operators_or_the_recoverys() {
    let dir = tempfile::tempdir().unwrap();
    let config = config();
    let board = store(dir.path(), &config);
    let now = Utc::now();
    let page = |live: Option<&LiveRecovery>| {
        PublicPage::assemble(&config, &board.read().unwrap(), live, Utc::now())
    };
    assert_eq!(page(None).overall, Impact::None);
    assert_eq!(
        state_of(&page(None), "État civil"),
        ServiceState::Operational
    );

    board
        .set_state("svc-civil-01", ServiceState::MajorOutage)
        .unwrap();
    assert_eq!(
        state_of(&page(None), "État civil"),
        ServiceState::MajorOutage
    );
    assert_eq!(page(None).overall, Impact::Critical);

    // A recovery that started later speaks for the service as it goes.
    let later = now + Duration::seconds(5);
    let restoring = live(
        RunKind::Recover,
        &[("svc-civil-01", LiveState::Restoring)],
        later,
    );
    assert_eq!(
        state_of(&page(Some(&restoring)), "État civil"),
        ServiceState::MajorOutage
    );
    let checking = live(
        RunKind::Recover,
        &[("svc-civil-01", LiveState::Checking)],
        later,
    );
    assert_eq!(
        state_of(&page(Some(&checking)), "État civil"),
        ServiceState::PartialOutage
    );
    let up = live(RunKind::Recover, &[("svc-civil-01", LiveState::Up)], later);
    assert_eq!(
        state_of(&page(Some(&up)), "État civil"),
        ServiceState::Operational
    );
    // A drill never moves the public page.
    let drill = live(RunKind::Drill, &[("svc-civil-01", LiveState::Up)], later);
    assert_eq!(
        state_of(&page(Some(&drill)), "État civil"),
        ServiceState::MajorOutage
    );

    // The operator's word after the recovery wins again.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let old_up = live(RunKind::Recover, &[("svc-civil-01", LiveState::Up)], now);
    board
        .set_state("svc-civil-01", ServiceState::DegradedPerformance)
        .unwrap();
    assert_eq!(
        state_of(&page(Some(&old_up)), "État civil"),
        ServiceState::DegradedPerformance
    );

    // Only public services are on the page, and can be set.
    assert!(page(None)
        .services
        .iter()
        .all(|s| s.name != "Annuaire interne des agents"));
    assert!(board
        .set_state("svc-annuaire-01", ServiceState::MajorOutage)
        .is_err());
    let now_page = page(None);
    let positions: Vec<&str> = now_page.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        positions,
        ["État civil", "Dossiers partagés"],
        "by priority"
    );
}

#[test]
fn no_file_of_the_public_page_names_a_host_a_path_a_database_or_an_internal_service() {
    let dir = tempfile::tempdir().unwrap();
    let config = config();
    let board = store(&dir.path().join("board"), &config);
    board
        .set_state("svc-share-01", ServiceState::PartialOutage)
        .unwrap();
    let id = board
        .open_incident(NewIncident {
            title: "Services municipaux indisponibles".into(),
            impact: Impact::Critical,
            services: vec!["svc-civil-01".into(), "svc-share-01".into()],
            stage: IncidentStage::Investigating,
            message:
                "Une attaque informatique touche la mairie. Les services reviennent un par un."
                    .into(),
        })
        .unwrap();
    board
        .update_incident(
            &id,
            IncidentStage::Identified,
            "L'état civil revient en premier.",
        )
        .unwrap();
    let restoring = live(
        RunKind::Recover,
        &[
            ("svc-annuaire-01", LiveState::Up),
            ("svc-civil-01", LiveState::Restoring),
        ],
        Utc::now(),
    );
    let page = PublicPage::assemble(
        &config,
        &board.read().unwrap(),
        Some(&restoring),
        Utc::now(),
    );
    let out = dir.path().join("public");
    let written = export(&page, "https://etat.saint-exemple.fr/", &out).unwrap();
    assert!(written.len() >= 8, "{written:?}");

    let mut forbidden: Vec<String> = [
        "mairie-interne",
        "sauvegarde-7",
        "pg-prod-03",
        "svc_reprise",
        "etat_civil_2026",
        "/srv/partages-mairie",
        "/etc/reprise",
        "export-annuaire",
        "etatcivil-app",
        "svc-annuaire-01",
        "svc-civil-01",
        "svc-share-01",
        "civil-db",
        "Annuaire interne des agents",
        "annuaire.ldif",
        "principal",
    ]
    .map(String::from)
    .to_vec();
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        if host.trim().len() >= 3 {
            forbidden.push(host.trim().to_owned());
        }
    }
    for path in &written {
        let text = std::fs::read_to_string(path).unwrap();
        for word in &forbidden {
            assert!(
                !text.to_lowercase().contains(&word.to_lowercase()),
                "{} gives away {word:?}",
                path.display()
            );
        }
        assert!(text.contains("Saint-Exemple"), "{}", path.display());
    }
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        html.contains("Une attaque informatique"),
        "the incident is shown"
    );
    assert!(
        html.contains("Panne partielle"),
        "the share's state is shown"
    );
}

#[test]
fn the_json_reads_as_statuspage_and_the_html_as_an_accessible_page() {
    let dir = tempfile::tempdir().unwrap();
    let config = config();
    let board = store(dir.path(), &config);
    board
        .set_state("svc-civil-01", ServiceState::MajorOutage)
        .unwrap();
    board
        .open_incident(NewIncident {
            title: "État civil <indisponible> & \"fermé\"".into(),
            impact: Impact::Major,
            services: vec!["svc-civil-01".into()],
            stage: IncidentStage::Investigating,
            message: "<img src=x onerror=alert(1)>".into(),
        })
        .unwrap();
    let page = PublicPage::assemble(&config, &board.read().unwrap(), None, Utc::now());
    let files: std::collections::BTreeMap<String, Vec<u8>> =
        public_files(&page, "https://etat.saint-exemple.fr/")
            .unwrap()
            .into_iter()
            .collect();

    let summary: serde_json::Value = serde_json::from_slice(&files["api/v2/summary.json"]).unwrap();
    assert_eq!(summary["page"]["name"], "Saint-Exemple");
    assert_eq!(summary["status"]["indicator"], "critical");
    let components = summary["components"].as_array().unwrap();
    assert_eq!(components.len(), 2);
    assert_eq!(components[0]["name"], "État civil");
    assert_eq!(components[0]["status"], "major_outage");
    assert_eq!(components[0]["id"].as_str().unwrap().len(), 12);
    let incident = &summary["incidents"][0];
    assert_eq!(incident["status"], "investigating");
    assert_eq!(incident["impact"], "major");
    assert_eq!(
        incident["incident_updates"][0]["body"],
        "<img src=x onerror=alert(1)>"
    );
    assert_eq!(incident["components"][0]["name"], "État civil");
    for name in [
        "api/v2/status.json",
        "api/v2/components.json",
        "api/v2/incidents.json",
        "api/v2/incidents/unresolved.json",
        "api/v2/scheduled-maintenances.json",
    ] {
        let json: serde_json::Value = serde_json::from_slice(&files[name]).unwrap();
        assert_eq!(json["page"]["id"], summary["page"]["id"], "{name}");
    }

    for (name, lang, other) in [
        ("index.html", "fr", "en/index.html"),
        ("en/index.html", "en", "../index.html"),
    ] {
        let html = String::from_utf8(files[name].clone()).unwrap();
        assert!(html.contains(&format!("<html lang=\"{lang}\">")), "{name}");
        for landmark in [
            "<header>",
            "<main id=\"contenu\">",
            "<footer>",
            "<h1>",
            "name=\"viewport\"",
        ] {
            assert!(html.contains(landmark), "{name}: {landmark}");
        }
        assert!(
            html.contains(&format!("href=\"{other}\"")),
            "{name} links the other language"
        );
        assert!(!html.contains("<script"), "{name}: no script");
        assert!(
            !html.contains("<img"),
            "{name}: the operator's text is escaped"
        );
        assert!(
            html.contains("&#60;img") || html.contains("&lt;img"),
            "{name}"
        );
        assert!(!html.contains("<indisponible>"), "{name}");
    }
    let fr = String::from_utf8(files["index.html"].clone()).unwrap();
    assert!(fr.contains("Panne majeure") && fr.contains("Analyse en cours"));
    let en = String::from_utf8(files["en/index.html"].clone()).unwrap();
    assert!(en.contains("Major outage") && en.contains("Investigating"));
}

/// WCAG 2 contrast ratio of two `#rrggbb` colours.
fn contrast(a: &str, b: &str) -> f64 {
    fn luminance(hex: &str) -> f64 {
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
    }
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[test]
fn every_colour_of_the_page_meets_wcag_aa_contrast() {
    for (class, background) in PALETTE.states.iter().chain(&PALETTE.overall) {
        let ratio = contrast(background, "#ffffff");
        assert!(ratio >= 4.5, "{class}: {ratio:.2}");
    }
    for (what, colour) in [
        ("text", PALETTE.text),
        ("muted", PALETTE.muted),
        ("link", PALETTE.link),
    ] {
        let ratio = contrast(colour, PALETTE.background);
        assert!(ratio >= 4.5, "{what}: {ratio:.2}");
    }
    assert!(contrast("#777777", "#ffffff") < 4.5, "the check can fail");
}

#[test]
fn service_ids_are_salted_per_town_so_names_cannot_be_guessed_from_them() {
    let config = config();
    let ids = || {
        let dir = tempfile::tempdir().unwrap();
        let board = store(dir.path(), &config).read().unwrap();
        let page = PublicPage::assemble(&config, &board, None, Utc::now());
        let again = PublicPage::assemble(
            &config,
            &store(dir.path(), &config).read().unwrap(),
            None,
            Utc::now(),
        );
        assert_eq!(
            page.services[0].id, again.services[0].id,
            "stable for one board"
        );
        page.services[0].id.clone()
    };
    assert_ne!(ids(), ids(), "two boards, two salts");
}
