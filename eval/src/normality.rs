//! The Kolmogorov-Smirnov check of normality the paper runs before choosing rank-based tests
//! (Sec. 4.2.2: "data is non-normally distributed (Kolmogorov-Smirnov test, p <= 0.001)").
//!
//! As `scipy.stats.kstest(zscore(x), "norm")`: the sample is standardised with its own mean
//! and (population) standard deviation and compared with the standard normal. Estimating the
//! parameters from the sample makes the test conservative (Lilliefors 1967): a small p-value
//! is strong evidence against normality, a large one is weak evidence for it. That is the
//! direction the paper needs: non-normal data sends the comparison to Friedman and Wilcoxon.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::factorial::ln_binomial;

use crate::significance::StatsError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KsResult {
    /// sup |F_n(z) - Phi(z)| over the standardised sample.
    pub statistic: f64,
    /// Two-sided p-value of the statistic for `n` observations.
    pub p_value: f64,
    pub n: usize,
}

/// Below this, twice Smirnov's exact one-sided tail is the two-sided p-value to within the
/// (squared, negligible) chance that both one-sided statistics exceed it; above, the
/// Kolmogorov limit with Stephens' correction is closer to the exact law.
const ONE_SIDED_DOUBLING_MAX: f64 = 0.5;

/// KS test of `values` against the normal law with their own mean and deviation.
///
/// p-values follow scipy's exact `kstwo`: to about 1e-5 relative in the tail that decides
/// (p < 0.05, where twice the Birnbaum-Tingey one-sided tail errs by about the square of p;
/// 1e-9 and better further out), to 1e-3 relative below 0.5, and within about 3% above, where they only ever read as "no
/// evidence against normality". The statistic carries statrs' normal CDF error (~1e-10).
pub fn ks_normality(values: &[f64]) -> Result<KsResult, StatsError> {
    let n = values.len();
    if n == 0 {
        return Err(StatsError::Empty);
    }
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(StatsError::NonFinite { sample: 0, index });
    }
    let statistic = ks_statistic(values)?;
    Ok(KsResult {
        statistic,
        p_value: ks_two_sided_sf(n, statistic),
        n,
    })
}

/// The statistic against the standard normal after standardising; a constant sample puts
/// every point at 0, where the step and Phi differ by 1/2.
fn ks_statistic(values: &[f64]) -> Result<f64, StatsError> {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
    let mut z: Vec<f64> = values
        .iter()
        .map(|v| if sd > 0.0 { (v - mean) / sd } else { 0.0 })
        .collect();
    z.sort_by(f64::total_cmp);
    let phi = Normal::new(0.0, 1.0).map_err(|e| StatsError::Distribution(e.to_string()))?;
    let mut d = 0f64;
    for (i, &zi) in z.iter().enumerate() {
        let f = phi.cdf(zi);
        d = d.max((i + 1) as f64 / n - f).max(f - i as f64 / n);
    }
    Ok(d)
}

/// P(D_n >= d) for the two-sided statistic of `n` observations.
pub fn ks_two_sided_sf(n: usize, d: f64) -> f64 {
    if d <= 0.0 {
        return 1.0;
    }
    if d >= 1.0 {
        return 0.0;
    }
    let doubled = 2.0 * smirnov_sf(n, d);
    if doubled <= ONE_SIDED_DOUBLING_MAX {
        return doubled;
    }
    let sn = (n as f64).sqrt();
    kolmogorov_sf((sn + 0.12 + 0.11 / sn) * d).min(1.0)
}

/// Smirnov's exact one-sided tail P(D+_n >= d) (Birnbaum and Tingey 1951), summed in log
/// space so that large `n` neither overflows the binomials nor underflows the powers early.
fn smirnov_sf(n: usize, d: f64) -> f64 {
    let nf = n as f64;
    let last = (nf * (1.0 - d)).floor() as usize;
    let terms: Vec<f64> = (0..=last.min(n))
        .filter_map(|j| {
            let jf = j as f64;
            let (a, b) = (1.0 - d - jf / nf, d + jf / nf);
            (a > 0.0)
                .then(|| ln_binomial(n as u64, j as u64) + (nf - jf) * a.ln() + (jf - 1.0) * b.ln())
        })
        .collect();
    let Some(top) = terms.iter().copied().reduce(f64::max) else {
        return 0.0;
    };
    let sum: f64 = terms.iter().map(|t| (t - top).exp()).sum();
    (d * top.exp() * sum).clamp(0.0, 1.0)
}

/// The limiting Kolmogorov tail Q(x) = 2 sum_j (-1)^(j-1) exp(-2 j^2 x^2).
fn kolmogorov_sf(x: f64) -> f64 {
    if x < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for j in 1..=100 {
        let jf = j as f64;
        let term = (-2.0 * jf * jf * x * x).exp();
        sum += if j % 2 == 1 { term } else { -term };
        if term < 1e-17 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference values below come from the same LCG in Python, then
    /// `scipy.stats.kstest((x - x.mean()) / x.std(), "norm")` (scipy 1.17).
    fn lcg(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (s >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    fn close(got: f64, want: f64, rel: f64) {
        assert!(
            (got - want).abs() <= rel * want.abs(),
            "got {got:e}, want {want:e} (relative {rel:e})"
        );
    }

    #[test]
    fn statistic_and_p_match_scipy() {
        let uniform = ks_normality(&lcg(300, 1)).unwrap();
        close(uniform.statistic, 0.069_119_506_061_045_67, 1e-9);
        close(uniform.p_value, 0.108_547_864_798_164_8, 1e-3);
        // Most users score 0: the shape of per-user metrics.
        let a = lcg(200, 2);
        let b = lcg(200, 3);
        let zeros: Vec<f64> = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| if x < 0.7 { 0.0 } else { y })
            .collect();
        let z = ks_normality(&zeros).unwrap();
        close(z.statistic, 0.387_689_901_245_896_64, 1e-9);
        close(z.p_value, 1.427_189_393_024_506_4e-27, 1e-8);
        let sq: Vec<f64> = lcg(40, 4).iter().map(|v| v * v).collect();
        let s = ks_normality(&sq).unwrap();
        close(s.statistic, 0.178_942_194_178_544_4, 1e-9);
        close(s.p_value, 0.136_293_926_736_755_9, 1e-3);
    }

    #[test]
    fn tail_follows_scipy_kstwo_and_the_bulk_stays_close() {
        // scipy.stats.kstwo.sf(d, n)
        close(ks_two_sided_sf(1000, 0.05), 0.013_012_074_781_090_332, 1e-8);
        close(ks_two_sided_sf(30, 0.2), 0.157_969_161_015_473_98, 1e-3);
        close(ks_two_sided_sf(5000, 0.02), 0.036_139_413_953_256_37, 1e-5);
        // The bulk: kstwo.sf(0.03, 1000) = 0.3223..., kstwo.sf(0.01, 1000) = 0.9999...
        let mid = ks_two_sided_sf(1000, 0.03);
        assert!((mid - 0.3223).abs() < 0.01, "{mid}");
        assert!(ks_two_sided_sf(1000, 0.01) > 0.99);
        assert_eq!(ks_two_sided_sf(10, 0.0), 1.0);
        assert_eq!(ks_two_sided_sf(10, 1.0), 0.0);
    }

    #[test]
    fn normal_looking_data_passes_and_degenerate_data_fails() {
        // A symmetric, bell-shaped sample: sums of four uniforms.
        let u = lcg(4_000, 9);
        let bell: Vec<f64> = u.chunks(4).map(|c| c.iter().sum()).collect();
        assert!(ks_normality(&bell).unwrap().p_value > 0.01);
        // Constant: D = 1/2, decisively not normal at any real sample size.
        let flat = ks_normality(&[0.25; 100]).unwrap();
        assert_eq!(flat.statistic, 0.5);
        assert!(flat.p_value < 1e-20, "{}", flat.p_value);
        assert!(matches!(ks_normality(&[]), Err(StatsError::Empty)));
        assert!(matches!(
            ks_normality(&[1.0, f64::NAN]),
            Err(StatsError::NonFinite { index: 1, .. })
        ));
    }
}
