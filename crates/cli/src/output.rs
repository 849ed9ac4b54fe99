//! Printing: JSON documents for scripts, aligned text for people, and the
//! small formatting helpers both use.

use anyhow::Result;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::io::Write;

/// Prints one JSON document on standard output.
pub fn json<T: Serialize>(value: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Prints one line of a JSON-lines stream.
pub fn json_line<T: Serialize>(value: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Prints one line of text on standard output, reporting write errors.
pub fn line(text: &str) -> Result<()> {
    writeln!(std::io::stdout().lock(), "{text}")?;
    Ok(())
}

/// 1536 -> "1.5 KiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// How every time in text output is written: in UTC, and saying so.
pub const TEXT_TIME: &str = "%Y-%m-%d %H:%M:%S UTC";

/// A time for people: `2026-03-02 22:00:03 UTC`.
pub fn text_time(t: &DateTime<Utc>) -> String {
    t.format(TEXT_TIME).to_string()
}

/// A time for scripts: RFC 3339 in UTC ending in `Z`, with as many digits
/// of fraction as the time has (none, 3, 6 or 9): the form serde gives
/// every `DateTime<Utc>`, so that all JSON times read alike.
pub fn json_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A file time (nanoseconds since the epoch), if chrono can represent it.
fn time_of_ns(ns: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
}

/// A file time for people; the raw count when it is out of range.
pub fn text_time_ns(ns: i64) -> String {
    time_of_ns(ns).map_or_else(|| ns.to_string(), |t| text_time(&t))
}

/// A file time for scripts; `null` when it is out of range.
pub fn json_time_ns(ns: i64) -> Option<String> {
    time_of_ns(ns).map(|t| json_time(&t))
}

/// A time kept as text (a key file's creation, a storage's lock date,
/// which may be followed by words such as `(compliance mode)`), parsed so
/// that it is shown like every other: the time, and the words after it.
fn parse_stored(text: &str) -> Option<(DateTime<Utc>, &str)> {
    let (time, rest) = text.split_once(' ').unwrap_or((text, ""));
    let time = DateTime::parse_from_rfc3339(time).ok()?;
    Some((time.with_timezone(&Utc), rest))
}

/// A time kept as text, for people; as is if it does not parse.
pub fn text_time_str(text: &str) -> String {
    match parse_stored(text) {
        Some((t, "")) => text_time(&t),
        Some((t, rest)) => format!("{} {rest}", text_time(&t)),
        None => text.to_string(),
    }
}

/// A time kept as text, for scripts: the time alone; as is if it does not
/// parse.
pub fn json_time_str(text: &str) -> String {
    parse_stored(text).map_or_else(|| text.to_string(), |(t, _)| json_time(&t))
}

/// `1 file`, `2 files`: a count with its noun (or any words) in the right
/// number, `several` being the plural form.
pub fn count(n: u64, one: &str, several: &str) -> String {
    format!("{n} {}", agree(n, one, several))
}

/// The form of a word (`is`/`are`, `was`/`were`, `it`/`them`) that agrees
/// with a count of `n`.
pub fn agree<'a>(n: u64, one: &'a str, several: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        several
    }
}

pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
