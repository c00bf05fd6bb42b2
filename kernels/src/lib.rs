//! Numeric kernels of archetype, knowing nothing of datasets or jobs.
//!
//! Each op is written once per backend behind one interface; today only the CPU backend
//! ([`cpu`]) exists: top-K selection and the ALS kernels for weighted matrix factorisation
//! (`cpu::als`: the Gram matrix, per-row conjugate-gradient and Cholesky solves, the objective),
//! and the Mult-VAE ops (sparse input layer, GEMM with fused bias + activation, gated
//! reparameterisation, KL, multinomial likelihood, Adam), each tested against a plain
//! reference or finite differences. The CUDA backend (sources under `kernels/cuda/`) mirrors
//! them, tested against the CPU reference on random inputs.

pub mod cpu;
