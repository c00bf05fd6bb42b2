//! The WMF-ALS phase of one member: reads its share of the aggregated tables, trains with
//! every other member over a timely cluster (`archetype-als`), and stores factors and
//! checkpoints in the job's object store.
//!
//! Timely worker `w` of `W` reads the aggregation parts `p` with `p % W == w`; a part holds
//! whole users, so the users part tells which of them are held out. Held-out users never train:
//! validation users are folded in to score the validation NDCG of every iteration, test users
//! are left to the evaluation phase. Iteration `t`'s factors go to
//! `als/checkpoints/iter-t/` (the last iteration's to `als/factors/`), then worker 0 commits
//! `als/state.json`, which is what a resumed job starts from.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use archetype_als::{
    Checkpoints, Confidence, Factors, IterationReport, LocalInput, Params, Resume, Shape, WmfModel,
};
use archetype_eval::targets::is_target;
use archetype_job::config::{AlsSolver, ConfidenceKind};
use archetype_job::layout::{
    ALS_CHECKPOINTS, ALS_ITEM_FACTORS, ALS_ITEM_NPY, ALS_STATE, ALS_USER_FACTORS, ALS_USER_NPY,
    HELDOUT, INTERACTIONS, TRACKS, USERS,
};
use archetype_job::{open_url, JobConfig, StoreUrl};
use archetype_kernels::cpu::als::Solver;
use arrow_array::{Array, FixedSizeListArray, Float32Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};
use timely::CommunicationConfig;
use tokio::runtime::Handle;
use tracing::info;

use crate::tables::{self, col, StrCol, U32Col};

/// What a resumed run must share with the run that wrote the checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlsSettings {
    pub factors: usize,
    pub lambda: f32,
    pub solver: String,
    pub confidence: Confidence,
    pub seed: u64,
    pub users: usize,
    pub items: usize,
}

/// `als/state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlsState {
    pub settings: AlsSettings,
    /// Iterations asked for.
    pub iterations: usize,
    /// Iterations whose factors are stored.
    pub completed: usize,
    /// All of them: the factors in `als/factors` and the `.npy` files are final.
    pub complete: bool,
    /// Where the last completed iteration's factors are, below the job root.
    pub directory: String,
    /// Timely workers of the run that wrote it.
    pub workers: usize,
    /// Training cells (users x items with plays).
    pub nnz: u64,
    pub reports: Vec<IterationReport>,
}

pub fn params(cfg: &JobConfig) -> Params {
    let a = &cfg.als;
    Params {
        factors: a.factors,
        lambda: a.lambda,
        iterations: a.iterations,
        solver: match a.solver {
            AlsSolver::Cg => Solver::Cg { steps: a.cg_steps },
            AlsSolver::Cholesky => Solver::Cholesky,
        },
        confidence: confidence(cfg),
        seed: a.seed,
        validate_every: a.validate_every,
        top_k: 100,
    }
}

pub fn confidence(cfg: &JobConfig) -> Confidence {
    let a = &cfg.als;
    match a.confidence {
        ConfidenceKind::Log => Confidence::Log {
            alpha: a.alpha,
            eps: a.eps,
        },
        ConfidenceKind::Linear => Confidence::Linear { alpha: a.alpha },
    }
}

fn settings(cfg: &JobConfig, shape: Shape) -> AlsSettings {
    let p = params(cfg);
    AlsSettings {
        factors: p.factors,
        lambda: p.lambda,
        solver: format!("{:?}", p.solver),
        confidence: p.confidence,
        seed: p.seed,
        users: shape.users,
        items: shape.items,
    }
}

/// Live figures for the progress reports.
#[derive(Debug, Default)]
pub struct AlsProgress {
    pub last: Mutex<Option<IterationReport>>,
}

pub struct AlsPhase {
    pub process_index: usize,
    pub peers: Vec<String>,
    /// The coordinator's secret for this formation, proven between members before timely
    /// gets a link; unused by a member alone.
    pub formation_secret: Vec<u8>,
    pub threads: usize,
    pub config: JobConfig,
    pub root: String,
    pub device: crate::device::DeviceOptions,
    /// The coordinator's rendezvous for this task's group (the NCCL id); `None` keeps the
    /// factor rows on timely.
    pub rendezvous: Option<crate::rendezvous::Rendezvous>,
}

pub(crate) async fn read_json<T: for<'de> Deserialize<'de>>(
    url: &StoreUrl,
) -> Result<Option<T>, String> {
    match url.store.get(&url.path).await {
        Ok(r) => {
            let bytes = r.bytes().await.map_err(|e| format!("{}: {e}", url.url))?;
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("{}: {e}", url.url))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(format!("{}: {e}", url.url)),
    }
}

pub(crate) async fn write_bytes(url: &StoreUrl, bytes: Vec<u8>) -> Result<(), String> {
    url.store
        .put(&url.path, Bytes::from(bytes).into())
        .await
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", url.url))
}

/// Users and items of the aggregated data set: the rows of the users and tracks tables, whose
/// dense indices run `0..n`.
async fn shape(root: &StoreUrl) -> Result<Shape, String> {
    let rows = |t: &'static str| {
        let dir = root.join(t);
        async move {
            let n = tables::count_rows(&dir).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(format!(
                    "{}: no rows; the aggregation has not completed",
                    dir.url
                ));
            }
            usize::try_from(n).map_err(|_| format!("{}: {n} rows", dir.url))
        }
    };
    Ok(Shape {
        users: rows(USERS).await?,
        items: rows(TRACKS).await?,
    })
}

pub(crate) fn factors_batch(f: &Factors, k: usize) -> Result<RecordBatch, String> {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let values = FixedSizeListArray::try_new(
        item.clone(),
        k as i32,
        Arc::new(Float32Array::from(f.values.clone())),
        None,
    )
    .map_err(|e| e.to_string())?;
    let schema = Schema::new(vec![
        Field::new("idx", DataType::UInt32, false),
        Field::new("factors", DataType::FixedSizeList(item, k as i32), false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(UInt32Array::from(f.rows.clone())),
            Arc::new(values),
        ],
    )
    .map_err(|e| e.to_string())
}

/// Reads every part of a factors directory.
pub async fn read_factors(dir: &StoreUrl, k: usize) -> Result<Factors, String> {
    let e = |x: tables::TableError| x.to_string();
    let mut f = Factors::default();
    for b in tables::read_table(dir).await.map_err(e)? {
        let idx = col::<U32Col>(&b, "idx").map_err(e)?;
        let list = col::<FixedSizeListArray>(&b, "factors").map_err(e)?;
        if list.value_length() as usize != k {
            return Err(format!(
                "{}: factors of length {}, expected {k}",
                dir.url,
                list.value_length()
            ));
        }
        let values = list
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .ok_or_else(|| format!("{}: factors are not f32", dir.url))?;
        f.rows.extend(idx.values().iter());
        let start = list.offset() * k;
        f.values
            .extend_from_slice(&values.values()[start..start + b.num_rows() * k]);
    }
    Ok(f)
}

/// A dense `n x k` matrix from rows by index; rows never stored stay zero.
pub fn dense(f: &Factors, n: usize, k: usize) -> Result<Vec<f32>, String> {
    let mut m = vec![0f32; n * k];
    for (&r, v) in f.rows.iter().zip(f.values.chunks_exact(k)) {
        let r = r as usize;
        if r >= n {
            return Err(format!("factor row {r} is outside {n} rows"));
        }
        m[r * k..(r + 1) * k].copy_from_slice(v);
    }
    Ok(m)
}

/// The trained model of a job root: `als/state.json` must say training completed; the item
/// factors come from `als/factors/items`, the fold-in settings from the state.
pub async fn load_model(root: &StoreUrl) -> Result<WmfModel, String> {
    let url = root.join(ALS_STATE);
    let state: AlsState = read_json(&url)
        .await?
        .ok_or_else(|| format!("{}: missing; WMF-ALS has not been trained", url.url))?;
    if !state.complete {
        return Err(format!(
            "{}: training stopped after {} of {} iterations",
            url.url, state.completed, state.iterations
        ));
    }
    let k = state.settings.factors;
    let f = read_factors(&root.join(ALS_ITEM_FACTORS), k).await?;
    if f.rows.len() != state.settings.items {
        return Err(format!(
            "{}: {} item rows stored, {} expected",
            root.join(ALS_ITEM_FACTORS).url,
            f.rows.len(),
            state.settings.items
        ));
    }
    let y = dense(&f, state.settings.items, k)?;
    WmfModel::new(y, k, state.settings.lambda, state.settings.confidence).map_err(|e| e.to_string())
}

/// NumPy's `.npy` format, version 1.0, little-endian f32, C order.
pub fn npy(values: &[f32], rows: usize, cols: usize) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + header + '\n', padded to a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + values.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

struct StoreCheckpoints {
    root: StoreUrl,
    rt: Handle,
    w: usize,
    workers: usize,
    iterations: usize,
    k: usize,
    row_group_rows: usize,
    /// Only worker 0 keeps and commits the state.
    state: Option<AlsState>,
    progress: Arc<AlsProgress>,
}

impl StoreCheckpoints {
    fn dir(&self, iteration: usize) -> String {
        if iteration >= self.iterations {
            "als/factors".to_string()
        } else {
            format!("{ALS_CHECKPOINTS}/iter-{iteration:04}")
        }
    }
}

impl Checkpoints for StoreCheckpoints {
    fn stop_requested(&self) -> bool {
        archetype_ops::shutdown::requested()
    }

    fn begin(&mut self, training_cells: u64) -> Result<(), String> {
        if let Some(s) = self.state.as_mut() {
            s.nnz = training_cells;
        }
        Ok(())
    }

    fn save(
        &mut self,
        r: &IterationReport,
        users: &Factors,
        items: &Factors,
    ) -> Result<(), String> {
        let dir = self.dir(r.iteration);
        let (k, w, rg) = (self.k, self.w, self.row_group_rows);
        let root = self.root.clone();
        let (ub, ib) = (factors_batch(users, k)?, factors_batch(items, k)?);
        self.rt.block_on(async move {
            let part = |side: &str| root.join(&format!("{dir}/{side}/part-{w:05}.parquet"));
            tables::write_parquet(&part("users"), &ub, rg)
                .await
                .map_err(|e| e.to_string())?;
            tables::write_parquet(&part("items"), &ib, rg)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn commit(&mut self, r: &IterationReport) -> Result<(), String> {
        if let Ok(mut last) = self.progress.last.lock() {
            *last = Some(r.clone());
        }
        crate::faults::reached("als", r.iteration as u64);
        let dir = self.dir(r.iteration);
        let Some(state) = self.state.as_mut() else {
            return Ok(());
        };
        let previous =
            (state.completed > 0 && state.directory != dir).then(|| state.directory.clone());
        state.completed = r.iteration;
        state.complete = r.iteration >= self.iterations;
        state.directory = dir;
        state.workers = self.workers;
        state.reports.retain(|x| x.iteration < r.iteration);
        state.reports.push(r.clone());
        let json = serde_json::to_vec_pretty(&state).map_err(|e| e.to_string())?;
        let root = self.root.clone();
        let complete = state.complete;
        let (users, items, k) = (state.settings.users, state.settings.items, self.k);
        self.rt.block_on(async move {
            if complete {
                // Python users get one matrix per side, row = dense index.
                for (side, npy_path, n) in [
                    (ALS_USER_FACTORS, ALS_USER_NPY, users),
                    (ALS_ITEM_FACTORS, ALS_ITEM_NPY, items),
                ] {
                    let f = read_factors(&root.join(side), k).await?;
                    let m = dense(&f, n, k)?;
                    write_bytes(&root.join(npy_path), npy(&m, n, k)).await?;
                }
            }
            write_bytes(&root.join(ALS_STATE), json).await?;
            if let Some(prev) = previous.filter(|p| p.starts_with(ALS_CHECKPOINTS)) {
                delete_dir(&root.join(&prev)).await;
            }
            Ok(())
        })
    }
}

/// Best effort: an old checkpoint left behind costs space, not correctness.
async fn delete_dir(dir: &StoreUrl) {
    use futures::TryStreamExt;
    let Ok(list) = dir
        .store
        .list(Some(&dir.path))
        .try_collect::<Vec<_>>()
        .await
    else {
        return;
    };
    for m in list {
        let _ = dir.store.delete(&m.location).await;
    }
}

/// What this member did.
#[derive(Clone, Debug, Default)]
pub struct AlsOutcome {
    /// `als/state.json` as written, with the local models' state under `local` (member 0
    /// only; empty on the others).
    pub state_json: String,
    pub resumed_from: usize,
}

/// This timely worker's share of the tables.
fn read_share(
    rt: &Handle,
    root: &StoreUrl,
    w: usize,
    workers: usize,
) -> Result<LocalInput, String> {
    rt.block_on(async {
        let e = |x: tables::TableError| x.to_string();
        let mine = |p: usize| p % workers == w;
        let mut held_out: HashSet<u32> = HashSet::new();
        let mut validation: HashSet<u32> = HashSet::new();
        for b in tables::read_table_parts(&root.join(USERS), mine)
            .await
            .map_err(e)?
        {
            let u = col::<U32Col>(&b, "user_idx").map_err(e)?;
            let s = col::<StrCol>(&b, "split").map_err(e)?;
            for i in 0..b.num_rows() {
                match s.value(i) {
                    "train" => {}
                    "validation" => {
                        held_out.insert(u.value(i));
                        validation.insert(u.value(i));
                    }
                    _ => {
                        held_out.insert(u.value(i));
                    }
                }
            }
        }
        let mut input = LocalInput::default();
        for b in tables::read_table_parts(&root.join(INTERACTIONS), mine)
            .await
            .map_err(e)?
        {
            let u = col::<U32Col>(&b, "user_idx").map_err(e)?;
            let t = col::<U32Col>(&b, "track_idx").map_err(e)?;
            let n = col::<U32Col>(&b, "plays").map_err(e)?;
            for i in 0..b.num_rows() {
                if !held_out.contains(&u.value(i)) {
                    input
                        .train
                        .push((u.value(i), t.value(i), n.value(i) as f32));
                }
            }
        }
        for b in tables::read_table_parts(&root.join(HELDOUT), mine)
            .await
            .map_err(e)?
        {
            let u = col::<U32Col>(&b, "user_idx").map_err(e)?;
            let t = col::<U32Col>(&b, "track_idx").map_err(e)?;
            let inp = col::<U32Col>(&b, "input_plays").map_err(e)?;
            let tgt = col::<U32Col>(&b, "target_plays").map_err(e)?;
            for i in 0..b.num_rows() {
                if !validation.contains(&u.value(i)) {
                    continue;
                }
                if inp.value(i) > 0 {
                    input
                        .validation_input
                        .push((u.value(i), t.value(i), inp.value(i) as f32));
                }
                // Validation always ranks with the input left out (as the VAE's does), so its
                // targets are the held-out tracks the input does not contain.
                if is_target(inp.value(i), tgt.value(i), true) {
                    input.validation_target.push((u.value(i), t.value(i)));
                }
            }
        }
        Ok(input)
    })
}

/// The timely configuration of a training phase: one thread, a process of threads, or this
/// member's place in the cluster whose addresses the coordinator handed out.
pub(crate) fn timely_config(
    process_index: usize,
    peers: &[String],
    threads: usize,
) -> timely::Config {
    let communication = if peers.len() <= 1 {
        if threads <= 1 {
            CommunicationConfig::Thread
        } else {
            CommunicationConfig::Process(threads)
        }
    } else {
        CommunicationConfig::Cluster {
            threads: threads.max(1),
            process: process_index,
            addresses: peers.to_vec(),
            report: false,
            zerocopy: false,
        }
    };
    timely::Config {
        communication,
        worker: timely::WorkerConfig::default(),
    }
}

/// Runs this member's part of the phase (blocking: call from a blocking thread).
pub fn run_phase(
    phase: AlsPhase,
    progress: Arc<AlsProgress>,
    rt: Handle,
) -> Result<AlsOutcome, String> {
    let root = open_url(&phase.root).map_err(|e| e.to_string())?;
    let cfg = phase.config.clone();
    let params = params(&cfg);
    let shape = rt.block_on(shape(&root))?;
    let wanted = settings(&cfg, shape);
    let previous: Option<AlsState> = rt.block_on(read_json(&root.join(ALS_STATE)))?;
    let mut state = AlsState {
        settings: wanted.clone(),
        iterations: params.iterations,
        completed: 0,
        complete: false,
        directory: String::new(),
        workers: 0,
        nnz: 0,
        reports: Vec::new(),
    };
    let mut resume: Option<Resume> = None;
    let mut finished: Option<AlsState> = None;
    if let Some(prev) = previous.filter(|p| cfg.als.resume && p.settings == wanted) {
        if prev.completed >= params.iterations && prev.complete {
            info!(
                completed = prev.completed,
                "global WMF-ALS already complete; not trained again"
            );
            finished = Some(prev);
        } else if prev.completed < params.iterations {
            let dir = root.join(&prev.directory);
            let k = params.factors;
            let (users, items) = rt.block_on(async {
                Ok::<_, String>((
                    read_factors(&dir.join("users"), k).await?,
                    read_factors(&dir.join("items"), k).await?,
                ))
            })?;
            info!(
                completed = prev.completed,
                "resuming ALS from its checkpoint"
            );
            resume = Some(Resume {
                completed: prev.completed,
                users,
                items,
            });
            state.completed = prev.completed;
            state.directory = prev.directory.clone();
            state.reports = prev.reports.clone();
        }
    }
    let local = if cfg.als.local.enabled {
        let plan = rt.block_on(crate::local_models::plan(
            &root,
            &cfg,
            shape.users,
            shape.items,
        ))?;
        (!plan.complete).then(|| Arc::new(plan))
    } else {
        None
    };
    if let (Some(prev), None) = (&finished, &local) {
        return Ok(AlsOutcome {
            state_json: outcome_json(prev, &root, &rt, cfg.als.local.enabled)?,
            resumed_from: prev.completed,
        });
    }
    let resumed_from = finished
        .as_ref()
        .map(|f| f.completed)
        .or(resume.as_ref().map(|r| r.completed))
        .unwrap_or(0);
    let backend = crate::device::resolve(&phase.config.compute, phase.device, "als")?;
    let workers = phase.peers.len().max(1) * phase.threads.max(1);
    let config = timely_config(phase.process_index, &phase.peers, phase.threads);
    let resume = Arc::new(resume);
    let state = Arc::new(state);
    let train_global = finished.is_none();
    let leader_state: Arc<Mutex<Option<AlsState>>> = Arc::new(Mutex::new(finished.clone()));
    let ls = leader_state.clone();
    let row_group_rows = cfg.output.row_group_rows;
    let (rt2, root2) = (rt.clone(), root.clone());
    let threads = phase.threads.max(1);
    let rendezvous = phase.rendezvous.clone();
    let guards = crate::cluster::execute(config, &phase.formation_secret, move |worker| {
        let w = worker.index();
        let input = read_share(&rt, &root, w, workers)?;
        let share = local.as_ref().map(|_| input.train.clone());
        if train_global {
            let offer = crate::nccl::Offer {
                what: "ALS factor rows",
                rank: w,
                world: workers,
                threads,
                device: backend.device(),
                rendezvous: rendezvous.as_ref(),
            };
            let mut mb = archetype_als::mailbox::Mailbox::new(worker);
            let nccl = crate::nccl::open(offer, |flag| Ok(mb.all_sum(worker, vec![flag])[0]))?;
            let mut cp = StoreCheckpoints {
                root: root.clone(),
                rt: rt.clone(),
                w,
                workers,
                iterations: params.iterations,
                k: params.factors,
                row_group_rows,
                state: (w == 0).then(|| (*state).clone()),
                progress: progress.clone(),
            };
            archetype_als::train_with(
                worker,
                shape,
                input,
                &params,
                resume.as_ref().as_ref(),
                &mut cp,
                backend.device().map(|d| &**d),
                nccl.as_ref(),
            )
            .map_err(|e| e.to_string())?;
            if let Some(s) = cp.state.take() {
                if let Ok(mut g) = ls.lock() {
                    *g = Some(s);
                }
            }
        }
        if let (Some(plan), Some(share)) = (&local, share) {
            crate::local_models::train_all(worker, &rt, &root, &cfg, plan, &share, row_group_rows)?;
        }
        Ok::<(), String>(())
    })
    .map_err(|e| format!("cannot form the timely cluster: {e}"))?;
    let mut errors = Vec::new();
    for r in guards.join() {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(p) => errors.push(format!("an ALS worker panicked: {p}")),
        }
    }
    if let Some(e) = errors
        .iter()
        .find(|e| !e.contains("another ALS worker failed") && !e.contains("another worker"))
        .or(errors.first())
    {
        return Err(e.clone());
    }
    let global = leader_state.lock().ok().and_then(|g| g.clone());
    let state_json = match global {
        Some(s) => outcome_json(&s, &root2, &rt2, phase.config.als.local.enabled)?,
        // Only member 0 holds the state; the others report nothing.
        None => String::new(),
    };
    Ok(AlsOutcome {
        state_json,
        resumed_from,
    })
}

/// `als/state.json` with the local models' `models.json` under `local` (when trained).
fn outcome_json(
    state: &AlsState,
    root: &StoreUrl,
    rt: &Handle,
    local: bool,
) -> Result<String, String> {
    let mut v = serde_json::to_value(state).map_err(|e| e.to_string())?;
    if local {
        let l: Option<serde_json::Value> = rt.block_on(read_json(
            &root.join(archetype_job::layout::ALS_LOCAL_MODELS),
        ))?;
        if let (Some(l), Some(o)) = (l, v.as_object_mut()) {
            o.insert("local".to_string(), l);
        }
    }
    serde_json::to_string(&v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_describes_the_matrix() {
        let b = npy(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3);
        assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
        assert!(header.contains("'shape': (2, 3)") && header.ends_with('\n'));
        assert_eq!(b.len(), 10 + hlen + 24);
        assert_eq!(&b[10 + hlen..10 + hlen + 4], &1f32.to_le_bytes());
    }

    #[test]
    fn factors_survive_a_parquet_round_trip() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = open_url(&format!("file://{}", dir.path().display())).unwrap();
        let f = Factors {
            rows: vec![4, 1, 7],
            values: (0..9).map(|v| v as f32 * 0.5).collect(),
        };
        let b = factors_batch(&f, 3).unwrap();
        rt.block_on(tables::write_parquet(
            &root.join("f/part-00000.parquet"),
            &b,
            2,
        ))
        .unwrap();
        let back = rt.block_on(read_factors(&root.join("f"), 3)).unwrap();
        assert_eq!(back, f);
        let m = dense(&back, 8, 3).unwrap();
        assert_eq!(&m[12..15], &[0.0, 0.5, 1.0]);
        assert!(dense(&back, 5, 3).is_err());
    }
}
