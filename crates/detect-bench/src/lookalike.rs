//! Benign changes that look like an attack to a careless detector, from a
//! town hall sysadmin's ordinary week:
//!
//! - a software suite installed with the same README.txt, README.html and
//!   LICENSE in each of its 24 module directories, next to new programs
//!   (the same small text in many directories, as ransom notes are);
//! - a mail merge: 36 payment reminders, as text and docx, in six
//!   directories, differing only by name, address, amount and reference
//!   (near-identical small texts that speak of payment);
//! - a project folder whose 40 documents are deleted in the interval in
//!   which a build tool fills its cache with 40 compressed, random-looking
//!   files named by their hash (deletions and random new files in one
//!   tree);
//! - a password manager's vault saved again and exported encrypted
//!   (genuinely encrypted files: KeePass's KDBX, Bitwarden's encrypted JSON
//!   export, whose ciphertext is base64 text).

use crate::error::{Error, IoContext, Result};
use crate::formats::{self, content, Spec, FIRST_NAMES, STREETS, SURNAMES};
use crate::rng::{derived, keystream, pick};
use crate::share::{self, UPDATED_PROGRAMS};
use crate::truth::Benign;
use base64::Engine;
use reprise_sample::DocumentKind;
use std::path::Path;

/// Writes new files and records them.
struct Writer<'a> {
    root: &'a Path,
    out: Benign,
}

impl Writer<'_> {
    fn add(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        let existed = self.root.join(rel).exists();
        share::write(self.root, rel, bytes)?;
        if existed {
            self.out.modified.push(rel.to_string());
        } else {
            self.out.added.push(rel.to_string());
        }
        Ok(())
    }

    fn remove(&mut self, rel: &str) -> Result<()> {
        share::remove_recorded(self.root, rel, &mut self.out)
    }
}

const MODULES: &[&str] = &[
    "etat-civil",
    "elections",
    "cimetiere",
    "urbanisme",
    "paie",
    "comptabilite",
    "marches",
    "cantine",
    "periscolaire",
    "creche",
    "bibliotheque",
    "salles",
    "associations",
    "voirie",
    "eau",
    "assainissement",
    "recensement",
    "courrier",
    "deliberations",
    "arretes",
    "population",
    "taxe-sejour",
    "police",
    "portail",
];

const SUITE_README: &str = "Suite Civique 4.2.1 (build 20261203.1)\n\
=====================================\n\n\
This module is part of Suite Civique, the management software of French communes.\n\n\
Installation: the installer has put the program and its data in this directory.\n\
Do not rename or move the files of this directory: the updater finds them by name.\n\n\
To restore the previous version, run `civique-admin rollback` as administrator;\n\
your data files are kept. To recover a deleted record, see the user guide, chapter 7.\n\n\
Package checksum (SHA-256): 9f2c4e1a7b3d5f60c8e2a4b6d8f0132547698badcfe0123456789abcdef01234\n\
Support: support@civique-logiciels.fr - +33 4 72 00 00 00 - ticket portal at\n\
https://support.civique-logiciels.fr (customer number on your invoice).\n";

const SUITE_LICENSE: &str = "Suite Civique - licence d'utilisation\n\n\
Copyright 2019-2026 Civique Logiciels SAS. Tous droits réservés.\n\n\
Le présent logiciel est concédé à la collectivité signataire du contrat de\n\
maintenance, pour ses propres besoins, sur le nombre de postes prévu au contrat.\n\
Toute copie, cession ou décompilation est interdite hors des cas prévus par la loi.\n\
Le logiciel est fourni tel quel ; la garantie est celle du contrat de maintenance.\n";

/// The suite's README as HTML: the same text, marked up.
fn suite_readme_html() -> String {
    let body: String = SUITE_README
        .split("\n\n")
        .map(|p| format!("<p>{}</p>\n", p.replace('\n', " ")))
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Suite Civique 4.2.1</title></head>\n<body>\n{body}</body></html>\n"
    )
}

/// A software suite installed: 24 module directories, each with the same
/// README.txt, README.html and LICENSE, and a new program.
pub fn readme_install(root: &Path, _seed: u64) -> Result<Benign> {
    let programs = formats::available_programs(UPDATED_PROGRAMS);
    if programs.is_empty() {
        return Err(Error::Invalid(format!(
            "no program to install under {}",
            formats::PROGRAM_DIR
        )));
    }
    let mut w = Writer {
        root,
        out: Benign::default(),
    };
    let html = suite_readme_html();
    for (i, module) in MODULES.iter().enumerate() {
        let dir = format!("logiciels/suite-civique/{module}");
        w.add(&format!("{dir}/README.txt"), SUITE_README.as_bytes())?;
        w.add(&format!("{dir}/README.html"), html.as_bytes())?;
        w.add(&format!("{dir}/LICENSE"), SUITE_LICENSE.as_bytes())?;
        let program = content(&Spec::Program {
            name: programs[i % programs.len()].clone(),
        })?;
        w.add(&format!("{dir}/civique-{module}"), &program)?;
    }
    Ok(w.out)
}

const QUARTERS: &[&str] = &[
    "centre",
    "gare",
    "les-vignes",
    "le-moulin",
    "la-croix",
    "hameaux",
];

/// One payment reminder: the same letter for every household.
fn reminder(rng: &mut fastrand::Rng, reference: u32) -> String {
    let name = format!("{} {}", pick(rng, FIRST_NAMES), pick(rng, SURNAMES));
    let address = format!("{} {}", rng.u16(1..120), pick(rng, STREETS));
    let amount = format!("{},{:02}", rng.u16(18..400), rng.u8(0..100));
    format!(
        "Mairie de Saint-Exemple - Service des finances\n\
         1 place de la Mairie, 69999 Saint-Exemple\n\n\
         {name}\n{address}\n69999 Saint-Exemple\n\n\
         Saint-Exemple, le 3 décembre 2026\n\n\
         Objet : relance - facture de restauration scolaire n° R2026-{reference:05}\n\n\
         Madame, Monsieur,\n\n\
         Sauf erreur de notre part, la facture n° R2026-{reference:05} d'un montant de\n\
         {amount} euros reste impayée à ce jour. Nous vous remercions de bien vouloir\n\
         procéder à son paiement sous quinze jours, par virement, par carte bancaire sur\n\
         le portail de paiement en ligne de la commune (référence R2026-{reference:05}),\n\
         ou en espèces à la Trésorerie.\n\n\
         Si vous avez déjà réglé cette somme, merci de ne pas tenir compte de ce courrier.\n\n\
         Veuillez agréer, Madame, Monsieur, l'expression de nos salutations distinguées.\n\n\
         Le Maire\n"
    )
}

/// A minimal but genuine docx holding `text`.
fn docx(text: &str) -> Result<Vec<u8>> {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let paragraphs: String = text
        .lines()
        .map(|l| {
            format!(
                "<w:p><w:r><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
                escape(l)
            )
        })
        .collect();
    let members = [
        (
            "[Content_Types].xml".to_string(),
            b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
<Default Extension=\"xml\" ContentType=\"application/xml\"/>\
<Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>\
</Types>"
                .to_vec(),
        ),
        (
            "_rels/.rels".to_string(),
            b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/>\
</Relationships>"
                .to_vec(),
        ),
        (
            "word/document.xml".to_string(),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
<w:body>{paragraphs}</w:body></w:document>"
            )
            .into_bytes(),
        ),
    ];
    formats::zip_of(&members)
}

/// 36 payment reminders, text and docx, six per district directory.
pub fn mail_merge(root: &Path, seed: u64) -> Result<Benign> {
    let mut w = Writer {
        root,
        out: Benign::default(),
    };
    let mut rng = derived(seed, "mail-merge");
    for i in 0..36u32 {
        let reference = 1200 + i * 7;
        let letter = reminder(&mut rng, reference);
        let dir = format!(
            "finances/relances/2026-12/{}",
            QUARTERS[i as usize % QUARTERS.len()]
        );
        w.add(
            &format!("{dir}/relance-R2026-{reference:05}.txt"),
            letter.as_bytes(),
        )?;
        w.add(
            &format!("{dir}/relance-R2026-{reference:05}.docx"),
            &docx(&letter)?,
        )?;
    }
    Ok(w.out)
}

const PROJECT: &str = "logiciels/portail-citoyen";

/// Round 0: a project folder with 40 documents and its sources. Round 1:
/// the documents deleted, and the build cache filled with 40 compressed
/// objects named by their hash.
pub fn cleanup_and_build(root: &Path, seed: u64, round: usize) -> Result<Benign> {
    let mut w = Writer {
        root,
        out: Benign::default(),
    };
    if round == 0 {
        for i in 0..40u64 {
            let (dir, kind) = match i % 4 {
                0 => ("specifications", DocumentKind::Letter),
                1 => ("comptes-rendus", DocumentKind::Minutes),
                2 => ("maquettes", DocumentKind::Scan),
                _ => ("notes", DocumentKind::Note),
            };
            let bytes = content(&Spec::Document {
                kind,
                seed: seed ^ (0xd0c0 + i),
                bytes: 6_000 + (i % 7) * 3_000,
            })?;
            let rel = format!("{PROJECT}/docs/{dir}/document-{i:02}.{}", kind.extension());
            w.add(&rel, &bytes)?;
        }
        for i in 0..12u64 {
            let script = content(&Spec::Script { seed: seed ^ i })?;
            w.add(&format!("{PROJECT}/src/etape-{i:02}.sh"), &script)?;
        }
        return Ok(w.out);
    }
    let docs: Vec<String> = share::files(root)?
        .into_iter()
        .filter(|f| f.starts_with(&format!("{PROJECT}/docs/")))
        .collect();
    for rel in &docs {
        w.remove(rel)?;
    }
    let programs = formats::available_programs(UPDATED_PROGRAMS);
    for i in 0..40u64 {
        // The object a compiler would write, stored compressed as build
        // caches do: its bytes are as random-looking as ciphertext.
        let object = match programs.get(i as usize % programs.len().max(1)) {
            Some(name) => content(&Spec::Program { name: name.clone() })?,
            None => keystream(seed, &format!("object-{i}"), 40_000),
        };
        let from = (i as usize * 4096) % object.len().max(1);
        let slice = &object[from..(from + 30_000).min(object.len())];
        let packed = formats::gzip(slice, "object.o")?;
        let digest = blake3::hash(&packed).to_hex();
        let rel = format!(
            "{PROJECT}/build/cache/{}/{}.bin",
            &digest[..2],
            &digest[2..32]
        );
        w.add(&rel, &packed)?;
    }
    Ok(w.out)
}

/// Bitwarden's encrypted export: JSON whose fields are `2.IV|DATA|MAC`,
/// each part base64.
fn bitwarden_export(seed: u64, round: usize) -> String {
    let b64 = |label: &str, len: usize| {
        base64::engine::general_purpose::STANDARD.encode(keystream(seed, label, len))
    };
    let mut items = Vec::new();
    for i in 0..25 {
        let field = |f: &str, len: usize| {
            format!(
                "2.{}|{}|{}",
                b64(&format!("bw-{round}-{i}-{f}-iv"), 16),
                b64(&format!("bw-{round}-{i}-{f}"), len),
                b64(&format!("bw-{round}-{i}-{f}-mac"), 32)
            )
        };
        items.push(format!(
            "{{\"id\":\"{:08x}-7c1e-4d2a-9f3b-{:012x}\",\"type\":1,\"name\":\"{}\",\
             \"login\":{{\"username\":\"{}\",\"password\":\"{}\"}}}}",
            i * 7919,
            i * 104_729,
            field("name", 24),
            field("user", 32),
            field("pass", 48)
        ));
    }
    format!(
        "{{\"encrypted\":true,\"passwordProtected\":true,\"salt\":\"{}\",\"kdfType\":0,\
         \"kdfIterations\":600000,\"encKeyValidation_DO_NOT_EDIT\":\"{}\",\"data\":\"{}\",\
         \"items\":[{}]}}\n",
        b64("bw-salt", 16),
        b64("bw-validation", 48),
        b64(&format!("bw-data-{round}"), 512),
        items.join(",")
    )
}

/// A KeePass database: the KDBX 4 signature and version, then ciphertext.
fn kdbx(seed: u64, label: &str, len: usize) -> Vec<u8> {
    let mut out = vec![
        0x03, 0xd9, 0xa2, 0x9a, 0x67, 0xfb, 0x4b, 0xb5, 0x00, 0x00, 0x04, 0x00,
    ];
    out.extend_from_slice(&keystream(seed, label, len));
    out
}

/// Round 0: the IT team's password vault created, with its backup copy.
/// Round 1: the vault saved again, and exported encrypted from Bitwarden.
pub fn vault_export(root: &Path, seed: u64, round: usize) -> Result<Benign> {
    let mut w = Writer {
        root,
        out: Benign::default(),
    };
    let dir = "technique/coffre-fort";
    w.add(
        &format!("{dir}/mairie.kdbx"),
        &kdbx(seed, &format!("kdbx-{round}"), 48_000 + round * 1_500),
    )?;
    if round == 0 {
        w.add(
            &format!("{dir}/sauvegarde/mairie-2026-12-01.kdbx"),
            &kdbx(seed, "kdbx-copy", 47_000),
        )?;
    } else {
        w.add(
            &format!("{dir}/bitwarden_encrypted_export_20261203.json"),
            bitwarden_export(seed, round).as_bytes(),
        )?;
    }
    Ok(w.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_look_alikes_write_what_they_say() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let install = readme_install(root, 1).unwrap();
        let readmes: Vec<&String> = install
            .added
            .iter()
            .filter(|p| p.ends_with("/README.txt"))
            .collect();
        assert!(readmes.len() >= 20);
        let first = std::fs::read(root.join(readmes[0])).unwrap();
        assert!(readmes
            .iter()
            .all(|p| std::fs::read(root.join(p)).unwrap() == first));
        let merge = mail_merge(root, 1).unwrap();
        assert_eq!(merge.added.len(), 72);
        let a = std::fs::read_to_string(root.join(&merge.added[0])).unwrap();
        let b = std::fs::read_to_string(root.join(&merge.added[2])).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.lines().count(), b.lines().count());
        let made = cleanup_and_build(root, 1, 0).unwrap();
        assert_eq!(made.added.len(), 52);
        let built = cleanup_and_build(root, 1, 1).unwrap();
        assert_eq!((built.removed.len(), built.added.len()), (40, 40));
        let vault = vault_export(root, 1, 0).unwrap();
        let again = vault_export(root, 1, 1).unwrap();
        assert_eq!(
            (vault.added.len(), again.modified.len(), again.added.len()),
            (2, 1, 1)
        );
    }
}
