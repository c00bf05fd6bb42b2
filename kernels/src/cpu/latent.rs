//! The variational latent code: reparameterisation with a context gate, and the KL term.
//!
//! The encoder gives `mu` and the log-variance `lv` (Liang et al. 2018; the gated-VAE paper
//! writes `sigma = tanh(...)`, which can be negative, so its sigma is read as
//! `sigma = exp(lv / 2)`). With `eps ~ N(0, 1)` and a gate `g` in (0, 1):
//!
//! - [`GateMode::Literal`]: `z = mu + sigma * eps * g` (paper eq. 5). At inference `z = mu`,
//!   so the gate acts only through training.
//! - [`GateMode::Scale`]: `z = g * (mu + sigma * eps)`, and `z = g * mu` at inference, so the
//!   context also shapes the code the decoder sees at test time.
//! - [`GateMode::Off`]: `z = mu + sigma * eps` (no context).

use rayon::prelude::*;

/// Rows handed to one rayon task.
const ROWS_PER_TASK: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateMode {
    Off,
    Literal,
    Scale,
}

/// The latent code of a batch, `rows x latent` each, row-major.
pub struct Latent<'a> {
    pub mu: &'a [f32],
    pub logvar: &'a [f32],
    /// `N(0, 1)` draws (training) or `None` (inference: the mean).
    pub eps: Option<&'a [f32]>,
    /// The gate (`GateMode::Off`: ignored, may be `None`).
    pub gate: Option<&'a [f32]>,
}

fn check(l: &Latent<'_>, mode: GateMode, n: usize) {
    assert_eq!(l.mu.len(), n, "latent: mu");
    assert_eq!(l.logvar.len(), n, "latent: logvar");
    if let Some(e) = l.eps {
        assert_eq!(e.len(), n, "latent: eps");
    }
    if mode != GateMode::Off {
        assert_eq!(l.gate.map(<[f32]>::len), Some(n), "latent: gate");
    }
}

/// `z` from the code, as the module doc gives it.
pub fn reparameterise(l: &Latent<'_>, mode: GateMode, z: &mut [f32]) {
    let n = z.len();
    check(l, mode, n);
    z.par_chunks_mut(ROWS_PER_TASK * 64)
        .enumerate()
        .for_each(|(c, zc)| {
            let base = c * ROWS_PER_TASK * 64;
            for (o, z) in zc.iter_mut().enumerate() {
                let i = base + o;
                let noise = l.eps.map_or(0.0, |e| (0.5 * l.logvar[i]).exp() * e[i]);
                let g = l.gate.map_or(1.0, |g| g[i]);
                *z = match mode {
                    GateMode::Off => l.mu[i] + noise,
                    GateMode::Literal => l.mu[i] + noise * g,
                    GateMode::Scale => g * (l.mu[i] + noise),
                };
            }
        });
}

/// Gradients of `z` with respect to `mu`, `logvar` and the gate given `dz`, written (not
/// added) into `dmu`, `dlogvar` and `dgate` (the latter ignored for `GateMode::Off`).
pub fn reparameterise_backward(
    l: &Latent<'_>,
    mode: GateMode,
    dz: &[f32],
    dmu: &mut [f32],
    dlogvar: &mut [f32],
    mut dgate: Option<&mut [f32]>,
) {
    let n = dz.len();
    check(l, mode, n);
    assert!(
        l.eps.is_some(),
        "the backward pass needs the training draws"
    );
    assert_eq!(dmu.len(), n);
    assert_eq!(dlogvar.len(), n);
    let eps = l.eps.unwrap_or(&[]);
    for i in 0..n {
        let sigma = (0.5 * l.logvar[i]).exp();
        let noise = sigma * eps[i];
        let g = l.gate.map_or(1.0, |g| g[i]);
        // d noise / d logvar = noise / 2.
        let (m, v, dg) = match mode {
            GateMode::Off => (dz[i], dz[i] * 0.5 * noise, 0.0),
            GateMode::Literal => (dz[i], dz[i] * g * 0.5 * noise, dz[i] * noise),
            GateMode::Scale => (
                dz[i] * g,
                dz[i] * g * 0.5 * noise,
                dz[i] * (l.mu[i] + noise),
            ),
        };
        dmu[i] = m;
        dlogvar[i] = v;
        if let Some(d) = dgate.as_deref_mut() {
            d[i] = dg;
        }
    }
}

/// KL(N(mu, sigma^2) || N(0, 1)) of each of the `mu.len() / latent` rows, and `scale` times its
/// gradient added to `dmu` and `dlogvar`.
pub fn kl_divergence(
    mu: &[f32],
    logvar: &[f32],
    latent: usize,
    scale: f32,
    dmu: &mut [f32],
    dlogvar: &mut [f32],
) -> Vec<f64> {
    assert!(latent > 0 && mu.len().is_multiple_of(latent), "kl: shape");
    assert_eq!(logvar.len(), mu.len());
    assert_eq!(dmu.len(), mu.len());
    assert_eq!(dlogvar.len(), mu.len());
    mu.par_chunks(latent)
        .zip(logvar.par_chunks(latent))
        .zip(
            dmu.par_chunks_mut(latent)
                .zip(dlogvar.par_chunks_mut(latent)),
        )
        .map(|((m, v), (dm, dv))| {
            let mut kl = 0f64;
            for i in 0..latent {
                let e = v[i].exp();
                kl += 0.5 * f64::from(e + m[i] * m[i] - 1.0 - v[i]);
                dm[i] += scale * m[i];
                dv[i] += scale * 0.5 * (e - 1.0);
            }
            kl
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(lo..hi)).collect()
    }

    #[test]
    fn gradients_match_finite_differences_in_every_mode() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let n = 24;
        for mode in [GateMode::Off, GateMode::Literal, GateMode::Scale] {
            let mu = random(&mut rng, n, -1.0, 1.0);
            let lv = random(&mut rng, n, -2.0, 1.0);
            let eps = random(&mut rng, n, -2.0, 2.0);
            let gate = random(&mut rng, n, 0.05, 0.95);
            let dz = random(&mut rng, n, -1.0, 1.0);
            let f = |mu: &[f32], lv: &[f32], g: &[f32]| -> f64 {
                let mut z = vec![0f32; n];
                let l = Latent {
                    mu,
                    logvar: lv,
                    eps: Some(&eps),
                    gate: Some(g),
                };
                reparameterise(&l, mode, &mut z);
                z.iter().zip(&dz).map(|(a, b)| f64::from(a * b)).sum()
            };
            let l = Latent {
                mu: &mu,
                logvar: &lv,
                eps: Some(&eps),
                gate: Some(&gate),
            };
            let (mut dm, mut dv, mut dg) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
            reparameterise_backward(&l, mode, &dz, &mut dm, &mut dv, Some(&mut dg));
            let h = 1e-3f32;
            for i in 0..n {
                let bump = |v: &[f32], d: f32| {
                    let mut w = v.to_vec();
                    w[i] += d;
                    w
                };
                let fd_mu = (f(&bump(&mu, h), &lv, &gate) - f(&bump(&mu, -h), &lv, &gate))
                    / (2.0 * f64::from(h));
                let fd_lv = (f(&mu, &bump(&lv, h), &gate) - f(&mu, &bump(&lv, -h), &gate))
                    / (2.0 * f64::from(h));
                let fd_g = (f(&mu, &lv, &bump(&gate, h)) - f(&mu, &lv, &bump(&gate, -h)))
                    / (2.0 * f64::from(h));
                assert!((fd_mu - f64::from(dm[i])).abs() < 1e-3, "{mode:?} mu {i}");
                assert!((fd_lv - f64::from(dv[i])).abs() < 1e-3, "{mode:?} lv {i}");
                if mode != GateMode::Off {
                    assert!((fd_g - f64::from(dg[i])).abs() < 1e-3, "{mode:?} gate {i}");
                }
            }
        }
    }

    #[test]
    fn inference_is_the_mean_literal_and_the_gated_mean_scaled() {
        let mu = [0.5, -1.0];
        let lv = [0.3, -0.2];
        let gate = [0.25, 0.5];
        let l = Latent {
            mu: &mu,
            logvar: &lv,
            eps: None,
            gate: Some(&gate),
        };
        let mut z = [0f32; 2];
        reparameterise(&l, GateMode::Literal, &mut z);
        assert_eq!(z, mu);
        reparameterise(&l, GateMode::Scale, &mut z);
        assert_eq!(z, [0.125, -0.5]);
    }

    #[test]
    fn kl_and_its_gradient_match_the_closed_form_and_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let latent = 6;
        let mu = random(&mut rng, 3 * latent, -1.0, 1.0);
        let lv = random(&mut rng, 3 * latent, -1.5, 1.0);
        let (mut dm, mut dv) = (vec![0f32; mu.len()], vec![0f32; mu.len()]);
        let kl = kl_divergence(&mu, &lv, latent, 2.0, &mut dm, &mut dv);
        assert_eq!(kl.len(), 3);
        let closed = |m: f64, v: f64| 0.5 * (v.exp() + m * m - 1.0 - v);
        for r in 0..3 {
            let want: f64 = (0..latent)
                .map(|i| closed(f64::from(mu[r * latent + i]), f64::from(lv[r * latent + i])))
                .sum();
            assert!((kl[r] - want).abs() < 1e-5);
        }
        let h = 1e-4;
        for i in 0..mu.len() {
            let (m, v) = (f64::from(mu[i]), f64::from(lv[i]));
            let fd_m = (closed(m + h, v) - closed(m - h, v)) / (2.0 * h) * 2.0;
            let fd_v = (closed(m, v + h) - closed(m, v - h)) / (2.0 * h) * 2.0;
            assert!((fd_m - f64::from(dm[i])).abs() < 1e-4);
            assert!((fd_v - f64::from(dv[i])).abs() < 1e-4);
        }
    }
}
