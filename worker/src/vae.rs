//! The VAE phase of one member: every timely worker of the cluster is a data-parallel replica
//! of `archetype-vae`'s trainer; gradients are all-reduced over timely's channels, or, when
//! every member trains on its own GPU, over NCCL (rank 0 makes the communicator's id and the
//! others get it through the coordinator's rendezvous), overlapped with the backward pass.
//!
//! Each process reads the training users' rows, the validation users' input and targets and
//! everyone's context features once (all parts: a replica's share of a batch may be any user)
//! and shares them with its threads. The models are trained one after the other: the plain
//! VAE, then each context model with each gate variant, then the concatenation variants.
//! After every epoch replica 0 writes `vae/<model>/checkpoint.safetensors` and then
//! `vae/<model>/state.json`; at the end `vae/<model>/model.safetensors` (the best epoch's
//! weights), then the state says complete and the checkpoint is removed. A rerun with the same
//! settings skips complete models and resumes the others from their checkpoint.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use archetype_als::mailbox::{Body, Envelope, Mailbox, MAX_VALUES};
use archetype_eval::targets::is_target;
use archetype_job::config::{VaeConfig, VaeContext, VaeGate, VaeInput};
use archetype_job::layout::{CONTEXT, HELDOUT, INTERACTIONS, TRACKS, USERS, VAE, VAE_MODELS};
use archetype_job::{open_url, JobConfig, StoreUrl};
use archetype_kernels::cuda::device::CudaDevice;
use archetype_kernels::cuda::nccl::GradientReducer;
use archetype_vae::checkpoint;
use archetype_vae::{
    Collective, ContextRows, EpochReport, InputKind, ModelSpec, StepReport, TrainData, TrainParams,
    TrainState, Trainer, UserRows, VaeError, Validation, Variant,
};
use arrow_array::{Array, Float32Array, Int32Array, ListArray};
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};
use timely::worker::Worker;
use tokio::runtime::Handle;
use tracing::info;

use crate::als::{read_json, timely_config, write_bytes};
use crate::tables::{self, col, StrCol, U32Col};

/// One model the phase trains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeModelKey {
    /// Directory below `vae/`.
    pub id: String,
    /// Its row in the report.
    pub name: String,
    pub context: Option<VaeContext>,
    pub variant: Variant,
}

/// The report name of the plain VAE.
pub const VAE_PLAIN: &str = archetype_job::config::VAE_PLAIN_NAME;

/// The models `cfg` asks for, in training and report order.
pub fn models(cfg: &VaeConfig) -> Vec<VaeModelKey> {
    let mut out = vec![VaeModelKey {
        id: "plain".into(),
        name: VAE_PLAIN.into(),
        context: None,
        variant: Variant::Plain,
    }];
    for &c in &cfg.contexts {
        for &g in &cfg.gates {
            let (variant, suffix) = match g {
                VaeGate::Literal => (Variant::GateLiteral, "gate_literal"),
                VaeGate::Scale => (Variant::GateScale, "gate_scale"),
            };
            out.push(VaeModelKey {
                id: format!("{}.{suffix}", c.id()),
                name: c.gated_name(g),
                context: Some(c),
                variant,
            });
        }
    }
    for &c in &cfg.concat {
        out.push(VaeModelKey {
            id: format!("{}.concat", c.id()),
            name: c.concat_name(),
            context: Some(c),
            variant: Variant::Concat,
        });
    }
    out
}

pub fn train_params(cfg: &VaeConfig) -> TrainParams {
    TrainParams {
        epochs: cfg.epochs,
        batch: cfg.batch,
        lr: cfg.lr,
        beta_cap: cfg.beta_cap,
        anneal_steps: cfg.anneal_steps,
        dropout: cfg.dropout,
        input: match cfg.input {
            VaeInput::Binary => InputKind::Binary,
            VaeInput::Counts => InputKind::Counts,
        },
        seed: cfg.seed,
        patience: cfg.patience,
    }
}

/// What a resumed run must share with the run that wrote a model's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeSettings {
    pub spec: ModelSpec,
    pub params: TrainParams,
    pub train_users: usize,
    pub train_cells: u64,
}

/// `vae/<model>/state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeModelState {
    pub key: VaeModelKey,
    pub settings: VaeSettings,
    pub parameters: usize,
    pub epochs_done: usize,
    pub steps: u64,
    pub complete: bool,
    pub stopped_early: bool,
    pub best_epoch: Option<usize>,
    pub best_ndcg: Option<f64>,
    /// Replicas of the run that wrote it.
    pub replicas: usize,
    pub history: Vec<EpochReport>,
    /// Per context feature, the training users' mean and deviation the inputs were
    /// standardised with (distances only).
    pub context_mean: Vec<f32>,
    pub context_std: Vec<f32>,
}

/// A model that could not be trained, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub key: VaeModelKey,
    pub reason: String,
}

/// `vae/models.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VaeModels {
    pub models: Vec<VaeModelState>,
    pub skipped: Vec<Skipped>,
    pub train_users: usize,
    pub validation_users: usize,
    pub replicas: usize,
    /// Where process 0 trained: `cpu` or `cuda:<ordinal> <name> (sm_XY)`.
    #[serde(default)]
    pub device: String,
}

/// Live figures for the progress reports.
#[derive(Clone, Debug, Default)]
pub struct VaeLive {
    pub model: String,
    pub model_index: usize,
    pub models: usize,
    pub step: Option<StepReport>,
    pub epoch: Option<EpochReport>,
}

#[derive(Debug, Default)]
pub struct VaeProgress {
    pub live: Mutex<VaeLive>,
}

pub struct VaePhase {
    pub process_index: usize,
    pub peers: Vec<String>,
    /// The coordinator's secret for this formation, proven between members before timely
    /// gets a link; unused by a member alone.
    pub formation_secret: Vec<u8>,
    pub threads: usize,
    pub config: JobConfig,
    pub root: String,
    pub device: crate::device::DeviceOptions,
    /// The coordinator's rendezvous for this task's group (the NCCL id); `None` where the
    /// phase runs without a coordinator (tests, tools), which keeps gradients on the host.
    pub rendezvous: Option<crate::rendezvous::Rendezvous>,
}

/// Opens NCCL for this replica when every replica can use it (see [`crate::nccl`]); `None`
/// keeps the host all-reduce.
fn open_reducer(
    coll: &mut TimelyCollective<'_>,
    device: Option<&Arc<CudaDevice>>,
    threads: usize,
    rendezvous: Option<&crate::rendezvous::Rendezvous>,
    bucket_bytes: usize,
) -> Result<Option<GradientReducer>, String> {
    let offer = crate::nccl::Offer {
        what: "VAE gradients",
        rank: coll.rank(),
        world: coll.world(),
        threads,
        device,
        rendezvous,
    };
    let comm = crate::nccl::open(offer, |flag| {
        let mut v = [flag];
        coll.all_reduce_f64(&mut v).map_err(|e| e.to_string())?;
        Ok(v[0])
    })?;
    Ok(match (comm, device) {
        (Some(c), Some(d)) => Some(GradientReducer::new(c, d, bucket_bytes)),
        _ => None,
    })
}

/// Every user's context features, by user index.
#[derive(Clone, Debug, Default)]
pub struct ContextTable {
    pub country: BTreeMap<u32, i32>,
    pub cluster: BTreeMap<u32, i32>,
    pub cluster_distances: BTreeMap<u32, Vec<f32>>,
    pub country_distances: BTreeMap<u32, Vec<f32>>,
    pub countries: usize,
    pub clusters: usize,
}

impl ContextTable {
    /// The rows of `users` (in that order) for one context model; `None` with the reason
    /// when the job has no such features.
    pub fn rows(&self, kind: VaeContext, users: &[u32]) -> Result<ContextRows, String> {
        let missing = |u: u32| format!("user {u} has no context features");
        match kind {
            VaeContext::CountryId | VaeContext::ClusterId => {
                let (map, dim) = if kind == VaeContext::CountryId {
                    (&self.country, self.countries)
                } else {
                    (&self.cluster, self.clusters)
                };
                if dim == 0 {
                    return Err(format!(
                        "no {} to encode",
                        if kind == VaeContext::CountryId {
                            "countries"
                        } else {
                            "clusters"
                        }
                    ));
                }
                let codes = users
                    .iter()
                    .map(|u| map.get(u).copied().ok_or_else(|| missing(*u)))
                    .collect::<Result<Vec<i32>, String>>()?;
                ContextRows::one_hot(&codes, dim).map_err(|e| e.to_string())
            }
            VaeContext::ClusterDistances | VaeContext::CountryDistances => {
                let (map, dim) = if kind == VaeContext::ClusterDistances {
                    (&self.cluster_distances, self.clusters)
                } else {
                    (&self.country_distances, self.countries)
                };
                if dim == 0 {
                    return Err("no centroids to measure distances to".into());
                }
                let mut values = Vec::with_capacity(users.len() * dim);
                for u in users {
                    let d = map.get(u).ok_or_else(|| missing(*u))?;
                    if d.len() != dim {
                        return Err(format!("user {u}: {} distances, expected {dim}", d.len()));
                    }
                    values.extend_from_slice(d);
                }
                ContextRows::new(values, dim).map_err(|e| e.to_string())
            }
        }
    }
}

/// Reads `aggregate/context` (all parts).
pub async fn read_context(root: &StoreUrl) -> Result<ContextTable, String> {
    let e = |x: tables::TableError| x.to_string();
    let mut t = ContextTable::default();
    let list = |b: &arrow_array::RecordBatch, name: &str, i: usize| -> Result<Vec<f32>, String> {
        let l = col::<ListArray>(b, name).map_err(e)?;
        let v = l.value(i);
        let f = v
            .as_any()
            .downcast_ref::<Float32Array>()
            .ok_or_else(|| format!("{CONTEXT}: {name} is not a list of f32"))?;
        Ok(f.values().to_vec())
    };
    let mut first = true;
    for b in tables::read_table(&root.join(CONTEXT)).await.map_err(e)? {
        let idx = col::<U32Col>(&b, "user_idx").map_err(e)?;
        let country = col::<Int32Array>(&b, "country_index").map_err(e)?;
        let cluster = col::<Int32Array>(&b, "cluster").map_err(e)?;
        for i in 0..b.num_rows() {
            let u = idx.value(i);
            let cd = list(&b, "cluster_distances", i)?;
            let nd = list(&b, "country_distances", i)?;
            if first {
                t.clusters = cd.len();
                t.countries = nd.len();
                first = false;
            } else if cd.len() != t.clusters || nd.len() != t.countries {
                return Err(format!(
                    "{CONTEXT}: user {u} has {} cluster and {} country distances, others {} and {}",
                    cd.len(),
                    nd.len(),
                    t.clusters,
                    t.countries
                ));
            }
            t.country.insert(u, country.value(i));
            t.cluster.insert(u, cluster.value(i));
            t.cluster_distances.insert(u, cd);
            t.country_distances.insert(u, nd);
        }
    }
    Ok(t)
}

/// What every replica of this process trains on.
pub struct Inputs {
    pub items: usize,
    pub train_users: Vec<u32>,
    pub train: UserRows,
    pub validation_users: Vec<u32>,
    pub validation_input: UserRows,
    pub validation_targets: Vec<Vec<u32>>,
    pub context: ContextTable,
}

async fn read_inputs(root: &StoreUrl) -> Result<Inputs, String> {
    let e = |x: tables::TableError| x.to_string();
    let items = usize::try_from(tables::count_rows(&root.join(TRACKS)).await.map_err(e)?)
        .map_err(|x| x.to_string())?;
    let mut train_set = HashSet::new();
    let mut val_set = HashSet::new();
    for b in tables::read_table(&root.join(USERS)).await.map_err(e)? {
        let u = col::<U32Col>(&b, "user_idx").map_err(e)?;
        let s = col::<StrCol>(&b, "split").map_err(e)?;
        for i in 0..b.num_rows() {
            match s.value(i) {
                "train" => {
                    train_set.insert(u.value(i));
                }
                "validation" => {
                    val_set.insert(u.value(i));
                }
                _ => {}
            }
        }
    }
    let mut train_rows: BTreeMap<u32, Vec<(u32, f32)>> =
        train_set.iter().map(|&u| (u, Vec::new())).collect();
    for b in tables::read_table(&root.join(INTERACTIONS))
        .await
        .map_err(e)?
    {
        let u = col::<U32Col>(&b, "user_idx").map_err(e)?;
        let t = col::<U32Col>(&b, "track_idx").map_err(e)?;
        let n = col::<U32Col>(&b, "plays").map_err(e)?;
        for i in 0..b.num_rows() {
            if let Some(row) = train_rows.get_mut(&u.value(i)) {
                row.push((t.value(i), n.value(i) as f32));
            }
        }
    }
    let mut val_input: BTreeMap<u32, Vec<(u32, f32)>> =
        val_set.iter().map(|&u| (u, Vec::new())).collect();
    let mut val_target: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for b in tables::read_table(&root.join(HELDOUT)).await.map_err(e)? {
        let u = col::<U32Col>(&b, "user_idx").map_err(e)?;
        let t = col::<U32Col>(&b, "track_idx").map_err(e)?;
        let inp = col::<U32Col>(&b, "input_plays").map_err(e)?;
        let tgt = col::<U32Col>(&b, "target_plays").map_err(e)?;
        for i in 0..b.num_rows() {
            let user = u.value(i);
            if let Some(row) = val_input.get_mut(&user) {
                if inp.value(i) > 0 {
                    row.push((t.value(i), inp.value(i) as f32));
                }
                // Validation rankings leave the input out: only new tracks are reachable.
                if is_target(inp.value(i), tgt.value(i), true) {
                    val_target.entry(user).or_default().push(t.value(i));
                }
            }
        }
    }
    let train_users: Vec<u32> = train_rows.keys().copied().collect();
    let train = UserRows::new(items, train_rows.into_values()).map_err(|x| x.to_string())?;
    let validation_users: Vec<u32> = val_input.keys().copied().collect();
    let validation_targets = validation_users
        .iter()
        .map(|u| {
            let mut t = val_target.remove(u).unwrap_or_default();
            t.sort_unstable();
            t.dedup();
            t
        })
        .collect();
    let validation_input =
        UserRows::new(items, val_input.into_values()).map_err(|x| x.to_string())?;
    let context = read_context(root).await?;
    Ok(Inputs {
        items,
        train_users,
        train,
        validation_users,
        validation_input,
        validation_targets,
        context,
    })
}

/// The all-reduce over timely's channels: a reduce-scatter (replica `j` sums chunk `j` of
/// everyone's buffer, adding the senders in replica order) then an all-gather, so every
/// replica ends with the same bits and each moves about twice its buffer.
pub struct TimelyCollective<'w> {
    worker: &'w mut Worker,
    mailbox: Mailbox,
}

impl<'w> TimelyCollective<'w> {
    pub fn new(worker: &'w mut Worker) -> TimelyCollective<'w> {
        let mailbox = Mailbox::new(worker);
        TimelyCollective { worker, mailbox }
    }
}

fn chunk(len: usize, world: usize, r: usize) -> std::ops::Range<usize> {
    len * r / world..len * (r + 1) / world
}

fn pieces(to: usize, values: &[f32], out: &mut Vec<Envelope>) {
    for (seq, c) in values.chunks(MAX_VALUES).enumerate() {
        out.push(Envelope {
            to: to as u32,
            from: 0,
            body: Body::Rows {
                seq: seq as u32,
                values: c.to_vec(),
            },
        });
    }
}

impl TimelyCollective<'_> {
    /// Reduce-scatter then all-gather over the timely mailbox.
    fn reduce_scatter_gather(&mut self, buf: &mut [f32]) -> Result<(), VaeError> {
        let (world, rank, len) = (self.world(), self.rank(), buf.len());
        let mut out = Vec::new();
        for j in 0..world {
            pieces(j, &buf[chunk(len, world, j)], &mut out);
        }
        let mine = chunk(len, world, rank);
        let mut sum = vec![0f32; mine.len()];
        // Sorted by sender: each element adds the replicas in order.
        for e in self.mailbox.round(self.worker, out) {
            let Body::Rows { seq, values } = e.body else {
                return Err(VaeError::Collective(
                    "an unexpected message in the all-reduce".into(),
                ));
            };
            let at = seq as usize * MAX_VALUES;
            let dst = sum.get_mut(at..at + values.len()).ok_or_else(|| {
                VaeError::Collective(format!("replica {} sent a piece beyond the chunk", e.from))
            })?;
            for (d, v) in dst.iter_mut().zip(&values) {
                *d += v;
            }
        }
        let mut out = Vec::new();
        for j in 0..world {
            pieces(j, &sum, &mut out);
        }
        for e in self.mailbox.round(self.worker, out) {
            let Body::Rows { seq, values } = e.body else {
                return Err(VaeError::Collective(
                    "an unexpected message in the all-gather".into(),
                ));
            };
            let range = chunk(len, world, e.from as usize);
            let at = range.start + seq as usize * MAX_VALUES;
            if at + values.len() > range.end {
                return Err(VaeError::Collective(format!(
                    "replica {} sent a piece beyond its chunk",
                    e.from
                )));
            }
            buf[at..at + values.len()].copy_from_slice(&values);
        }
        Ok(())
    }
}

impl Collective for TimelyCollective<'_> {
    fn rank(&self) -> usize {
        self.worker.index()
    }

    fn world(&self) -> usize {
        self.worker.peers()
    }

    fn all_reduce(&mut self, buf: &mut [f32]) -> Result<(), VaeError> {
        if self.world() == 1 {
            return Ok(());
        }
        let t = std::time::Instant::now();
        let r = self.reduce_scatter_gather(buf);
        crate::metrics::add_allreduce(t.elapsed());
        r
    }

    fn all_reduce_f64(&mut self, buf: &mut [f64]) -> Result<(), VaeError> {
        if self.world() == 1 {
            return Ok(());
        }
        let sum = self.mailbox.all_sum(self.worker, buf.to_vec());
        buf.copy_from_slice(&sum);
        Ok(())
    }
}

/// One model's inputs: training users' context rows and the validation set, standardised
/// where the features are distances.
struct Prepared {
    spec: ModelSpec,
    context: Option<ContextRows>,
    validation: Validation,
    mean: Vec<f32>,
    std: Vec<f32>,
}

fn prepare(cfg: &VaeConfig, key: &VaeModelKey, inputs: &Inputs) -> Result<Prepared, String> {
    let mut validation = Validation {
        input: inputs.validation_input.clone(),
        context: None,
        targets: inputs.validation_targets.clone(),
    };
    let (mut context, mut mean, mut std) = (None, Vec::new(), Vec::new());
    if let Some(kind) = key.context {
        let mut train = inputs.context.rows(kind, &inputs.train_users)?;
        let mut val = inputs.context.rows(kind, &inputs.validation_users)?;
        if matches!(
            kind,
            VaeContext::ClusterDistances | VaeContext::CountryDistances
        ) {
            (mean, std) = train.moments();
            train.standardise(&mean, &std).map_err(|e| e.to_string())?;
            val.standardise(&mean, &std).map_err(|e| e.to_string())?;
        }
        validation.context = Some(val);
        context = Some(train);
    }
    let spec = ModelSpec {
        items: inputs.items,
        hidden: cfg.hidden,
        latent: cfg.latent,
        context: context.as_ref().map_or(0, |c| c.dim),
        variant: key.variant,
    };
    Ok(Prepared {
        spec,
        context,
        validation,
        mean,
        std,
    })
}

/// Runs this member's part of the phase (blocking: call from a blocking thread).
pub fn run_phase(
    phase: VaePhase,
    progress: Arc<VaeProgress>,
    rt: Handle,
) -> Result<String, String> {
    let root = open_url(&phase.root).map_err(|e| e.to_string())?;
    let cfg = phase.config.vae.clone();
    let inputs = Arc::new(rt.block_on(read_inputs(&root))?);
    if inputs.train.rows() == 0 {
        return Err("no training users: the VAE has nothing to learn from".into());
    }
    let keys = models(&cfg);
    let backend = crate::device::resolve(&phase.config.compute, phase.device, "vae")?;
    let workers = phase.peers.len().max(1) * phase.threads.max(1);
    let config = timely_config(phase.process_index, &phase.peers, phase.threads);
    let summary: Arc<Mutex<Option<VaeModels>>> = Arc::new(Mutex::new(None));
    let out = summary.clone();
    let threads = phase.threads.max(1);
    let rendezvous = phase.rendezvous.clone();
    let bucket_bytes = phase.config.compute.nccl_bucket_mib.max(1) << 20;
    let guards = crate::cluster::execute(config, &phase.formation_secret, move |worker| {
        let w = worker.index();
        let mut coll = TimelyCollective::new(worker);
        let mut reducer = open_reducer(
            &mut coll,
            backend.device(),
            threads,
            rendezvous.as_ref(),
            bucket_bytes,
        )?;
        let mut models = VaeModels {
            train_users: inputs.train.rows(),
            validation_users: inputs.validation_users.len(),
            replicas: workers,
            device: backend.describe(),
            ..VaeModels::default()
        };
        for (i, key) in keys.iter().enumerate() {
            if let Ok(mut live) = progress.live.lock() {
                *live = VaeLive {
                    model: key.name.clone(),
                    model_index: i,
                    models: keys.len(),
                    step: None,
                    epoch: None,
                };
            }
            match prepare(&cfg, key, &inputs) {
                Err(reason) => {
                    if w == 0 {
                        info!(model = key.name, reason, "VAE model skipped");
                    }
                    models.skipped.push(Skipped {
                        key: key.clone(),
                        reason,
                    });
                }
                Ok(p) => {
                    let state = train_one(
                        &mut coll,
                        &mut reducer,
                        &rt,
                        &root,
                        &cfg,
                        key,
                        &inputs,
                        p,
                        &progress,
                        backend.device(),
                    )?;
                    models.models.push(state);
                }
            }
        }
        if w == 0 {
            let json = serde_json::to_vec_pretty(&models).map_err(|e| e.to_string())?;
            rt.block_on(write_bytes(&root.join(VAE_MODELS), json))?;
            if let Ok(mut g) = out.lock() {
                *g = Some(models);
            }
        }
        Ok::<(), String>(())
    })
    .map_err(|e| format!("cannot form the timely cluster: {e}"))?;
    let mut errors = Vec::new();
    for r in guards.join() {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(p) => errors.push(format!("a VAE replica panicked: {p}")),
        }
    }
    if let Some(e) = errors
        .iter()
        .find(|e| !e.contains("another replica"))
        .or(errors.first())
    {
        return Err(e.clone());
    }
    let s = summary.lock().ok().and_then(|g| g.clone());
    match s {
        Some(s) => serde_json::to_string(&s).map_err(|e| e.to_string()),
        None => Ok(String::new()),
    }
}

/// In the error of a task that stopped for a shutdown request (the checkpoint is written).
pub const INTERRUPTED: &str = "training interrupted by a shutdown request";

fn model_dir(root: &StoreUrl, key: &VaeModelKey) -> StoreUrl {
    root.join(&format!("{VAE}/{}", key.id))
}

#[allow(clippy::too_many_arguments)]
fn train_one(
    coll: &mut TimelyCollective<'_>,
    reducer: &mut Option<GradientReducer>,
    rt: &Handle,
    root: &StoreUrl,
    cfg: &VaeConfig,
    key: &VaeModelKey,
    inputs: &Inputs,
    p: Prepared,
    progress: &VaeProgress,
    device: Option<&Arc<archetype_kernels::cuda::device::CudaDevice>>,
) -> Result<VaeModelState, String> {
    let params = train_params(cfg);
    let settings = VaeSettings {
        spec: p.spec.clone(),
        params: params.clone(),
        train_users: inputs.train.rows(),
        train_cells: inputs.train.nnz(),
    };
    let dir = model_dir(root, key);
    let leader = coll.rank() == 0;
    let world = coll.world();
    let previous: Option<VaeModelState> = if cfg.resume {
        rt.block_on(read_json(&dir.join("state.json")))?
            .filter(|s: &VaeModelState| s.settings == settings)
    } else {
        None
    };
    if let Some(prev) = previous.as_ref().filter(|s| s.complete) {
        if leader {
            info!(
                model = key.name,
                "VAE model already trained; not trained again"
            );
        }
        return Ok(prev.clone());
    }
    let resumed = match previous {
        Some(prev) if prev.epochs_done > 0 || prev.steps > 0 => {
            let bytes = rt.block_on(async {
                let url = dir.join("checkpoint.safetensors");
                let r = url
                    .store
                    .get(&url.path)
                    .await
                    .map_err(|e| format!("{}: {e}", url.url))?;
                r.bytes().await.map_err(|e| format!("{}: {e}", url.url))
            })?;
            let loaded = checkpoint::load(&bytes).map_err(|e| e.to_string())?;
            loaded.state
        }
        _ => None,
    };
    let mut trainer = match resumed {
        Some(state) => {
            if leader {
                info!(
                    model = key.name,
                    epoch = state.epoch,
                    "resuming the VAE from its checkpoint"
                );
            }
            Trainer::from_state(p.spec.clone(), params.clone(), state)
        }
        None => Trainer::new(p.spec.clone(), params.clone()),
    }
    .map_err(|e| e.to_string())?;
    if let Some(d) = device {
        trainer.use_device(d.clone()).map_err(|e| e.to_string())?;
        if let Some(r) = reducer.take() {
            trainer.set_reducer(r);
        }
    }
    // SIGTERM (or the coordinator's abort) stops every replica after the same step; the
    // leader then checkpoints mid-epoch below.
    trainer.set_interrupt(archetype_ops::shutdown::flag());
    let started = std::time::Instant::now();
    let state_of = |st: &TrainState, complete: bool, stopped: bool| VaeModelState {
        key: key.clone(),
        settings: settings.clone(),
        parameters: st.weights.len(),
        epochs_done: st.epoch,
        steps: st.step,
        complete,
        stopped_early: stopped,
        best_epoch: st.best.as_ref().map(|b| b.epoch),
        best_ndcg: st.best.as_ref().map(|b| b.ndcg),
        replicas: world,
        history: st.history.clone(),
        context_mean: p.mean.clone(),
        context_std: p.std.clone(),
    };
    let data = TrainData {
        rows: &inputs.train,
        context: p.context.as_ref(),
    };
    let model_for_save = trainer.model.clone();
    let mut on_step = |r: &StepReport| {
        if let Ok(mut live) = progress.live.lock() {
            live.step = Some(r.clone());
        }
        crate::faults::reached("vae", r.step);
    };
    // The checkpoint, then the state that points at it: written after every epoch and on an
    // interruption (mid-epoch).
    let write_checkpoint = |st: &TrainState| -> Result<(), VaeError> {
        let bytes = checkpoint::save(&model_for_save, &params, st)?;
        let json = serde_json::to_vec_pretty(&state_of(st, false, false))
            .map_err(|e| VaeError::Checkpoint(e.to_string()))?;
        rt.block_on(async {
            write_bytes(&dir.join("checkpoint.safetensors"), bytes).await?;
            write_bytes(&dir.join("state.json"), json).await
        })
        .map_err(VaeError::Checkpoint)
    };
    let mut on_epoch = |r: &EpochReport, st: &TrainState| -> Result<bool, VaeError> {
        if let Ok(mut live) = progress.live.lock() {
            live.epoch = Some(r.clone());
        }
        if let Some(d) = device {
            if let Ok((free, total)) = d.context().mem_get_info() {
                crate::metrics::set_gpu_memory(
                    d.context().ordinal(),
                    (total - free) as u64,
                    total as u64,
                );
            }
        }
        if leader {
            info!(
                model = key.name,
                epoch = r.epoch,
                loss = r.loss,
                ndcg = r.validation_ndcg,
                seconds = r.seconds,
                "VAE epoch"
            );
            write_checkpoint(st)?;
        }
        Ok(true)
    };
    let fitted = trainer.fit(
        coll,
        &data,
        Some(&p.validation),
        &mut on_step,
        &mut on_epoch,
    );
    // The communicator serves the phase's next model.
    if let Some(r) = trainer.take_reducer() {
        *reducer = Some(r);
    }
    if let Err(VaeError::Interrupted { step, epoch }) = &fitted {
        if leader {
            write_checkpoint(&trainer.state).map_err(|e| e.to_string())?;
            info!(
                model = key.name,
                step, epoch, "VAE interrupted: checkpoint written; a rerun resumes from this step"
            );
        }
        return Err(format!(
            "{}: {INTERRUPTED} after step {step} (epoch {epoch}); checkpoint written to {}",
            key.name,
            dir.join("checkpoint.safetensors").url
        ));
    }
    fitted.map_err(|e| format!("{}: {e}", key.name))?;
    let stopped = trainer.stopped_early() && trainer.state.epoch < params.epochs;
    let final_state = state_of(&trainer.state, true, stopped);
    if leader {
        let extra = [
            ("name", key.name.clone()),
            (
                "context_mean",
                serde_json::to_string(&p.mean).unwrap_or_default(),
            ),
            (
                "context_std",
                serde_json::to_string(&p.std).unwrap_or_default(),
            ),
        ];
        let bytes =
            checkpoint::save_model(&trainer.model, &params, trainer.final_weights(), &extra)
                .map_err(|e| e.to_string())?;
        let json = serde_json::to_vec_pretty(&final_state).map_err(|e| e.to_string())?;
        rt.block_on(async {
            write_bytes(&dir.join("model.safetensors"), bytes).await?;
            write_bytes(&dir.join("state.json"), json).await?;
            // The model is final: the training state is no longer needed.
            let url = dir.join("checkpoint.safetensors");
            let _ = url.store.delete(&url.path).await;
            Ok::<(), String>(())
        })?;
        info!(
            model = key.name,
            epochs = trainer.state.epoch,
            best_epoch = final_state.best_epoch,
            best_ndcg = final_state.best_ndcg,
            seconds = started.elapsed().as_secs_f64(),
            "VAE model trained"
        );
    }
    Ok(final_state)
}

/// A trained model read back for scoring.
pub struct LoadedVae {
    pub key: VaeModelKey,
    pub model: archetype_vae::Model,
    pub params: TrainParams,
    pub weights: Vec<f32>,
    pub context_mean: Vec<f32>,
    pub context_std: Vec<f32>,
}

/// The trained models listed in `vae/models.json`, with the ones skipped and why.
pub async fn load_models(root: &StoreUrl) -> Result<(Vec<LoadedVae>, Vec<Skipped>), String> {
    let url = root.join(VAE_MODELS);
    let list: VaeModels = read_json(&url)
        .await?
        .ok_or_else(|| format!("{}: missing; the VAE phase has not run", url.url))?;
    let mut out = Vec::new();
    for s in &list.models {
        out.push(load_one(root, s).await?);
    }
    Ok((out, list.skipped))
}

async fn load_one(root: &StoreUrl, s: &VaeModelState) -> Result<LoadedVae, String> {
    let url = model_dir(root, &s.key).join("model.safetensors");
    let r = url
        .store
        .get(&url.path)
        .await
        .map_err(|e| format!("{}: {e}", url.url))?;
    let bytes = r.bytes().await.map_err(|e| format!("{}: {e}", url.url))?;
    let l = checkpoint::load(&bytes).map_err(|e| format!("{}: {e}", url.url))?;
    if l.spec != s.settings.spec {
        return Err(format!(
            "{}: the model's spec differs from its state",
            url.url
        ));
    }
    let model = archetype_vae::Model::new(l.spec).map_err(|e| e.to_string())?;
    Ok(LoadedVae {
        key: s.key.clone(),
        model,
        params: l.params,
        weights: l.weights,
        context_mean: s.context_mean.clone(),
        context_std: s.context_std.clone(),
    })
}

impl LoadedVae {
    /// The model's logits over the catalogue for one user: its input row and its index (for
    /// the context features).
    pub fn logits(
        &self,
        input: &[(u32, f32)],
        user: u32,
        context: &ContextTable,
    ) -> Result<Vec<f32>, String> {
        let items = self.model.spec.items;
        let rows = UserRows::new(items, [input.to_vec()]).map_err(|e| e.to_string())?;
        let ctx = self.context_rows(context, &[user])?;
        let batch = archetype_vae::Batch::build(&rows, ctx.as_ref(), &[0], self.params.input, None);
        let mut acts = archetype_vae::model::Activations::default();
        self.model
            .score(&self.weights, &batch, &mut acts)
            .map_err(|e| format!("{}: {e}", self.key.name))?;
        acts.logits.truncate(items);
        Ok(acts.logits)
    }

    fn context_rows(
        &self,
        context: &ContextTable,
        users: &[u32],
    ) -> Result<Option<ContextRows>, String> {
        match self.key.context {
            Some(kind) => {
                let mut c = context.rows(kind, users)?;
                if !self.context_mean.is_empty() {
                    c.standardise(&self.context_mean, &self.context_std)
                        .map_err(|e| e.to_string())?;
                }
                Ok(Some(c))
            }
            None => Ok(None),
        }
    }

    /// Top-`k` lists for users given by their input rows and user indices (for the context).
    pub fn recommend(
        &self,
        input: &UserRows,
        users: &[u32],
        context: &ContextTable,
        k: usize,
        exclude_input: bool,
    ) -> Result<Vec<Vec<u32>>, String> {
        let ctx = self.context_rows(context, users)?;
        let mut acts = archetype_vae::model::Activations::default();
        archetype_vae::train::recommend_with(
            &self.model,
            &self.weights,
            input,
            ctx.as_ref(),
            self.params.input,
            k,
            exclude_input,
            self.params.batch,
            &mut acts,
        )
        .map_err(|e| format!("{}: {e}", self.key.name))
    }
}
