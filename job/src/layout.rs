//! Where each output of a job lives below the job's root (`<output.url>/<job id>/`).

use crate::store::StoreUrl;

/// The tables the aggregation phase writes, each as `<table>/part-NNNNN.parquet`, one part per
/// timely worker (so the part count is `workers x threads`).
pub const INTERACTIONS: &str = "aggregate/interactions";
pub const USERS: &str = "aggregate/users";
pub const TRACKS: &str = "aggregate/tracks";
pub const COUNTRY_PROFILES: &str = "aggregate/country_profiles";
pub const COUNTRIES: &str = "aggregate/countries";
/// Held-out users' interactions split into input and target plays.
pub const HELDOUT: &str = "aggregate/heldout";

/// Context features of every user (country, cluster, distances to the centroids), one part per
/// aggregation part, beside the interactions.
pub const CONTEXT: &str = "aggregate/context";
/// What the context columns mean: the country and cluster vocabularies, in column order.
pub const CONTEXT_VOCABULARY: &str = "aggregate/context/vocabulary.json";

/// The country-archetype phase: everything it found as JSON (the countries' clusters, map
/// coordinates, OPTICS order, the grid, PCA variance), the paper's Table 1 and Table 2 as CSV,
/// and the grid search as CSV.
pub const ARCHETYPES_JSON: &str = "archetypes/archetypes.json";
/// The countries' clusters alone ([`crate::CountryClusters`]), what the workers read.
pub const CLUSTERS_JSON: &str = "archetypes/clusters.json";
pub const CLUSTERS_CSV: &str = "archetypes/clusters.csv";
pub const TOP_TRACKS_CSV: &str = "archetypes/top_tracks.csv";
pub const GRID_CSV: &str = "archetypes/grid.csv";
/// WMF-ALS: factor rows as `<side>/part-NNNNN.parquet` (idx u32, factors list<f32>), one part
/// per timely worker, and as one `.npy` matrix per side for Python (row = dense index).
pub const ALS_USER_FACTORS: &str = "als/factors/users";
pub const ALS_ITEM_FACTORS: &str = "als/factors/items";
pub const ALS_USER_NPY: &str = "als/user_factors.npy";
pub const ALS_ITEM_NPY: &str = "als/item_factors.npy";
/// The last committed iteration, the settings and the per-iteration figures; its presence
/// means the factors under `als/factors` are complete.
pub const ALS_STATE: &str = "als/state.json";
/// Local models: `als/local/<group>/part-NNNNN.parquet` (idx = global track index, factors),
/// and `models.json` listing the complete ones, their countries and sizes.
pub const ALS_LOCAL: &str = "als/local";
pub const ALS_LOCAL_MODELS: &str = "als/local/models.json";
/// Per-iteration checkpoints: `als/checkpoints/iter-NNNN/{users,items}/part-NNNNN.parquet`.
pub const ALS_CHECKPOINTS: &str = "als/checkpoints";

/// The VAE phase: `vae/<model id>/{state.json, checkpoint.safetensors, model.safetensors}`
/// per model, and `vae/models.json` listing them.
pub const VAE: &str = "vae";
pub const VAE_MODELS: &str = "vae/models.json";
/// Figures (`<name>.png` and `<name>.svg`), written with the report.
pub const FIGURES: &str = "report/figures";

/// The evaluation report: the paper's Table 3 as Markdown, the same and more as JSON, and the
/// per-user metric rows behind every mean.
pub const REPORT_MD: &str = "report/report.md";
pub const REPORT_JSON: &str = "report/report.json";
pub const PER_USER_METRICS: &str = "report/per_user_metrics.parquet";
pub const REPORT_ARCHETYPES_MD: &str = "report/archetypes.md";

/// The job's summary (counters, filters, timings, rejected-row samples), written last: its
/// presence marks the aggregation as complete.
pub const SUMMARY: &str = "aggregate/summary.json";

#[derive(Clone, Debug)]
pub struct JobLayout {
    pub root: StoreUrl,
}

impl JobLayout {
    pub fn new(output_root: &StoreUrl, job_id: &str) -> JobLayout {
        JobLayout {
            root: output_root.join(job_id),
        }
    }

    pub fn part(&self, table: &str, index: usize) -> StoreUrl {
        self.root.join(&format!("{table}/part-{index:05}.parquet"))
    }

    pub fn file(&self, name: &str) -> StoreUrl {
        self.root.join(name)
    }
}
