//! Seconds per full ALS iteration on the GPU (user half-step and item half-step, each a Gram
//! matrix by cuBLAS and the batched CG kernel, 3 CG steps), on a generated matrix:
//! `als_gpu_bench [users] [items] [nnz] [iters] [k...]` (defaults 200000 100000 10000000 5
//! 128 512, the 10 M non-zeros at 128 and 512 factors), generated as `als_bench`
//! generates its matrix, so the two give CPU and GPU figures for the same data. Prints one JSON line per k:
//! the device, the shape and each iteration's seconds (the first includes no compilation:
//! the kernels are loaded before timing). Needs a GPU; says why and exits 1 without one.

#[path = "shared/als_matrix.rs"]
mod als_matrix;

use std::time::Instant;

use archetype_kernels::cpu::als::{transpose, CsrRef};
use archetype_kernels::cuda::compile::{default_cache_dir, PtxCache};
use archetype_kernels::cuda::device::{CudaDevice, GemmPrecision};
use rand::{Rng, SeedableRng};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| -> Result<usize, Error> {
        Ok(args.get(i).map(|s| s.parse()).transpose()?.unwrap_or(d))
    };
    let (users, items, nnz, iters) = (
        num(0, 200_000)?,
        num(1, 100_000)?,
        num(2, 10_000_000)?,
        num(3, 5)?,
    );
    let ks: Vec<usize> = if args.len() > 4 {
        args[4..]
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()?
    } else {
        vec![128, 512]
    };
    let d = CudaDevice::open(0, &PtxCache::new(default_cache_dir()), GemmPrecision::F32)
        .map_err(|e| format!("no GPU for the ALS benchmark: {e}"))?;
    let (off, idx, conf) = als_matrix::generate(users, items, nnz, 1);
    let m = CsrRef::new(&off, &idx, &conf)?;
    let (t_off, t_idx, t_conf) = transpose(&m, items)?;
    let by_user = d.upload_csr(&off, &idx, &conf, items)?;
    let by_item = d.upload_csr(&t_off, &t_idx, &t_conf, users)?;
    for k in ks {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(k as u64);
        let mut init =
            |n: usize| -> Vec<f32> { (0..n * k).map(|_| rng.random_range(-0.01..0.01)).collect() };
        let mut x = d.upload(&init(users))?;
        let mut y = d.upload(&init(items))?;
        let mut seconds = Vec::with_capacity(iters);
        for _ in 0..iters {
            d.synchronize()?;
            let t0 = Instant::now();
            let yty = d.gram(&y, k)?;
            d.als_cg(&mut x, &y, &yty, k, &by_user, 0.1, 3)?;
            let xtx = d.gram(&x, k)?;
            d.als_cg(&mut y, &x, &xtx, k, &by_item, 0.1, 3)?;
            d.synchronize()?;
            seconds.push(t0.elapsed().as_secs_f64());
        }
        println!(
            "{}",
            serde_json::json!({
                "bench": "als_gpu",
                "device": d.info().name,
                "users": users, "items": items, "nnz": idx.len(), "k": k,
                "cg_steps": 3,
                "iteration_seconds": seconds,
            })
        );
    }
    Ok(())
}
