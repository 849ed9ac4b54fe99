//! The town hall's share, generated from a seed: civil-status scans and
//! SQLite registers, invoices, budgets, council minutes and letters,
//! planning permission files, staff records, photos and posters, mail
//! (mailboxes, messages, attachments), logs and their gzipped archives, SQL
//! dumps, zip archives, programs and scripts, notes, in a tree four or five
//! levels deep, with a few files of 1 to 5 MiB. About
//! [`ShareSpec::files`] files; the same spec gives the
//! same tree, byte for byte (but for the programs, copied from this
//! machine).

use crate::error::{IoContext, Result};
use crate::formats::{self, content, Spec};
use crate::rng::{derived, fnv1a, pick};
use reprise_sample::DocumentKind;
use std::path::{Path, PathBuf};

/// The directories the attacks of the evaluation never reach: the benign
/// changes that go with each attack happen there, so that a last-clean
/// restore can be checked to keep them.
pub const RESERVED_DIRS: &[&str] = &["conseil-municipal", "courriel"];

/// Programs copied into `logiciels/bin` (those present on this machine).
pub const PROGRAMS: &[&str] = &["ls", "cp", "gzip", "tar", "sed", "grep", "find", "diff"];
/// Programs a software update installs in their place.
pub const UPDATED_PROGRAMS: &[&str] = &[
    "mv", "rm", "cat", "sort", "du", "df", "touch", "chmod", "ln", "mkdir", "head", "tail",
];

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareSpec {
    pub seed: u64,
    /// About this many files.
    pub files: usize,
}

/// The two sizes of the evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// About 200 files (13 MB, smaller documents), for tests.
    Small,
    /// About 2 750 files (170 MB).
    Full,
}

impl Scale {
    pub fn parse(s: &str) -> Option<Scale> {
        match s {
            "small" => Some(Scale::Small),
            "full" => Some(Scale::Full),
            _ => None,
        }
    }

    pub fn files(self) -> usize {
        match self {
            Scale::Small => 200,
            // Fixed files and rounding bring the count to about 2 750.
            Scale::Full => 3000,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub bytes: u64,
}

/// One file to write: its path under the share and its content.
pub type Planned = (String, Spec);

/// The files of the share, in order.
pub fn plan(spec: &ShareSpec) -> Vec<Planned> {
    let n = spec.files.max(50);
    // Small shares get smaller documents, to keep tests fast.
    let factor = if n <= 500 { 0.5 } else { 1.0 };
    let mut p = Planner {
        seed: spec.seed,
        rng: derived(spec.seed, "share"),
        out: Vec::new(),
        factor,
    };
    let count = |per_mille: usize| (n * per_mille).div_ceil(1000);
    let years = [2019, 2020, 2021, 2022, 2023, 2024, 2025];
    for i in 0..count(90) {
        let y = years[i % years.len()];
        p.doc(
            format!("etat-civil/naissances/{y}/acte-{:05}.pdf", 1000 + i),
            DocumentKind::Scan,
            20..80,
        );
    }
    for i in 0..count(40) {
        let y = years[i % years.len()];
        p.doc(
            format!("etat-civil/mariages/{y}/acte-{:05}.pdf", 500 + i),
            DocumentKind::Scan,
            20..80,
        );
    }
    for i in 0..count(8).max(2) {
        let rows = p.rng.u64(300..3000);
        let seed = p.file_seed(i as u64);
        p.out.push((
            format!(
                "etat-civil/registres/{}/registre-{:02}.sqlite",
                years[i % years.len()],
                i / years.len() + 1
            ),
            Spec::Sqlite { seed, rows },
        ));
    }
    for i in 0..count(80) {
        let y = years[i % years.len()];
        let m = i / years.len() % 12 + 1;
        p.doc(
            format!("finances/factures/{y}/{m:02}/facture-{:05}.pdf", 20_000 + i),
            DocumentKind::Scan,
            15..60,
        );
    }
    for i in 0..count(30) {
        let y = years[i % years.len()];
        p.doc(
            format!(
                "finances/registres/{y}/mandats-{:02}.csv",
                i / years.len() + 1
            ),
            DocumentKind::Table,
            4..30,
        );
    }
    for i in 0..count(50) {
        let y = years[i % years.len()];
        let what = pick(&mut p.rng, &["primitif", "supplementaire", "eau", "ccas"]);
        let size = p.kb(10..60);
        let seed = p.file_seed(i as u64 + 7);
        p.out.push((
            format!("finances/budget/{y}/budget-{what}-{i:03}.xlsx"),
            Spec::Workbook { seed, bytes: size },
        ));
    }
    for i in 0..count(60) {
        let y = years[i % years.len()];
        p.doc(
            format!(
                "conseil-municipal/deliberations/{y}/deliberation-{y}-{:03}.odt",
                i + 1
            ),
            DocumentKind::Minutes,
            8..40,
        );
    }
    for i in 0..count(70) {
        let y = years[i % years.len()];
        p.doc(
            format!("conseil-municipal/courriers/{y}/courrier-{:04}.docx", i + 1),
            DocumentKind::Letter,
            8..40,
        );
    }
    for i in 0..count(100).div_ceil(4) {
        let y = years[i % years.len()];
        let dir = format!("urbanisme/permis/{y}/PC-069-{:04}", 100 + i);
        p.doc(format!("{dir}/demande.docx"), DocumentKind::Letter, 8..30);
        p.doc(format!("{dir}/plan-masse.pdf"), DocumentKind::Scan, 30..120);
        p.doc(
            format!("{dir}/photo-terrain.jpg"),
            DocumentKind::Photo,
            30..120,
        );
        p.doc(format!("{dir}/notes.txt"), DocumentKind::Note, 1..6);
    }
    for i in 0..count(60).div_ceil(3) {
        let mut rng = derived(spec.seed ^ i as u64, "agent");
        let name = format!(
            "{}-{}",
            pick(
                &mut rng,
                &["martin", "bernard", "petit", "durand", "moreau", "simon"]
            ),
            i + 1
        );
        let dir = format!("rh/agents/{name}");
        p.doc(format!("{dir}/contrat.docx"), DocumentKind::Letter, 8..30);
        p.doc(
            format!("{dir}/fiche-de-paie.pdf"),
            DocumentKind::Scan,
            15..50,
        );
        p.doc(
            format!("{dir}/entretien-annuel.odt"),
            DocumentKind::Minutes,
            6..25,
        );
    }
    let events = [
        "fete-du-village",
        "ceremonie-11-novembre",
        "inauguration-ecole",
        "marche-noel",
    ];
    for i in 0..count(110) {
        let y = years[i % years.len()];
        let event = events[i / years.len() % events.len()];
        p.doc(
            format!("communication/photos/{y}/{event}/IMG_{:04}.jpg", 1000 + i),
            DocumentKind::Photo,
            30..150,
        );
    }
    for i in 0..count(30) {
        let size = p.kb(20..120);
        let seed = p.file_seed(i as u64 + 11);
        p.out.push((
            format!("communication/affiches/affiche-{:03}.png", i + 1),
            Spec::Png { seed, bytes: size },
        ));
    }
    for i in 0..count(50) {
        let y = years[i % years.len()];
        p.doc(
            format!("courriel/exports/{y}/message-{:05}.eml", 100 + i),
            DocumentKind::Mail,
            2..12,
        );
    }
    for i in 0..count(20) {
        let y = years[i % years.len()];
        let size = p.kb(20..80);
        let seed = p.file_seed(i as u64 + 13);
        p.out.push((
            format!("courriel/exports/{y}/piece-jointe-{:05}.eml", 100 + i),
            Spec::MailWithAttachment { seed, bytes: size },
        ));
    }
    let mailboxes = ["accueil", "maire", "urbanisme", "secretariat"];
    for (i, mailbox) in mailboxes.iter().enumerate() {
        let size = if i == 0 { 2400 } else { p.rng.u64(100..500) };
        p.doc(
            format!("courriel/boites/{mailbox}.mbox"),
            DocumentKind::Mail,
            size..size + 1,
        );
    }
    for (i, service) in ["smbd", "sauvegarde", "authentification", "impression"]
        .iter()
        .enumerate()
    {
        let size = if i == 0 { 2200 } else { p.rng.u64(60..400) };
        let bytes = p.kb(size..size + 1);
        let seed = p.file_seed(i as u64 + 17);
        p.out
            .push((format!("logs/{service}.log"), Spec::Log { seed, bytes }));
    }
    for i in 0..count(20) {
        let size = p.kb(10..80);
        let seed = p.file_seed(i as u64 + 19);
        p.out.push((
            format!(
                "logs/archives/smbd-2024-{:02}-{:02}.log.gz",
                i % 12 + 1,
                i / 12 + 1
            ),
            Spec::GzLog { seed, bytes: size },
        ));
    }
    for (i, name) in ["etat-civil", "facturation-eau"].iter().enumerate() {
        let size = if i == 0 { 3200 } else { 900 };
        let bytes = p.kb(size..size + 1);
        let seed = p.file_seed(i as u64 + 23);
        p.out.push((
            format!("bases/dumps/{name}.sql"),
            Spec::SqlDump { seed, bytes },
        ));
    }
    // Registers scanned whole: the large files (1.5 to 5 MiB at full scale).
    for i in 0..count(3) {
        let y = years[i % years.len()];
        p.doc(
            format!(
                "archives/numerisations/registre-{y}-{:02}.pdf",
                i / years.len() + 1
            ),
            DocumentKind::Scan,
            1500..5000,
        );
    }
    for i in 0..count(25) {
        let y = years[i % years.len()];
        p.doc(
            format!("archives/{y}/archive-{:03}.zip", i + 1),
            DocumentKind::Archive,
            20..150,
        );
    }
    for name in formats::available_programs(PROGRAMS) {
        p.out
            .push((format!("logiciels/bin/{name}"), Spec::Program { name }));
    }
    for i in 0..count(15) {
        let seed = p.file_seed(i as u64 + 29);
        p.out.push((
            format!("logiciels/scripts/copie-{:02}.sh", i + 1),
            Spec::Script { seed },
        ));
    }
    for i in 0..count(40) {
        p.doc(
            format!("technique/notes/note-{:03}.txt", i + 1),
            DocumentKind::Note,
            1..10,
        );
    }
    for i in 0..count(10) {
        let seed = p.file_seed(i as u64 + 31);
        p.out.push((
            format!("technique/notes/pense-bete-{:02}.txt", i + 1),
            Spec::Tiny { seed },
        ));
    }
    p.out
}

struct Planner {
    seed: u64,
    rng: fastrand::Rng,
    out: Vec<Planned>,
    factor: f64,
}

impl Planner {
    /// A size in bytes drawn from a range of KiB, scaled.
    fn kb(&mut self, range: std::ops::Range<u64>) -> u64 {
        ((self.rng.u64(range) * 1024) as f64 * self.factor) as u64
    }

    fn file_seed(&mut self, salt: u64) -> u64 {
        self.seed ^ self.rng.u64(..) ^ salt
    }

    fn doc(&mut self, path: String, kind: DocumentKind, kib: std::ops::Range<u64>) {
        let bytes = self.kb(kib);
        let seed = self.seed ^ fnv1a(path.as_bytes());
        self.out.push((path, Spec::Document { kind, seed, bytes }));
    }
}

/// Writes the share under `root` (created if missing), plus one empty file.
pub fn generate(root: &Path, spec: &ShareSpec) -> Result<Summary> {
    let mut summary = Summary::default();
    for (path, file) in plan(spec) {
        let bytes = content(&file)?;
        write(root, &path, &bytes)?;
        summary.files += 1;
        summary.bytes += bytes.len() as u64;
    }
    write(root, "technique/vide.txt", b"")?;
    summary.files += 1;
    Ok(summary)
}

/// Writes a file, creating its directories.
pub fn write(root: &Path, rel: &str, bytes: &[u8]) -> Result<()> {
    let path = root.join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).at(dir)?;
    }
    std::fs::write(&path, bytes).at(&path)
}

/// Removes a file of the share and records it in a benign change's truth.
pub fn remove_recorded(root: &Path, rel: &str, out: &mut crate::truth::Benign) -> Result<()> {
    let path = root.join(rel);
    std::fs::remove_file(&path).at(&path)?;
    out.removed.push(rel.to_string());
    Ok(())
}

/// Every regular file under `root`, relative, sorted.
pub fn files(root: &Path) -> Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        for entry in std::fs::read_dir(dir).at(dir)? {
            let entry = entry.at(dir)?;
            let path = entry.path();
            let kind = entry.file_type().at(&path)?;
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if kind.is_file() {
                if let Ok(rel) = path.strip_prefix(root) {
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort();
    Ok(out)
}

/// `root/rel`.
pub fn abs(root: &Path, rel: &str) -> PathBuf {
    root.join(rel)
}

/// The top-level directory of a relative path.
pub fn top_dir(rel: &str) -> &str {
    rel.split('/').next().unwrap_or(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_reproducible_deep_and_about_the_requested_size() {
        let spec = ShareSpec {
            seed: 1,
            files: 200,
        };
        let a = plan(&spec);
        assert_eq!(a, plan(&spec));
        assert_ne!(a, plan(&ShareSpec { seed: 2, ..spec }));
        assert!((180..240).contains(&a.len()), "{}", a.len());
        let full = plan(&ShareSpec {
            seed: 1,
            files: 3000,
        });
        assert!((2700..3300).contains(&full.len()), "{}", full.len());
        assert!(a.iter().any(|(p, _)| p.split('/').count() >= 5));
        let mut names: Vec<&String> = full.iter().map(|(p, _)| p).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), full.len(), "paths are unique");
        for dir in RESERVED_DIRS {
            assert!(a.iter().any(|(p, _)| top_dir(p) == *dir));
        }
    }
}
