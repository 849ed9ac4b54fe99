//! When to try a request again, and how long to wait first.
//!
//! Only failures that another attempt may cure are retried: the network
//! (connection refused or reset, timeouts), the server's own errors (5xx,
//! but not 507, which needs an administrator) and its request to slow down
//! (429). A 4xx is the server's considered answer and is final. Certificate
//! problems are final too: waiting does not make an untrusted certificate
//! trusted.

use std::time::Duration;

/// Attempts, the first included.
pub const ATTEMPTS: u32 = 5;
const FIRST_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(3);

/// The wait before attempt `attempt + 1` (attempts count from 1).
pub fn delay_after(attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    FIRST_DELAY.saturating_mul(factor).min(MAX_DELAY)
}

/// Whether a response with this status is worth another attempt.
pub fn status_is_transient(status: u16) -> bool {
    // 507 (out of space, or the token's quota spent) lasts until an
    // administrator acts: retrying only delays the message that says so.
    status == 429 || ((500..=599).contains(&status) && status != 507)
}

/// Whether a transport failure is worth another attempt.
pub fn error_is_transient(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Io(io) => io.kind() != std::io::ErrorKind::InvalidData,
        ureq::Error::Timeout(_)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Protocol(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_a_fifth_of_a_second_up_to_three() {
        let waits: Vec<u128> = (1..ATTEMPTS).map(|a| delay_after(a).as_millis()).collect();
        assert_eq!(waits, [200, 400, 800, 1600]);
        assert_eq!(delay_after(6), MAX_DELAY);
        assert_eq!(delay_after(1000), MAX_DELAY);
    }

    #[test]
    fn only_server_failures_and_throttling_are_retried() {
        for s in [429, 500, 502, 503, 504] {
            assert!(status_is_transient(s), "{s}");
        }
        for s in [200, 201, 400, 401, 403, 404, 405, 409, 413, 416, 423, 507] {
            assert!(!status_is_transient(s), "{s}");
        }
    }

    #[test]
    fn network_failures_are_retried_but_not_certificate_ones() {
        use std::io::{Error, ErrorKind};
        assert!(error_is_transient(&ureq::Error::ConnectionFailed));
        assert!(error_is_transient(&ureq::Error::Io(Error::from(
            ErrorKind::ConnectionRefused
        ))));
        assert!(!error_is_transient(&ureq::Error::Io(Error::new(
            ErrorKind::InvalidData,
            "invalid peer certificate: UnknownIssuer"
        ))));
        assert!(!error_is_transient(&ureq::Error::BadUri("x".into())));
    }
}
