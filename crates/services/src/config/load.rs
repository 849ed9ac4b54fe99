//! Reading the configuration file: TOML syntax, then each entry of each
//! section on its own, so that every broken entry is reported at once, each
//! problem with the line and column it comes from. The positions of every
//! key are kept ([`Positions`]) for the checks across sections, which find
//! their lines by key path while the model stays plain data.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::model::{Config, RecoveryConfig, WebConfig};

/// The largest configuration file read: a town's file is a few KiB, and a
/// larger one is the wrong file (a dump, a log) given by mistake.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The sections of the file, in the order the documentation gives them.
const SECTIONS: [&str; 6] = [
    "repositories",
    "servers",
    "sources",
    "services",
    "recovery",
    "web",
];

/// How serious a problem is: errors make the file unusable (`config check`
/// exits 1), warnings deserve a look, notes only inform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One problem of the file, where it is (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Problem {
    pub fn error(at: Position, message: impl Into<String>) -> Problem {
        Problem::new(Severity::Error, at, message)
    }

    pub fn warning(at: Position, message: impl Into<String>) -> Problem {
        Problem::new(Severity::Warning, at, message)
    }

    pub fn note(at: Position, message: impl Into<String>) -> Problem {
        Problem::new(Severity::Note, at, message)
    }

    fn new(severity: Severity, at: Position, message: impl Into<String>) -> Problem {
        Problem {
            severity,
            line: at.line,
            column: at.column,
            message: message.into(),
        }
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigErrors {
    #[error("cannot read the configuration file {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the configuration file {} is larger than 1 MiB: that is not a reprise configuration, give the right file", .path.display())]
    TooLarge { path: PathBuf },
    /// Every problem found, errors first by line.
    #[error("{}", render(.path, .problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn render(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}:{}:{}: {}", path.display(), p.line, p.column, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A line and column, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Where each key of the file is, by key path (`["services", "paie",
/// "depends_on", "0"]`: array elements by their index).
#[derive(Debug, Clone, Default)]
pub struct Positions {
    by_path: BTreeMap<Vec<String>, Position>,
}

impl Positions {
    /// The position of `path`, or of its nearest ancestor that is in the
    /// file (a missing field is reported on its table), or line 1.
    pub fn of(&self, path: &[&str]) -> Position {
        let mut path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        loop {
            if let Some(at) = self.by_path.get(&path) {
                return *at;
            }
            if path.pop().is_none() {
                return Position { line: 1, column: 1 };
            }
        }
    }

    /// Whether the file writes `path` itself (not only an ancestor).
    pub fn has(&self, path: &[&str]) -> bool {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.by_path.contains_key(&path)
    }

    fn record(&mut self, text: &str, path: &[String], span: Range<usize>) {
        self.by_path
            .entry(path.to_vec())
            .or_insert_with(|| position_of(text, span.start));
    }

    fn walk(&mut self, text: &str, path: &mut Vec<String>, value: &Spanned<DeValue<'_>>) {
        match value.get_ref() {
            DeValue::Table(table) => {
                for (key, child) in table.iter() {
                    path.push(key.get_ref().to_string());
                    self.record(text, path, key.span());
                    self.walk(text, path, child);
                    path.pop();
                }
            }
            DeValue::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    path.push(index.to_string());
                    self.record(text, path, child.span());
                    self.walk(text, path, child);
                    path.pop();
                }
            }
            _ => {}
        }
    }
}

/// The 1-based line and column of byte `offset` of `text` (columns in
/// characters).
fn position_of(text: &str, offset: usize) -> Position {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line: before.matches('\n').count() + 1,
        column: before.get(line_start..).unwrap_or("").chars().count() + 1,
    }
}

/// A configuration read from a file, with where each key is.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub path: PathBuf,
    pub config: Config,
    pub positions: Positions,
}

impl Config {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Ok(LoadedConfig::load(path)?.config)
    }

    /// Parses `text`, read from `path` (named in the errors).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
        Ok(LoadedConfig::parse(text, path)?.config)
    }
}

impl LoadedConfig {
    /// Reads and parses the file at `path`, refusing more than
    /// [`MAX_CONFIG_BYTES`].
    pub fn load(path: &Path) -> Result<LoadedConfig, ConfigErrors> {
        let read_error = |source| ConfigErrors::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigErrors::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            read_error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "it is not UTF-8 text (byte {})",
                    e.utf8_error().valid_up_to()
                ),
            ))
        })?;
        LoadedConfig::parse(&text, path)
    }

    /// Parses `text`, read from `path`: every syntax error, or else every
    /// entry that does not fit the model, each with its position.
    pub fn parse(text: &str, path: &Path) -> Result<LoadedConfig, ConfigErrors> {
        let invalid = |problems: Vec<Problem>| ConfigErrors::Invalid {
            path: path.to_path_buf(),
            problems,
        };
        let (root, syntax_errors) = DeTable::parse_recoverable(text);
        if !syntax_errors.is_empty() {
            let problems = syntax_errors
                .iter()
                .map(|e| syntax_problem(text, e))
                .collect();
            return Err(invalid(problems));
        }
        let mut positions = Positions::default();
        let root_value = Spanned::new(root.span(), DeValue::Table(root.get_ref().clone()));
        positions.walk(text, &mut Vec::new(), &root_value);
        let mut reader = SectionReader {
            text,
            positions: &positions,
            problems: Vec::new(),
        };
        let config = reader.config(root.into_inner());
        if !reader.problems.is_empty() {
            let mut problems = reader.problems;
            problems.sort_by_key(|p| (p.line, p.column));
            return Err(invalid(problems));
        }
        Ok(LoadedConfig {
            path: path.to_path_buf(),
            config,
            positions,
        })
    }
}

/// Reads the sections one entry at a time, collecting problems.
struct SectionReader<'a> {
    text: &'a str,
    positions: &'a Positions,
    problems: Vec<Problem>,
}

impl SectionReader<'_> {
    fn config(&mut self, root: DeTable<'_>) -> Config {
        let mut config = Config::default();
        for (key, value) in root {
            let name = key.get_ref().to_string();
            match name.as_str() {
                "repositories" => config.repositories = self.named_entries(&name, value),
                "servers" => config.servers = self.named_entries(&name, value),
                "sources" => config.sources = self.named_entries(&name, value),
                "services" => config.services = self.named_entries(&name, value),
                "recovery" => {
                    config.recovery = self
                        .entry::<RecoveryConfig>(value, &["recovery"], "[recovery]")
                        .unwrap_or_default()
                }
                "web" => {
                    config.web = self
                        .entry::<WebConfig>(value, &["web"], "[web]")
                        .unwrap_or_default()
                }
                _ => self.problems.push(Problem::error(
                    self.positions.of(&[&name]),
                    format!(
                        "unknown section `{name}`: the sections are {}",
                        SECTIONS.join(", ")
                    ),
                )),
            }
        }
        config
    }

    /// `[SECTION.NAME]` entries, each read on its own so that one broken
    /// entry does not hide the next.
    fn named_entries<T: DeserializeOwned>(
        &mut self,
        section: &str,
        value: Spanned<DeValue<'_>>,
    ) -> BTreeMap<String, T> {
        let mut entries = BTreeMap::new();
        let DeValue::Table(table) = value.get_ref() else {
            self.problems.push(Problem::error(
                self.positions.of(&[section]),
                format!("`{section}` must be a table of named entries, as [{section}.NAME]"),
            ));
            return entries;
        };
        for (key, entry) in table.iter() {
            let name = key.get_ref().to_string();
            let label = format!("[{section}.{name}]");
            if !matches!(entry.get_ref(), DeValue::Table(_)) {
                self.problems.push(Problem::error(
                    self.positions.of(&[section, &name]),
                    format!("{label} must be a table of settings"),
                ));
                continue;
            }
            if let Some(parsed) = self.entry::<T>(entry.clone(), &[section, &name], &label) {
                entries.insert(name, parsed);
            }
        }
        entries
    }

    /// Reads one entry (`path` is its key path, `label` how messages name it).
    fn entry<T: DeserializeOwned>(
        &mut self,
        value: Spanned<DeValue<'_>>,
        path: &[&str],
        label: &str,
    ) -> Option<T> {
        match T::deserialize(value.into_deserializer()) {
            Ok(parsed) => Some(parsed),
            Err(e) => {
                let at = self.position_of_error(&e, path);
                let message = readable(e.message());
                self.problems
                    .push(Problem::error(at, format!("{label}: {message}")));
                None
            }
        }
    }

    /// Where an entry's error is. Entries with a `type` (sources, health
    /// checks) are read through serde's buffer, which loses the spans: an
    /// unknown field is then found by its name among the entry's keys, and
    /// anything else is reported on the entry's first line.
    fn position_of_error(&self, err: &toml::de::Error, path: &[&str]) -> Position {
        let entry = self.positions.of(path);
        if let Some(field) = unknown_field(err.message()) {
            let mut field_path = path.to_vec();
            field_path.push(field);
            if self.positions.has(&field_path) {
                return self.positions.of(&field_path);
            }
        }
        match err.span() {
            Some(span) => {
                let at = position_of(self.text, span.start);
                if at.line < entry.line {
                    entry
                } else {
                    at
                }
            }
            None => entry,
        }
    }
}

/// serde's message on one line, with what it says of `databases` (an
/// untagged enum, whose own message names no field) said plainly.
fn readable(message: &str) -> String {
    if message.contains("untagged enum Databases") {
        return "databases must be \"all\" or a list of database names, as [\"etat_civil\"]"
            .to_string();
    }
    message.trim_end().replace('\n', " ")
}

/// The field named by serde's "unknown field `NAME`, expected …".
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// A syntax error as a problem, at its span.
fn syntax_problem(text: &str, err: &toml::de::Error) -> Problem {
    let offset = err.span().map_or(0, |s| s.start);
    let message = err.message().trim_end().replace('\n', " ");
    Problem::error(position_of(text, offset), format!("syntax: {message}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn problems(text: &str) -> Vec<Problem> {
        match LoadedConfig::parse(text, Path::new("t.toml")) {
            Ok(_) => Vec::new(),
            Err(ConfigErrors::Invalid { problems, .. }) => problems,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line_and_the_allowed_keys() {
        let p =
            problems("[repositories.local]\nlocation = \"/srv/r\"\npassword_fil = \"/etc/pw\"\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].line, p[0].column), (3, 1));
        assert!(
            p[0].message.contains("[repositories.local]"),
            "{}",
            p[0].message
        );
        assert!(p[0].message.contains("password_fil"), "{}", p[0].message);
        assert!(p[0].message.contains("password_file"), "{}", p[0].message);
    }

    #[test]
    fn every_broken_entry_is_reported_not_only_the_first() {
        let text = "\
[servers.a]
engine = \"postgres\"
port = \"5432\"

[servers.b]
engine = \"oracle\"

[services.x]
public_name = \"X\"
target = \"4 hours\"
";
        let p = problems(text);
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(p[0].line, 3);
        assert!(p[0].message.contains("[servers.a]"), "{}", p[0].message);
        assert_eq!(p[1].line, 6);
        assert!(p[1].message.contains("oracle"), "{}", p[1].message);
        assert_eq!(p[2].line, 10);
        assert!(
            p[2].message.contains("is not a duration"),
            "{}",
            p[2].message
        );
    }

    #[test]
    fn an_unknown_section_is_named_with_the_known_ones() {
        let p = problems("[service.x]\npublic_name = \"X\"\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].line, 1);
        assert!(
            p[0].message.contains("unknown section `service`"),
            "{}",
            p[0].message
        );
        assert!(p[0].message.contains("services"), "{}", p[0].message);
    }

    #[test]
    fn a_syntax_error_has_its_line_and_column() {
        let p = problems("[services.x]\npublic_name = \"X\"\npriority = = 2\n");
        assert!(!p.is_empty());
        assert_eq!(p[0].line, 3, "{p:?}");
        assert!(p[0].column > 1, "{p:?}");
    }

    #[test]
    fn a_file_over_one_mib_is_refused_without_being_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.toml");
        std::fs::write(&path, "#".repeat(MAX_CONFIG_BYTES as usize + 1)).unwrap();
        let err = LoadedConfig::load(&path).unwrap_err();
        assert!(matches!(err, ConfigErrors::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
    }

    #[test]
    fn positions_name_each_key_and_array_element() {
        let text = "[services.paie]\npublic_name = \"Paie\"\ndepends_on = [\n  \"annuaire\",\n  \"rh\",\n]\n";
        let loaded = LoadedConfig::parse(text, Path::new("t.toml")).unwrap();
        let at = loaded
            .positions
            .of(&["services", "paie", "depends_on", "1"]);
        assert_eq!((at.line, at.column), (5, 3));
        let missing = loaded.positions.of(&["services", "paie", "target"]);
        assert_eq!(missing.line, 1);
    }

    #[test]
    fn an_unknown_key_in_a_typed_source_is_on_its_line() {
        let text =
            "[sources.partages]\ntype = \"files\"\npaths = [\"/srv\"]\nexclude = [\"*.tmp\"]\n";
        let p = problems(text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].line, 4, "{p:?}");
        assert!(p[0].message.contains("exclude"), "{}", p[0].message);
    }

    #[test]
    fn databases_of_the_wrong_type_are_named_plainly() {
        let p = problems("[sources.db]\ntype = \"postgres\"\nserver = \"pg\"\ndatabases = 5\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].message.contains("databases must be \"all\" or a list"),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let depth = 100_000;
        let text = format!("a = {}{}\n", "[".repeat(depth), "]".repeat(depth));
        assert!(!problems(&text).is_empty());
    }
}
