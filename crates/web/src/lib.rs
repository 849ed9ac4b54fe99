//! What reprise shows beyond the terminal.
//!
//! `status` is the town's public service-status page: the operator's
//! board, the page assembled from it and from a running recovery, its HTML
//! in French and English, its Statuspage-compatible JSON and its static
//! export. `metrics` is the repository's state for Prometheus. The
//! dashboard comes next to them.

pub mod metrics;
pub mod status;
