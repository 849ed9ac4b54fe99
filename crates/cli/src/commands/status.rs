//! `reprise status`: the town's public service-status page from the
//! terminal (reprise_web::status does the work; the dashboard uses the same).

use anyhow::{anyhow, Context, Result};
use chrono::Utc;
use reprise_services::config::Config;
use reprise_services::live::LiveRecovery;
use reprise_web::status::board::{BoardStore, NewIncident};
use reprise_web::status::model::{Impact, IncidentStage, ServiceState};
use reprise_web::status::page::PublicPage;
use reprise_web::status::privacy::Privacy;

use crate::cli::{GlobalOptions, StatusCommand};
use crate::commands::services::required_config;
use crate::{exit, output};

pub fn run(g: &GlobalOptions, command: &StatusCommand) -> Result<u8> {
    let config = required_config(g, "status")?;
    let board = BoardStore::new(&config.web.data_dir(), Privacy::of(&config));
    match command {
        StatusCommand::Show => show(g, &config, &board)?,
        StatusCommand::Set { service, state } => {
            let state = ServiceState::parse(state).ok_or_else(|| {
                anyhow!(
                    "{state:?} is not a state: write one of {}",
                    keys(ServiceState::ALL.map(ServiceState::key))
                )
            })?;
            board.set_state(service, state)?;
            output::line(&format!("{service}: {} on the public page", state.key()))?;
        }
        StatusCommand::Open {
            title,
            impact,
            services,
            message,
        } => {
            let impact = Impact::parse(impact).ok_or_else(|| {
                anyhow!(
                    "{impact:?} is not an impact: write one of {}",
                    keys(Impact::ALL.map(Impact::key))
                )
            })?;
            let id = board.open_incident(NewIncident {
                title: title.clone(),
                impact,
                services: services.clone(),
                stage: IncidentStage::Investigating,
                message: message.clone(),
            })?;
            output::line(&id)?;
        }
        StatusCommand::Update { id, stage, message } => {
            let stage = parse_stage(stage)?;
            board.update_incident(id, stage, message)?;
            output::line(&format!("incident {id}: {}", stage.key()))?;
        }
        StatusCommand::Export { dir, url } => {
            let page = page(&config, &board)?;
            let written = reprise_web::status::export(&page, url, dir)
                .with_context(|| format!("cannot export the status page to {}", dir.display()))?;
            output::line(&format!(
                "{} files written under {} (index.html in French, en/index.html, api/v2/*.json)",
                written.len(),
                dir.display()
            ))?;
        }
    }
    Ok(exit::OK)
}

fn keys<const N: usize>(keys: [&str; N]) -> String {
    keys.join(", ")
}

fn parse_stage(stage: &str) -> Result<IncidentStage> {
    IncidentStage::parse(stage).ok_or_else(|| {
        anyhow!(
            "{stage:?} is not a stage: write one of {}",
            keys(IncidentStage::ALL.map(IncidentStage::key))
        )
    })
}

/// The page now: the board, and a recovery's live state if one ran.
fn page(config: &Config, board: &BoardStore) -> Result<PublicPage> {
    let live = match LiveRecovery::read(&config.recovery.state_dir()) {
        Ok(live) => live,
        Err(e) => {
            eprintln!("warning: {e}; the page shows the operator's word only");
            None
        }
    };
    Ok(PublicPage::assemble(
        config,
        &board.read()?,
        live.as_ref(),
        Utc::now(),
    ))
}

fn show(g: &GlobalOptions, config: &Config, board: &BoardStore) -> Result<()> {
    let page = page(config, board)?;
    if g.json {
        let files = reprise_web::status::statuspage::files(&page, "");
        let summary = files
            .into_iter()
            .find(|(name, _)| *name == "summary.json")
            .map(|(_, json)| json)
            .unwrap_or_default();
        return output::json(&summary);
    }
    use reprise_web::status::Lang;
    output::line(&format!(
        "{}: {}",
        page.town,
        page.overall.headline(Lang::En)
    ))?;
    for s in &page.services {
        output::line(&format!("  {:<32} {}", s.name, s.state.label(Lang::En)))?;
    }
    for shown in &page.incidents {
        let i = &shown.incident;
        output::line(&format!(
            "incident {} ({}, {}): {}",
            i.id,
            i.stage().key(),
            i.impact.key(),
            i.title
        ))?;
        if let Some(last) = i.updates.last() {
            output::line(&format!(
                "  {}  {}",
                last.at.format("%Y-%m-%d %H:%M UTC"),
                last.message
            ))?;
        }
    }
    Ok(())
}
