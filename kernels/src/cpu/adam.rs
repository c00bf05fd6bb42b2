//! Adam (Kingma & Ba 2015) with bias correction, as PyTorch's `torch.optim.Adam` computes it
//! (no weight decay): every replica applies the same step to the same all-reduced gradient.

use rayon::prelude::*;

/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamParams {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
}

impl Default for AdamParams {
    fn default() -> Self {
        AdamParams {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// One step (`step` counts from 1) on `param` with gradient `grad` and moments `m`, `v`.
pub fn adam_step(
    p: AdamParams,
    step: u64,
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    let n = param.len();
    assert!(
        grad.len() == n && m.len() == n && v.len() == n,
        "adam: lengths"
    );
    assert!(step >= 1, "adam: steps count from 1");
    let t = step.min(i32::MAX as u64) as i32;
    let c1 = 1.0 - f64::from(p.beta1).powi(t);
    let c2 = 1.0 - f64::from(p.beta2).powi(t);
    let step_size = (f64::from(p.lr) / c1) as f32;
    let c2_sqrt = c2.sqrt() as f32;
    param
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
        .for_each(|((w, g), (m, v))| {
            for i in 0..w.len() {
                m[i] = p.beta1 * m[i] + (1.0 - p.beta1) * g[i];
                v[i] = p.beta2 * v[i] + (1.0 - p.beta2) * g[i] * g[i];
                let denom = v[i].sqrt() / c2_sqrt + p.eps;
                w[i] -= step_size * m[i] / denom;
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_textbook_update() {
        let p = AdamParams::default();
        let mut w = vec![1.0f32, -2.0, 0.5];
        let (mut m, mut v) = (vec![0f32; 3], vec![0f32; 3]);
        let (mut rm, mut rv, mut rw) = ([0f64; 3], [0f64; 3], [1.0f64, -2.0, 0.5]);
        for step in 1..=5u64 {
            let g: Vec<f32> = w.iter().map(|x| 2.0 * x + step as f32 * 0.1).collect();
            adam_step(p, step, &mut w, &g, &mut m, &mut v);
            for i in 0..3 {
                let gi = 2.0 * rw[i] + step as f64 * 0.1;
                rm[i] = 0.9 * rm[i] + 0.1 * gi;
                rv[i] = 0.999 * rv[i] + 0.001 * gi * gi;
                let mh = rm[i] / (1.0 - 0.9f64.powi(step as i32));
                let vh = rv[i] / (1.0 - 0.999f64.powi(step as i32));
                rw[i] -= 1e-3 * mh / (vh.sqrt() + 1e-8);
                assert!((f64::from(w[i]) - rw[i]).abs() < 1e-6, "step {step} {i}");
            }
        }
        // The first step moves each weight by lr against its gradient's sign.
        let mut w = vec![3.0f32];
        adam_step(p, 1, &mut w, &[10.0], &mut [0.0], &mut [0.0]);
        assert!((w[0] - (3.0 - 1e-3)).abs() < 1e-6);
    }
}
