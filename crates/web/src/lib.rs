//! What reprise shows beyond the terminal.
//!
//! `status` is the town's public service-status page: the operator's
//! board, the page assembled from it and from a running recovery, its HTML
//! in French and English, its Statuspage-compatible JSON and its static
//! export. The dashboard and the metrics come next to it.

pub mod status;
