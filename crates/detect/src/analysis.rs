//! A snapshot against its parent: every changed file judged against its
//! previous version, renames matched, ransom notes found, extensions and
//! the rate of change weighed, and a verdict with its evidence.

use crate::changes::DirChanges;
use crate::judge::{judge, structured_nature, Judgment, Reason, Strength, Version};
use crate::magic;
use crate::notes;
use reprise_format::{BlobId, ContentStats, Node};
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
    /// Directories holding at least one flagged file: where an attack
    /// worked, and where files it deleted are to be brought back from.
    pub affected_dirs: Vec<String>,
    #[serde(skip)]
    pub affected_dirs_bytes: Vec<Vec<u8>>,
    /// New or changed files of the interval that were neither flagged nor
    /// unusual: a restore of the flagged files leaves these as they are.
    pub changed_not_judged: u64,
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
    let replaced_lines = replacements_without_pairs(&mut found);
    let mut names = extension_evidence(&mut found);
    names.lines.splice(0..0, replaced_lines);
    find_notes(dirs, read, &mut found);
    if verdict_of(&found.flagged, history) == Verdict::Attack {
        judge_changed_during_attack(&mut found);
    }
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
    /// Changed files the judge found nothing against, with their previous
    /// version, for a second look when the snapshot is an attack.
    unflagged: Vec<Compared>,
    /// Per directory, new ciphertext-like files and deleted files that no
    /// name or inode paired.
    unpaired: Vec<Unpaired>,
    counts: ChangeCounts,
}

/// A changed file and its previous version (same path, or the file it
/// replaced).
struct Compared {
    path: Vec<u8>,
    before: ContentStats,
    after: ContentStats,
    replaced: Option<Vec<u8>>,
}

/// One directory's new random-looking files of no known type that replace
/// nothing by name or inode, and its deleted files that nothing replaced
/// (only those that had a structure an attack destroys).
#[derive(Default)]
struct Unpaired {
    dir: Vec<u8>,
    random_new: Vec<(Vec<u8>, u64)>,
    removed: u64,
    removed_bytes: u64,
}

impl Findings {
    fn remember_unflagged(
        &mut self,
        path: Vec<u8>,
        before: &Node,
        after: &Node,
        replaced: Option<Vec<u8>>,
    ) {
        if let (Some(b), Some(a)) = (&before.stats, &after.stats) {
            self.unflagged.push(Compared {
                path,
                before: b.clone(),
                after: a.clone(),
                replaced,
            });
        }
    }

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
        let path = join(&dir.dir, after.name.as_bytes());
        match judge(version(after), Some(version(before))) {
            Some(j) => found.push(path, j, None),
            None => found.remember_unflagged(path, before, after, None),
        }
    }
    let matches = match_replacements(&dir.added, &dir.removed);
    let mut unpaired = Unpaired {
        dir: dir.dir.clone(),
        ..Default::default()
    };
    for (added, matched) in dir.added.iter().zip(&matches) {
        let original = matched.and_then(|r| dir.removed.get(r));
        let path = join(&dir.dir, added.name.as_bytes());
        let replaced = original.map(|o| join(&dir.dir, o.name.as_bytes()));
        let Some(j) = judge(version(added), original.map(version)) else {
            if let (Some(o), Some(replaced)) = (original, replaced) {
                let (new, old) = (added.name.as_bytes(), o.name.as_bytes());
                if magic::extension(new).is_some() && magic::extension(new) != magic::extension(old)
                {
                    found
                        .renamed_unjudged
                        .push((path.clone(), replaced.clone()));
                }
                // An inode handed on to an unrelated file is no history.
                if same_name_family(new, old) {
                    found.remember_unflagged(path, o, added, Some(replaced));
                }
            }
            continue;
        };
        if original.is_none() && j.reason == Reason::RandomContent {
            unpaired.random_new.push((path, added.size));
            continue;
        }
        found.push(path, j, replaced);
    }
    let paired: Vec<usize> = matches.iter().flatten().copied().collect();
    for (i, r) in dir.removed.iter().enumerate() {
        let structured = r.stats.as_ref().and_then(structured_nature).is_some();
        if structured && !paired.contains(&i) {
            unpaired.removed += 1;
            unpaired.removed_bytes += r.size;
        }
    }
    if !unpaired.random_new.is_empty() || unpaired.removed > 0 {
        found.unpaired.push(unpaired);
    }
}

/// How far up from a directory deletions and random creations are summed:
/// the directory, its parent and its grandparent (an attack that writes
/// its copies one level away from the originals is still seen; a share's
/// whole tree is not one pool).
const AREA_LEVELS: usize = 3;
/// Random files and deletions are counted together from this many on.
const REPLACED_MIN: u64 = 3;

/// New ciphertext-like files that appeared in the same directories (or a
/// directory and its subtree) as deleted files, in comparable numbers and
/// total size: the originals were encrypted into new files under new names
/// and deleted, whether or not any name or inode pairs them. They are
/// flagged; the rest stay unusual. Returns the evidence lines.
fn replacements_without_pairs(found: &mut Findings) -> Vec<String> {
    let mut areas: HashMap<&[u8], Pool> = HashMap::new();
    for u in &found.unpaired {
        for area in ancestors(&u.dir).take(AREA_LEVELS) {
            let pool = areas.entry(area).or_default();
            pool.new += u.random_new.len() as u64;
            pool.new_bytes += u.random_new.iter().map(|(_, size)| size).sum::<u64>();
            pool.removed += u.removed;
            pool.removed_bytes += u.removed_bytes;
        }
    }
    let mut strong = Vec::new();
    let mut weak = Vec::new();
    let mut replaced_removed: BTreeMap<&[u8], u64> = BTreeMap::new();
    for u in &found.unpaired {
        let area = ancestors(&u.dir)
            .take(AREA_LEVELS)
            .find(|a| areas.get(a).is_some_and(Pool::looks_replaced));
        match area {
            Some(a) if !u.random_new.is_empty() => {
                replaced_removed.insert(a, areas.get(a).map_or(0, |p| p.removed));
                strong.extend(u.random_new.iter().map(|(p, _)| p.clone()));
            }
            _ => weak.extend(u.random_new.iter().map(|(p, _)| p.clone())),
        }
    }
    let removed: u64 = replaced_removed.values().sum();
    let lines = if strong.is_empty() {
        Vec::new()
    } else {
        let dirs: Vec<&[u8]> = replaced_removed.keys().copied().collect();
        vec![format!(
            "{} of random-looking content appeared where {} were deleted, under {}: the originals were encrypted into new files and deleted",
            files(strong.len()),
            files(removed as usize),
            common_dir_of_dirs(&dirs)
        )]
    };
    found.unpaired.clear();
    for path in strong {
        let judgment = Judgment {
            strength: Strength::Strong,
            reason: Reason::ReplacedDeletedFiles,
        };
        found.push(path, judgment, None);
    }
    for path in weak {
        let judgment = Judgment {
            strength: Strength::Weak,
            reason: Reason::RandomContent,
        };
        found.push(path, judgment, None);
    }
    lines
}

/// New random files and unpaired deletions summed over an area.
#[derive(Default)]
struct Pool {
    new: u64,
    new_bytes: u64,
    removed: u64,
    removed_bytes: u64,
}

impl Pool {
    /// Comparable counts and total sizes, within a factor of 2 (an
    /// encrypted copy is its original plus a header or footer of a few
    /// hundred bytes; 4 KiB per file of slack for small files).
    fn looks_replaced(&self) -> bool {
        const SLACK: u64 = 4096;
        self.new >= REPLACED_MIN
            && self.removed >= REPLACED_MIN
            && self.new <= 2 * self.removed
            && self.removed <= 2 * self.new
            && self.new_bytes <= 2 * self.removed_bytes + SLACK * self.new
            && self.removed_bytes <= 2 * self.new_bytes + SLACK * self.removed
    }
}

/// A directory, its parent, its grandparent... up to the root.
fn ancestors(dir: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::successors(Some(dir), |d| {
        let i = d.iter().rposition(|&b| b == b'/')?;
        d.get(..i)
    })
}

/// The deepest directory holding all of `dirs`.
fn common_dir_of_dirs(dirs: &[&[u8]]) -> String {
    let as_files: Vec<Vec<u8>> = dirs.iter().map(|d| join(d, b"x")).collect();
    let refs: Vec<&[u8]> = as_files.iter().map(Vec::as_slice).collect();
    common_dir(&refs)
}

/// Whether the snapshot is an attack, from its flagged files so far.
fn verdict_of(flagged: &[Flagged], history: &History) -> Verdict {
    let notes = flagged
        .iter()
        .filter(|f| f.reason == Reason::RansomNote)
        .count();
    let encrypted = flagged.len() - notes;
    if encrypted >= 10
        || (encrypted >= 1 && notes >= 1)
        || (encrypted >= 1 && encrypted as u64 + history.recent_flagged >= 10)
    {
        Verdict::Attack
    } else if encrypted >= 1 || notes >= 1 {
        Verdict::Suspicious
    } else {
        Verdict::Clean
    }
}

/// In a snapshot already judged an attack, a second, more sensitive look at
/// every changed file the first pass let through: one that had a structure
/// and gained random windows (even one more share of them than before),
/// moved towards ciphertext as a whole, or lost its format's head or
/// trailer, was most likely encrypted with its head and tail kept, so that
/// the sampled windows caught little. Only ever applied to an attack.
fn judge_changed_during_attack(found: &mut Findings) {
    let flagged: std::collections::HashSet<Vec<u8>> = found
        .flagged
        .iter()
        .chain(&found.unusual)
        .map(|f| f.path_bytes.clone())
        .collect();
    for c in std::mem::take(&mut found.unflagged) {
        if flagged.contains(&c.path) {
            continue;
        }
        let Some(was) = structured_nature(&c.before) else {
            continue;
        };
        if changed_like_ciphertext(&c.before, &c.after) {
            let judgment = Judgment {
                strength: Strength::Strong,
                reason: Reason::ChangedDuringAttack { was },
            };
            found.push(c.path, judgment, c.replaced);
        }
    }
}

/// A share of random windows this much larger than before: a document
/// encrypted but for its head and tail gains most of its windows.
const RANDOM_SHARE_RISE: f64 = 0.25;
/// A format is structured inside, so that random windows appearing in it
/// mean something, when at most this share of its windows were random and
/// its sample as a whole was far from uniform (chi-square per degree of
/// freedom at least [`STRUCTURED_CHI2`]). Deflate in a docx passes the
/// randomness test in most windows and its whole sample is near uniform: a
/// new version gains or loses random windows by chance (a benign edit of a
/// three-window docx, one random window before and three after, on the
/// night of the benchmark's multi-night attack).
const STRUCTURED_RANDOM_SHARE: f64 = 0.25;
const STRUCTURED_CHI2: f32 = 5.0;

/// A format's share of random windows is compared from this many windows
/// on: a small docx of one window, edited into two, one of them random,
/// "rose" by half (a benign edit in the benchmark's slow drip did).
const SHARE_WINDOWS_MIN: u32 = 3;

/// A larger share of random windows than before (for text, any; for a
/// format that was mostly structured, by a quarter of its windows), a
/// smaller share of text windows (text), entropy risen towards
/// ciphertext's, or a format's head or trailer lost. A file that became
/// another known format was converted, not encrypted.
fn changed_like_ciphertext(before: &ContentStats, after: &ContentStats) -> bool {
    let converted = after.kind != before.kind && magic::is_format(&after.kind);
    if converted {
        return false;
    }
    let share = |n: u32, s: &ContentStats| n as f64 / s.windows.max(1) as f64;
    let was_random = share(before.random, before);
    let rise = share(after.random, after) - was_random;
    let was_text = before.kind == "text";
    let measured = before.windows >= SHARE_WINDOWS_MIN && after.windows >= SHARE_WINDOWS_MIN;
    let more_random = after.random > 0
        && (was_text && rise > 0.0
            || measured
                && was_random <= STRUCTURED_RANDOM_SHARE
                && before.chi2 >= STRUCTURED_CHI2
                && rise >= RANDOM_SHARE_RISE);
    let less_text = was_text && share(after.text, after) < share(before.text, before);
    let entropy_rose = after.entropy >= 7.0 && after.entropy >= before.entropy + 0.5;
    let lost_trailer = before.tail.is_some() && after.tail.is_none();
    let lost_head = before.kind != after.kind && matches!(after.kind.as_str(), "data" | "random");
    more_random || less_text || entropy_rose || lost_trailer || lost_head
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
        let i = candidate?;
        let taken = used.get_mut(i)?;
        if *taken {
            return None;
        }
        *taken = true;
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

/// Whether `new` is `old` with an appended or replaced extension.
fn same_name_family(new: &[u8], old: &[u8]) -> bool {
    prefixes(new).any(|p| p == old) || stem(new) == stem(old)
}

/// `a.docx.id-42.locked` → `a.docx.id-42`, `a.docx`, `a`: the names an
/// appended extension may have been added to.
fn prefixes(name: &[u8]) -> impl Iterator<Item = &[u8]> {
    name.iter()
        .enumerate()
        .rev()
        .filter(|&(i, &b)| b == b'.' && i > 0)
        .filter_map(move |(i, _)| name.get(..i))
}

/// A name without its last extension.
fn stem(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b'.') {
        Some(i) if i > 0 => name.get(..i).unwrap_or(name),
        _ => name,
    }
}

/// A new small text file: its path, directory and node.
struct SmallText<'a> {
    path: Vec<u8>,
    dir: &'a [u8],
    node: &'a Node,
}

/// Copies with the same content (size and chunks), as indices into the
/// small texts.
type Copies = Vec<usize>;

/// The copies (indices into the small texts) of group `g`.
fn copies_of(groups: &[Copies], g: usize) -> &[usize] {
    groups.get(g).map_or(&[], Vec::as_slice)
}

/// The first copy of group `g`: the one read for the whole group.
fn first_copy<'a>(
    small: &'a [SmallText<'a>],
    groups: &[Copies],
    g: usize,
) -> Option<&'a SmallText<'a>> {
    copies_of(groups, g).first().and_then(|&i| small.get(i))
}

/// At most this many distinct contents are read per name a note may have
/// (copies beyond share the verdict when their size is alike).
const NOTE_READS_PER_NAME: usize = 16;
/// Contents read per name, and in all, by name when nothing was found
/// encrypted.
const NOTE_QUIET_READS_PER_NAME: usize = 2;
const NOTE_QUIET_READS_MAX: usize = 32;
/// Copies of a note in this many directories or more are a replicated note.
const NOTE_DIRS_MIN: usize = 3;

/// New small text files that are ransom notes: by their words (a demand and
/// damage, with a note's name or copies in many directories), or by what
/// they are: near-identical copies (once IDs, addresses and numbers are
/// masked) in many directories, in a snapshot where files were encrypted.
/// At most [`NOTE_CANDIDATES_MAX`] distinct contents are read.
fn find_notes(dirs: &[DirChanges], read: &ContentReader, found: &mut Findings) {
    let encrypted = found
        .flagged
        .iter()
        .filter(|f| f.reason != Reason::RansomNote)
        .count();
    let small = small_texts(dirs);
    let groups = exact_copies(&small);
    let mut by_name: BTreeMap<Vec<u8>, Vec<usize>> = BTreeMap::new();
    for g in 0..groups.len() {
        if let Some(first) = first_copy(&small, &groups, g) {
            by_name
                .entry(name_key(first.node.name.as_bytes()))
                .or_default()
                .push(g);
        }
    }
    let texts = read_candidates(&small, &groups, &by_name, encrypted, read);
    // Copies of one note, by masked text: groups read, and groups of the
    // same name left unread whose size is alike.
    let mut clusters: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (&g, text) in &texts {
        clusters.entry(text.masked).or_default().push(g);
    }
    for members in by_name.values() {
        extend_with_unread(members, &groups, &small, &texts, &mut clusters);
    }
    for members in clusters.values() {
        let Some(text) = members.iter().find_map(|g| texts.get(g)) else {
            continue;
        };
        let paths: Vec<&SmallText> = members
            .iter()
            .flat_map(|&g| copies_of(&groups, g))
            .filter_map(|&i| small.get(i))
            .collect();
        let dirs: std::collections::BTreeSet<&[u8]> = paths.iter().map(|t| t.dir).collect();
        let Some(first) = members
            .first()
            .and_then(|&g| first_copy(&small, &groups, g))
        else {
            continue;
        };
        let by_words =
            notes::is_ransom_note(first.node.name.as_bytes(), &text.content, paths.len());
        let (demand, damage) = notes::phrases(&text.content);
        let replicated = dirs.len() >= NOTE_DIRS_MIN
            && encrypted >= 1
            && (demand + damage >= 1 || encrypted >= 3)
            && notes::has_words(&text.content);
        if !(by_words || replicated) {
            continue;
        }
        for note in paths {
            let judgment = Judgment {
                strength: Strength::Strong,
                reason: Reason::RansomNote,
            };
            found.push(note.path.clone(), judgment, None);
        }
    }
}

fn small_texts(dirs: &[DirChanges]) -> Vec<SmallText<'_>> {
    let mut small = Vec::new();
    for dir in dirs {
        for node in &dir.added {
            let is_text = node.stats.as_ref().is_some_and(|s| s.kind == "text");
            if is_text && node.size > 0 && node.size <= NOTE_MAX_BYTES {
                small.push(SmallText {
                    path: join(&dir.dir, node.name.as_bytes()),
                    dir: &dir.dir,
                    node,
                });
            }
        }
    }
    small
}

fn exact_copies(small: &[SmallText]) -> Vec<Copies> {
    let mut groups: BTreeMap<(u64, &[BlobId]), Copies> = BTreeMap::new();
    for (i, t) in small.iter().enumerate() {
        groups
            .entry((t.node.size, &t.node.content))
            .or_default()
            .push(i);
    }
    groups.into_values().collect()
}

/// A name as notes of one attack share it: lowercase, every run of letters
/// and digits that holds a digit replaced by `#` (`README-8F3A2.txt` and
/// `readme-77b1c.txt` are one name).
fn name_key(name: &[u8]) -> Vec<u8> {
    let lower = name.to_ascii_lowercase();
    let mut key = Vec::with_capacity(lower.len());
    for run in lower.chunk_by(|a, b| a.is_ascii_alphanumeric() == b.is_ascii_alphanumeric()) {
        if run.iter().any(u8::is_ascii_digit) && run.iter().all(u8::is_ascii_alphanumeric) {
            key.push(b'#');
        } else {
            key.extend_from_slice(run);
        }
    }
    key
}

/// A candidate's text and its masked hash.
struct NoteText {
    content: Vec<u8>,
    masked: u64,
}

/// Reads the candidates, most telling first: contents copied in several
/// places or under a note's name, then up to [`NOTE_READS_PER_NAME`]
/// contents of every name found in [`NOTE_DIRS_MIN`] directories or more;
/// when nothing was found encrypted, 2 per name and
/// [`NOTE_QUIET_READS_MAX`] in all (a first backup of a clean share has
/// many names in many folders, `notes.txt`, `courrier-0042.txt`: reading
/// them all would cost the backup time for a suspicion at most).
fn read_candidates(
    small: &[SmallText],
    groups: &[Copies],
    by_name: &BTreeMap<Vec<u8>, Vec<usize>>,
    encrypted: usize,
    read: &ContentReader,
) -> BTreeMap<usize, NoteText> {
    let telling = (0..groups.len()).filter(|&g| {
        copies_of(groups, g).len() >= NOTE_DIRS_MIN
            || first_copy(small, groups, g)
                .is_some_and(|t| notes::name_looks_like_note(t.node.name.as_bytes()))
    });
    // With nothing encrypted, a replicated note is at most suspicious, by
    // its words: two contents of a name tell whether its copies mask alike.
    let (per_name, spread_max) = if encrypted > 0 {
        (NOTE_READS_PER_NAME, NOTE_CANDIDATES_MAX)
    } else {
        (NOTE_QUIET_READS_PER_NAME, NOTE_QUIET_READS_MAX)
    };
    let spread = by_name
        .values()
        .filter(|members| {
            let dirs: std::collections::BTreeSet<&[u8]> = members
                .iter()
                .flat_map(|&g| copies_of(groups, g))
                .filter_map(|&i| small.get(i))
                .map(|t| t.dir)
                .collect();
            dirs.len() >= NOTE_DIRS_MIN
        })
        .flat_map(|members| members.iter().copied().take(per_name))
        .take(spread_max);
    let mut texts = BTreeMap::new();
    let mut tried = std::collections::BTreeSet::new();
    for g in telling.chain(spread) {
        if tried.len() >= NOTE_CANDIDATES_MAX {
            break;
        }
        if !tried.insert(g) {
            continue;
        }
        if let Some(content) = first_copy(small, groups, g).and_then(|t| read(t.node)) {
            let masked = notes::masked(&content);
            texts.insert(g, NoteText { content, masked });
        }
    }
    texts
}

/// When every content read of one name masks to the same text, the unread
/// contents of that name whose size lies within that of the read ones (give
/// or take 64 bytes: IDs differ in length) are copies of it too.
fn extend_with_unread(
    members: &[usize],
    groups: &[Copies],
    small: &[SmallText],
    texts: &BTreeMap<usize, NoteText>,
    clusters: &mut BTreeMap<u64, Vec<usize>>,
) {
    let read: Vec<usize> = members
        .iter()
        .copied()
        .filter(|g| texts.contains_key(g))
        .collect();
    let mut hashes = read.iter().filter_map(|g| texts.get(g)).map(|t| t.masked);
    let Some(hash) = hashes.next() else { return };
    if read.len() < 2 || hashes.any(|h| h != hash) {
        return;
    }
    let size = |g: usize| first_copy(small, groups, g).map_or(0, |t| t.node.size);
    let low = read
        .iter()
        .map(|&g| size(g))
        .min()
        .unwrap_or(0)
        .saturating_sub(64);
    let high = read.iter().map(|&g| size(g)).max().unwrap_or(0) + 64;
    let unread = members
        .iter()
        .copied()
        .filter(|g| !texts.contains_key(g) && (low..=high).contains(&size(*g)));
    clusters.entry(hash).or_default().extend(unread);
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
    // New random files that replace nothing known, by extension: no pairing
    // is needed to see a shared random extension or one per file.
    let mut unpaired: BTreeMap<String, usize> = BTreeMap::new();
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
        } else if f.replaced_bytes.is_none()
            && matches!(
                f.reason,
                Reason::RandomContent | Reason::ReplacedDeletedFiles
            )
            && random_looking_extension(&f.path_bytes)
        {
            *unpaired.entry(ext).or_default() += 1;
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
    for (ext, n) in &unpaired {
        if *n >= 5 && !marked.contains(ext) {
            evidence.push(format!(
                "{} of random-looking content appeared with the same new random-looking extension *.{ext}",
                files(*n)
            ));
            marked.push(ext.clone());
        }
    }
    let mut by_extension = renamed.clone();
    for (ext, n) in &unpaired {
        *by_extension.entry(ext.clone()).or_default() += n;
    }
    let total_renamed: usize = by_extension.values().sum();
    let singles: Vec<&String> = by_extension
        .iter()
        .filter(|&(_, &n)| n == 1)
        .map(|(e, _)| e)
        .collect();
    let random_extensions = singles.len() >= 5 && singles.len() * 10 >= total_renamed * 8;
    if random_extensions {
        evidence.push(format!(
            "{} renamed with a different random extension each",
            files(singles.len())
        ));
        marked.extend(
            singles
                .into_iter()
                .filter(|e| unpaired.contains_key(*e))
                .cloned(),
        );
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
    let renamed_as = if random_extensions {
        Some("with a different random extension each".to_string())
    } else {
        marked.first().map(|ext| format!("*.{ext}"))
    };
    NameEvidence {
        lines: evidence,
        renamed_as,
    }
}

/// An extension no format uses that looks made up: at least 4 letters
/// and digits, not all digits (split archives number their volumes
/// `.001`, `.002`...), mixing upper with lower case, or of 5 or more
/// mixing digits with letters or with few vowels (`.x7Kq2b`, `.HLJkNskOq`,
/// `.qzwrtk`; not `.h264`), as the extensions ransomware draws per victim
/// or per file are.
fn random_looking_extension(path: &[u8]) -> bool {
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let Some(dot) = name.iter().rposition(|&b| b == b'.').filter(|&d| d > 0) else {
        return false;
    };
    let ext = name.get(dot + 1..).unwrap_or_default();
    if ext.len() < 4 || ext.len() > 16 || !ext.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    if magic::expected_kinds(name).is_some() || ext.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let has = |f: fn(&u8) -> bool| ext.iter().any(f);
    let vowels = ext.iter().filter(|b| b"aeiouyAEIOUY".contains(b)).count();
    let long = ext.len() >= 5;
    (long && has(u8::is_ascii_digit) && has(u8::is_ascii_alphabetic))
        || (has(u8::is_ascii_uppercase) && has(u8::is_ascii_lowercase))
        || (long && vowels * 5 < ext.len())
}

impl Findings {
    fn encrypted_and_unusual(&self) -> impl Iterator<Item = &Flagged> {
        self.flagged
            .iter()
            .chain(&self.unusual)
            .filter(|f| f.reason != Reason::RansomNote)
    }
}

/// "1 ransom note", "1 204 ransom notes": a count and its noun in the
/// number that agrees with it.
pub fn count(n: u64, one: &str, several: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{} {several}", thousands(n)),
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
    let median = *rates.get(rates.len() / 2)?;
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
    let verdict = verdict_of(&flagged, history);
    let changed_not_judged = (counts.added + counts.modified)
        .saturating_sub(flagged.len() as u64 + unusual.len() as u64);
    let (affected_dirs, affected_dirs_bytes) = affected_dirs(&flagged);
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
    if let Some(first) = unusual.first() {
        evidence.push(format!(
            "{} with random-looking or encrypted content of no known type (not counted as an attack: {})",
            files(unusual.len()),
            first.path
        ));
    }
    if verdict == Verdict::Attack && changed_not_judged > 0 {
        evidence.push(format!(
            "{} changed in this backup {} not judged encrypted (restoring the flagged files leaves {} as {})",
            files(changed_not_judged as usize),
            if changed_not_judged == 1 { "was" } else { "were" },
            if changed_not_judged == 1 { "it" } else { "them" },
            if changed_not_judged == 1 { "it is" } else { "they are" },
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
        affected_dirs,
        affected_dirs_bytes,
        changed_not_judged,
    }
}

/// The directories holding flagged files, sorted, as text and as bytes.
fn affected_dirs(flagged: &[Flagged]) -> (Vec<String>, Vec<Vec<u8>>) {
    let dirs: std::collections::BTreeSet<&[u8]> = flagged
        .iter()
        .map(|f| {
            let p = f.path_bytes.as_slice();
            // The root keeps its slash; a bare name has no directory.
            let end = p.iter().rposition(|&b| b == b'/').map_or(0, |i| i.max(1));
            p.get(..end).unwrap_or_default()
        })
        .collect();
    let text = dirs
        .iter()
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .collect();
    (text, dirs.into_iter().map(<[u8]>::to_vec).collect())
}

/// One line per reason: "1 204 files under /srv/partage were a document, now random-looking".
fn reason_lines(flagged: &[Flagged]) -> Vec<String> {
    let mut by_reason: BTreeMap<(&str, &str), Vec<&Flagged>> = BTreeMap::new();
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
        .map(|((one, several), fs)| {
            let phrase = if fs.len() == 1 { one } else { several };
            let paths: Vec<&[u8]> = fs.iter().map(|f| f.path_bytes.as_slice()).collect();
            format!(
                "{} under {} {}: e.g. {}",
                files(fs.len()),
                common_dir(&paths),
                phrase,
                fs.first().map(|f| f.path.as_str()).unwrap_or_default()
            )
        })
        .collect()
}

/// Groups reasons whatever their details ("was a PDF file" and "was text"
/// both became random): the group's phrase for one file, then for several.
fn reason_group(reason: &Reason) -> (&'static str, &'static str) {
    match reason {
        Reason::BecameRandom { .. }
        | Reason::NotWhatItsNameSays { .. }
        | Reason::ReplacedDeletedFiles
        | Reason::RandomContent => (
            "was replaced by random-looking (encrypted) content",
            "were replaced by random-looking (encrypted) content",
        ),
        Reason::HeaderOverwritten { .. } => (
            "had its first bytes encrypted",
            "had their first bytes encrypted",
        ),
        Reason::PartlyEncrypted { .. } => ("was partly encrypted", "were partly encrypted"),
        Reason::Armoured { .. } => (
            "was replaced by ciphertext written as text (base64, base32 or hex)",
            "were replaced by ciphertext written as text (base64, base32 or hex)",
        ),
        Reason::ReplacedByEncryptedFile { .. } | Reason::EncryptedFile { .. } => (
            "was replaced by an encrypted file",
            "were replaced by encrypted files",
        ),
        Reason::RenamedLikeEncrypted { .. } => (
            "was renamed like the encrypted files",
            "were renamed like the encrypted files",
        ),
        Reason::ChangedDuringAttack { .. } => (
            "changed towards random-looking content during the attack (encrypted but for the parts sampled, most likely)",
            "changed towards random-looking content during the attack (encrypted but for the parts sampled, most likely)",
        ),
        Reason::RansomNote => ("is a ransom note", "are ransom notes"),
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
    for p in paths.iter().skip(1) {
        let parts: Vec<&[u8]> = p.split(|&b| b == b'/').collect();
        let dirs = parts.split_last().map_or(&[][..], |(_, dirs)| dirs);
        let same = prefix.iter().zip(dirs).take_while(|(a, b)| a == b).count();
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

    fn in_dir(dir: &str, removed: Vec<Node>, added: Vec<Node>) -> DirChanges {
        DirChanges {
            dir: dir.as_bytes().to_vec(),
            removed,
            added,
            ..Default::default()
        }
    }

    /// A random name and extension per file, originals deleted, nothing
    /// pairs (no shared stem, inodes given out anew): the deletions and the
    /// random creations in the same directories are the attack.
    #[test]
    fn random_files_where_as_many_were_deleted_are_encrypted_copies() {
        let dirs: Vec<DirChanges> = (0..3)
            .map(|d| {
                let removed = (0..10)
                    .map(|i| file(&format!("rapport-{i}.docx"), "ooxml", 1, i))
                    .collect();
                let added = (0..10)
                    .map(|i| file(&format!("Qx{d}{i}Zr8.a{d}{i}Kw7"), "random", 3, 50 + i))
                    .collect();
                in_dir(&format!("/s/d{d}"), removed, added)
            })
            .collect();
        let report = analyze(&dirs, 100, &History::default(), &no_content);
        assert_eq!(report.verdict, Verdict::Attack, "{:?}", report.evidence);
        assert_eq!(report.flagged.len(), 30);
        assert!(report
            .flagged
            .iter()
            .all(|f| f.reason == Reason::ReplacedDeletedFiles));
        assert_eq!(report.affected_dirs, vec!["/s/d0", "/s/d1", "/s/d2"]);
        assert!(
            report
                .evidence
                .iter()
                .any(|e| e.contains("where 30 files were deleted")),
            "{:?}",
            report.evidence
        );
        // Written one level down from the deleted originals: same finding.
        let split = vec![
            in_dir(
                "/s/a",
                (0..5)
                    .map(|i| file(&format!("n{i}.odt"), "odf", 0, i))
                    .collect(),
                Vec::new(),
            ),
            in_dir(
                "/s/a/b",
                Vec::new(),
                (0..5)
                    .map(|i| file(&format!("{i}.bin"), "random", 3, i))
                    .collect(),
            ),
        ];
        let report = analyze(&split, 100, &History::default(), &no_content);
        assert_eq!(report.flagged.len(), 5, "{:?}", report.evidence);
        // Two files per directory, fewer than one directory can tell: the
        // parent pools them.
        let thin: Vec<DirChanges> = (0..8)
            .map(|d| {
                in_dir(
                    &format!("/s/x/d{d}"),
                    (0..2)
                        .map(|i| file(&format!("m{i}.pdf"), "pdf", 0, i))
                        .collect(),
                    (0..2)
                        .map(|i| file(&format!("{d}{i}.dat"), "random", 3, i))
                        .collect(),
                )
            })
            .collect();
        let report = analyze(&thin, 100, &History::default(), &no_content);
        assert_eq!(report.verdict, Verdict::Attack, "{:?}", report.evidence);
        assert_eq!(report.flagged.len(), 16);
    }

    #[test]
    fn random_files_without_deletions_of_documents_stay_unusual() {
        // Random data files rotated: the deleted ones were random too.
        let rotated = in_dir(
            "/s",
            (0..20)
                .map(|i| file(&format!("old{i}.dat"), "random", 3, i))
                .collect(),
            (0..20)
                .map(|i| file(&format!("new{i}.dat"), "random", 3, 50 + i))
                .collect(),
        );
        // Photos replaced by other photos, documents by unrelated PDFs.
        let photos = in_dir(
            "/p",
            (0..20)
                .map(|i| file(&format!("a{i}.jpg"), "jpeg", 0, i))
                .collect(),
            (0..20)
                .map(|i| file(&format!("b{i}.jpg"), "jpeg", 2, 50 + i))
                .collect(),
        );
        let pdfs = in_dir(
            "/q",
            (0..50)
                .map(|i| file(&format!("c{i}.txt"), "text", 0, i))
                .collect(),
            (0..50)
                .map(|i| file(&format!("d{i}.pdf"), "pdf", 1, 50 + i))
                .collect(),
        );
        // Few random files where many documents went: not comparable.
        let mut few = in_dir(
            "/r",
            (0..40)
                .map(|i| file(&format!("e{i}.txt"), "text", 0, i))
                .collect(),
            (0..4)
                .map(|i| file(&format!("f{i}.bin"), "random", 3, 50 + i))
                .collect(),
        );
        few.removed.iter_mut().for_each(|n| n.size = 100);
        let report = analyze(
            &[rotated, photos, pdfs, few],
            400,
            &History::default(),
            &no_content,
        );
        assert_eq!(report.verdict, Verdict::Clean, "{:?}", report.evidence);
        assert_eq!(report.unusual.len(), 24);
        assert!(report.affected_dirs.is_empty());
    }

    #[test]
    fn random_extensions_need_no_pairing() {
        let own = in_dir(
            "/s",
            Vec::new(),
            (0..12)
                .map(|i| file(&format!("f{i}.k{i}Qz9"), "random", 3, i))
                .collect(),
        );
        let report = analyze(&[own], 100, &History::default(), &no_content);
        assert_eq!(report.verdict, Verdict::Attack, "{:?}", report.evidence);
        assert!(
            report.summary.contains("random extension each"),
            "{}",
            report.summary
        );
        let shared = in_dir(
            "/s",
            Vec::new(),
            (0..12)
                .map(|i| file(&format!("f{i}.HLJkNskOq"), "random", 3, i))
                .collect(),
        );
        let report = analyze(&[shared], 100, &History::default(), &no_content);
        assert_eq!(report.verdict, Verdict::Attack, "{:?}", report.evidence);
        assert!(random_looking_extension(b"/s/a.x7kq2b"));
        assert!(random_looking_extension(b"/s/a.qzwrtk"));
        assert!(!random_looking_extension(b"/s/clip.h264"));
        assert!(!random_looking_extension(b"/s/a.backup"));
        assert!(!random_looking_extension(b"/s/a.docx"));
        // Split archive volumes and everyday extensions are not random.
        let volumes = in_dir(
            "/s",
            Vec::new(),
            (0..12)
                .map(|i| file(&format!("backup.7z.{:03}", i + 2), "random", 3, i))
                .chain((0..12).map(|i| file(&format!("c{i}.cache"), "random", 3, i)))
                .collect(),
        );
        let report = analyze(&[volumes], 100, &History::default(), &no_content);
        assert_eq!(report.verdict, Verdict::Clean, "{:?}", report.evidence);
    }

    fn note_copy(dir: usize) -> Vec<u8> {
        format!(
            "YOUR FILES ARE ENCRYPTED\n\nTo recover them contact us.\nYour personal ID: {}\n",
            18199851800360905273u64 - dir as u64 * 7919
        )
        .into_bytes()
    }

    /// Reads the content of each node from a table by its first blob id.
    fn reader(table: Vec<(BlobId, Vec<u8>)>) -> impl Fn(&Node) -> Option<Vec<u8>> {
        move |n: &Node| {
            let id = n.content.first()?;
            table.iter().find(|(i, _)| i == id).map(|(_, c)| c.clone())
        }
    }

    fn text_file(name: &str, id: u8, size: u64) -> Node {
        let mut n = file(name, "text", 0, id);
        n.size = size;
        n
    }

    #[test]
    fn the_issues_note_with_an_id_per_copy_is_found_in_every_directory() {
        let mut dirs = Vec::new();
        let mut table = Vec::new();
        for d in 0..20u8 {
            let note = text_file("info.txt", 100 + d, note_copy(d as usize).len() as u64);
            table.push((note.content[0], note_copy(d as usize)));
            let mut added = vec![note];
            if d < 3 {
                added.extend((0..4).map(|i| file(&format!("x{i}.docx"), "random", 3, i)));
            }
            dirs.push(in_dir(&format!("/s/d{d}"), Vec::new(), added));
        }
        let report = analyze(&dirs, 200, &History::default(), &reader(table.clone()));
        assert_eq!(report.ransom_notes().count(), 20, "{:?}", report.evidence);
        assert_eq!(report.verdict, Verdict::Attack);
        // The same notes and nothing encrypted: suspicious, for the words.
        let alone: Vec<DirChanges> = dirs
            .into_iter()
            .map(|mut d| {
                d.added.truncate(1);
                d
            })
            .collect();
        let reads = std::cell::Cell::new(0);
        let table_reader = reader(table);
        let counting = |n: &Node| {
            reads.set(reads.get() + 1);
            table_reader(n)
        };
        let report = analyze(&alone, 200, &History::default(), &counting);
        assert_eq!(report.verdict, Verdict::Suspicious, "{:?}", report.evidence);
        assert_eq!(report.ransom_notes().count(), 20);
        assert_eq!(reads.get(), NOTE_QUIET_READS_PER_NAME);
    }

    /// A note with none of the expected words is still a note when its
    /// copies (IDs masked) are in many directories beside encrypted files;
    /// bounded reads: one name read at most 16 times.
    #[test]
    fn replicated_notes_are_found_without_their_words() {
        let text = |d: usize| {
            format!("Hello. Files are now locked.\nCode: {d:08}-XK{d:04}\n").into_bytes()
        };
        let mut dirs = Vec::new();
        let mut table = Vec::new();
        for d in 0..40usize {
            let note = text_file("!!NOTE!!.txt", d as u8, text(d).len() as u64);
            table.push((note.content[0], text(d)));
            let added = (0..3)
                .map(|i| file(&format!("y{i}.xlsx"), "random", 3, i))
                .chain(std::iter::once(note))
                .collect();
            dirs.push(in_dir(&format!("/s/d{d}"), Vec::new(), added));
        }
        let reads = std::cell::Cell::new(0);
        let table_reader = reader(table);
        let counting = |n: &Node| {
            reads.set(reads.get() + 1);
            table_reader(n)
        };
        let report = analyze(&dirs, 400, &History::default(), &counting);
        assert_eq!(report.ransom_notes().count(), 40, "{:?}", report.evidence);
        assert!(reads.get() <= NOTE_READS_PER_NAME, "{} reads", reads.get());
        // Files holding only a number mask alike, but are no note.
        let mut table = Vec::new();
        for (d, dir) in dirs.iter_mut().enumerate() {
            let lock = text_file("app.pid", 100 + d as u8, 5);
            table.push((lock.content[0], format!("{}\n", 4000 + d).into_bytes()));
            dir.added.retain(|n| n.name.as_bytes() != b"!!NOTE!!.txt");
            dir.added.push(lock);
        }
        let report = analyze(&dirs, 400, &History::default(), &reader(table));
        assert_eq!(report.ransom_notes().count(), 0, "{:?}", report.evidence);
    }

    #[test]
    fn a_software_update_and_a_mail_merge_are_not_notes() {
        let readme = b"Thank you for installing this update. Your files are left unchanged.\nVersion 4.2.1, see https://example.org\n".to_vec();
        let mut table = vec![];
        let mut dirs = Vec::new();
        for d in 0..40u8 {
            let mut n = text_file("README.txt", 200, readme.len() as u64);
            n.content = vec![BlobId::from_bytes([200; 32])];
            dirs.push(in_dir(&format!("/app/m{d}"), Vec::new(), vec![n]));
        }
        table.push((BlobId::from_bytes([200; 32]), readme));
        let letter = |i: u8| {
            format!("Madame {},\nvotre dossier n° {} est complet. Vos fichiers sont à jour.\nLa mairie\n",
                ["Dupont", "Martin", "Bernard", "Petit", "Durand"][i as usize % 5], 1000 + i as u32)
            .into_bytes()
        };
        for i in 0..30u8 {
            let n = text_file(
                &format!("courrier-{i:02}.txt"),
                100 + i,
                letter(i).len() as u64,
            );
            table.push((n.content[0], letter(i)));
            dirs.push(in_dir(&format!("/mairie/c{}", i % 6), Vec::new(), vec![n]));
        }
        let report = analyze(&dirs, 400, &History::default(), &reader(table));
        assert_eq!(report.verdict, Verdict::Clean, "{:?}", report.evidence);
        assert_eq!(report.changed_not_judged, 70);
    }

    /// Once the snapshot is an attack, documents whose windows turned
    /// random in a larger share than before (by a quarter) are flagged too;
    /// the same changes in a quiet snapshot are not, nor is a document with
    /// one random window more.
    #[test]
    fn an_attack_gets_a_second_look_at_every_changed_file() {
        let doc = |name: &str, random: u32, seed: u8| {
            let mut n = file(name, "ooxml", random, seed);
            let stats = n.stats.as_mut().unwrap();
            (stats.windows, stats.chi2) = (16, 20.0);
            n
        };
        let mut modified: Vec<(Node, Node)> = (0..20)
            .map(|i| {
                (
                    doc(&format!("d{i}.docx"), 2, i),
                    doc(&format!("d{i}.docx"), 8, 100 + i),
                )
            })
            .collect();
        // Edited by someone: one compressed window more passes as random;
        // a small document random inside by nature, all windows now.
        modified.push((doc("kept.docx", 2, 70), doc("kept.docx", 3, 71)));
        let small = |name: &str, windows: u32, random: u32, seed: u8| {
            let mut n = file(name, "ooxml", random, seed);
            let stats = n.stats.as_mut().unwrap();
            (stats.windows, stats.chi2) = (windows, 2.0);
            n
        };
        // Its deflate streams near uniform as a whole: random inside.
        modified.push((small("avis.docx", 3, 0, 76), small("avis.docx", 3, 3, 77)));
        modified.push((
            small("lettre.docx", 3, 2, 72),
            small("lettre.docx", 3, 3, 73),
        ));
        // One window grown into two, one of them random: too few to tell.
        modified.push((small("court.docx", 1, 0, 74), small("court.docx", 2, 1, 75)));
        let quiet = DirChanges {
            dir: b"/s".to_vec(),
            modified: modified.clone(),
            ..Default::default()
        };
        let report = analyze(&[quiet], 100, &History::default(), &no_content);
        assert_eq!(report.verdict, Verdict::Clean);
        assert_eq!(report.changed_not_judged, 24);
        modified.extend((0..10).map(|i| {
            (
                file(&format!("t{i}.txt"), "text", 0, i),
                file(&format!("t{i}.txt"), "random", 3, 50 + i),
            )
        }));
        let attack = DirChanges {
            dir: b"/s".to_vec(),
            modified,
            ..Default::default()
        };
        let report = analyze(&[attack], 100, &History::default(), &no_content);
        assert_eq!(report.verdict, Verdict::Attack);
        assert_eq!(report.flagged.len(), 30, "{:?}", report.evidence);
        assert!(report
            .flagged
            .iter()
            .any(|f| matches!(f.reason, Reason::ChangedDuringAttack { .. })));
        assert_eq!(report.changed_not_judged, 4);
        assert!(
            report
                .evidence
                .iter()
                .any(|e| e.contains("4 files changed in this backup were not judged encrypted")),
            "{:?}",
            report.evidence
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
