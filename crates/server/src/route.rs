//! Request paths: what a path designates, and the refusal of anything else.
//!
//! The only paths are `/<repo>/`, `/<repo>/<kind>/` and
//! `/<repo>/<kind>/<name>`. Every segment is checked against a closed
//! alphabet before it comes near the file system, and percent-encoding is
//! refused outright (no valid segment needs it), so `..`, `%2e%2e`, an
//! absolute path or a NUL can never reach a file name.

use reprise_storage::{validate_name, ObjectKind};

/// Names under `data_dir` that belong to the server, not to a repository.
/// Each also reserves every name that extends it after a dot (the usage
/// file's temporary copy `usage.json.tmp`, a rotated `audit.log.1`): a
/// repository there would stop the server from writing its own files.
const RESERVED: [&str; 3] = ["tls", "audit.log", "usage.json"];

/// Repository names: `[a-z0-9][a-z0-9._-]{0,63}`, minus the server's own
/// files. The first character rules out `.` and `..`; the alphabet rules
/// out `/`.
pub fn valid_repo_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(&c))
        && !is_reserved(name)
}

fn is_reserved(name: &str) -> bool {
    RESERVED.iter().any(|r| {
        name.strip_prefix(r)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    })
}

/// What a request path designates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Repo(String),
    List {
        repo: String,
        kind: ObjectKind,
    },
    Object {
        repo: String,
        kind: ObjectKind,
        name: String,
    },
}

impl Target {
    pub fn repo(&self) -> &str {
        match self {
            Target::Repo(r) | Target::List { repo: r, .. } | Target::Object { repo: r, .. } => r,
        }
    }

    pub fn kind(&self) -> Option<ObjectKind> {
        match self {
            Target::Repo(_) => None,
            Target::List { kind, .. } | Target::Object { kind, .. } => Some(*kind),
        }
    }

    pub fn object(&self) -> Option<&str> {
        match self {
            Target::Object { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The methods this path accepts, for `Allow` headers.
    pub fn allowed_methods(&self) -> &'static str {
        match self {
            Target::Repo(_) => "POST",
            Target::List { .. } => "GET, HEAD",
            Target::Object { .. } => "GET, HEAD, PUT, DELETE",
        }
    }
}

/// Why a path designates nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("percent-encoded paths are refused: names never need encoding")]
    Encoded,
    #[error("query strings are not part of the protocol")]
    Query,
    #[error("{0:?} is not a repository name ([a-z0-9][a-z0-9._-]{{0,63}})")]
    Repo(String),
    #[error("{0:?} is not an object kind (config, key, pack, index, snapshot, mark)")]
    Kind(String),
    #[error("{0:?} is not a valid object name")]
    Name(String),
    #[error("no such path: the protocol has /<repo>/, /<repo>/<kind>/ and /<repo>/<kind>/<name>")]
    Shape,
}

/// Parses a request path (and query, which must be absent).
pub fn parse(path: &str, query: Option<&str>) -> Result<Target, PathError> {
    if query.is_some() {
        return Err(PathError::Query);
    }
    if path.contains('%') {
        return Err(PathError::Encoded);
    }
    let rest = path.strip_prefix('/').ok_or(PathError::Shape)?;
    // A trailing slash is optional on the repository and on listings.
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut segments = rest.split('/');
    let repo = segments.next().unwrap_or_default();
    if !valid_repo_name(repo) {
        return Err(PathError::Repo(printable(repo)));
    }
    let repo = repo.to_string();
    let Some(kind_name) = segments.next() else {
        return Ok(Target::Repo(repo));
    };
    let kind =
        ObjectKind::from_name(kind_name).ok_or_else(|| PathError::Kind(printable(kind_name)))?;
    let Some(name) = segments.next() else {
        return Ok(Target::List { repo, kind });
    };
    if segments.next().is_some() {
        return Err(PathError::Shape);
    }
    validate_name(kind, name).map_err(|_| PathError::Name(printable(name)))?;
    Ok(Target::Object {
        repo,
        kind,
        name: name.to_string(),
    })
}

/// A segment as it may appear in a message: bounded, control characters escaped.
fn printable(s: &str) -> String {
    s.chars().take(80).flat_map(char::escape_default).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_use_a_closed_alphabet() {
        for good in [
            "mairie",
            "0",
            "compta-2024",
            "a.b_c",
            "tlsx",
            "usage",
            &"x".repeat(64),
        ] {
            assert!(valid_repo_name(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "-x",
            "_x",
            "Mairie",
            "a/b",
            "a b",
            "é",
            "tls",
            "audit.log",
            "usage.json",
            "usage.json.tmp",
            "audit.log.1",
            "tls.old",
            &"x".repeat(65),
            "a\0",
        ] {
            assert!(!valid_repo_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_three_shapes_of_path_parse() {
        assert_eq!(parse("/m/", None), Ok(Target::Repo("m".into())));
        assert_eq!(parse("/m", None), Ok(Target::Repo("m".into())));
        assert_eq!(
            parse("/m/pack/", None),
            Ok(Target::List {
                repo: "m".into(),
                kind: ObjectKind::Pack
            })
        );
        let obj = parse("/m/snapshot/00ff", None).unwrap();
        assert_eq!(
            (obj.kind(), obj.object()),
            (Some(ObjectKind::Snapshot), Some("00ff"))
        );
        assert!(parse("/m/config/config", None).is_ok());
    }

    #[test]
    fn traversal_and_other_tricks_are_refused() {
        for (path, err) in [
            ("/m/pack/..", PathError::Name("..".into())),
            ("/m/../etc/passwd", PathError::Kind("..".into())),
            ("/../m/pack/00", PathError::Repo("..".into())),
            ("/m/pack/%2e%2e", PathError::Encoded),
            ("/%2e%2e/pack/00", PathError::Encoded),
            ("//etc/passwd", PathError::Repo(String::new())),
            ("/m/pack//etc", PathError::Shape),
            ("/m/pack/x/", PathError::Name("x".into())),
            ("/m/pack/00\0", PathError::Name("00\\u{0}".into())),
            ("/m/pack/00/extra", PathError::Shape),
            ("/m/packs/00", PathError::Kind("packs".into())),
            ("/m/config/other", PathError::Name("other".into())),
            ("/m/pack/ABCD", PathError::Name("ABCD".into())),
            ("/tls/pack/00", PathError::Repo("tls".into())),
            ("m/pack/00", PathError::Shape),
            ("/", PathError::Repo(String::new())),
        ] {
            assert_eq!(parse(path, None), Err(err), "{path}");
        }
        assert_eq!(parse("/m/pack/00", Some("x=1")), Err(PathError::Query));
    }
}
