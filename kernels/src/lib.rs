//! Numeric kernels of archetype, knowing nothing of datasets or jobs.
//!
//! Each op is written once per backend: the CPU backend ([`cpu`]) and the CUDA backend
//! ([`cuda`]), picked per worker by [`backend::select`]. The CPU ops: top-K selection, the
//! ALS kernels for weighted matrix factorisation (`cpu::als`: the Gram matrix, per-row
//! conjugate-gradient and Cholesky solves, the objective), and the Mult-VAE ops (sparse input layer, GEMM with fused bias + activation, gated
//! reparameterisation, KL, multinomial likelihood, Adam), each tested against a plain
//! reference or finite differences. The CUDA backend (hand-written kernels under
//! `kernels/cuda/`, compiled by NVRTC at run time; cuBLAS for GEMMs) mirrors them op for op,
//! tested against the CPU reference on random inputs where a GPU is present
//! (`tests/cuda_ops.rs`); CI compiles every kernel to PTX (`tests/nvrtc.rs`).

pub mod backend;
pub mod cpu;
pub mod cuda;
