//! Benign change, as a town hall's staff and servers make it: office
//! documents edited, photos imported, a folder zipped and its originals
//! deleted, logs rotated and gzipped, programs updated, a database dump
//! growing, folders reorganised, letters converted to PDF, one file
//! encrypted with gpg on purpose, mail with attachments arriving; and the
//! small day-to-day churn that goes along with every attack scenario.

use crate::error::{Error, IoContext, Result};
use crate::formats::{self, content, Spec};
use crate::lookalike;
use crate::rng::{derived, keystream};
use crate::share::{self, top_dir, RESERVED_DIRS, UPDATED_PROGRAMS};
use crate::truth::{Benign, Rename};
use reprise_sample::DocumentKind;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// The benign scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    OfficeEdits,
    PhotoImport,
    ZipFolder,
    LogRotation,
    SoftwareUpdate,
    DumpGrowth,
    Reorganisation,
    DocxToPdf,
    GpgFile,
    MailArrival,
    /// See [`crate::lookalike`].
    ReadmeInstall,
    MailMerge,
    CleanupAndBuild,
    VaultExport,
}

/// Applies a benign change to the share; `exclude` lists files left alone.
pub fn apply(
    root: &Path,
    change: Change,
    seed: u64,
    round: usize,
    exclude: &BTreeSet<String>,
) -> Result<Benign> {
    let files = files_except(root, exclude)?;
    let mut c = Changer::new(root, seed, round, &format!("churn-{change:?}-{round}"));
    match change {
        Change::OfficeEdits => c.office_edits(&files)?,
        Change::PhotoImport => c.photo_import(&files, round)?,
        Change::ZipFolder => c.zip_folders(&files)?,
        Change::LogRotation => c.log_rotation(&files, round)?,
        Change::SoftwareUpdate => c.software_update(&files)?,
        Change::DumpGrowth => c.dump_growth(&files)?,
        Change::Reorganisation => c.reorganise(&files)?,
        Change::DocxToPdf => c.docx_to_pdf(&files)?,
        Change::GpgFile => {
            c.gpg_file(&files)?;
            c.small(&files, round)?;
        }
        Change::MailArrival => c.mail_arrival(&files, round)?,
        Change::ReadmeInstall => c.out = lookalike::readme_install(root, seed)?,
        Change::MailMerge => c.out = lookalike::mail_merge(root, seed)?,
        Change::CleanupAndBuild => c.out = lookalike::cleanup_and_build(root, seed, round)?,
        Change::VaultExport => c.out = lookalike::vault_export(root, seed, round)?,
    }
    Ok(c.out)
}

/// A few edits and new files in the directories attacks never reach.
pub fn small_churn(
    root: &Path,
    seed: u64,
    round: usize,
    exclude: &BTreeSet<String>,
) -> Result<Benign> {
    let files = files_except(root, exclude)?;
    let mut c = Changer::new(root, seed, round, &format!("small-churn-{round}"));
    c.small(&files, round)?;
    Ok(c.out)
}

struct Changer<'a> {
    root: &'a Path,
    rng: fastrand::Rng,
    seed: u64,
    out: Benign,
}

/// The share's files but those in `exclude`.
fn files_except(root: &Path, exclude: &BTreeSet<String>) -> Result<Vec<String>> {
    Ok(share::files(root)?
        .into_iter()
        .filter(|f| !exclude.contains(f))
        .collect())
}

impl<'a> Changer<'a> {
    /// A changer for one round, its choices drawn from `label`'s generator.
    fn new(root: &'a Path, seed: u64, round: usize, label: &str) -> Self {
        Changer {
            root,
            rng: derived(seed, label),
            seed: seed ^ (round as u64) << 32,
            out: Benign::default(),
        }
    }
}

fn ext_is(rel: &str, exts: &[&str]) -> bool {
    exts.iter().any(|e| rel.ends_with(&format!(".{e}")))
}

fn stem(rel: &str) -> &str {
    rel.rsplit_once('.').map_or(rel, |(s, _)| s)
}

impl Changer<'_> {
    fn seed_for(&self, rel: &str) -> u64 {
        self.seed ^ crate::rng::fnv1a(rel.as_bytes()) ^ 0x5eed
    }

    fn size_of(&self, rel: &str) -> Result<u64> {
        let path = self.root.join(rel);
        Ok(std::fs::metadata(&path).at(&path)?.len())
    }

    fn write_new(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        share::write(self.root, rel, bytes)?;
        self.out.added.push(rel.to_string());
        Ok(())
    }

    fn rewrite(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        share::write(self.root, rel, bytes)?;
        self.out.modified.push(rel.to_string());
        Ok(())
    }

    fn append(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        let path = self.root.join(rel);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .at(&path)?;
        f.write_all(bytes).at(&path)?;
        self.out.modified.push(rel.to_string());
        Ok(())
    }

    fn remove(&mut self, rel: &str) -> Result<()> {
        share::remove_recorded(self.root, rel, &mut self.out)
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        let (a, b) = (self.root.join(from), self.root.join(to));
        if let Some(dir) = b.parent() {
            std::fs::create_dir_all(dir).at(dir)?;
        }
        std::fs::rename(&a, &b).at(&a)?;
        self.out.renamed.push(Rename {
            from: from.into(),
            to: to.into(),
        });
        Ok(())
    }

    /// A document saved again: same kind, new content, about the same size.
    fn edit(&mut self, rel: &str) -> Result<()> {
        let size = self.size_of(rel)?;
        let seed = self.seed_for(rel);
        if ext_is(rel, &["txt", "csv", "eml", "mbox", "log", "sql"]) {
            let kind = if rel.ends_with(".csv") {
                DocumentKind::Table
            } else {
                DocumentKind::Note
            };
            let more = content(&Spec::Document {
                kind,
                seed,
                bytes: self.rng.u64(200..3000),
            })?;
            return self.append(rel, &more);
        }
        let spec = if rel.ends_with(".xlsx") {
            Spec::Workbook { seed, bytes: size }
        } else if rel.ends_with(".odt") {
            Spec::Document {
                kind: DocumentKind::Minutes,
                seed,
                bytes: size,
            }
        } else if rel.ends_with(".pdf") {
            Spec::Document {
                kind: DocumentKind::Scan,
                seed,
                bytes: size,
            }
        } else {
            Spec::Document {
                kind: DocumentKind::Letter,
                seed,
                bytes: size,
            }
        };
        let bytes = content(&spec)?;
        self.rewrite(rel, &bytes)
    }

    fn office_edits(&mut self, files: &[String]) -> Result<()> {
        let mut editable: Vec<&String> = files
            .iter()
            .filter(|f| ext_is(f, &["docx", "odt", "xlsx", "txt", "csv"]))
            .collect();
        self.rng.shuffle(&mut editable);
        let n = (editable.len() / 8).max(5).min(editable.len());
        for rel in editable.iter().take(n) {
            self.edit(rel)?;
        }
        // New versions next to some of them.
        for rel in editable.iter().skip(n).take(n / 3) {
            if ext_is(rel, &["docx", "odt", "xlsx"]) {
                let new = format!(
                    "{} (v2).{}",
                    stem(rel),
                    rel.rsplit('.').next().unwrap_or("")
                );
                let seed = self.seed_for(&new);
                let bytes = if new.ends_with(".xlsx") {
                    content(&Spec::Workbook {
                        seed,
                        bytes: 20_000,
                    })?
                } else {
                    content(&Spec::Document {
                        kind: DocumentKind::Letter,
                        seed,
                        bytes: 20_000,
                    })?
                };
                self.write_new(&new, &bytes)?;
            }
        }
        Ok(())
    }

    fn photo_import(&mut self, files: &[String], round: usize) -> Result<()> {
        let n = (files.len() / 8).clamp(60, 400);
        for i in 0..n {
            let (rel, spec) = if i % 10 == 9 {
                (
                    format!("communication/photos/2025/import-{round}/capture-{i:04}.png"),
                    Spec::Png {
                        seed: self.seed ^ i as u64,
                        bytes: self.rng.u64(20_000..80_000),
                    },
                )
            } else {
                (
                    format!(
                        "communication/photos/2025/import-{round}/DSC_{:05}.jpg",
                        4000 + i
                    ),
                    Spec::Document {
                        kind: DocumentKind::Photo,
                        seed: self.seed ^ i as u64,
                        bytes: self.rng.u64(20_000..90_000),
                    },
                )
            };
            let bytes = content(&spec)?;
            self.write_new(&rel, &bytes)?;
        }
        Ok(())
    }

    /// The two fullest folders, each zipped into `archives/` and deleted.
    fn zip_folders(&mut self, files: &[String]) -> Result<()> {
        let mut by_dir: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
        for f in files {
            if let Some((dir, _)) = f.rsplit_once('/') {
                by_dir.entry(dir).or_default().push(f);
            }
        }
        let mut dirs: Vec<(&str, Vec<&String>)> = by_dir.into_iter().collect();
        dirs.sort_by_key(|(d, fs)| (std::cmp::Reverse(fs.len()), *d));
        for (dir, members) in dirs.into_iter().take(2) {
            let mut entries = Vec::new();
            for rel in &members {
                let path = self.root.join(rel);
                let name = rel.strip_prefix(&format!("{dir}/")).unwrap_or(rel);
                entries.push((name.to_string(), std::fs::read(&path).at(&path)?));
            }
            let zip = formats::zip_of(&entries)?;
            self.write_new(&format!("archives/{}.zip", dir.replace('/', "-")), &zip)?;
            for rel in members {
                self.remove(rel)?;
            }
        }
        Ok(())
    }

    /// Every log gzipped to `NAME.N.gz` and started anew.
    fn log_rotation(&mut self, files: &[String], round: usize) -> Result<()> {
        for rel in files.iter().filter(|f| f.ends_with(".log")) {
            let path = self.root.join(rel);
            let data = std::fs::read(&path).at(&path)?;
            let name = rel.rsplit('/').next().unwrap_or(rel);
            let gz = formats::gzip(&data, name)?;
            self.write_new(&format!("{rel}.{}.gz", round + 1), &gz)?;
            let mut fresh = String::new();
            for k in 0..5 {
                fresh.push_str(&formats::log_line(&mut self.rng, 1_750_000_000 + k * 60));
            }
            self.rewrite(rel, fresh.as_bytes())?;
        }
        Ok(())
    }

    fn software_update(&mut self, files: &[String]) -> Result<()> {
        let updates = formats::available_programs(UPDATED_PROGRAMS);
        if updates.is_empty() {
            return Err(Error::Invalid(format!(
                "no program to update with under {}",
                formats::PROGRAM_DIR
            )));
        }
        let programs: Vec<&String> = files
            .iter()
            .filter(|f| f.starts_with("logiciels/bin/"))
            .collect();
        for (i, rel) in programs.iter().enumerate() {
            let name = updates[i % updates.len()].clone();
            let bytes = content(&Spec::Program { name })?;
            self.rewrite(rel, &bytes)?;
        }
        let name = updates[programs.len() % updates.len()].clone();
        let bytes = content(&Spec::Program { name })?;
        self.write_new("logiciels/bin/outil-mise-a-jour", &bytes)
    }

    fn dump_growth(&mut self, files: &[String]) -> Result<()> {
        for rel in files.iter().filter(|f| f.ends_with(".sql")) {
            let size = self.size_of(rel)?;
            let mut more = String::new();
            let mut id = 1_000_000;
            while (more.len() as u64) < size / 4 {
                more.push_str(&formats::sql_row(&mut self.rng, id));
                id += 1;
            }
            self.append(rel, more.as_bytes())?;
        }
        for rel in files.iter().filter(|f| f.ends_with(".sqlite")) {
            let rows = self.size_of(rel)? / 60;
            let bytes = content(&Spec::Sqlite {
                seed: self.seed_for(rel),
                rows,
            })?;
            self.rewrite(rel, &bytes)?;
        }
        Ok(())
    }

    /// A year of planning files moved to an archive folder, and the photos
    /// of an event renamed.
    fn reorganise(&mut self, files: &[String]) -> Result<()> {
        for rel in files
            .iter()
            .filter(|f| f.starts_with("urbanisme/permis/2019/"))
        {
            let to = rel.replacen(
                "urbanisme/permis/2019/",
                "urbanisme/archives/permis-2019/",
                1,
            );
            self.rename(rel, &to)?;
        }
        for rel in files
            .iter()
            .filter(|f| f.starts_with("communication/photos/") && f.contains("/IMG_"))
        {
            let to = rel.replacen("/IMG_", "/fete-saint-exemple-", 1);
            self.rename(rel, &to)?;
        }
        for rel in files
            .iter()
            .filter(|f| f.starts_with("conseil-municipal/courriers/2020/"))
        {
            let to = rel.replacen("/courrier-", "/2020-courrier-sortant-", 1);
            self.rename(rel, &to)?;
        }
        Ok(())
    }

    fn docx_to_pdf(&mut self, files: &[String]) -> Result<()> {
        for rel in files.iter().filter(|f| f.ends_with(".docx")) {
            let pdf = format!("{}.pdf", stem(rel));
            if files.contains(&pdf) {
                continue;
            }
            let size = self.size_of(rel)?;
            let bytes = content(&Spec::Document {
                kind: DocumentKind::Scan,
                seed: self.seed_for(&pdf),
                bytes: size.max(8_000),
            })?;
            self.write_new(&pdf, &bytes)?;
            self.remove(rel)?;
        }
        Ok(())
    }

    /// A payslip encrypted with gpg before it is sent, the clear copy deleted.
    fn gpg_file(&mut self, files: &[String]) -> Result<()> {
        let Some(rel) = files
            .iter()
            .find(|f| f.starts_with("rh/") && f.ends_with(".pdf"))
        else {
            return Err(Error::Invalid("no payslip to encrypt".into()));
        };
        let path = self.root.join(rel);
        let data = std::fs::read(&path).at(&path)?;
        let out = format!("{rel}.gpg");
        let bytes = match gpg_symmetric(&path, &self.root.join(&out)) {
            Some(b) => b,
            None => openpgp_like(&data, self.seed),
        };
        self.write_new(&out, &bytes)?;
        self.remove(rel)
    }

    fn mail_arrival(&mut self, files: &[String], round: usize) -> Result<()> {
        let n = (files.len() / 40).clamp(15, 100);
        for i in 0..n {
            let rel = format!("courriel/exports/2025/arrivee-{round}-{i:04}.eml");
            let spec = if i % 2 == 0 {
                Spec::MailWithAttachment {
                    seed: self.seed ^ i as u64,
                    bytes: self.rng.u64(10_000..120_000),
                }
            } else {
                Spec::Document {
                    kind: DocumentKind::Mail,
                    seed: self.seed ^ i as u64,
                    bytes: self.rng.u64(1_000..8_000),
                }
            };
            let bytes = content(&spec)?;
            self.write_new(&rel, &bytes)?;
        }
        if let Some(mbox) = files.iter().find(|f| f.ends_with(".mbox")) {
            let mut more = Vec::new();
            for i in 0..3 {
                more.extend(b"\nFrom accueil@saint-exemple.fr Mon Mar  4 10:00:00 2025\n");
                more.extend(content(&Spec::MailWithAttachment {
                    seed: self.seed ^ (1000 + i),
                    bytes: 40_000,
                })?);
            }
            let mbox = mbox.clone();
            self.append(&mbox, &more)?;
        }
        Ok(())
    }

    /// Two edits, two new files and a deletion in the reserved directories.
    fn small(&mut self, files: &[String], round: usize) -> Result<()> {
        let mut reserved: Vec<&String> = files
            .iter()
            .filter(|f| RESERVED_DIRS.contains(&top_dir(f)))
            .collect();
        self.rng.shuffle(&mut reserved);
        let mut edits = reserved
            .iter()
            .filter(|f| ext_is(f, &["docx", "odt", "eml", "mbox"]));
        for _ in 0..2 {
            if let Some(rel) = edits.next() {
                self.edit(rel)?;
            }
        }
        if let Some(rel) = edits.next() {
            self.remove(rel)?;
        }
        let letter = content(&Spec::Document {
            kind: DocumentKind::Letter,
            seed: self.seed ^ 0x1e77e7,
            bytes: 15_000,
        })?;
        self.write_new(
            &format!("conseil-municipal/courriers/2025/nouveau-courrier-{round}.docx"),
            &letter,
        )?;
        let mail = content(&Spec::Document {
            kind: DocumentKind::Mail,
            seed: self.seed ^ 0x3a11,
            bytes: 3_000,
        })?;
        self.write_new(
            &format!("courriel/exports/2025/nouveau-message-{round}.eml"),
            &mail,
        )
    }
}

/// `gpg --symmetric` of `input` into `output`, if gpg is installed and works.
fn gpg_symmetric(input: &Path, output: &Path) -> Option<Vec<u8>> {
    let home = tempfile_dir()?;
    let status = Command::new("gpg")
        .arg("--homedir")
        .arg(&home)
        .args([
            "--batch",
            "--yes",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "x",
            "--symmetric",
            "--output",
        ])
        .arg(output)
        .arg(input)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok();
    let _ = std::fs::remove_dir_all(&home);
    if !status?.success() {
        return None;
    }
    let bytes = std::fs::read(output).ok()?;
    let _ = std::fs::remove_file(output);
    Some(bytes)
}

/// A private, empty directory for gpg's home.
fn tempfile_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "reprise-detect-bench-gpg-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos()
    ));
    std::fs::create_dir(&dir).ok()?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).ok()?;
    Some(dir)
}

/// Without gpg: an OpenPGP symmetric-key session key packet (v4, AES-256,
/// iterated and salted S2K), then random bytes for the encrypted data.
fn openpgp_like(data: &[u8], seed: u64) -> Vec<u8> {
    let mut out = vec![0x8c, 0x0d, 0x04, 0x09, 0x03, 0x08];
    out.extend(keystream(seed, "gpg-salt", 8));
    out.push(0xff);
    out.extend([0xd2, 0xff]);
    out.extend(keystream(seed, "gpg-body", data.len() + 40));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let spec = share::ShareSpec {
            seed: 5,
            files: 120,
        };
        share::generate(dir.path(), &spec).unwrap();
        dir
    }

    #[test]
    fn every_change_does_what_its_truth_says() {
        let dir = share();
        let root = dir.path();
        let mut exclude = BTreeSet::new();
        for change in [
            Change::OfficeEdits,
            Change::ZipFolder,
            Change::LogRotation,
            Change::DumpGrowth,
            Change::Reorganisation,
            Change::DocxToPdf,
            Change::GpgFile,
        ] {
            let before: BTreeSet<String> = share::files(root).unwrap().into_iter().collect();
            let b = apply(root, change, 1, 0, &exclude).unwrap();
            let after: BTreeSet<String> = share::files(root).unwrap().into_iter().collect();
            assert!(b.changed() > 0, "{change:?}");
            for a in &b.added {
                assert!(after.contains(a) && !before.contains(a), "{change:?}: {a}");
            }
            for r in &b.removed {
                assert!(!after.contains(r) && before.contains(r), "{change:?}: {r}");
            }
            for m in &b.modified {
                assert!(after.contains(m) && before.contains(m), "{change:?}: {m}");
            }
            for r in &b.renamed {
                assert!(
                    before.contains(&r.from) && after.contains(&r.to),
                    "{change:?}"
                );
            }
            exclude.extend(b.paths().cloned());
        }
        let gpg = share::files(root)
            .unwrap()
            .into_iter()
            .find(|f| f.ends_with(".gpg"))
            .unwrap();
        let head = std::fs::read(root.join(gpg)).unwrap();
        assert!(matches!(head[0], 0x8c | 0x8d | 0xc3), "{:x?}", &head[..4]);
    }

    #[test]
    fn small_churn_stays_in_the_reserved_directories() {
        let dir = share();
        let b = small_churn(dir.path(), 1, 0, &BTreeSet::new()).unwrap();
        assert_eq!(
            (b.modified.len(), b.added.len(), b.removed.len()),
            (2, 2, 1)
        );
        assert!(b.paths().all(|p| RESERVED_DIRS.contains(&top_dir(p))));
    }
}
