//! The multinomial log-likelihood of Mult-VAE (Liang et al. 2018, eq. 2) and its gradient, in
//! place over the logits: for a row of logits `o` and the user's counts `x` (sparse),
//!
//! ```text
//! loss = -sum_i x_i log softmax(o)_i = sum(x) logsumexp(o) - sum_i x_i o_i
//! d loss / d o = sum(x) softmax(o) - x
//! ```
//!
//! Each row is read twice (an online max-and-sum pass, then the gradient written over the
//! logits) and never exponentiated past its maximum, so large logits cannot overflow.

use rayon::prelude::*;

use super::sparse::CsrRef;

/// Replaces each row of `logits` (`targets.rows() x targets.cols`) by `scale` times the
/// gradient of its loss, and returns the rows' losses (unscaled).
pub fn multinomial_nll(logits: &mut [f32], targets: CsrRef<'_>, scale: f32) -> Vec<f64> {
    let n = targets.cols;
    assert_eq!(logits.len(), targets.rows() * n, "multinomial_nll: shape");
    if n == 0 {
        return vec![0.0; targets.rows()];
    }
    logits
        .par_chunks_mut(n)
        .enumerate()
        .map(|(r, row)| {
            let (idx, x) = targets.row(r);
            let mut picked = 0f64;
            let mut total = 0f64;
            for (&i, &v) in idx.iter().zip(x) {
                picked += f64::from(v) * f64::from(row[i as usize]);
                total += f64::from(v);
            }
            // Online logsumexp: rescale the running sum whenever the maximum moves.
            let (mut max, mut sum) = (f32::NEG_INFINITY, 0f32);
            for &o in row.iter() {
                if o > max {
                    sum = sum * (max - o).exp() + 1.0;
                    max = o;
                } else {
                    sum += (o - max).exp();
                }
            }
            let lse = f64::from(max) + f64::from(sum).ln();
            let coef = (total as f32) * scale / sum;
            for o in row.iter_mut() {
                *o = coef * (*o - max).exp();
            }
            for (&i, &v) in idx.iter().zip(x) {
                row[i as usize] -= scale * v;
            }
            total * lse - picked
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn reference(o: &[f64], x: &[f64]) -> f64 {
        let max = o.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + o.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        -o.iter().zip(x).map(|(o, x)| x * (o - lse)).sum::<f64>()
    }

    #[test]
    fn loss_and_gradient_match_a_plain_reference_and_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for _ in 0..10 {
            let (rows, n) = (rng.random_range(1..5), rng.random_range(1..30));
            let logits: Vec<f32> = (0..rows * n).map(|_| rng.random_range(-3.0..3.0)).collect();
            let mut offsets = vec![0u64];
            let (mut idx, mut val) = (Vec::new(), Vec::new());
            for _ in 0..rows {
                for i in 0..n as u32 {
                    if rng.random_bool(0.3) {
                        idx.push(i);
                        val.push(rng.random_range(1..5) as f32);
                    }
                }
                offsets.push(idx.len() as u64);
            }
            let t = CsrRef::new(&offsets, &idx, &val, n).unwrap();
            let mut g = logits.clone();
            let loss = multinomial_nll(&mut g, t, 0.5);
            for r in 0..rows {
                let o: Vec<f64> = logits[r * n..(r + 1) * n]
                    .iter()
                    .map(|&v| v.into())
                    .collect();
                let mut x = vec![0f64; n];
                let (ri, rv) = t.row(r);
                for (&i, &v) in ri.iter().zip(rv) {
                    x[i as usize] = v.into();
                }
                assert!((loss[r] - reference(&o, &x)).abs() < 1e-4 * (1.0 + loss[r].abs()));
                for i in 0..n {
                    let h = 1e-5;
                    let mut up = o.clone();
                    up[i] += h;
                    let mut down = o.clone();
                    down[i] -= h;
                    let fd = (reference(&up, &x) - reference(&down, &x)) / (2.0 * h) * 0.5;
                    assert!(
                        (fd - f64::from(g[r * n + i])).abs() < 1e-4,
                        "{fd} {}",
                        g[r * n + i]
                    );
                }
            }
        }
    }

    #[test]
    fn huge_logits_stay_finite() {
        let mut logits = vec![1.0e4f32, -1.0e4, 3.0e4, 0.0];
        let t = CsrRef::new(&[0, 1], &[0], &[2.0], 4).unwrap();
        let loss = multinomial_nll(&mut logits, t, 1.0);
        // logsumexp = 3e4; loss = 2 * (3e4 - 1e4).
        assert!((loss[0] - 4.0e4).abs() < 1.0, "{loss:?}");
        assert!(logits.iter().all(|v| v.is_finite()), "{logits:?}");
        assert!((logits[2] - 2.0).abs() < 1e-6 && (logits[0] + 2.0).abs() < 1e-6);
    }
}
