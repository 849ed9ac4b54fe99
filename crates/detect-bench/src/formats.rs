//! The file formats the share needs beyond `reprise-sample`'s documents:
//! PNG images, gzip archives, zip archives of files, SQLite databases, SQL
//! dumps, logs, e-mails with base64 attachments, shell scripts, and real
//! programs copied from the system. [`content`] turns a [`Spec`] into
//! bytes, the same for the same spec.

use crate::error::{Error, IoContext, Result};
use crate::rng::{derived, pick};
use crate::sqlite::{self, Table, Value};
use base64::Engine;
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::{Compression, Crc, GzBuilder};
use reprise_sample::{document, workbook, DocumentKind};
use std::io::Write;
use std::path::Path;

/// What a file holds, from which its bytes are generated.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    /// One of `reprise-sample`'s documents (txt, csv, docx, odt, pdf, jpg, eml, zip).
    Document {
        kind: DocumentKind,
        seed: u64,
        bytes: u64,
    },
    /// A budget workbook (xlsx).
    Workbook { seed: u64, bytes: u64 },
    /// A PNG image (poster, chart, screenshot).
    Png { seed: u64, bytes: u64 },
    /// A gzip-compressed log.
    GzLog { seed: u64, bytes: u64 },
    /// A SQLite database of a register.
    Sqlite { seed: u64, rows: u64 },
    /// A SQL dump (text).
    SqlDump { seed: u64, bytes: u64 },
    /// A server log (text).
    Log { seed: u64, bytes: u64 },
    /// An e-mail with a base64 attachment (a scan, a photo or a letter).
    MailWithAttachment { seed: u64, bytes: u64 },
    /// A shell script.
    Script { seed: u64 },
    /// A few words of text (under 64 bytes).
    Tiny { seed: u64 },
    /// A program copied from the system (`/usr/bin/NAME`).
    Program { name: String },
}

impl Spec {
    /// The file name extension this content goes with ("" for programs).
    pub fn extension(&self) -> &'static str {
        match self {
            Spec::Document { kind, .. } => kind.extension(),
            Spec::Workbook { .. } => "xlsx",
            Spec::Png { .. } => "png",
            Spec::GzLog { .. } => "log.gz",
            Spec::Sqlite { .. } => "sqlite",
            Spec::SqlDump { .. } => "sql",
            Spec::Log { .. } => "log",
            Spec::MailWithAttachment { .. } => "eml",
            Spec::Script { .. } => "sh",
            Spec::Tiny { .. } => "txt",
            Spec::Program { .. } => "",
        }
    }
}

/// Where the programs of the share come from.
pub const PROGRAM_DIR: &str = "/usr/bin";

/// The bytes of a spec.
pub fn content(spec: &Spec) -> Result<Vec<u8>> {
    let io = |r: std::io::Result<Vec<u8>>, what: &str| {
        r.map_err(|e| Error::Invalid(format!("cannot generate {what}: {e}")))
    };
    match spec {
        Spec::Document { kind, seed, bytes } => io(document(*kind, *seed, *bytes), "a document"),
        Spec::Workbook { seed, bytes } => io(workbook(*seed, *bytes), "a workbook"),
        Spec::Png { seed, bytes } => png(*seed, *bytes),
        Spec::GzLog { seed, bytes } => gzip(&log(*seed, *bytes), "journal.log"),
        Spec::Sqlite { seed, rows } => sqlite::database(&register(*seed, *rows)),
        Spec::SqlDump { seed, bytes } => Ok(sql_dump(*seed, *bytes)),
        Spec::Log { seed, bytes } => Ok(log(*seed, *bytes)),
        Spec::MailWithAttachment { seed, bytes } => mail_with_attachment(*seed, *bytes),
        Spec::Script { seed } => Ok(script(*seed)),
        Spec::Tiny { seed } => Ok(tiny(*seed)),
        Spec::Program { name } => {
            let path = Path::new(PROGRAM_DIR).join(name);
            std::fs::read(&path).at(&path)
        }
    }
}

/// The programs found on this machine among `names`.
pub fn available_programs(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter(|n| {
            std::fs::read(Path::new(PROGRAM_DIR).join(n))
                .is_ok_and(|b| b.starts_with(b"\x7fELF") && b.len() > 16 * 1024)
        })
        .map(|n| n.to_string())
        .collect()
}

pub const SURNAMES: &[&str] = &[
    "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU",
    "LAURENT", "SIMON", "MICHEL", "LEFEBVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL",
    "FOURNIER", "GIRARD", "BONNET", "DUPONT", "LAMBERT", "FONTAINE", "ROUSSEAU", "VINCENT",
];
pub const FIRST_NAMES: &[&str] = &[
    "Marie",
    "Jean",
    "Camille",
    "Louis",
    "Léa",
    "Hugo",
    "Chloé",
    "Lucas",
    "Manon",
    "Gabriel",
    "Inès",
    "Jules",
    "Zoé",
    "Arthur",
    "Élodie",
    "Noël",
    "Françoise",
    "Jérôme",
    "Anaïs",
    "Théo",
];
pub const STREETS: &[&str] = &[
    "rue de l'Église",
    "place de la Mairie",
    "chemin des Vignes",
    "route de Lyon",
    "allée des Tilleuls",
    "impasse du Moulin",
];

/// A PNG of a poster-like image: smooth colour fields, a few shapes, light
/// noise, deflated as an encoder would (about `bytes` long, within 50 %).
fn png(seed: u64, bytes: u64) -> Result<Vec<u8>> {
    let mut rng = derived(seed, "png");
    // Noisy RGB compresses to about 1.2 bytes a pixel.
    let pixels = (bytes as f64 / 1.2).max(64.0 * 64.0);
    let width = (pixels.sqrt() * 1.3) as u32;
    let height = (pixels / width as f64) as u32;
    let (r0, g0, b0) = (rng.u8(..), rng.u8(..), rng.u8(..));
    let circles: Vec<(i64, i64, i64, [u8; 3])> = (0..6)
        .map(|_| {
            (
                rng.i64(0..width as i64),
                rng.i64(0..height as i64),
                rng.i64(8..(width as i64 / 3).max(9)),
                [rng.u8(..), rng.u8(..), rng.u8(..)],
            )
        })
        .collect();
    let mut raw = Vec::with_capacity(((width * 3 + 1) * height) as usize);
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            let mut px = [
                r0.wrapping_add((x / 4) as u8),
                g0.wrapping_add((y / 4) as u8),
                b0.wrapping_add(((x + y) / 8) as u8),
            ];
            for (cx, cy, r, colour) in &circles {
                let (dx, dy) = (x as i64 - cx, y as i64 - cy);
                if dx * dx + dy * dy < r * r {
                    px = *colour;
                }
            }
            for c in &mut px {
                *c = c.wrapping_add(rng.u8(..4));
            }
            raw.extend_from_slice(&px);
        }
    }
    let mut z = ZlibEncoder::new(Vec::new(), Compression::new(6));
    z.write_all(&raw)
        .and_then(|_| z.finish())
        .map_err(|e| Error::Invalid(format!("cannot deflate a PNG: {e}")))
        .map(|idat| {
            let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
            let mut ihdr = Vec::with_capacity(13);
            ihdr.extend_from_slice(&width.to_be_bytes());
            ihdr.extend_from_slice(&height.to_be_bytes());
            ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no interlace
            png_chunk(&mut out, b"IHDR", &ihdr);
            png_chunk(&mut out, b"tEXt", b"Software\0Mairie de Saint-Exemple");
            for part in idat.chunks(64 * 1024) {
                png_chunk(&mut out, b"IDAT", part);
            }
            png_chunk(&mut out, b"IEND", b"");
            out
        })
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// `data` gzipped as `gzip` does, with a fixed time so the bytes are stable.
pub fn gzip(data: &[u8], name: &str) -> Result<Vec<u8>> {
    let mut gz: GzEncoder<Vec<u8>> = GzBuilder::new()
        .filename(name)
        .mtime(1_700_000_000)
        .write(Vec::new(), Compression::new(6));
    gz.write_all(data)
        .and_then(|_| gz.finish())
        .map_err(|e| Error::Invalid(format!("cannot gzip {name}: {e}")))
}

/// A zip archive of `(name, bytes)` members, deflated.
pub fn zip_of(members: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let bad = |e: &dyn std::fmt::Display| Error::Invalid(format!("cannot write a zip: {e}"));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    for (name, data) in members {
        zip.start_file(name.as_str(), options)
            .map_err(|e| bad(&e))?;
        zip.write_all(data).map_err(|e| bad(&e))?;
    }
    Ok(zip.finish().map_err(|e| bad(&e))?.into_inner())
}

/// The register of a SQLite database: births, or water meters.
fn register(seed: u64, rows: u64) -> Vec<Table> {
    let mut rng = derived(seed, "sqlite");
    let births = (0..rows)
        .map(|_| {
            vec![
                Value::Null,
                Value::Text(pick(&mut rng, SURNAMES).to_string()),
                Value::Text(pick(&mut rng, FIRST_NAMES).to_string()),
                Value::Text(format!(
                    "{}-{:02}-{:02}",
                    rng.u16(1950..2025),
                    rng.u8(1..13),
                    rng.u8(1..29)
                )),
                Value::Real(f64::from(rng.u16(2000..4500)) / 1000.0),
                Value::Text(format!("{} {}", rng.u16(1..120), pick(&mut rng, STREETS))),
            ]
        })
        .collect();
    let meters = (0..rows / 2)
        .map(|i| {
            vec![
                Value::Null,
                Value::Text(format!("CPT-{:06}", 1000 + i)),
                Value::Int(rng.i64(0..99_999)),
                Value::Text(format!("2024-{:02}-15", rng.u8(1..13))),
            ]
        })
        .collect();
    vec![
        Table {
            name: "naissances".into(),
            sql: "CREATE TABLE naissances(id INTEGER PRIMARY KEY, nom TEXT, prenom TEXT, date_naissance TEXT, poids REAL, adresse TEXT)".into(),
            rows: births,
        },
        Table {
            name: "compteurs".into(),
            sql: "CREATE TABLE compteurs(id INTEGER PRIMARY KEY, numero TEXT, index_m3 INTEGER, releve TEXT)".into(),
            rows: meters,
        },
    ]
}

/// A PostgreSQL-style dump of the civil-status database: about `bytes` long.
fn sql_dump(seed: u64, bytes: u64) -> Vec<u8> {
    let mut rng = derived(seed, "sql-dump");
    let mut out = String::from(
        "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n\n\
         CREATE TABLE public.naissances (\n    id integer NOT NULL,\n    nom text,\n    \
         prenom text,\n    date_naissance date,\n    lieu text\n);\n\n",
    );
    let mut id = 1;
    while (out.len() as u64) < bytes {
        out.push_str(&sql_row(&mut rng, id));
        id += 1;
    }
    out.into_bytes()
}

/// One INSERT of the dump.
pub fn sql_row(rng: &mut fastrand::Rng, id: u64) -> String {
    format!(
        "INSERT INTO public.naissances VALUES ({id}, '{}', '{}', '{}-{:02}-{:02}', 'Saint-Exemple');\n",
        pick(rng, SURNAMES),
        pick(rng, FIRST_NAMES).replace('\'', "''"),
        rng.u16(1950..2025),
        rng.u8(1..13),
        rng.u8(1..29)
    )
}

/// A server log of about `bytes`.
fn log(seed: u64, bytes: u64) -> Vec<u8> {
    let mut rng = derived(seed, "log");
    let mut out = String::new();
    let mut t: u64 = 1_700_000_000 + rng.u64(..10_000_000);
    while (out.len() as u64) < bytes {
        t += rng.u64(1..120);
        out.push_str(&log_line(&mut rng, t));
    }
    out.into_bytes()
}

/// One line of a log, at `t` seconds since the epoch.
pub fn log_line(rng: &mut fastrand::Rng, t: u64) -> String {
    let day = t / 86_400;
    let (h, m, s) = (t / 3600 % 24, t / 60 % 60, t % 60);
    let actions = ["ouverture", "fermeture", "écriture", "lecture", "connexion"];
    format!(
        "2024-{:02}-{:02}T{h:02}:{m:02}:{s:02} srv-mairie smbd[{}]: {} {} par {}.{} depuis 192.168.1.{}\n",
        day % 12 + 1,
        day % 28 + 1,
        rng.u32(1000..40000),
        pick(rng, &actions),
        pick(rng, &["etat-civil", "finances", "urbanisme", "rh", "courriel"]),
        pick(rng, FIRST_NAMES).to_lowercase(),
        pick(rng, SURNAMES).to_lowercase(),
        rng.u8(2..250)
    )
}

/// An e-mail with a text part and a base64 attachment of about `bytes`.
fn mail_with_attachment(seed: u64, bytes: u64) -> Result<Vec<u8>> {
    let mut rng = derived(seed, "mail-attachment");
    let (kind, name, mime) = *pick(
        &mut rng,
        &[
            (DocumentKind::Scan, "piece-jointe.pdf", "application/pdf"),
            (DocumentKind::Photo, "photo.jpg", "image/jpeg"),
            (
                DocumentKind::Letter,
                "courrier.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ),
        ],
    );
    let body = content(&Spec::Document {
        kind: DocumentKind::Note,
        seed,
        bytes: 600,
    })?;
    let attachment = content(&Spec::Document {
        kind,
        seed,
        bytes: bytes * 3 / 4,
    })?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&attachment);
    let mut out = format!(
        "From: {} {} <contact@exemple.fr>\nTo: accueil@saint-exemple.fr\nSubject: Dossier {}\n\
         Date: Mon, 4 Mar 2024 10:{:02}:00 +0100\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"sep-{seed}\"\n\n--sep-{seed}\n\
         Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n",
        pick(&mut rng, FIRST_NAMES),
        pick(&mut rng, SURNAMES),
        rng.u32(1000..9999),
        rng.u8(..60)
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out.extend_from_slice(
        format!(
            "\n--sep-{seed}\nContent-Type: {mime}; name=\"{name}\"\n\
             Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"{name}\"\n\n"
        )
        .as_bytes(),
    );
    for line in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(format!("--sep-{seed}--\n").as_bytes());
    Ok(out)
}

fn script(seed: u64) -> Vec<u8> {
    let mut rng = derived(seed, "script");
    let share = pick(
        &mut rng,
        &["etat-civil", "finances", "urbanisme", "courriel"],
    );
    format!(
        "#!/bin/sh\n# Copie de nuit du partage {share} vers le NAS ({}).\nset -eu\n\
         rsync -a --delete /srv/partage/{share}/ nas:/volume1/{share}/\n\
         logger \"copie de {share} terminée\"\n",
        rng.u32(..100_000)
    )
    .into_bytes()
}

fn tiny(seed: u64) -> Vec<u8> {
    let mut rng = derived(seed, "tiny");
    format!(
        "À rappeler : {} {}\n",
        pick(&mut rng, FIRST_NAMES),
        pick(&mut rng, SURNAMES)
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_have_their_magic_and_are_reproducible() {
        let cases: Vec<(Spec, &[u8])> = vec![
            (
                Spec::Png {
                    seed: 1,
                    bytes: 20_000,
                },
                b"\x89PNG\r\n\x1a\n",
            ),
            (
                Spec::GzLog {
                    seed: 1,
                    bytes: 20_000,
                },
                b"\x1f\x8b",
            ),
            (Spec::Sqlite { seed: 1, rows: 500 }, b"SQLite format 3\0"),
            (
                Spec::Workbook {
                    seed: 1,
                    bytes: 20_000,
                },
                b"PK\x03\x04",
            ),
            (
                Spec::SqlDump {
                    seed: 1,
                    bytes: 20_000,
                },
                b"--\n-- PostgreSQL",
            ),
            (
                Spec::MailWithAttachment {
                    seed: 1,
                    bytes: 20_000,
                },
                b"From: ",
            ),
            (Spec::Script { seed: 1 }, b"#!/bin/sh"),
        ];
        for (spec, magic) in cases {
            let a = content(&spec).unwrap();
            assert!(a.starts_with(magic), "{spec:?}");
            assert_eq!(a, content(&spec).unwrap(), "{spec:?}");
        }
        assert!(content(&Spec::Tiny { seed: 3 }).unwrap().len() < 64);
        let png = content(&Spec::Png {
            seed: 2,
            bytes: 50_000,
        })
        .unwrap();
        assert!(png.ends_with(b"IEND\xae\x42\x60\x82"));
        assert!((20_000..100_000).contains(&png.len()), "{}", png.len());
    }

    #[test]
    fn gzip_and_zip_round_trip() {
        use std::io::Read;
        let data = log(4, 30_000);
        let gz = gzip(&data, "a.log").unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        let zip = zip_of(&[("a/b.txt".into(), data.clone())]).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        let mut member = Vec::new();
        archive
            .by_name("a/b.txt")
            .unwrap()
            .read_to_end(&mut member)
            .unwrap();
        assert_eq!(member, data);
    }
}
