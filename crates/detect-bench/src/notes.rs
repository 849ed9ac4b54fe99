//! Ransom notes in varied wording: English and French templates, plain
//! text and HTML, with the victim ID, e-mail address, onion address, tox ID
//! and amount substituted in every copy, as real families do. Which
//! template a family's notes use depends on the seed and the note's name
//! (so on the scenario and the run); every copy then differs by its
//! numbers and addresses.

use crate::rng::{derived, pick};

/// A note template. Placeholders: `{ID}` (20 digits), `{MAIL}`, `{ONION}`
/// (a v3 onion address), `{TOX}` (76 hex digits), `{AMOUNT}` (in BTC).
struct Template {
    text: &'static str,
    /// Whether it speaks of payment, Tor or a wallet in plain words. Some
    /// real notes do not (they only say "contact us"): the families that
    /// measure what a detector does without that vocabulary use those too.
    demands: bool,
    html: bool,
}

const TEMPLATES: &[Template] = &[
    Template {
        text: "~~~ YOUR FILES ARE ENCRYPTED ~~~\n\n\
               All your documents, databases and photos were encrypted.\n\
               To recover them, contact us: {MAIL}\n\
               Do not rename the files. Do not try third-party tools.\n\n\
               Your personal ID: {ID}\n",
        demands: false,
        html: false,
    },
    Template {
        text: "Hello.\n\nWe have locked the servers of your organisation and copied its data.\n\
               Write to {MAIL} or, if we do not answer within 24 hours, to tox {TOX}.\n\
               Tell us this key: {ID}\n\
               Send us two small files: we will give them back to prove that we can.\n",
        demands: false,
        html: false,
    },
    Template {
        text: "ATTENTION!\n\nYour network has been penetrated and all your files are encrypted.\n\
               The only way to decrypt them is our private key. The price is {AMOUNT} BTC,\n\
               payable in bitcoin to the wallet we will give you in the chat.\n\
               Download the Tor Browser and open http://{ONION}.onion\n\
               Login ID: {ID}\n\
               If you do not pay, your data will be published on our leak site.\n",
        demands: true,
        html: false,
    },
    Template {
        text: "--- LockedDown ---\n\n\
               What happened? Your files are encrypted and currently unavailable.\n\
               Can I recover them? Yes. We guarantee that you can recover all your files\n\
               safely: pay the ransom and you will receive the decryption tool.\n\
               Contact: {MAIL} / TOX {TOX}\n\
               Chat (Tor Browser): {ONION}.onion  -  your ID {ID}\n",
        demands: true,
        html: false,
    },
    Template {
        text: "VOS FICHIERS SONT CHIFFRÉS\n\n\
               Tous vos documents, bases de données et photos ont été chiffrés.\n\
               Pour les récupérer, écrivez-nous : {MAIL}\n\
               Ne renommez pas les fichiers, n'utilisez aucun outil tiers.\n\n\
               Votre identifiant personnel : {ID}\n",
        demands: false,
        html: false,
    },
    Template {
        text:
            "Bonjour,\n\nLe réseau de votre collectivité a été compromis et vos données copiées.\n\
               Contactez-nous à {MAIL} ou sur tox {TOX} en indiquant la clé {ID}.\n\
               Envoyez-nous deux petits fichiers : nous vous les rendrons en preuve.\n",
        demands: false,
        html: false,
    },
    Template {
        text: "!!! ATTENTION !!!\n\nVos fichiers ont été chiffrés par un algorithme robuste.\n\
               Seule notre clé privée permet de les déchiffrer. Le prix : {AMOUNT} BTC,\n\
               à payer en bitcoin. Installez Tor Browser et ouvrez {ONION}.onion\n\
               Identifiant : {ID}\n\
               Sans paiement sous 72 heures, vos données seront publiées.\n",
        demands: true,
        html: false,
    },
    Template {
        text: "=== Récupération de vos données ===\n\n\
               Que s'est-il passé ? Vos fichiers sont chiffrés et inaccessibles.\n\
               Puis-je les récupérer ? Oui, après paiement de la rançon.\n\
               Contact : {MAIL} - TOX : {TOX}\n\
               Portail (Tor) : http://{ONION}.onion - votre identifiant : {ID}\n",
        demands: true,
        html: false,
    },
    Template {
        text: "<html><head><title>Files locked</title></head><body>\
               <h1>Your files are encrypted</h1>\
               <p>All your files have been encrypted due to a security problem with your PC.</p>\
               <p>To restore them, write to <b>{MAIL}</b> with the ID <b>{ID}</b>.</p>\
               <p>Do not rename encrypted files.</p></body></html>\n",
        demands: false,
        html: true,
    },
    Template {
        text: "<!DOCTYPE html><html lang=\"fr\"><body style=\"background:#900;color:#fff\">\
               <h2>Vos fichiers ont été chiffrés</h2>\
               <p>Pour les déchiffrer, payez {AMOUNT} BTC en bitcoin puis contactez\
               <a href=\"http://{ONION}.onion\">{ONION}.onion</a> (Tor Browser).</p>\
               <p>Identifiant : {ID} - e-mail : {MAIL}</p></body></html>\n",
        demands: true,
        html: true,
    },
    Template {
        text: "<html><body><h1>!!! YOUR NETWORK IS LOCKED !!!</h1>\
               <p>Your private data has been downloaded and your files encrypted.</p>\
               <p>Pay {AMOUNT} BTC (bitcoin) to get the decryptor. Chat: {ONION}.onion</p>\
               <p>Tox: {TOX}<br>Key: {ID}</p></body></html>\n",
        demands: true,
        html: true,
    },
];

/// Which templates a family may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wording {
    /// Only notes that speak of payment, Tor or a wallet.
    Demanding,
    /// Any note, including those that only say "contact us".
    Any,
}

/// Whether a note name calls for HTML.
fn is_html(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".html") || lower.ends_with(".htm") || lower.ends_with(".hta")
}

/// The text of copy `copy` of the note `name` that a family drops in
/// round `round`. The template is chosen per (seed, name, round); the
/// numbers and addresses per copy.
pub fn note(seed: u64, name: &str, round: usize, copy: usize, wording: Wording) -> String {
    let html = is_html(name);
    let fitting: Vec<&Template> = TEMPLATES
        .iter()
        .filter(|t| t.html == html && (wording == Wording::Any || t.demands))
        .collect();
    let mut chooser = derived(seed, &format!("note-template/{name}/{round}"));
    let template = match fitting.as_slice() {
        [] => &TEMPLATES[0],
        some => pick(&mut chooser, some),
    };
    let mut rng = derived(seed, &format!("note-copy/{name}/{round}/{copy}"));
    let id: String = (0..20).map(|_| char::from(b'0' + rng.u8(..10))).collect();
    let mailbox = alphanumeric(&mut rng, 12);
    let domain = pick(
        &mut rng,
        &["onionmail.org", "proton.me", "cock.li", "tutanota.com"],
    );
    let onion: String = (0..56)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz234567"[rng.usize(..32)]))
        .collect();
    let tox: String = (0..76)
        .map(|_| char::from(b"0123456789ABCDEF"[rng.usize(..16)]))
        .collect();
    let amount = format!("{}.{}", rng.u8(1..6), rng.u8(0..10));
    template
        .text
        .replace("{ID}", &id)
        .replace("{MAIL}", &format!("{mailbox}@{domain}"))
        .replace("{ONION}", &onion)
        .replace("{TOX}", &tox)
        .replace("{AMOUNT}", &amount)
}

fn alphanumeric(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.usize(..36)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_enough_templates_of_each_kind() {
        let count = |f: &dyn Fn(&Template) -> bool| TEMPLATES.iter().filter(|t| f(t)).count();
        let french = |t: &Template| t.text.contains("fichiers") || t.text.contains("Bonjour");
        assert!(count(&|t| !t.html && !french(t)) >= 4);
        assert!(count(&|t| !t.html && french(t)) >= 4);
        assert!(count(&|t| t.html) >= 2);
        assert!(TEMPLATES.iter().all(|t| t.text.contains("{ID}")));
    }

    #[test]
    fn every_copy_differs_and_the_choice_is_reproducible() {
        let a = note(1, "RECOVER.txt", 0, 0, Wording::Any);
        assert_eq!(a, note(1, "RECOVER.txt", 0, 0, Wording::Any));
        assert_ne!(a, note(1, "RECOVER.txt", 0, 1, Wording::Any));
        assert!(!a.contains('{'), "{a}");
        let html = note(1, "info.hta", 0, 0, Wording::Demanding);
        assert!(
            html.contains("<html") || html.contains("<!DOCTYPE"),
            "{html}"
        );
        // Demanding notes always say how to pay.
        for seed in 0..20 {
            let text = note(seed, "x.txt", 0, 0, Wording::Demanding).to_lowercase();
            assert!(text.contains("bitcoin") || text.contains("ransom") || text.contains("rançon"));
        }
        // Across seeds, several templates are used.
        let distinct: std::collections::BTreeSet<String> = (0..40)
            .map(|s| {
                note(s, "x.txt", 0, 0, Wording::Any)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert!(distinct.len() >= 5, "{distinct:?}");
    }
}
