//! Ransom notes and ransomware's own file extensions.
//!
//! A note is a small text file that ransomware drops in every directory it
//! touched. Names vary by family, but they share a vocabulary (decrypt,
//! recover, files, readme) and their text speaks of payment, keys and Tor.
//! Neither the name nor a word alone is enough: a README is not a ransom
//! note, and a security policy mentions encryption.

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

/// Phrases of ransom notes about money and contact, lowercased, in English
/// and French.
const DEMAND_PHRASES: &[&str] = &[
    "bitcoin",
    "btc",
    "monero",
    "wallet",
    ".onion",
    "tor browser",
    "ransom",
    "payment",
    "pay ",
    "leak",
    "rançon",
    "paiement",
    "payer",
];

/// Phrases of ransom notes about the damage.
const DAMAGE_PHRASES: &[&str] = &[
    "decrypt",
    "encrypted",
    "private key",
    "your files",
    "your network",
    "chiffré",
    "déchiffr",
    "vos fichiers",
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

/// How many phrases of a demand and of damage the text holds.
fn note_phrases(text: &[u8]) -> (usize, usize) {
    let lower = String::from_utf8_lossy(text).to_lowercase();
    let count = |phrases: &[&str]| phrases.iter().filter(|p| lower.contains(*p)).count();
    (count(DEMAND_PHRASES), count(DAMAGE_PHRASES))
}

/// Whether an extension (lowercase, no dot) is one ransomware is known for.
pub fn is_known_extension(ext: &str) -> bool {
    KNOWN_EXTENSIONS.contains(&ext)
}

/// Whether a note is a ransom note: its text must speak the language, and
/// either its name or its copies across directories must say so too.
pub fn is_ransom_note(name: &[u8], text: &[u8], copies: usize) -> bool {
    let (demand, damage) = note_phrases(text);
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
}
