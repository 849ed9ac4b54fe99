//! The small service catalogue the demo drills, and its data, generated
//! from fixed seeds: the civil register (`etat-civil`, an SQLite database,
//! the most urgent service), the school canteen (`cantine`, SQLite, which
//! depends on the register), the file shares (`partages`), the staff
//! directory (`annuaire`, a command source: `cat` of an LDIF file where a
//! town would run slapcat), and, when the demo started a throw-away
//! PostgreSQL, water billing (`facturation-eau`). The catalogue is the
//! TOML a town would write (docs/CONFIG.md), kept in the demo's directory.

use anyhow::{Context, Result};
use reprise_databases::{Engine, Replace, Sqlite};
use reprise_sample::DocumentKind;
use reprise_services::config::Config;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const SURNAMES: [&str; 24] = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "Garcia",
    "Fournier",
    "Girard",
    "Mercier",
    "Dupont",
    "Lambert",
    "D'Almeida",
    "Le Goff",
    "N'Diaye",
    "Kerhervé",
];
const FIRST_NAMES: [&str; 20] = [
    "Jean", "Marie", "Louise", "Gabriel", "Léa", "Raphaël", "Emma", "Arthur", "Jade", "Louis",
    "Chloé", "Jules", "Inès", "Adam", "Manon", "Hugo", "Zoé", "Nathan", "Camille", "Noé",
];
const MEALS: [&str; 8] = [
    "soupe de potiron",
    "gratin de courgettes",
    "poisson pané, riz",
    "hachis parmentier",
    "lasagnes aux légumes",
    "poulet rôti, haricots verts",
    "couscous",
    "omelette, pommes de terre",
];

/// Civil acts in the register; the canteen's children; water subscribers
/// and their bills (four each).
pub(super) const ACTS: u64 = 3000;
pub(super) const CHILDREN: u64 = 240;
pub(super) const SUBSCRIBERS: u64 = 400;
pub(super) const BILLS: u64 = SUBSCRIBERS * 4;

/// The database water billing gets on the throw-away PostgreSQL.
pub(super) const WATER_DATABASE: &str = "facturation_eau";

/// A reproducible stream of numbers (SplitMix64): the same town each run.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, table: &[&'a str]) -> &'a str {
        let i = usize::try_from(self.below(table.len() as u64)).unwrap_or(0);
        table.get(i).copied().unwrap_or_default()
    }

    fn date(&mut self, first_year: u64, years: u64) -> String {
        format!(
            "{}-{:02}-{:02}",
            first_year + self.below(years),
            1 + self.below(12),
            1 + self.below(28)
        )
    }
}

/// An SQL string literal.
fn sql_text(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A TOML string holding `path` (JSON's escapes are TOML's).
fn toml_path(path: &Path) -> Result<String> {
    let text = path
        .to_str()
        .with_context(|| format!("{} is not UTF-8: give --dir a UTF-8 path", path.display()))?;
    Ok(serde_json::to_string(text)?)
}

/// The places the catalogue's data was generated in.
pub(super) struct Generated {
    pub(super) dir: PathBuf,
    pub(super) summary: String,
}

impl Generated {
    fn register(&self) -> PathBuf {
        self.dir.join("etat-civil.sqlite")
    }
    fn canteen(&self) -> PathBuf {
        self.dir.join("cantine.sqlite")
    }
    pub(super) fn shares(&self) -> PathBuf {
        self.dir.join("partages")
    }
    fn directory(&self) -> PathBuf {
        self.dir.join("annuaire.ldif")
    }
    /// Where the catalogue's drills restore (removed after each).
    pub(super) fn drill_dir(&self) -> PathBuf {
        self.dir.join("exercice")
    }
    pub(super) fn config_file(&self) -> PathBuf {
        self.dir.join("reprise.toml")
    }
}

/// Generates every service's data in `dir`.
pub(super) fn generate(dir: &Path) -> Result<Generated> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let generated = Generated {
        dir: dir.to_path_buf(),
        summary: String::new(),
    };
    load_sqlite(&generated.register(), &civil_register_sql())?;
    load_sqlite(&generated.canteen(), &canteen_sql())?;
    let (files, bytes) = write_shares(&generated.shares())?;
    let agents = write_directory(&generated.directory())?;
    let summary = format!(
        "etat-civil.sqlite ({ACTS} acts), cantine.sqlite ({CHILDREN} children), \
         partages ({files} files, {}), annuaire.ldif ({agents} agents)",
        crate::output::bytes(bytes)
    );
    Ok(Generated {
        summary,
        ..generated
    })
}

fn load_sqlite(path: &Path, sql: &str) -> Result<()> {
    Sqlite::new()
        .restore(
            &path.display().to_string(),
            &mut sql.as_bytes(),
            Replace::Never,
        )
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Births, marriages and deaths since 1950, some with a marginal note.
fn civil_register_sql() -> String {
    let mut rng = Seeded(13);
    let mut sql = String::from(
        "BEGIN TRANSACTION;\nCREATE TABLE actes(id INTEGER PRIMARY KEY, nature TEXT NOT NULL, \
         registre TEXT NOT NULL, date TEXT NOT NULL, nom TEXT NOT NULL, prenom TEXT NOT NULL, \
         mention TEXT);\n",
    );
    for id in 1..=ACTS {
        let nature = rng.pick(&["naissance", "naissance", "mariage", "décès"]);
        let date = rng.date(1950, 77);
        let mention = match rng.below(10) {
            0 => sql_text(&format!(
                "Mariée le {}\navec {} {}",
                rng.date(1970, 50),
                rng.pick(&FIRST_NAMES),
                rng.pick(&SURNAMES)
            )),
            _ => "NULL".into(),
        };
        let _ = writeln!(
            sql,
            "INSERT INTO actes VALUES({id},{},{},{},{},{},{mention});",
            sql_text(nature),
            sql_text(&format!(
                "{}-{}",
                date.get(..4).unwrap_or_default(),
                id % 500
            )),
            sql_text(&date),
            sql_text(rng.pick(&SURNAMES)),
            sql_text(rng.pick(&FIRST_NAMES)),
        );
    }
    sql.push_str("COMMIT;\n");
    sql
}

/// The canteen's children (each with the act of its birth), menus and
/// bookings.
fn canteen_sql() -> String {
    let mut rng = Seeded(14);
    let mut sql = String::from(
        "BEGIN TRANSACTION;\nCREATE TABLE enfants(id INTEGER PRIMARY KEY, nom TEXT, prenom TEXT, \
         classe TEXT, acte_naissance INTEGER);\nCREATE TABLE menus(jour TEXT PRIMARY KEY, plat TEXT);\n\
         CREATE TABLE reservations(enfant INTEGER, jour TEXT);\n",
    );
    for id in 1..=CHILDREN {
        let _ = writeln!(
            sql,
            "INSERT INTO enfants VALUES({id},{},{},{},{});",
            sql_text(rng.pick(&SURNAMES)),
            sql_text(rng.pick(&FIRST_NAMES)),
            sql_text(rng.pick(&["PS", "MS", "GS", "CP", "CE1", "CE2", "CM1", "CM2"])),
            1 + rng.below(ACTS)
        );
    }
    for day in 1..=60 {
        let jour = format!("2026-{:02}-{:02}", 9 + day / 20, 1 + day % 20);
        let _ = writeln!(
            sql,
            "INSERT INTO menus VALUES({},{});",
            sql_text(&jour),
            sql_text(rng.pick(&MEALS))
        );
        for _ in 0..20 {
            let child = 1 + rng.below(CHILDREN);
            let _ = writeln!(
                sql,
                "INSERT INTO reservations VALUES({child},{});",
                sql_text(&jour)
            );
        }
    }
    sql.push_str("COMMIT;\n");
    sql
}

/// Water subscribers and their last four bills, for PostgreSQL.
pub(super) fn water_billing_sql() -> String {
    let mut rng = Seeded(15);
    let mut sql = String::from(
        "CREATE TABLE abonnes(id integer PRIMARY KEY, nom text NOT NULL, adresse text NOT NULL);\n\
         CREATE TABLE factures(id integer PRIMARY KEY, abonne integer REFERENCES abonnes, \
         periode text NOT NULL, m3 integer NOT NULL, montant numeric(10,2) NOT NULL);\n",
    );
    for id in 1..=SUBSCRIBERS {
        let street = rng.pick(&[
            "rue de la Mairie",
            "chemin des Écoliers",
            "place de l'Église",
        ]);
        let _ = writeln!(
            sql,
            "INSERT INTO abonnes VALUES({id},{},{});",
            sql_text(&format!(
                "{} {}",
                rng.pick(&FIRST_NAMES),
                rng.pick(&SURNAMES)
            )),
            sql_text(&format!("{} {street}", 1 + rng.below(80)))
        );
    }
    for id in 1..=BILLS {
        let m3 = 5 + rng.below(60);
        let _ = writeln!(
            sql,
            "INSERT INTO factures VALUES({id},{},'2026-T{}',{m3},{}.{:02});",
            1 + (id - 1) % SUBSCRIBERS,
            1 + (id - 1) / SUBSCRIBERS,
            m3 * 4,
            m3 % 100
        );
    }
    sql
}

/// A few working documents; returns (files, bytes).
fn write_shares(dir: &Path) -> Result<(u64, u64)> {
    let files = [
        ("LISEZMOI.txt", DocumentKind::Note, 2_000),
        (
            "conseil/compte-rendu-2026-11.odt",
            DocumentKind::Minutes,
            40_000,
        ),
        ("urbanisme/permis-2026-117.pdf", DocumentKind::Scan, 120_000),
        ("comptabilite/budget-2027.csv", DocumentKind::Table, 60_000),
        (
            "accueil/courrier-prefecture.docx",
            DocumentKind::Letter,
            30_000,
        ),
        (
            "photos/inauguration-mediatheque.jpg",
            DocumentKind::Photo,
            200_000,
        ),
    ];
    let mut bytes = 0;
    for (seed, (name, kind, size)) in (1u64..).zip(files) {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let data = reprise_sample::document(kind, 7000 + seed, size)?;
        bytes += data.len() as u64;
        std::fs::write(&path, data).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok((files.len() as u64, bytes))
}

/// The town's staff as an LDIF export; returns how many agents.
fn write_directory(path: &Path) -> Result<u64> {
    let mut rng = Seeded(16);
    let mut ldif =
        String::from("dn: dc=saint-exemple,dc=fr\nobjectClass: domain\ndc: saint-exemple\n");
    let agents = 30;
    for uid in 1..=agents {
        let (first, last) = (rng.pick(&FIRST_NAMES), rng.pick(&SURNAMES));
        let _ = write!(
            ldif,
            "\ndn: uid=agent{uid},ou=agents,dc=saint-exemple,dc=fr\nobjectClass: inetOrgPerson\n\
             uid: agent{uid}\ncn: {first} {last}\nsn: {last}\n"
        );
    }
    std::fs::write(path, ldif).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(agents)
}

/// The throw-away PostgreSQL water billing lives on.
pub(super) struct WaterServer {
    pub(super) port: u16,
    pub(super) bin: PathBuf,
}

/// The catalogue as a town would write it; water billing only with a
/// server.
pub(super) fn config_text(places: &Generated, water: Option<&WaterServer>) -> Result<String> {
    let mut text = format!(
        r#"# The service catalogue of `reprise demo` (see docs/CONFIG.md).

[sources.etat-civil-db]
type = "sqlite"
path = {register}

[sources.cantine-db]
type = "sqlite"
path = {canteen}

[sources.partages]
type = "files"
paths = [{shares}]

# In a town: dump = ["slapcat"], restore = ["slapadd"]. A drill never
# runs the restore program: it reads the backup back instead.
[sources.annuaire]
type = "command"
dump = ["cat", {directory}]
restore = ["cp", "/dev/stdin", {directory_restored}]
filename = "annuaire.ldif"

[services.annuaire]
public_name = "Annuaire des agents"
priority = 1
sources = ["annuaire"]
target = "30m"

[services.etat-civil]
public_name = "État civil"
priority = 1
depends_on = ["annuaire"]
sources = ["etat-civil-db"]
health = [{{ type = "sql", source = "etat-civil-db", query = "select count(*) from actes", expect = "{ACTS}" }}]
target = "1h"

[services.cantine]
public_name = "Cantine scolaire"
priority = 3
depends_on = ["etat-civil"]
sources = ["cantine-db"]
health = [{{ type = "sql", source = "cantine-db", query = "select count(*) from enfants", expect = "{CHILDREN}" }}]
target = "1d"

# The check looks where the drill restores the share.
[services.partages]
public_name = "Partages de fichiers"
priority = 3
sources = ["partages"]
health = [{{ type = "command", run = ["test", "-s", {readme}] }}]
target = "1d"

[recovery]
parallel = 2
health_timeout = "30s"
drill_dir = {drill_dir}
"#,
        register = toml_path(&places.register())?,
        canteen = toml_path(&places.canteen())?,
        shares = toml_path(&places.shares())?,
        directory = toml_path(&places.directory())?,
        directory_restored = toml_path(&places.dir.join("annuaire-restaure.ldif"))?,
        readme = toml_path(&drilled_readme(places)?)?,
        drill_dir = toml_path(&places.drill_dir())?,
    );
    if let Some(water) = water {
        text.push_str(&water_service(water)?);
    }
    Ok(text)
}

/// Where a drill restores the share's LISEZMOI.txt: under its files
/// directory, at the share's own absolute path.
fn drilled_readme(places: &Generated) -> Result<PathBuf> {
    let readme = places.shares().join("LISEZMOI.txt");
    let relative = readme
        .strip_prefix("/")
        .with_context(|| format!("{} is not an absolute path", readme.display()))?;
    Ok(places.drill_dir().join("files").join(relative))
}

fn water_service(water: &WaterServer) -> Result<String> {
    Ok(format!(
        r#"
[servers.pg-demo]
engine = "postgres"
host = "127.0.0.1"
port = {port}
user = "postgres"
bin_dir = {bin}

[sources.eau-db]
type = "postgres"
server = "pg-demo"
databases = ["{WATER_DATABASE}"]

[services.facturation-eau]
public_name = "Facturation de l'eau"
priority = 2
sources = ["eau-db"]
health = [{{ type = "sql", source = "eau-db", query = "select count(*) from factures", expect = "{BILLS}" }}]
target = "4h"
"#,
        port = water.port,
        bin = toml_path(&water.bin)?,
    ))
}

/// Parses the catalogue's text as `reprise --config` would.
pub(super) fn parse(text: &str, file: &Path) -> Result<Config> {
    Config::parse(text, file).context("the demo's service catalogue does not parse")
}
