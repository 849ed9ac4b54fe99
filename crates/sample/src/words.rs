//! The embedded French vocabulary and the seeded text generators built on it: prose for
//! letters and minutes, people's names, addresses, suppliers and amounts. Word-level random
//! text from a small vocabulary compresses like real prose (about 3-4x), unlike random bytes.

use fastrand::Rng;

use crate::calendar::Date;
use crate::rng::{chance, pick};

pub(crate) const TOWN: &str = "Saint-Exemple";
pub(crate) const POSTCODE: &str = "12345";

const SUBJECTS: &[&str] = &[
    "Le conseil municipal", "Madame la maire", "Le premier adjoint", "La commission des finances",
    "Le service technique", "Le secrétariat de mairie", "La commission enfance jeunesse",
    "Le comité des fêtes", "Le trésorier", "La directrice de l'école", "L'agent d'accueil",
    "Le syndicat des eaux", "La préfecture", "Le centre de gestion", "L'association sportive",
];
const VERBS: &[&str] = &[
    "approuve", "adopte", "valide", "examine", "propose", "rappelle", "précise", "indique",
    "autorise", "décide", "sollicite", "transmet", "prévoit", "souhaite", "présente", "signale",
    "confirme", "demande", "accorde", "fixe", "modifie", "reporte", "organise", "prépare",
    "étudie", "vérifie", "programme", "finance", "renouvelle", "suspend",
];
const NOUNS: &[&str] = &[
    "budget", "délibération", "subvention", "école", "cantine", "voirie", "travaux", "marché",
    "convention", "association", "réunion", "commission", "service", "dossier", "demande",
    "permis", "terrain", "parcelle", "salle", "équipement", "bibliothèque", "église", "cimetière",
    "stade", "compteur", "réseau", "assainissement", "facture", "tarif", "contrat", "projet",
    "rapport", "séance", "règlement", "famille", "inscription", "menu", "repas", "garderie",
    "personnel", "poste", "formation", "congé", "arrêté", "registre", "acte", "urbanisme",
    "chemin", "trottoir", "place", "fête", "village", "année", "trimestre", "montant", "crédit",
    "dépense", "recette", "emprunt", "investissement", "fonctionnement", "entretien",
    "chauffage", "éclairage", "sécurité", "collecte", "environnement", "jardin", "toiture",
    "devis", "avenant", "calendrier", "planning", "courrier", "habitant", "riverain",
    "entreprise", "chantier", "véhicule", "matériel", "logiciel", "sauvegarde", "archive",
    "recensement", "élection", "scrutin", "bureau", "local", "bâtiment", "mobilier",
];
const ADJECTIVES: &[&str] = &[
    "municipal", "communal", "public", "annuel", "nouveau", "prochain", "général", "scolaire",
    "technique", "administratif", "financier", "favorable", "nécessaire", "urgent", "provisoire",
    "définitif", "intercommunal", "exceptionnel", "important", "complémentaire", "modifié",
    "initial", "prévisionnel", "départemental", "périscolaire", "associatif",
];
const DETERMINERS: &[&str] = &[
    "le", "la", "les", "un", "une", "des", "ce", "cette", "ces", "notre", "leur", "chaque",
];
const LINKS: &[&str] = &[
    "de", "du", "pour", "avec", "dans", "sur", "par", "selon", "après", "avant", "et", "afin de",
    "lors de", "auprès de", "concernant", "en vue de", "malgré", "à propos de",
];
const TAILS: &[&str] = &[
    "conformément au code général des collectivités territoriales",
    "après en avoir délibéré",
    "à l'unanimité des membres présents",
    "sous réserve de l'avis du comptable public",
    "dans la limite des crédits inscrits au budget",
    "dès réception de la notification",
    "selon le calendrier arrêté en séance",
];
const SURNAMES: &[&str] = &[
    "MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY",
    "MOREAU", "SIMON", "LAURENT", "LEFEBVRE", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX",
    "VINCENT", "FOURNIER", "MOREL", "GIRARD", "ANDRÉ", "MERCIER", "DUPONT", "LAMBERT", "BONNET",
    "FRANÇOIS", "MARTINEZ", "LEGRAND", "GARNIER", "FAURE", "ROUSSEAU", "BLANC", "GUÉRIN",
    "MULLER", "HENRY", "ROUSSEL", "NICOLAS", "PERRIN", "MORIN", "MATHIEU", "CLÉMENT", "GAUTHIER",
    "DUMONT", "LOPEZ", "FONTAINE", "CHEVALIER", "ROBIN", "MASSON", "SANCHEZ", "BOYER", "DENIS",
];
const FIRST_NAMES: &[&str] = &[
    "Léa", "Emma", "Jade", "Louise", "Alice", "Chloé", "Lina", "Rose", "Anna", "Mila", "Inès",
    "Ambre", "Julia", "Zoé", "Manon", "Camille", "Gabriel", "Léo", "Raphaël", "Arthur", "Louis",
    "Jules", "Adam", "Lucas", "Hugo", "Noah", "Paul", "Nathan", "Tom", "Théo", "Sacha", "Maël",
    "Éthan", "Martin", "Nicolas", "Isabelle", "Sylvie", "Catherine", "Philippe", "Christophe",
    "Nathalie", "Françoise", "Jean", "Pierre", "Michel", "Marie", "Hélène", "Céline", "Aurélie",
];
const STREETS: &[&str] = &[
    "rue de la Mairie", "rue de l'Église", "place du Marché", "chemin des Vignes",
    "allée des Tilleuls", "route de la Forêt", "impasse des Lilas", "rue du Moulin",
    "avenue de la Gare", "rue des Écoles", "chemin du Lavoir", "rue Victor Hugo",
    "rue Jean Jaurès", "place de la Fontaine", "route départementale 12", "lieu-dit Les Prés",
];
pub(crate) const SUPPLIERS: &[&str] = &[
    "SARL Bâtiments du Val", "Électricité Moreau et Fils", "Papeterie Centrale",
    "Transports Girard", "Boulangerie du Centre", "EDF Collectivités", "Orange Business",
    "Veolia Eau", "Berger-Levrault", "Quincaillerie Dupont", "Garage de la Gare",
    "Restauration Scolaire Plus", "Imprimerie Lambert", "Espaces Verts Roux",
    "Assurances Mutuelles des Communes", "Fournitures Scolaires Martin",
];

/// One French-ish sentence, ending with a period.
pub(crate) fn push_sentence(rng: &mut Rng, out: &mut String) {
    out.push_str(pick(rng, SUBJECTS));
    out.push(' ');
    out.push_str(pick(rng, VERBS));
    push_noun_phrase(rng, out);
    for _ in 0..rng.usize(0..=3) {
        out.push(' ');
        out.push_str(pick(rng, LINKS));
        push_noun_phrase(rng, out);
    }
    push_sentence_ending(rng, out);
}

fn push_noun_phrase(rng: &mut Rng, out: &mut String) {
    out.push(' ');
    out.push_str(pick(rng, DETERMINERS));
    out.push(' ');
    out.push_str(pick(rng, NOUNS));
    if chance(rng, 40) {
        out.push(' ');
        out.push_str(pick(rng, ADJECTIVES));
    }
}

/// Numbers and set phrases make sentences vary the way minutes and letters do.
fn push_sentence_ending(rng: &mut Rng, out: &mut String) {
    match rng.u32(..10) {
        0 => {
            out.push_str(", pour un montant de ");
            out.push_str(&amount_french(rng.u64(1_000..5_000_000)));
            out.push_str(" euros");
        }
        1 => {
            out.push_str(" le ");
            out.push_str(&Date::random_in(rng, 2024).french_long());
        }
        2 | 3 => {
            out.push_str(", ");
            out.push_str(pick(rng, TAILS));
        }
        _ => {}
    }
    out.push_str(". ");
}

/// A paragraph of 2 to 6 sentences, without trailing space.
pub(crate) fn paragraph(rng: &mut Rng) -> String {
    let mut text = String::with_capacity(600);
    for _ in 0..rng.usize(2..=6) {
        push_sentence(rng, &mut text);
    }
    text.truncate(text.trim_end().len());
    text
}

/// Paragraphs adding up to about `approx_bytes` of UTF-8 text.
pub(crate) fn paragraphs(rng: &mut Rng, approx_bytes: u64) -> Vec<String> {
    let mut result = Vec::new();
    let mut size = 0;
    while size < approx_bytes {
        let paragraph = paragraph(rng);
        size += paragraph.len() as u64 + 2;
        result.push(paragraph);
    }
    result
}

/// Plain text of about `approx_bytes`, paragraphs separated by blank lines.
pub(crate) fn prose(rng: &mut Rng, approx_bytes: u64) -> String {
    let mut text = paragraphs(rng, approx_bytes).join("\n\n");
    text.push('\n');
    text
}

pub(crate) fn surname(rng: &mut Rng) -> &'static str {
    pick(rng, SURNAMES)
}

pub(crate) fn first_name(rng: &mut Rng) -> &'static str {
    pick(rng, FIRST_NAMES)
}

/// `12 rue du Moulin`
pub(crate) fn street_address(rng: &mut Rng) -> String {
    format!("{} {}", rng.u32(1..=120), pick(rng, STREETS))
}

/// `1 234,56`: French thousands separator and decimal comma, as in letters.
pub(crate) fn amount_french(cents: u64) -> String {
    let euros = (cents / 100).to_string();
    let mut grouped = String::with_capacity(euros.len() + 4);
    for (index, digit) in euros.chars().enumerate() {
        if index > 0 && (euros.len() - index) % 3 == 0 {
            grouped.push(' ');
        }
        grouped.push(digit);
    }
    format!("{grouped},{:02}", cents % 100)
}

/// `1234,56`: decimal comma without grouping, as French CSV exports write amounts.
pub(crate) fn amount_csv(cents: u64) -> String {
    format!("{},{:02}", cents / 100, cents % 100)
}

/// A lowercase ASCII form of a name, usable in file names (`GUÉRIN` -> `guerin`).
pub(crate) fn file_name_form(name: &str) -> String {
    name.chars()
        .map(|c| match c.to_lowercase().next().unwrap_or(c) {
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'à' | 'â' => 'a',
            'ç' => 'c',
            'î' | 'ï' => 'i',
            'ô' => 'o',
            'ù' | 'û' => 'u',
            c if c.is_ascii_alphanumeric() => c,
            _ => '-',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_spelled_the_french_way() {
        assert_eq!(amount_french(123_456_78), "123 456,78");
        assert_eq!(amount_french(1_234_56), "1 234,56");
        assert_eq!(amount_french(5), "0,05");
        assert_eq!(amount_csv(1_234_56), "1234,56");
    }

    #[test]
    fn file_name_form_strips_accents() {
        assert_eq!(file_name_form("GUÉRIN"), "guerin");
        assert_eq!(file_name_form("Éthan"), "ethan");
    }

    #[test]
    fn prose_has_about_the_requested_size() {
        let text = prose(&mut Rng::with_seed(1), 10_000);
        assert!((10_000..11_000).contains(&text.len()), "{}", text.len());
    }
}
