//! The typed job configuration, loaded from TOML with command-line overrides.

use std::path::Path;

use crate::hash::mix64;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("invalid override `{0}`: expected key.path=value")]
    Override(String),
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// One job: where the data is, what to keep, where to write, and how many workers run it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// A label for logs and reports; the job id is derived from it and the submission time.
    #[serde(default = "default_name")]
    pub name: String,
    pub input: InputConfig,
    #[serde(default)]
    pub output: OutputConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub filter: FilterConfig,
    #[serde(default)]
    pub cluster: ClusterConfig,
    #[serde(default)]
    pub eval: EvalConfig,
    #[serde(default)]
    pub archetypes: ArchetypeConfig,
    #[serde(default)]
    pub als: AlsConfig,
    #[serde(default)]
    pub vae: VaeConfig,
    #[serde(default)]
    pub sampling: SamplingConfig,
    #[serde(default)]
    pub compute: ComputeConfig,
    #[serde(default)]
    pub promotion: PromotionConfig,
}

/// The promotion gate of scheduled retraining. Every run keeps its outputs under its own job
/// id; a run that succeeds becomes `<output.url>/latest.json` only when its `model` beats the
/// model `latest.json` points at on `metric` by more than `margin` (absolute, in the metric's
/// units). Otherwise the run stays where it is, with `promotion.json` saying why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromotionConfig {
    pub enabled: bool,
    /// A column of the report, e.g. `NDCG@100` (`P@K`, `R@K`, `NDCG@K`, `MAP@K` for K in
    /// `eval.ks`).
    pub metric: String,
    /// A model of the report by name (`VAE country id (model 1)`, `WMF-ALS`, ...), or `best`:
    /// the best of the trained models (the popularity baselines never count).
    pub model: String,
    /// How much better than the current one the new run must be.
    pub margin: f64,
}

impl Default for PromotionConfig {
    fn default() -> Self {
        PromotionConfig {
            enabled: false,
            metric: "NDCG@100".to_string(),
            model: "best".to_string(),
            margin: 0.0,
        }
    }
}

/// Where the training phases compute. Each worker resolves `device` for itself (a worker's
/// `--device` overrides it), so one job can mix GPU and CPU nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComputeConfig {
    /// `auto` (CUDA where the libraries and a GPU are found, else the CPU with the reason
    /// logged), `cuda` (fail without one) or `cpu`.
    pub device: DeviceKind,
    /// cuBLAS GEMMs in `f32` (the CPU's maths), on `tf32` tensor cores, or on `bf16` tensor
    /// cores (f32 buffers, operands rounded to bf16 inside cuBLAS).
    pub gemm: GemmKind,
    /// MiB of gradient per NCCL all-reduce call when replicas train on GPUs: the backward pass
    /// hands the all-reduce its finished layers in buckets of this size.
    #[serde(default = "default_nccl_bucket_mib")]
    pub nccl_bucket_mib: usize,
}

fn default_nccl_bucket_mib() -> usize {
    25
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            device: DeviceKind::default(),
            gemm: GemmKind::default(),
            nccl_bucket_mib: default_nccl_bucket_mib(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    #[default]
    Auto,
    Cuda,
    Cpu,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GemmKind {
    #[default]
    F32,
    Tf32,
    Bf16,
}

fn default_name() -> String {
    "job".to_string()
}

/// Input files as URLs (`file://`, `s3://`, `gs://`, `memory://`) or plain local paths.
/// The encoding follows the extension: `.gz`, `.bz2`, `.zst`, `.parquet`, else plain text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// Listening-event files (`LFM-1b_LEs.txt` layout or Parquet with the same columns).
    pub events: Vec<String>,
    /// The users table (`LFM-1b_users.txt`, with header).
    pub users: String,
    /// Optional track names (`LFM-1b_tracks.txt`).
    #[serde(default)]
    pub tracks: Option<String>,
    /// Optional artist names (`LFM-1b_artists.txt`).
    #[serde(default)]
    pub artists: Option<String>,
    /// Optional genre tags of tracks: tab-separated `track_id`, then one or more tags per line
    /// (a track may span several lines); lines starting with `#` and a `track_id` header are
    /// skipped.
    #[serde(default)]
    pub tags: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Root under which each job writes `<job id>/...`.
    pub url: String,
    /// Rows per Parquet row group in the written tables.
    pub row_group_rows: usize,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            url: "archetype-out".to_string(),
            row_group_rows: 1 << 20,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Target size of a byte-range shard of a plain text file.
    pub shard_bytes: u64,
    /// Events outside `[min_timestamp, max_timestamp]` (unix seconds) are rejected.
    pub min_timestamp: u32,
    pub max_timestamp: u32,
    /// The job fails when rejected rows exceed this share of all rows read (per file kind).
    pub max_bad_fraction: f64,
    /// Rows longer than this are rejected as `line_too_long` without being buffered whole.
    pub max_line_bytes: usize,
    /// Bytes fetched from the store per read.
    pub chunk_bytes: usize,
    /// Memory-map local (`file://`) inputs rather than copy them into buffers: faster, but an
    /// input truncated while the job reads it ends the worker with SIGBUS.
    pub map_local_files: bool,
    /// Distinct (user, track) pairs a reader thread folds locally before it sends them on;
    /// bounds the pre-aggregation memory per thread.
    pub preagg_pairs: usize,
    /// Rejected rows kept as samples per kind in the report.
    pub bad_row_samples: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            shard_bytes: 64 << 20,
            min_timestamp: 1_000_000_000,
            max_timestamp: 2_000_000_000,
            max_bad_fraction: 0.001,
            max_line_bytes: 1 << 20,
            chunk_bytes: 4 << 20,
            map_local_files: true,
            preagg_pairs: 1 << 20,
            bad_row_samples: 5,
        }
    }
}

/// The paper's filters (Schedl et al. 2021, Sec. 3.1), applied in its order: users with a
/// country; tracks with at least `min_track_les` events among those users; countries with at
/// least `min_country_les` events and `min_country_users` users among them. Interactions kept are
/// those of users of kept countries on kept tracks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    pub require_country: bool,
    pub min_track_les: u64,
    /// Keep every track, whatever its count (the mode beyond the paper's 122,442-track cap).
    pub keep_all_tracks: bool,
    pub min_country_les: u64,
    pub min_country_users: u64,
    /// Keep only this many of the tracks that pass `min_track_les`, drawn at random (the
    /// paper's "VAE sampling" data sets); all of them when fewer pass.
    pub sample_tracks: Option<u64>,
    /// Seed of that draw.
    pub sample_seed: u64,
}

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig {
            require_country: true,
            min_track_les: 1_000,
            keep_all_tracks: false,
            min_country_les: 80_000,
            min_country_users: 25,
            sample_tracks: None,
            sample_seed: 0,
        }
    }
}

impl FilterConfig {
    /// The tracks kept of `passed` (sorted, distinct ids that met `min_track_les`): all of
    /// them, or a seeded random `sample_tracks` of them, sorted. Each id is ranked by a hash
    /// of (seed, id), so the draw depends only on the set, not on which worker saw which id
    /// or in what order.
    pub fn sample(&self, passed: Vec<u32>) -> Vec<u32> {
        let Some(n) = self.sample_tracks else {
            return passed;
        };
        if passed.len() as u64 <= n {
            return passed;
        }
        let mut ranked: Vec<(u64, u32)> = passed
            .iter()
            .map(|&t| (mix64(self.sample_seed ^ mix64(u64::from(t))), t))
            .collect();
        ranked.sort_unstable();
        let mut kept: Vec<u32> = ranked
            .into_iter()
            .take(n as usize)
            .map(|(_, t)| t)
            .collect();
        kept.sort_unstable();
        kept
    }
}

/// The paper's "VAE sampling" experiment (Schedl et al. 2021, Sec. 4.3): besides the main
/// data set, `runs` data sets of as many tracks as the main one keeps, drawn at random from the
/// tracks with at least `min_track_les` events. Each is a whole job of its own (aggregation,
/// archetypes, context, VAEs, evaluation; no ALS) under `<job>/sampling/run-<i>`, and the
/// report adds the mean over the runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingConfig {
    /// 0 turns the experiment off; the paper ran 3.
    pub runs: u32,
    pub min_track_les: u64,
    /// Tracks per sampled data set; as many as the main data set keeps when unset.
    pub tracks: Option<u64>,
    /// Run `i` draws with seed `seed + i`.
    pub seed: u64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            runs: 0,
            min_track_les: 100,
            tracks: None,
            seed: 17,
        }
    }
}

/// How held-out users are split (Schedl et al. 2021, Sec. 4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitProtocol {
    /// The paper's: a share of each held-out user's listening events is the target, drawn
    /// without replacement, so a track can be on both sides.
    Events,
    /// A share of each held-out user's distinct tracks is the target; the sides are disjoint.
    Tracks,
}

impl SplitProtocol {
    pub fn name(self) -> &'static str {
        match self {
            SplitProtocol::Events => "events",
            SplitProtocol::Tracks => "tracks",
        }
    }
}

/// Held-out users and the evaluation of every model on them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Run the evaluation phase after the aggregation.
    pub enabled: bool,
    /// Seeds the choice of held-out users and their input/target split.
    pub seed: u64,
    /// Users held out for validation and for test (the paper: 5,000 each) ...
    pub validation_users: usize,
    pub test_users: usize,
    /// ... but each set at most this share of the kept users, so small data keeps training users.
    pub heldout_fraction: f64,
    /// How a held-out user's listening is split into input and target. `tracks` by default:
    /// it reproduces the magnitudes of the paper's Table 3 on real and on replay-heavy
    /// generated data, where `events` with `exclude_input` leaves most users with no target at
    /// all (their held-out events replay input tracks; see `archetype_eval::targets`).
    pub protocol: SplitProtocol,
    /// Share of each held-out user's events (or tracks) that is the target.
    pub target_fraction: f64,
    /// Leave a user's input tracks out of the ranking (the paper does, for the baselines).
    pub exclude_input: bool,
    /// Cut-offs of every metric.
    pub ks: Vec<usize>,
    /// The head: the most played tracks that together hold this share of the training plays;
    /// the rest is the tail. NDCG is reported on each side's targets separately.
    pub head_share: f64,
    pub cross_cultural: CrossCulturalConfig,
}

/// Cross-cultural re-ranking (after Ido et al.): a track's origin is the country where it
/// takes the largest share of the listening; a user's list is re-ranked away from tracks whose
/// origin is culturally close to the user's country.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrossCulturalConfig {
    pub enabled: bool,
    /// Penalty strengths, one model each: score' = score - strength * similarity(user's
    /// country, track's origin), scores min-max scaled within the candidates; 0 = no change.
    pub strengths: Vec<f64>,
    /// Also the paper's hard rule: drop every track of the user's own country.
    pub exclude_same_country: bool,
    /// The base model's list depth that gets re-ranked.
    pub candidates: usize,
}

impl Default for CrossCulturalConfig {
    fn default() -> Self {
        CrossCulturalConfig {
            enabled: true,
            strengths: vec![0.25, 0.5, 1.0, 2.0],
            exclude_same_country: true,
            candidates: 500,
        }
    }
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            enabled: true,
            seed: 42,
            validation_users: 5_000,
            test_users: 5_000,
            heldout_fraction: 0.1,
            protocol: SplitProtocol::Tracks,
            target_fraction: 0.2,
            exclude_input: true,
            ks: vec![10, 100],
            head_share: 0.5,
            cross_cultural: CrossCulturalConfig::default(),
        }
    }
}

/// How PCA is computed. Both give the same components up to rounding when the randomised range
/// holds the whole row space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PcaSolver {
    /// `exact` for up to 2,000 countries (always, in practice), else `randomized`.
    #[default]
    Auto,
    /// Eigendecomposition of the centred country x country Gram matrix.
    Exact,
    /// Halko et al.'s randomised range finder with power iterations.
    Randomized,
}

/// The country-archetype phase (the paper's Sec. 3.2): country vectors -> PCA -> t-SNE ->
/// OPTICS, a grid search over perplexity and OPTICS' minimum cluster size, archetype tables and
/// figures, then context features for every user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchetypeConfig {
    pub enabled: bool,
    /// PCA dimensions kept (the paper: 100).
    pub components: usize,
    pub pca_solver: PcaSolver,
    /// Used when `grid` is off.
    pub perplexity: f64,
    /// OPTICS `min_samples`; the minimum cluster size follows it, as in scikit-learn.
    pub min_samples: usize,
    pub xi: f64,
    /// Search `perplexities` x `min_cluster_sizes` and keep the best pair.
    pub grid: bool,
    pub perplexities: Vec<f64>,
    pub min_cluster_sizes: Vec<usize>,
    /// k of the neighbourhood preservation score.
    pub neighbours: usize,
    /// t-SNE iterations (scikit-learn's `max_iter`).
    pub tsne_iterations: usize,
    /// Tracks whose IDF = log10(N / n_t) is below this are "dominating" and left out of the
    /// archetype tables (the paper: 4.2, which removed 10 tracks of LFM-1b). 0 keeps all.
    pub idf_threshold: f64,
    /// Tracks listed per archetype.
    pub top_tracks: usize,
    pub seed: u64,
}

impl Default for ArchetypeConfig {
    fn default() -> Self {
        ArchetypeConfig {
            enabled: true,
            components: 100,
            pca_solver: PcaSolver::Auto,
            perplexity: 5.0,
            min_samples: 3,
            xi: 0.05,
            grid: true,
            perplexities: vec![
                1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 50.0,
            ],
            min_cluster_sizes: vec![2, 3, 4, 5],
            neighbours: 5,
            tsne_iterations: 1_000,
            idf_threshold: 4.2,
            top_tracks: 20,
            seed: 42,
        }
    }
}

/// Weighted matrix factorisation by ALS (Hu et al. 2008) on the training users' play counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlsConfig {
    pub enabled: bool,
    pub factors: usize,
    /// L2 regularisation of both sides.
    pub lambda: f32,
    pub iterations: usize,
    /// `cg` (warm-started conjugate gradient, as implicit) or `cholesky` (exact).
    pub solver: AlsSolver,
    pub cg_steps: usize,
    /// `log`: c = 1 + alpha ln(1 + r / eps) (van den Oord et al., eq. 2); `linear`: 1 + alpha r.
    pub confidence: ConfidenceKind,
    pub alpha: f32,
    pub eps: f32,
    pub seed: u64,
    /// Validation NDCG after every this many iterations (and after the last); 0: never.
    pub validate_every: usize,
    /// Continue from `als/state.json` when the job root holds one from the same settings.
    pub resume: bool,
    pub local: LocalModelsConfig,
}

/// Local models: one WMF model per country or archetype cluster, trained with the settings of
/// `[als]` except those here, combined per item pair by the items' popularity in each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalModelsConfig {
    pub enabled: bool,
    pub groups: LocalGroups,
    pub factors: usize,
    pub iterations: usize,
    /// Groups with fewer training users get no model.
    pub min_users: usize,
    /// The global WMF-ALS model joins the combination as one more data set.
    pub include_global: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalGroups {
    /// The archetype clusters (countries in no cluster get no local model).
    Cluster,
    /// Every kept country.
    Country,
}

impl LocalGroups {
    pub fn name(self) -> &'static str {
        match self {
            LocalGroups::Cluster => "cluster",
            LocalGroups::Country => "country",
        }
    }
}

impl Default for LocalModelsConfig {
    fn default() -> Self {
        LocalModelsConfig {
            enabled: true,
            groups: LocalGroups::Cluster,
            factors: 64,
            iterations: 10,
            min_users: 10,
            include_global: true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlsSolver {
    Cg,
    Cholesky,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfidenceKind {
    Log,
    Linear,
}

impl Default for AlsConfig {
    fn default() -> Self {
        AlsConfig {
            enabled: true,
            factors: 128,
            lambda: 0.1,
            iterations: 15,
            solver: AlsSolver::Cg,
            cg_steps: 3,
            confidence: ConfidenceKind::Log,
            alpha: 2.0,
            eps: 1.0,
            seed: 42,
            validate_every: 1,
            resume: true,
            local: LocalModelsConfig::default(),
        }
    }
}

/// The gated Mult-VAE (Schedl et al. 2021, Sec. 3.3): the plain VAE, and per context model
/// and gate variant one gated VAE; optionally the concatenation variant (footnote 13).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaeConfig {
    pub enabled: bool,
    /// The context models (the paper's 1-4): `country_id`, `cluster_id`, `cluster_distances`,
    /// `country_distances`.
    pub contexts: Vec<VaeContext>,
    /// Gate variants trained for every context model: `literal` (z = mu + sigma eps gate, the
    /// paper's eq. 6) and `scale` (z = gate (mu + sigma eps), gate mu at inference).
    pub gates: Vec<VaeGate>,
    /// Context models also trained with the context concatenated to the input.
    pub concat: Vec<VaeContext>,
    pub hidden: usize,
    pub latent: usize,
    pub epochs: usize,
    /// Users per step over all replicas.
    pub batch: usize,
    pub lr: f32,
    pub beta_cap: f32,
    pub anneal_steps: u64,
    pub dropout: f32,
    /// `binary` (Liang et al.) or `counts` (play counts, also weighting the multinomial).
    pub input: VaeInput,
    pub seed: u64,
    /// Early stopping: epochs without a better validation NDCG@100 (0: never stop early).
    pub patience: usize,
    /// Continue from the checkpoints under `vae/` when the settings match.
    pub resume: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VaeContext {
    CountryId,
    ClusterId,
    ClusterDistances,
    CountryDistances,
}

impl VaeContext {
    pub const ALL: [VaeContext; 4] = [
        VaeContext::CountryId,
        VaeContext::ClusterId,
        VaeContext::ClusterDistances,
        VaeContext::CountryDistances,
    ];

    pub fn id(self) -> &'static str {
        match self {
            VaeContext::CountryId => "country_id",
            VaeContext::ClusterId => "cluster_id",
            VaeContext::ClusterDistances => "cluster_distances",
            VaeContext::CountryDistances => "country_distances",
        }
    }

    /// As the paper's Table 3 names the model.
    pub fn label(self) -> &'static str {
        match self {
            VaeContext::CountryId => "country id (model 1)",
            VaeContext::ClusterId => "cluster id (model 2)",
            VaeContext::ClusterDistances => "cluster dist (model 3)",
            VaeContext::CountryDistances => "country dist (model 4)",
        }
    }

    pub fn needs_clusters(self) -> bool {
        matches!(self, VaeContext::ClusterId | VaeContext::ClusterDistances)
    }

    /// The report row of the model reading this context through `gate`.
    pub fn gated_name(self, gate: VaeGate) -> String {
        match gate {
            VaeGate::Literal => format!("VAE {}", self.label()),
            VaeGate::Scale => format!("VAE {} scaled gate", self.label()),
        }
    }

    /// The report row of the model with this context concatenated to its input.
    pub fn concat_name(self) -> String {
        format!("VAE {} concatenated", self.label())
    }
}

/// The report row of the Mult-VAE without context.
pub const VAE_PLAIN_NAME: &str = "VAE";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VaeGate {
    Literal,
    Scale,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VaeInput {
    Binary,
    Counts,
}

impl Default for VaeConfig {
    fn default() -> Self {
        VaeConfig {
            enabled: true,
            contexts: VaeContext::ALL.to_vec(),
            gates: vec![VaeGate::Literal, VaeGate::Scale],
            concat: vec![VaeContext::CountryId],
            hidden: 1200,
            latent: 600,
            epochs: 50,
            batch: 500,
            lr: 1e-3,
            beta_cap: 0.2,
            anneal_steps: 200_000,
            dropout: 0.5,
            input: VaeInput::Binary,
            seed: 42,
            patience: 5,
            resume: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Worker processes that form the timely cluster.
    pub workers: usize,
    /// Timely worker threads per process.
    pub threads: usize,
    /// Address the coordinator's gRPC server binds.
    pub listen: String,
    /// Start the workers as child processes on loopback (the embedded default); otherwise wait
    /// for `workers` workers to register.
    pub spawn_local_workers: bool,
    /// Worker binary for local spawning; default: `archetype-worker` beside the coordinator.
    pub worker_binary: Option<String>,
    pub heartbeat_ms: u64,
    /// A worker whose last heartbeat is older than this is lost.
    pub lease_ms: u64,
    /// How long to wait for all workers to register.
    pub register_timeout_s: u64,
    /// Where the coordinator serves Prometheus metrics while a job runs; empty: not served.
    pub metrics_listen: String,
    /// Times a job may re-form its cluster after losing a member (a lost lease, a dead
    /// process): the phase that was running is redone on the new cluster (training phases from
    /// their last checkpoint). One more loss fails the job with every loss listed.
    pub max_retries: u32,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            workers: 2,
            threads: 1,
            listen: "127.0.0.1:7070".to_string(),
            spawn_local_workers: true,
            worker_binary: None,
            heartbeat_ms: 500,
            lease_ms: 5_000,
            register_timeout_s: 60,
            metrics_listen: "127.0.0.1:9464".to_string(),
            max_retries: 3,
        }
    }
}

/// Local workers are processes on the coordinator's host, each with its own copy of the
/// tables it reads and an all-to-all timely mesh (n^2 connections). A fixed cap rather than a
/// multiple of this host's cores keeps a config valid or invalid wherever it is loaded;
/// beyond 64 processes one host gains nothing that `cluster.threads` does not give cheaper.
pub const MAX_LOCAL_WORKERS: usize = 64;

/// Each row solve is a k x k system (O(k^3) for Cholesky, a k x k Gram per thread): at 4,096
/// factors that is 64 MiB per thread and hours per iteration, whatever the data; published
/// WMF models use at most about 1,000.
pub const MAX_ALS_FACTORS: usize = 4_096;

/// `vae.hidden x vae.latent` weights exist three times over (mu, log-variance, dec1), each
/// with a gradient and two Adam moments: at 16,384 x 16,384 that is 13 GB per replica before
/// a single track is counted (the paper: 1,200 x 600).
pub const MAX_VAE_WIDTH: usize = 16_384;

impl JobConfig {
    /// Reads a TOML file and applies `key.path=value` overrides (values are TOML literals;
    /// anything that does not parse as one is taken as a string).
    pub fn load(path: &Path, overrides: &[String]) -> Result<JobConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        JobConfig::from_toml_with(&text, &path.display().to_string(), overrides)
    }

    pub fn from_toml(text: &str) -> Result<JobConfig, ConfigError> {
        JobConfig::from_toml_with(text, "<text>", &[])
    }

    pub fn from_toml_with(
        text: &str,
        origin: &str,
        overrides: &[String],
    ) -> Result<JobConfig, ConfigError> {
        let mut value: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        for o in overrides {
            apply_override(&mut value, o)?;
        }
        let config: JobConfig =
            toml::Value::Table(value)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    origin: origin.to_string(),
                    message: e.to_string(),
                })?;
        config.validate()?;
        Ok(config)
    }

    pub fn to_toml(&self) -> String {
        // Serialising a struct of plain fields cannot fail.
        toml::to_string(self).unwrap_or_default()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.input.events.is_empty() {
            return bad("input.events names no file");
        }
        if self.cluster.workers == 0 || self.cluster.threads == 0 {
            return bad("cluster.workers and cluster.threads must be at least 1");
        }
        if self.cluster.spawn_local_workers && self.cluster.workers > MAX_LOCAL_WORKERS {
            return Err(ConfigError::Invalid(format!(
                "cluster.workers = {} with cluster.spawn_local_workers = true starts that many \
                 processes on this host; at most {MAX_LOCAL_WORKERS}: use cluster.threads for \
                 more parallelism on one host",
                self.cluster.workers
            )));
        }
        if self.cluster.heartbeat_ms == 0 {
            return bad(
                "cluster.heartbeat_ms must be at least 1: 0 makes workers heartbeat in a busy loop",
            );
        }
        if self.output.row_group_rows == 0 {
            return bad("output.row_group_rows must be at least 1: 0 writes one row group per row");
        }
        if self.ingest.max_line_bytes == 0 {
            return bad("ingest.max_line_bytes must be at least 1: 0 rejects every row");
        }
        if self.ingest.shard_bytes == 0 || self.ingest.chunk_bytes == 0 {
            return bad("ingest.shard_bytes and ingest.chunk_bytes must be positive");
        }
        if self.ingest.min_timestamp > self.ingest.max_timestamp {
            return bad("ingest.min_timestamp is after ingest.max_timestamp");
        }
        if !(0.0..=1.0).contains(&self.ingest.max_bad_fraction) {
            return bad("ingest.max_bad_fraction must lie in [0, 1]");
        }
        if self.cluster.lease_ms <= self.cluster.heartbeat_ms {
            return bad("cluster.lease_ms must exceed cluster.heartbeat_ms");
        }
        if !(0.0..=0.5).contains(&self.eval.heldout_fraction) {
            return bad("eval.heldout_fraction must lie in [0, 0.5]");
        }
        if !(self.eval.target_fraction > 0.0 && self.eval.target_fraction < 1.0) {
            return bad("eval.target_fraction must lie strictly between 0 and 1");
        }
        if self.eval.ks.is_empty() || self.eval.ks.contains(&0) {
            return bad("eval.ks must list cut-offs of at least 1");
        }
        if self.promotion.enabled {
            let known: Vec<String> = self
                .eval
                .ks
                .iter()
                .flat_map(|k| ["P", "R", "NDCG", "MAP"].map(|m| format!("{m}@{k}")))
                .collect();
            if !known.contains(&self.promotion.metric) {
                return Err(ConfigError::Invalid(format!(
                    "promotion.metric `{}` is not a report column; one of {}",
                    self.promotion.metric,
                    known.join(", ")
                )));
            }
            if !self.eval.enabled {
                return bad(
                    "promotion.enabled needs eval.enabled: the gate compares report metrics",
                );
            }
            if !self.promotion.margin.is_finite() || self.promotion.margin < 0.0 {
                return bad("promotion.margin must be a finite number >= 0");
            }
            if self.promotion.model.trim().is_empty() {
                return bad("promotion.model must name a model or be `best`");
            }
        }
        let mut ks = self.eval.ks.clone();
        ks.sort_unstable();
        ks.dedup();
        if ks.len() != self.eval.ks.len() {
            return bad("eval.ks lists a cut-off twice");
        }
        if self.filter.sample_tracks == Some(0) || self.sampling.tracks == Some(0) {
            return bad("filter.sample_tracks and sampling.tracks must be at least 1 when set");
        }
        if self.sampling.runs > 0 && !(self.vae.enabled && self.eval.enabled) {
            return bad(
                "sampling.runs needs vae.enabled and eval.enabled: the experiment evaluates VAEs",
            );
        }
        let a = &self.archetypes;
        if a.components == 0 {
            return bad("archetypes.components must be at least 1");
        }
        let perplexities = if a.grid {
            &a.perplexities[..]
        } else {
            std::slice::from_ref(&a.perplexity)
        };
        if perplexities.is_empty() || perplexities.iter().any(|p| !(p.is_finite() && *p > 0.0)) {
            return bad("archetypes.perplexities (or perplexity) must be positive numbers");
        }
        let sizes = if a.grid {
            &a.min_cluster_sizes[..]
        } else {
            std::slice::from_ref(&a.min_samples)
        };
        if sizes.is_empty() || sizes.iter().any(|&m| m < 2) {
            return bad("archetypes.min_cluster_sizes (or min_samples) must be at least 2");
        }
        if !(a.xi > 0.0 && a.xi < 1.0) {
            return bad("archetypes.xi must lie strictly between 0 and 1");
        }
        if a.neighbours == 0 || a.tsne_iterations < 251 || a.top_tracks == 0 {
            return bad("archetypes.neighbours and top_tracks must be at least 1, tsne_iterations above 250");
        }
        if !(a.idf_threshold.is_finite() && a.idf_threshold >= 0.0) {
            return bad("archetypes.idf_threshold must be a number >= 0");
        }
        let m = &self.als;
        if m.factors == 0 || m.cg_steps == 0 {
            return bad("als.factors and als.cg_steps must be at least 1");
        }
        if m.iterations == 0 {
            return bad("als.iterations must be at least 1: 0 trains nothing and writes no model");
        }
        if m.local.enabled && m.local.iterations == 0 {
            return bad("als.local.iterations must be at least 1 when als.local.enabled");
        }
        for (key, k) in [
            ("als.factors", m.factors),
            ("als.local.factors", m.local.factors),
        ] {
            if k > MAX_ALS_FACTORS {
                return Err(ConfigError::Invalid(format!(
                    "{key} = {k} is above {MAX_ALS_FACTORS}: lower {key}"
                )));
            }
        }
        if !(m.lambda.is_finite() && m.lambda >= 0.0) {
            return bad("als.lambda must be a number >= 0");
        }
        if !(m.alpha.is_finite() && m.alpha >= 0.0 && m.eps.is_finite() && m.eps > 0.0) {
            return bad("als.alpha must be a number >= 0 and als.eps a number > 0");
        }
        if m.local.factors == 0 {
            return bad("als.local.factors must be at least 1");
        }
        let v = &self.vae;
        if v.hidden == 0 || v.latent == 0 || v.batch == 0 {
            return bad("vae.hidden, vae.latent and vae.batch must be at least 1");
        }
        for (key, n) in [("vae.hidden", v.hidden), ("vae.latent", v.latent)] {
            if n > MAX_VAE_WIDTH {
                return Err(ConfigError::Invalid(format!(
                    "{key} = {n} is above {MAX_VAE_WIDTH}: lower {key}"
                )));
            }
        }
        if !(v.lr.is_finite() && v.lr > 0.0 && v.beta_cap.is_finite() && v.beta_cap >= 0.0) {
            return bad("vae.lr must be a number > 0 and vae.beta_cap a number >= 0");
        }
        if !(0.0..1.0).contains(&v.dropout) {
            return bad("vae.dropout must lie in [0, 1)");
        }
        if !v.contexts.is_empty() && v.gates.is_empty() {
            return bad("vae.gates must name at least one gate variant when vae.contexts is set");
        }
        if !(self.eval.head_share > 0.0 && self.eval.head_share < 1.0) {
            return bad("eval.head_share must lie strictly between 0 and 1");
        }
        let x = &self.eval.cross_cultural;
        if x.strengths.iter().any(|s| !(s.is_finite() && *s >= 0.0)) {
            return bad("eval.cross_cultural.strengths must be numbers >= 0");
        }
        if x.candidates < self.eval.ks.iter().copied().max().unwrap_or(0) {
            return bad("eval.cross_cultural.candidates must be at least the largest of eval.ks");
        }
        Ok(())
    }
}

fn apply_override(root: &mut toml::Table, o: &str) -> Result<(), ConfigError> {
    let (key, raw) = o
        .split_once('=')
        .ok_or_else(|| ConfigError::Override(o.to_string()))?;
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::Override(o.to_string()));
    }
    let value = parse_literal(raw.trim());
    let mut table = root;
    for p in &parts[..parts.len() - 1] {
        let entry = table
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| ConfigError::Override(format!("{o}: `{p}` is not a table")))?;
    }
    table.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

fn parse_literal(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or(toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [input]
        events = ["data/LFM-1b_LEs.txt"]
        users = "data/LFM-1b_users.txt"
    "#;

    #[test]
    fn defaults_follow_the_paper() {
        let c = JobConfig::from_toml(MINIMAL).unwrap();
        assert_eq!(c.filter.min_track_les, 1_000);
        assert_eq!(c.filter.min_country_les, 80_000);
        assert_eq!(c.filter.min_country_users, 25);
        assert!(c.filter.require_country);
        assert_eq!(c.cluster.workers, 2);
    }

    #[test]
    fn compute_section_reads_every_gemm_and_the_nccl_bucket() {
        let c = JobConfig::from_toml(MINIMAL).unwrap();
        assert_eq!(c.compute.gemm, GemmKind::F32);
        assert_eq!(c.compute.nccl_bucket_mib, 25);
        for (text, want) in [
            ("f32", GemmKind::F32),
            ("tf32", GemmKind::Tf32),
            ("bf16", GemmKind::Bf16),
        ] {
            let o = vec![
                format!("compute.gemm=\"{text}\""),
                "compute.nccl_bucket_mib=8".into(),
            ];
            let c = JobConfig::from_toml_with(MINIMAL, "t", &o).unwrap();
            assert_eq!((c.compute.gemm, c.compute.nccl_bucket_mib), (want, 8));
        }
        let e =
            JobConfig::from_toml(&format!("{MINIMAL}\n[compute]\ngemm = \"fp8\"\n")).unwrap_err();
        assert!(e.to_string().contains("fp8"), "{e}");
    }

    #[test]
    fn overrides_replace_and_create_values() {
        let o = vec![
            "filter.min_track_les=50".to_string(),
            "cluster.listen=127.0.0.1:0".to_string(),
            "filter.keep_all_tracks=true".to_string(),
        ];
        let c = JobConfig::from_toml_with(MINIMAL, "t", &o).unwrap();
        assert_eq!(c.filter.min_track_les, 50);
        assert!(c.filter.keep_all_tracks);
        assert_eq!(c.cluster.listen, "127.0.0.1:0");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let e =
            JobConfig::from_toml(&format!("{MINIMAL}\n[filter]\nmin_trak_les = 3\n")).unwrap_err();
        assert!(e.to_string().contains("min_trak_les"), "{e}");
        let e = JobConfig::from_toml_with(MINIMAL, "t", &["cluster.workers=0".into()]).unwrap_err();
        assert!(e.to_string().contains("workers"), "{e}");
        assert!(JobConfig::from_toml_with(MINIMAL, "t", &["novalue".into()]).is_err());
    }

    #[test]
    fn eval_settings_parse_and_are_checked() {
        let c = JobConfig::from_toml(MINIMAL).unwrap();
        assert_eq!(c.eval.protocol, SplitProtocol::Tracks);
        assert_eq!((c.eval.validation_users, c.eval.test_users), (5_000, 5_000));
        assert_eq!(c.eval.ks, vec![10, 100]);
        assert!(c.eval.exclude_input);
        let o = vec![
            "eval.protocol=events".to_string(),
            "eval.ks=[5, 20]".to_string(),
        ];
        let c = JobConfig::from_toml_with(MINIMAL, "t", &o).unwrap();
        assert_eq!(c.eval.protocol, SplitProtocol::Events);
        assert_eq!(c.eval.ks, vec![5, 20]);
        for (bad, says) in [
            ("eval.target_fraction=1.0", "target_fraction"),
            ("eval.ks=[10, 10]", "twice"),
            ("eval.ks=[0]", "at least 1"),
            ("eval.heldout_fraction=0.7", "heldout_fraction"),
            ("eval.protocol=\"users\"", "protocol"),
        ] {
            let e = JobConfig::from_toml_with(MINIMAL, "t", &[bad.to_string()]).unwrap_err();
            assert!(e.to_string().contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn archetype_settings_follow_the_paper_and_are_checked() {
        let c = JobConfig::from_toml(MINIMAL).unwrap();
        let a = &c.archetypes;
        assert_eq!((a.components, a.min_samples, a.xi), (100, 3, 0.05));
        assert_eq!(a.perplexities.len(), 12);
        assert_eq!(a.min_cluster_sizes, vec![2, 3, 4, 5]);
        assert_eq!(a.idf_threshold, 4.2);
        let c = JobConfig::from_toml_with(
            MINIMAL,
            "t",
            &["archetypes.pca_solver=\"randomized\"".into()],
        )
        .unwrap();
        assert_eq!(c.archetypes.pca_solver, PcaSolver::Randomized);
        for (bad, says) in [
            ("archetypes.xi=1.5", "xi"),
            ("archetypes.min_cluster_sizes=[1, 3]", "min_cluster_sizes"),
            ("archetypes.perplexities=[]", "perplexities"),
            ("archetypes.components=0", "components"),
            ("archetypes.tsne_iterations=100", "tsne_iterations"),
        ] {
            let e = JobConfig::from_toml_with(MINIMAL, "t", &[bad.to_string()]).unwrap_err();
            assert!(e.to_string().contains(says), "{bad}: {e}");
        }
    }

    fn refused(o: &str) -> String {
        JobConfig::from_toml_with(MINIMAL, "t", &[o.to_string()])
            .expect_err(o)
            .to_string()
    }

    #[test]
    fn zero_sizes_are_refused_naming_the_key() {
        for (bad, key) in [
            ("output.row_group_rows=0", "output.row_group_rows"),
            ("als.iterations=0", "als.iterations"),
            ("als.local.iterations=0", "als.local.iterations"),
            ("cluster.heartbeat_ms=0", "cluster.heartbeat_ms"),
            ("ingest.max_line_bytes=0", "ingest.max_line_bytes"),
        ] {
            let e = refused(bad);
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    #[test]
    fn absurd_sizes_are_refused_naming_the_key() {
        for (bad, key) in [
            ("als.factors=100000", "als.factors"),
            ("als.local.factors=100000", "als.local.factors"),
            ("vae.hidden=1000000", "vae.hidden"),
            ("vae.latent=1000000", "vae.latent"),
            ("cluster.workers=1000", "cluster.workers"),
        ] {
            let e = refused(bad);
            assert!(e.contains(key), "{bad}: {e}");
        }
        // At the bounds, and workers that register from elsewhere, are accepted.
        let o: Vec<String> = [
            "als.factors=4096",
            "vae.hidden=16384",
            "vae.latent=16384",
            "cluster.workers=64",
        ]
        .map(String::from)
        .to_vec();
        JobConfig::from_toml_with(MINIMAL, "t", &o).unwrap();
        let o = vec![
            "cluster.workers=1000".to_string(),
            "cluster.spawn_local_workers=false".to_string(),
        ];
        JobConfig::from_toml_with(MINIMAL, "t", &o).unwrap();
    }

    #[test]
    fn round_trips_through_toml() {
        let c = JobConfig::from_toml(MINIMAL).unwrap();
        assert_eq!(JobConfig::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn track_sample_is_a_sorted_seeded_subset_of_the_asked_size() {
        let passed: Vec<u32> = (0..1000).map(|i| i * 7 + 3).collect();
        let mut f = FilterConfig {
            sample_tracks: Some(100),
            sample_seed: 5,
            ..FilterConfig::default()
        };
        let a = f.sample(passed.clone());
        assert_eq!(a.len(), 100);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(a.iter().all(|t| passed.binary_search(t).is_ok()));
        // Spread over the id range, not a prefix.
        assert!(
            *a.first().unwrap() < 700 && *a.last().unwrap() > 6300,
            "{a:?}"
        );
        assert_eq!(f.sample(passed.clone()), a);
        f.sample_seed = 6;
        let b = f.sample(passed.clone());
        let shared = a.iter().filter(|t| b.binary_search(t).is_ok()).count();
        assert!(shared < 40, "seeds 5 and 6 share {shared} of 100");
        // A smaller pool is kept whole; no sample keeps everything.
        f.sample_tracks = Some(5000);
        assert_eq!(f.sample(passed.clone()), passed);
        f.sample_tracks = None;
        assert_eq!(f.sample(passed.clone()), passed);
    }

    #[test]
    fn sampling_needs_the_vae_and_a_positive_size() {
        let mut c = JobConfig::from_toml(MINIMAL).unwrap();
        c.sampling.runs = 3;
        c.vae.enabled = false;
        assert!(c.validate().is_err());
        c.vae.enabled = true;
        c.eval.enabled = true;
        c.validate().unwrap();
        c.sampling.tracks = Some(0);
        assert!(c.validate().is_err());
    }
}
