//! The configuration file (`/etc/reprise/reprise.toml`): its model,
//! loading it with every error tied to its line, and the checks across its
//! sections.

pub mod check;
pub mod load;
pub mod model;
pub mod reach;
pub use load::{ConfigErrors, LoadedConfig, Position, Positions, Problem, Severity};
pub use model::*;
