//! The dashboard and the public page in a real headless Chromium, through
//! WebDriver (scripts/browser starts ChromeDriver; `scripts/test-all` runs
//! it). An operator logs in, browses a snapshot, starts a restore, closes
//! the browser, the server restarts, and the restore is there, finished;
//! the operator runs a whole drill; a citizen watches the public page
//! change while a recovery runs; a stranger gets nothing but the public
//! page.
//!
//! With `REPRISE_SCREENSHOTS=DIR`, each page's screenshot is written there
//! (how docs/screenshots/ is made).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// The WebDriver address, or `None` when told to skip browser tests.
fn webdriver() -> Option<(String, String)> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    if var("REPRISE_TEST_SKIP_BROWSER").as_deref() == Some("1") {
        eprintln!("skipped: needs Chromium (REPRISE_TEST_SKIP_BROWSER=1)");
        return None;
    }
    let Some(driver) = var("REPRISE_TEST_WEBDRIVER") else {
        panic!(
            "this test needs Chromium and ChromeDriver: `scripts/browser start DIR && source DIR/env` \
             first (scripts/test-all does), or set REPRISE_TEST_SKIP_BROWSER=1"
        );
    };
    let chromium = var("REPRISE_TEST_CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into());
    Some((driver, chromium))
}

/// A new browser, with its own empty profile.
async fn browser(driver: &str, chromium: &str, profile: &std::path::Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert("acceptInsecureCerts".into(), json!(true));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(driver)
        .await
        .expect("a WebDriver session")
}

async fn source_of(client: &Client, url: &str) -> String {
    client.goto(url).await.unwrap();
    client.source().await.unwrap()
}

async fn screenshot(client: &Client, name: &str) {
    if let Ok(dir) = std::env::var("REPRISE_SCREENSHOTS") {
        let png = client.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

async fn log_in(client: &Client, base: &str) {
    client.goto(&format!("{base}/admin")).await.unwrap();
    assert!(client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .ends_with("/login"));
    client
        .find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys("marie")
        .await
        .unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    client
        .find(Locator::Css("form[action='/login'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(client, "/admin").await;
}

/// Waits for the browser to land on a page whose address ends with `end`
/// (a click returns before the page it leads to has loaded).
async fn wait_url(client: &Client, end: &str) -> String {
    for _ in 0..100 {
        let url = client.current_url().await.unwrap().to_string();
        if url.ends_with(end) {
            return url;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = client.source().await.unwrap_or_default();
    let body = page.split("<main>").nth(1).unwrap_or(&page);
    panic!("never reached …{end}:\n{body}");
}

/// Waits for the browser to land on a page whose address contains `part`.
async fn wait_url_containing(client: &Client, part: &str) -> String {
    for _ in 0..100 {
        let url = client.current_url().await.unwrap().to_string();
        if url.contains(part) {
            return url;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never reached an address with {part}");
}

/// Waits for the page the browser is on to contain `text`.
async fn wait_for_source(client: &Client, text: &str) -> String {
    for _ in 0..100 {
        let page = client.source().await.unwrap_or_default();
        if page.contains(text) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{text:?} never came:\n{}",
        client.source().await.unwrap_or_default()
    );
}

/// Reloads `url` until its page contains `text`.
async fn wait_for(client: &Client, url: &str, text: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let page = source_of(client, url).await;
        if page.contains(text) {
            return page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{text:?} never came:\n{page}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[test]
fn an_operator_drills_and_recovers_in_the_browser_and_a_citizen_follows() {
    let Some((driver, chromium)) = webdriver() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let profiles = tempfile::tempdir().unwrap();
    let first = site_in(tempfile::tempdir().unwrap(), "1h", true);
    let base = first.base.clone();

    runtime.block_on(async {
        // A stranger: the public page, and nothing else.
        let stranger = browser(&driver, &chromium, &profiles.path().join("stranger")).await;
        let public = source_of(&stranger, &format!("{base}/")).await;
        assert!(public.contains("Saint-Exemple") && public.contains("Dossiers partagés"));
        screenshot(&stranger, "status-page").await;
        stranger.goto(&format!("{base}/admin/jobs")).await.unwrap();
        assert!(stranger
            .current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("/login"));
        let metrics = source_of(&stranger, &format!("{base}/metrics")).await;
        assert!(!metrics.contains("reprise_repository"), "{metrics}");
        screenshot(&stranger, "login").await;
        stranger.close().await.unwrap();

        // An operator browses a snapshot, starts a restore of one of its
        // directories, then closes the browser.
        let operator = browser(&driver, &chromium, &profiles.path().join("operator")).await;
        log_in(&operator, &base).await;
        screenshot(&operator, "overview").await;
        operator
            .goto(&format!("{base}/admin/snapshots"))
            .await
            .unwrap();
        screenshot(&operator, "snapshots").await;
        operator
            .find(Locator::Css("table a[href^='/admin/snapshots/']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let snapshot_url = wait_url_containing(&operator, "/admin/snapshots/").await;
        let share = first.dir.path().join("partages");
        operator
            .goto(&format!("{snapshot_url}?path={}", encoded(&share)))
            .await
            .unwrap();
        operator
            .find(Locator::LinkText("compta"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let listing = wait_for_source(&operator, "budget.ods").await;
        assert!(listing.contains("/file?path="), "{listing}");
        screenshot(&operator, "browse").await;
        let target = first.dir.path().join("restored-compta");
        operator
            .find(Locator::Id("target"))
            .await
            .unwrap()
            .send_keys(&target.display().to_string())
            .await
            .unwrap();
        operator
            .find(Locator::Css("form[action='/admin/jobs/restore'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_url_containing(&operator, "/admin/jobs/2").await;
        operator.close().await.unwrap();
    });

    // The server restarts; the job is still there, and ends.
    let Site { dir, handle, .. } = first;
    handle.stop();
    let second = site_in(dir, "1h", true);
    let base = second.base.clone();
    runtime.block_on(async {
        let operator = browser(&driver, &chromium, &profiles.path().join("operator-again")).await;
        log_in(&operator, &base).await;
        let jobs = wait_for(&operator, &format!("{base}/admin/jobs"), "succeeded").await;
        assert!(jobs.contains("Restore"), "{jobs}");
        let restored = second.dir.path().join("restored-compta/budget.ods");
        assert_eq!(std::fs::read(&restored).unwrap(), b"budget 2027");

        // A whole drill, started and followed in the browser.
        operator.goto(&format!("{base}/admin/jobs")).await.unwrap();
        screenshot(&operator, "jobs").await;
        operator
            .find(Locator::Css("form[action='/admin/jobs/drill'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let drill_url = wait_url_containing(&operator, "/admin/jobs/2").await;
        let job = wait_for(&operator, &drill_url, "<strong>succeeded</strong>").await;
        assert!(job.contains("Drill") && job.contains("partages"), "{job}");
        screenshot(&operator, "job").await;

        // Ransomware hits another share; its next backup sees it. The
        // operator reads the incident and what changed.
        let mairie = second.dir.path().join("mairie");
        make_share(&mairie);
        let repo_dir = second.dir.path().join("repo");
        let (clean, _) = back_up(&repo_dir, &mairie);
        encrypt(&mairie.join("finances"));
        let (attacked, verdict) = back_up(&repo_dir, &mairie);
        assert_eq!(verdict, "attack");
        let incident = source_of(&operator, &format!("{base}/admin/status")).await;
        assert!(
            incident.contains("<strong>12</strong> file(s) encrypted"),
            "{incident}"
        );
        screenshot(&operator, "incident").await;
        let diff = source_of(
            &operator,
            &format!("{base}/admin/diff?from={clean}&to={attacked}"),
        )
        .await;
        assert!(diff.contains("12 removed"), "{diff}");
        screenshot(&operator, "diff").await;

        // The public page says the share is down; a citizen watches it come
        // back while the operator recovers it.
        operator
            .goto(&format!("{base}/admin/status"))
            .await
            .unwrap();
        let select = operator.find(Locator::Id("state-partages")).await.unwrap();
        select.select_by_value("major_outage").await.unwrap();
        operator
            .find(Locator::Css("form:has(#state-partages) button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The form's answer is the board again: wait for it to load.
        tokio::time::sleep(Duration::from_millis(500)).await;
        wait_for(
            &operator,
            &format!("{base}/admin/status"),
            "<td>Major outage</td>",
        )
        .await;
        screenshot(&operator, "status-board").await;
        let citizen = browser(&driver, &chromium, &profiles.path().join("citizen")).await;
        wait_for(&citizen, &format!("{base}/"), "Panne majeure").await;

        operator.goto(&format!("{base}/admin/jobs")).await.unwrap();
        operator
            .find(Locator::Id("recover-partages"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let root = second.dir.path().join("restored").display().to_string();
        operator
            .find(Locator::Id("target_root"))
            .await
            .unwrap()
            .send_keys(&root)
            .await
            .unwrap();
        operator
            .find(Locator::Id("confirm"))
            .await
            .unwrap()
            .send_keys("recover")
            .await
            .unwrap();
        operator
            .find(Locator::Css("form[action='/admin/jobs/recover'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let after = wait_for(
            &citizen,
            &format!("{base}/"),
            "Tous les services fonctionnent",
        )
        .await;
        assert!(!after.contains("Panne majeure"), "{after}");
        let english = source_of(&citizen, &format!("{base}/en/")).await;
        assert!(english.contains("All Systems Operational"), "{english}");
        citizen.close().await.unwrap();
        operator.close().await.unwrap();
    });
}
