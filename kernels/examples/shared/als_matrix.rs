//! The generated interaction matrix of the ALS benchmarks (`als_bench` on the CPU,
//! `als_gpu_bench` on a GPU), so their figures are for the same matrix.

use rand::{Rng, SeedableRng};

/// `users` CSR rows with lengths spread over [1, 2 * nnz / users) (so load balance matters as
/// in real data), uniform distinct columns below `items`, and confidences
/// `1 + 40 ln(1 + plays)` for plays drawn in [1, 50).
pub fn generate(
    users: usize,
    items: usize,
    nnz: usize,
    seed: u64,
) -> (Vec<u64>, Vec<u32>, Vec<f32>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let per_user = nnz / users.max(1);
    let mut offsets = Vec::with_capacity(users + 1);
    offsets.push(0u64);
    let mut indices: Vec<u32> = Vec::with_capacity(nnz);
    let mut confidence = Vec::with_capacity(nnz);
    let mut row = Vec::new();
    for _ in 0..users {
        let len = rng.random_range(1..2 * per_user.max(1));
        row.clear();
        row.extend((0..len).map(|_| rng.random_range(0..items as u32)));
        row.sort_unstable();
        row.dedup();
        for &j in &row {
            indices.push(j);
            let plays: f32 = rng.random_range(1.0..50.0);
            confidence.push(1.0 + 40.0 * plays.ln_1p());
        }
        offsets.push(indices.len() as u64);
    }
    (offsets, indices, confidence)
}
