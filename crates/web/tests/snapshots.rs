//! The dashboard's snapshots, incident view and restore jobs over real
//! HTTPS, on real backups with real detection: a share backed up clean,
//! then encrypted by ransomware and backed up again while the server runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use reprise_repo::Repository;
use reprise_storage::LocalBackend;

/// A site with a clean backup of its share, browsed once (so the server's
/// index predates what follows), then an attack and its backup.
struct Attacked {
    site: Site,
    cookie: String,
    share: PathBuf,
    clean: String,
    attacked: String,
    before: BTreeMap<PathBuf, Vec<u8>>,
}

fn attacked_site() -> Attacked {
    attacked_site_with(true)
}

/// [`attacked_site`], the files encrypted into new names (`rename`) or in
/// place.
fn attacked_site_with(rename: bool) -> Attacked {
    let site = site("1h");
    let share = site.dir.path().join("mairie");
    make_share(&share);
    let before = contents(&share);
    let repo_dir = site.dir.path().join("repo");
    let (clean, verdict) = back_up(&repo_dir, &share);
    assert_eq!(verdict, "clean");
    let cookie = site.log_in();
    let first = site.get(&format!("/admin/snapshots/{clean}"), Some(&cookie));
    assert_eq!(first.status, 200, "{}", first.body);
    encrypt_with(&share.join("finances"), rename);
    let (attacked, verdict) = back_up(&repo_dir, &share);
    assert_eq!(verdict, "attack");
    Attacked {
        site,
        cookie,
        share,
        clean,
        attacked,
        before,
    }
}

#[test]
fn snapshots_are_listed_browsed_downloaded_and_compared() {
    let a = attacked_site();
    let (site, cookie) = (&a.site, a.cookie.as_str());

    let list = site.get("/admin/snapshots", Some(cookie));
    assert_eq!(list.status, 200);
    let source = format!("srv-fichiers:{}", a.share.display());
    assert!(list.body.contains(&source), "{}", list.body);
    for id in [&a.clean, &a.attacked] {
        assert!(list.body.contains(&id[..8]), "{id} listed");
    }
    assert!(list.body.contains(">attack<") && list.body.contains(">clean<"));
    assert!(list.body.contains(&format!(
        "/admin/diff?from={}&amp;to={}",
        a.clean, a.attacked
    )));

    // The attacked snapshot was made after the server loaded its index.
    let finances = a.share.join("finances");
    let dir = site.get(
        &format!(
            "/admin/snapshots/{}?path={}",
            a.attacked,
            encoded(&finances)
        ),
        Some(cookie),
    );
    assert_eq!(dir.status, 200, "{}", dir.body);
    assert!(dir.body.contains("doc0.txt.lockbit") && dir.body.contains("README-RESTORE-FILES.txt"));
    assert!(dir.body.contains("Entries 1 to 13 of 13"), "{}", dir.body);
    assert!(!dir.body.contains(">doc0.txt<"));

    let root = site.get(
        &format!("/admin/snapshots/{}?path={}", a.clean, encoded(&a.share)),
        Some(cookie),
    );
    assert_eq!(root.status, 200);
    assert!(
        root.body.contains("r\u{fffd}sum\u{fffd}.txt"),
        "{}",
        root.body
    );
    let latin1 = a.share.join(OsStr::from_bytes(LATIN1_NAME));
    let href = format!(
        "/admin/snapshots/{}/file?path={}",
        a.clean,
        encoded(&latin1)
    );
    assert!(
        root.body.contains(&href.replace('&', "&amp;")),
        "{}",
        root.body
    );
    let file = site.get(&href, Some(cookie));
    assert_eq!(file.status, 200);
    assert_eq!(file.body, "CV 2027\n");
    assert!(file
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment; filename=\"r_sum_.txt\""));
    let doc = site.get(
        &format!(
            "/admin/snapshots/{}/file?path={}",
            a.clean,
            encoded(&finances.join("doc3.txt"))
        ),
        Some(cookie),
    );
    assert_eq!(
        doc.body.as_bytes(),
        a.before[Path::new("finances/doc3.txt")].as_slice()
    );

    let diff = site.get(
        &format!("/admin/diff?from={}&to={}", a.clean, a.attacked),
        Some(cookie),
    );
    assert_eq!(diff.status, 200, "{}", diff.body);
    assert!(
        diff.body.contains("13 added") && diff.body.contains("12 removed"),
        "{}",
        diff.body
    );
    assert!(diff
        .body
        .contains(&format!("{}/doc0.txt.lockbit", finances.display())));

    for missing in [
        format!("/admin/snapshots/{}?path=%2Fnope", a.clean),
        format!(
            "/admin/snapshots/{}/file?path={}",
            a.clean,
            encoded(&finances)
        ),
        "/admin/snapshots/not-an-id".to_owned(),
        format!("/admin/snapshots/{}", "1".repeat(64)),
        format!("/admin/diff?from={}&to=zz", a.clean),
    ] {
        assert_eq!(site.get(&missing, Some(cookie)).status, 404, "{missing}");
    }
    // A file whose name is not UTF-8 restores byte for byte.
    let target = site.dir.path().join("cv");
    let answer = start(
        site,
        cookie,
        "/admin/jobs/restore",
        &[
            ("snapshot", &a.clean),
            ("path", &encoded(&latin1)),
            ("target", target.to_str().unwrap()),
        ],
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    let page = job_page_when_done(site, cookie, answer.header("location").unwrap());
    assert!(page.contains("<strong>succeeded</strong>"), "{page}");
    assert_eq!(
        std::fs::read(target.join(OsStr::from_bytes(LATIN1_NAME))).unwrap(),
        b"CV 2027\n"
    );

    let audit = std::fs::read_to_string(site.audit_log()).unwrap();
    assert!(audit.contains("\"download\""), "downloads are audited");
    assert!(audit.contains("restore: "), "what a job does is audited");
}

#[test]
fn the_incident_view_shows_the_attack_and_a_last_clean_restore_brings_the_files_back() {
    let a = attacked_site();
    let (site, cookie) = (&a.site, a.cookie.as_str());
    let view = site.get("/admin/status", Some(cookie));
    assert_eq!(view.status, 200);
    assert!(
        view.body
            .contains("<strong>12</strong> file(s) encrypted, 1 ransom note(s)"),
        "{}",
        view.body
    );
    assert!(view
        .body
        .contains(&format!("/admin/snapshots/{}", a.attacked)));
    assert!(view.body.contains(&format!(
        "Last clean snapshot: <a href=\"/admin/snapshots/{}\"",
        a.clean
    )));

    let target = site.dir.path().join("restored");
    let answer = start(
        site,
        cookie,
        "/admin/jobs/restore",
        &[
            ("snapshot", &a.attacked),
            ("path", &encoded(&a.share)),
            ("target", target.to_str().unwrap()),
            ("last_clean", "1"),
        ],
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    let location = answer.header("location").unwrap().to_owned();
    let page = job_page_when_done(site, cookie, &location);
    assert!(page.contains("<strong>succeeded</strong>"), "{page}");
    assert!(
        page.contains("last clean: 12 file(s) taken from earlier snapshots"),
        "{page}"
    );
    assert_eq!(
        contents(&target),
        a.before,
        "every file as it was before the attack, no encrypted copy, no note"
    );

    let view = site.get("/admin/status", Some(cookie)).body;
    let id = location.trim_start_matches("/admin/jobs/");
    assert!(
        view.contains("What was started to restore it") && view.contains(id),
        "{view}"
    );

    // A plain restore of one directory of the clean snapshot.
    let plain = site.dir.path().join("etat-civil");
    let answer = start(
        site,
        cookie,
        "/admin/jobs/restore",
        &[
            ("snapshot", &a.clean),
            ("path", &encoded(&a.share.join("etat-civil"))),
            ("target", plain.to_str().unwrap()),
        ],
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    let page = job_page_when_done(site, cookie, answer.header("location").unwrap());
    assert!(page.contains("<strong>succeeded</strong>"), "{page}");
    let wanted: BTreeMap<PathBuf, Vec<u8>> = a
        .before
        .iter()
        .filter_map(|(p, d)| Some((p.strip_prefix("etat-civil").ok()?.to_path_buf(), d.clone())))
        .collect();
    assert_eq!(contents(&plain), wanted);

    for (fields, refusal) in [
        (
            vec![
                ("snapshot", a.clean.as_str()),
                ("path", "%2F"),
                ("target", "relative/dir"),
            ],
            "must be an absolute path",
        ),
        (
            vec![
                ("snapshot", a.clean.as_str()),
                ("path", "%2F"),
                ("target", "/"),
            ],
            "the target / is refused",
        ),
        (
            vec![("snapshot", "abc"), ("path", "%2F"), ("target", "/tmp/x")],
            "is not a snapshot id",
        ),
    ] {
        let refused = start(site, cookie, "/admin/jobs/restore", &fields);
        assert_eq!(refused.status, 422, "{fields:?}");
        assert!(refused.body.contains(refusal), "{}", refused.body);
    }
}

#[test]
fn a_restore_cut_off_by_the_servers_end_resumes_and_completes_what_it_had_begun() {
    let first = site_in(tempfile::tempdir().unwrap(), "1h", true);
    let repo = Repository::open(
        Arc::new(LocalBackend::new(first.dir.path().join("repo"))),
        b"pw",
    )
    .unwrap();
    let snapshot = repo.list_snapshots().unwrap().snapshots[0].0.to_hex();
    let share = first.dir.path().join("partages");
    // The server stopped in the middle of writing budget.ods.
    let target = first.dir.path().join("restored");
    std::fs::create_dir_all(target.join("compta")).unwrap();
    std::fs::write(target.join("compta/budget.ods"), b"budg").unwrap();
    let id = job_cut_off(
        &first,
        serde_json::json!({"kind": "restore", "services": [], "restore": {
            "snapshot": snapshot, "path": share.to_str().unwrap(), "target": target,
        }}),
    );
    let Site { dir, handle, .. } = first;
    handle.stop();

    let second = site_in(dir, "1h", true);
    let cookie = second.log_in();
    let page = job_page_when_done(&second, &cookie, &format!("/admin/jobs/{id}"));
    assert!(page.contains("<strong>succeeded</strong>"), "{page}");
    assert!(page.contains("resumed 1 time"), "{page}");
    assert_eq!(
        std::fs::read(target.join("compta/budget.ods")).unwrap(),
        b"budget 2027"
    );
}

/// A snapshot forged by a compromised client: one file whose recorded size
/// is not its content's. Returns the snapshot's id.
fn forged_snapshot(repo_dir: &Path, recorded: u64, content: &[u8]) -> String {
    use reprise_format::{BlobType, Node, NodeKind, Snapshot, Tree};
    let repo = Repository::open(Arc::new(LocalBackend::new(repo_dir)), b"pw").unwrap();
    repo.load_index().unwrap();
    let saver = reprise_repo::BlobSaver::new(&repo);
    let (chunk, _) = saver.save(BlobType::Data, content).unwrap();
    let mut node = Node::new(b"budget.ods".to_vec(), NodeKind::File);
    node.size = recorded;
    node.mode = 0o644;
    node.content = vec![chunk];
    let tree = serde_json::to_vec(&Tree { nodes: vec![node] }).unwrap();
    let (root, _) = saver.save(BlobType::Tree, &tree).unwrap();
    saver.finish(Vec::new()).unwrap();
    let snapshot: Snapshot = serde_json::from_value(serde_json::json!({
        "version": 1, "time": "2026-12-04T12:00:00Z", "tree": root,
        "paths": ["/srv"], "hostname": "srv-fichiers", "username": "root",
        "uid": 0, "gid": 0, "program_version": "forged"
    }))
    .unwrap();
    repo.save_snapshot(&snapshot).unwrap().to_hex()
}

#[test]
fn a_file_whose_recorded_size_lies_is_never_downloaded_as_whole() {
    let site = site("1h");
    let cookie = site.log_in();
    let content = b"the real budget, longer than recorded".as_slice();
    let repo_dir = site.dir.path().join("repo");
    for recorded in [4, 4096] {
        let id = forged_snapshot(&repo_dir, recorded, content);
        let url = format!(
            "{}/admin/snapshots/{id}/file?path=%2Fbudget%2Eods",
            site.base
        );
        let response = site
            .agent
            .get(&url)
            .header("Cookie", format!("__Host-reprise_session={cookie}"))
            .call();
        // Cut before its end, or refused at once: never a body taken for
        // the whole file.
        if let Ok(mut response) = response {
            assert_eq!(response.status().as_u16(), 200);
            let read = response.body_mut().read_to_vec();
            assert!(
                read.is_err(),
                "recorded {recorded}: read {:?}",
                read.map(|b| b.len())
            );
        }
    }
    let honest = forged_snapshot(&repo_dir, content.len() as u64, content);
    let file = site.get(
        &format!("/admin/snapshots/{honest}/file?path=%2Fbudget%2Eods"),
        Some(&cookie),
    );
    assert_eq!(file.body.as_bytes(), content);
}

#[test]
fn a_comparison_visits_a_bounded_number_of_entries() {
    let a = attacked_site();
    let repo = Repository::open(
        Arc::new(LocalBackend::new(a.site.dir.path().join("repo"))),
        b"pw",
    )
    .unwrap();
    let whole = reprise_web::snapshots::diff(&repo, &a.clean, &a.attacked).unwrap();
    assert_eq!(whole.total, 25);
    let refused =
        reprise_web::snapshots::diff_within(&repo, &a.clean, &a.attacked, 10).unwrap_err();
    assert!(
        refused.to_string().contains(&format!(
            "reprise diff {} {}",
            &a.clean[..8],
            &a.attacked[..8]
        )),
        "{refused}"
    );
}

#[test]
fn an_in_place_last_clean_restore_cleans_the_live_share_and_quarantines_what_the_attack_left() {
    // Encrypted under their own names: the clean versions go back where
    // the encrypted ones were, which a resumed job must not take for them.
    let a = attacked_site_with(false);
    let (site, cookie) = (&a.site, a.cookie.as_str());
    // The users went on working on the other directory meanwhile.
    let work = a.share.join("etat-civil/doc0.txt");
    std::fs::write(&work, b"edited after the attack").unwrap();

    let view = site.get("/admin/status", Some(cookie)).body;
    let at_share = format!("/admin/snapshots/{}?path={}", a.attacked, encoded(&a.share));
    assert!(
        view.contains(&at_share),
        "the incident links to the share:\n{view}"
    );

    let share = encoded(&a.share);
    // Spelt otherwise than the snapshot spells it, the share would match
    // none of the plan's paths (and a trailing slash would put the
    // quarantine inside it): refused.
    for spelt in [
        share.replace("%2Fmairie", "%2F%2Fmairie"),
        format!("{share}%2F"),
        share.replace("%2Fmairie", "%2F%2E%2Fmairie"),
    ] {
        let refused = start(
            site,
            cookie,
            "/admin/jobs/restore",
            &[
                ("snapshot", &a.attacked),
                ("path", &spelt),
                ("last_clean", "1"),
                ("in_place", "1"),
                ("confirm", "in place"),
            ],
        );
        assert_eq!(refused.status, 422, "{spelt}");
        assert!(
            refused.body.contains("as the snapshot names it"),
            "{}",
            refused.body
        );
    }
    for (fields, refusal) in [
        (
            vec![
                ("snapshot", a.attacked.as_str()),
                ("path", share.as_str()),
                ("in_place", "1"),
                ("last_clean", "1"),
            ],
            "type in place",
        ),
        (
            vec![
                ("snapshot", a.attacked.as_str()),
                ("path", share.as_str()),
                ("in_place", "1"),
                ("confirm", "in place"),
            ],
            "tick last clean",
        ),
    ] {
        let refused = start(site, cookie, "/admin/jobs/restore", &fields);
        assert_eq!(refused.status, 422, "{fields:?}");
        assert!(refused.body.contains(refusal), "{}", refused.body);
    }
    assert_ne!(contents(&a.share), a.before);

    let answer = start(
        site,
        cookie,
        "/admin/jobs/restore",
        &[
            ("snapshot", &a.attacked),
            ("path", &share),
            ("last_clean", "1"),
            ("in_place", "1"),
            ("confirm", "in place"),
        ],
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    let page = job_page_when_done(site, cookie, answer.header("location").unwrap());
    assert!(page.contains("<strong>succeeded</strong>"), "{page}");
    assert!(
        page.contains("13 encrypted copies, notes and replaced versions moved into"),
        "{page}"
    );

    let mut wanted = a.before.clone();
    wanted.insert(
        PathBuf::from("etat-civil/doc0.txt"),
        b"edited after the attack".to_vec(),
    );
    assert_eq!(
        contents(&a.share),
        wanted,
        "clean again, the users' later work kept"
    );
    let quarantine = std::fs::read_dir(site.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("mairie.reprise-quarantine-"))
        .expect("a quarantine beside the share");
    let kept = contents(&quarantine);
    assert_eq!(kept.len(), 13, "{kept:?}");
    assert!(kept.contains_key(Path::new("finances/README-RESTORE-FILES.txt")));
    assert_ne!(
        kept[Path::new("finances/doc0.txt")],
        a.before[Path::new("finances/doc0.txt")],
        "the encrypted version, quarantined"
    );

    // The server stopped after the restore wrote its files but before the
    // job's file said so: resumed, the job must not take the clean files it
    // put back for the attack's and move them into the quarantine.
    let id = answer_id(&answer_location(site, cookie));
    let jobs = site.dir.path().join("web/jobs");
    let mut job: serde_json::Value =
        serde_json::from_slice(&std::fs::read(jobs.join(&id).join("job.json")).unwrap()).unwrap();
    job["state"] = "running".into();
    std::fs::write(jobs.join(&id).join("job.json"), job.to_string()).unwrap();
    let Attacked { site, .. } = a;
    let Site { dir, handle, .. } = site;
    handle.stop();
    let again = site_in(dir, "1h", false);
    let cookie = again.log_in();
    let page = job_page_when_done(&again, &cookie, &format!("/admin/jobs/{id}"));
    assert!(
        page.contains("<strong>succeeded</strong>") && page.contains("resumed 1 time"),
        "{page}"
    );
    assert_eq!(contents(&share_dir(&again)), wanted, "still clean");
    assert_eq!(contents(&quarantine), kept, "the quarantine as it was");
}

fn share_dir(site: &Site) -> PathBuf {
    site.dir.path().join("mairie")
}

/// The newest job's page address.
fn answer_location(site: &Site, cookie: &str) -> String {
    let jobs = site.get("/admin/jobs", Some(cookie)).body;
    let at = jobs.find("href=\"/admin/jobs/").expect("a job") + "href=\"".len();
    jobs[at..].split('"').next().unwrap().to_owned()
}

fn answer_id(location: &str) -> String {
    location.trim_start_matches("/admin/jobs/").to_owned()
}
