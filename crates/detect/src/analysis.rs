//! A snapshot against its parent: every changed file judged against its
//! previous version, renames matched, ransom notes found, extensions and
//! the rate of change weighed, and a verdict with its evidence.

use crate::changes::DirChanges;
use crate::judge::{judge, Judgment, Reason, Strength, Version};
use crate::magic;
use crate::notes;
use reprise_format::{BlobId, Node};
use reprise_repo::walk::join;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The three verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Clean,
    Suspicious,
    Attack,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Suspicious => "suspicious",
            Verdict::Attack => "attack",
        }
    }
}

/// One flagged file.
#[derive(Debug, Clone, Serialize)]
pub struct Flagged {
    /// Its path in the snapshot.
    pub path: String,
    #[serde(skip)]
    pub path_bytes: Vec<u8>,
    pub strength: Strength,
    #[serde(flatten)]
    pub reason: Reason,
    /// The path of the file it replaced, when it was renamed (or written
    /// next to an original that was then deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced: Option<String>,
    #[serde(skip)]
    pub replaced_bytes: Option<Vec<u8>>,
}

/// How much changed, in files.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChangeCounts {
    pub added: u64,
    pub modified: u64,
    pub removed: u64,
}

/// What earlier snapshots of the same source say.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Fraction of files new or changed, per earlier snapshot.
    pub change_rates: Vec<f64>,
    /// Files flagged by the snapshots since the last clean one (a slow drip
    /// of a few files per backup adds up here).
    pub recent_flagged: u64,
}

/// The analysis of one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub verdict: Verdict,
    /// 0 to 100.
    pub score: f64,
    /// The summary a tired sysadmin reads first.
    pub summary: String,
    /// The evidence, most telling first.
    pub evidence: Vec<String>,
    /// Files that look encrypted by an attack, and ransom notes.
    pub flagged: Vec<Flagged>,
    /// Unusual files that raise nothing on their own.
    pub unusual: Vec<Flagged>,
    pub changes: ChangeCounts,
    /// Files in the snapshot (from its summary).
    pub total_files: u64,
}

impl Report {
    pub fn ransom_notes(&self) -> impl Iterator<Item = &Flagged> {
        self.flagged
            .iter()
            .filter(|f| f.reason == Reason::RansomNote)
    }

    pub fn encrypted(&self) -> impl Iterator<Item = &Flagged> {
        self.flagged
            .iter()
            .filter(|f| f.reason != Reason::RansomNote)
    }
}

/// Reads the content of a small file (a candidate ransom note).
pub type ContentReader<'a> = dyn Fn(&Node) -> Option<Vec<u8>> + 'a;

/// Notes are small: larger new text files are not read.
const NOTE_MAX_BYTES: u64 = 64 * 1024;
/// At most this many distinct candidate notes are read.
const NOTE_CANDIDATES_MAX: usize = 200;

/// Analyses the changed directories of a snapshot.
pub fn analyze(
    dirs: &[DirChanges],
    total_files: u64,
    history: &History,
    read: &ContentReader,
) -> Report {
    let mut found = Findings::default();
    for dir in dirs {
        found.counts.added += dir.added.len() as u64;
        found.counts.modified += dir.modified.len() as u64;
        found.counts.removed += dir.removed.len() as u64;
        judge_dir(dir, &mut found);
    }
    find_notes(dirs, read, &mut found);
    let names = extension_evidence(&mut found);
    conclude(found, names, total_files, history)
}

#[derive(Default)]
struct Findings {
    flagged: Vec<Flagged>,
    unusual: Vec<Flagged>,
    /// Files that replaced another under a new extension (renamed, or
    /// written anew and the original deleted) and that the judge found
    /// nothing against: (path, the file replaced).
    renamed_unjudged: Vec<(Vec<u8>, Vec<u8>)>,
    counts: ChangeCounts,
}

impl Findings {
    fn push(&mut self, path: Vec<u8>, judgment: Judgment, replaced: Option<Vec<u8>>) {
        let f = Flagged {
            path: String::from_utf8_lossy(&path).into_owned(),
            path_bytes: path,
            strength: judgment.strength,
            reason: judgment.reason,
            replaced: replaced
                .as_ref()
                .map(|r| String::from_utf8_lossy(r).into_owned()),
            replaced_bytes: replaced,
        };
        match f.strength {
            Strength::Strong => self.flagged.push(f),
            Strength::Weak => self.unusual.push(f),
        }
    }
}

fn version(node: &Node) -> Version<'_> {
    Version {
        name: node.name.as_bytes(),
        stats: node.stats.as_ref(),
    }
}

/// Judges one directory's changes; new files are first matched with the
/// removed file they replace.
fn judge_dir(dir: &DirChanges, found: &mut Findings) {
    for (before, after) in &dir.modified {
        if let Some(j) = judge(version(after), Some(version(before))) {
            found.push(join(&dir.dir, after.name.as_bytes()), j, None);
        }
    }
    let matches = match_replacements(&dir.added, &dir.removed);
    let mut weak_unmatched = Vec::new();
    for (i, added) in dir.added.iter().enumerate() {
        let original = matches[i].map(|r| &dir.removed[r]);
        let Some(j) = judge(version(added), original.map(version)) else {
            if let Some(o) = original {
                let (new, old) = (added.name.as_bytes(), o.name.as_bytes());
                if magic::extension(new).is_some() && magic::extension(new) != magic::extension(old)
                {
                    found
                        .renamed_unjudged
                        .push((join(&dir.dir, new), join(&dir.dir, old)));
                }
            }
            continue;
        };
        let path = join(&dir.dir, added.name.as_bytes());
        let replaced = original.map(|o| join(&dir.dir, o.name.as_bytes()));
        if original.is_none() && j.reason == Reason::RandomContent {
            weak_unmatched.push(path);
            continue;
        }
        found.push(path, j, replaced);
    }
    // Random files appearing where as many files were deleted: the originals
    // were encrypted into new files under new names.
    let removed_unmatched = dir.removed.len() - matches.iter().flatten().count();
    let strong = removed_unmatched >= 3 && weak_unmatched.len() >= 3;
    for path in weak_unmatched {
        let judgment = Judgment {
            strength: if strong {
                Strength::Strong
            } else {
                Strength::Weak
            },
            reason: if strong {
                Reason::ReplacedDeletedFiles
            } else {
                Reason::RandomContent
            },
        };
        found.push(path, judgment, None);
    }
}

/// For each added file, the removed file it replaces, if any: by name first
/// (an appended extension, `a.docx` → `a.docx.locked`, or the same stem,
/// `a.docx` → `a.locked`), then, for the files still unmatched, by inode (a
/// rename to an unrelated name). Names go first because a file system
/// reuses a deleted file's inode for the next file created: by inode alone,
/// an encrypted copy written after its original was deleted would be
/// paired with some other deleted file.
fn match_replacements(added: &[Node], removed: &[Node]) -> Vec<Option<usize>> {
    let mut used = vec![false; removed.len()];
    let mut by_name: HashMap<&[u8], usize> = HashMap::new();
    let mut by_stem: HashMap<&[u8], usize> = HashMap::new();
    let mut by_inode: HashMap<(u64, u64), usize> = HashMap::new();
    for (i, r) in removed.iter().enumerate() {
        by_name.insert(r.name.as_bytes(), i);
        by_stem.entry(stem(r.name.as_bytes())).or_insert(i);
        if r.inode != 0 {
            by_inode.insert((r.device, r.inode), i);
        }
    }
    let mut claim = |candidate: Option<usize>| {
        let i = candidate.filter(|&i| !used[i])?;
        used[i] = true;
        Some(i)
    };
    let mut matches: Vec<Option<usize>> = added
        .iter()
        .map(|a| {
            let name = a.name.as_bytes();
            claim(prefixes(name).find_map(|p| by_name.get(p).copied()))
        })
        .collect();
    for (a, m) in added.iter().zip(matches.iter_mut()) {
        if m.is_none() {
            *m = claim(by_stem.get(stem(a.name.as_bytes())).copied());
        }
    }
    for (a, m) in added.iter().zip(matches.iter_mut()) {
        if m.is_none() && a.inode != 0 {
            *m = claim(by_inode.get(&(a.device, a.inode)).copied());
        }
    }
    matches
}

/// `a.docx.id-42.locked` → `a.docx.id-42`, `a.docx`, `a`: the names an
/// appended extension may have been added to.
fn prefixes(name: &[u8]) -> impl Iterator<Item = &[u8]> {
    name.iter()
        .enumerate()
        .rev()
        .filter(|&(i, &b)| b == b'.' && i > 0)
        .map(move |(i, _)| &name[..i])
}

/// A name without its last extension.
fn stem(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b'.') {
        Some(i) if i > 0 => &name[..i],
        _ => name,
    }
}

/// One copy of a candidate note: its path and node.
type NoteCopy<'a> = (Vec<u8>, &'a Node);

/// New small text files that read like ransom notes.
fn find_notes(dirs: &[DirChanges], read: &ContentReader, found: &mut Findings) {
    let mut groups: BTreeMap<(u64, Vec<BlobId>), Vec<NoteCopy>> = BTreeMap::new();
    for dir in dirs {
        for node in &dir.added {
            let is_text = node.stats.as_ref().is_some_and(|s| s.kind == "text");
            if is_text && node.size > 0 && node.size <= NOTE_MAX_BYTES {
                groups
                    .entry((node.size, node.content.clone()))
                    .or_default()
                    .push((join(&dir.dir, node.name.as_bytes()), node));
            }
        }
    }
    let candidates = groups
        .into_values()
        .filter(|copies| {
            copies.len() >= 3
                || copies
                    .iter()
                    .any(|(_, n)| notes::name_looks_like_note(n.name.as_bytes()))
        })
        .take(NOTE_CANDIDATES_MAX);
    for copies in candidates {
        let (_, first) = copies[0];
        let Some(text) = read(first) else { continue };
        if !notes::is_ransom_note(first.name.as_bytes(), &text, copies.len()) {
            continue;
        }
        for (path, _) in copies {
            let judgment = Judgment {
                strength: Strength::Strong,
                reason: Reason::RansomNote,
            };
            found.push(path, judgment, None);
        }
    }
}

/// What the names of suspect files say, and how to sum up their renaming.
struct NameEvidence {
    lines: Vec<String>,
    /// "*.pysa", or "with a different random extension each".
    renamed_as: Option<String>,
}

/// What the names of flagged files say: a common new extension, a known
/// ransomware extension, or a random extension per file. Unusual files that
/// share such an extension with flagged ones are promoted to flagged, and so
/// are files renamed to it whose content told nothing (a note of 30 bytes
/// turned into 40 characters of base64 cannot be told from text): the
/// attack renamed them with the rest.
fn extension_evidence(found: &mut Findings) -> NameEvidence {
    // New extensions of files that replaced another (renamed or rewritten),
    // and extensions ransomware is known for on any suspect file.
    let mut renamed: BTreeMap<String, usize> = BTreeMap::new();
    let mut known: BTreeMap<String, usize> = BTreeMap::new();
    for f in found.encrypted_and_unusual() {
        let Some(ext) = magic::extension(&f.path_bytes) else {
            continue;
        };
        if notes::is_known_extension(&ext) {
            *known.entry(ext.clone()).or_default() += 1;
        }
        let original_ext = f.replaced_bytes.as_deref().and_then(magic::extension);
        let new_kind_of_name = magic::expected_kinds(format!("x.{ext}").as_bytes()).is_none();
        if f.replaced_bytes.is_some() && Some(&ext) != original_ext.as_ref() && new_kind_of_name {
            *renamed.entry(ext).or_default() += 1;
        }
    }
    let mut evidence = Vec::new();
    let mut marked = Vec::new();
    for (ext, n) in &known {
        if *n >= 2 || renamed.contains_key(ext) {
            evidence.push(format!(
                "{} named *.{ext}, an extension ransomware uses",
                files(*n)
            ));
            marked.push(ext.clone());
        }
    }
    for (ext, n) in &renamed {
        if *n >= 5 && !marked.contains(ext) {
            evidence.push(format!(
                "{} renamed to the same new extension *.{ext}",
                files(*n)
            ));
            marked.push(ext.clone());
        }
    }
    let total_renamed: usize = renamed.values().sum();
    let singles = renamed.values().filter(|&&n| n == 1).count();
    let random_extensions = singles >= 5 && singles * 10 >= total_renamed * 8;
    if random_extensions {
        evidence.push(format!(
            "{} renamed with a different random extension each",
            files(singles)
        ));
    }
    let (promote, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut found.unusual)
        .into_iter()
        .partition(|f| {
            f.reason == Reason::RandomContent
                && magic::extension(&f.path_bytes).is_some_and(|e| marked.contains(&e))
        });
    found.unusual = keep;
    found.flagged.extend(promote.into_iter().map(|mut f| {
        f.strength = Strength::Strong;
        f
    }));
    for (path, replaced) in std::mem::take(&mut found.renamed_unjudged) {
        let Some(extension) = magic::extension(&path).filter(|e| marked.contains(e)) else {
            continue;
        };
        let judgment = Judgment {
            strength: Strength::Strong,
            reason: Reason::RenamedLikeEncrypted { extension },
        };
        found.push(path, judgment, Some(replaced));
    }
    let renamed_as = match marked.first() {
        Some(ext) => Some(format!("*.{ext}")),
        None => random_extensions.then(|| "with a different random extension each".to_string()),
    };
    NameEvidence {
        lines: evidence,
        renamed_as,
    }
}

impl Findings {
    fn encrypted_and_unusual(&self) -> impl Iterator<Item = &Flagged> {
        self.flagged
            .iter()
            .chain(&self.unusual)
            .filter(|f| f.reason != Reason::RansomNote)
    }
}

/// "1 file", "1 204 files".
pub fn files(n: usize) -> String {
    match n {
        1 => "1 file".into(),
        n => format!("{} files", thousands(n as u64)),
    }
}

/// 1204 → "1 204", as a French reader writes it.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The rate of change against the source's history, if it stands out.
fn rate_evidence(counts: &ChangeCounts, total_files: u64, history: &History) -> Option<String> {
    if history.change_rates.len() < 3 || total_files == 0 {
        return None;
    }
    let rate = (counts.added + counts.modified) as f64 / total_files as f64;
    let mut rates = history.change_rates.clone();
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    (rate >= 0.05 && rate > 5.0 * median).then(|| {
        format!(
            "{:.0} % of files changed, against {:.1} % in a usual backup of this source",
            rate * 100.0,
            median * 100.0
        )
    })
}

fn conclude(found: Findings, names: NameEvidence, total_files: u64, history: &History) -> Report {
    let Findings {
        mut flagged,
        unusual,
        counts,
        ..
    } = found;
    flagged.sort_by(|a, b| a.path_bytes.cmp(&b.path_bytes));
    let notes = flagged
        .iter()
        .filter(|f| f.reason == Reason::RansomNote)
        .count();
    let encrypted = flagged.len() - notes;
    let rate = rate_evidence(&counts, total_files, history);
    let verdict = if encrypted >= 10
        || (encrypted >= 1 && notes >= 1)
        || (encrypted >= 1 && encrypted as u64 + history.recent_flagged >= 10)
    {
        Verdict::Attack
    } else if encrypted >= 1 || notes >= 1 {
        Verdict::Suspicious
    } else {
        Verdict::Clean
    };
    let mut score = 10.0 * encrypted as f64 + if notes > 0 { 30.0 } else { 0.0 };
    if encrypted > 0 {
        score += 15.0 * names.lines.len().min(1) as f64 + if rate.is_some() { 10.0 } else { 0.0 };
    }
    score += unusual.len().min(5) as f64;
    let score = score.min(100.0);
    let mut evidence = Vec::new();
    evidence.extend(reason_lines(&flagged));
    if notes > 0 {
        evidence.push(note_line(&flagged, notes));
    }
    evidence.extend(names.lines);
    if encrypted > 0 && history.recent_flagged > 0 {
        evidence.push(format!(
            "{} already flagged by the previous backups of this source",
            files(history.recent_flagged as usize)
        ));
    }
    evidence.extend(rate);
    if !unusual.is_empty() {
        evidence.push(format!(
            "{} with random-looking or encrypted content of no known type (not counted as an attack: {})",
            files(unusual.len()),
            unusual[0].path
        ));
    }
    let summary = summarise(
        names.renamed_as.as_deref(),
        verdict,
        &flagged,
        encrypted,
        notes,
        &counts,
    );
    Report {
        verdict,
        score,
        summary,
        evidence,
        flagged,
        unusual,
        changes: counts,
        total_files,
    }
}

/// One line per reason: "1 204 files under /srv/partage were a document, now random-looking".
fn reason_lines(flagged: &[Flagged]) -> Vec<String> {
    let mut by_reason: BTreeMap<String, Vec<&Flagged>> = BTreeMap::new();
    for f in flagged.iter().filter(|f| f.reason != Reason::RansomNote) {
        by_reason
            .entry(reason_group(&f.reason))
            .or_default()
            .push(f);
    }
    let mut groups: Vec<_> = by_reason.into_iter().collect();
    groups.sort_by_key(|(_, fs)| std::cmp::Reverse(fs.len()));
    groups
        .into_iter()
        .map(|(phrase, fs)| {
            let paths: Vec<&[u8]> = fs.iter().map(|f| f.path_bytes.as_slice()).collect();
            format!(
                "{} under {} {}: e.g. {}",
                files(fs.len()),
                common_dir(&paths),
                phrase,
                fs[0].path
            )
        })
        .collect()
}

/// Groups reasons whatever their details ("was a PDF file" and "was text"
/// both became random).
fn reason_group(reason: &Reason) -> String {
    match reason {
        Reason::BecameRandom { .. }
        | Reason::NotWhatItsNameSays { .. }
        | Reason::ReplacedDeletedFiles
        | Reason::RandomContent => "were replaced by random-looking (encrypted) content".into(),
        Reason::HeaderOverwritten { .. } => "had their first bytes encrypted".into(),
        Reason::PartlyEncrypted { .. } => "were partly encrypted".into(),
        Reason::Armoured { .. } => "were replaced by ciphertext written as text (base64, base32 or hex)".into(),
        Reason::ReplacedByEncryptedFile { .. } | Reason::EncryptedFile { .. } => {
            "were replaced by encrypted files".into()
        }
        Reason::RenamedLikeEncrypted { .. } => "were renamed like the encrypted files".into(),
        Reason::RansomNote => "are ransom notes".into(),
    }
}

fn note_line(flagged: &[Flagged], notes: usize) -> String {
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for f in flagged.iter().filter(|f| f.reason == Reason::RansomNote) {
        let name = f.path.rsplit('/').next().unwrap_or(&f.path);
        *names.entry(name).or_default() += 1;
    }
    let (name, n) = names
        .iter()
        .max_by_key(|(_, &n)| n)
        .map(|(k, v)| (*k, *v))
        .unwrap_or(("?", 0));
    if notes == 1 {
        format!(
            "a ransom note appeared: {}",
            flagged
                .iter()
                .find(|f| f.reason == Reason::RansomNote)
                .map_or("", |f| f.path.as_str())
        )
    } else if n == notes {
        format!(
            "{} copies of the ransom note {name} appeared",
            thousands(n as u64)
        )
    } else {
        format!(
            "{} ransom notes appeared, {} of them named {name}",
            thousands(notes as u64),
            thousands(n as u64)
        )
    }
}

/// The deepest directory holding all the paths.
fn common_dir(paths: &[&[u8]]) -> String {
    let Some(first) = paths.first() else {
        return "/".into();
    };
    let mut prefix: Vec<&[u8]> = first.split(|&b| b == b'/').collect();
    prefix.pop();
    for p in &paths[1..] {
        let parts: Vec<&[u8]> = p.split(|&b| b == b'/').collect();
        let same = prefix
            .iter()
            .zip(&parts[..parts.len().saturating_sub(1)])
            .take_while(|(a, b)| a == b)
            .count();
        prefix.truncate(same);
    }
    let joined = prefix.join(&b'/');
    if joined.is_empty() {
        "/".into()
    } else {
        String::from_utf8_lossy(&joined).into_owned()
    }
}

fn summarise(
    renamed_as: Option<&str>,
    verdict: Verdict,
    flagged: &[Flagged],
    encrypted: usize,
    notes: usize,
    counts: &ChangeCounts,
) -> String {
    if verdict == Verdict::Clean {
        return format!(
            "No sign of ransomware: {} new, {} changed, {} removed.",
            files(counts.added as usize),
            files(counts.modified as usize),
            files(counts.removed as usize)
        );
    }
    let mut parts = Vec::new();
    if encrypted > 0 {
        let paths: Vec<&[u8]> = flagged
            .iter()
            .filter(|f| f.reason != Reason::RansomNote)
            .map(|f| f.path_bytes.as_slice())
            .collect();
        let mut line = format!(
            "{} under {} look encrypted",
            files(encrypted),
            common_dir(&paths)
        );
        if let Some(renamed) = renamed_as {
            line.push_str(&format!(" and were renamed {renamed}"));
        }
        parts.push(line);
    }
    if notes > 0 {
        parts.push(note_line(flagged, notes));
    }
    let lead = match verdict {
        Verdict::Attack => "RANSOMWARE ATTACK",
        _ => "Suspicious",
    };
    format!("{lead}: {}.", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise_format::{ContentStats, NodeKind};

    fn file(name: &str, kind: &str, random: u32, seed: u8) -> Node {
        let mut n = Node::new(name.as_bytes().to_vec(), NodeKind::File);
        n.size = 10_000;
        n.content = vec![BlobId::from_bytes([seed; 32])];
        n.stats = Some(ContentStats {
            kind: kind.into(),
            windows: 3,
            random,
            text: if kind == "text" { 3 } else { 0 },
            ..Default::default()
        });
        n
    }

    fn no_content(_: &Node) -> Option<Vec<u8>> {
        None
    }

    #[test]
    fn ten_documents_encrypted_and_renamed_is_an_attack() {
        let dir = DirChanges {
            dir: b"/srv/partage".to_vec(),
            removed: (0..12)
                .map(|i| file(&format!("doc{i}.docx"), "ooxml", 2, i))
                .collect(),
            added: (0..12)
                .map(|i| file(&format!("doc{i}.docx.pysa"), "random", 3, 100 + i))
                .collect(),
            ..Default::default()
        };
        let report = analyze(&[dir], 100, &History::default(), &no_content);
        assert_eq!(report.verdict, Verdict::Attack);
        assert_eq!(report.flagged.len(), 12);
        assert_eq!(
            report.flagged[0].replaced.as_deref(),
            Some("/srv/partage/doc0.docx")
        );
        assert!(
            report
                .summary
                .contains("12 files under /srv/partage look encrypted"),
            "{}",
            report.summary
        );
        assert!(
            report.summary.contains("*.pysa"),
            "{} {:?}",
            report.summary,
            report.evidence
        );
    }

    /// Files renamed to the extension of the encrypted ones are flagged even
    /// when their content is too small to judge; a renaming to an extension
    /// no encrypted file has is not.
    #[test]
    fn files_renamed_like_the_encrypted_ones_are_flagged() {
        let mut removed: Vec<Node> = (0..10)
            .map(|i| file(&format!("doc{i}.docx"), "ooxml", 2, i))
            .collect();
        let mut added: Vec<Node> = (0..10)
            .map(|i| file(&format!("doc{i}.docx.b64"), "random", 3, 100 + i))
            .collect();
        removed.push(file("todo.txt", "text", 0, 50));
        added.push(file("todo.txt.b64", "text", 0, 51));
        removed.push(file("plan.txt", "text", 0, 52));
        added.push(file("plan.txt.old", "text", 0, 53));
        let dir = DirChanges {
            dir: b"/s".to_vec(),
            removed,
            added,
            ..Default::default()
        };
        let report = analyze(&[dir], 100, &History::default(), &no_content);
        assert_eq!(report.verdict, Verdict::Attack);
        let todo = report
            .flagged
            .iter()
            .find(|f| f.path == "/s/todo.txt.b64")
            .unwrap();
        assert_eq!(
            todo.reason,
            Reason::RenamedLikeEncrypted {
                extension: "b64".into()
            }
        );
        assert_eq!(todo.replaced.as_deref(), Some("/s/todo.txt"));
        assert!(!report.flagged.iter().any(|f| f.path == "/s/plan.txt.old"));
        assert_eq!(report.flagged.len(), 11);
    }

    #[test]
    fn a_first_backup_of_random_data_files_is_clean() {
        let dir = DirChanges {
            dir: b"/s".to_vec(),
            added: (0..40)
                .map(|i| file(&format!("f{i}.dat"), "random", 3, i))
                .collect(),
            ..Default::default()
        };
        let report = analyze(&[dir], 40, &History::default(), &no_content);
        assert_eq!(report.verdict, Verdict::Clean, "{:?}", report.evidence);
        assert_eq!(report.unusual.len(), 40);
    }

    #[test]
    fn one_encrypted_file_is_suspicious_and_a_renaming_is_clean() {
        let dir = DirChanges {
            dir: b"/s".to_vec(),
            modified: vec![(file("a.txt", "text", 0, 1), file("a.txt", "random", 3, 2))],
            ..Default::default()
        };
        let report = analyze(&[dir], 100, &History::default(), &no_content);
        assert_eq!(report.verdict, Verdict::Suspicious);
        let renamed = DirChanges {
            dir: b"/s".to_vec(),
            removed: (0..50)
                .map(|i| file(&format!("old{i}.pdf"), "pdf", 1, i))
                .collect(),
            added: (0..50)
                .map(|i| file(&format!("new{i}.pdf"), "pdf", 1, i))
                .collect(),
            ..Default::default()
        };
        let report = analyze(&[renamed], 100, &History::default(), &no_content);
        assert_eq!(report.verdict, Verdict::Clean, "{:?}", report.evidence);
    }

    #[test]
    fn ransom_notes_in_many_directories_are_found() {
        let note = b"Your files are encrypted. Pay 1 BTC to decrypt them.".to_vec();
        let dirs: Vec<DirChanges> = (0..5)
            .map(|i| DirChanges {
                dir: format!("/s/d{i}").into_bytes(),
                added: vec![file("RECOVER_YOUR_FILES.txt", "text", 0, 9)],
                ..Default::default()
            })
            .collect();
        let reader = move |_: &Node| Some(note.clone());
        let report = analyze(&dirs, 100, &History::default(), &reader);
        assert_eq!(report.ransom_notes().count(), 5);
        assert_eq!(report.verdict, Verdict::Suspicious);
        assert!(
            report
                .summary
                .contains("5 copies of the ransom note RECOVER_YOUR_FILES.txt"),
            "{}",
            report.summary
        );
    }

    #[test]
    fn names_are_matched_to_what_they_replaced() {
        let mut removed = vec![file("a.docx", "ooxml", 0, 1), file("b.xlsx", "ooxml", 0, 2)];
        let mut added = vec![
            file("b.locked", "random", 3, 3),
            file("a.docx.id-9.[x@y].phobos", "random", 3, 4),
            file("c.txt", "text", 0, 5),
        ];
        // b.locked got a.docx's recycled inode: the names still decide.
        added[0].inode = 7;
        removed[0].inode = 7;
        assert_eq!(
            match_replacements(&added, &removed),
            vec![Some(1), Some(0), None]
        );
        // A rename to an unrelated name is matched by inode.
        let mut renamed = vec![file("8F3A2B.bin", "random", 3, 6)];
        renamed[0].inode = 7;
        assert_eq!(match_replacements(&renamed, &removed), vec![Some(0)]);
        assert_eq!(thousands(1204), "1 204");
        assert_eq!(thousands(12), "12");
        assert_eq!(common_dir(&[b"/a/b/c.txt", b"/a/b/d/e.txt"]), "/a/b");
    }
}
