//! The public page's content, assembled from the operator's board and the
//! live state of a running recovery: public services only, by public name,
//! each with the newest word on it.
//!
//! A service's state is whichever is newer: what the operator set, or what
//! the recovery last did with it (waiting or restoring: major outage;
//! restored and being checked: partial outage; up: operational). So a
//! recovery moves the page by itself, and the operator can still say
//! otherwise afterwards. A drill never moves it.

use chrono::{DateTime, Duration, Utc};
use reprise_services::config::Config;
use reprise_services::live::{LiveRecovery, LiveState};
use reprise_services::report::RunKind;

use super::board::{Board, Incident};
use super::model::{Impact, ServiceState};
use super::privacy::Privacy;

/// Resolved incidents stay on the page this long.
const RESOLVED_SHOWN_DAYS: i64 = 7;

/// One public service on the page.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicService {
    /// The configuration's name: never shown, only to find the service.
    pub(crate) service: String,
    /// Stable, and says nothing of the configuration's name.
    pub id: String,
    pub name: String,
    pub state: ServiceState,
    pub since: Option<DateTime<Utc>>,
    /// Its order on the page: the configuration's priority, then name.
    pub position: usize,
}

/// One incident on the page; services by public name.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicIncident {
    pub incident: Incident,
    pub services: Vec<PublicService>,
}

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicPage {
    /// The town's name: the page's title.
    pub town: String,
    pub page_id: String,
    pub generated_at: DateTime<Utc>,
    pub overall: Impact,
    pub services: Vec<PublicService>,
    /// Unresolved first, then resolved in the last week; newest first.
    pub incidents: Vec<PublicIncident>,
}

impl PublicPage {
    pub fn assemble(
        config: &Config,
        board: &Board,
        live: Option<&LiveRecovery>,
        now: DateTime<Utc>,
    ) -> PublicPage {
        let privacy = Privacy::of(config);
        let town = config
            .web
            .town
            .clone()
            .unwrap_or_else(|| "Services".to_owned());
        let page_id = short_id("page", &town);
        let mut ordered: Vec<(&String, &reprise_services::config::ServiceConfig)> = config
            .services
            .iter()
            .filter(|(name, _)| privacy.public_name(name).is_some())
            .collect();
        ordered.sort_by_key(|(name, s)| (s.priority, name.as_str()));
        let services: Vec<PublicService> = ordered
            .iter()
            .enumerate()
            .map(|(position, (name, s))| {
                let (state, since) = newest_state(name, board, live);
                PublicService {
                    service: (*name).clone(),
                    id: short_id(&format!("{page_id} {}", board.salt), name),
                    name: s.public_name.clone(),
                    state,
                    since,
                    position: position + 1,
                }
            })
            .collect();
        let worst = services
            .iter()
            .map(|s| s.state)
            .max()
            .unwrap_or(ServiceState::Operational);
        let incidents = shown_incidents(board, &services, now);
        PublicPage {
            town,
            page_id,
            generated_at: now,
            overall: Impact::of_state(worst),
            services,
            incidents,
        }
    }
}

/// The operator's word or the recovery's, whichever is newer.
fn newest_state(
    service: &str,
    board: &Board,
    live: Option<&LiveRecovery>,
) -> (ServiceState, Option<DateTime<Utc>>) {
    let set = board.services.get(service).map(|s| (s.state, s.since));
    let recovered = live
        .filter(|l| l.kind == RunKind::Recover)
        .and_then(|l| l.services.get(service))
        .map(|s| (state_of(s.state), s.since));
    match (set, recovered) {
        (Some(set), Some(recovered)) if recovered.1 > set.1 => (recovered.0, Some(recovered.1)),
        (Some(set), _) => (set.0, Some(set.1)),
        (None, Some(recovered)) => (recovered.0, Some(recovered.1)),
        (None, None) => (ServiceState::Operational, None),
    }
}

fn state_of(live: LiveState) -> ServiceState {
    match live {
        LiveState::Up => ServiceState::Operational,
        LiveState::Checking => ServiceState::PartialOutage,
        LiveState::Waiting | LiveState::Restoring | LiveState::Failed | LiveState::NotStarted => {
            ServiceState::MajorOutage
        }
    }
}

fn shown_incidents(
    board: &Board,
    services: &[PublicService],
    now: DateTime<Utc>,
) -> Vec<PublicIncident> {
    let oldest_resolved = now - Duration::days(RESOLVED_SHOWN_DAYS);
    let mut shown: Vec<PublicIncident> = board
        .incidents
        .iter()
        .filter(|i| i.resolved_at().is_none_or(|at| at >= oldest_resolved))
        .map(|incident| PublicIncident {
            incident: incident.clone(),
            services: incident
                .services
                .iter()
                .filter_map(|name| services.iter().find(|s| &s.service == name).cloned())
                .collect(),
        })
        .collect();
    shown.sort_by_key(|i| {
        (
            i.incident.resolved_at().is_some(),
            std::cmp::Reverse(i.incident.updated_at()),
        )
    });
    shown
}

/// Twelve hex digits naming `what` within `scope`, the same every time.
pub(crate) fn short_id(scope: &str, what: &str) -> String {
    let hash = blake3::hash(format!("reprise status {scope} {what}").as_bytes());
    hex::encode(&hash.as_bytes()[..6])
}
