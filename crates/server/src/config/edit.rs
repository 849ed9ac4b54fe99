//! Edits to the configuration file made by `reprise serve init-config` and
//! `reprise serve token add|list|revoke`.
//!
//! Edits go through `toml_edit` so the administrator's comments survive,
//! are checked with the server's own parser before anything is written (a
//! server must never find a file it cannot read), and replace the file
//! atomically (temporary file, fsync, rename) with owner-only permissions.

use super::{parse_time, valid_token_name, Config, Role};
use crate::quota::Usage;
use crate::{route, token, ServerError};
use chrono::{SecondsFormat, Utc};
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table};

/// A token to add.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    pub quota_bytes: Option<u64>,
    /// RFC 3339.
    pub expires: Option<String>,
    /// Repositories it is limited to; all when empty.
    pub repos: Vec<String>,
}

/// A token as `token list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenStatus {
    pub name: String,
    pub role: Role,
    /// `active`, `revoked` or `expired`.
    pub state: &'static str,
    pub created: Option<String>,
    pub expires: Option<String>,
    pub quota_bytes: Option<u64>,
    pub used_bytes: u64,
    pub repos: Option<Vec<String>>,
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn template(data_dir: &str, listen: SocketAddr, retention_days: u32) -> String {
    format!(
        r#"# reprise serve: the append-only repository server (see docs/SERVER.md).
# Start it with `reprise serve --config THIS-FILE`.

# Address and port to listen on, over HTTPS. 0.0.0.0 listens on every
# interface; 127.0.0.1 only on this machine.
listen = {listen}

# One directory per repository, plus the audit log (audit.log), the bytes
# each token has added (usage.json) and, without tls_cert/tls_key, the
# generated certificate (tls/).
data_dir = {data_dir}

# Days every object is kept before even an admin token may delete it. Only
# this file sets it: no request can. Choose it longer than an attack could
# go unnoticed.
retention_days = {retention_days}

# Largest object a client may upload, in bytes (packs are about 8 MiB).
max_object_bytes = {max}

# Connections open at once, and from any one client address. When all are
# taken, the oldest connection that has not yet shown a valid token is
# closed to make room, so strangers cannot lock clients out.
# max_connections = 512
# max_connections_per_address = 64

# TLS certificate chain and private key (PEM files). Without them the
# server generates a self-signed certificate into data_dir/tls/ on first
# start; clients then trust it with `--cacert cert.pem`.
# tls_cert = "/etc/reprise/cert.pem"
# tls_key = "/etc/reprise/key.pem"
# Extra DNS names or addresses for the generated certificate, besides the
# listen address, this machine's name, localhost and 127.0.0.1.
# tls_names = ["backup.mairie.example"]

# Tokens: add one with
#   reprise serve token add NAME --role append --config THIS-FILE
# which prints the token once and keeps only its BLAKE3 hash below.
# Roles: append (read and add), read (read only), admin (read, add, and
# delete objects older than retention_days).
"#,
        listen = toml_string(&listen.to_string()),
        max = super::DEFAULT_MAX_OBJECT_BYTES,
    )
}

/// Writes a commented configuration file; refuses to replace one.
pub fn init_config(
    path: &Path,
    data_dir: &Path,
    listen: SocketAddr,
    retention_days: u32,
) -> Result<(), ServerError> {
    let config_err = |detail: String| ServerError::Config {
        path: path.to_path_buf(),
        detail,
    };
    let data_dir = if data_dir.is_absolute() {
        data_dir.to_path_buf()
    } else {
        // components() drops the `.` of `./data`, for a tidy file.
        std::env::current_dir()
            .map_err(|e| ServerError::io(".", e))?
            .join(data_dir)
            .components()
            .collect()
    };
    let data_dir = data_dir
        .to_str()
        .ok_or_else(|| config_err("the data directory's path is not UTF-8".into()))?;
    let text = template(&toml_string(data_dir), listen, retention_days);
    let base = super::dir_of(path);
    Config::parse(&text, base).map_err(config_err)?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => ServerError::AlreadyExists {
                path: path.to_path_buf(),
            },
            _ => ServerError::io(path, e),
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| ServerError::io(path, e))
}

/// Adds a token and returns it: the only time it is ever shown.
pub fn add_token(path: &Path, new: &NewToken) -> Result<String, ServerError> {
    check_new_token(new)?;
    let (config, mut doc) = read(path)?;
    if config.tokens.iter().any(|t| t.name == new.name) {
        return Err(ServerError::TokenExists(new.name.clone()));
    }
    let secret = token::generate()?;
    let tokens = doc
        .entry("token")
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or_else(|| ServerError::Config {
            path: path.to_path_buf(),
            detail: "`token` must be written as [[token]] tables".into(),
        })?;
    let mut table = token_table(new, &token::hash(&secret));
    let first = tokens.is_empty();
    if first {
        // The file's closing comments (the template's explanation of
        // tokens) belong above the tokens, not after them.
        let trailing = doc.trailing().as_str().unwrap_or_default().trim_end();
        let prefix = if trailing.is_empty() {
            "\n".to_string()
        } else {
            format!("{trailing}\n\n")
        };
        table.decor_mut().set_prefix(prefix);
        doc.set_trailing("");
    }
    let tokens = doc
        .get_mut("token")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| ServerError::Config {
            path: path.to_path_buf(),
            detail: "`token` must be written as [[token]] tables".into(),
        })?;
    tokens.push(table);
    write(path, &doc)?;
    Ok(secret)
}

fn check_new_token(new: &NewToken) -> Result<(), ServerError> {
    if !valid_token_name(&new.name) {
        return Err(ServerError::InvalidToken(format!(
            "name {:?}: use 1 to 64 letters, digits, '.', '_' or '-'",
            new.name
        )));
    }
    if let Some(e) = &new.expires {
        parse_time(e).map_err(ServerError::InvalidToken)?;
    }
    if let Some(bad) = new.repos.iter().find(|r| !route::valid_repo_name(r)) {
        return Err(ServerError::InvalidToken(format!(
            "{bad:?} is not a repository name (lowercase letters, digits, '.', '_', '-')"
        )));
    }
    Ok(())
}

fn token_table(new: &NewToken, hash: &str) -> Table {
    let mut t = Table::new();
    t["name"] = toml_edit::value(new.name.as_str());
    t["role"] = toml_edit::value(new.role.as_str());
    t["hash"] = toml_edit::value(hash);
    t["created"] = toml_edit::value(now());
    if let Some(q) = new.quota_bytes {
        // reprise_storage::size::parse_size keeps sizes within TOML's i64.
        t["quota_bytes"] = toml_edit::value(i64::try_from(q).unwrap_or(i64::MAX));
    }
    if let Some(e) = &new.expires {
        t["expires"] = toml_edit::value(e.as_str());
    }
    if !new.repos.is_empty() {
        let repos: Array = new.repos.iter().map(String::as_str).collect();
        t["repos"] = toml_edit::value(repos);
    }
    t
}

/// Marks a token revoked. The entry stays, so the audit log's mentions of
/// it keep a meaning and its name cannot be reused by mistake.
pub fn revoke_token(path: &Path, name: &str) -> Result<(), ServerError> {
    let (_, mut doc) = read(path)?;
    let table = doc
        .get_mut("token")
        .and_then(Item::as_array_of_tables_mut)
        .and_then(|tokens| {
            tokens
                .iter_mut()
                .find(|t| t.get("name").and_then(Item::as_str) == Some(name))
        })
        .ok_or_else(|| ServerError::NoSuchToken(name.to_string()))?;
    if table.get("revoked").and_then(Item::as_bool) == Some(true) {
        return Ok(());
    }
    table["revoked"] = toml_edit::value(true);
    table["revoked_at"] = toml_edit::value(now());
    write(path, &doc)
}

/// Every token of the file, with what it has added so far.
pub fn list_tokens(path: &Path) -> Result<Vec<TokenStatus>, ServerError> {
    let config = Config::load(path)?;
    let usage = Usage::read_file(&config.usage_file())?;
    let now = Utc::now();
    Ok(config
        .tokens
        .iter()
        .map(|t| TokenStatus {
            name: t.name.clone(),
            role: t.role,
            state: if t.revoked {
                "revoked"
            } else if t.expires_at().is_some_and(|e| e <= now) {
                "expired"
            } else {
                "active"
            },
            created: t.created.clone(),
            expires: t.expires.clone(),
            quota_bytes: t.quota_bytes,
            used_bytes: usage.get(&t.name).copied().unwrap_or(0),
            repos: t.repos.clone(),
        })
        .collect())
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The file, checked, and as an editable document.
fn read(path: &Path) -> Result<(Config, DocumentMut), ServerError> {
    let config = Config::load(path)?;
    let text = fs::read_to_string(path).map_err(|e| ServerError::io(path, e))?;
    let doc = text
        .parse::<DocumentMut>()
        .map_err(|e| ServerError::Config {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    Ok((config, doc))
}

/// Checks the edited document with the server's parser, then replaces the
/// file atomically.
fn write(path: &Path, doc: &DocumentMut) -> Result<(), ServerError> {
    let text = doc.to_string();
    let base = super::dir_of(path);
    Config::parse(&text, base).map_err(|detail| ServerError::Config {
        path: path.to_path_buf(),
        detail: format!("the edit would make the file unreadable: {detail}"),
    })?;
    let meta = fs::metadata(path).map_err(|e| ServerError::io(path, e))?;
    let temp = temp_beside(path)?;
    let result = write_synced(&temp, text.as_bytes(), &meta)
        .and_then(|()| fs::rename(&temp, path))
        .and_then(|()| fs::File::open(base)?.sync_all());
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(|e| ServerError::io(path, e))
}

fn temp_beside(path: &Path) -> Result<PathBuf, ServerError> {
    let mut rnd = [0u8; 6];
    getrandom::getrandom(&mut rnd).map_err(|e| ServerError::Random(e.to_string()))?;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", hex::encode(rnd)));
    Ok(path.with_file_name(name))
}

/// Writes a new file with the permissions and, where allowed, the owner
/// of `like`: root editing the file of the server's account must not take
/// it away from the server.
fn write_synced(path: &Path, data: &[u8], like: &fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(like.permissions().mode() & 0o777)
        .open(path)?;
    let _ = std::os::unix::fs::fchown(&f, Some(like.uid()), Some(like.gid()));
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_token(name: &str) -> NewToken {
        NewToken {
            name: name.into(),
            role: Role::Append,
            quota_bytes: Some(5 << 30),
            expires: Some("2040-01-01T00:00:00Z".into()),
            repos: vec!["mairie".into()],
        }
    }

    #[test]
    fn init_add_revoke_list_keep_the_comments_and_a_valid_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.toml");
        let listen: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        init_config(&path, Path::new("/srv/reprise"), listen, 30).unwrap();
        assert!(matches!(
            init_config(&path, Path::new("/x"), listen, 30),
            Err(ServerError::AlreadyExists { .. })
        ));
        let secret = add_token(&path, &new_token("mairie-pc")).unwrap();
        assert_eq!(secret.len(), 64);
        assert!(matches!(
            add_token(&path, &new_token("mairie-pc")),
            Err(ServerError::TokenExists(_))
        ));
        revoke_token(&path, "mairie-pc").unwrap();
        assert!(matches!(
            revoke_token(&path, "nobody"),
            Err(ServerError::NoSuchToken(_))
        ));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("# Days every object is kept"), "{text}");
        let explained = text.find("# Tokens: add one with").unwrap();
        assert!(explained < text.find("[[token]]").unwrap(), "{text}");
        assert!(!text.contains(&secret), "the token itself was stored");
        let config = Config::load(&path).unwrap();
        assert_eq!(config.retention_days, 30);
        let t = &config.tokens[0];
        assert_eq!(t.hash, token::hash(&secret));
        assert!(t.revoked && t.revoked_at.is_some());
        assert_eq!(t.quota_bytes, Some(5 << 30));
        let listed = list_tokens(&path).unwrap();
        assert_eq!((listed[0].state, listed[0].used_bytes), ("revoked", 0));
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn bad_new_tokens_are_refused_before_touching_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.toml");
        init_config(&path, dir.path(), "127.0.0.1:1".parse().unwrap(), 1).unwrap();
        let before = fs::read(&path).unwrap();
        for bad in [
            NewToken {
                name: "a b".into(),
                ..new_token("x")
            },
            NewToken {
                expires: Some("soon".into()),
                ..new_token("x")
            },
            NewToken {
                repos: vec!["../x".into()],
                ..new_token("x")
            },
        ] {
            assert!(matches!(
                add_token(&path, &bad),
                Err(ServerError::InvalidToken(_))
            ));
        }
        assert_eq!(fs::read(&path).unwrap(), before);
    }
}
