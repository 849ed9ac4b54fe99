//! The configuration file (`/etc/reprise/reprise.toml`): its model, and
//! loading it with every error tied to its line.

pub mod model;
pub use model::*;
