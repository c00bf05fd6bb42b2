//! Weighted matrix factorisation (Hu, Koren & Volinsky 2008) by alternating least squares,
//! trained over the workers of a timely computation.
//!
//! Data flow: each worker hands [`train`] whatever share of the (user, item, plays) cells it
//! read; a setup round routes every cell to the block owning its user and to the block
//! owning its item ([`blocks`]), where play counts become confidences ([`confidence`]). Each
//! half-step then (1) ships every factor row of the fixed side to the blocks of the other
//! side that use it, once, as Spark's ALS does; (2) all-reduces the fixed side's Gram matrix
//! in worker order; (3) solves the owned rows with the CPU kernels of `archetype-kernels`.
//! After every iteration the loss is assembled from per-block parts, validation users are
//! folded in and scored across the item blocks, and a [`Checkpoints`] implementation stores
//! the factors. All messages travel through one small timely dataflow ([`mailbox`]), except,
//! on GPUs with NCCL, the factor rows of step (1), which [`gather`] all-gathers between the
//! GPUs.
//! A trained model is put to use by [`model`]: held-out users folded in, top-N lists, and
//! item-to-item similarity; [`local`] combines models trained per country or archetype
//! cluster per item pair, weighted by the items' popularity inside each data set.
//!
//! Rows start from a seeded function of (seed, side, row), so the same seed gives the same
//! factors for any number of workers, up to the order of floating-point sums in the Gram
//! matrices and GEMM blocks.

pub mod blocks;
pub mod confidence;
pub mod factor_memory;
pub mod gather;
pub mod local;
pub mod mailbox;
pub mod model;
pub mod train;

pub use confidence::Confidence;
pub use local::{LocalModels, LocalSet};
pub use model::WmfModel;
pub use train::{
    train, train_with, Checkpoints, Factors, IterationReport, LocalInput, NoCheckpoints, Params,
    Resume, Shape, Trained,
};

use archetype_kernels::cpu::als::AlsError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("ALS parameters: {0}")]
    Params(String),
    #[error("ALS input: {0}")]
    Input(String),
    #[error("ALS kernel: {0}")]
    Kernel(#[from] AlsError),
    #[error("cannot resume ALS: {0}")]
    Resume(String),
    #[error("ALS checkpoint: {0}")]
    Checkpoint(String),
    #[error("another ALS worker failed (see its error)")]
    Peer,
    #[error("internal ALS error: {0}")]
    Internal(String),
    #[error("ALS on the GPU: {0}")]
    Device(String),
    /// A graceful shutdown: every worker stopped after iteration `completed`, whose
    /// checkpoint is committed, so a rerun resumes there.
    #[error("training interrupted by a shutdown request after iteration {completed} (its checkpoint is committed)")]
    Interrupted { completed: usize },
}
