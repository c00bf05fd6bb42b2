//! The data-parallel training loop: epochs of shuffled global batches, each split over the
//! replicas, gradients all-reduced, the same Adam step everywhere; validation NDCG@100 after
//! every epoch, the best epoch kept, early stopping.
//!
//! Nothing random is stateful: the epoch's order comes from (seed, epoch), a user's draws in a
//! step from (seed, step, user). A [`TrainState`] (weights, Adam moments, step, epoch, best
//! epoch) is therefore all a resumed run needs to continue bit for bit.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use archetype_eval::metrics::{user_metrics, Metric};
use archetype_kernels::cpu::adam::{adam_step, AdamParams};
use archetype_kernels::cpu::topk::top_k_rows;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use archetype_kernels::cuda::cudarc::driver::CudaSlice;
use archetype_kernels::cuda::device::CudaDevice;
use archetype_kernels::cuda::nccl::GradientReducer;

use crate::collective::Collective;
use crate::data::{mix, Batch, ContextRows, Draws, UserRows};
use crate::gpu::GpuModel;
use crate::model::{Activations, Model};
use crate::spec::{ModelSpec, TrainParams};
use crate::VaeError;

/// The cut-off of the validation metric (Liang et al. select on NDCG@100).
pub const VALIDATION_K: usize = 100;

/// Everything that changes during training.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState {
    pub weights: Vec<f32>,
    pub m: Vec<f32>,
    pub v: Vec<f32>,
    /// Optimiser steps taken.
    pub step: u64,
    /// Epochs completed.
    pub epoch: usize,
    pub best: Option<Best>,
    pub history: Vec<EpochReport>,
    /// Set when training was interrupted inside an epoch (a graceful shutdown): how far the
    /// epoch `epoch + 1` had got, so a resumed run skips those batches and ends the epoch with
    /// the same means as an uninterrupted one.
    pub partial: Option<PartialEpoch>,
}

/// The part of an epoch done before an interruption: its batches and the running sums.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartialEpoch {
    /// Batches of the epoch's order already trained on.
    pub batches: u64,
    /// Sums weighted by batch users, as [`Trainer::epoch`] keeps them.
    pub nll: f64,
    pub kl: f64,
    pub loss: f64,
    pub beta: f32,
    pub seconds: f64,
}

/// The best epoch so far by validation NDCG@100, with its weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Best {
    pub epoch: usize,
    pub ndcg: f64,
    pub weights: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub step: u64,
    pub epoch: usize,
    pub beta: f32,
    /// Means over the global batch.
    pub nll: f64,
    pub kl: f64,
    pub loss: f64,
    pub users: usize,
    /// Some replica was asked to stop (a graceful shutdown): all stop after this step.
    #[serde(default)]
    pub stop: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    pub steps: u64,
    /// Means over the epoch's users.
    pub nll: f64,
    pub kl: f64,
    pub loss: f64,
    pub beta: f32,
    pub validation_ndcg: Option<f64>,
    pub validation_users: u64,
    pub seconds: f64,
}

/// Held-out users scored after every epoch: inputs (fold-in rows), their context, and the
/// tracks to find (sorted). Input tracks are left out of the ranking.
#[derive(Clone, Debug, Default)]
pub struct Validation {
    pub input: UserRows,
    pub context: Option<ContextRows>,
    pub targets: Vec<Vec<u32>>,
}

/// The training users and their context.
pub struct TrainData<'a> {
    pub rows: &'a UserRows,
    pub context: Option<&'a ContextRows>,
}

/// One replica's trainer.
pub struct Trainer {
    pub model: Model,
    pub params: TrainParams,
    pub state: TrainState,
    grads: Vec<f32>,
    acts: Activations,
    /// Set by [`Trainer::use_device`]: the weights, moments and gradient live on the GPU
    /// between epochs, and `state` is brought up to date after each epoch.
    gpu: Option<GpuState>,
    /// Polled after every step; see [`Trainer::set_interrupt`].
    interrupt: Option<Arc<AtomicBool>>,
    /// Set by [`Trainer::set_reducer`]: the GPU gradient is summed over NCCL, overlapped
    /// with the backward pass, instead of through the host collective.
    reducer: Option<GradientReducer>,
}

struct GpuState {
    model: GpuModel,
    w: CudaSlice<f32>,
    m: CudaSlice<f32>,
    v: CudaSlice<f32>,
    g: CudaSlice<f32>,
}

/// The order of the training users in `epoch` (0-based).
pub fn permutation(seed: u64, epoch: usize, users: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..users as u32).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed ^ mix(0x5eed_0000 + epoch as u64)));
    order.shuffle(&mut rng);
    order
}

/// Replica `rank`'s contiguous share of `n` users.
pub fn shard(n: usize, world: usize, rank: usize) -> std::ops::Range<usize> {
    n * rank / world..n * (rank + 1) / world
}

impl Trainer {
    /// A fresh model, initialised from `params.seed`.
    pub fn new(spec: ModelSpec, params: TrainParams) -> Result<Trainer, VaeError> {
        let model = Model::new(spec)?;
        let weights = model.layout.init(params.seed);
        let n = weights.len();
        let state = TrainState {
            weights,
            m: vec![0.0; n],
            v: vec![0.0; n],
            step: 0,
            epoch: 0,
            best: None,
            history: Vec::new(),
            partial: None,
        };
        Trainer::from_state(model.spec, params, state)
    }

    /// Continues from a saved state.
    pub fn from_state(
        spec: ModelSpec,
        params: TrainParams,
        state: TrainState,
    ) -> Result<Trainer, VaeError> {
        params.check()?;
        let model = Model::new(spec)?;
        let n = model.parameters();
        if state.weights.len() != n || state.m.len() != n || state.v.len() != n {
            return Err(VaeError::Shape(format!(
                "a state of {} weights for a model of {n}",
                state.weights.len()
            )));
        }
        Ok(Trainer {
            model,
            params,
            state,
            grads: vec![0.0; n],
            acts: Activations::default(),
            gpu: None,
            interrupt: None,
            reducer: None,
        })
    }

    /// Trains and scores on `dev` from now on: the state is uploaded once and downloaded
    /// after every epoch. With more than one replica the gradient goes through the host for
    /// the all-reduce (the NCCL path is not wired yet).
    pub fn use_device(&mut self, dev: Arc<CudaDevice>) -> Result<(), VaeError> {
        let model = GpuModel::new(self.model.clone(), dev);
        let w = model.upload(&self.state.weights)?;
        let m = model.upload(&self.state.m)?;
        let v = model.upload(&self.state.v)?;
        let g = model.upload(&self.grads)?;
        self.gpu = Some(GpuState { model, w, m, v, g });
        Ok(())
    }

    /// Sums the gradient over NCCL from now on (training on the device only; the host
    /// collective still carries the loss sums and the stop flag). The reducer's world must be
    /// the collective's.
    pub fn set_reducer(&mut self, reducer: GradientReducer) {
        self.reducer = Some(reducer);
    }

    /// Gives the reducer back (a communicator outlives one model of a phase).
    pub fn take_reducer(&mut self) -> Option<GradientReducer> {
        self.reducer.take()
    }

    /// Whether training runs on a GPU.
    pub fn on_device(&self) -> bool {
        self.gpu.is_some()
    }

    /// Brings `state` (weights and moments) up to date with the device.
    fn sync_from_device(&mut self) -> Result<(), VaeError> {
        if let Some(gs) = &self.gpu {
            let d = gs.model.device();
            self.state.weights = d.download(&gs.w)?;
            self.state.m = d.download(&gs.m)?;
            self.state.v = d.download(&gs.v)?;
        }
        Ok(())
    }

    fn check_data(&self, rows: &UserRows, context: Option<&ContextRows>) -> Result<(), VaeError> {
        let spec = &self.model.spec;
        if rows.items() != spec.items {
            return Err(VaeError::Shape(format!(
                "users over {} tracks for a model of {}",
                rows.items(),
                spec.items
            )));
        }
        match (spec.variant.uses_context(), context) {
            (true, None) => Err(VaeError::Shape(format!(
                "variant {} needs context features",
                spec.variant.name()
            ))),
            (true, Some(c)) if c.dim != spec.context || c.rows() != rows.rows() => {
                Err(VaeError::Shape(format!(
                    "context of {} rows x {} for {} users x {} features",
                    c.rows(),
                    c.dim,
                    rows.rows(),
                    spec.context
                )))
            }
            _ => Ok(()),
        }
    }

    fn context<'a>(&self, c: Option<&'a ContextRows>) -> Option<&'a ContextRows> {
        c.filter(|_| self.model.spec.variant.uses_context())
    }

    /// One optimiser step on the global batch `users`; this replica computes its shard.
    pub fn step<C: Collective>(
        &mut self,
        coll: &mut C,
        data: &TrainData<'_>,
        users: &[u32],
    ) -> Result<StepReport, VaeError> {
        let mine = &users[shard(users.len(), coll.world(), coll.rank())];
        let draws = Draws {
            seed: self.params.seed,
            step: self.state.step,
            dropout: self.params.dropout,
            latent: self.model.spec.latent,
        };
        let batch = Batch::build(
            data.rows,
            self.context(data.context),
            mine,
            self.params.input,
            Some(draws),
        );
        let beta = self.params.beta(self.state.step);
        let scale = 1.0 / users.len().max(1) as f32;
        let adam = AdamParams {
            lr: self.params.lr,
            ..AdamParams::default()
        };
        let stop = self.stop_wanted();
        let stats = if let Some(gs) = self.gpu.as_mut() {
            let d = gs.model.device().clone();
            d.stream()
                .memset_zeros(&mut gs.g)
                .map_err(archetype_kernels::cuda::CudaError::from)?;
            if let Some(r) = &self.reducer {
                let (rank, world) = (r.nccl().rank(), r.nccl().world());
                if (rank, world) != (coll.rank(), coll.world()) {
                    return Err(VaeError::Collective(format!(
                        "NCCL rank {rank} of {world} for replica {} of {}",
                        coll.rank(),
                        coll.world()
                    )));
                }
            }
            let sums = gs.model.loss_and_gradient_reduced(
                &gs.w,
                &batch,
                beta,
                scale,
                &mut gs.g,
                self.reducer.as_mut(),
            )?;
            if coll.world() > 1 && self.reducer.is_none() {
                self.grads = d.download(&gs.g)?;
                coll.all_reduce(&mut self.grads)?;
                d.stream()
                    .memcpy_htod(&self.grads, &mut gs.g)
                    .map_err(archetype_kernels::cuda::CudaError::from)?;
            }
            let mut stats = [sums.nll, sums.kl, stop];
            coll.all_reduce_f64(&mut stats)?;
            self.state.step += 1;
            d.adam_step(
                adam,
                self.state.step,
                &mut gs.w.as_view_mut(),
                &gs.g.as_view(),
                &mut gs.m.as_view_mut(),
                &mut gs.v.as_view_mut(),
            )?;
            stats
        } else {
            self.grads.fill(0.0);
            let sums = self.model.loss_and_gradient(
                &self.state.weights,
                &batch,
                beta,
                scale,
                &mut self.grads,
                &mut self.acts,
            )?;
            coll.all_reduce(&mut self.grads)?;
            let mut stats = [sums.nll, sums.kl, stop];
            coll.all_reduce_f64(&mut stats)?;
            self.state.step += 1;
            adam_step(
                adam,
                self.state.step,
                &mut self.state.weights,
                &self.grads,
                &mut self.state.m,
                &mut self.state.v,
            );
            stats
        };
        let n = users.len().max(1) as f64;
        let (nll, kl) = (stats[0] / n, stats[1] / n);
        Ok(StepReport {
            step: self.state.step,
            epoch: self.state.epoch + 1,
            beta,
            nll,
            kl,
            loss: nll + f64::from(beta) * kl,
            users: users.len(),
            stop: stats[2] > 0.0,
        })
    }

    /// Has this replica been asked to stop? Shared with the others through the step's
    /// all-reduce of its loss sums, so every replica leaves after the same step at no extra
    /// round trip.
    fn stop_wanted(&self) -> f64 {
        let asked = self
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst));
        f64::from(u8::from(asked))
    }

    /// A flag that, once set on any replica, makes every replica stop after its current step
    /// with [`VaeError::Interrupted`], leaving [`Trainer::state`] ready to checkpoint
    /// mid-epoch (see [`TrainState::partial`]).
    pub fn set_interrupt(&mut self, flag: Arc<AtomicBool>) {
        self.interrupt = Some(flag);
    }

    /// One pass over the training users in the epoch's order. Returns the epoch's means
    /// (without validation).
    pub fn epoch<C: Collective>(
        &mut self,
        coll: &mut C,
        data: &TrainData<'_>,
        on_step: &mut dyn FnMut(&StepReport),
    ) -> Result<EpochReport, VaeError> {
        self.check_data(data.rows, data.context)?;
        let started = std::time::Instant::now();
        let order = permutation(self.params.seed, self.state.epoch, data.rows.rows());
        let resumed = self.state.partial.take();
        let (mut nll, mut kl, mut loss, mut steps, mut beta, before) = match &resumed {
            Some(p) => (p.nll, p.kl, p.loss, p.batches, p.beta, p.seconds),
            None => (
                0f64,
                0f64,
                0f64,
                0u64,
                self.params.beta(self.state.step),
                0.0,
            ),
        };
        for users in order.chunks(self.params.batch).skip(steps as usize) {
            let r = self.step(coll, data, users)?;
            let w = users.len() as f64;
            nll += r.nll * w;
            kl += r.kl * w;
            loss += r.loss * w;
            beta = r.beta;
            steps += 1;
            on_step(&r);
            if r.stop {
                self.state.partial = Some(PartialEpoch {
                    batches: steps,
                    nll,
                    kl,
                    loss,
                    beta,
                    seconds: before + started.elapsed().as_secs_f64(),
                });
                self.sync_from_device()?;
                return Err(VaeError::Interrupted {
                    step: self.state.step,
                    epoch: self.state.epoch + 1,
                });
            }
        }
        self.state.epoch += 1;
        self.sync_from_device()?;
        let n = order.len().max(1) as f64;
        Ok(EpochReport {
            epoch: self.state.epoch,
            steps,
            nll: nll / n,
            kl: kl / n,
            loss: loss / n,
            beta,
            validation_ndcg: None,
            validation_users: 0,
            seconds: before + started.elapsed().as_secs_f64(),
        })
    }

    /// Top-`k` tracks of each user of `input` (input tracks excluded), with the current
    /// weights, computed in blocks of `params.batch` users.
    pub fn recommend(
        &mut self,
        input: &UserRows,
        context: Option<&ContextRows>,
        k: usize,
    ) -> Result<Vec<Vec<u32>>, VaeError> {
        recommend_with(
            &self.model,
            &self.state.weights,
            input,
            self.context(context),
            self.params.input,
            k,
            true,
            self.params.batch,
            &mut self.acts,
        )
    }

    /// Mean NDCG@100 over the validation users with a target (all replicas together; each
    /// scores its contiguous share), and how many were scored.
    pub fn validate<C: Collective>(
        &mut self,
        coll: &mut C,
        val: &Validation,
    ) -> Result<(f64, u64), VaeError> {
        self.check_data(&val.input, val.context.as_ref())?;
        if val.targets.len() != val.input.rows() {
            return Err(VaeError::Shape(format!(
                "{} validation targets for {} users",
                val.targets.len(),
                val.input.rows()
            )));
        }
        let range = shard(val.input.rows(), coll.world(), coll.rank());
        let users: Vec<u32> = (range.start as u32..range.end as u32).collect();
        let mut sums = [0f64, 0f64];
        for block in users.chunks(self.params.batch) {
            let batch = Batch::build(
                &val.input,
                self.context(val.context.as_ref()),
                block,
                self.params.input,
                None,
            );
            let lists = match self.gpu.as_mut() {
                Some(gs) => gs.model.rank(&gs.w, &batch, VALIDATION_K)?,
                None => rank_batch(
                    &self.model,
                    &self.state.weights,
                    &batch,
                    VALIDATION_K,
                    true,
                    &mut self.acts,
                )?,
            };
            for (&u, list) in block.iter().zip(&lists) {
                if let Some(m) = user_metrics(list, &val.targets[u as usize], &[VALIDATION_K]) {
                    sums[0] += m
                        .get(&[VALIDATION_K], Metric::Ndcg, VALIDATION_K)
                        .unwrap_or(0.0);
                    sums[1] += 1.0;
                }
            }
        }
        coll.all_reduce_f64(&mut sums)?;
        let scored = sums[1] as u64;
        Ok((if scored > 0 { sums[0] / sums[1] } else { 0.0 }, scored))
    }

    /// Trains until `params.epochs` or early stopping, validating after every epoch when
    /// `validation` has users, keeping the best epoch's weights. `on_epoch` sees each report
    /// and the state after it (to checkpoint); it may stop training by returning `false`, and
    /// an error or a stop on any replica stops all of them.
    pub fn fit<C: Collective>(
        &mut self,
        coll: &mut C,
        data: &TrainData<'_>,
        validation: Option<&Validation>,
        on_step: &mut dyn FnMut(&StepReport),
        on_epoch: &mut dyn FnMut(&EpochReport, &TrainState) -> Result<bool, VaeError>,
    ) -> Result<(), VaeError> {
        while self.state.epoch < self.params.epochs && !self.stopped_early() {
            let mut report = self.epoch(coll, data, on_step)?;
            if let Some(val) = validation.filter(|v| v.input.rows() > 0) {
                let (ndcg, users) = self.validate(coll, val)?;
                report.validation_ndcg = Some(ndcg);
                report.validation_users = users;
                let better = self.state.best.as_ref().is_none_or(|b| ndcg > b.ndcg);
                if better {
                    self.state.best = Some(Best {
                        epoch: report.epoch,
                        ndcg,
                        weights: self.state.weights.clone(),
                    });
                }
            }
            self.state.history.push(report.clone());
            // Every replica must take the same branch, or the others wait in the next
            // all-reduce forever: the verdicts are all-reduced before anyone acts on them.
            let verdict = on_epoch(&report, &self.state);
            let mut flags = [
                f64::from(u8::from(verdict.is_err())),
                f64::from(u8::from(matches!(verdict, Ok(false)))),
            ];
            coll.all_reduce_f64(&mut flags)?;
            verdict?;
            if flags[0] > 0.0 {
                return Err(VaeError::Collective(
                    "another replica failed after the epoch (see its log)".into(),
                ));
            }
            if flags[1] > 0.0 {
                break;
            }
        }
        Ok(())
    }

    /// No improvement of the validation NDCG for `patience` epochs.
    pub fn stopped_early(&self) -> bool {
        let p = self.params.patience;
        match &self.state.best {
            Some(b) if p > 0 => self.state.epoch >= b.epoch + p,
            _ => false,
        }
    }

    /// The weights to use: the best epoch's when validated, else the last.
    pub fn final_weights(&self) -> &[f32] {
        self.state
            .best
            .as_ref()
            .map_or(&self.state.weights, |b| &b.weights)
    }
}

/// Top-`k` of each user of `batch`; `exclude_input` leaves the user's input tracks out (the
/// evaluation's `exclude_input = false` lets a model recommend what the user already plays).
fn rank_batch(
    model: &Model,
    weights: &[f32],
    batch: &Batch,
    k: usize,
    exclude_input: bool,
    acts: &mut Activations,
) -> Result<Vec<Vec<u32>>, VaeError> {
    model.score(weights, batch, acts)?;
    let input = batch.input();
    let exclude: Vec<Vec<u32>> = (0..batch.rows)
        .map(|r| {
            if exclude_input {
                input.row(r).0.to_vec()
            } else {
                Vec::new()
            }
        })
        .collect();
    Ok(top_k_rows(&acts.logits, batch.items, k, &exclude))
}

/// Top-`k` tracks of each user of `input` under `weights`, input tracks excluded when
/// `exclude_input`.
#[allow(clippy::too_many_arguments)]
pub fn recommend_with(
    model: &Model,
    weights: &[f32],
    input: &UserRows,
    context: Option<&ContextRows>,
    kind: crate::spec::InputKind,
    k: usize,
    exclude_input: bool,
    block: usize,
    acts: &mut Activations,
) -> Result<Vec<Vec<u32>>, VaeError> {
    let users: Vec<u32> = (0..input.rows() as u32).collect();
    let mut out = Vec::with_capacity(users.len());
    for b in users.chunks(block.max(1)) {
        let batch = Batch::build(input, context, b, kind, None);
        out.extend(rank_batch(model, weights, &batch, k, exclude_input, acts)?);
    }
    Ok(out)
}
