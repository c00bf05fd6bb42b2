//! CPU kernels (plain Rust, rayon for batches, faer for GEMM).
//!
//! ALS: [`als`] (Gram matrix, per-row CG and Cholesky solves, the objective). Ranking: [`rank`],
//! [`topk`]. Mult-VAE: [`sparse`] (the input layer's sparse x dense products), [`dense`] (GEMM,
//! fused bias + activation), [`latent`] (gated reparameterisation, KL), [`softmax`] (the
//! multinomial likelihood), [`adam`].

pub mod adam;
pub mod als;
pub mod avx_state;
pub mod dense;
pub mod latent;
pub mod rank;
pub mod softmax;
pub mod sparse;
pub mod topk;
