//! The cuBLAS GEMM rate on GPU 0, the roofline the VAE step is held to (issue: at least 60% of
//! it): `gemm_peak [REPEATS]` times f32 and TF32 products of a square 8192 matrix and of the
//! decoder's shapes at the paper's size (500 x 1200 x 122,442, as the forward pass, dW and dH
//! take them) and prints one JSON line per product. Exits with an error where no GPU is usable.

use std::time::Instant;

use archetype_kernels::cuda::compile::{default_cache_dir, PtxCache};
use archetype_kernels::cuda::device::{CudaDevice, DevOperand, GemmPrecision};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn op(x: DevOperand<'_>, t: bool) -> DevOperand<'_> {
    if t {
        x.t()
    } else {
        x
    }
}

fn main() -> Result<(), Error> {
    let repeats: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10);
    let cache = PtxCache::new(default_cache_dir());
    for precision in [GemmPrecision::F32, GemmPrecision::Tf32, GemmPrecision::Bf16] {
        let d = CudaDevice::open(0, &cache, precision)?;
        // (m, k, n, a transposed, b transposed, what)
        let shapes = [
            (8192, 8192, 8192, false, false, "square"),
            (500, 1200, 122_442, false, false, "logits = h W4"),
            (1200, 500, 122_442, true, false, "dW4 = h^T dL"),
            (500, 122_442, 1200, false, true, "dh = dL W4^T"),
        ];
        for (m, k, n, ta, tb, what) in shapes {
            let a = d.upload(&vec![0.5f32; m * k])?;
            let b = d.upload(&vec![0.25f32; k * n])?;
            let mut c = d.zeros::<f32>(m * n)?;
            let (ar, ac) = if ta { (k, m) } else { (m, k) };
            let (br, bc) = if tb { (n, k) } else { (k, n) };
            let run = |c: &mut _| {
                d.gemm(
                    c,
                    op(DevOperand::new(&a, ar, ac), ta),
                    op(DevOperand::new(&b, br, bc), tb),
                    false,
                )
            };
            run(&mut c)?;
            d.synchronize()?;
            let t0 = Instant::now();
            for _ in 0..repeats {
                run(&mut c)?;
            }
            d.synchronize()?;
            let s = t0.elapsed().as_secs_f64() / repeats as f64;
            let flop = 2.0 * (m * k * n) as f64;
            println!(
                "{}",
                serde_json::json!({
                    "device": d.info().name,
                    "precision": format!("{precision:?}"),
                    "product": what,
                    "m": m, "k": k, "n": n,
                    "seconds": s,
                    "tflops": flop / s / 1e12,
                })
            );
        }
    }
    Ok(())
}
