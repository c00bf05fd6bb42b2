//! What a job is, shared by the coordinator and its workers.
//!
//! A job starts as a TOML file ([`config::JobConfig`], with `--set key=value` overrides from the
//! command line). The coordinator validates it, plans shards from the inputs it names and sends
//! the config text to every worker, which parses the same struct. Inputs and outputs are URLs
//! resolved to object stores by [`store`]; where each output lives below the job's root is fixed
//! in [`layout`], so writers and readers never spell a path twice.

pub mod clusters;
pub mod config;
pub mod hash;
pub mod layout;
pub mod plan;
pub mod store;
pub mod wire;

pub use clusters::{ArchetypeSummary, CountryClusters, PlantedMatch};
pub use config::{
    AlsConfig, AlsSolver, ArchetypeConfig, ConfidenceKind, ConfigError, CrossCulturalConfig,
    JobConfig, LocalGroups, LocalModelsConfig, PcaSolver,
};
pub use layout::JobLayout;
pub use store::{open_url, StoreError, StoreUrl};
