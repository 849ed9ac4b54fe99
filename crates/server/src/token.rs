//! Tokens: how they are made, how they are stored, and who presents one.
//!
//! A token is 32 random bytes in hex. The configuration keeps only the
//! BLAKE3 of that text: 256 random bits need no slow password hash, and a
//! stolen configuration file gives no token away.

use crate::config::{Role, TokenEntry};
use crate::ServerError;
use chrono::{DateTime, Utc};

/// A new token (64 hex digits).
pub fn generate() -> Result<String, ServerError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| ServerError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// What the configuration stores for a token: the hex BLAKE3 of its text.
pub fn hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// A token entry ready for authentication.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub name: String,
    pub role: Role,
    pub quota_bytes: Option<u64>,
    repos: Option<Vec<String>>,
    hash: Option<blake3::Hash>,
    expires: Option<DateTime<Utc>>,
    revoked: bool,
}

impl Token {
    pub fn allows_repo(&self, repo: &str) -> bool {
        self.repos
            .as_ref()
            .is_none_or(|repos| repos.iter().any(|r| r == repo))
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthError {
    Missing,
    Malformed,
    Unknown,
    Revoked(String),
    Expired(String),
}

impl AuthError {
    /// The token name for the audit log, when one is known.
    pub fn token_name(&self) -> &str {
        match self {
            AuthError::Revoked(n) | AuthError::Expired(n) => n,
            _ => "unknown",
        }
    }

    pub fn reason(&self) -> String {
        match self {
            AuthError::Missing => "no token: send `Authorization: Bearer <token>`".into(),
            AuthError::Malformed => "malformed Authorization header: send `Bearer <token>`".into(),
            AuthError::Unknown => "unknown token".into(),
            AuthError::Revoked(n) => format!("token {n:?} was revoked"),
            AuthError::Expired(n) => format!("token {n:?} has expired"),
        }
    }
}

/// The tokens of one version of the configuration.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tokens {
    entries: Vec<Token>,
}

impl Tokens {
    pub fn from_entries(entries: &[TokenEntry]) -> Tokens {
        let entries = entries
            .iter()
            .map(|e| Token {
                name: e.name.clone(),
                role: e.role,
                quota_bytes: e.quota_bytes,
                repos: e.repos.clone(),
                // Validated on load; a bad hash would simply match nothing.
                hash: blake3::Hash::from_hex(&e.hash).ok(),
                expires: e.expires_at(),
                revoked: e.revoked,
            })
            .collect();
        Tokens { entries }
    }

    /// The token an `Authorization` header value presents.
    pub fn authenticate(
        &self,
        header: Option<&[u8]>,
        now: DateTime<Utc>,
    ) -> Result<Token, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let header = std::str::from_utf8(header).map_err(|_| AuthError::Malformed)?;
        let (scheme, secret) = header.split_once(' ').ok_or(AuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Malformed);
        }
        // blake3::Hash compares in constant time.
        let presented = blake3::hash(secret.trim().as_bytes());
        let token = self
            .entries
            .iter()
            .find(|t| t.hash == Some(presented))
            .ok_or(AuthError::Unknown)?;
        if token.revoked {
            return Err(AuthError::Revoked(token.name.clone()));
        }
        if token.expires.is_some_and(|e| e <= now) {
            return Err(AuthError::Expired(token.name.clone()));
        }
        Ok(token.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, secret: &str) -> TokenEntry {
        TokenEntry::new(name, Role::Append, hash(secret))
    }

    #[test]
    fn tokens_are_random_hex_and_stored_only_as_their_hash() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        let h = hash(&a);
        assert_eq!(h, blake3::hash(a.as_bytes()).to_hex().as_str());
        assert_ne!(h, a);
        assert_eq!(hash(&a), h, "hashing is deterministic");
    }

    #[test]
    fn only_a_live_known_token_authenticates() {
        let now = Utc::now();
        let mut expired = entry("old", "s2");
        expired.expires = Some("2000-01-01T00:00:00Z".into());
        let mut revoked = entry("gone", "s3");
        revoked.revoked = true;
        let mut future = entry("later", "s4");
        future.expires = Some("2999-01-01T00:00:00Z".into());
        let tokens = Tokens::from_entries(&[entry("pc", "s1"), expired, revoked, future]);
        let auth = |h: Option<&str>| tokens.authenticate(h.map(str::as_bytes), now);
        assert_eq!(auth(Some("Bearer s1")).unwrap().name, "pc");
        assert_eq!(auth(Some("bearer s4")).unwrap().name, "later");
        assert_eq!(auth(None).unwrap_err(), AuthError::Missing);
        assert_eq!(auth(Some("Basic s1")).unwrap_err(), AuthError::Malformed);
        assert_eq!(auth(Some("Bearer s9")).unwrap_err(), AuthError::Unknown);
        assert_eq!(auth(Some("Bearer ")).unwrap_err(), AuthError::Unknown);
        assert_eq!(
            auth(Some("Bearer s2")).unwrap_err(),
            AuthError::Expired("old".into())
        );
        assert_eq!(
            auth(Some("Bearer s3")).unwrap_err(),
            AuthError::Revoked("gone".into())
        );
        assert_eq!(auth(Some("Bearer s3")).unwrap_err().token_name(), "gone");
    }

    #[test]
    fn a_token_limited_to_repositories_allows_only_those() {
        let mut e = entry("pc", "s");
        let open = Tokens::from_entries(std::slice::from_ref(&e));
        e.repos = Some(vec!["compta".into()]);
        let limited = Tokens::from_entries(&[e]);
        let now = Utc::now();
        let open = open.authenticate(Some(b"Bearer s"), now).unwrap();
        let limited = limited.authenticate(Some(b"Bearer s"), now).unwrap();
        assert!(open.allows_repo("compta") && open.allows_repo("rh"));
        assert!(limited.allows_repo("compta") && !limited.allows_repo("rh"));
    }
}
