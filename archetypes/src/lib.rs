//! Country archetypes: the paper's Sec. 3.2 (Schedl et al. 2021) as a library with no I/O.
//!
//! Data flows in one direction:
//!
//! ```text
//! country x track plays (training users) --normalise rows--> country vectors   [matrix]
//!   --PCA to 100 dims (exact Gram or randomised Halko)-->  scores               [pca]
//!   --t-SNE per perplexity--> 2-d maps                                          [tsne]
//!   --OPTICS + xi per minimum cluster size--> clusterings, scored               [optics, quality]
//!   --best pair--> country clusters                                             [search]
//!   --IDF filter, top tracks, demographics--> archetype tables                  [tables]
//! clusters + plays --> centroids --> per-user distance features                 [context]
//! ```
//!
//! [`planted`] generates country play counts with planted archetypes, for the checks that the
//! grid search recovers them.
//!
//! The coordinator reads the aggregated tables, calls [`run`], and writes the tables and
//! figures; the workers build [`context::Centroids`] from the same inputs and compute each
//! user's context features. t-SNE and OPTICS are written here by hand to follow
//! scikit-learn 1.9 step by step (linfa's versions differ in initialisation, tie-breaking and
//! lack the xi extraction); linear algebra is faer's.

pub mod context;
pub mod matrix;
pub mod optics;
pub mod pca;
pub mod planted;
pub mod quality;
pub mod search;
pub mod tables;
pub mod tsne;

use std::time::Instant;

use serde::Serialize;

use crate::matrix::SparseRows;
use crate::pca::{Pca, PcaParams};
use crate::search::{SearchParams, SearchResult};
use crate::tables::{ClusterTracks, Demographics, ScoredTrack, UserProfile};

#[derive(Debug, thiserror::Error)]
pub enum ArchetypeError {
    #[error("{0}")]
    Input(String),
    #[error("numerical failure: {0}")]
    Numeric(String),
}

/// What the phase needs, already read from the aggregated tables.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// Country codes, one per row of `plays`.
    pub countries: Vec<String>,
    /// Raw plays of each country's training users per track (countries x tracks).
    pub plays: SparseRows,
    /// Plays per track over all countries (the IDF's n_t; N is their sum).
    pub track_plays: Vec<u64>,
    pub users: Vec<UserProfile>,
}

#[derive(Clone, Debug)]
pub struct Params {
    pub pca: PcaParams,
    pub search: SearchParams,
    pub idf_threshold: f64,
    pub top_tracks: usize,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    pub pca_s: f64,
    pub search_s: f64,
    pub tables_s: f64,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub countries: Vec<String>,
    pub pca: Pca,
    pub search: SearchResult,
    /// Cluster of each country (-1: in none).
    pub labels: Vec<i32>,
    pub clusters: usize,
    pub dominating: Vec<ScoredTrack>,
    pub top_tracks: Vec<ClusterTracks>,
    pub demographics: Vec<Demographics>,
    pub timings: Timings,
}

/// The whole phase: country vectors -> PCA -> grid search -> archetype tables.
pub fn run(inputs: &Inputs, params: &Params) -> Result<Outcome, ArchetypeError> {
    let t0 = Instant::now();
    let vectors = inputs.plays.clone().normalised(&inputs.countries)?;
    let pca = pca::pca(&vectors, &params.pca)?;
    let t1 = Instant::now();
    let search = search::search(&pca.scores, pca.rows, pca.components, &params.search)?;
    let t2 = Instant::now();
    let labels = search.chosen.optics.labels.clone();
    let clusters = search.chosen.clusters;
    let dominating = tables::dominating(&inputs.track_plays, params.idf_threshold);
    let top_tracks = tables::top_tracks(
        &inputs.plays,
        &labels,
        clusters,
        &inputs.track_plays,
        &dominating,
        params.top_tracks,
    );
    let demographics = tables::demographics(&inputs.users, &labels);
    let t3 = Instant::now();
    Ok(Outcome {
        countries: inputs.countries.clone(),
        pca,
        search,
        labels,
        clusters,
        dominating,
        top_tracks,
        demographics,
        timings: Timings {
            pca_s: (t1 - t0).as_secs_f64(),
            search_s: (t2 - t1).as_secs_f64(),
            tables_s: (t3 - t2).as_secs_f64(),
        },
    })
}
