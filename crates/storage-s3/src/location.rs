//! Where an S3 repository lives: the `s3:` location syntax, the object keys
//! under its prefix, and the settings read from the environment
//! (credentials, region, addressing style).
//!
//! `s3:https://endpoint[:port]/bucket[/prefix/…]` (or `s3:http://` for a
//! server on the local network). The object keys mirror the local layout:
//! `<prefix>/config`, `<prefix>/keys/<name>`,
//! `<prefix>/data/<first two hex digits>/<name>`, `<prefix>/index/<name>`,
//! `<prefix>/snapshots/<name>`, `<prefix>/marks/<name>`.

use reprise_storage::ObjectKind;
use std::fmt;

/// Why a location or the environment cannot make an S3 backend.
#[derive(Debug, thiserror::Error)]
pub enum S3ConfigError {
    #[error(
        "invalid S3 location {location:?}: {reason}; expected s3:https://ENDPOINT/BUCKET[/PREFIX]"
    )]
    Location { location: String, reason: String },
    #[error("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)")]
    MissingCredentials,
    #[error("REPRISE_S3_ADDRESSING={value:?}: expected \"path\" or \"virtual\"")]
    Addressing { value: String },
    #[error("cannot start the S3 client's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// A parsed `s3:` location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// `http(s)://host[:port]`, without a trailing slash.
    pub endpoint: String,
    pub bucket: String,
    /// Key prefix without leading or trailing slashes; empty for the bucket's root.
    pub prefix: String,
}

impl S3Location {
    /// Parses `s3:https://endpoint/bucket/prefix`.
    pub fn parse(text: &str) -> Result<S3Location, S3ConfigError> {
        let bad = |reason: &str| S3ConfigError::Location {
            location: text.to_string(),
            reason: reason.to_string(),
        };
        let rest = text
            .strip_prefix("s3:")
            .ok_or_else(|| bad("it does not start with s3:"))?;
        let (scheme, rest) = if let Some(r) = rest.strip_prefix("https://") {
            ("https", r)
        } else if let Some(r) = rest.strip_prefix("http://") {
            ("http", r)
        } else {
            return Err(bad("the endpoint must start with https:// or http://"));
        };
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        check_host(host).map_err(|r| bad(&r))?;
        let path = path.trim_end_matches('/');
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        check_bucket(bucket).map_err(|r| bad(&r))?;
        check_prefix(prefix).map_err(|r| bad(&r))?;
        Ok(S3Location {
            endpoint: format!("{scheme}://{host}"),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The key prefix of one kind's objects, ending in `/` (`config`'s is its key).
    pub fn kind_prefix(&self, kind: ObjectKind) -> String {
        match kind {
            ObjectKind::Config => self.join("config"),
            _ => self.join(&format!("{}/", kind.dir_name())),
        }
    }

    /// The key of one object. The name must already be validated.
    pub fn key_of(&self, kind: ObjectKind, name: &str) -> String {
        match kind {
            // `config` or its copy `config.copy`.
            ObjectKind::Config => self.join(name),
            ObjectKind::Pack => {
                let fan = name.get(..2).unwrap_or("00");
                self.join(&format!("data/{fan}/{name}"))
            }
            _ => self.join(&format!("{}/{name}", kind.dir_name())),
        }
    }

    /// The object name a listed key stands for, if it is one of `kind`'s
    /// keys in this layout (other keys under the prefix are not ours).
    pub fn name_of_key(&self, kind: ObjectKind, key: &str) -> Option<String> {
        if kind == ObjectKind::Config {
            return (key == self.kind_prefix(kind)).then(|| "config".to_string());
        }
        let rest = key.strip_prefix(&self.kind_prefix(kind))?;
        let name = if kind == ObjectKind::Pack {
            let (fan, name) = rest.split_once('/')?;
            if name.get(..2) != Some(fan) {
                return None;
            }
            name
        } else {
            rest
        };
        reprise_storage::validate_name(kind, name).ok()?;
        Some(name.to_string())
    }

    /// Whether the endpoint is Amazon's own, which prefers virtual-hosted addressing.
    pub fn is_aws(&self) -> bool {
        let host = self
            .endpoint
            .split_once("://")
            .map_or(self.endpoint.as_str(), |(_, h)| h);
        let host = host.split(':').next().unwrap_or(host);
        host == "amazonaws.com" || host.ends_with(".amazonaws.com")
    }

    fn join(&self, rest: &str) -> String {
        if self.prefix.is_empty() {
            rest.to_string()
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3:{}/{}", self.endpoint, self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the endpoint has no host".into());
    }
    // Credentials come from the environment: a location is printed in
    // messages and must not carry them.
    if host.contains('@') {
        return Err("the endpoint must not contain credentials (use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".into());
    }
    let ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    if !ok {
        return Err(format!("{host:?} is not a host name"));
    }
    Ok(())
}

/// S3's bucket naming rules: 3 to 63 lowercase letters, digits, dots and
/// hyphens, starting and ending with a letter or digit.
fn check_bucket(bucket: &str) -> Result<(), String> {
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && edge_ok(bucket.as_bytes().first())
        && edge_ok(bucket.as_bytes().last());
    if bucket.is_empty() {
        Err("no bucket given".into())
    } else if !ok {
        Err(format!(
            "{bucket:?} is not a valid bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
        ))
    } else {
        Ok(())
    }
}

fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Ok(());
    }
    for segment in prefix.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!(
                "the prefix {prefix:?} has an empty, \".\" or \"..\" segment"
            ));
        }
        if segment.chars().any(char::is_control) {
            return Err(format!("the prefix {prefix:?} has control characters"));
        }
    }
    Ok(())
}

/// Path-style (`endpoint/bucket/key`) or virtual-hosted (`bucket.endpoint/key`) requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    Path,
    Virtual,
}

impl Addressing {
    pub fn parse(value: &str) -> Result<Addressing, S3ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "path" => Ok(Addressing::Path),
            "virtual" => Ok(Addressing::Virtual),
            _ => Err(S3ConfigError::Addressing {
                value: value.to_string(),
            }),
        }
    }
}

/// Credentials and client settings, normally from the environment.
#[derive(Clone)]
pub struct S3Settings {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub region: String,
    /// `None`: path-style, except virtual-hosted on Amazon's own endpoints.
    pub addressing: Option<Addressing>,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret and the token never reach a log or an error message.
        f.debug_struct("S3Settings")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("addressing", &self.addressing)
            .finish_non_exhaustive()
    }
}

impl S3Settings {
    /// The default region when `AWS_REGION` is unset.
    pub const DEFAULT_REGION: &'static str = "us-east-1";

    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`) and `REPRISE_S3_ADDRESSING`.
    pub fn from_env() -> Result<S3Settings, S3ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Same as [`S3Settings::from_env`] with another source of variables.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<S3Settings, S3ConfigError> {
        let non_empty = |name: &str| var(name).filter(|v| !v.is_empty());
        let (Some(access_key_id), Some(secret_access_key)) = (
            non_empty("AWS_ACCESS_KEY_ID"),
            non_empty("AWS_SECRET_ACCESS_KEY"),
        ) else {
            return Err(S3ConfigError::MissingCredentials);
        };
        Ok(S3Settings {
            access_key_id,
            secret_access_key,
            session_token: non_empty("AWS_SESSION_TOKEN"),
            region: non_empty("AWS_REGION")
                .or_else(|| non_empty("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| Self::DEFAULT_REGION.to_string()),
            addressing: non_empty("REPRISE_S3_ADDRESSING")
                .map(|v| Addressing::parse(&v))
                .transpose()?,
        })
    }

    /// Whether requests for `location` use path-style addressing.
    pub fn path_style_for(&self, location: &S3Location) -> bool {
        match self.addressing {
            Some(a) => a == Addressing::Path,
            None => !location.is_aws(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(text: &str) -> S3Location {
        S3Location::parse(text).unwrap()
    }

    #[test]
    fn locations_parse_into_endpoint_bucket_and_prefix() {
        let l = parse("s3:https://s3.example.org/backups/mairie/serveur1");
        assert_eq!(l.endpoint, "https://s3.example.org");
        assert_eq!(l.bucket, "backups");
        assert_eq!(l.prefix, "mairie/serveur1");
        assert_eq!(
            l.to_string(),
            "s3:https://s3.example.org/backups/mairie/serveur1"
        );

        let l = parse("s3:http://127.0.0.1:9000/bucket-1/");
        assert_eq!(l.endpoint, "http://127.0.0.1:9000");
        assert_eq!(l.bucket, "bucket-1");
        assert_eq!(l.prefix, "");
        assert_eq!(l.to_string(), "s3:http://127.0.0.1:9000/bucket-1");
    }

    #[test]
    fn malformed_locations_are_refused_with_the_reason() {
        for (text, reason) in [
            ("https://h/b", "does not start with s3:"),
            ("s3:h/bucket", "https:// or http://"),
            ("s3:ftp://h/bucket", "https:// or http://"),
            ("s3:https:///bucket", "no host"),
            ("s3:https://h", "no bucket"),
            ("s3:https://h/", "no bucket"),
            ("s3:https://key:secret@h/bucket", "credentials"),
            ("s3:https://h/Bucket", "not a valid bucket name"),
            ("s3:https://h/ab", "not a valid bucket name"),
            ("s3:https://h/-bucket", "not a valid bucket name"),
            ("s3:https://h/bucket//p", "empty"),
            ("s3:https://h/bucket/a/../b", "\"..\""),
            ("s3:https://h/bucket/a\nb", "control"),
        ] {
            let err = S3Location::parse(text).unwrap_err().to_string();
            assert!(err.contains(reason), "{text}: {err}");
            assert!(err.contains("expected s3:https://"), "{text}: {err}");
        }
    }

    #[test]
    fn keys_mirror_the_local_layout() {
        let l = parse("s3:https://h/bucket/town/hall");
        let pack = "ab".repeat(32);
        assert_eq!(l.key_of(ObjectKind::Config, "config"), "town/hall/config");
        assert_eq!(l.key_of(ObjectKind::Key, "0a1b"), "town/hall/keys/0a1b");
        assert_eq!(
            l.key_of(ObjectKind::Pack, &pack),
            format!("town/hall/data/ab/{pack}")
        );
        assert_eq!(l.key_of(ObjectKind::Index, "ff"), "town/hall/index/ff");
        assert_eq!(
            l.key_of(ObjectKind::Snapshot, "01"),
            "town/hall/snapshots/01"
        );
        assert_eq!(l.key_of(ObjectKind::Mark, "02"), "town/hall/marks/02");
        let root = parse("s3:https://h/bucket");
        assert_eq!(root.key_of(ObjectKind::Config, "config"), "config");
        assert_eq!(root.kind_prefix(ObjectKind::Pack), "data/");
    }

    #[test]
    fn listed_keys_map_back_to_names_and_strays_are_ignored() {
        let l = parse("s3:https://h/bucket/p");
        let pack = "ab".repeat(32);
        for kind in ObjectKind::ALL {
            let name = if kind == ObjectKind::Config {
                "config".to_string()
            } else {
                pack.clone()
            };
            assert_eq!(l.name_of_key(kind, &l.key_of(kind, &name)), Some(name));
        }
        assert_eq!(
            l.name_of_key(ObjectKind::Pack, &format!("p/data/cd/{pack}")),
            None
        );
        assert_eq!(
            l.name_of_key(ObjectKind::Pack, &format!("p/data/{pack}")),
            None
        );
        assert_eq!(l.name_of_key(ObjectKind::Key, "p/keys/README"), None);
        assert_eq!(l.name_of_key(ObjectKind::Key, "p/keys/ab/cd"), None);
        assert_eq!(l.name_of_key(ObjectKind::Config, "p/config.bak"), None);
    }

    #[test]
    fn addressing_is_virtual_only_on_amazon_unless_overridden() {
        let env = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            S3Settings::from_lookup(move |k| map.get(k).cloned())
        };
        let keys = [("AWS_ACCESS_KEY_ID", "ak"), ("AWS_SECRET_ACCESS_KEY", "sk")];
        let s = env(&keys).unwrap();
        assert_eq!(s.region, "us-east-1");
        assert_eq!(s.session_token, None);
        assert!(s.path_style_for(&parse("s3:http://127.0.0.1:9000/bucket")));
        assert!(!s.path_style_for(&parse("s3:https://s3.eu-west-3.amazonaws.com/bucket")));
        let mut forced = keys.to_vec();
        forced.push(("REPRISE_S3_ADDRESSING", "virtual"));
        forced.push(("AWS_REGION", "eu-west-3"));
        let s = env(&forced).unwrap();
        assert_eq!(s.region, "eu-west-3");
        assert!(!s.path_style_for(&parse("s3:http://127.0.0.1:9000/bucket")));
        let mut wrong = keys.to_vec();
        wrong.push(("REPRISE_S3_ADDRESSING", "dns"));
        assert!(matches!(env(&wrong), Err(S3ConfigError::Addressing { .. })));
        assert!(matches!(
            env(&[("AWS_ACCESS_KEY_ID", "ak")]),
            Err(S3ConfigError::MissingCredentials)
        ));
    }

    #[test]
    fn settings_never_show_the_secret() {
        let s = S3Settings {
            access_key_id: "AKIA".into(),
            secret_access_key: "very-secret".into(),
            session_token: Some("token-secret".into()),
            region: "us-east-1".into(),
            addressing: None,
        };
        let shown = format!("{s:?}");
        assert!(
            shown.contains("AKIA") && !shown.contains("secret"),
            "{shown}"
        );
    }
}
