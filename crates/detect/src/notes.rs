//! Ransom notes and ransomware's own file extensions.
//!
//! A note is a small text file that ransomware drops in every directory it
//! touched. Names vary by family, but they share a vocabulary (decrypt,
//! recover, files, readme) and their text speaks of payment, keys and Tor.
//! Neither the name nor a word alone is enough: a README is not a ransom
//! note, and a security policy mentions encryption.
//!
//! Notes are also recognised by what they are, whatever their words: the
//! copies an attack drops differ only by the victim's ID, a contact
//! address or a count, so once those are masked ([`masked`]) they are the
//! same text. The analysis groups copies by their masked text.

/// Words in a file name that ransom notes use, lowercased.
const NAME_WORDS: &[&str] = &[
    "decrypt",
    "recover",
    "restore",
    "readme",
    "read_me",
    "read-me",
    "how_to",
    "how-to",
    "howto",
    "ransom",
    "your_files",
    "yourfiles",
    "files_encrypted",
    "unlock",
    "instruction",
    "!!!",
    "attention",
    "help_",
    "_help",
    "rescue",
    "dechiffr",
    "déchiffr",
];

/// Phrases of ransom notes about money, anonymous channels and the
/// victim's identity, lowercased, in English and French.
const DEMAND_PHRASES: &[&str] = &[
    "bitcoin",
    "btc",
    "monero",
    "xmr",
    "wallet",
    ".onion",
    "<onion>",
    "tor browser",
    "ransom",
    "payment",
    "pay ",
    "leak",
    "rançon",
    "paiement",
    "payer",
    "your personal id",
    "your personal key",
    "personal id",
    "victim id",
    "identifiant personnel",
    "identifiant unique",
    "tox",
    "qtox",
    "tox id",
    "session id",
    "jabber",
    "xmpp",
    "negotiat",
    "négocier",
];

/// Phrases asking to get in touch: ransom notes use them, and so do many
/// honest texts, so they count as one demand phrase at most, however many.
const CONTACT_PHRASES: &[&str] = &[
    "contact us",
    "contact our",
    "write to us",
    "write to",
    "email us",
    "mail us",
    "contactez-nous",
    "contactez nous",
    "écrivez-nous",
    "écrivez à",
    "telegram",
    "protonmail",
    "onionmail",
    "your id",
    "votre identifiant",
];

/// Phrases of ransom notes about the damage: encryption and theft. "Your
/// files" alone is not among them: a letter or a README says it too.
const DAMAGE_PHRASES: &[&str] = &[
    "decrypt",
    "encrypted",
    "encryption",
    "private key",
    "your network",
    "do not rename",
    "don't rename",
    "do not try to decrypt",
    "do not try to recover",
    "third-party software",
    "stolen",
    "exfiltrat",
    "chiffré",
    "chiffrés",
    "chiffrement",
    "déchiffr",
    "clé de déchiffrement",
    "ne renommez pas",
    "données volées",
    "fichiers volés",
];

/// Extensions known from ransomware families, lowercased, without the dot.
const KNOWN_EXTENSIONS: &[&str] = &[
    "locky",
    "zepto",
    "odin",
    "cerber",
    "cerber3",
    "wncry",
    "wnry",
    "wcry",
    "crypt",
    "crypted",
    "cryptolocker",
    "encrypted",
    "enc",
    "locked",
    "lockbit",
    "pysa",
    "ryk",
    "ryuk",
    "conti",
    "hive",
    "akira",
    "royal",
    "blackcat",
    "phobos",
    "dharma",
    "stop",
    "djvu",
    "clop",
    "cl0p",
    "maze",
    "egregor",
    "sodinokibi",
    "revil",
    "babuk",
    "avos",
    "medusa",
    "play",
    "rhysida",
    "basta",
    "8base",
    "lockfile",
    "makop",
    "nefilim",
    "ragnar",
    "mallox",
    "xtbl",
    "vault",
    "crab",
    "gdcb",
];

/// Whether a file name reads like a ransom note's.
pub fn name_looks_like_note(name: &[u8]) -> bool {
    let lower = String::from_utf8_lossy(name).to_lowercase();
    NAME_WORDS.iter().any(|w| lower.contains(w))
}

/// How many phrases of a demand and of damage the text holds, read as
/// [`normalised`] text (HTML tags stripped, lowercase, IDs masked).
pub fn phrases(text: &[u8]) -> (usize, usize) {
    let text = normalised(text);
    let count = |phrases: &[&str]| phrases.iter().filter(|p| has_phrase(&text, p)).count();
    let contact = count(CONTACT_PHRASES).min(1);
    (count(DEMAND_PHRASES) + contact, count(DAMAGE_PHRASES))
}

/// Whether `phrase` occurs at the start of a word (`tox` in "qtox id" and
/// "tox: 1A2B", not in "toxic"; short phrases also end a word).
fn has_phrase(text: &str, phrase: &str) -> bool {
    let is_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let short = phrase.chars().count() <= 4;
    text.match_indices(phrase).any(|(i, _)| {
        let starts_word =
            !is_word(text[..i].chars().next_back()) || !phrase.starts_with(char::is_alphanumeric);
        let after = text[i + phrase.len()..].chars().next();
        starts_word && (!short || !is_word(after) || !phrase.ends_with(char::is_alphanumeric))
    })
}

/// Note text as compared and matched: HTML tags and entities dropped,
/// lowercase, whitespace collapsed, and the tokens that differ from copy to
/// copy masked: anything with a digit (IDs, counts, dates, amounts),
/// e-mail and onion addresses, URLs, paths, and long hex, base32 or base64
/// runs.
pub fn normalised(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let text = strip_markup(&text);
    let mut out = String::with_capacity(text.len());
    for token in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&mask(token));
    }
    out
}

/// Words a text must hold, besides masked tokens, to be read as a note by
/// its copies alone: files holding only a number or an ID (a lock file, a
/// version stamp) mask alike but say nothing.
const NOTE_WORDS_MIN: usize = 5;

/// Whether the text says something: [`NOTE_WORDS_MIN`] words with letters
/// that are not masked tokens.
pub fn has_words(text: &[u8]) -> bool {
    normalised(text)
        .split(' ')
        .filter(|t| !t.starts_with('<') && t.chars().any(char::is_alphabetic))
        .nth(NOTE_WORDS_MIN - 1)
        .is_some()
}

/// A hash of the [`normalised`] text: copies of one note share it.
pub fn masked(text: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    normalised(text).hash(&mut hasher);
    hasher.finish()
}

/// One whitespace-separated token, lowercased, or its mask.
fn mask(token: &str) -> String {
    let lower = token.to_lowercase();
    let core = lower.trim_matches(|c: char| !c.is_alphanumeric());
    if core.contains(".onion") {
        "<onion>".into()
    } else if core.contains('@') {
        "<email>".into()
    } else if core.contains("://") || core.starts_with("www.") {
        "<url>".into()
    } else if core.contains(['/', '\\']) {
        // The folder a copy lies in, which some notes name.
        "<path>".into()
    } else if core.chars().any(|c| c.is_ascii_digit()) || is_encoded_id(core) {
        "<id>".into()
    } else {
        lower
    }
}

/// A run of 16 characters or more of a base64 alphabet (which holds hex's
/// and base32's): keys and IDs. Words that long are rare, and masking one
/// only makes two texts more alike, never a note look like another text.
fn is_encoded_id(token: &str) -> bool {
    token.len() >= 16
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_'))
}

/// Text with HTML tags replaced by spaces and entities by their character
/// (or a space): a note in HTML reads like one in plain text.
fn strip_markup(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('<') && !text.contains('&') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['<', '&']) {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = if after.starts_with('<') {
            after.find('>').filter(|&e| e < 2048)
        } else {
            after.find(';').filter(|&e| e < 10)
        };
        match end {
            Some(e) => {
                out.push_str(entity(&after[..=e]));
                rest = &after[e + 1..];
            }
            None => {
                out.push_str(&after[..1]);
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out.into()
}

/// What a tag or entity stands for in the text.
fn entity(markup: &str) -> &'static str {
    match markup {
        "&amp;" => "&",
        "&apos;" | "&#39;" | "&rsquo;" => "'",
        "&eacute;" => "é",
        "&egrave;" => "è",
        "&agrave;" => "à",
        _ => " ",
    }
}

/// Whether an extension (lowercase, no dot) is one ransomware is known for.
pub fn is_known_extension(ext: &str) -> bool {
    KNOWN_EXTENSIONS.contains(&ext)
}

/// Whether a note is a ransom note: its text must speak the language, and
/// either its name or its copies across directories must say so too.
pub fn is_ransom_note(name: &[u8], text: &[u8], copies: usize) -> bool {
    let (demand, damage) = phrases(text);
    (demand >= 2 && damage >= 2)
        || (demand >= 1 && damage >= 1 && (name_looks_like_note(name) || copies >= 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_need_both_words_and_a_name_or_copies() {
        let note = b"All your files are encrypted. To decrypt them, pay 0.5 BTC to our wallet.";
        let terse = b"Your files are encrypted. Payment instructions inside.";
        assert!(is_ransom_note(b"HOW_TO_DECRYPT.txt", terse, 1));
        assert!(!is_ransom_note(b"notes.txt", terse, 1));
        assert!(is_ransom_note(b"RECOVER_YOUR_FILES.txt", note, 1));
        assert!(
            is_ransom_note(b"info.txt", note, 1),
            "a full demand suffices"
        );
        let readme = b"This folder holds the council's minutes. Ask the clerk for access.";
        assert!(!is_ransom_note(b"README.txt", readme, 40));
        let policy = b"Backups are encrypted with a private key. Ask IT for a restore.";
        assert!(!is_ransom_note(b"README.txt", policy, 1));
        assert!(is_known_extension("pysa"));
        assert!(!is_known_extension("docx"));
    }

    /// The issue's note, with neither a note's name nor the old vocabulary.
    #[test]
    fn the_issues_note_reads_like_one() {
        let note = b"YOUR FILES ARE ENCRYPTED\n\nTo recover them contact us.\nYour personal ID: 18199851800360905273\n";
        assert!(is_ransom_note(b"info.txt", note, 3));
        let fr = "<html><body><h1>Vos fichiers ont &eacute;t&eacute; chiffr&eacute;s</h1>\
            <p>Pour obtenir la cl&eacute; de d&eacute;chiffrement, contactez-nous sur qTox.</p>\
            <p>Votre identifiant personnel : 5F3A9C0B2E71D4A8</p></body></html>";
        assert!(is_ransom_note(b"LISEZ-MOI.html", fr.as_bytes(), 1));
        // "tox" is a word of its own, not part of "toxic".
        let safety = b"Toxic products are stored in the encrypted room.";
        assert_eq!(phrases(safety), (0, 1));
        // A README asks to get in touch and speaks of your files: no note.
        let readme = b"Your files and settings are kept. To restore the previous version, contact us or write to support@example.org.";
        assert_eq!(phrases(readme), (1, 0));
        assert!(!is_ransom_note(b"README.txt", readme, 40));
    }

    #[test]
    fn copies_with_their_own_ids_mask_to_the_same_text() {
        let copy = |id: &str, mail: &str| {
            format!("YOUR FILES ARE ENCRYPTED.\nYour personal ID: {id}\nWrite to {mail} or http://{id}.example/chat\nKey: {id}QWERTYUIOPASDFGH\n")
        };
        let a = copy("18199851800360905273", "a1@proton.me");
        let b = copy("90210553811027346612", "zz9@proton.me");
        assert_eq!(masked(a.as_bytes()), masked(b.as_bytes()));
        assert_ne!(
            masked(a.as_bytes()),
            masked(b"YOUR FILES ARE SAFE.\nYour personal ID: 1")
        );
        // A mail merge differs by names, which are words: not masked.
        let letter =
            |name: &str, n: u32| format!("Madame {name},\nvotre dossier n° {n} est complet.\n");
        assert_ne!(
            masked(letter("Dupont", 12).as_bytes()),
            masked(letter("Martin", 13).as_bytes())
        );
        assert_eq!(
            masked(b"Files in C:\\Users\\mairie\\Documents are locked"),
            masked(b"Files in /srv/partage/urbanisme are locked")
        );
        assert!(has_words(a.as_bytes()));
        assert!(!has_words(b"pid 4242\n"));
        assert!(!has_words(b"18199851800360905273 a1@proton.me"));
        assert_eq!(
            normalised(b"<p>Bonjour&nbsp;<b>tous</b></p>\n  ID:123"),
            "bonjour tous <id>"
        );
    }
}
