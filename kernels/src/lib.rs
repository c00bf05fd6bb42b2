//! Numeric kernels of archetype, knowing nothing of datasets or jobs.
//!
//! Each op is written once per backend behind one interface; today only the CPU backend
//! ([`cpu`]) exists: top-K selection and the ALS kernels for weighted matrix factorisation
//! (`cpu::als`: the Gram matrix, per-row conjugate-gradient and Cholesky solves, the objective).
//! Later phases add the Mult-VAE ops and the CUDA backend (sources under `kernels/cuda/`), each
//! tested against the CPU reference on random inputs.

pub mod cpu;
