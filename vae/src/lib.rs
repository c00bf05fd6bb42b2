//! The gated Mult-VAE of Schedl et al. (2021, Sec. 3.3) on Liang et al.'s Mult-VAE, trained
//! data-parallel.
//!
//! Data flows: [`data::UserRows`] (users' track vectors) and [`data::ContextRows`] (the four
//! user context models) -> [`data::Batch`] per replica per step (normalised, dropped out,
//! noise drawn per user) -> [`model::Model`] forward, loss and backward on the `kernels` ops
//! -> [`collective::Collective`] all-reduce -> Adam -> [`train::Trainer`] epochs with
//! validation NDCG@100 and early stopping -> [`checkpoint`] (safetensors) -> scores and
//! top-K lists for evaluation and the CLI. [`gpu::GpuModel`] is the same network on a CUDA
//! device; [`train::Trainer::use_device`] moves training and validation onto it.

pub mod checkpoint;
pub mod collective;
pub mod data;
pub mod gpu;
pub mod model;
pub mod params;
pub mod replica_memory;
pub mod spec;
pub mod train;

#[cfg(test)]
mod reference;

pub use collective::{Collective, Solo, ThreadGroup};
pub use data::{Batch, ContextRows, UserRows};
pub use model::Model;
pub use spec::{InputKind, ModelSpec, TrainParams, Variant};
pub use train::{EpochReport, StepReport, TrainData, TrainState, Trainer, Validation};

#[derive(Debug, thiserror::Error)]
pub enum VaeError {
    #[error("model specification: {0}")]
    Spec(String),
    #[error("shapes: {0}")]
    Shape(String),
    #[error("data: {0}")]
    Data(String),
    #[error("collective: {0}")]
    Collective(String),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("CUDA device: {0}")]
    Device(String),
    /// Training stopped on request (a graceful shutdown) after optimiser step `step`, inside
    /// epoch `epoch` (1-based); the trainer's state is ready to checkpoint.
    #[error("interrupted after step {step} (epoch {epoch}) by a shutdown request")]
    Interrupted { step: u64, epoch: usize },
}
