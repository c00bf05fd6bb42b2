//! `ground_truth.json`: what was planted, so tests and the pipeline can check what they
//! recover against it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Resolved;

#[derive(Debug, Serialize)]
pub(crate) struct GroundTruth {
    pub generator: &'static str,
    pub version: &'static str,
    pub seed: u64,
    /// The resolved configuration (defaults filled in; thread count left out on purpose).
    pub config: Resolved,
    /// File names, relative to the output directory.
    pub files: Files,
    /// Inclusive range of valid event timestamps.
    pub timestamp_range: [u64; 2],
    /// Every country code (as written in the users file) to its archetype.
    pub country_archetype: BTreeMap<String, u32>,
    pub archetypes: Vec<Archetype>,
    /// Users per country code in the users file (original rows; `""` = no country).
    pub country_users: BTreeMap<String, u64>,
    pub totals: Totals,
    pub bad_rows_injected: BTreeMap<String, u64>,
    pub model: Model,
}

#[derive(Debug, Serialize)]
pub(crate) struct Files {
    pub events: String,
    pub users: String,
    pub tracks: String,
    pub artists: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Archetype {
    pub id: u32,
    /// Countries of this archetype that have at least one user, most users first.
    pub countries: Vec<String>,
    /// Users without a country whose hidden archetype this is.
    pub users_without_country: u64,
    /// Size of this archetype's local slice of the catalogue.
    pub local_tracks: u64,
    /// Ids of its most popular local tracks, most popular first.
    pub top_local_tracks: Vec<u32>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Totals {
    pub events: u64,
    pub users: u64,
    pub users_with_country: u64,
    pub users_without_country: u64,
    pub users_with_events: u64,
    pub tracks: u64,
    pub artists: u64,
    pub albums: u64,
    pub distinct_user_track_pairs: u64,
    pub bad_event_rows: u64,
    pub duplicate_user_rows: u64,
}

/// The generative model's constants, for whoever wants to reason about expected signal.
#[derive(Debug, Serialize)]
pub(crate) struct Model {
    pub popularity_zipf_exponent: f64,
    pub local_share_range: [f64; 2],
    pub repertoire: &'static str,
    pub artist_loyalty: f64,
    pub genres: u64,
    pub genre_share: f64,
    pub relisten_zipf_exponent: f64,
}
