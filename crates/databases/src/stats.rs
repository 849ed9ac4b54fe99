//! Per-table row counts and checksums, computed from a dump's text while it
//! streams, and the comparison of two such lists ([`compare_tables`]).
//!
//! The dump is read one line at a time with bounded memory: only the first
//! [`PREFIX_CAP`] bytes of a line are kept to tell what the line is; the
//! rest of a longer line (a row with a large text or bytea value) is hashed
//! as it passes, never buffered whole.
//!
//! What a row is depends on the dump's dialect:
//! - PostgreSQL plain format: every line between `COPY name (cols) FROM
//!   stdin;` and `\.` is one row of `name` (a table with no rows still has
//!   its `COPY` block, so it appears with zero rows);
//! - MariaDB/MySQL with `--skip-extended-insert`: every line ``INSERT INTO
//!   `t` VALUES (...);`` is one row of `t`, and every ``CREATE TABLE `t` ``
//!   names a table (so empty ones appear too). Lines between `DELIMITER ;;`
//!   and `DELIMITER ;` are the bodies of triggers and routines, never rows.
//!
//! A table's checksum is BLAKE3 over its row lines in dump order, each
//! followed by a newline.

use crate::{TableStats, Verification};
use std::collections::BTreeMap;

/// How many bytes of a line are kept to recognise it. Table names are at
/// most a few hundred bytes, so any line longer than this is either a row
/// (hashed as it streams) or something the statistics ignore.
pub const PREFIX_CAP: usize = 4096;
/// How many of the last bytes of a long statement line are kept: enough
/// for `" FROM stdin;"`.
const TAIL_LEN: usize = 16;

/// pg_dump's last comment: only a dump written to its end has it.
const PG_END: &str = "-- PostgreSQL database dump complete";
/// mariadb-dump's and mysqldump's last line (followed by a date unless
/// `--skip-dump-date`).
const MARIADB_END: &str = "-- Dump completed";

/// The dump formats whose rows can be told apart line by line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `pg_dump --format=plain` (rows as `COPY` data).
    Postgres,
    /// `mariadb-dump`/`mysqldump --skip-extended-insert`.
    MariaDb,
}

#[derive(Default)]
struct TableAcc {
    rows: u64,
    hasher: blake3::Hasher,
}

/// What the line being read turned out to be, once known.
enum LineKind {
    /// Not decided yet: its first bytes are still being collected.
    Undecided,
    /// A row of the table with this name: bytes go to its hasher.
    Row(String),
    /// A long line that is not a row: only its first [`PREFIX_CAP`] bytes
    /// and its last [`TAIL_LEN`] are kept (a `COPY` line of a table with
    /// hundreds of columns is judged on both ends).
    Long { tail: Vec<u8> },
}

/// Collects per-table statistics from a dump fed in arbitrary pieces.
pub struct StatsCollector {
    dialect: Dialect,
    tables: BTreeMap<String, TableAcc>,
    /// The first bytes of the current line (at most [`PREFIX_CAP`]).
    prefix: Vec<u8>,
    kind: LineKind,
    /// PostgreSQL: the table whose `COPY` data is being read.
    in_copy: Option<String>,
    /// MariaDB: inside a `DELIMITER ;;` block (trigger or routine bodies).
    in_delimiter_block: bool,
    /// The tool's own line naming itself and its version, when seen.
    tool: Option<String>,
    /// The tool's closing line was seen (and no row block is open): the
    /// tool wrote its dump to the end.
    completed: bool,
}

impl StatsCollector {
    pub fn new(dialect: Dialect) -> StatsCollector {
        StatsCollector {
            dialect,
            tables: BTreeMap::new(),
            prefix: Vec::with_capacity(256),
            kind: LineKind::Undecided,
            in_copy: None,
            in_delimiter_block: false,
            tool: None,
            completed: false,
        }
    }

    /// Feeds the next bytes of the dump.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    let (line, rest) = bytes.split_at(end);
                    self.line_part(line);
                    self.line_end();
                    bytes = rest.get(1..).unwrap_or_default();
                }
                None => {
                    self.line_part(bytes);
                    bytes = &[];
                }
            }
        }
    }

    /// The tables, sorted by name (a last line without a newline counts).
    pub fn finish(mut self) -> Vec<TableStats> {
        if !self.prefix.is_empty() || !matches!(self.kind, LineKind::Undecided) {
            self.line_end();
        }
        self.tables
            .into_iter()
            .map(|(table, acc)| TableStats {
                table,
                rows: acc.rows,
                checksum: acc.hasher.finalize().to_hex().to_string(),
            })
            .collect()
    }

    /// Why the dump read so far is not a whole dump (a row block left open,
    /// or no closing line from the tool), or `None` when it is. A tool
    /// stopped half-way can still exit 0 (a wrapper script, a tool killed
    /// by a signal its parent hides): its output then looks like a dump
    /// but lacks its end, and restoring it would load half the rows and
    /// verify them against the same half.
    pub fn unfinished(&self) -> Option<String> {
        if let Some(table) = &self.in_copy {
            return Some(format!(
                "it ends inside the rows of table {table} (no closing \\. line)"
            ));
        }
        if self.completed {
            return None;
        }
        Some(match self.dialect {
            Dialect::Postgres => format!("it ends without pg_dump's closing line \"{PG_END}\""),
            Dialect::MariaDb => {
                format!("it ends without the dump tool's closing line \"{MARIADB_END}\"")
            }
        })
    }

    /// How the tool named itself in the dump's header, if it did.
    pub fn tool(&self) -> Option<&str> {
        self.tool.as_deref()
    }

    fn line_part(&mut self, part: &[u8]) {
        match &mut self.kind {
            LineKind::Row(table) => {
                let table = table.clone();
                self.hash_into(&table, part);
            }
            LineKind::Long { tail } => keep_tail(tail, part),
            LineKind::Undecided => {
                let room = PREFIX_CAP - self.prefix.len();
                if part.len() < room {
                    self.prefix.extend_from_slice(part);
                    return;
                }
                let (kept, rest) = part.split_at(room);
                self.prefix.extend_from_slice(kept);
                match self.row_table(&self.prefix) {
                    Some(table) => {
                        let prefix = std::mem::take(&mut self.prefix);
                        self.hash_into(&table, &prefix);
                        self.hash_into(&table, rest);
                        self.kind = LineKind::Row(table);
                    }
                    None => {
                        let mut tail = Vec::with_capacity(TAIL_LEN * 2);
                        keep_tail(&mut tail, kept);
                        keep_tail(&mut tail, rest);
                        self.kind = LineKind::Long { tail };
                    }
                }
            }
        }
    }

    fn line_end(&mut self) {
        match std::mem::replace(&mut self.kind, LineKind::Undecided) {
            LineKind::Row(table) => self.end_row(&table),
            LineKind::Long { tail } => {
                // Its two ends stand for the whole line: the names are at
                // the start, the `FROM stdin;` of a COPY at the end.
                let mut ends = std::mem::take(&mut self.prefix);
                ends.extend_from_slice(&tail);
                self.statement(&ends);
                self.prefix = ends;
            }
            LineKind::Undecided => {
                let line = std::mem::take(&mut self.prefix);
                self.whole_line(&line);
                self.prefix = line;
            }
        }
        self.prefix.clear();
    }

    /// A line short enough to be seen whole.
    fn whole_line(&mut self, line: &[u8]) {
        if let Some(table) = self.row_table(line) {
            self.hash_into(&table, line);
            self.end_row(&table);
            return;
        }
        self.statement(line);
    }

    /// A line that is not a row.
    fn statement(&mut self, line: &[u8]) {
        match self.dialect {
            Dialect::Postgres => self.postgres_statement(line),
            Dialect::MariaDb => self.mariadb_statement(line),
        }
    }

    /// The table a line is a row of, judged from its first bytes.
    fn row_table(&self, start: &[u8]) -> Option<String> {
        match self.dialect {
            Dialect::Postgres => {
                let table = self.in_copy.as_ref()?;
                (start != b"\\.").then(|| table.clone())
            }
            Dialect::MariaDb => {
                if self.in_delimiter_block {
                    return None;
                }
                let rest = start.strip_prefix(b"INSERT INTO ")?;
                let (name, after) = backquoted_name(rest)?;
                after.starts_with(b" VALUES ").then_some(name)
            }
        }
    }

    fn postgres_statement(&mut self, line: &[u8]) {
        if self.in_copy.is_some() {
            if line == b"\\." {
                self.in_copy = None;
            }
            return;
        }
        if let Some(table) = copy_table(line) {
            self.tables.entry(table.clone()).or_default();
            self.in_copy = Some(table);
            self.completed = false;
        } else if line == PG_END.as_bytes() {
            self.completed = true;
        } else if self.tool.is_none() {
            if let Some(tool) = line.strip_prefix(b"-- Dumped by ") {
                self.tool = Some(String::from_utf8_lossy(tool).into_owned());
            }
        }
    }

    fn mariadb_statement(&mut self, line: &[u8]) {
        if line.starts_with(b"DELIMITER ") {
            self.in_delimiter_block = line != b"DELIMITER ;";
        } else if line.starts_with(MARIADB_END.as_bytes()) {
            self.completed = true;
        } else if let Some(rest) = line.strip_prefix(b"CREATE TABLE ") {
            if let Some((table, _)) = backquoted_name(rest) {
                self.tables.entry(table).or_default();
            }
        } else if self.tool.is_none() {
            for header in [&b"-- MariaDB dump "[..], b"-- MySQL dump "] {
                if let Some(tool) = line
                    .strip_prefix(b"-- ")
                    .filter(|_| line.starts_with(header))
                {
                    let tool = String::from_utf8_lossy(tool);
                    self.tool = Some(tool.split_whitespace().collect::<Vec<_>>().join(" "));
                }
            }
        }
    }

    /// Applies `change` to a table's figures, adding the table if new
    /// (looked up first: the name is then not copied for every row).
    fn with_table(&mut self, table: &str, change: impl FnOnce(&mut TableAcc)) {
        if let Some(acc) = self.tables.get_mut(table) {
            change(acc);
            return;
        }
        let mut acc = TableAcc::default();
        change(&mut acc);
        self.tables.insert(table.to_owned(), acc);
    }

    fn hash_into(&mut self, table: &str, bytes: &[u8]) {
        self.with_table(table, |acc| {
            acc.hasher.update(bytes);
        });
    }

    fn end_row(&mut self, table: &str) {
        self.with_table(table, |acc| {
            acc.hasher.update(b"\n");
            acc.rows += 1;
        });
    }
}

/// Appends `bytes` to `tail`, keeping only its last [`TAIL_LEN`] bytes.
fn keep_tail(tail: &mut Vec<u8>, bytes: &[u8]) {
    tail.extend_from_slice(
        bytes
            .get(bytes.len().saturating_sub(TAIL_LEN)..)
            .unwrap_or_default(),
    );
    let excess = tail.len().saturating_sub(TAIL_LEN);
    tail.drain(..excess);
}

/// The table of a `COPY name (columns) FROM stdin;` line, as spelled.
fn copy_table(line: &[u8]) -> Option<String> {
    let rest = line.strip_prefix(b"COPY ")?;
    if !line.ends_with(b" FROM stdin;") {
        return None;
    }
    let name_len = qualified_name_len(rest)?;
    let name = rest.get(..name_len)?;
    Some(String::from_utf8_lossy(name).into_owned())
}

/// The length of a possibly schema-qualified PostgreSQL name at the start
/// of `text`: parts separated by dots, each plain or in double quotes (a
/// doubled quote inside standing for one).
fn qualified_name_len(text: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        if text.get(at) == Some(&b'"') {
            at += 1;
            loop {
                match text.get(at)? {
                    b'"' if text.get(at + 1) == Some(&b'"') => at += 2,
                    b'"' => break,
                    _ => at += 1,
                }
            }
            at += 1;
        } else {
            let len = text
                .get(at..)?
                .iter()
                .position(|&b| b == b'.' || b == b' ')
                .unwrap_or(text.len() - at);
            if len == 0 {
                return None;
            }
            at += len;
        }
        if text.get(at) != Some(&b'.') {
            return Some(at);
        }
        at += 1;
    }
}

/// A MariaDB name in backquotes at the start of `text` (a doubled
/// backquote standing for one), and what follows it.
fn backquoted_name(text: &[u8]) -> Option<(String, &[u8])> {
    let mut rest = text.strip_prefix(b"`")?;
    let mut name = Vec::new();
    loop {
        let end = rest.iter().position(|&b| b == b'`')?;
        name.extend_from_slice(rest.get(..end)?);
        rest = rest.get(end + 1..)?;
        match rest.strip_prefix(b"`") {
            Some(after) => {
                name.push(b'`');
                rest = after;
            }
            None => return Some((String::from_utf8_lossy(&name).into_owned(), rest)),
        }
    }
}

/// Compares the tables of a new dump (`actual`) with those captured at
/// backup time (`expected`): every table must be there with the same row
/// count and checksum, and no other table may be.
pub fn compare_tables(expected: &[TableStats], actual: &[TableStats]) -> Verification {
    let found: BTreeMap<&str, &TableStats> = actual.iter().map(|t| (t.table.as_str(), t)).collect();
    let wanted: BTreeMap<&str, &TableStats> =
        expected.iter().map(|t| (t.table.as_str(), t)).collect();
    let mut verification = Verification {
        matching: Vec::new(),
        mismatches: Vec::new(),
    };
    for (name, want) in &wanted {
        match found.get(name) {
            None => verification.mismatches.push(format!(
                "table {name} is missing ({} rows in the backup)",
                want.rows
            )),
            Some(got) if got.rows != want.rows => verification.mismatches.push(format!(
                "table {name} has {} rows, the backup had {}",
                got.rows, want.rows
            )),
            Some(got) if got.checksum != want.checksum => verification.mismatches.push(format!(
                "table {name} has the same {} rows but different content (checksum)",
                got.rows
            )),
            Some(_) => verification.matching.push((*name).to_owned()),
        }
    }
    for name in found.keys().filter(|name| !wanted.contains_key(*name)) {
        verification
            .mismatches
            .push(format!("table {name} is not in the backup"));
    }
    verification
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stats_in_pieces(dialect: Dialect, dump: &[u8], piece: usize) -> Vec<TableStats> {
        let mut collector = StatsCollector::new(dialect);
        for chunk in dump.chunks(piece) {
            collector.feed(chunk);
        }
        collector.finish()
    }

    const PG: &str = "-- Dumped by pg_dump version 15.18\n\\restrict abc\n\
        COPY public.\"Empty\" (x) FROM stdin;\n\\.\n\n\
        COPY public.a (id, s) FROM stdin;\n1\tl1\\nl2\n2\t\\N\n\\.\n\
        COPY \"s p\".\"we\"\"ird\" FROM stdin;\n\\\\.\n\\.\n";

    #[test]
    fn postgres_rows_and_empty_tables_whatever_the_pieces() {
        let whole = stats_in_pieces(Dialect::Postgres, PG.as_bytes(), PG.len());
        let names: Vec<_> = whole.iter().map(|t| (t.table.as_str(), t.rows)).collect();
        assert_eq!(
            names,
            [
                ("\"s p\".\"we\"\"ird\"", 1),
                ("public.\"Empty\"", 0),
                ("public.a", 2)
            ]
        );
        for piece in [1, 2, 3, 7] {
            assert_eq!(
                stats_in_pieces(Dialect::Postgres, PG.as_bytes(), piece),
                whole
            );
        }
        let mut collector = StatsCollector::new(Dialect::Postgres);
        collector.feed(PG.as_bytes());
        assert_eq!(collector.tool(), Some("pg_dump version 15.18"));
    }

    #[test]
    fn a_line_longer_than_the_prefix_is_one_row_hashed_whole() {
        let long = "x".repeat(PREFIX_CAP * 3 + 5);
        let dump = format!("COPY t (v) FROM stdin;\n{long}\nshort\n\\.\n");
        let other = format!("COPY t (v) FROM stdin;\n{long}y\nshort\n\\.\n");
        let a = stats_in_pieces(Dialect::Postgres, dump.as_bytes(), 1000);
        let b = stats_in_pieces(Dialect::Postgres, dump.as_bytes(), 7);
        let c = stats_in_pieces(Dialect::Postgres, other.as_bytes(), 1000);
        assert_eq!(a, b);
        assert_eq!(a[0].rows, 2);
        assert_ne!(a[0].checksum, c[0].checksum);
    }

    #[test]
    fn a_copy_line_longer_than_the_prefix_still_starts_a_table() {
        let columns: Vec<String> = (0..600).map(|i| format!("column_number_{i}")).collect();
        let dump = format!(
            "COPY public.wide ({}) FROM stdin;\n1\n2\n\\.\n",
            columns.join(", ")
        );
        assert!(dump.len() > PREFIX_CAP * 2);
        for piece in [3, 1000, dump.len()] {
            let stats = stats_in_pieces(Dialect::Postgres, dump.as_bytes(), piece);
            assert_eq!(stats.len(), 1);
            assert_eq!((stats[0].table.as_str(), stats[0].rows), ("public.wide", 2));
        }
    }

    #[test]
    fn mariadb_rows_tables_and_trigger_bodies() {
        let dump = "-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB\n\
            CREATE TABLE `Empty` (\n  `x` int\n);\n\
            CREATE TABLE `a``b` (\n`id` int);\n\
            INSERT INTO `a``b` VALUES (1,'x');\nINSERT INTO `a``b` VALUES (2,NULL);\n\
            DELIMITER ;;\nINSERT INTO `a``b` VALUES (3,'in a trigger');\nDELIMITER ;\n";
        let stats = stats_in_pieces(Dialect::MariaDb, dump.as_bytes(), 5);
        let names: Vec<_> = stats.iter().map(|t| (t.table.as_str(), t.rows)).collect();
        assert_eq!(names, [("Empty", 0), ("a`b", 2)]);
        let mut collector = StatsCollector::new(Dialect::MariaDb);
        collector.feed(dump.as_bytes());
        assert_eq!(
            collector.tool(),
            Some("MariaDB dump 10.19 Distrib 10.11.19-MariaDB")
        );
    }

    #[test]
    fn comparison_names_missing_extra_and_changed_tables() {
        let t = |name: &str, rows, sum: &str| TableStats {
            table: name.into(),
            rows,
            checksum: sum.into(),
        };
        let expected = [
            t("a", 1, "x"),
            t("b", 2, "y"),
            t("c", 3, "z"),
            t("d", 0, "e"),
        ];
        let actual = [
            t("a", 1, "x"),
            t("b", 1, "y"),
            t("c", 3, "w"),
            t("f", 0, "e"),
        ];
        let v = compare_tables(&expected, &actual);
        assert_eq!(v.matching, ["a"]);
        assert_eq!(v.mismatches.len(), 4, "{:?}", v.mismatches);
        assert!(!v.verified());
        assert!(compare_tables(&expected, &expected).verified());
    }
}
