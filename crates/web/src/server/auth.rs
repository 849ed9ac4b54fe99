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
//! Failed logins are counted per client address (an IPv6 client per /64,
//! which one machine usually holds whole) and per account name. Each attempt
//! counts as a failure from the moment it is taken, before its password is
//! checked, so a burst of simultaneous guesses is throttled like a slow
//! one; a right password takes its count back. After `MOST_FAILURES`
//! within `FAILURE_WINDOW`, an address is refused, the right password
//! included. An account past the limit is refused only from addresses that
//! failed too: guessing from many addresses gets one try each, while the
//! operator at a desk that made no mistake still logs in, so nobody can
//! lock an operator out by guessing their name. Names longer than
//! `LONGEST_NAME` are refused before anything else, names of no account
//! share one count, and at most `MOST_COUNTS` counts are kept (the oldest
//! go first), so the table stays small whatever is sent. At most
//! `MOST_CHECKS` Argon2 checks run at once (each takes about 19 MiB); more
//! are refused as busy.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use reprise_services::config::WebAccount;

/// Failed logins allowed from one address, or to one account, per window.
pub const MOST_FAILURES: usize = 5;
/// Account names are short; longer ones are refused before any check.
pub const LONGEST_NAME: usize = 64;
/// Counts kept at most (addresses and names).
const MOST_COUNTS: usize = 10_000;
/// Password checks running at once at most.
const MOST_CHECKS: usize = 2;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// A session ends this long after its login, however active.
const LONGEST_SESSION: Duration = Duration::from_secs(12 * 3600);
/// The name of the session's cookie.
/// `__Host-`: browsers accept it only from this origin, over HTTPS, for
/// the whole site, so a sibling site cannot plant one.
pub const COOKIE: &str = "__Host-reprise_session";

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
    /// Too many password checks running now.
    Busy,
}

/// Accounts, sessions and failures.
pub struct Auth {
    accounts: Vec<WebAccount>,
    /// A hash of a random password, verified for unknown names.
    decoy: String,
    idle: Duration,
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
    checks: std::sync::atomic::AtomicUsize,
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
            checks: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Checks a login; on success returns the new session's cookie value.
    pub fn log_in(
        &self,
        address: IpAddr,
        name: &str,
        password: &str,
    ) -> Result<String, LoginRefusal> {
        if name.len() > LONGEST_NAME {
            return Err(LoginRefusal::Wrong);
        }
        let keys = [address_key(address), self.account_key(name)];
        let attempt = self.take_attempt(&keys)?;
        let Some(_check) = CheckSlot::take(&self.checks) else {
            self.give_back(&keys, attempt);
            return Err(LoginRefusal::Busy);
        };
        if !self.password_matches(name, password) {
            return Err(LoginRefusal::Wrong);
        }
        self.give_back(&keys, attempt);
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

    /// Counts an attempt as a failure now, unless the address (or the
    /// account, from an address that failed too) is past the limit.
    fn take_attempt(&self, keys: &[String; 2]) -> Result<Instant, LoginRefusal> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut recent = |key: &str| {
            failures.get_mut(key).map_or(0, |times| {
                times.retain(|t| t.elapsed() < FAILURE_WINDOW);
                times.len()
            })
        };
        let (by_address, by_account) = (recent(&keys[0]), recent(&keys[1]));
        if by_address >= MOST_FAILURES || (by_account >= MOST_FAILURES && by_address > 0) {
            return Err(LoginRefusal::Throttled);
        }
        let now = Instant::now();
        for key in keys {
            failures.entry(key.clone()).or_default().push(now);
        }
        if failures.len() > MOST_COUNTS {
            forget_oldest(&mut failures);
        }
        Ok(now)
    }

    /// Takes back an attempt that turned out right (or was not checked).
    fn give_back(&self, keys: &[String; 2], attempt: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            if let Some(times) = failures.get_mut(key) {
                if let Some(at) = times.iter().position(|t| *t == attempt) {
                    times.remove(at);
                }
                if times.is_empty() {
                    failures.remove(key);
                }
            }
        }
    }

    /// The count an account name goes into: its own for a real account,
    /// one shared by every unknown name.
    fn account_key(&self, name: &str) -> String {
        if self.accounts.iter().any(|a| a.name == name) {
            format!("account {name}")
        } else {
            "account (unknown)".to_owned()
        }
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

/// The count an address goes into: itself for IPv4, its /64 for IPv6.
fn address_key(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => format!("address {v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("address {:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Drops the counts whose last failure is oldest, down to half the limit.
fn forget_oldest(failures: &mut HashMap<String, Vec<Instant>>) {
    failures.retain(|_, times| times.iter().any(|t| t.elapsed() < FAILURE_WINDOW));
    if failures.len() <= MOST_COUNTS / 2 {
        return;
    }
    let mut by_age: Vec<(Instant, String)> = failures
        .iter()
        .map(|(k, times)| {
            (
                times.iter().max().copied().unwrap_or_else(Instant::now),
                k.clone(),
            )
        })
        .collect();
    by_age.sort();
    let excess = failures.len() - MOST_COUNTS / 2;
    for (_, key) in by_age.into_iter().take(excess) {
        failures.remove(&key);
    }
}

/// One of the `MOST_CHECKS` password checks, given back when dropped.
struct CheckSlot<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> CheckSlot<'a> {
    fn take(counter: &'a std::sync::atomic::AtomicUsize) -> Option<CheckSlot<'a>> {
        use std::sync::atomic::Ordering;
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MOST_CHECKS).then_some(n + 1)
            })
            .ok()
            .map(|_| CheckSlot(counter))
    }
}

impl Drop for CheckSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
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
        let wrong = Err(LoginRefusal::Wrong);
        let throttled = Err(LoginRefusal::Throttled);
        assert_eq!(auth.log_in(HOME, "ghost", "correct horse"), wrong);
        for _ in 1..MOST_FAILURES {
            assert_eq!(auth.log_in(HOME, "marie", "guess"), wrong);
        }
        assert_eq!(
            auth.log_in(HOME, "marie", "correct horse"),
            throttled,
            "even the right password, from that address, until the window passes"
        );
        let guesser: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(auth.log_in(guesser, "marie", "guess"), wrong);
        assert_eq!(
            auth.log_in(guesser, "marie", "another guess"),
            throttled,
            "past the account's limit, an address that failed gets no second try"
        );
        let desk: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(
            auth.log_in(desk, "marie", "correct horse").is_ok(),
            "the operator at a clean address is not locked out"
        );
    }

    #[test]
    fn simultaneous_guesses_are_throttled_like_slow_ones() {
        let auth = std::sync::Arc::new(auth(Duration::from_secs(60)));
        let guesses: Vec<_> = (0..12)
            .map(|_| {
                let auth = std::sync::Arc::clone(&auth);
                std::thread::spawn(move || auth.log_in(HOME, "marie", "guess"))
            })
            .collect();
        let refused: Vec<LoginRefusal> = guesses
            .into_iter()
            .map(|g| g.join().unwrap().unwrap_err())
            .collect();
        let checked = refused
            .iter()
            .filter(|r| **r == LoginRefusal::Wrong)
            .count();
        assert!(checked <= MOST_FAILURES, "{refused:?}");
        assert!(
            refused.contains(&LoginRefusal::Throttled) || refused.contains(&LoginRefusal::Busy)
        );
    }

    #[test]
    fn long_names_are_refused_and_unknown_names_share_one_count() {
        let auth = auth(Duration::from_secs(60));
        let long = "x".repeat(LONGEST_NAME + 1);
        assert_eq!(auth.log_in(HOME, &long, "p"), Err(LoginRefusal::Wrong));
        for i in 0..20u8 {
            let address = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, i));
            let _ = auth.log_in(address, &format!("ghost{i}"), "p");
        }
        let counts = auth.failures.lock().unwrap();
        assert!(
            !counts.keys().any(|k| k.contains("xxxx")),
            "a refused name leaves no count"
        );
        assert_eq!(
            counts.keys().filter(|k| k.starts_with("account")).count(),
            1
        );
    }

    #[test]
    fn an_ipv6_client_counts_as_its_slash_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
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
