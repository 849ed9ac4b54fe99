//! Who may use the dashboard: accounts from the configuration (Argon2id
//! hashes, never passwords), sessions in a cookie, a CSRF token per
//! session, and a limit on failed logins.
//!
//! A session is 32 random bytes the browser keeps in a `Secure`,
//! `HttpOnly`, `SameSite=Strict` cookie; the server keeps only their
//! BLAKE3 hash, so its memory never holds a usable cookie. Sessions end
//! after `[web] session_idle` without a request, after 12 hours in any
//! case, at logout, and when the server restarts (they live in memory: an
//! operator logs in again, which is the safe side). Every form that
//! changes something carries the session's CSRF token, compared in
//! constant time.
//!
//! Failed logins are counted per client address and per account name:
//! after `MOST_FAILURES` within `FAILURE_WINDOW`, logins from that address
//! or to that account are refused until the window has passed, the right
//! password included, so guessing costs an attacker hours per handful of
//! tries.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use reprise_services::config::WebAccount;

/// Failed logins allowed from one address, or to one account, per window.
pub const MOST_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// A session ends this long after its login, however active.
const LONGEST_SESSION: Duration = Duration::from_secs(12 * 3600);
/// The name of the session's cookie.
pub const COOKIE: &str = "reprise_session";

/// A logged-in operator.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: String,
    pub csrf: String,
    started: Instant,
    last_seen: Instant,
}

/// Why a login was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Wrong name or password.
    Wrong,
    /// Too many failures lately from this address or for this account.
    Throttled,
    /// The system gave no randomness for a session.
    NoRandomness,
}

/// Accounts, sessions and failures.
pub struct Auth {
    accounts: Vec<WebAccount>,
    /// A hash of a random password, verified for unknown names.
    decoy: String,
    idle: Duration,
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Auth {
    pub fn new(accounts: Vec<WebAccount>, idle: Duration) -> Result<Auth, String> {
        let decoy = hash_password(&random_hex::<16>()?)?;
        Ok(Auth {
            accounts,
            decoy,
            idle,
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        })
    }

    /// Checks a login; on success returns the new session's cookie value.
    pub fn log_in(
        &self,
        address: IpAddr,
        name: &str,
        password: &str,
    ) -> Result<String, LoginRefusal> {
        let keys = [format!("address {address}"), format!("account {name}")];
        if keys
            .iter()
            .any(|k| self.recent_failures(k) >= MOST_FAILURES)
        {
            return Err(LoginRefusal::Throttled);
        }
        if !self.password_matches(name, password) {
            let now = Instant::now();
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            for key in keys {
                failures.entry(key).or_default().push(now);
            }
            return Err(LoginRefusal::Wrong);
        }
        let (Ok(cookie), Ok(csrf)) = (random_hex::<32>(), random_hex::<32>()) else {
            return Err(LoginRefusal::NoRandomness);
        };
        let now = Instant::now();
        let session = Session {
            account: name.to_owned(),
            csrf,
            started: now,
            last_seen: now,
        };
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hash(&cookie), session);
        Ok(cookie)
    }

    /// The session of a cookie's value, if it is live; touching it.
    pub fn session(&self, cookie: &str) -> Option<Session> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let key = hash(cookie);
        let now = Instant::now();
        let live = sessions.get(&key).is_some_and(|s| {
            now.duration_since(s.last_seen) < self.idle
                && now.duration_since(s.started) < LONGEST_SESSION
        });
        if !live {
            sessions.remove(&key);
            return None;
        }
        let session = sessions.get_mut(&key)?;
        session.last_seen = now;
        Some(session.clone())
    }

    pub fn log_out(&self, cookie: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&hash(cookie));
    }

    fn recent_failures(&self, key: &str) -> usize {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(times) = failures.get_mut(key) else {
            return 0;
        };
        times.retain(|t| t.elapsed() < FAILURE_WINDOW);
        times.len()
    }

    /// Verifies against the account's hash; an unknown name costs the same
    /// as a known one, so timing does not tell which names exist.
    fn password_matches(&self, name: &str, password: &str) -> bool {
        let account = self.accounts.iter().find(|a| a.name == name);
        let hash_text = account.map_or(self.decoy.as_str(), |a| a.password_hash.as_str());
        let Ok(hash) = PasswordHash::new(hash_text) else {
            return false;
        };
        let verified = Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok();
        verified && account.is_some()
    }
}

/// Whether two tokens are equal, in time that does not depend on where
/// they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn hash(cookie: &str) -> [u8; 32] {
    *blake3::hash(cookie.as_bytes()).as_bytes()
}

fn random_hex<const N: usize>() -> Result<String, String> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(hex::encode(bytes))
}

/// The PHC string of `password` with Argon2id's defaults and a random
/// salt, for `[[web.accounts]] password_hash`.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(idle: Duration) -> Auth {
        let hash = hash_password("correct horse").unwrap();
        Auth::new(
            vec![WebAccount {
                name: "marie".into(),
                password_hash: hash,
            }],
            idle,
        )
        .unwrap()
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn a_right_password_opens_a_session_and_logout_ends_it() {
        let auth = auth(Duration::from_secs(60));
        let cookie = auth.log_in(HOME, "marie", "correct horse").unwrap();
        let session = auth.session(&cookie).unwrap();
        assert_eq!(session.account, "marie");
        assert_eq!(session.csrf.len(), 64);
        assert!(auth.session("forged").is_none());
        auth.log_out(&cookie);
        assert!(auth.session(&cookie).is_none());
    }

    #[test]
    fn wrong_passwords_and_unknown_names_are_refused_then_throttled() {
        let auth = auth(Duration::from_secs(60));
        assert_eq!(
            auth.log_in(HOME, "ghost", "correct horse"),
            Err(LoginRefusal::Wrong)
        );
        for _ in 1..MOST_FAILURES {
            assert_eq!(
                auth.log_in(HOME, "marie", "guess"),
                Err(LoginRefusal::Wrong)
            );
        }
        assert_eq!(
            auth.log_in(HOME, "marie", "correct horse"),
            Err(LoginRefusal::Throttled),
            "even the right password, until the window passes"
        );
        let elsewhere: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(
            auth.log_in(elsewhere, "marie", "correct horse"),
            Err(LoginRefusal::Throttled),
            "the account is throttled from every address"
        );
    }

    #[test]
    fn an_idle_session_expires() {
        let auth = auth(Duration::from_millis(50));
        let cookie = auth.log_in(HOME, "marie", "correct horse").unwrap();
        std::thread::sleep(Duration::from_millis(80));
        assert!(auth.session(&cookie).is_none());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
    }
}
