//! `reprise demo`'s drill of the small service catalogue, as a person sees
//! it: the RTO table printed with every service up and every database
//! verified, and nothing left behind — no scratch copy, no PostgreSQL
//! still running (the demo starts a throw-away one when PostgreSQL is
//! installed, and this test then requires it in the table).

use crate::common::*;
use std::path::{Path, PathBuf};

/// The data directory and port the demo's PostgreSQL step names, if it
/// started one: "... on 127.0.0.1:PORT (data in DIR), ...".
fn postgres_of(stdout: &str) -> Option<(PathBuf, u16)> {
    let line = stdout
        .lines()
        .find(|l| l.contains("start a throw-away PostgreSQL"))?;
    let port = line.split("127.0.0.1:").nth(1)?;
    let port = port
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    let data = line.split("(data in ").nth(1)?.split(')').next()?;
    Some((PathBuf::from(data), port))
}

fn postgres_installed() -> bool {
    std::fs::read_dir("/usr/lib/postgresql")
        .map(|versions| {
            versions
                .flatten()
                .any(|v| v.path().join("bin/initdb").is_file())
        })
        .unwrap_or(false)
}

/// Processes whose command line names `data_dir` (a postmaster started
/// with `-D data_dir`).
fn processes_using(data_dir: &Path) -> Vec<String> {
    let needle = data_dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&needle))
        .collect()
}

#[test]
fn the_demo_drills_the_service_catalogue_and_prints_its_rto_table() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = reprise()
        .args(["demo", "--size-mib", "1", "--dir"])
        .arg(&work)
        .output()
        .unwrap();
    assert_success(&out, "reprise demo");
    let stdout = String::from_utf8_lossy(&out.stdout);

    let table = stdout
        .split("The drill's RTO table")
        .nth(1)
        .unwrap_or_else(|| panic!("no RTO table in:\n{stdout}"));
    let mut services = vec!["annuaire", "etat-civil", "cantine", "partages"];
    if postgres_installed() {
        services.push("facturation-eau");
    }
    for service in &services {
        let row = table
            .lines()
            .find(|l| l.trim_start().starts_with(service))
            .unwrap_or_else(|| panic!("{service} missing from the table:\n{table}"));
        assert!(
            row.contains("yes"),
            "{service} did not meet its target: {row}"
        );
    }
    assert!(
        !table.contains("FAILED") && !table.contains("not started"),
        "{table}"
    );
    assert!(
        table.contains("OK: first service up (") && table.contains("all up after"),
        "{table}"
    );
    let databases = if postgres_installed() { 3 } else { 2 };
    assert!(
        table.contains(&format!("({databases} of {databases} verified)")),
        "{table}"
    );

    // Nothing left behind: the drill's scratch copies, the cluster.
    assert!(!work.join("services/exercice").exists());
    if postgres_installed() {
        let (data, port) = postgres_of(&stdout)
            .unwrap_or_else(|| panic!("the demo started no PostgreSQL:\n{stdout}"));
        assert!(!data.exists(), "{} is left behind", data.display());
        assert_eq!(processes_using(&data), Vec::<String>::new());
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "a server still listens on port {port}"
        );
    }
}

#[test]
fn demo_web_serves_the_demo_town_and_prints_where_and_how_to_log_in() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let mut child = std::process::Command::new(bin())
        .args(["demo", "--web", "--size-mib", "1", "--dir"])
        .arg(&work)
        .env_remove("REPRISE_REPOSITORY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    let mut public = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.trim_start().strip_prefix("public page: https://") {
            public = rest.split('/').next().map(str::to_owned);
            lines.push(line);
            break;
        }
        lines.push(line);
    }
    let address = public.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the demo printed no public page:\n{}", lines.join("\n"))
    });
    let dashboard = lines
        .iter()
        .find(|l| l.contains("dashboard:"))
        .cloned()
        .unwrap_or_default();
    let listening = std::net::TcpStream::connect(&address).is_ok();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        dashboard.contains("/admin") && dashboard.contains("account demo, password "),
        "{dashboard}"
    );
    assert!(listening, "nothing listens on {address}");
    assert!(
        work.join("web/tls/cert.pem").exists(),
        "a self-signed certificate in the demo's directory"
    );
}
