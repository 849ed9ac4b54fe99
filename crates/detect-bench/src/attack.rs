//! Ransomware as the evaluation plays it: which files a family reaches,
//! how it encrypts them (whole, every other 16 bytes, the first 4 KiB,
//! blocks at a stride, base64-armoured), how it writes the result (in
//! place, in place then renamed, or as a new file with the original
//! deleted), how it renames them and which notes it drops. "Encryption" is
//! XOR with a seeded keystream: to a detector that sees only bytes, it is
//! ciphertext.

use crate::error::{IoContext, Result};
use crate::notes::{self, Wording};
use crate::rng::{derived, keystream};
use crate::share::{self, top_dir, RESERVED_DIRS};
use crate::truth::{hash, Encrypted};
use base64::Engine;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Which bytes are encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    Whole,
    /// `on` bytes encrypted, `off` bytes left, repeated.
    Intermittent {
        on: usize,
        off: usize,
    },
    /// The first bytes only.
    Head(usize),
    /// `block` bytes every `every` bytes from offset 0; files under
    /// `whole_below` bytes entirely.
    Stride {
        block: u64,
        every: u64,
        whole_below: u64,
    },
    /// Whole, then base64 (76-character lines).
    Base64,
}

/// How the encrypted version is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writing {
    /// Over the original, same inode.
    InPlace,
    /// Over the original, then renamed (same inode).
    InPlaceThenRename,
    /// A new file; the original is deleted (its inode is free for reuse).
    NewFileDeleteOriginal,
}

/// The name of the encrypted file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    Same,
    /// `budget.xlsx` → `budget.xlsx.pysa`.
    Append(&'static str),
    /// `budget.xlsx` → `budget.xlsx.k3f9qz`, a different extension each.
    RandomAppend,
    /// `budget.xlsx` → `5f1c09e2a4b7d836.qhxzt`: nothing of the old name.
    RandomName,
    /// `budget.xlsx` → `k3Jd9QxZ1a.7fQx2p`: a random name and a random
    /// extension, both different for every file (LockBit 3.0).
    RandomNameAndExtension,
}

/// Where the ransom notes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notes {
    None,
    /// One note at the top of the share.
    Root(&'static str),
    /// One note in every directory where files were encrypted.
    EveryDir(&'static str),
    /// One note in every directory where files were encrypted, named
    /// `<random>.<suffix>` with the same random part for the whole attack
    /// (`3fQk9Zp2x.README.txt`).
    EveryDirRandomName(&'static str),
}

/// Which files a family encrypts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Every non-empty file outside the reserved directories.
    Everything,
    /// Office documents and PDFs only (docx, xlsx, odt, pdf).
    Office,
    /// One to `per_round` files per round.
    Drip { per_round: usize },
    /// Every non-empty file of one half of the top-level directories (0:
    /// the first, second, fifth, sixth…; 1: the others): two waves of an
    /// attack reach different files.
    Half(u8),
}

/// A ransomware family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    pub target: Target,
    pub cipher: Cipher,
    pub writing: Writing,
    pub naming: Naming,
    pub notes: Notes,
    /// A 256-512-byte random footer (the encrypted key, in real families).
    pub footer: bool,
    /// The wording of its notes.
    pub wording: Wording,
}

/// What an attack did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub encrypted: Vec<Encrypted>,
    pub notes: Vec<String>,
}

/// Encrypts `data` as `cipher` says, with the keystream of `seed` and
/// `label`, and adds the footer if asked.
pub fn encrypt(data: &[u8], cipher: Cipher, footer: bool, seed: u64, label: &str) -> Vec<u8> {
    let key = keystream(seed, label, data.len());
    let mut out = data.to_vec();
    let xor = |out: &mut [u8], from: usize, to: usize| {
        let to = to.min(out.len());
        for i in from.min(to)..to {
            out[i] ^= key[i];
        }
    };
    match cipher {
        Cipher::Whole | Cipher::Base64 => xor(&mut out, 0, data.len()),
        Cipher::Intermittent { on, off } => {
            let mut at = 0;
            while at < data.len() {
                xor(&mut out, at, at + on);
                at += on + off;
            }
        }
        Cipher::Head(n) => xor(&mut out, 0, n),
        Cipher::Stride {
            block,
            every,
            whole_below,
        } => {
            if (data.len() as u64) < whole_below {
                xor(&mut out, 0, data.len());
            } else {
                let mut at = 0u64;
                while at < data.len() as u64 {
                    xor(&mut out, at as usize, (at + block) as usize);
                    at += every;
                }
            }
        }
    }
    if footer {
        let mut rng = derived(seed, &format!("{label}/footer"));
        let len = rng.usize(256..=512);
        out.extend_from_slice(&keystream(seed, &format!("{label}/footer-bytes"), len));
    }
    if cipher == Cipher::Base64 {
        let text = base64::engine::general_purpose::STANDARD.encode(&out);
        let mut armoured = Vec::with_capacity(text.len() + text.len() / 76 + 1);
        for line in text.as_bytes().chunks(76) {
            armoured.extend_from_slice(line);
            armoured.push(b'\n');
        }
        return armoured;
    }
    out
}

/// The files of the share this round's attack encrypts.
pub fn targets(
    root: &Path,
    family: &Family,
    seed: u64,
    round: usize,
    exclude: &BTreeSet<String>,
) -> Result<Vec<String>> {
    let mut candidates = Vec::new();
    let all = share::files(root)?;
    let halves = halves(&all);
    for rel in all.iter().cloned() {
        if let Target::Half(half) = family.target {
            if halves.get(top_dir(&rel)) != Some(&half) {
                continue;
            }
        }
        if RESERVED_DIRS.contains(&top_dir(&rel)) || exclude.contains(&rel) {
            continue;
        }
        let len = std::fs::metadata(root.join(&rel))
            .at(&root.join(&rel))?
            .len();
        if len == 0 {
            continue;
        }
        let office = [".docx", ".xlsx", ".odt", ".pdf"]
            .iter()
            .any(|ext| rel.ends_with(ext));
        if family.target == Target::Office && !office {
            continue;
        }
        candidates.push(rel);
    }
    if let Target::Drip { per_round } = family.target {
        let mut rng = derived(seed, &format!("drip-{round}"));
        rng.shuffle(&mut candidates);
        candidates.truncate(rng.usize(1..=per_round.max(1)));
        candidates.sort();
    }
    Ok(candidates)
}

/// The half (0 or 1) of each top-level directory attacks may reach, by
/// its rank in name order: the first two in half 0, the next two in half 1…
/// (both halves get big and small directories).
fn halves(files: &[String]) -> BTreeMap<&str, u8> {
    let mut tops: Vec<&str> = files
        .iter()
        .map(|f| top_dir(f))
        .filter(|t| !RESERVED_DIRS.contains(t))
        .collect();
    tops.dedup();
    tops.into_iter()
        .enumerate()
        .map(|(i, t)| (t, u8::from((i / 2) % 2 == 1)))
        .collect()
}

/// Runs the family over the share.
pub fn attack(
    root: &Path,
    family: &Family,
    seed: u64,
    round: usize,
    exclude: &BTreeSet<String>,
) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    let mut rng = derived(seed, &format!("names-{round}"));
    let mut dirs: BTreeMap<String, ()> = BTreeMap::new();
    for rel in targets(root, family, seed, round, exclude)? {
        let path = root.join(&rel);
        let data = std::fs::read(&path).at(&path)?;
        let encrypted = encrypt(&data, family.cipher, family.footer, seed, &rel);
        let (dir, name) = match rel.rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n.to_string()),
            None => (String::new(), rel.clone()),
        };
        let new_name = match family.naming {
            Naming::Same => name.clone(),
            Naming::Append(ext) => format!("{name}.{ext}"),
            Naming::RandomAppend => format!("{name}.{}", random_word(&mut rng, 6)),
            Naming::RandomName => format!("{:016x}.{}", rng.u64(..), random_word(&mut rng, 5)),
            Naming::RandomNameAndExtension => {
                let stem = mixed_case_word(&mut rng, 10);
                let ext = mixed_case_word(&mut rng, 6);
                format!("{stem}.{ext}")
            }
        };
        let new_rel = format!("{dir}{new_name}");
        let new_path = root.join(&new_rel);
        match family.writing {
            Writing::InPlace | Writing::InPlaceThenRename => {
                overwrite(&path, &encrypted)?;
                if new_rel != rel {
                    std::fs::rename(&path, &new_path).at(&path)?;
                }
            }
            Writing::NewFileDeleteOriginal => {
                if new_rel == rel {
                    let temp = root.join(format!("{dir}.{name}.tmp"));
                    std::fs::write(&temp, &encrypted).at(&temp)?;
                    std::fs::remove_file(&path).at(&path)?;
                    std::fs::rename(&temp, &path).at(&temp)?;
                } else {
                    std::fs::write(&new_path, &encrypted).at(&new_path)?;
                    std::fs::remove_file(&path).at(&path)?;
                }
            }
        }
        dirs.insert(dir.trim_end_matches('/').to_string(), ());
        outcome.encrypted.push(Encrypted {
            path: new_rel,
            original: rel,
            original_blake3: hash(&data),
        });
    }
    let note_dirs: Vec<String> = match family.notes {
        Notes::None => Vec::new(),
        Notes::Root(_) if outcome.encrypted.is_empty() => Vec::new(),
        Notes::Root(_) => vec![String::new()],
        Notes::EveryDir(_) | Notes::EveryDirRandomName(_) => dirs.into_keys().collect(),
    };
    let name = match family.notes {
        Notes::None => return Ok(outcome),
        Notes::Root(name) | Notes::EveryDir(name) => name.to_string(),
        Notes::EveryDirRandomName(suffix) => {
            let mut rng = derived(seed, &format!("note-name-{round}"));
            format!("{}.{suffix}", mixed_case_word(&mut rng, 9))
        }
    };
    for (copy, dir) in note_dirs.into_iter().enumerate() {
        let rel = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        let text = notes::note(seed, &name, round, copy, family.wording);
        share::write(root, &rel, text.as_bytes())?;
        outcome.notes.push(rel);
    }
    Ok(outcome)
}

/// Rewrites a file's bytes through the same inode.
fn overwrite(path: &Path, bytes: &[u8]) -> Result<()> {
    let file = OpenOptions::new().write(true).open(path).at(path)?;
    file.write_all_at(bytes, 0).at(path)?;
    file.set_len(bytes.len() as u64).at(path)
}

fn random_word(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len)
        .map(|_| {
            let i = rng.u8(..36);
            if i < 26 {
                char::from(b'a' + i)
            } else {
                char::from(b'0' + i - 26)
            }
        })
        .collect()
}

/// Letters and digits, upper and lower case, as LockBit names its files.
fn mixed_case_word(rng: &mut fastrand::Rng, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.usize(..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphers_encrypt_the_bytes_they_say() {
        let data = vec![b'a'; 3 << 20];
        let whole = encrypt(&data, Cipher::Whole, false, 1, "x");
        assert_eq!(whole.len(), data.len());
        assert!(whole.iter().filter(|&&b| b == b'a').count() < data.len() / 100);
        let striped = encrypt(
            &data,
            Cipher::Intermittent { on: 16, off: 16 },
            false,
            1,
            "x",
        );
        assert!(striped[16..32].iter().all(|&b| b == b'a'));
        assert!(striped[..16].iter().filter(|&&b| b == b'a').count() < 3);
        let head = encrypt(&data, Cipher::Head(4096), true, 1, "x");
        assert!(head[4096..data.len()].iter().all(|&b| b == b'a'));
        assert!((data.len() + 256..=data.len() + 512).contains(&head.len()));
        let stride = Cipher::Stride {
            block: 64 << 10,
            every: 1 << 20,
            whole_below: 1 << 20,
        };
        let strided = encrypt(&data, stride, false, 1, "x");
        assert!(strided[(64 << 10)..(1 << 20)].iter().all(|&b| b == b'a'));
        assert!(strided[(1 << 20)..(1 << 20) + 100]
            .iter()
            .any(|&b| b != b'a'));
        let small = encrypt(&data[..1000], stride, false, 1, "x");
        assert!(small.iter().filter(|&&b| b == b'a').count() < 20);
        let armoured = encrypt(&data[..3000], Cipher::Base64, false, 1, "x");
        assert!(armoured
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=\n".contains(b)));
    }

    #[test]
    fn an_attack_renames_deletes_and_drops_notes_as_told() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        share::write(root, "finances/a.docx", b"document a").unwrap();
        share::write(root, "finances/sub/b.pdf", b"%PDF-1.4 b").unwrap();
        share::write(root, "finances/empty.txt", b"").unwrap();
        share::write(root, "courriel/c.eml", b"reserved").unwrap();
        let family = Family {
            target: Target::Everything,
            cipher: Cipher::Whole,
            writing: Writing::NewFileDeleteOriginal,
            naming: Naming::Append("pysa"),
            notes: Notes::EveryDir("RECOVER.txt"),
            footer: true,
            wording: Wording::Demanding,
        };
        let out = attack(root, &family, 3, 0, &BTreeSet::new()).unwrap();
        let paths: Vec<&str> = out.encrypted.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["finances/a.docx.pysa", "finances/sub/b.pdf.pysa"]);
        assert_eq!(
            out.notes,
            ["finances/RECOVER.txt", "finances/sub/RECOVER.txt"]
        );
        assert!(!root.join("finances/a.docx").exists());
        assert_eq!(
            std::fs::read(root.join("courriel/c.eml")).unwrap(),
            b"reserved"
        );
        assert_eq!(out.encrypted[0].original_blake3, hash(b"document a"));
        let random = Family {
            naming: Naming::RandomName,
            writing: Writing::InPlaceThenRename,
            notes: Notes::None,
            ..family
        };
        let exclude: BTreeSet<String> = ["finances/RECOVER.txt".to_string()].into();
        let again = attack(root, &random, 4, 0, &exclude).unwrap();
        assert!(again.notes.is_empty());
        assert!(again
            .encrypted
            .iter()
            .all(|e| !e.path.contains(".pysa") && e.path.starts_with("finances/")));
    }

    #[test]
    fn lockbit3_names_every_file_anew_and_every_note_copy_differs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for i in 0..6 {
            share::write(root, &format!("finances/d{}/f{i}.docx", i % 3), b"document").unwrap();
        }
        share::write(root, "rh/x.pdf", b"%PDF-1.4 x").unwrap();
        let family = crate::scenario::LOCKBIT3;
        let out = attack(root, &family, 7, 0, &BTreeSet::new()).unwrap();
        assert_eq!(out.encrypted.len(), 7);
        let mut stems = BTreeSet::new();
        let mut exts = BTreeSet::new();
        for e in &out.encrypted {
            let name = e.path.rsplit('/').next().unwrap();
            let (stem, ext) = name.split_once('.').unwrap();
            assert!(stem.len() == 10 && ext.len() == 6, "{name}");
            stems.insert(stem.to_string());
            exts.insert(ext.to_string());
            assert!(!root.join(&e.original).exists(), "{} kept", e.original);
        }
        assert_eq!((stems.len(), exts.len()), (7, 7));
        assert_eq!(out.notes.len(), 4);
        let names: BTreeSet<&str> = out
            .notes
            .iter()
            .map(|n| n.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names.iter().all(|n| n.ends_with(".README.txt")));
        let texts: BTreeSet<Vec<u8>> = out
            .notes
            .iter()
            .map(|n| std::fs::read(root.join(n)).unwrap())
            .collect();
        assert_eq!(texts.len(), 4, "every copy has its own ID");
    }

    #[test]
    fn two_halves_reach_different_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for top in ["a", "b", "c", "d", "e"] {
            share::write(root, &format!("{top}/f.txt"), b"text").unwrap();
        }
        let half = |h| {
            let family = Family {
                target: Target::Half(h),
                ..crate::scenario::LOCKBIT3
            };
            targets(root, &family, 1, 0, &BTreeSet::new()).unwrap()
        };
        assert_eq!(half(0), ["a/f.txt", "b/f.txt", "e/f.txt"]);
        assert_eq!(half(1), ["c/f.txt", "d/f.txt"]);
    }
}
