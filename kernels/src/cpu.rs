//! CPU kernels (plain Rust, rayon for batches).

pub mod als;
pub mod rank;
pub mod topk;
