//! What reprise shows beyond the terminal.
//!
//! `status` is the town's public service-status page: the operator's
//! board, the page assembled from it and from a running recovery, its HTML
//! in French and English, its Statuspage-compatible JSON and its static
//! export. `overview` is what is protected, clean and rehearsed, which
//! `metrics` gives Prometheus and `server` (`reprise web`) the operator,
//! with `snapshots` (browsing, downloading, comparing), `incidents` (what
//! detection found) and `jobs`, the drills, recoveries and restores it
//! runs in the background.

mod files;
pub mod incidents;
pub mod jobs;
pub mod metrics;
pub mod overview;
pub mod server;
pub mod snapshots;
pub mod status;
