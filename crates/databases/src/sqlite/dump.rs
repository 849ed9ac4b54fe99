//! The SQL text of an SQLite dump, written from one read transaction.
//!
//! The format is the `sqlite3` shell's `.dump`, made deterministic and one
//! row per line: `PRAGMA foreign_keys=OFF;` and `BEGIN TRANSACTION;`, then
//! each table in name order (its `CREATE TABLE` text as the database keeps
//! it, then its rows as `INSERT INTO "t" VALUES(...);` in rowid order, or
//! primary key order for a `WITHOUT ROWID` table), then the AUTOINCREMENT
//! counters (`DELETE FROM sqlite_sequence;` and its rows), then indexes,
//! views and triggers in the order they were created (so a trigger on a
//! view finds its view), and `COMMIT;`.
//!
//! Values: integers in decimal; reals in the shortest form that reads back
//! to the same bits (infinities as `9e999` and `-9e999`, NaN as NULL, as
//! SQLite itself stores it); text quoted with `'` doubled and line feeds,
//! carriage returns and NUL characters written as `'||char(10)||'` so that
//! a row never spans lines; text that is not valid UTF-8 as
//! `CAST(X'..' AS TEXT)`; blobs as `X'..'`. Generated columns are left out
//! (the restored table computes them), with the stored columns named in
//! the `INSERT`. A virtual table (a full-text index, an R-tree) is written
//! as the shell writes it: `PRAGMA writable_schema=ON;` and its row of
//! `sqlite_schema` at the top, its shadow tables (where its content lives)
//! dumped as ordinary tables, `PRAGMA writable_schema=OFF;` at the end.
//! The query planner's statistics (`sqlite_stat1`...) are left out, like
//! every other internal `sqlite_` table: `ANALYZE` rebuilds them.

use std::fmt::Write as _;
use std::io::Write;

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use crate::{DbError, TableStats};

/// Why a dump (or the re-dump of a verification) stopped.
#[derive(Debug)]
pub(super) enum Failure {
    Sqlite {
        action: String,
        error: rusqlite::Error,
    },
    Write(std::io::Error),
}

impl Failure {
    fn sqlite(action: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Failure {
        let action = action.into();
        move |error| Failure::Sqlite { action, error }
    }

    /// The error a user sees, naming the database file.
    pub(super) fn for_path(self, path: &str) -> DbError {
        match self {
            Failure::Sqlite { action, error } => super::sqlite_error(path, &action, &error),
            Failure::Write(source) => DbError::Io {
                context: format!("writing the dump of {path}"),
                source,
            },
        }
    }
}

/// One table to dump: how to create it, read its rows and write them back.
pub(super) struct Table {
    name: String,
    /// The `CREATE TABLE` text; `None` for `sqlite_sequence`, which
    /// SQLite creates itself.
    create_sql: Option<String>,
    select: String,
    insert_prefix: String,
}

/// Everything a dump writes, read once at the start of its transaction.
pub(super) struct Schema {
    tables: Vec<Table>,
    /// Name and `CREATE VIRTUAL TABLE` text: only their schema entry is
    /// written, their content is in their shadow tables, dumped as tables.
    virtual_tables: Vec<(String, String)>,
    sequence: Option<Table>,
    /// Indexes, views and triggers, in creation order.
    others: Vec<String>,
}

impl Schema {
    pub(super) fn read(conn: &Connection) -> Result<Schema, Failure> {
        let kinds = table_kinds(conn)?;
        let mut schema = Schema {
            tables: Vec::new(),
            virtual_tables: Vec::new(),
            sequence: None,
            others: other_objects(conn)?,
        };
        let listed: Vec<(String, Option<String>)> = query_rows(
            conn,
            "SELECT name, sql FROM main.sqlite_schema WHERE type = 'table' ORDER BY name",
            "read the schema of",
        )?;
        for (name, sql) in listed {
            let kind = kinds.iter().find(|t| t.name == name);
            let without_rowid = kind.is_some_and(|t| t.without_rowid);
            let is_virtual = kind.is_some_and(|t| t.kind == "virtual")
                || sql.as_deref().is_some_and(|sql| {
                    sql.get(..20)
                        .is_some_and(|start| start.eq_ignore_ascii_case("CREATE VIRTUAL TABLE"))
                });
            if name == "sqlite_sequence" {
                schema.sequence = Some(Table::read(conn, name, None, false)?);
            } else if name.to_ascii_lowercase().starts_with("sqlite_") {
                continue;
            } else if let Some(sql) = sql {
                if is_virtual {
                    schema.virtual_tables.push((name, sql));
                } else {
                    schema
                        .tables
                        .push(Table::read(conn, name, Some(sql), without_rowid)?);
                }
            }
        }
        Ok(schema)
    }
}

/// A table of the main schema as `pragma table_list` describes it.
struct TableKind {
    name: String,
    /// `table`, `virtual`, `shadow`...
    kind: String,
    without_rowid: bool,
}

fn table_kinds(conn: &Connection) -> Result<Vec<TableKind>, Failure> {
    let rows: Vec<(String, String, bool)> = query_rows(
        conn,
        "SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main'",
        "list the tables of",
    )?;
    Ok(rows
        .into_iter()
        .map(|(name, kind, without_rowid)| TableKind {
            name,
            kind,
            without_rowid,
        })
        .collect())
}

fn other_objects(conn: &Connection) -> Result<Vec<String>, Failure> {
    query_rows(
        conn,
        "SELECT sql FROM main.sqlite_schema \
         WHERE type IN ('index', 'view', 'trigger') AND sql IS NOT NULL \
         AND tbl_name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
        "read the schema of",
    )
}

fn query_rows<T: TupleFromRow>(
    conn: &Connection,
    sql: &str,
    action: &str,
) -> Result<Vec<T>, Failure> {
    let mut statement = conn.prepare(sql).map_err(Failure::sqlite(action))?;
    let rows = statement
        .query_map([], T::from_row)
        .map_err(Failure::sqlite(action))?;
    rows.collect::<Result<Vec<T>, _>>()
        .map_err(Failure::sqlite(action))
}

/// Reads a row of one, two or three columns into a value or tuple.
trait TupleFromRow: Sized {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

impl TupleFromRow for String {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        row.get(0)
    }
}

impl<A: rusqlite::types::FromSql, B: rusqlite::types::FromSql> TupleFromRow for (A, B) {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((row.get(0)?, row.get(1)?))
    }
}

impl<A: rusqlite::types::FromSql, B: rusqlite::types::FromSql, C: rusqlite::types::FromSql>
    TupleFromRow for (A, B, C)
{
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    }
}

impl Table {
    fn read(
        conn: &Connection,
        name: String,
        create_sql: Option<String>,
        without_rowid: bool,
    ) -> Result<Table, Failure> {
        let action = format!("read the columns of table {name} in");
        let columns: Vec<(String, i64)> = column_list(conn, "table_xinfo", &name, &action)?;
        // Generated columns (hidden 2 and 3) cannot be inserted into.
        let stored: Vec<&str> = columns
            .iter()
            .filter(|(_, hidden)| *hidden == 0)
            .map(|(column, _)| column.as_str())
            .collect();
        let has_generated = stored.len() < columns.len();
        let order = if without_rowid {
            let keys: Vec<(String, i64)> = column_list(conn, "table_info", &name, &action)?;
            let mut keys: Vec<(i64, String)> = keys
                .into_iter()
                .map(|(c, pk)| (pk, c))
                .filter(|(pk, _)| *pk > 0)
                .collect();
            keys.sort();
            keys.iter()
                .map(|(_, c)| quote_name(c))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            rowid_order(&columns)
        };
        let stored_list = stored
            .iter()
            .map(|c| quote_name(c))
            .collect::<Vec<_>>()
            .join(",");
        let quoted = if create_sql.is_none() {
            name.clone()
        } else {
            quote_name(&name)
        };
        let select = format!(
            "SELECT {stored_list} FROM main.{} ORDER BY {order}",
            quote_name(&name)
        );
        let insert_prefix = if has_generated {
            format!("INSERT INTO {quoted}({stored_list}) VALUES(")
        } else {
            format!("INSERT INTO {quoted} VALUES(")
        };
        Ok(Table {
            name,
            create_sql,
            select,
            insert_prefix,
        })
    }
}

/// `(name, hidden)` from `table_xinfo`, or `(name, pk)` from `table_info`.
fn column_list(
    conn: &Connection,
    pragma: &str,
    table: &str,
    action: &str,
) -> Result<Vec<(String, i64)>, Failure> {
    let second = if pragma == "table_xinfo" {
        "hidden"
    } else {
        "pk"
    };
    let sql = format!("SELECT name, {second} FROM pragma_{pragma}(?1, 'main') ORDER BY cid");
    let mut statement = conn.prepare(&sql).map_err(Failure::sqlite(action))?;
    let rows = statement
        .query_map([table], |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(Failure::sqlite(action))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(Failure::sqlite(action))
}

/// The first of SQLite's names for the rowid that no column hides, or
/// every column when a table hides all three.
fn rowid_order(columns: &[(String, i64)]) -> String {
    let hidden = |alias: &str| columns.iter().any(|(c, _)| c.eq_ignore_ascii_case(alias));
    match ["rowid", "_rowid_", "oid"]
        .into_iter()
        .find(|alias| !hidden(alias))
    {
        Some(alias) => alias.to_string(),
        None => (1..=columns.len())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// `name` as an SQL identifier: in double quotes, inner ones doubled.
pub(super) fn quote_name(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Counts what passes through to the inner writer.
struct Counting<W: Write> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the whole dump to `out`; returns each table's stats in dump
/// order and the number of bytes written.
pub(super) fn write_dump<W: Write>(
    conn: &Connection,
    schema: &Schema,
    out: W,
) -> Result<(Vec<TableStats>, u64), Failure> {
    let mut out = std::io::BufWriter::with_capacity(
        64 << 10,
        Counting {
            inner: out,
            bytes: 0,
        },
    );
    let mut stats = Vec::with_capacity(schema.tables.len() + 1);
    out.write_all(b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n")
        .map_err(Failure::Write)?;
    if !schema.virtual_tables.is_empty() {
        write_virtual_tables(&mut out, &schema.virtual_tables)?;
    }
    for table in &schema.tables {
        if let Some(sql) = &table.create_sql {
            write_statement(&mut out, sql)?;
        }
        stats.push(write_rows(conn, table, &mut out)?);
    }
    if let Some(sequence) = &schema.sequence {
        out.write_all(b"DELETE FROM sqlite_sequence;\n")
            .map_err(Failure::Write)?;
        stats.push(write_rows(conn, sequence, &mut out)?);
    }
    for sql in &schema.others {
        write_statement(&mut out, sql)?;
    }
    if !schema.virtual_tables.is_empty() {
        out.write_all(b"PRAGMA writable_schema=OFF;\n")
            .map_err(Failure::Write)?;
    }
    out.write_all(b"COMMIT;\n").map_err(Failure::Write)?;
    let counting = out
        .into_inner()
        .map_err(|e| Failure::Write(e.into_error()))?;
    Ok((stats, counting.bytes))
}

/// Virtual tables go straight into the schema table, as the `sqlite3`
/// shell does: `CREATE VIRTUAL TABLE` would create new, empty shadow
/// tables, where these must come back with the shadow tables' rows.
fn write_virtual_tables(out: &mut impl Write, tables: &[(String, String)]) -> Result<(), Failure> {
    let mut text = String::from("PRAGMA writable_schema=ON;\n");
    for (name, sql) in tables {
        text.push_str("INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql)VALUES('table',");
        push_text(&mut text, name);
        text.push(',');
        push_text(&mut text, name);
        text.push_str(",0,");
        push_text(&mut text, sql);
        text.push_str(");\n");
    }
    out.write_all(text.as_bytes()).map_err(Failure::Write)
}

/// A schema statement and its semicolon; on a line of its own when the
/// text ends in a `--` comment that would swallow it.
fn write_statement(out: &mut impl Write, sql: &str) -> Result<(), Failure> {
    let mut terminated = format!("{sql};").into_bytes();
    let text = if super::restore::is_complete(&mut terminated) {
        format!("{sql};\n")
    } else {
        format!("{sql}\n;\n")
    };
    out.write_all(text.as_bytes()).map_err(Failure::Write)
}

fn write_rows(
    conn: &Connection,
    table: &Table,
    out: &mut impl Write,
) -> Result<TableStats, Failure> {
    let action = format!("read table {} of", table.name);
    let mut statement = conn
        .prepare(&table.select)
        .map_err(Failure::sqlite(action.as_str()))?;
    let width = statement.column_count();
    let mut rows = statement
        .query([])
        .map_err(Failure::sqlite(action.as_str()))?;
    let mut hasher = blake3::Hasher::new();
    let mut count = 0u64;
    let mut line = String::new();
    while let Some(row) = rows.next().map_err(Failure::sqlite(action.as_str()))? {
        line.clear();
        line.push_str(&table.insert_prefix);
        for i in 0..width {
            if i > 0 {
                line.push(',');
            }
            let value = row.get_ref(i).map_err(Failure::sqlite(action.as_str()))?;
            push_value(&mut line, value);
        }
        line.push_str(");\n");
        hasher.update(line.as_bytes());
        out.write_all(line.as_bytes()).map_err(Failure::Write)?;
        count += 1;
    }
    Ok(TableStats {
        table: table.name.clone(),
        rows: count,
        checksum: hasher.finalize().to_hex().to_string(),
    })
}

/// Appends `value` as an SQL literal that reads back to the same value.
pub(super) fn push_value(line: &mut String, value: ValueRef<'_>) {
    match value {
        ValueRef::Null => line.push_str("NULL"),
        ValueRef::Integer(i) => {
            let _ = write!(line, "{i}");
        }
        ValueRef::Real(r) => push_real(line, r),
        ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => push_text(line, text),
            Err(_) => {
                let _ = write!(line, "CAST(X'{}' AS TEXT)", hex::encode(bytes));
            }
        },
        ValueRef::Blob(bytes) => {
            let _ = write!(line, "X'{}'", hex::encode(bytes));
        }
    }
}

fn push_real(line: &mut String, r: f64) {
    if r.is_nan() {
        line.push_str("NULL");
    } else if r.is_infinite() {
        line.push_str(if r > 0.0 { "9e999" } else { "-9e999" });
    } else {
        // Rust's `{:?}` is the shortest text that parses back to the same
        // bits, and always has a `.` or an exponent, so SQLite reads a real.
        let _ = write!(line, "{r:?}");
    }
}

fn push_text(line: &mut String, text: &str) {
    // Line breaks and NUL go outside the quotes as char(N), joined with ||.
    line.push('\'');
    let mut quoted = true;
    for c in text.chars() {
        let code = match c {
            '\n' => 10,
            '\r' => 13,
            '\0' => 0,
            c => {
                if !quoted {
                    line.push_str("||'");
                    quoted = true;
                }
                if c == '\'' {
                    line.push('\'');
                }
                line.push(c);
                continue;
            }
        };
        if quoted {
            line.push('\'');
            quoted = false;
        }
        let _ = write!(line, "||char({code})");
    }
    if quoted {
        line.push('\'');
    }
}
