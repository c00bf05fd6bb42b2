//! Times full ALS iterations (user and item half-steps, CG 3 steps) on a random matrix.
//!
//! `cargo run --release -p archetype-kernels --example als_bench -- [users] [items] [nnz] [k] [iters]`
//! (defaults 20000 80000 1000000 128 5).

use std::time::Instant;

use archetype_kernels::cpu::als::{gram, loss, solve, transpose, CsrRef, Solver};
use rand::{Rng, SeedableRng};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let arg = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let (users, items, nnz, k, iters) = (
        arg(0, 20_000),
        arg(1, 80_000),
        arg(2, 1_000_000),
        arg(3, 128),
        arg(4, 5),
    );
    let lambda = 0.1;
    let solver = Solver::Cg { steps: 3 };

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let t = Instant::now();
    let per_user = nnz / users.max(1);
    let mut offsets = vec![0u64];
    let mut indices: Vec<u32> = Vec::with_capacity(nnz);
    let mut confidence = Vec::with_capacity(nnz);
    let mut row = Vec::new();
    for _ in 0..users {
        // Row lengths spread over [1, 2 * mean) so that load balance matters as in real data.
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
    let m = CsrRef::new(&offsets, &indices, &confidence)?;
    let (t_off, t_idx, t_conf) = transpose(&m, items)?;
    let mt = CsrRef::new(&t_off, &t_idx, &t_conf)?;
    println!(
        "{users} users x {items} items, {} non-zeros, k = {k}, {} threads (setup {:.2} s)",
        m.nnz(),
        rayon::current_num_threads(),
        t.elapsed().as_secs_f64()
    );

    let mut x: Vec<f32> = (0..users * k)
        .map(|_| rng.random_range(-0.01..0.01))
        .collect();
    let mut y: Vec<f32> = (0..items * k)
        .map(|_| rng.random_range(-0.01..0.01))
        .collect();
    let mut total = 0.0;
    for it in 0..iters {
        let t0 = Instant::now();
        let yty = gram(&y, k);
        let t1 = Instant::now();
        solve(&mut x, &y, &yty, k, &m, lambda, solver)?;
        let t2 = Instant::now();
        let xtx = gram(&x, k);
        let t3 = Instant::now();
        solve(&mut y, &x, &xtx, k, &mt, lambda, solver)?;
        let t4 = Instant::now();
        let secs = (t4 - t0).as_secs_f64();
        let l = loss(&x, &y, k, &m, lambda)?;
        println!(
            "iteration {it}: {secs:.3} s (gram {:.3} + users {:.3} + gram {:.3} + items {:.3}), \
             loss {l:.6e} ({:.3} s)",
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t3 - t2).as_secs_f64(),
            (t4 - t3).as_secs_f64(),
            t4.elapsed().as_secs_f64()
        );
        // The first iteration pays for page faults and thread start-up.
        if it > 0 || iters == 1 {
            total += secs;
        }
    }
    let timed = if iters > 1 { iters - 1 } else { iters };
    println!(
        "{:.3} s per iteration (mean of {timed})",
        total / timed.max(1) as f64
    );
    Ok(())
}
