//! Merging a MariaDB dump's one-row `INSERT`s into multi-row ones while it
//! streams into the `mariadb` client at restore time.
//!
//! reprise dumps with `--skip-extended-insert` (one row a line, so that a
//! changed row changes one line and nights deduplicate), a format the
//! server loads about three times slower than mariadb-dump's default
//! multi-row `INSERT`s: every statement is parsed, planned and logged on
//! its own. [`InsertBatcher`] gives the server the default's shape back:
//! consecutive lines
//!
//! ```text
//! INSERT INTO `t` VALUES (1,'a');
//! INSERT INTO `t` VALUES (2,'b');
//! ```
//!
//! become ``INSERT INTO `t` VALUES (1,'a'),(2,'b');``, up to a statement of
//! [`DEFAULT_LIMIT`] bytes (mariadb-dump's own bound for its multi-row
//! statements, its `--net-buffer-length` default) or less when the server's
//! `max_allowed_packet` is smaller. Every other line passes through
//! unchanged, byte for byte.
//!
//! **Why it is the same SQL.** mariadb-dump writes each row statement on
//! one line (it escapes newlines inside strings as `\n`). A line is merged
//! only when it is exactly ``INSERT INTO `name` VALUES (...);``: the tuple
//! is scanned with the server's lexical rules for quoted strings (a
//! backslash escapes the next byte, a doubled quote stands for one), and
//! its closing parenthesis must be followed by `;` and the end of the line,
//! with no comment, backquote or semicolon outside strings. Rows are merged
//! only with rows of the same table spelled the same way, in their order,
//! and never between `DELIMITER ;;` and `DELIMITER ;` (trigger and routine
//! bodies, whose text must stay as it is). The dump's header sets
//! `SQL_MODE='NO_AUTO_VALUE_ON_ZERO'`, not strict, so a multi-row statement
//! converts values row by row exactly as one-row statements do, and a row
//! that fails (a duplicate key) fails the restore either way. The restore's
//! verification (row counts and checksums against the backup's manifest)
//! checks the result.
//!
//! **Bounded memory.** At most one line of [`DEFAULT_LIMIT`] bytes and one
//! open statement are held; a longer line (a row with a large value) is
//! never merged and streams through in pieces.

use std::io::{self, BufRead, BufReader, Read};

/// The largest multi-row statement built: mariadb-dump's default
/// `--net-buffer-length` (1 MiB less 2 KiB), which bounds its own
/// multi-row `INSERT`s the same way.
pub(crate) const DEFAULT_LIMIT: usize = 1_046_528;
/// Kept free below the server's `max_allowed_packet`: the protocol's
/// packet header and command byte, with room to spare.
const PACKET_MARGIN: usize = 1024;
/// How much of the dump is read from its source at once.
const READ_BUFFER: usize = 256 * 1024;

/// The statement bound for a server whose `max_allowed_packet` is
/// `max_allowed_packet` (`None` when unknown): [`DEFAULT_LIMIT`], or less
/// when the server accepts less.
pub(crate) fn limit_for(max_allowed_packet: Option<u64>) -> usize {
    let Some(packet) = max_allowed_packet else {
        return DEFAULT_LIMIT;
    };
    let packet = usize::try_from(packet).unwrap_or(usize::MAX);
    packet.saturating_sub(PACKET_MARGIN).min(DEFAULT_LIMIT)
}

/// A dump with its consecutive one-row `INSERT`s of a table merged into
/// multi-row ones (see the module's documentation), read like the dump.
pub(crate) struct InsertBatcher<R> {
    input: BufReader<R>,
    limit: usize,
    /// The line being read (without its newline), at most `limit` bytes.
    line: Vec<u8>,
    /// The current line is longer than `limit`: the rest of it passes
    /// straight through, up to and with its newline.
    passing_long_line: bool,
    /// Output ready for the reader, from `ready_at` on.
    ready: Vec<u8>,
    ready_at: usize,
    /// The multi-row statement being built, without its `;`; empty when
    /// none is open.
    open: Vec<u8>,
    /// How long its ``INSERT INTO `t` VALUES `` prefix is.
    open_prefix: usize,
    /// Between `DELIMITER ;;` and `DELIMITER ;`: nothing is merged.
    in_delimiter_block: bool,
    /// The input has ended and everything is in `ready`.
    finished: bool,
}

impl<R: Read> InsertBatcher<R> {
    /// Merges statements of at most `limit` bytes (a longer row stays
    /// alone, as it is).
    pub(crate) fn new(input: R, limit: usize) -> InsertBatcher<R> {
        InsertBatcher {
            input: BufReader::with_capacity(READ_BUFFER, input),
            limit,
            line: Vec::new(),
            passing_long_line: false,
            ready: Vec::new(),
            ready_at: 0,
            open: Vec::new(),
            open_prefix: 0,
            in_delimiter_block: false,
            finished: false,
        }
    }

    /// Reads the next piece of input and turns it into output (or into the
    /// line or statement being built).
    fn step(&mut self) -> io::Result<()> {
        let chunk = self.input.fill_buf()?;
        if chunk.is_empty() {
            self.end_of_input();
            return Ok(());
        }
        let newline = chunk.iter().position(|&b| b == b'\n');
        if self.passing_long_line {
            let taken = newline.map_or(chunk.len(), |at| at + 1);
            self.ready
                .extend_from_slice(chunk.get(..taken).unwrap_or_default());
            self.passing_long_line = newline.is_none();
            self.input.consume(taken);
            return Ok(());
        }
        let part_len = newline.unwrap_or(chunk.len());
        if self.line.len() + part_len > self.limit {
            // Too long to merge: whatever is open goes first, then the line
            // as it comes (the next steps pass the rest of it).
            self.close_open();
            self.ready.append(&mut self.line);
            self.passing_long_line = true;
            return Ok(());
        }
        self.line
            .extend_from_slice(chunk.get(..part_len).unwrap_or_default());
        match newline {
            Some(at) => {
                self.input.consume(at + 1);
                self.complete_line(true);
            }
            None => self.input.consume(part_len),
        }
        Ok(())
    }

    fn end_of_input(&mut self) {
        if !self.line.is_empty() {
            // A last line without a newline.
            self.complete_line(false);
        }
        self.close_open();
        self.finished = true;
    }

    /// `self.line` is a whole line: merged into the open statement, or
    /// passed through.
    fn complete_line(&mut self, had_newline: bool) {
        let line = std::mem::take(&mut self.line);
        match single_row_insert(&line).filter(|_| !self.in_delimiter_block) {
            Some(prefix) => self.add_row(&line, prefix),
            None => {
                if let Some(delimiter) = delimiter_command(&line) {
                    self.in_delimiter_block = delimiter != b";";
                }
                self.close_open();
                self.ready.extend_from_slice(&line);
                if had_newline {
                    self.ready.push(b'\n');
                }
            }
        }
        self.line = line;
        self.line.clear();
    }

    /// Adds a one-row `INSERT` line whose ``INSERT INTO `t` VALUES `` is
    /// `prefix` bytes long to the open statement when it is of the same
    /// table and has room, else opens a new statement with it.
    fn add_row(&mut self, line: &[u8], prefix: usize) {
        // The line ends with `;`, which the statement gets when it closes.
        let statement = line.get(..line.len().saturating_sub(1)).unwrap_or_default();
        let tuple = statement.get(prefix..).unwrap_or_default();
        let same_table =
            !self.open.is_empty() && self.open.get(..self.open_prefix) == statement.get(..prefix);
        // The statement with `,`, the tuple and its final `;`.
        if same_table && self.open.len() + tuple.len() + 2 <= self.limit {
            self.open.push(b',');
            self.open.extend_from_slice(tuple);
            return;
        }
        self.close_open();
        self.open.extend_from_slice(statement);
        self.open_prefix = prefix;
    }

    /// Ends the open statement, if any, and makes it output.
    fn close_open(&mut self) {
        if self.open.is_empty() {
            return;
        }
        self.open.extend_from_slice(b";\n");
        if self.ready.is_empty() {
            std::mem::swap(&mut self.ready, &mut self.open);
        } else {
            self.ready.append(&mut self.open);
        }
        self.open.clear();
    }
}

impl<R: Read> Read for InsertBatcher<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let pending = self.ready.get(self.ready_at..).unwrap_or_default();
            if !pending.is_empty() {
                let n = pending.len().min(buf.len());
                if let (Some(to), Some(from)) = (buf.get_mut(..n), pending.get(..n)) {
                    to.copy_from_slice(from);
                }
                self.ready_at += n;
                return Ok(n);
            }
            self.ready.clear();
            self.ready_at = 0;
            if self.finished || buf.is_empty() {
                return Ok(0);
            }
            self.step()?;
        }
    }
}

/// The new delimiter when `line` is the client's `DELIMITER` command
/// (which the client takes in any case, with any blanks around it).
fn delimiter_command(line: &[u8]) -> Option<&[u8]> {
    let command = line.get(..10)?;
    if !command.eq_ignore_ascii_case(b"delimiter ") {
        return None;
    }
    Some(line.get(10..)?.trim_ascii())
}

/// When `line` is exactly ``INSERT INTO `name` VALUES (...);`` with one
/// tuple, the length of its ``INSERT INTO `name` VALUES `` prefix.
fn single_row_insert(line: &[u8]) -> Option<usize> {
    let after_into = line.strip_prefix(b"INSERT INTO ")?;
    let tuple = after_backquoted(after_into)?.strip_prefix(b" VALUES ")?;
    let end = tuple_len(tuple)?;
    (tuple.get(end..)? == b";").then_some(line.len() - tuple.len())
}

/// What follows a backquoted name at the start of `text` (a doubled
/// backquote inside standing for one).
fn after_backquoted(text: &[u8]) -> Option<&[u8]> {
    let mut rest = text.strip_prefix(b"`")?;
    loop {
        let quote = rest.iter().position(|&b| b == b'`')?;
        rest = rest.get(quote + 1..)?;
        match rest.strip_prefix(b"`") {
            Some(after) => rest = after,
            None => return Some(rest),
        }
    }
}

/// The length of the parenthesised tuple at the start of `text`, up to and
/// with its closing parenthesis; `None` when `text` does not start with
/// one, or has, outside strings, anything that could change how the
/// statement reads (a comment, a backquote, a semicolon).
fn tuple_len(text: &[u8]) -> Option<usize> {
    if text.first() != Some(&b'(') {
        return None;
    }
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(&byte) = text.get(at) {
        match byte {
            b'\'' | b'"' => at = closing_quote(text, at)?,
            b'(' => depth += 1,
            b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            b'`' | b'#' | b';' => return None,
            b'-' if text.get(at + 1) == Some(&b'-') => return None,
            b'/' if text.get(at + 1) == Some(&b'*') => return None,
            _ => {}
        }
        at += 1;
    }
    None
}

/// Where the string literal opened by the quote at `open` ends (the index
/// of its closing quote): a backslash escapes the next byte, a doubled
/// quote stands for one.
fn closing_quote(text: &[u8], open: usize) -> Option<usize> {
    let quote = *text.get(open)?;
    let mut at = open + 1;
    loop {
        // Most of a string is neither: skipped in one search.
        at += text
            .get(at..)?
            .iter()
            .position(|&b| b == quote || b == b'\\')?;
        // A backslash escapes the next byte; a doubled quote is one quote.
        let escaped = text.get(at) == Some(&b'\\') || text.get(at + 1) == Some(&quote);
        if !escaped {
            return Some(at);
        }
        at += 2;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    /// The batcher's output for `input`, read in pieces of `piece` bytes
    /// from a source that hands out `source_piece` bytes at a time.
    fn batched(input: &[u8], limit: usize, source_piece: usize, piece: usize) -> Vec<u8> {
        let source = Trickle {
            bytes: input,
            piece: source_piece,
        };
        let mut batcher = InsertBatcher::new(source, limit);
        let mut out = Vec::new();
        let mut buf = vec![0u8; piece];
        loop {
            let n = batcher.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// A reader that returns at most `piece` bytes a read.
    struct Trickle<'a> {
        bytes: &'a [u8],
        piece: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.piece.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    fn all_ways(input: &str, limit: usize) -> String {
        let whole = batched(input.as_bytes(), limit, usize::MAX, 1 << 20);
        for (source_piece, piece) in [(1, 1), (3, 7), (1000, 2)] {
            assert_eq!(
                batched(input.as_bytes(), limit, source_piece, piece),
                whole,
                "pieces {source_piece}/{piece}"
            );
        }
        String::from_utf8(whole).unwrap()
    }

    #[test]
    fn consecutive_rows_of_a_table_become_one_statement() {
        let input = "-- MariaDB dump\n\
            LOCK TABLES `a` WRITE;\n\
            INSERT INTO `a` VALUES (1,'x');\n\
            INSERT INTO `a` VALUES (2,NULL);\n\
            INSERT INTO `a` VALUES (3,0x00FF);\n\
            UNLOCK TABLES;\n\
            INSERT INTO `b` VALUES (1);\n\
            INSERT INTO `a` VALUES (4,'y');\n\
            INSERT INTO `a` VALUES (5,'z');\n\
            -- Dump completed\n";
        let expected = "-- MariaDB dump\n\
            LOCK TABLES `a` WRITE;\n\
            INSERT INTO `a` VALUES (1,'x'),(2,NULL),(3,0x00FF);\n\
            UNLOCK TABLES;\n\
            INSERT INTO `b` VALUES (1);\n\
            INSERT INTO `a` VALUES (4,'y'),(5,'z');\n\
            -- Dump completed\n";
        assert_eq!(all_ways(input, DEFAULT_LIMIT), expected);
    }

    #[test]
    fn hostile_strings_and_names_are_merged_whole() {
        let input = concat!(
            "INSERT INTO `we``ird, (na;me)` VALUES (1,'),(','x');\n",
            "INSERT INTO `we``ird, (na;me)` VALUES (2,');\\n\\'\\\\',\"\\\");\");\n",
            "INSERT INTO `we``ird, (na;me)` VALUES (3,'it''s -- /* # `',NULL);\n",
            "INSERT INTO `we``ird, (na;me)` VALUES (4,'\u{1F600} Zoé','\\0\\Z\\r');\n",
        );
        let expected = concat!(
            "INSERT INTO `we``ird, (na;me)` VALUES (1,'),(','x'),",
            "(2,');\\n\\'\\\\',\"\\\");\"),",
            "(3,'it''s -- /* # `',NULL),",
            "(4,'\u{1F600} Zoé','\\0\\Z\\r');\n",
        );
        assert_eq!(all_ways(input, DEFAULT_LIMIT), expected);
    }

    #[test]
    fn lines_that_are_not_exactly_one_row_pass_through_unchanged() {
        let unchanged = [
            "INSERT INTO `t` VALUES (1),(2);",
            "INSERT INTO `t` VALUES (1); -- comment",
            "INSERT INTO `t` VALUES (1) ;",
            "INSERT INTO `t` VALUES (1);;",
            "INSERT INTO `t` VALUES (1,'open string);",
            "INSERT INTO `t` VALUES (1 /* c */);",
            "INSERT INTO `t` VALUES (1,-- x\n",
            "INSERT INTO `t` VALUES (1);\r",
            "INSERT INTO `t` (`a`) VALUES (1);",
            "INSERT INTO t VALUES (1);",
            "INSERT INTO `t VALUES (1);",
            "insert into `t` values (1);",
            "INSERT INTO `t` VALUES 1;",
            "INSERT INTO `t` VALUES ((1);",
            "INSERT INTO `t` VALUES (1));",
        ];
        for line in unchanged {
            let input = format!("{line}\n{line}\n");
            assert_eq!(all_ways(&input, DEFAULT_LIMIT), input, "{line:?}");
        }
    }

    #[test]
    fn nothing_is_merged_inside_a_delimiter_block() {
        let input = "DELIMITER ;;\n\
            INSERT INTO `t` VALUES (1);\n\
            INSERT INTO `t` VALUES (2);\n\
            END ;;\n\
            DELIMITER ;\n\
            INSERT INTO `t` VALUES (3);\n\
            INSERT INTO `t` VALUES (4);\n\
            delimiter $$ \n\
            INSERT INTO `t` VALUES (5);\n\
            INSERT INTO `t` VALUES (6);\n\
            Delimiter  ; \n\
            INSERT INTO `t` VALUES (7);\n\
            INSERT INTO `t` VALUES (8);\n";
        let expected = "DELIMITER ;;\n\
            INSERT INTO `t` VALUES (1);\n\
            INSERT INTO `t` VALUES (2);\n\
            END ;;\n\
            DELIMITER ;\n\
            INSERT INTO `t` VALUES (3),(4);\n\
            delimiter $$ \n\
            INSERT INTO `t` VALUES (5);\n\
            INSERT INTO `t` VALUES (6);\n\
            Delimiter  ; \n\
            INSERT INTO `t` VALUES (7),(8);\n";
        assert_eq!(all_ways(input, DEFAULT_LIMIT), expected);
    }

    #[test]
    fn statements_stay_within_the_limit_and_a_longer_row_stays_alone() {
        let long = format!("INSERT INTO `t` VALUES ('{}');", "x".repeat(100));
        let input = format!(
            "INSERT INTO `t` VALUES (1);\nINSERT INTO `t` VALUES (2);\n\
             INSERT INTO `t` VALUES (3);\n{long}\nINSERT INTO `t` VALUES (4);\n"
        );
        // `INSERT INTO `t` VALUES (1),(2);` is 31 bytes: a third row does
        // not fit in 34.
        let expected = format!(
            "INSERT INTO `t` VALUES (1),(2);\nINSERT INTO `t` VALUES (3);\n\
             {long}\nINSERT INTO `t` VALUES (4);\n"
        );
        assert_eq!(all_ways(&input, 34), expected);
    }

    #[test]
    fn a_last_line_without_newline_is_merged_or_kept() {
        assert_eq!(
            all_ways(
                "INSERT INTO `t` VALUES (1);\nINSERT INTO `t` VALUES (2);",
                100
            ),
            "INSERT INTO `t` VALUES (1),(2);\n"
        );
        assert_eq!(
            all_ways("INSERT INTO `t` VALUES (1);\n-- end", 100),
            "INSERT INTO `t` VALUES (1);\n-- end"
        );
        assert_eq!(all_ways("", 100), "");
    }

    #[test]
    fn the_limit_follows_a_small_max_allowed_packet() {
        assert_eq!(limit_for(None), DEFAULT_LIMIT);
        assert_eq!(limit_for(Some(16 << 20)), DEFAULT_LIMIT);
        assert_eq!(limit_for(Some(65536)), 65536 - PACKET_MARGIN);
        assert_eq!(limit_for(Some(100)), 0);
    }

    /// A value as mariadb-dump writes it: numbers, NULL, hex, and strings
    /// of hostile characters escaped its way.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("NULL".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            proptest::collection::vec(any::<u8>(), 0..8)
                .prop_map(|b| format!("0x{}", hex::encode_upper(b))),
            proptest::collection::vec(
                prop_oneof![
                    Just("),(".to_owned()),
                    Just(");".to_owned()),
                    Just("'".to_owned()),
                    Just("\"".to_owned()),
                    Just("\\".to_owned()),
                    Just("\n".to_owned()),
                    Just("`".to_owned()),
                    Just("-- ".to_owned()),
                    Just("\u{1F600}".to_owned()),
                    "[a-z ]{0,5}",
                ],
                0..6
            )
            .prop_map(|parts| format!("'{}'", escape(&parts.concat()))),
        ]
    }

    fn escape(text: &str) -> String {
        let mut out = String::new();
        for c in text.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out
    }

    /// One line of a dump: a row of one of a few tables, or another line.
    #[derive(Debug, Clone)]
    enum Item {
        Row { table: String, tuple: String },
        Other(String),
    }

    fn item() -> impl Strategy<Value = Item> {
        let table = prop_oneof![Just("a"), Just("b``c"), Just("d e")].prop_map(str::to_owned);
        let row = (table, proptest::collection::vec(value(), 1..4)).prop_map(|(table, values)| {
            Item::Row {
                table,
                tuple: format!("({})", values.join(",")),
            }
        });
        let other = prop_oneof![
            Just("UNLOCK TABLES;"),
            Just(""),
            Just("/*!40000 ALTER TABLE `a` ENABLE KEYS */;"),
            Just("INSERT INTO `a` VALUES (1),(2);"),
        ]
        .prop_map(|s| Item::Other(s.to_owned()));
        prop_oneof![4 => row, 1 => other]
    }

    fn row_line(table: &str, tuple: &str) -> String {
        format!("INSERT INTO `{table}` VALUES {tuple};")
    }

    /// What the batcher must write, from what the generator knows: rows of
    /// the same table in a run, merged while the statement stays within
    /// `limit`.
    fn expected(items: &[Item], limit: usize) -> String {
        let mut out = String::new();
        let mut open: Option<(String, String)> = None;
        for item in items {
            match item {
                Item::Row { table, tuple } => {
                    if let Some((t, statement)) = open.as_mut() {
                        if t == table && statement.len() + tuple.len() + 2 <= limit {
                            statement.push(',');
                            statement.push_str(tuple);
                            continue;
                        }
                    }
                    if let Some((_, statement)) = open.take() {
                        out.push_str(&statement);
                        out.push_str(";\n");
                    }
                    let line = row_line(table, tuple);
                    if line.len() > limit {
                        out.push_str(&line);
                        out.push('\n');
                    } else {
                        open = Some((table.clone(), line[..line.len() - 1].to_owned()));
                    }
                }
                Item::Other(line) => {
                    if let Some((_, statement)) = open.take() {
                        out.push_str(&statement);
                        out.push_str(";\n");
                    }
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        if let Some((_, statement)) = open {
            out.push_str(&statement);
            out.push_str(";\n");
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn merges_exactly_the_rows_the_dump_has(
            items in proptest::collection::vec(item(), 0..40),
            limit in prop_oneof![Just(DEFAULT_LIMIT), 20usize..200],
            source_piece in 1usize..64,
            piece in 1usize..64,
        ) {
            let mut input = String::new();
            for item in &items {
                match item {
                    Item::Row { table, tuple } => input.push_str(&row_line(table, tuple)),
                    Item::Other(line) => input.push_str(line),
                }
                input.push('\n');
            }
            let out = batched(input.as_bytes(), limit, source_piece, piece);
            prop_assert_eq!(String::from_utf8(out).unwrap(), expected(&items, limit));
        }

        #[test]
        fn any_bytes_without_a_row_line_pass_through_unchanged(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            source_piece in 1usize..64,
        ) {
            let out = batched(&bytes, 64, source_piece, 17);
            let has_row = bytes.split(|&b| b == b'\n').any(|l| single_row_insert(l).is_some());
            if !has_row {
                prop_assert_eq!(out, bytes);
            }
        }
    }
}
