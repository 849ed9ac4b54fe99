//! The vocabulary of a status page, as people know it from Statuspage: a
//! service's state, an incident's stage and its impact.

use serde::{Deserialize, Serialize};

use super::Lang;

/// A public service's state, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ServiceState {
    pub const ALL: [ServiceState; 5] = [
        ServiceState::Operational,
        ServiceState::DegradedPerformance,
        ServiceState::PartialOutage,
        ServiceState::MajorOutage,
        ServiceState::UnderMaintenance,
    ];

    /// The word of the JSON and the command line ("partial_outage").
    pub fn key(self) -> &'static str {
        match self {
            ServiceState::Operational => "operational",
            ServiceState::UnderMaintenance => "under_maintenance",
            ServiceState::DegradedPerformance => "degraded_performance",
            ServiceState::PartialOutage => "partial_outage",
            ServiceState::MajorOutage => "major_outage",
        }
    }

    pub fn parse(text: &str) -> Option<ServiceState> {
        ServiceState::ALL.into_iter().find(|s| s.key() == text)
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (ServiceState::Operational, Lang::Fr) => "Opérationnel",
            (ServiceState::Operational, Lang::En) => "Operational",
            (ServiceState::UnderMaintenance, Lang::Fr) => "En maintenance",
            (ServiceState::UnderMaintenance, Lang::En) => "Under maintenance",
            (ServiceState::DegradedPerformance, Lang::Fr) => "Performances dégradées",
            (ServiceState::DegradedPerformance, Lang::En) => "Degraded performance",
            (ServiceState::PartialOutage, Lang::Fr) => "Panne partielle",
            (ServiceState::PartialOutage, Lang::En) => "Partial outage",
            (ServiceState::MajorOutage, Lang::Fr) => "Panne majeure",
            (ServiceState::MajorOutage, Lang::En) => "Major outage",
        }
    }
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStage {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl IncidentStage {
    pub const ALL: [IncidentStage; 4] = [
        IncidentStage::Investigating,
        IncidentStage::Identified,
        IncidentStage::Monitoring,
        IncidentStage::Resolved,
    ];

    pub fn key(self) -> &'static str {
        match self {
            IncidentStage::Investigating => "investigating",
            IncidentStage::Identified => "identified",
            IncidentStage::Monitoring => "monitoring",
            IncidentStage::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<IncidentStage> {
        IncidentStage::ALL.into_iter().find(|s| s.key() == text)
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (IncidentStage::Investigating, Lang::Fr) => "Analyse en cours",
            (IncidentStage::Investigating, Lang::En) => "Investigating",
            (IncidentStage::Identified, Lang::Fr) => "Cause identifiée",
            (IncidentStage::Identified, Lang::En) => "Identified",
            (IncidentStage::Monitoring, Lang::Fr) => "Sous surveillance",
            (IncidentStage::Monitoring, Lang::En) => "Monitoring",
            (IncidentStage::Resolved, Lang::Fr) => "Résolu",
            (IncidentStage::Resolved, Lang::En) => "Resolved",
        }
    }
}

/// How much an incident hurts, as Statuspage grades it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    None,
    Minor,
    Major,
    Critical,
}

impl Impact {
    pub const ALL: [Impact; 4] = [Impact::None, Impact::Minor, Impact::Major, Impact::Critical];

    pub fn key(self) -> &'static str {
        match self {
            Impact::None => "none",
            Impact::Minor => "minor",
            Impact::Major => "major",
            Impact::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Impact> {
        Impact::ALL.into_iter().find(|s| s.key() == text)
    }

    /// The page's overall indicator for services in `worst` state.
    pub fn of_state(worst: ServiceState) -> Impact {
        match worst {
            ServiceState::Operational => Impact::None,
            ServiceState::UnderMaintenance | ServiceState::DegradedPerformance => Impact::Minor,
            ServiceState::PartialOutage => Impact::Major,
            ServiceState::MajorOutage => Impact::Critical,
        }
    }

    /// The page's headline for that indicator.
    pub fn headline(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Impact::None, Lang::Fr) => "Tous les services fonctionnent",
            (Impact::None, Lang::En) => "All Systems Operational",
            (Impact::Minor, Lang::Fr) => "Perturbations mineures",
            (Impact::Minor, Lang::En) => "Minor Service Disruption",
            (Impact::Major, Lang::Fr) => "Panne partielle de services",
            (Impact::Major, Lang::En) => "Partial System Outage",
            (Impact::Critical, Lang::Fr) => "Panne majeure de services",
            (Impact::Critical, Lang::En) => "Major Service Outage",
        }
    }
}
