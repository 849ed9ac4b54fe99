//! The page as Statuspage's public API v2 gives it (`summary.json`,
//! `status.json`, `components.json`, `incidents.json`,
//! `incidents/unresolved.json`, `scheduled-maintenances.json`), so widgets,
//! monitoring and aggregators that read Statuspage pages read reprise's.
//! Only the fields a reader needs, with Statuspage's names and values.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::page::{PublicIncident, PublicPage, PublicService};
use super::Lang;

/// Each file of the API, by its path under `api/v2/`.
pub fn files(page: &PublicPage, url: &str) -> Vec<(&'static str, Value)> {
    let unresolved: Vec<&PublicIncident> = page
        .incidents
        .iter()
        .filter(|i| i.incident.resolved_at().is_none())
        .collect();
    let all: Vec<&PublicIncident> = page.incidents.iter().collect();
    vec![
        ("summary.json", summary(page, url, &unresolved)),
        (
            "status.json",
            json!({"page": head(page, url), "status": status(page)}),
        ),
        (
            "components.json",
            json!({"page": head(page, url), "components": components(page)}),
        ),
        (
            "incidents.json",
            json!({"page": head(page, url), "incidents": incidents(page, &all)}),
        ),
        (
            "incidents/unresolved.json",
            json!({"page": head(page, url), "incidents": incidents(page, &unresolved)}),
        ),
        (
            "scheduled-maintenances.json",
            json!({"page": head(page, url), "scheduled_maintenances": []}),
        ),
    ]
}

fn summary(page: &PublicPage, url: &str, unresolved: &[&PublicIncident]) -> Value {
    json!({
        "page": head(page, url),
        "components": components(page),
        "incidents": incidents(page, unresolved),
        "scheduled_maintenances": [],
        "status": status(page),
    })
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn head(page: &PublicPage, url: &str) -> Value {
    json!({
        "id": page.page_id,
        "name": page.town,
        "url": url,
        "time_zone": "Etc/UTC",
        "updated_at": time(page.generated_at),
    })
}

fn status(page: &PublicPage) -> Value {
    json!({
        "indicator": page.overall.key(),
        "description": page.overall.headline(Lang::En),
    })
}

fn components(page: &PublicPage) -> Vec<Value> {
    page.services.iter().map(|s| component(page, s)).collect()
}

fn component(page: &PublicPage, service: &PublicService) -> Value {
    let updated = service.since.unwrap_or(page.generated_at);
    json!({
        "id": service.id,
        "name": service.name,
        "status": service.state.key(),
        "created_at": time(updated),
        "updated_at": time(updated),
        "position": service.position,
        "description": null,
        "showcase": true,
        "start_date": null,
        "group_id": null,
        "page_id": page.page_id,
        "group": false,
        "only_show_if_degraded": false,
    })
}

fn incidents(page: &PublicPage, shown: &[&PublicIncident]) -> Vec<Value> {
    shown.iter().map(|i| incident(page, i)).collect()
}

fn incident(page: &PublicPage, shown: &PublicIncident) -> Value {
    let i = &shown.incident;
    let affected: Vec<Value> = shown.services.iter().map(|s| component(page, s)).collect();
    let updates: Vec<Value> = i
        .updates
        .iter()
        .enumerate()
        .rev()
        .map(|(n, u)| {
            json!({
                "id": super::page::short_id(&i.id, &n.to_string()),
                "status": u.stage.key(),
                "body": u.message,
                "incident_id": i.id,
                "created_at": time(u.at),
                "updated_at": time(u.at),
                "display_at": time(u.at),
                "affected_components": affected
                    .iter()
                    .map(|c| json!({"code": c["id"], "name": c["name"], "new_status": c["status"]}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "id": i.id,
        "name": i.title,
        "status": i.stage().key(),
        "impact": i.impact.key(),
        "created_at": time(i.created_at),
        "updated_at": time(i.updated_at()),
        "started_at": time(i.created_at),
        "monitoring_at": i.updates.iter().find(|u| u.stage.key() == "monitoring").map(|u| time(u.at)),
        "resolved_at": i.resolved_at().map(time),
        "shortlink": null,
        "page_id": page.page_id,
        "incident_updates": updates,
        "components": affected,
    })
}
