//! The training loop of one timely worker: setup, half-steps, loss, validation, checkpoints.

use std::collections::BTreeMap;
use std::time::Instant;

use archetype_eval::metrics::{user_metrics, Metric};
use archetype_kernels::cpu::als::{gram_f64, loss_corrections, solve, CsrRef, Solver};
use archetype_kernels::cpu::topk::top_k;
use archetype_kernels::cuda::device::CudaDevice;
use archetype_kernels::cuda::nccl::Nccl;
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use serde::{Deserialize, Serialize};
use timely::worker::Worker;
use tracing::info;

use crate::blocks::{self, Block, Csr};
use crate::confidence::Confidence;
use crate::gather::{ExchangePlan, NcclExchange, Side};
use crate::mailbox::{rows_to, Body, Envelope, Mailbox};
use crate::TrainError;

/// What to train.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    pub factors: usize,
    pub lambda: f32,
    pub iterations: usize,
    pub solver: Solver,
    pub confidence: Confidence,
    pub seed: u64,
    /// Validate after every this many iterations (and after the last); 0 never.
    pub validate_every: usize,
    /// The cut-off of the validation NDCG.
    pub top_k: usize,
}

impl Params {
    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Params(m));
        if self.factors == 0 {
            return bad("factors must be at least 1".into());
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return bad(format!(
                "lambda is {}; it must be finite and >= 0",
                self.lambda
            ));
        }
        if self.top_k == 0 {
            return bad("top_k must be at least 1".into());
        }
        if let Solver::Cg { steps: 0 } = self.solver {
            return bad("cg_steps must be at least 1".into());
        }
        self.confidence.check().map_err(TrainError::Params)
    }
}

/// Sizes of the two sides (dense index ranges).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub users: usize,
    pub items: usize,
}

/// What this worker read. Any share of the data will do: every row is routed to its owner.
#[derive(Clone, Debug, Default)]
pub struct LocalInput {
    /// Training cells (user, item, plays).
    pub train: Vec<(u32, u32, f32)>,
    /// Validation users' input cells (user, item, plays): folded in, never trained on.
    pub validation_input: Vec<(u32, u32, f32)>,
    /// Validation users' held-out cells (user, item).
    pub validation_target: Vec<(u32, u32)>,
}

/// Factor rows of one side held by this worker.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Factors {
    /// Global row ids, ascending.
    pub rows: Vec<u32>,
    /// `rows.len() x k`, row-major.
    pub values: Vec<f32>,
}

/// Where to start from instead of the seeded initialisation.
#[derive(Clone, Debug, Default)]
pub struct Resume {
    /// Iterations already completed.
    pub completed: usize,
    /// Any rows that include those this worker owns.
    pub users: Factors,
    pub items: Factors,
}

/// One iteration, as every worker sees it (all figures are global).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationReport {
    /// Iterations completed, counting from the start of training (not of this run).
    pub iteration: usize,
    /// The WMF objective over all cells (training users only).
    pub loss: f64,
    /// Mean NDCG@top_k of the validation users with targets, when validated.
    pub ndcg: Option<f64>,
    pub validation_users: u64,
    /// Seconds of this worker for the iteration (half-steps and routing).
    pub seconds: f64,
}

/// Stores the factors after an iteration; called on every worker.
pub trait Checkpoints {
    /// Called on every worker once the blocks are built, with the number of training cells
    /// over all workers.
    fn begin(&mut self, _training_cells: u64) -> Result<(), String> {
        Ok(())
    }
    /// Store this worker's rows after `report.iteration` iterations.
    fn save(
        &mut self,
        report: &IterationReport,
        users: &Factors,
        items: &Factors,
    ) -> Result<(), String>;
    /// Called on every worker once every worker's `save` succeeded.
    fn commit(&mut self, report: &IterationReport) -> Result<(), String>;
    /// Polled on every worker after each commit, where the iteration's checkpoint is whole:
    /// when any worker answers true (a graceful shutdown), all of them stop there with
    /// [`TrainError::Interrupted`].
    fn stop_requested(&self) -> bool {
        false
    }
}

/// Keeps nothing.
pub struct NoCheckpoints;

impl Checkpoints for NoCheckpoints {
    fn save(&mut self, _: &IterationReport, _: &Factors, _: &Factors) -> Result<(), String> {
        Ok(())
    }
    fn commit(&mut self, _: &IterationReport) -> Result<(), String> {
        Ok(())
    }
}

/// What a worker ends with.
#[derive(Clone, Debug)]
pub struct Trained {
    pub users: Factors,
    pub items: Factors,
    /// Reports of the iterations run here (after a resume, only the new ones).
    pub reports: Vec<IterationReport>,
    /// Training cells over all workers.
    pub nnz: u64,
}

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seeded start of a row (side 0 users, 1 items), uniform in [0, 0.01) as implicit's, a function of the seed,
/// side and row alone so that every worker count starts from the same factors.
pub fn init_row(seed: u64, side: u64, row: u32, out: &mut [f32]) {
    let base = mix(mix(seed ^ side.wrapping_mul(0xD1B5_4A32_D192_ED03)) ^ u64::from(row));
    for (d, v) in out.iter_mut().enumerate() {
        let bits = mix(base ^ (d as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 40;
        *v = (bits as f32 / (1u64 << 24) as f32) * 0.01;
    }
}

/// Everything one worker holds.
struct State {
    w: usize,
    peers: usize,
    k: usize,
    users: Block,
    items: Block,
    /// Validation users owned here: global ids and their input cells over `users.needed`.
    val_users: Vec<u32>,
    val_csr: Csr,
    /// Targets per owned validation user (global item ids, ascending).
    val_targets: BTreeMap<u32, Vec<u32>>,
    /// Items owned here that each validation user gave as input (local rows, ascending).
    val_exclude: BTreeMap<u32, Vec<u32>>,
    x: Vec<f32>,
    y: Vec<f32>,
}

/// Sends `cells` (keyed by their first field) to the owner of that field.
fn scatter<T: Clone>(
    cells: Vec<T>,
    peers: usize,
    key: impl Fn(&T) -> u32,
    wrap: impl Fn(Vec<T>) -> Body,
) -> Vec<Envelope> {
    let mut per: Vec<Vec<T>> = vec![Vec::new(); peers];
    for c in cells {
        per[blocks::owner(key(&c), peers)].push(c);
    }
    let mut out = Vec::new();
    for (to, cells) in per.into_iter().enumerate() {
        for chunk in cells.chunks(1 << 18) {
            out.push(Envelope {
                to: to as u32,
                from: 0,
                body: wrap(chunk.to_vec()),
            });
        }
    }
    out
}

fn triples(received: Vec<Envelope>) -> Vec<(u32, u32, f32)> {
    let mut v = Vec::new();
    for e in received {
        if let Body::Triples(t) = e.body {
            v.extend(t);
        }
    }
    v
}

fn pairs(received: Vec<Envelope>) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for e in received {
        if let Body::Pairs(t) = e.body {
            v.extend(t);
        }
    }
    v
}

/// Agrees across all workers on whether any of them failed; the failing worker returns its
/// own error, the others a pointer to it.
fn agree<T>(
    mb: &mut Mailbox,
    worker: &mut Worker,
    r: Result<T, TrainError>,
) -> Result<T, TrainError> {
    let failed = mb.all_sum(worker, vec![f64::from(u8::from(r.is_err()))])[0];
    match r {
        Err(e) => Err(e),
        Ok(_) if failed > 0.0 => Err(TrainError::Peer),
        Ok(v) => Ok(v),
    }
}

fn setup(
    mb: &mut Mailbox,
    worker: &mut Worker,
    shape: Shape,
    input: LocalInput,
    params: &Params,
) -> Result<State, TrainError> {
    let (w, peers, k) = (mb.index() as usize, mb.peers() as usize, params.factors);
    let check = |cells: &[(u32, u32, f32)], what: &str| -> Result<(), TrainError> {
        match cells
            .iter()
            .find(|c| c.0 as usize >= shape.users || c.1 as usize >= shape.items)
        {
            Some(c) => Err(TrainError::Input(format!(
                "{what} cell (user {}, item {}) is outside {} users x {} items",
                c.0, c.1, shape.users, shape.items
            ))),
            None => Ok(()),
        }
    };
    let checked = check(&input.train, "training")
        .and_then(|_| check(&input.validation_input, "validation input"));
    agree(mb, worker, checked)?;

    let by_user = mb.round(
        worker,
        scatter(input.train.clone(), peers, |c| c.0, Body::Triples),
    );
    let user_cells = blocks::merge_cells(triples(by_user));
    let by_item = mb.round(
        worker,
        scatter(
            input.train.into_iter().map(|(u, i, p)| (i, u, p)).collect(),
            peers,
            |c| c.0,
            Body::Triples,
        ),
    );
    let item_cells = blocks::merge_cells(triples(by_item));
    let val_in = mb.round(
        worker,
        scatter(
            input.validation_input.clone(),
            peers,
            |c| c.0,
            Body::Triples,
        ),
    );
    let val_cells = blocks::merge_cells(triples(val_in));
    let val_pairs = mb.round(
        worker,
        scatter(
            input
                .validation_input
                .iter()
                .map(|&(u, i, _)| (i, u))
                .collect(),
            peers,
            |c| c.0,
            Body::Pairs,
        ),
    );
    let mut val_pairs = pairs(val_pairs);
    val_pairs.sort_unstable();
    val_pairs.dedup();
    let targets = mb.round(
        worker,
        scatter(input.validation_target, peers, |c| c.0, Body::Pairs),
    );
    let mut val_targets: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (u, i) in pairs(targets) {
        val_targets.entry(u).or_default().push(i);
    }
    for t in val_targets.values_mut() {
        t.sort_unstable();
        t.dedup();
    }

    let built = (|| -> Result<State, TrainError> {
        let n_users = blocks::owned(shape.users, w, peers);
        let n_items = blocks::owned(shape.items, w, peers);
        // Users: training rows and validation rows share one compact copy of the items.
        let needed_items = blocks::distinct(
            user_cells
                .iter()
                .map(|c| c.1)
                .chain(val_cells.iter().map(|c| c.1)),
        );
        let users = Block {
            own: n_users,
            csr: blocks::csr(
                &user_cells,
                n_users,
                &needed_items,
                peers,
                &params.confidence,
                "training",
            )?,
            from: blocks::from_plan(&needed_items, peers),
            send: blocks::send_plan(user_cells.iter().map(|c| (c.0, c.1)), peers),
            needed: needed_items,
        };
        // A validation user without input cells cannot be folded in; the harness scores
        // such users with a popularity fallback, validation here leaves them out.
        let val_users = blocks::distinct(val_cells.iter().map(|c| c.0));
        // Validation rows are numbered by position in `val_users`, not by id.
        let renumbered: Vec<(u32, u32, f32)> = val_cells
            .iter()
            .filter_map(|&(u, i, p)| {
                let pos = val_users.binary_search(&u).ok()?;
                Some(((pos * peers) as u32, i, p))
            })
            .collect();
        let val_csr = blocks::csr(
            &renumbered,
            val_users.len(),
            &users.needed,
            peers,
            &params.confidence,
            "validation input",
        )?;
        let needed_users = blocks::distinct(item_cells.iter().map(|c| c.1));
        let items = Block {
            own: n_items,
            csr: blocks::csr(
                &item_cells,
                n_items,
                &needed_users,
                peers,
                &params.confidence,
                "training",
            )?,
            from: blocks::from_plan(&needed_users, peers),
            send: blocks::send_plan(
                item_cells
                    .iter()
                    .map(|c| (c.0, c.1))
                    .chain(val_pairs.iter().copied()),
                peers,
            ),
            needed: needed_users,
        };
        let mut val_exclude: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for &(i, u) in &val_pairs {
            val_exclude
                .entry(u)
                .or_default()
                .push(blocks::local(i, peers) as u32);
        }
        users.csr.as_ref()?;
        items.csr.as_ref()?;
        // Rows without training cells (held-out users, items only they played) start and
        // stay at zero, the exact solution of their empty rows: they must not leak random
        // initial values into the other side's Gram matrix, nor into stored factors.
        let start = |side: u64, block: &Block| {
            let mut v = vec![0f32; block.own * k];
            for (l, row) in v.chunks_mut(k).enumerate() {
                if block.csr.offsets[l + 1] > block.csr.offsets[l] {
                    init_row(params.seed, side, blocks::global(l, w, peers), row);
                }
            }
            v
        };
        let x = start(0, &users);
        let y = start(1, &items);
        Ok(State {
            w,
            peers,
            k,
            users,
            items,
            val_users,
            val_csr,
            val_targets,
            val_exclude,
            x,
            y,
        })
    })();
    agree(mb, worker, built)
}

/// Ships the rows of `src` (factors `values`) to the blocks of the other side that need
/// them and returns the receiver's compact copy, laid out as `dst.needed`.
fn route(
    mb: &mut Mailbox,
    worker: &mut Worker,
    src: &Block,
    values: &[f32],
    dst: &Block,
    k: usize,
) -> Result<Vec<f32>, TrainError> {
    let mut out = Vec::new();
    for (to, rows) in src.send.iter().enumerate() {
        let mut buf = Vec::with_capacity(rows.len() * k);
        for &l in rows {
            buf.extend_from_slice(&values[l as usize * k..(l as usize + 1) * k]);
        }
        out.extend(rows_to(to as u32, &buf, k));
    }
    let mut received = mb.round(worker, out);
    received.sort_by_key(|e| {
        (
            e.from,
            match e.body {
                Body::Rows { seq, .. } => seq,
                _ => u32::MAX,
            },
        )
    });
    let mut copy = vec![0f32; dst.needed.len() * k];
    let mut cursor = vec![0usize; dst.from.len()];
    for e in received {
        let Body::Rows { values, .. } = e.body else {
            continue;
        };
        let from = e.from as usize;
        let plan = dst.from.get(from).ok_or_else(|| {
            TrainError::Internal(format!("factor rows from unknown block {from}"))
        })?;
        for row in values.chunks_exact(k) {
            let Some(&pos) = plan.get(cursor[from]) else {
                return Err(TrainError::Internal(format!(
                    "block {from} sent more factor rows than planned ({})",
                    plan.len()
                )));
            };
            cursor[from] += 1;
            copy[pos as usize * k..(pos as usize + 1) * k].copy_from_slice(row);
        }
    }
    for (from, (plan, &got)) in dst.from.iter().zip(&cursor).enumerate() {
        if got != plan.len() {
            return Err(TrainError::Internal(format!(
                "block {from} sent {got} factor rows, {} were planned",
                plan.len()
            )));
        }
    }
    Ok(copy)
}

/// All-reduces the Gram matrix of `values` together with a failure flag; returns it as f32
/// and the f64 sum.
fn all_gram(
    mb: &mut Mailbox,
    worker: &mut Worker,
    values: &[f32],
    k: usize,
    failed: bool,
) -> Result<(Vec<f32>, Vec<f64>), TrainError> {
    let mut part = gram_f64(values, k)?;
    part.push(f64::from(u8::from(failed)));
    let mut sum = mb.all_sum(worker, part);
    if sum.pop().unwrap_or(0.0) > 0.0 {
        return Err(TrainError::Peer);
    }
    Ok((sum.iter().map(|&v| v as f32).collect(), sum))
}

/// Trains on this worker's share; every worker of the computation calls it with the same
/// shape and parameters. Returns this worker's factor rows and the per-iteration reports.
/// Trains on the CPU, or with `device` the per-row CG solves on that GPU (the factor exchange
/// between workers stays on timely's channels; Cholesky always solves on the CPU).
pub fn train(
    worker: &mut Worker,
    shape: Shape,
    input: LocalInput,
    params: &Params,
    resume: Option<&Resume>,
    checkpoints: &mut dyn Checkpoints,
    device: Option<&CudaDevice>,
) -> Result<Trained, TrainError> {
    train_with(
        worker,
        shape,
        input,
        params,
        resume,
        checkpoints,
        device,
        None,
    )
}

/// [`train`], and with `nccl` (a communicator of one rank per worker, this worker's rank its
/// index; every worker passes one or none) the factor rows exchanged over NCCL on `device`
/// ([`crate::gather`]) instead of timely.
#[allow(clippy::too_many_arguments)]
pub fn train_with(
    worker: &mut Worker,
    shape: Shape,
    input: LocalInput,
    params: &Params,
    resume: Option<&Resume>,
    checkpoints: &mut dyn Checkpoints,
    device: Option<&CudaDevice>,
    nccl: Option<&Nccl>,
) -> Result<Trained, TrainError> {
    params.check()?;
    let mut mb = Mailbox::new(worker);
    let t0 = Instant::now();
    let mut s = setup(&mut mb, worker, shape, input, params)?;
    let k = s.k;
    let nnz = mb.all_sum(worker, vec![s.users.csr.nnz() as f64])[0] as u64;
    let begun = checkpoints.begin(nnz);
    agree(&mut mb, worker, begun.map_err(TrainError::Checkpoint))?;
    let mut start = 0;
    if let Some(r) = resume {
        let loaded = load(&mut s, r);
        agree(&mut mb, worker, loaded)?;
        start = r.completed;
    }
    if s.w == 0 {
        info!(
            users = shape.users,
            items = shape.items,
            workers = s.peers,
            start,
            setup_s = t0.elapsed().as_secs_f64(),
            "ALS blocks ready"
        );
    }
    let built = match (device, nccl) {
        (Some(d), Some(n)) => NcclExchange::new(
            n,
            d,
            s.w,
            s.peers,
            &ExchangePlan {
                k,
                users: shape.users,
                items: shape.items,
                own_users: s.users.own,
                own_items: s.items.own,
                items_for_users: &s.users.needed,
                users_for_items: &s.items.needed,
            },
        )
        .map(Some)
        .map_err(|e| TrainError::Device(e.to_string())),
        _ => Ok(None),
    };
    let mut exchange = agree(&mut mb, worker, built)?;
    let mut reports = Vec::new();
    let mut gx_last: Option<Vec<f64>> = None;
    let mut t_iter = Instant::now();
    for it in start..=params.iterations {
        // Users' half-step: items' rows to the user blocks, and Y^T Y.
        let y_copy = match exchange.as_mut() {
            Some(ex) => ex
                .copy(Side::Items, &s.y)
                .map_err(|e| TrainError::Device(e.to_string()))?,
            None => route(&mut mb, worker, &s.items, &s.y, &s.users, k)?,
        };
        let (yty, gy) = all_gram(&mut mb, worker, &s.y, k, false)?;
        if let Some(gx) = gx_last.take() {
            let validate = params.validate_every > 0
                && (it % params.validate_every == 0 || it == params.iterations);
            let report = report(
                &mut mb,
                worker,
                &s,
                &y_copy,
                &yty,
                (&gx, &gy),
                params,
                it,
                validate,
                t_iter.elapsed().as_secs_f64(),
            )?;
            let (users, items) = (
                factors_of(&s.x, s.w, s.peers, k),
                factors_of(&s.y, s.w, s.peers, k),
            );
            let saved = checkpoints.save(&report, &users, &items);
            agree(&mut mb, worker, saved.map_err(TrainError::Checkpoint))?;
            let committed = checkpoints.commit(&report);
            agree(&mut mb, worker, committed.map_err(TrainError::Checkpoint))?;
            let asked = f64::from(u8::from(checkpoints.stop_requested()));
            if it < params.iterations && mb.all_sum(worker, vec![asked])[0] > 0.0 {
                if s.w == 0 {
                    info!(
                        iteration = report.iteration,
                        "ALS stopped by a shutdown request after a committed checkpoint"
                    );
                }
                return Err(TrainError::Interrupted {
                    completed: report.iteration,
                });
            }
            if s.w == 0 {
                info!(
                    iteration = report.iteration,
                    loss = report.loss,
                    ndcg = report.ndcg,
                    seconds = report.seconds,
                    "ALS iteration"
                );
            }
            reports.push(report);
            t_iter = Instant::now();
        }
        if it == params.iterations {
            break;
        }
        let solved = solve_rows(
            device,
            &mut s.x,
            &y_copy,
            &yty,
            k,
            &s.users.csr.as_ref()?,
            params.lambda,
            params.solver,
        );
        drop(y_copy);
        // Items' half-step.
        let x_copy = match exchange.as_mut() {
            Some(ex) => ex
                .copy(Side::Users, &s.x)
                .map_err(|e| TrainError::Device(e.to_string()))?,
            None => route(&mut mb, worker, &s.users, &s.x, &s.items, k)?,
        };
        let failed = solved.is_err();
        let (xtx, gx) = match all_gram(&mut mb, worker, &s.x, k, failed) {
            Ok(v) => v,
            Err(e) => return Err(solved.err().unwrap_or(e)),
        };
        let solved = solve_rows(
            device,
            &mut s.y,
            &x_copy,
            &xtx,
            k,
            &s.items.csr.as_ref()?,
            params.lambda,
            params.solver,
        );
        agree(&mut mb, worker, solved)?;
        gx_last = Some(gx);
    }
    Ok(Trained {
        users: factors_of(&s.x, s.w, s.peers, k),
        items: factors_of(&s.y, s.w, s.peers, k),
        reports,
        nnz,
    })
}

/// One half-step's row solves: [`solve`] on the CPU, or `als_cg` on the GPU for CG.
#[allow(clippy::too_many_arguments)]
fn solve_rows(
    device: Option<&CudaDevice>,
    x: &mut [f32],
    y: &[f32],
    yty: &[f32],
    k: usize,
    m: &CsrRef,
    lambda: f32,
    solver: Solver,
) -> Result<(), TrainError> {
    match (device, solver) {
        (Some(d), Solver::Cg { steps }) => solve_on_device(d, x, y, yty, k, m, lambda, steps)
            .map_err(|e| TrainError::Device(e.to_string())),
        _ => solve(x, y, yty, k, m, lambda, solver).map_err(TrainError::from),
    }
}

/// Uploads the half-step's inputs, solves every row with the batched CG kernel and copies the
/// rows back. The fixed side is uploaded per half-step: it is what the timely exchange just
/// delivered.
#[allow(clippy::too_many_arguments)]
fn solve_on_device(
    d: &CudaDevice,
    x: &mut [f32],
    y: &[f32],
    yty: &[f32],
    k: usize,
    m: &CsrRef,
    lambda: f32,
    steps: usize,
) -> Result<(), archetype_kernels::cuda::CudaError> {
    if m.rows() == 0 || k == 0 {
        return Ok(());
    }
    let dm = d.upload_csr(m.offsets, m.indices, m.confidence, y.len() / k)?;
    let (dy, dyty) = (d.upload(y)?, d.upload(yty)?);
    let mut dx = d.upload(x)?;
    d.als_cg(&mut dx, &dy, &dyty, k, &dm, lambda, steps)?;
    let solved = d.download(&dx)?;
    x.copy_from_slice(&solved);
    Ok(())
}

fn factors_of(values: &[f32], w: usize, peers: usize, k: usize) -> Factors {
    let own = values.len() / k.max(1);
    Factors {
        rows: (0..own).map(|l| blocks::global(l, w, peers)).collect(),
        values: values.to_vec(),
    }
}

fn load(s: &mut State, r: &Resume) -> Result<(), TrainError> {
    let k = s.k;
    for (what, f, dst) in [("user", &r.users, &mut s.x), ("item", &r.items, &mut s.y)] {
        if f.values.len() != f.rows.len() * k {
            return Err(TrainError::Resume(format!(
                "{what} factors hold {} values for {} rows of k = {k}",
                f.values.len(),
                f.rows.len()
            )));
        }
        let own = dst.len() / k;
        let mut seen = vec![false; own];
        for (&row, v) in f.rows.iter().zip(f.values.chunks_exact(k)) {
            if blocks::owner(row, s.peers) != s.w {
                continue;
            }
            let l = blocks::local(row, s.peers);
            if l >= own {
                return Err(TrainError::Resume(format!(
                    "{what} row {row} is outside the data set"
                )));
            }
            dst[l * k..(l + 1) * k].copy_from_slice(v);
            seen[l] = true;
        }
        if let Some(l) = seen.iter().position(|&x| !x) {
            return Err(TrainError::Resume(format!(
                "the checkpoint has no {what} row {}",
                blocks::global(l, s.w, s.peers)
            )));
        }
    }
    Ok(())
}

/// Loss and (when asked) validation NDCG after iteration `it`, with `y_copy` the users'
/// copy of the current item rows.
#[allow(clippy::too_many_arguments)]
fn report(
    mb: &mut Mailbox,
    worker: &mut Worker,
    s: &State,
    y_copy: &[f32],
    yty: &[f32],
    (gx, gy): (&[f64], &[f64]),
    params: &Params,
    it: usize,
    validate: bool,
    seconds: f64,
) -> Result<IterationReport, TrainError> {
    let k = s.k;
    let corrections = loss_corrections(&s.x, y_copy, k, &s.users.csr.as_ref()?)?;
    let (ndcg_sum, scored) = if validate {
        validate_block(mb, worker, s, y_copy, yty, params)?
    } else {
        (0.0, 0.0)
    };
    let sums = mb.all_sum(worker, vec![corrections, ndcg_sum, scored]);
    let all_cells: f64 = gx.iter().zip(gy).map(|(a, b)| a * b).sum();
    let trace = |g: &[f64]| (0..k).map(|d| g[d * k + d]).sum::<f64>();
    let loss = all_cells + sums[0] + f64::from(params.lambda) * (trace(gx) + trace(gy));
    Ok(IterationReport {
        iteration: it,
        loss,
        ndcg: (validate && sums[2] > 0.0).then(|| sums[1] / sums[2]),
        validation_users: if validate { sums[2] as u64 } else { 0 },
        seconds,
    })
}

/// Folds in the validation users owned here (exact solve against the fixed items), scores
/// every item block against all of them, and merges the candidates at each user's owner.
/// Returns this block's (sum of NDCG, users scored).
fn validate_block(
    mb: &mut Mailbox,
    worker: &mut Worker,
    s: &State,
    y_copy: &[f32],
    yty: &[f32],
    params: &Params,
) -> Result<(f64, f64), TrainError> {
    let k = s.k;
    let mut xv = vec![0f32; s.val_users.len() * k];
    let solved = solve(
        &mut xv,
        y_copy,
        yty,
        k,
        &s.val_csr.as_ref()?,
        params.lambda,
        Solver::Cholesky,
    );
    let solved = agree(mb, worker, solved.map_err(TrainError::from));
    solved?;
    let out = (0..s.peers as u32)
        .map(|to| Envelope {
            to,
            from: 0,
            body: Body::Indexed {
                rows: s.val_users.clone(),
                values: xv.clone(),
            },
        })
        .collect();
    let mut users: Vec<u32> = Vec::new();
    let mut xs: Vec<f32> = Vec::new();
    for e in mb.round(worker, out) {
        if let Body::Indexed { rows, values } = e.body {
            users.extend(rows);
            xs.extend(values);
        }
    }
    let own = s.y.len() / k;
    let kk = params.top_k;
    let mut candidates: Vec<(u32, f32, u32)> = Vec::new();
    if own > 0 && !users.is_empty() {
        let batch = (16_000_000 / own).clamp(1, users.len());
        let mut scores = vec![0f32; batch * own];
        for (ub, xb) in users.chunks(batch).zip(xs.chunks(batch * k)) {
            let b = ub.len();
            matmul(
                MatMut::from_row_major_slice_mut(&mut scores[..b * own], b, own),
                Accum::Replace,
                MatRef::from_row_major_slice(xb, b, k),
                MatRef::from_row_major_slice(&s.y, own, k).transpose(),
                1.0,
                Par::rayon(0),
            );
            archetype_kernels::cpu::avx_state::after_parallel_matmul();
            for (row, &u) in scores.chunks(own).zip(ub) {
                let empty = Vec::new();
                let exclude = s.val_exclude.get(&u).unwrap_or(&empty);
                for l in top_k(row, kk, exclude) {
                    candidates.push((u, row[l as usize], blocks::global(l as usize, s.w, s.peers)));
                }
            }
        }
    }
    let received = mb.round(
        worker,
        scatter(candidates, s.peers, |c| c.0, Body::Candidates),
    );
    let mut per_user: BTreeMap<u32, Vec<(f32, u32)>> = BTreeMap::new();
    for e in received {
        if let Body::Candidates(c) = e.body {
            for (u, score, item) in c {
                per_user.entry(u).or_default().push((score, item));
            }
        }
    }
    let (mut sum, mut scored) = (0.0, 0.0);
    for &u in &s.val_users {
        let Some(targets) = s.val_targets.get(&u) else {
            continue;
        };
        let mut c = per_user.remove(&u).unwrap_or_default();
        c.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let ranking: Vec<u32> = c.iter().take(kk).map(|x| x.1).collect();
        if let Some(m) = user_metrics(&ranking, targets, &[kk]) {
            if let Some(v) = m.get(&[kk], Metric::Ndcg, kk) {
                sum += v;
                scored += 1.0;
            }
        }
    }
    Ok((sum, scored))
}
