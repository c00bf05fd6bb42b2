//! Times the decoder's three products of one Mult-VAE training step on the CPU through
//! [`archetype_kernels::cpu::dense::gemm`] (faer), for comparing with another GEMM on the same
//! machine (`bench/cpu_gemm_torch.py`). Wide products are split by output columns inside `gemm`.
//!
//! `cpu_gemm [batch] [hidden] [items] [reps]` (defaults 500 1200 100000 3; threads from
//! `RAYON_NUM_THREADS`). Prints one JSON line: the best seconds and GFLOP/s of each product.

use std::time::Instant;

use archetype_kernels::cpu::dense::{gemm, Operand};
fn arg(i: usize, default: usize) -> Result<usize, String> {
    match std::env::args().nth(i) {
        Some(v) => v.parse().map_err(|e| format!("argument {i} ({v}): {e}")),
        None => Ok(default),
    }
}

fn main() -> Result<(), String> {
    let (b, h, n, reps) = (arg(1, 500)?, arg(2, 1200)?, arg(3, 100_000)?, arg(4, 3)?);
    // Values do not change a GEMM's speed; distinct ones keep the products honest.
    let fill = |len: usize, s: f32| (0..len).map(|i| ((i % 97) as f32 - 48.0) * s).collect();
    let h2: Vec<f32> = fill(b * h, 1e-3);
    let w: Vec<f32> = fill(h * n, 1e-4);
    let d: Vec<f32> = fill(b * n, 1e-5);
    let (mut logits, mut dw, mut dh) = (vec![0f32; b * n], vec![0f32; h * n], vec![0f32; b * h]);
    let flop = 2.0 * (b * h * n) as f64;
    let mut best = [f64::INFINITY; 3];
    let mut time = |i: usize, f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        best[i] = best[i].min(t.elapsed().as_secs_f64());
    };
    for _ in 0..reps {
        time(0, &mut || {
            gemm(
                &mut logits,
                Operand::new(&h2, b, h),
                Operand::new(&w, h, n),
                false,
            )
        });
        time(1, &mut || {
            gemm(
                &mut dw,
                Operand::new(&h2, b, h).t(),
                Operand::new(&d, b, n),
                true,
            )
        });
        time(2, &mut || {
            gemm(
                &mut dh,
                Operand::new(&d, b, n),
                Operand::new(&w, h, n).t(),
                false,
            )
        });
    }
    let names = ["logits = h2 W", "dW += h2^T d", "dh2 = d W^T"];
    let parts: Vec<String> = names
        .iter()
        .zip(best)
        .map(|(name, s)| format!("\"{name}\": [{s:.4}, {:.1}]", flop / s / 1e9))
        .collect();
    println!("{{\"shape\": [{b}, {h}, {n}], {}}}", parts.join(", "));
    Ok(())
}
