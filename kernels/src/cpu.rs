//! CPU kernels (plain Rust, rayon for batches).

pub mod topk;
