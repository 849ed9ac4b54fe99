//! SQLite database files written by hand, following the documented file
//! format (<https://www.sqlite.org/fileformat2.html>): the 100-byte header,
//! the schema table on page 1, and one table b-tree per table (leaf pages of
//! records, interior pages above them when a table needs more than one page).
//! Enough for the town hall's small registers to open in any SQLite, without
//! a C compiler or a SQLite crate.

use crate::error::{Error, Result};

/// Bytes per page.
const PAGE: usize = 4096;
/// The largest payload a table leaf cell holds without overflow pages (U - 35).
const MAX_LOCAL: usize = PAGE - 35;

/// A column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// A table: its name, its `CREATE TABLE` statement and its rows (rowids 1,
/// 2, 3...). A column declared `INTEGER PRIMARY KEY` is the rowid: give it
/// as [`Value::Null`].
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub sql: String,
    pub rows: Vec<Vec<Value>>,
}

/// A database file holding `tables`.
pub fn database(tables: &[Table]) -> Result<Vec<u8>> {
    // Page 1 (the schema) is written last, once the tables' roots are known.
    let mut pages: Vec<Vec<u8>> = vec![Vec::new()];
    let mut schema = Vec::new();
    for table in tables {
        let cells = table
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| leaf_cell(i as u64 + 1, &record(row)))
            .collect::<Result<Vec<_>>>()?;
        let root = table_btree(&mut pages, cells)?;
        schema.push(vec![
            Value::Text("table".into()),
            Value::Text(table.name.clone()),
            Value::Text(table.name.clone()),
            Value::Int(root as i64),
            Value::Text(table.sql.clone()),
        ]);
    }
    let schema_cells = schema
        .iter()
        .enumerate()
        .map(|(i, row)| leaf_cell(i as u64 + 1, &record(row)))
        .collect::<Result<Vec<_>>>()?;
    let mut first = vec![0u8; PAGE];
    let placed = fill_leaf(&mut first, 100, &schema_cells);
    if placed < schema_cells.len() {
        return Err(Error::Invalid(
            "the schema of the SQLite file does not fit its first page".into(),
        ));
    }
    write_header(&mut first, pages.len() as u32);
    pages[0] = first;
    Ok(pages.concat())
}

/// The 100-byte database header.
fn write_header(page: &mut [u8], page_count: u32) {
    page[..16].copy_from_slice(b"SQLite format 3\0");
    page[16..18].copy_from_slice(&(PAGE as u16).to_be_bytes());
    page[18] = 1; // legacy (rollback journal) write version
    page[19] = 1; // read version
    page[20] = 0; // reserved bytes per page
    page[21] = 64; // maximum embedded payload fraction
    page[22] = 32; // minimum embedded payload fraction
    page[23] = 32; // leaf payload fraction
    page[24..28].copy_from_slice(&1u32.to_be_bytes()); // file change counter
    page[28..32].copy_from_slice(&page_count.to_be_bytes());
    // 32..40: no freelist.
    page[40..44].copy_from_slice(&1u32.to_be_bytes()); // schema cookie
    page[44..48].copy_from_slice(&4u32.to_be_bytes()); // schema format
    page[56..60].copy_from_slice(&1u32.to_be_bytes()); // UTF-8
    page[92..96].copy_from_slice(&1u32.to_be_bytes()); // version-valid-for
    page[96..100].copy_from_slice(&3_045_000u32.to_be_bytes());
}

/// Writes the b-tree of one table's cells into new pages; returns its root.
fn table_btree(pages: &mut Vec<Vec<u8>>, cells: Vec<(u64, Vec<u8>)>) -> Result<u32> {
    // Leaves: (page number, largest rowid).
    let mut level: Vec<(u32, u64)> = Vec::new();
    let mut rest = cells.as_slice();
    loop {
        let mut page = vec![0u8; PAGE];
        let placed = fill_leaf(&mut page, 0, rest);
        if placed == 0 && !rest.is_empty() {
            return Err(Error::Invalid("a SQLite row does not fit a page".into()));
        }
        let max_key = rest[..placed].last().map_or(0, |(k, _)| *k);
        pages.push(page);
        level.push((pages.len() as u32, max_key));
        rest = &rest[placed..];
        if rest.is_empty() {
            break;
        }
    }
    while level.len() > 1 {
        // Even chunks of at most INTERIOR_MAX children: none is left alone.
        let chunks = level.len().div_ceil(INTERIOR_MAX);
        let per_page = level.len().div_ceil(chunks);
        let mut above = Vec::new();
        for children in level.chunks(per_page) {
            let mut page = vec![0u8; PAGE];
            fill_interior(&mut page, children);
            let max_key = children.last().map_or(0, |(_, k)| *k);
            pages.push(page);
            above.push((pages.len() as u32, max_key));
        }
        level = above;
    }
    Ok(level.first().map_or(0, |(page, _)| *page))
}

/// Fills a table leaf page (b-tree header at `start`) with as many of
/// `cells` as fit; returns how many.
fn fill_leaf(page: &mut [u8], start: usize, cells: &[(u64, Vec<u8>)]) -> usize {
    let mut content = PAGE;
    let mut count = 0;
    for (_, cell) in cells {
        let pointers_end = start + 8 + 2 * (count + 1);
        if content < cell.len() || content - cell.len() < pointers_end {
            break;
        }
        content -= cell.len();
        page[content..content + cell.len()].copy_from_slice(cell);
        let at = start + 8 + 2 * count;
        page[at..at + 2].copy_from_slice(&(content as u16).to_be_bytes());
        count += 1;
    }
    page[start] = 0x0d;
    page[start + 3..start + 5].copy_from_slice(&(count as u16).to_be_bytes());
    page[start + 5..start + 7].copy_from_slice(&(content as u16).to_be_bytes());
    count
}

/// Children per interior page at most: a cell is a 4-byte page number and a
/// rowid of at most 9 bytes, plus its 2-byte pointer.
const INTERIOR_MAX: usize = (PAGE - 12) / 15;

/// Writes a table interior page over `children` (page, largest rowid below
/// it; at most [`INTERIOR_MAX`]): the last one is the right-most pointer.
fn fill_interior(page: &mut [u8], children: &[(u32, u64)]) {
    let mut content = PAGE;
    let cells = children.len().saturating_sub(1);
    for (count, (child, key)) in children[..cells].iter().enumerate() {
        let mut cell = child.to_be_bytes().to_vec();
        put_varint(&mut cell, *key);
        content -= cell.len();
        page[content..content + cell.len()].copy_from_slice(&cell);
        let at = 12 + 2 * count;
        page[at..at + 2].copy_from_slice(&(content as u16).to_be_bytes());
    }
    let right = children.last().map_or(0, |(page, _)| *page);
    page[0] = 0x05;
    page[3..5].copy_from_slice(&(cells as u16).to_be_bytes());
    page[5..7].copy_from_slice(&(content as u16).to_be_bytes());
    page[8..12].copy_from_slice(&right.to_be_bytes());
}

/// A table leaf cell: payload size, rowid, payload.
fn leaf_cell(rowid: u64, payload: &[u8]) -> Result<(u64, Vec<u8>)> {
    if payload.len() > MAX_LOCAL {
        return Err(Error::Invalid(format!(
            "a SQLite row of {} bytes would need overflow pages",
            payload.len()
        )));
    }
    let mut cell = Vec::with_capacity(payload.len() + 12);
    put_varint(&mut cell, payload.len() as u64);
    put_varint(&mut cell, rowid);
    cell.extend_from_slice(payload);
    Ok((rowid, cell))
}

/// A record: header (its size, then each value's serial type), then bodies.
fn record(values: &[Value]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut body = Vec::new();
    for value in values {
        match value {
            Value::Null => put_varint(&mut types, 0),
            Value::Int(0) => put_varint(&mut types, 8),
            Value::Int(1) => put_varint(&mut types, 9),
            Value::Int(i) => {
                let (serial, width) = int_width(*i);
                put_varint(&mut types, serial);
                body.extend_from_slice(&i.to_be_bytes()[8 - width..]);
            }
            Value::Real(r) => {
                put_varint(&mut types, 7);
                body.extend_from_slice(&r.to_bits().to_be_bytes());
            }
            Value::Text(t) => {
                put_varint(&mut types, 13 + 2 * t.len() as u64);
                body.extend_from_slice(t.as_bytes());
            }
        }
    }
    // The header size counts itself: one byte unless the types are long.
    let mut size = types.len() + 1;
    let mut header = Vec::new();
    loop {
        header.clear();
        put_varint(&mut header, size as u64);
        if header.len() + types.len() == size {
            break;
        }
        size = header.len() + types.len();
    }
    header.extend_from_slice(&types);
    header.extend_from_slice(&body);
    header
}

/// The serial type and byte width of an integer.
fn int_width(i: i64) -> (u64, usize) {
    match i {
        -0x80..=0x7f => (1, 1),
        -0x8000..=0x7fff => (2, 2),
        -0x80_0000..=0x7f_ffff => (3, 3),
        -0x8000_0000..=0x7fff_ffff => (4, 4),
        -0x8000_0000_0000..=0x7fff_ffff_ffff => (5, 6),
        _ => (6, 8),
    }
}

/// SQLite's big-endian variable-length integer.
fn put_varint(out: &mut Vec<u8>, v: u64) {
    if v >> 56 != 0 {
        let mut high = v >> 8;
        let mut bytes = [0u8; 8];
        for b in bytes.iter_mut().rev() {
            *b = (high & 0x7f) as u8 | 0x80;
            high >>= 7;
        }
        out.extend_from_slice(&bytes);
        out.push(v as u8);
        return;
    }
    let mut groups = Vec::with_capacity(9);
    let mut x = v;
    loop {
        groups.push((x & 0x7f) as u8);
        x >>= 7;
        if x == 0 {
            break;
        }
    }
    for (i, g) in groups.iter().enumerate().rev() {
        out.push(if i == 0 { *g } else { g | 0x80 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn varint(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        out
    }

    #[test]
    fn varints_follow_the_format() {
        assert_eq!(varint(0), [0]);
        assert_eq!(varint(127), [0x7f]);
        assert_eq!(varint(128), [0x81, 0x00]);
        assert_eq!(varint(300), [0x82, 0x2c]);
        assert_eq!(varint(u64::MAX).len(), 9);
    }

    fn registre(rows: usize) -> Vec<Table> {
        vec![
            Table {
                name: "naissances".into(),
                sql: "CREATE TABLE naissances(id INTEGER PRIMARY KEY, nom TEXT, prenom TEXT, poids REAL, annee INTEGER)".into(),
                rows: (0..rows)
                    .map(|i| {
                        vec![
                            Value::Null,
                            Value::Text(format!("DUPONT-{i}")),
                            Value::Text("Élodie".into()),
                            Value::Real(3.25),
                            Value::Int(1990 + (i as i64 % 30)),
                        ]
                    })
                    .collect(),
            },
            Table {
                name: "vide".into(),
                sql: "CREATE TABLE vide(x)".into(),
                rows: Vec::new(),
            },
        ]
    }

    /// python3's sqlite3 opens the file, passes the integrity check and reads every row.
    #[test]
    fn python_sqlite3_reads_the_rows() {
        let python = Command::new("python3").arg("--version").output();
        if python.is_err() {
            eprintln!("python3 missing: skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        // 3 000 rows need several leaves and an interior root; 40 000 two levels.
        for rows in [0, 3, 3000, 40_000] {
            let path = dir.path().join(format!("registre-{rows}.sqlite"));
            let bytes = database(&registre(rows)).unwrap();
            assert_eq!(bytes.len() % PAGE, 0);
            std::fs::write(&path, &bytes).unwrap();
            let script = "import sqlite3, sys\n\
                c = sqlite3.connect(sys.argv[1])\n\
                print(c.execute('pragma integrity_check').fetchone()[0])\n\
                print(c.execute('select count(*), min(id), max(id), sum(annee) from naissances').fetchone())\n\
                print(c.execute('select nom, prenom, poids from naissances where id = 3').fetchone())\n\
                print(c.execute('select count(*) from vide').fetchone()[0])\n";
            let out = Command::new("python3")
                .arg("-c")
                .arg(script)
                .arg(&path)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{rows} rows: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let lines: Vec<&str> = stdout.lines().collect();
            assert_eq!(lines[0], "ok", "{rows} rows: {stdout}");
            let sum: i64 = (0..rows as i64).map(|i| 1990 + i % 30).sum();
            if rows == 0 {
                assert_eq!(lines[1], "(0, None, None, None)");
            } else {
                assert_eq!(lines[1], format!("({rows}, 1, {rows}, {sum})"));
                assert_eq!(lines[2], "('DUPONT-2', 'Élodie', 3.25)");
            }
            assert_eq!(lines[3], "0");
        }
    }
}
