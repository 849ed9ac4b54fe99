//! What the public status page may say: public names of public services,
//! and messages that give away no machine, path, address or identifier.
//!
//! The page itself is built from public names only. The operator's
//! messages are free text, written under pressure: each is checked when it
//! is written, and refused (with what to remove) if it names a host, a path
//! or a database of the configuration, this machine, or anything shaped
//! like a path, an IP address, an e-mail address or a snapshot id. Refusing
//! is safer than editing a message the operator believes was published.

use std::collections::BTreeMap;

use reprise_services::config::{Config, Databases, HealthCheck, SourceConfig};

use super::StatusError;

/// The public services and the configuration's private words.
#[derive(Debug, Clone, Default)]
pub struct Privacy {
    /// Service name → public name, for public services only.
    public: BTreeMap<String, String>,
    /// Lowercase.
    private_words: Vec<String>,
}

impl Privacy {
    pub fn of(config: &Config) -> Privacy {
        let public = config
            .services
            .iter()
            .filter(|(_, s)| s.public)
            .map(|(name, s)| (name.clone(), s.public_name.clone()))
            .collect();
        let mut words = Vec::new();
        for server in config.servers.values() {
            words.extend(server.host.clone());
            words.extend(server.user.clone());
        }
        for repository in config.repositories.values() {
            words.push(repository.location.clone());
        }
        for source in config.sources.values() {
            words.extend(source_words(source));
        }
        for service in config.services.values() {
            words.extend(service.health.iter().filter_map(check_host));
        }
        words.extend(machine_name());
        Privacy::from_parts(public, words)
    }

    #[cfg(test)]
    pub(crate) fn for_test(services: &[&str], words: &[&str]) -> Privacy {
        let public = services
            .iter()
            .map(|s| (s.to_string(), format!("Service {s}")))
            .collect();
        Privacy::from_parts(public, words.iter().map(|w| w.to_string()).collect())
    }

    fn from_parts(public: BTreeMap<String, String>, words: Vec<String>) -> Privacy {
        let mut private_words: Vec<String> = words
            .into_iter()
            .map(|w| w.trim().to_lowercase())
            // "localhost" or a one-letter user says nothing about the town.
            .filter(|w| w.len() >= 3 && w != "localhost" && w != "127.0.0.1")
            .collect();
        private_words.sort();
        private_words.dedup();
        Privacy {
            public,
            private_words,
        }
    }

    /// The public name of `service`, if it is a public service.
    pub fn public_name(&self, service: &str) -> Option<&str> {
        self.public.get(service).map(String::as_str)
    }

    /// Public services, by name.
    pub fn public_services(&self) -> impl Iterator<Item = (&str, &str)> {
        self.public.iter().map(|(n, p)| (n.as_str(), p.as_str()))
    }

    pub fn known_public_service(&self, service: &str) -> Result<(), StatusError> {
        if self.public.contains_key(service) {
            return Ok(());
        }
        let known: Vec<&str> = self.public.keys().map(String::as_str).collect();
        Err(StatusError::Refused(format!(
            "{service} is not a public service of the configuration (public ones: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )))
    }

    /// Refuses a text for the public page that gives away a private detail.
    pub fn check_public_text(&self, text: &str) -> Result<(), StatusError> {
        let lower = text.to_lowercase();
        if let Some(word) = self
            .private_words
            .iter()
            .find(|w| lower.contains(w.as_str()))
        {
            return Err(refusal(&format!(
                "it names {word}, which the configuration uses"
            )));
        }
        for token in text.split(|c: char| c.is_whitespace() || "()[]<>,;\"'«»".contains(c)) {
            if let Some(what) = private_shape(token.trim_end_matches(['.', ':', '!', '?'])) {
                return Err(refusal(&format!("{token:?} looks like {what}")));
            }
        }
        Ok(())
    }
}

fn refusal(why: &str) -> StatusError {
    StatusError::Refused(format!(
        "this text would go on the public status page, and {why}: citizens need what works, not \
         machine names, paths, addresses or identifiers; remove it and try again"
    ))
}

fn source_words(source: &SourceConfig) -> Vec<String> {
    let databases = |d: &Databases| match d {
        // A name with a digit or an underscore is the machine's ("etat_civil"),
        // a plain word ("paie") is also the town's everyday language.
        Databases::List(names) => names
            .iter()
            .filter(|n| n.contains(|c: char| c == '_' || c.is_ascii_digit()))
            .cloned()
            .collect(),
        Databases::All(_) => Vec::new(),
    };
    match source {
        SourceConfig::Files { paths, .. } => {
            paths.iter().map(|p| p.display().to_string()).collect()
        }
        SourceConfig::Sqlite { path, .. } => vec![path.display().to_string()],
        SourceConfig::Postgres { databases: d, .. }
        | SourceConfig::Mariadb { databases: d, .. } => databases(d),
        SourceConfig::Command { dump, .. } => dump.first().cloned().into_iter().collect(),
    }
}

fn check_host(check: &HealthCheck) -> Option<String> {
    match check {
        HealthCheck::Tcp { host, .. } => Some(host.clone()),
        HealthCheck::Http { url, .. } => url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', ':']).next())
            .map(str::to_owned),
        _ => None,
    }
}

fn machine_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// What a token looks like, if it looks private.
fn private_shape(token: &str) -> Option<&'static str> {
    if token.len() > 1 && token.starts_with('/') && token[1..].contains(char::is_alphanumeric) {
        return Some("a path");
    }
    if token.contains('\\') || is_drive_path(token) {
        return Some("a Windows path");
    }
    if let Some((scheme, _)) = token.split_once("://") {
        if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
            return Some("a path on a share");
        }
    }
    if token
        .split_once('@')
        .is_some_and(|(user, domain)| !user.is_empty() && !domain.is_empty())
    {
        return Some("an e-mail address");
    }
    // Inside URLs, ports, masks and zones too: "10.0.0.12:8080",
    // "http://10.0.0.12/x", "10.0.0.0/24", "fe80::1%eth0".
    let pieces = || token.split(|c: char| "/=@%[]".contains(c));
    if pieces().any(has_ipv4) || pieces().any(is_ipv6) {
        return Some("an IP address");
    }
    if has_identifier(token) {
        return Some("an identifier (a snapshot id)");
    }
    None
}

fn is_drive_path(token: &str) -> bool {
    let bytes = token.as_bytes();
    bytes.len() > 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && bytes[2] == b'/'
}

/// Four dot-separated numbers of at most three digits, anywhere in `text`.
fn has_ipv4(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .any(|run| {
            let parts: Vec<&str> = run.split('.').collect();
            parts.windows(4).any(|w| {
                w.iter()
                    .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
            })
        })
}

/// Two colons or more among hex digits (and a dotted tail), with a `::`
/// or a hex letter, so that a time ("14:30:00") is not one: an IPv6 address.
fn is_ipv6(text: &str) -> bool {
    text.matches(':').count() >= 2
        && (text.contains("::")
            || text
                .chars()
                .any(|c| c.is_ascii_hexdigit() && c.is_ascii_alphabetic()))
        && text
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
}

/// Eight or more hex digits in a row, with both digits and letters: a
/// snapshot id, short or long, and not a word nor a number.
fn has_identifier(token: &str) -> bool {
    token.split(|c: char| !c.is_ascii_hexdigit()).any(|run| {
        run.len() >= 8
            && run.bytes().any(|b| b.is_ascii_digit())
            && run.bytes().any(|b| b.is_ascii_alphabetic())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everyday_messages_pass() {
        let privacy = Privacy::for_test(&["eau"], &["db.mairie.local"]);
        for text in [
            "La facturation de l'eau est de nouveau disponible depuis 14 h 30.",
            "Service rétabli 24/7, appelez le 01 23 45 67 89.",
            "Voir https://www.saint-exemple.fr/actualites pour les démarches.",
            "deadbeef décédé", // hex letters only: a word
            "rétabli à 14:30:00 précises",
        ] {
            assert!(privacy.check_public_text(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn private_shapes_are_refused() {
        let privacy = Privacy::for_test(&["eau"], &["DB.Mairie.local"]);
        for text in [
            "panne de db.mairie.local",
            "copie sous /var/lib/reprise",
            "partage \\\\srv\\partages",
            "écrire à jean.dupont@mairie.fr",
            "le 10.0.0.12 est tombé",
            "l'adresse fe80::1:2 répond",
            "snapshot 3f2a9c1b restauré",
            "voir 10.0.0.12:8080",
            "http://10.0.0.12/gestion",
            "le réseau 10.0.0.0/24",
            "C:/Users/marie",
            "smb://nas01/partages",
            "fe80::1%eth0",
            "::ffff:10.0.0.1",
            "jean.dupont@mairie",
        ] {
            assert!(privacy.check_public_text(text).is_err(), "{text}");
        }
    }
}
