//! The public service-status page: which of the town's services work
//! today, and what the town says of its incidents.
//!
//! `model` is the vocabulary (states, stages, impact), `board` what the
//! operator publishes, `page` the content assembled from the board and a
//! running recovery, `privacy` what the page may never say, `statuspage`
//! the page as Statuspage-compatible JSON, and this module renders it as
//! HTML (French and English, no script) and exports every file to a
//! directory for another web server to publish.

pub mod board;
pub mod model;
pub mod page;
pub mod privacy;
pub mod statuspage;

use std::path::{Path, PathBuf};

use askama::Template;
use chrono::{DateTime, Utc};

use model::Impact;
use page::PublicPage;

/// Why the status could not be read, changed or written.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged ({why}): restore it from a backup of the web data directory, or move it away to start an empty board")]
    Damaged { path: PathBuf, why: String },
    #[error("refused: {0}")]
    Refused(String),
    #[error("no incident {0} on the board: `reprise status` lists them with their ids")]
    UnknownIncident(String),
    #[error("cannot render the page: {0}")]
    Render(String),
}

impl StatusError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> StatusError {
        StatusError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The page's two languages: French for the town, English for visitors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    fn words(self) -> &'static Words {
        match self {
            Lang::Fr => &FRENCH,
            Lang::En => &ENGLISH,
        }
    }
}

/// The page's fixed text in one language.
pub struct Words {
    pub title: &'static str,
    pub skip: &'static str,
    pub services: &'static str,
    pub incidents: &'static str,
    pub no_incident: &'static str,
    pub affected: &'static str,
    pub updated: &'static str,
    pub reload: &'static str,
    pub language_name: &'static str,
}

const FRENCH: Words = Words {
    title: "État des services",
    skip: "Aller au contenu",
    services: "Services",
    incidents: "Incidents",
    no_incident: "Aucun incident en cours ni récent.",
    affected: "Services concernés :",
    updated: "Page mise à jour le",
    reload: "Rechargez la page pour la voir à jour.",
    language_name: "Français",
};

const ENGLISH: Words = Words {
    title: "Service status",
    skip: "Skip to content",
    services: "Services",
    incidents: "Incidents",
    no_incident: "No current or recent incident.",
    affected: "Affected services:",
    updated: "Page updated on",
    reload: "Reload the page to see it up to date.",
    language_name: "English",
};

/// The page's colours. Every badge carries white text, so each background
/// must reach WCAG AA's 4.5:1 against white; the text and links against the
/// page's background (a test computes each ratio).
pub const PALETTE: Palette = Palette {
    text: "#1a1a1a",
    muted: "#555555",
    background: "#ffffff",
    link: "#0b57d0",
    rule: "#d0d0d0",
    states: [
        ("operational", "#146c2e"),
        ("degraded_performance", "#7a4d00"),
        ("partial_outage", "#9a3412"),
        ("major_outage", "#b00020"),
        ("under_maintenance", "#1d4ed8"),
    ],
    overall: [
        ("overall-none", "#146c2e"),
        ("overall-minor", "#7a4d00"),
        ("overall-major", "#9a3412"),
        ("overall-critical", "#b00020"),
    ],
};

pub struct Palette {
    pub text: &'static str,
    pub muted: &'static str,
    pub background: &'static str,
    pub link: &'static str,
    pub rule: &'static str,
    /// CSS class (a state's key) and background.
    pub states: [(&'static str, &'static str); 5],
    /// CSS class (`overall-` and an impact's key) and background.
    pub overall: [(&'static str, &'static str); 4],
}

struct ServiceRow {
    name: String,
    label: &'static str,
    class: &'static str,
}

struct UpdateView {
    stage: &'static str,
    message: String,
    at: String,
}

struct IncidentView {
    title: String,
    services: String,
    updates: Vec<UpdateView>,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusHtml<'a> {
    lang: &'static str,
    title: String,
    words: &'a Words,
    other_lang: &'static str,
    other_href: &'static str,
    other_name: &'static str,
    overall: &'static str,
    overall_class: &'static str,
    services: Vec<ServiceRow>,
    incidents: Vec<IncidentView>,
    generated: String,
    classes: Vec<(&'static str, &'static str)>,
    text_color: &'static str,
    muted_color: &'static str,
    background: &'static str,
    link_color: &'static str,
    rule_color: &'static str,
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The page in `lang`. `other_href` links to the other language's page.
pub fn render_html(
    page: &PublicPage,
    lang: Lang,
    other_href: &'static str,
) -> Result<String, StatusError> {
    let words = lang.words();
    let other = match lang {
        Lang::Fr => Lang::En,
        Lang::En => Lang::Fr,
    };
    let html = StatusHtml {
        lang: lang.code(),
        title: format!("{} — {}", page.town, words.title),
        words,
        other_lang: other.code(),
        other_href,
        other_name: other.words().language_name,
        overall: page.overall.headline(lang),
        overall_class: overall_class(page.overall),
        services: page
            .services
            .iter()
            .map(|s| ServiceRow {
                name: s.name.clone(),
                label: s.state.label(lang),
                class: s.state.key(),
            })
            .collect(),
        incidents: page
            .incidents
            .iter()
            .map(|i| IncidentView {
                title: i.incident.title.clone(),
                services: i
                    .services
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                updates: i
                    .incident
                    .updates
                    .iter()
                    .rev()
                    .map(|u| UpdateView {
                        stage: u.stage.label(lang),
                        message: u.message.clone(),
                        at: when(u.at),
                    })
                    .collect(),
            })
            .collect(),
        generated: when(page.generated_at),
        classes: PALETTE
            .states
            .iter()
            .chain(&PALETTE.overall)
            .copied()
            .collect(),
        text_color: PALETTE.text,
        muted_color: PALETTE.muted,
        background: PALETTE.background,
        link_color: PALETTE.link,
        rule_color: PALETTE.rule,
    };
    html.render()
        .map_err(|e| StatusError::Render(e.to_string()))
}

fn overall_class(impact: Impact) -> &'static str {
    match impact {
        Impact::None => "overall-none",
        Impact::Minor => "overall-minor",
        Impact::Major => "overall-major",
        Impact::Critical => "overall-critical",
    }
}

/// Every file of the public page, by path: `index.html` (French),
/// `en/index.html` and the JSON API under `api/v2/`.
pub fn public_files(page: &PublicPage, url: &str) -> Result<Vec<(String, Vec<u8>)>, StatusError> {
    let mut files = vec![
        (
            "index.html".to_owned(),
            render_html(page, Lang::Fr, "en/index.html")?.into_bytes(),
        ),
        (
            "en/index.html".to_owned(),
            render_html(page, Lang::En, "../index.html")?.into_bytes(),
        ),
    ];
    for (name, json) in statuspage::files(page, url) {
        let bytes =
            serde_json::to_vec_pretty(&json).map_err(|e| StatusError::Render(e.to_string()))?;
        files.push((format!("api/v2/{name}"), bytes));
    }
    Ok(files)
}

/// Writes [`public_files`] under `dir`, each replaced whole (a temporary
/// file renamed over it), so a web server publishing `dir` never serves
/// half a page. Returns the paths written.
pub fn export(page: &PublicPage, url: &str, dir: &Path) -> Result<Vec<PathBuf>, StatusError> {
    let mut written = Vec::new();
    for (name, bytes) in public_files(page, url)? {
        let path = dir.join(&name);
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(|e| StatusError::io(parent, e))?;
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, &bytes).map_err(|e| StatusError::io(&temporary, e))?;
        std::fs::rename(&temporary, &path).map_err(|e| StatusError::io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}
