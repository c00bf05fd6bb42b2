//! Times the multinomial softmax right after a parallel GEMM on the same rayon pool, the
//! pattern of every VAE step, with and without clearing the vector registers' upper halves
//! (see `archetype_kernels::cpu::avx_state`). `RAYON_NUM_THREADS=2 softmax_probe`.

use std::time::Instant;

use archetype_kernels::cpu::softmax::multinomial_nll;
use archetype_kernels::cpu::sparse::CsrRef;
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

fn main() {
    let (rows, n, h) = (500usize, 5000usize, 100usize);
    let a: Vec<f32> = (0..rows * h)
        .map(|i| ((i * 31) % 100) as f32 / 100.0 - 0.5)
        .collect();
    let w: Vec<f32> = (0..h * n)
        .map(|i| ((i * 17) % 100) as f32 / 1000.0 - 0.05)
        .collect();
    let mut logits = vec![0f32; rows * n];
    let mut offsets = vec![0u64];
    let (mut idx, mut val) = (Vec::new(), Vec::new());
    for _ in 0..rows {
        for j in 0..40u32 {
            idx.push(j * 97);
            val.push(1.0f32);
        }
        offsets.push(idx.len() as u64);
    }
    let t = CsrRef::new(&offsets, &idx, &val, n).expect("valid CSR");
    for clear in [false, true] {
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            // faer directly: `cpu::dense::gemm` clears the registers itself.
            matmul(
                MatMut::from_row_major_slice_mut(&mut logits, rows, n),
                Accum::Replace,
                MatRef::from_row_major_slice(&a, rows, h),
                MatRef::from_row_major_slice(&w, h, n),
                1.0,
                Par::rayon(0),
            );
            if clear {
                archetype_kernels::cpu::avx_state::after_parallel_matmul();
            }
            let s = Instant::now();
            multinomial_nll(&mut logits, t, 0.002);
            best = best.min(s.elapsed().as_secs_f64());
        }
        println!(
            "softmax after a parallel GEMM, upper halves {}: {:.1} ms",
            if clear { "cleared" } else { "dirty" },
            best * 1e3
        );
    }
}
