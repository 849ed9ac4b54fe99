//! `reprise web` over real HTTPS: what a stranger gets, logging in,
//! sessions, CSRF, the throttle on failed logins, the audit log, and
//! `/metrics` behind its token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use reprise_web::server::auth::MOST_FAILURES;

#[test]
fn a_stranger_gets_the_public_page_and_nothing_else() {
    let site = site("1h");
    let home = site.get("/", None);
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Saint-Exemple") && home.body.contains("État civil"));
    assert!(home
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'none'"));
    assert_eq!(home.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(site.get("/en/", None).status, 200);
    let summary = site.get("/api/v2/summary.json", None);
    assert_eq!(summary.status, 200);
    let json: serde_json::Value = serde_json::from_str(&summary.body).unwrap();
    assert_eq!(json["components"].as_array().unwrap().len(), 3);
    assert_eq!(
        site.get("/api/v2/incidents/unresolved.json", None).status,
        200
    );

    for path in [
        "/admin",
        "/admin/status",
        "/admin/snapshots",
        "/admin/snapshots/0000000000000000000000000000000000000000000000000000000000000000?path=%2F",
        "/admin/snapshots/0000000000000000000000000000000000000000000000000000000000000000/file?path=%2Fa",
        "/admin/diff?from=00&to=00",
        "/admin/jobs",
    ] {
        let a = site.get(path, None);
        assert_eq!(
            (a.status, a.header("location")),
            (303, Some("/login")),
            "{path}"
        );
    }
    let forged = site.get("/admin", Some("00000000000000000000000000000000"));
    assert_eq!(forged.status, 303, "a made-up cookie is no session");
    assert_eq!(site.get("/metrics", None).status, 401);
    let a = site.post(
        "/admin/status/set",
        None,
        &[("service", "eau"), ("state", "major_outage")],
        None,
    );
    assert_eq!(a.status, 303);
    assert!(
        !site.get("/", None).body.contains("Panne majeure"),
        "nothing changed"
    );
    assert_eq!(site.get("/etc/passwd", None).status, 404);
    assert_eq!(site.get("/api/v2/../../web/audit.log", None).status, 404);
    assert_eq!(site.get("/login", None).status, 200);
}

#[test]
fn an_operator_logs_in_changes_the_public_page_with_csrf_and_every_step_is_audited() {
    let site = site("1h");
    let wrong = site.post(
        "/login",
        None,
        &[("name", "marie"), ("password", "guess")],
        None,
    );
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("wrong name or password"));
    let cookie = site.log_in();

    let overview = site.get("/admin", Some(&cookie));
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(
        overview.body.contains("Overview")
            && overview.body.contains("Nothing has been backed up yet")
    );
    let board = site.get("/admin/status", Some(&cookie));
    assert_eq!(board.status, 200);
    let csrf = csrf_of(&board.body);

    let set = [("service", "eau"), ("state", "major_outage")];
    let no_token = site.post("/admin/status/set", Some(&cookie), &set, None);
    assert_eq!(no_token.status, 403);
    let with_token = [
        ("service", "eau"),
        ("state", "major_outage"),
        ("csrf", csrf.as_str()),
    ];
    let elsewhere = site.post(
        "/admin/status/set",
        Some(&cookie),
        &with_token,
        Some("https://evil.example"),
    );
    assert_eq!(elsewhere.status, 403, "another site's form is refused");
    assert!(!site.get("/", None).body.contains("Panne majeure"));
    let done = site.post("/admin/status/set", Some(&cookie), &with_token, None);
    assert_eq!(
        (done.status, done.header("location")),
        (303, Some("/admin/status"))
    );
    assert!(
        site.get("/", None).body.contains("Panne majeure"),
        "the public page follows"
    );

    let leak = site.post(
        "/admin/status/open",
        Some(&cookie),
        &[
            ("title", "Panne"),
            ("impact", "major"),
            ("service", "eau"),
            ("message", "le serveur /srv/eau est chiffré"),
            ("csrf", &csrf),
        ],
        None,
    );
    assert_eq!(leak.status, 422);
    assert!(leak.body.contains("looks like a path"), "{}", leak.body);
    let opened = site.post(
        "/admin/status/open",
        Some(&cookie),
        &[
            ("title", "Facturation indisponible"),
            ("impact", "major"),
            ("service", "eau"),
            ("message", "Le service revient cet après-midi."),
            ("csrf", &csrf),
        ],
        None,
    );
    assert_eq!(opened.status, 303);
    let public = site.get("/", None).body;
    assert!(
        public.contains("Facturation indisponible") && public.contains("revient cet après-midi")
    );

    let out = site.post("/logout", Some(&cookie), &[("csrf", &csrf)], None);
    assert_eq!(out.status, 303);
    assert_eq!(
        site.get("/admin", Some(&cookie)).status,
        303,
        "the session is over"
    );

    let log = std::fs::read_to_string(site.audit_log()).unwrap();
    for action in [
        "login_failed",
        "\"login\"",
        "refused_csrf",
        "status_set",
        "incident_open",
        "logout",
    ] {
        assert!(log.contains(action), "{action} not in\n{log}");
    }
    assert!(!log.contains(PASSWORD), "no password in the log");
    reprise_server::audit::verify(&site.audit_log()).unwrap();
}

#[test]
fn failed_logins_are_throttled_even_for_the_right_password() {
    let site = site("1h");
    for _ in 0..MOST_FAILURES {
        let a = site.post(
            "/login",
            None,
            &[("name", "marie"), ("password", "guess")],
            None,
        );
        assert_eq!(a.status, 401);
    }
    let a = site.post(
        "/login",
        None,
        &[("name", "marie"), ("password", PASSWORD)],
        None,
    );
    assert_eq!(a.status, 429);
    assert!(a.header("set-cookie").is_none());
    assert!(std::fs::read_to_string(site.audit_log())
        .unwrap()
        .contains("login_throttled"));
}

#[test]
fn an_idle_session_expires() {
    let site = site("1s");
    let cookie = site.log_in();
    assert_eq!(site.get("/admin", Some(&cookie)).status, 200);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(site.get("/admin", Some(&cookie)).status, 303);
}

#[test]
fn metrics_answer_their_bearer_token_or_a_session() {
    let site = site("1h");
    let scrape = |token: &str| {
        answer(
            site.agent
                .get(format!("{}/metrics", site.base))
                .header("Authorization", format!("Bearer {token}"))
                .call(),
        )
    };
    assert_eq!(scrape("wrong-token-wrong-token").status, 401);
    let a = scrape(METRICS_TOKEN);
    assert_eq!(a.status, 200);
    assert!(a
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(
        a.body.contains("reprise_repository_snapshots 0"),
        "{}",
        a.body
    );
    let cookie = site.log_in();
    assert_eq!(site.get("/metrics", Some(&cookie)).status, 200);
    drop(site.handle);
}

#[test]
fn a_drill_started_in_the_browser_runs_to_its_end_and_is_recorded() {
    let site = site_in(tempfile::tempdir().unwrap(), "1h", true);
    let cookie = site.log_in();
    let a = start(
        &site,
        &cookie,
        "/admin/jobs/drill",
        &[("service", "partages")],
    );
    assert_eq!(a.status, 303, "{}", a.body);
    let location = a.header("location").unwrap().to_owned();
    assert!(location.starts_with("/admin/jobs/"), "{location}");
    let page = job_page_when_done(&site, &cookie, &location);
    assert!(page.contains("<strong>succeeded</strong>"), "{page}");
    assert!(page.contains("partages") && page.contains(">up<"), "{page}");
    let listed = site.get("/admin/jobs", Some(&cookie)).body;
    assert!(listed.contains(location.trim_start_matches("/admin/jobs/")));
    let overview = site.get("/admin", Some(&cookie)).body;
    assert!(
        overview.contains("just now"),
        "the drill shows on the overview:\n{overview}"
    );

    let refused = start(
        &site,
        &cookie,
        "/admin/jobs/recover",
        &[("service", "partages"), ("confirm", "yes")],
    );
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("type recover"), "{}", refused.body);
    assert!(std::fs::read_to_string(site.audit_log())
        .unwrap()
        .contains("job_start"));
}

#[test]
fn a_recovery_started_in_the_browser_moves_the_public_page() {
    let site = site_in(tempfile::tempdir().unwrap(), "1h", true);
    let cookie = site.log_in();
    let csrf = csrf_of(&site.get("/admin/status", Some(&cookie)).body);
    let down = [
        ("service", "partages"),
        ("state", "major_outage"),
        ("csrf", csrf.as_str()),
    ];
    assert_eq!(
        site.post("/admin/status/set", Some(&cookie), &down, None)
            .status,
        303
    );
    assert!(site.get("/", None).body.contains("Panne majeure"));
    std::thread::sleep(Duration::from_millis(20));

    let root = site.dir.path().join("restored");
    let root_text = root.display().to_string();
    let a = start(
        &site,
        &cookie,
        "/admin/jobs/recover",
        &[
            ("service", "partages"),
            ("target_root", &root_text),
            ("confirm", "recover"),
        ],
    );
    assert_eq!(a.status, 303, "{}", a.body);
    let page = job_page_when_done(&site, &cookie, a.header("location").unwrap());
    assert!(page.contains("<strong>succeeded</strong>"), "{page}");
    let restored = root.join(
        site.dir
            .path()
            .join("partages/compta/budget.ods")
            .strip_prefix("/")
            .unwrap(),
    );
    assert_eq!(std::fs::read(restored).unwrap(), b"budget 2027");
    let public = site.get("/", None).body;
    assert!(
        !public.contains("Panne majeure") && public.contains("Opérationnel"),
        "{public}"
    );
}

#[test]
fn a_job_cut_off_by_the_servers_end_resumes_when_it_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let first = site_in(dir, "1h", true);
    let cookie = first.log_in();
    // A job the server was running when it stopped: its file says running.
    let id = job_cut_off(
        &first,
        serde_json::json!({"kind": "drill", "services": ["partages"]}),
    );
    let Site { dir, handle, .. } = first;
    drop(cookie);
    handle.stop();

    let second = site_in(dir, "1h", true);
    let cookie = second.log_in();
    let page = job_page_when_done(&second, &cookie, &format!("/admin/jobs/{id}"));
    assert!(page.contains("<strong>succeeded</strong>"), "{page}");
    assert!(page.contains("resumed 1 time"), "{page}");
    assert!(
        page.contains("the server stopped during this job"),
        "{page}"
    );
}

#[test]
fn a_job_another_runner_still_holds_is_not_resumed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let id = "20261204120000-0a1b2c3e";
    let job_dir = dir.path().join("web/jobs").join(id);
    std::fs::create_dir_all(&job_dir).unwrap();
    let job = serde_json::json!({
        "id": id, "spec": {"kind": "drill", "services": ["partages"]}, "account": "marie",
        "created_at": "2026-12-04T12:00:00Z", "state": "running"
    });
    std::fs::write(job_dir.join("job.json"), job.to_string()).unwrap();
    // Something still runs it: it holds the job's runner lock.
    let held = std::fs::File::create(job_dir.join("runner.lock")).unwrap();
    held.try_lock().unwrap();

    let site = site_in(dir, "1h", true);
    let cookie = site.log_in();
    std::thread::sleep(Duration::from_millis(500));
    let page = site.get(&format!("/admin/jobs/{id}"), Some(&cookie)).body;
    assert!(page.contains("<strong>running</strong>"), "{page}");
    assert!(
        !page.contains("resuming"),
        "resumed while another runner held it:\n{page}"
    );
    drop(held);
}

#[test]
fn every_state_changing_request_needs_the_sessions_csrf_token() {
    let site = site_in(tempfile::tempdir().unwrap(), "1h", true);
    let cookie = site.log_in();
    let csrf = csrf_of(&site.get("/admin/jobs", Some(&cookie)).body);
    let forms: [(&str, Vec<(&str, &str)>); 7] = [
        ("/logout", vec![]),
        (
            "/admin/status/set",
            vec![("service", "eau"), ("state", "major_outage")],
        ),
        (
            "/admin/status/open",
            vec![
                ("title", "Panne"),
                ("impact", "major"),
                ("message", "En cours."),
            ],
        ),
        (
            "/admin/status/update",
            vec![
                ("id", "000000000000"),
                ("stage", "resolved"),
                ("message", "Fini."),
            ],
        ),
        ("/admin/jobs/drill", vec![("service", "partages")]),
        (
            "/admin/jobs/recover",
            vec![("service", "partages"), ("confirm", "recover")],
        ),
        (
            "/admin/jobs/restore",
            vec![
                (
                    "snapshot",
                    "0000000000000000000000000000000000000000000000000000000000000000",
                ),
                ("path", "/"),
                ("target", "/tmp/reprise-never-restored"),
            ],
        ),
    ];
    for (path, fields) in &forms {
        let none = site.post(path, Some(&cookie), fields, None);
        assert_eq!(none.status, 403, "{path} without a token");
        let mut forged = fields.clone();
        forged.push((
            "csrf",
            "0000000000000000000000000000000000000000000000000000000000000000",
        ));
        assert_eq!(
            site.post(path, Some(&cookie), &forged, None).status,
            403,
            "{path} with a forged token"
        );
        let mut right = fields.clone();
        right.push(("csrf", &csrf));
        let from_elsewhere = site.post(path, Some(&cookie), &right, Some("https://evil.example"));
        assert_eq!(from_elsewhere.status, 403, "{path} from another site");
    }
    assert!(
        site.get("/admin", Some(&cookie)).status == 200,
        "still logged in"
    );
    assert!(
        !site.get("/", None).body.contains("Panne"),
        "nothing changed"
    );
    let jobs = site.get("/admin/jobs", Some(&cookie)).body;
    assert!(jobs.contains("No job yet"), "no job started:\n{jobs}");
}

#[test]
fn a_form_that_trickles_in_is_refused_at_its_deadline() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use std::io::{Read, Write};

    let site = site("1h");
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&site.cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connection = rustls::ClientConnection::new(
        std::sync::Arc::new(config),
        ServerName::try_from("127.0.0.1").unwrap(),
    )
    .unwrap();
    let tcp = std::net::TcpStream::connect(site.base.trim_start_matches("https://")).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    let started = std::time::Instant::now();
    tls.write_all(
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nname=",
    )
    .unwrap();
    tls.flush().unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "refused at its deadline, not held"
    );
}
