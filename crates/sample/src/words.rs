//! The embedded French vocabulary and the seeded text generators built on it: prose for
//! letters and minutes, people's names, addresses, suppliers and amounts. Word-level random
//! text from a small vocabulary compresses like real prose (about 3-4x), unlike random bytes.

use fastrand::Rng;

use crate::calendar::Date;
use crate::rng::{chance, pick};

pub(crate) const TOWN: &str = "Saint-Exemple";

#[rustfmt::skip]
const SUBJECTS: &[&str] = &[
    "Le conseil municipal", "Madame la maire", "Le premier adjoint", "La commission des finances",
    "Le service technique", "Le secrétariat de mairie", "La commission enfance jeunesse",
    "Le comité des fêtes", "Le trésorier", "La directrice de l'école", "L'agent d'accueil",
    "Le syndicat des eaux", "La préfecture", "Le centre de gestion", "L'association sportive",
    "La communauté de communes", "Le conseil départemental", "Le bureau d'études",
    "Le garde champêtre", "La bibliothécaire", "Le policier municipal", "La secrétaire générale",
];

/// First-group verbs by stem; they are conjugated on the fly (`approuv` -> `approuvent`).
#[rustfmt::skip]
const VERB_STEMS: &[&str] = &[
    "approuv", "adopt", "valid", "examin", "propos", "précis", "indiqu", "autoris", "décid",
    "sollicit", "souhait", "présent", "signal", "confirm", "demand", "accord", "fix", "modifi",
    "report", "organis", "prépar", "étudi", "vérifi", "programm", "financ", "constat", "rénov",
    "install", "remplac", "réserv", "inform", "consult", "cré", "supprim", "transfér", "publi",
    "communiqu", "recens", "affect", "attribu", "évalu", "engag", "mandat", "encaiss", "rembours",
    "réclam", "répar", "élag", "déneig", "aménag", "raccord", "contrôl", "accompagn", "planifi",
    "sécuris", "numéris", "archiv", "enregistr", "recrut", "form", "indemnis", "subventionn",
];

const VERB_ENDINGS: &[&str] = &["e", "ent", "é", "ée", "és", "era", "eront", "ait", "er"];

#[rustfmt::skip]
const NOUNS: &[&str] = &[
    "budget", "délibération", "subvention", "école", "cantine", "voirie", "marché", "convention", "association", "réunion",
    "commission", "service", "dossier", "demande", "permis", "terrain", "parcelle", "salle",
    "équipement", "bibliothèque", "église", "cimetière", "stade", "compteur", "réseau",
    "assainissement", "facture", "tarif", "contrat", "projet", "rapport", "séance", "règlement",
    "famille", "inscription", "menu", "repas", "garderie", "personnel", "poste", "formation",
    "congé", "arrêté", "registre", "acte", "urbanisme", "chemin", "trottoir", "place", "fête",
    "village", "année", "trimestre", "montant", "crédit", "dépense", "recette", "emprunt",
    "investissement", "fonctionnement", "entretien", "chauffage", "éclairage", "sécurité",
    "collecte", "environnement", "jardin", "toiture", "devis", "avenant", "calendrier", "planning",
    "courrier", "habitant", "riverain", "entreprise", "chantier", "véhicule", "matériel",
    "logiciel", "sauvegarde", "archive", "recensement", "élection", "scrutin", "bureau", "local",
    "bâtiment", "mobilier", "lotissement", "carrefour", "pont", "ruisseau", "fossé", "haie",
    "lampadaire", "panneau", "parking", "gymnase", "préau", "classe", "cour", "portail", "clôture",
    "canalisation", "station", "réservoir", "forage", "captage", "analyse", "relevé", "abonnement",
    "échéance", "impayé", "relance", "titre", "mandat", "bordereau", "compte", "bilan",
    "inventaire", "amortissement", "provision", "dotation", "taxe", "redevance", "loyer", "bail",
    "assurance", "sinistre", "expertise", "litige", "recours", "avis", "enquête", "affichage",
    "publication", "bulletin", "site", "agenda", "cérémonie", "commémoration", "monument",
    "drapeau", "banquet", "concours", "spectacle", "exposition", "animation", "atelier", "sortie",
    "séjour", "transport", "car", "horaire", "accueil", "guichet", "permanence", "rendez-vous",
    "courriel", "téléphone", "imprimante", "serveur", "ordinateur", "mot de passe", "licence",
    "maintenance", "panne", "intervention", "agent", "adjoint", "élu", "conseiller", "maire",
    "secrétaire", "stagiaire", "apprenti", "candidat", "jury", "entretien annuel", "évaluation",
    "prime", "grade", "échelon", "carrière", "retraite", "mutuelle", "médecine", "accident",
    "arrêt", "visite", "plan", "cadastre", "servitude", "alignement", "bornage", "zonage",
    "cabinet", "notaire", "géomètre", "architecte", "quartier", "hameau", "lavoir", "fontaine",
    "moulin", "verger", "potager", "sentier", "rivière", "berge", "digue", "crue", "orage",
    "tempête", "neige", "verglas", "sel", "chasse-neige", "tracteur", "tondeuse",
    "débroussailleuse", "benne", "conteneur", "déchetterie", "compost", "colis", "enveloppe",
    "timbre", "tampon", "signature", "parapheur", "classeur", "photocopie", "formulaire",
    "justificatif", "attestation", "certificat", "livret", "passeport", "identité", "naissance",
    "mariage", "décès", "reconnaissance", "divorce", "filiation", "tutelle", "pacte", "témoin",
    "officier", "greffe", "tribunal", "gendarmerie", "pompier", "secours", "défibrillateur",
    "alarme", "extincteur", "évacuation", "exercice", "risque", "inondation", "sécheresse",
    "canicule", "restriction", "arrosage", "piscine", "camping", "gîte", "foire", "commerçant",
    "artisan", "boulangerie", "épicerie", "pharmacie", "cabinet médical", "crèche",
    "assistante maternelle", "collège", "lycée", "ramassage", "cartable", "goûter", "vacances",
];

#[rustfmt::skip]
const ADJECTIVES: &[&str] = &[
    "municipal", "communal", "public", "annuel", "nouveau", "prochain", "général", "scolaire",
    "technique", "administratif", "financier", "favorable", "nécessaire", "urgent", "provisoire",
    "définitif", "intercommunal", "exceptionnel", "important", "complémentaire", "modifié",
    "initial", "prévisionnel", "départemental", "périscolaire", "associatif", "mensuel",
    "trimestriel", "régional", "national", "local", "ancien", "récent", "complet", "partiel",
    "gratuit", "payant", "obligatoire", "facultatif", "réglementaire", "budgétaire", "comptable",
    "juridique", "électoral", "culturel", "sportif", "touristique", "agricole", "forestier",
    "rural", "numérique", "informatique", "sanitaire", "thermique", "énergétique", "accessible",
    "dégradé", "endommagé", "rénové", "signé", "validé", "transmis", "reçu", "prévu", "réalisé",
    "urbain", "voisin", "principal", "secondaire", "collectif", "individuel", "familial", "social",
    "médical", "postal", "fiscal", "moyen", "long", "court", "petit", "grand", "bas", "haut",
    "premier", "dernier", "suivant", "précédent", "actuel", "futur", "prioritaire", "disponible",
    "incomplet", "conforme", "illisible", "manquant", "supplémentaire",
];

#[rustfmt::skip]
const DETERMINERS: &[&str] = &[
    "le", "la", "les", "un", "une", "des", "ce", "cette", "ces", "notre", "leur", "chaque",
    "plusieurs", "certains", "deux", "trois", "tout le", "aucun",
];

#[rustfmt::skip]
const LINKS: &[&str] = &[
    "de", "du", "pour", "avec", "dans", "sur", "par", "selon", "après", "avant", "et", "afin de",
    "lors de", "auprès de", "concernant", "en vue de", "malgré", "à propos de", "sans", "sous",
    "entre", "vers", "depuis", "pendant", "contre", "grâce à", "en raison de", "à la suite de",
];

#[rustfmt::skip]
const TAILS: &[&str] = &[
    "conformément au code général des collectivités territoriales", "après en avoir délibéré",
    "à l'unanimité des membres présents", "sous réserve de l'avis du comptable public",
    "dans la limite des crédits inscrits au budget", "dès réception de la notification",
    "selon le calendrier arrêté en séance", "par douze voix pour et deux abstentions",
    "sauf avis contraire du contrôle de légalité",
];

#[rustfmt::skip]
const SURNAMES: &[&str] = &[
    "MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY",
    "MOREAU", "SIMON", "LAURENT", "LEFEBVRE", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX",
    "VINCENT", "FOURNIER", "MOREL", "GIRARD", "ANDRÉ", "MERCIER", "DUPONT", "LAMBERT", "BONNET",
    "FRANÇOIS", "MARTINEZ", "LEGRAND", "GARNIER", "FAURE", "ROUSSEAU", "BLANC", "GUÉRIN", "MULLER",
    "HENRY", "ROUSSEL", "NICOLAS", "PERRIN", "MORIN", "MATHIEU", "CLÉMENT", "GAUTHIER", "DUMONT",
    "LOPEZ", "FONTAINE", "CHEVALIER", "ROBIN", "MASSON", "SANCHEZ", "BOYER", "DENIS", "LEMAIRE",
    "DUVAL", "JOLY", "GAUTIER", "ROGER", "ROCHE", "ROY", "NOEL", "MEYER", "LUCAS", "MEUNIER",
    "JEAN", "PEREZ", "MARCHAND", "DUFOUR", "BLANCHARD", "MARIE", "BARBIER", "BRUN", "DUMAS",
    "BRUNET", "SCHMITT", "LEROUX", "COLIN", "FERNANDEZ", "PIERRE", "RENARD", "ARNAUD", "ROLLAND",
    "CARON", "AUBERT", "GIRAUD", "LECLERC", "VIDAL", "BOURGEOIS", "RENAUD", "LEMOINE", "PICARD",
    "GAILLARD", "PHILIPPE", "LECLERCQ", "LACROIX", "FABRE", "DUPUIS", "OLIVIER", "RODRIGUEZ",
    "DA SILVA", "HUBERT", "LOUIS", "CHARLES", "GUILLOT", "RIVIÈRE", "LE GALL", "GUILLAUME", "ADAM",
    "RAY", "MOULIN", "GONZALEZ", "BERGER", "LECOMTE", "MENARD", "FLEURY", "DESCHAMPS", "CARPENTIER",
    "JULIEN", "BENOIT", "PARIS", "MAILLARD", "MARCHAL", "AUBRY", "VASSEUR", "LE ROUX", "RENAULT",
    "JACQUET", "COLLET", "PRÉVOST", "POIRIER", "CHARPENTIER",
];

#[rustfmt::skip]
const FIRST_NAMES: &[&str] = &[
    "Léa", "Emma", "Jade", "Louise", "Alice", "Chloé", "Lina", "Rose", "Anna", "Mila", "Inès",
    "Ambre", "Julia", "Zoé", "Manon", "Camille", "Gabriel", "Léo", "Raphaël", "Arthur", "Louis",
    "Jules", "Adam", "Lucas", "Hugo", "Noah", "Paul", "Nathan", "Tom", "Théo", "Sacha", "Maël",
    "Éthan", "Martin", "Nicolas", "Isabelle", "Sylvie", "Catherine", "Philippe", "Christophe",
    "Nathalie", "Françoise", "Jean", "Pierre", "Michel", "Marie", "Hélène", "Céline", "Aurélie",
    "Agathe", "Juliette", "Margaux", "Clémence", "Victoire", "Lou", "Iris", "Adèle", "Romane",
    "Capucine", "Léonie", "Apolline", "Elsa", "Charlotte", "Mathilde", "Valentine", "Eva",
    "Gaspard", "Victor", "Maxime", "Antoine", "Timéo", "Aaron", "Clément", "Mathis", "Baptiste",
    "Valentin", "Axel", "Simon", "Noé", "Marius", "Augustin", "Émile", "Léon", "Côme", "Basile",
    "Bernard", "Jacqueline", "Monique", "Gérard", "Daniel", "Alain", "Patrick", "Dominique",
    "Christine", "Véronique", "Sandrine", "Stéphanie", "Laurent", "Thierry", "Olivier", "Sophie",
];

#[rustfmt::skip]
const STREETS: &[&str] = &[
    "rue de la Mairie", "rue de l'Église", "place du Marché", "chemin des Vignes",
    "allée des Tilleuls", "route de la Forêt", "impasse des Lilas", "rue du Moulin",
    "avenue de la Gare", "rue des Écoles", "chemin du Lavoir", "rue Victor Hugo", "rue Jean Jaurès",
    "place de la Fontaine", "route départementale 12", "lieu-dit Les Prés", "rue Pasteur",
    "rue du Général de Gaulle", "chemin de la Croix", "rue des Jardins", "impasse du Four",
    "rue de la Poste", "allée des Peupliers", "rue Saint-Martin", "chemin des Écoliers",
    "route de Villeneuve", "rue des Artisans", "hameau de la Combe",
];

#[rustfmt::skip]
pub(crate) const SUPPLIERS: &[&str] = &[
    "SARL Bâtiments du Val", "Électricité Moreau et Fils", "Papeterie Centrale",
    "Transports Girard", "Boulangerie du Centre", "EDF Collectivités", "Orange Business",
    "Veolia Eau", "Berger-Levrault", "Quincaillerie Dupont", "Garage de la Gare",
    "Restauration Scolaire Plus", "Imprimerie Lambert", "Espaces Verts Roux",
    "Assurances Mutuelles des Communes", "Fournitures Scolaires Martin",
];

/// One French-ish sentence, ending with a period.
pub(crate) fn push_sentence(rng: &mut Rng, out: &mut String) {
    if chance(rng, 50) {
        out.push_str(pick(rng, SUBJECTS));
    } else {
        push_capitalized_noun_phrase(rng, out);
    }
    out.push(' ');
    out.push_str(pick(rng, VERB_STEMS));
    out.push_str(pick(rng, VERB_ENDINGS));
    push_noun_phrase(rng, out);
    for _ in 0..rng.usize(0..=3) {
        out.push(' ');
        out.push_str(pick(rng, LINKS));
        push_noun_phrase(rng, out);
    }
    push_sentence_ending(rng, out);
}

fn push_capitalized_noun_phrase(rng: &mut Rng, out: &mut String) {
    let start = out.len();
    push_noun_phrase(rng, out);
    out.remove(start);
    if let Some(first) = out[start..].chars().next() {
        let capital: String = first.to_uppercase().collect();
        out.replace_range(start..start + first.len_utf8(), &capital);
    }
}

fn push_noun_phrase(rng: &mut Rng, out: &mut String) {
    out.push(' ');
    out.push_str(pick(rng, DETERMINERS));
    out.push(' ');
    // Agreement with the determiner is not attempted, but inflected forms vary the text the
    // way real prose does.
    let plural = chance(rng, 30);
    push_noun(out, pick(rng, NOUNS), plural);
    if chance(rng, 50) {
        out.push(' ');
        let feminine = chance(rng, 40);
        push_adjective(out, pick(rng, ADJECTIVES), feminine, plural);
    }
    if chance(rng, 25) {
        push_proper_complement(rng, out);
    }
}

/// `local` -> `locaux`, `bureau` -> `bureaux`, `mot de passe` -> `mots de passe`.
fn push_noun(out: &mut String, noun: &str, plural: bool) {
    let (head, rest) = noun
        .split_once(' ')
        .map_or((noun, ""), |(head, rest)| (head, rest));
    if !plural || head.ends_with(['s', 'x', 'z']) {
        out.push_str(head);
    } else if let Some(stem) = head.strip_suffix("al") {
        out.push_str(stem);
        out.push_str("aux");
    } else {
        out.push_str(head);
        out.push(if head.ends_with("eau") { 'x' } else { 's' });
    }
    if !rest.is_empty() {
        out.push(' ');
        out.push_str(rest);
    }
}

/// `annuel` -> `annuelle(s)`, `public` -> `publique(s)`, `national` -> `nationaux`.
fn push_adjective(out: &mut String, adjective: &str, feminine: bool, plural: bool) {
    if feminine {
        out.push_str(&feminine_adjective(adjective));
        if plural {
            out.push('s');
        }
    } else {
        push_noun(out, adjective, plural);
    }
}

fn feminine_adjective(adjective: &str) -> String {
    let strip = |suffix: &str| &adjective[..adjective.len() - suffix.len()];
    match adjective {
        "nouveau" => "nouvelle".to_string(),
        "public" => "publique".to_string(),
        "long" => "longue".to_string(),
        "bas" => "basse".to_string(),
        _ if adjective.ends_with('e') => adjective.to_string(),
        _ if adjective.ends_with("el") => format!("{adjective}le"),
        _ if adjective.ends_with("en") => format!("{adjective}ne"),
        _ if adjective.ends_with("er") => format!("{}ère", strip("er")),
        _ if adjective.ends_with("et") => format!("{}ète", strip("et")),
        _ if adjective.ends_with('f') => format!("{}ve", strip("f")),
        _ => format!("{adjective}e"),
    }
}

/// `de Madame GUÉRIN`, `rue du Moulin`, `n° 2024-117`: the specifics real letters are full of.
fn push_proper_complement(rng: &mut Rng, out: &mut String) {
    match rng.u32(..5) {
        0 | 3 => {
            out.push_str(if chance(rng, 50) {
                " de Madame "
            } else {
                " de Monsieur "
            });
            out.push_str(surname(rng));
        }
        1 => {
            out.push_str(", ");
            out.push_str(&street_address(rng));
        }
        2 => {
            out.push_str(" du ");
            let year = rng.u16(2018..=2024);
            out.push_str(&Date::random_in(rng, year).french_numeric());
        }
        _ => out.push_str(&format!(" n° {}-{}", rng.u16(2015..=2024), rng.u16(1..999))),
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
        2 => {
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
        if index > 0 && (euros.len() - index).is_multiple_of(3) {
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
        assert_eq!(amount_french(12_345_678), "123 456,78");
        assert_eq!(amount_french(123_456), "1 234,56");
        assert_eq!(amount_french(5), "0,05");
        assert_eq!(amount_csv(123_456), "1234,56");
    }

    #[test]
    fn inflections_follow_french_rules() {
        let inflect = |adjective: &str, feminine: bool, plural: bool| {
            let mut out = String::new();
            push_adjective(&mut out, adjective, feminine, plural);
            out
        };
        assert_eq!(inflect("annuel", true, true), "annuelles");
        assert_eq!(inflect("ancien", true, false), "ancienne");
        assert_eq!(inflect("premier", true, false), "première");
        assert_eq!(inflect("complet", true, false), "complète");
        assert_eq!(inflect("définitif", true, false), "définitive");
        assert_eq!(inflect("national", false, true), "nationaux");
        assert_eq!(inflect("nouveau", false, true), "nouveaux");
        assert_eq!(inflect("public", true, false), "publique");
        let mut noun = String::new();
        push_noun(&mut noun, "mot de passe", true);
        assert_eq!(noun, "mots de passe");
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

#[cfg(test)]
mod compressibility_tests {
    use super::*;

    /// Real French prose compresses about 3-4x with zstd; word salad from a tiny vocabulary
    /// would compress far more, random bytes not at all.
    #[test]
    fn prose_compresses_like_real_text() -> std::io::Result<()> {
        let text = prose(&mut Rng::with_seed(5), 1 << 20);
        let compressed = zstd::encode_all(text.as_bytes(), 3)?;
        let ratio = text.len() as f64 / compressed.len() as f64;
        println!("prose zstd ratio {ratio:.2}");
        assert!((2.5..4.5).contains(&ratio), "ratio {ratio:.2}");
        Ok(())
    }
}
