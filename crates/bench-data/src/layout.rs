//! The bulk of a benchmark share: tens of thousands of ordinary office files (notes,
//! registers, letters, minutes, scans, photos, e-mails, zips) filed in a deep tree of
//! folders (service / year / topic / case / part / version / stage / batch), the way years
//! of work pile up on a town hall's share. Planned in full before anything is written, so
//! that the files can then be written in parallel in any order and still come out the same.

use std::path::PathBuf;

use fastrand::Rng;
use reprise_sample::DocumentKind;

use crate::tree::{derived_rng, stable_hash};

/// Where the bulk goes, relative to the share's root (next to the town hall's own folders).
pub const BULK_ROOT: &str = "partage/dossiers";

/// One kind of bulk file: how common (per hundred files), how large relative to the
/// average file, and what its format adds to the requested size (measured on `document`:
/// the zip or image around the text, and the smallest file it ever writes).
struct KindShare {
    kind: DocumentKind,
    per_hundred: u32,
    relative_size: f64,
    overhead: u64,
    minimum: u64,
}

const fn kind_share(
    kind: DocumentKind,
    per_hundred: u32,
    relative_size: f64,
    overhead: u64,
    minimum: u64,
) -> KindShare {
    KindShare {
        kind,
        per_hundred,
        relative_size,
        overhead,
        minimum,
    }
}

const KINDS: [KindShare; 8] = [
    kind_share(DocumentKind::Note, 18, 0.5, 0, 0),
    kind_share(DocumentKind::Table, 14, 1.0, 0, 0),
    kind_share(DocumentKind::Letter, 16, 0.8, 1_200, 1_300),
    kind_share(DocumentKind::Minutes, 8, 0.8, 1_300, 1_400),
    kind_share(DocumentKind::Scan, 12, 1.5, 0, 4_600),
    kind_share(DocumentKind::Photo, 10, 2.0, 0, 4_300),
    kind_share(DocumentKind::Mail, 16, 0.4, 0, 0),
    kind_share(DocumentKind::Archive, 6, 2.5, 380, 400),
];

/// Sizes vary between e^-SPREAD and e^SPREAD times their kind's typical size.
const SPREAD: f64 = 1.2;
/// Files per folder, uniformly in this range (24 on average).
const FOLDER_FILES: std::ops::RangeInclusive<usize> = 4..=44;

/// The folder levels below [`BULK_ROOT`], outermost first; the last level is one batch
/// folder per folder index, so every folder sits nine levels below `partage`.
const LEVELS: [&[&str]; 7] = [
    &[
        "urbanisme",
        "finances",
        "etat-civil",
        "ressources-humaines",
        "enfance-jeunesse",
        "services-techniques",
        "communication",
        "elections",
    ],
    &[
        "2015", "2016", "2017", "2018", "2019", "2020", "2021", "2022", "2023", "2024",
    ],
    &[
        "courriers",
        "délibérations",
        "marchés publics",
        "subventions",
    ],
    &[
        "dossier-001",
        "dossier-002",
        "dossier-003",
        "dossier-004",
        "dossier-005",
        "dossier-006",
    ],
    &["pièces jointes", "correspondance", "versions de travail"],
    &["v1", "v2-relue"],
    &["brouillons", "définitif"],
];

/// Kind-specific name stems (`note-000123.txt`).
fn stems(kind: DocumentKind) -> &'static [&'static str] {
    match kind {
        DocumentKind::Note => &["note", "memo", "a-faire", "compte-rendu"],
        DocumentKind::Table => &["releve", "export", "tableau", "factures"],
        DocumentKind::Letter => &["courrier", "arrete", "convocation", "attestation"],
        DocumentKind::Minutes => &["proces-verbal", "compte-rendu", "rapport"],
        DocumentKind::Scan => &["scan", "piece-justificative", "numerisation"],
        DocumentKind::Photo => &["IMG", "DSC", "photo"],
        DocumentKind::Mail => &["message", "re-demande", "tr-information"],
        DocumentKind::Archive => &["archive", "envoi", "dossier-complet"],
    }
}

/// Names people type themselves: spaces, accents, apostrophes.
const HUMAN_NAMES: &[&str] = &[
    "Réunion du conseil",
    "Courrier à la préfecture",
    "Budget prévisionnel",
    "Demande d'accès",
    "Relevé de décisions",
    "Liste électorale (copie)",
];

/// One file to write.
pub struct BulkFile {
    pub name: String,
    pub kind: DocumentKind,
    pub size: u64,
    pub seed: u64,
}

/// One folder and the files it receives.
pub struct Folder {
    /// Relative to the share's root.
    pub path: PathBuf,
    pub files: Vec<BulkFile>,
}

/// `count` files adding up to about `bytes`, in folders of 4 to 44 files.
pub fn plan(seed: u64, count: u64, bytes: u64) -> Vec<Folder> {
    let mut rng = derived_rng(seed, "bulk");
    let drafts: Vec<(&KindShare, f64)> = (0..count).map(|_| draft(&mut rng)).collect();
    let scale = size_scale(&drafts, bytes);
    let mut folders = Vec::new();
    let mut index = 0usize;
    while index < drafts.len() {
        let end = (index + rng.usize(FOLDER_FILES)).min(drafts.len());
        let files = (index..end)
            .map(|file| {
                let (kind, weight) = drafts[file];
                let size = request(kind, weight * scale);
                bulk_file(&mut rng, seed, file, kind.kind, size)
            })
            .collect();
        folders.push(Folder {
            path: folder_path(folders.len()),
            files,
        });
        index = end;
    }
    folders
}

/// A kind, and a size weight (relative to the average file).
fn draft(rng: &mut Rng) -> (&'static KindShare, f64) {
    let mut roll = rng.u32(..100);
    let mut chosen = &KINDS[0];
    for entry in &KINDS {
        if roll < entry.per_hundred {
            chosen = entry;
            break;
        }
        roll -= entry.per_hundred;
    }
    let spread = (rng.f64() * 2.0 - 1.0) * SPREAD;
    (chosen, chosen.relative_size * spread.exp())
}

/// The bytes per unit of weight that make the files add up to `bytes`, once every file is
/// at least its format's minimum (found by bisection: the total grows with the scale).
fn size_scale(drafts: &[(&KindShare, f64)], bytes: u64) -> f64 {
    let total = |scale: f64| -> f64 {
        drafts
            .iter()
            .map(|(kind, weight)| (weight * scale).max(kind.minimum as f64))
            .sum()
    };
    let (mut low, mut high) = (0.0, bytes as f64);
    for _ in 0..60 {
        let middle = (low + high) / 2.0;
        if total(middle) < bytes as f64 {
            low = middle;
        } else {
            high = middle;
        }
    }
    low
}

/// What to ask `document` for so that the file comes out at about `target` bytes.
fn request(kind: &KindShare, target: f64) -> u64 {
    (target as u64).saturating_sub(kind.overhead).max(1)
}

/// Same as [`request`], for a kind given by itself (a document saved anew by `change`).
pub fn request_for(kind: DocumentKind, target: u64) -> u64 {
    KINDS
        .iter()
        .find(|entry| entry.kind == kind)
        .map_or(target.max(1), |entry| request(entry, target as f64))
}

fn bulk_file(rng: &mut Rng, seed: u64, index: usize, kind: DocumentKind, size: u64) -> BulkFile {
    let extension = kind.extension();
    let name = if index % 7 == 3 {
        let human = HUMAN_NAMES[rng.usize(..HUMAN_NAMES.len())];
        format!("{human} {index:06}.{extension}")
    } else {
        let stems = stems(kind);
        format!("{}-{index:06}.{extension}", stems[rng.usize(..stems.len())])
    };
    BulkFile {
        name,
        kind,
        size,
        seed: stable_hash(seed, &(index as u64).to_le_bytes()),
    }
}

/// The folder of index `folder`: each level is one digit of the index in a mixed radix
/// (the first level varies fastest), then a batch folder unique to the index.
fn folder_path(folder: usize) -> PathBuf {
    let mut path = PathBuf::from(BULK_ROOT);
    let mut rest = folder;
    for names in LEVELS {
        path.push(names[rest % names.len()]);
        rest /= names.len();
    }
    path.push(format!("lot-{folder:06}"));
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_has_the_requested_count_and_size() {
        let folders = plan(5, 1000, 10_000_000);
        let files: Vec<&BulkFile> = folders.iter().flat_map(|f| &f.files).collect();
        assert_eq!(files.len(), 1000);
        let total: u64 = files.iter().map(|f| f.size).sum();
        assert!((9_000_000..=10_000_000).contains(&total), "{total}");
        assert!(folders.iter().all(|f| f.files.len() <= 44));
    }

    #[test]
    fn plan_is_reproducible_and_names_are_unique() {
        let names = |seed| -> Vec<PathBuf> {
            plan(seed, 500, 1_000_000)
                .iter()
                .flat_map(|f| f.files.iter().map(|file| f.path.join(&file.name)))
                .collect()
        };
        let first = names(1);
        assert_eq!(first, names(1));
        let unique: std::collections::BTreeSet<&PathBuf> = first.iter().collect();
        assert_eq!(unique.len(), first.len());
    }

    #[test]
    fn folders_are_deep() {
        // partage/dossiers + 7 levels + the batch folder.
        assert_eq!(folder_path(12345).components().count(), 10);
        assert_ne!(folder_path(1), folder_path(2));
    }
}
