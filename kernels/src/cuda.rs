//! The CUDA backend: the hand-written kernels of `kernels/cuda/*.cu` compiled by NVRTC at run
//! time, cuBLAS for the GEMMs, all through cudarc with dynamic loading, so that a build with no
//! CUDA installed still compiles, tests and runs (on the CPU backend).
//!
//! Flow: [`libraries::Libraries::probe`] says which CUDA libraries this process can load
//! (cudarc panics when it calls into a missing one, so nothing else here runs before the
//! probe); [`compile`] turns each [`sources::Program`] into PTX for the device's compute
//! capability, cached on disk by source, architecture and NVRTC version; [`device::CudaDevice`]
//! opens a device, loads every program and launches the ops, each the counterpart of one CPU
//! kernel in [`crate::cpu`] with the same maths and, where the CPU fixes an order of
//! additions, the same order. [`crate::backend`] picks CPU or CUDA from the job's choice.

/// The cudarc this backend is built on, for crates that hold device buffers.
pub use cudarc;

pub mod compile;
pub mod device;
pub mod libraries;
pub mod nccl;
pub mod sources;

use std::path::PathBuf;

/// What can go wrong on the CUDA path; every variant is reported, none panics.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    #[error("CUDA is not usable here: {0}")]
    Unavailable(String),
    #[error("NVRTC could not compile kernels/cuda/{file} for {arch}: {log}")]
    Compile {
        file: &'static str,
        arch: String,
        log: String,
    },
    #[error("CUDA driver: {0}")]
    Driver(#[from] cudarc::driver::DriverError),
    #[error("cuBLAS: {0}")]
    Blas(#[from] cudarc::cublas::result::CublasError),
    #[error("NCCL: {0}")]
    Nccl(String),
    #[error("{op}: {what}")]
    Shape { op: &'static str, what: String },
    #[error("PTX cache {path}: {source}")]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub(crate) fn shape(op: &'static str, what: impl Into<String>) -> CudaError {
    CudaError::Shape {
        op,
        what: what.into(),
    }
}
