//! Significance tests for comparing recommenders on the same users: the Friedman test across
//! all models, the Wilcoxon signed-rank test for each pair, and Holm's correction for the many
//! pairs.
//!
//! Both tests reproduce `scipy.stats` (checked against scipy 1.17) with its default
//! arguments, so a number in our report can be re-derived in a notebook:
//! `wilcoxon(x, y)` (zero_method="wilcox", correction=False, alternative="two-sided",
//! method="auto") and `friedmanchisquare(*treatments)`. Deviations are listed on each function.
//!
//! Normal-approximation p-values come from `statrs`, whose `erfc` carries a relative error of
//! about 1e-10 (scipy's `ndtr` is good to ~1e-16): far below anything a report prints, but
//! it is why tests compare those p-values with scipy at 1e-9 relative rather than exactly.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("need at least 2 treatments, got {0}")]
    TooFewTreatments(usize),
    #[error("sample {index} has {got} observations, expected {expected}")]
    LengthMismatch {
        index: usize,
        expected: usize,
        got: usize,
    },
    #[error("no observations")]
    Empty,
    #[error("observation {index} of sample {sample} is not finite")]
    NonFinite { sample: usize, index: usize },
    #[error("reference distribution: {0}")]
    Distribution(String),
}

/// Above this many pairs scipy's `method="auto"` always uses the normal approximation.
const EXACT_MAX_N: usize = 50;
/// scipy's permutation test enumerates all 2^n sign flips only while 2^n <= 9999 resamples.
const PERMUTATION_MAX_N: usize = 13;

/// How to obtain the Wilcoxon p-value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WilcoxonMethod {
    /// scipy's `method="auto"`: exact null distribution for at most 50 pairs without ties or
    /// zero differences; a full sign-flip permutation test for at most 13 pairs with ties or
    /// zeros; the normal approximation otherwise.
    Auto,
    /// The exact null distribution of W+ for the non-zero differences, even with ties
    /// (scipy's `method="exact"`: a tied, non-integral W+ is rounded away from the centre).
    Exact,
    /// The normal approximation with tie-corrected variance, no continuity correction
    /// (scipy's `method="asymptotic"`, `correction=False`).
    Asymptotic,
}

/// How a Wilcoxon p-value was actually obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PValueMethod {
    Exact,
    Permutation,
    Asymptotic,
    /// Every difference was zero: nothing to test, p = 1 (scipy returns NaN or 1 depending
    /// on the sample size; a report is better served by "no evidence of a difference").
    NoDifferences,
}

/// Which paired sample tends to be larger, judged by the signed-rank sums W+ and W-.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    XGreater,
    YGreater,
    Neither,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WilcoxonResult {
    /// min(W+, W-), the statistic scipy reports for a two-sided test.
    pub statistic: f64,
    /// Sum of the ranks of |d| over positive differences d = x - y.
    pub w_plus: f64,
    pub w_minus: f64,
    /// Number of pairs given.
    pub n: usize,
    /// Pairs with a non-zero difference, the ones ranked.
    pub n_used: usize,
    pub n_zero: usize,
    /// The standardised statistic, -|z|, when the normal approximation gave the p-value.
    pub z: Option<f64>,
    /// Two-sided p-value.
    pub p_value: f64,
    pub method: PValueMethod,
    /// Mean of x - y over all pairs, zeros included.
    pub mean_difference: f64,
    /// Median of x - y over all pairs, zeros included.
    pub median_difference: f64,
    pub direction: Direction,
}

/// Two-sided Wilcoxon signed-rank test of paired samples, with scipy's defaults
/// ([`WilcoxonMethod::Auto`]). Zero differences are dropped before ranking (Wilcoxon's
/// convention); ties of |x - y| get average ranks.
///
/// Errors on unequal lengths, no pairs, or non-finite values. If all differences are zero the
/// result has p = 1 and [`PValueMethod::NoDifferences`] rather than an error.
pub fn wilcoxon_signed_rank(x: &[f64], y: &[f64]) -> Result<WilcoxonResult, StatsError> {
    wilcoxon_signed_rank_with(x, y, WilcoxonMethod::Auto)
}

pub fn wilcoxon_signed_rank_with(
    x: &[f64],
    y: &[f64],
    method: WilcoxonMethod,
) -> Result<WilcoxonResult, StatsError> {
    if x.len() != y.len() {
        return Err(StatsError::LengthMismatch {
            index: 1,
            expected: x.len(),
            got: y.len(),
        });
    }
    let d: Vec<f64> = x.iter().zip(y).map(|(a, b)| a - b).collect();
    for (sample, values) in [x, y, &d].into_iter().enumerate() {
        check_finite(sample, values)?;
    }
    wilcoxon_differences(&d, method)
}

/// The one-sample form: `d` are the paired differences x - y.
pub fn wilcoxon_differences(
    d: &[f64],
    method: WilcoxonMethod,
) -> Result<WilcoxonResult, StatsError> {
    if d.is_empty() {
        return Err(StatsError::Empty);
    }
    check_finite(0, d)?;
    let n = d.len();
    let nonzero: Vec<f64> = d.iter().copied().filter(|&v| v != 0.0).collect();
    let n_used = nonzero.len();
    let n_zero = n - n_used;
    let abs: Vec<f64> = nonzero.iter().map(|v| v.abs()).collect();
    let ranked = average_ranks(&abs);
    let mut w_plus = 0.0;
    let mut w_minus = 0.0;
    for (v, r) in nonzero.iter().zip(&ranked.ranks) {
        if *v > 0.0 {
            w_plus += r;
        } else {
            w_minus += r;
        }
    }
    let mean_difference = d.iter().sum::<f64>() / n as f64;
    let median_difference = median(d);
    let direction = match w_plus.total_cmp(&w_minus) {
        std::cmp::Ordering::Greater => Direction::XGreater,
        std::cmp::Ordering::Less => Direction::YGreater,
        std::cmp::Ordering::Equal => Direction::Neither,
    };
    let mut result = WilcoxonResult {
        statistic: w_plus.min(w_minus),
        w_plus,
        w_minus,
        n,
        n_used,
        n_zero,
        z: None,
        p_value: 1.0,
        method: PValueMethod::NoDifferences,
        mean_difference,
        median_difference,
        direction,
    };
    if n_used == 0 {
        return Ok(result);
    }
    let chosen = match method {
        WilcoxonMethod::Exact => PValueMethod::Exact,
        WilcoxonMethod::Asymptotic => PValueMethod::Asymptotic,
        // scipy decides on the number of pairs before zeros are dropped.
        WilcoxonMethod::Auto if n > EXACT_MAX_N => PValueMethod::Asymptotic,
        WilcoxonMethod::Auto if !ranked.has_ties && n_zero == 0 => PValueMethod::Exact,
        WilcoxonMethod::Auto if n <= PERMUTATION_MAX_N => PValueMethod::Permutation,
        WilcoxonMethod::Auto => PValueMethod::Asymptotic,
    };
    result.method = chosen;
    match chosen {
        PValueMethod::Exact => {
            let pmf = signed_rank_pmf(n_used);
            let lower = cdf(&pmf, w_plus.ceil());
            let upper = sf(&pmf, w_plus.floor());
            result.p_value = (2.0 * lower.min(upper)).min(1.0);
        }
        PValueMethod::Permutation => {
            result.p_value = permutation_p(&ranked.ranks, &nonzero);
        }
        PValueMethod::Asymptotic | PValueMethod::NoDifferences => {
            let count = n_used as f64;
            let mean = count * (count + 1.0) * 0.25;
            let var = count * (count + 1.0) * (2.0 * count + 1.0);
            let se = ((var - ranked.tie_term / 2.0) / 24.0).sqrt();
            let z = (w_plus - mean) / se;
            let p = 2.0 * Normal::standard().cdf(-z.abs());
            result.z = Some(-z.abs());
            result.p_value = p.min(1.0);
        }
    }
    Ok(result)
}

fn check_finite(sample: usize, values: &[f64]) -> Result<(), StatsError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(StatsError::NonFinite { sample, index }),
        None => Ok(()),
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

struct Ranked {
    /// 1-based ascending ranks, ties averaged.
    ranks: Vec<f64>,
    /// sum over tie groups of t^3 - t.
    tie_term: f64,
    has_ties: bool,
}

fn average_ranks(values: &[f64]) -> Ranked {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut tie_term = 0.0;
    let mut has_ties = false;
    let mut start = 0;
    while start < idx.len() {
        let mut end = start + 1;
        while end < idx.len() && values[idx[end]] == values[idx[start]] {
            end += 1;
        }
        // Positions start+1 ..= end share the mean of their ranks.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &idx[start..end] {
            ranks[i] = rank;
        }
        let t = (end - start) as f64;
        tie_term += t * (t * t - 1.0);
        has_ties |= end - start > 1;
        start = end;
    }
    Ranked {
        ranks,
        tie_term,
        has_ties,
    }
}

/// Null distribution of W+ for n untied non-zero differences: P(W+ = s) for s = 0..=n(n+1)/2.
/// Halving at each step keeps it a probability (no 2^n overflow for large n) and, for n <= 50,
/// every entry is a dyadic fraction held exactly.
fn signed_rank_pmf(n: usize) -> Vec<f64> {
    let max = n * (n + 1) / 2;
    let mut pmf = vec![0.0; max + 1];
    pmf[0] = 1.0;
    let mut reach = 0;
    for i in 1..=n {
        reach += i;
        for s in (0..=reach).rev() {
            let with_i = if s >= i { pmf[s - i] } else { 0.0 };
            pmf[s] = (pmf[s] + with_i) * 0.5;
        }
    }
    pmf
}

/// P(W+ <= k).
fn cdf(pmf: &[f64], k: f64) -> f64 {
    if k < 0.0 {
        return 0.0;
    }
    let end = (k as usize).min(pmf.len().saturating_sub(1));
    pmf[..=end].iter().sum()
}

/// P(W+ >= k).
fn sf(pmf: &[f64], k: f64) -> f64 {
    let start = if k <= 0.0 { 0 } else { k as usize };
    pmf.get(start..).map_or(0.0, |tail| tail.iter().sum())
}

/// Two-sided p of W+ over all 2^m sign assignments of the (tied) ranks, as scipy's
/// `permutation_test` computes it when it can enumerate every assignment. Zeros are left out:
/// flipping their sign changes nothing, so they scale both counts by the same power of two.
fn permutation_p(ranks: &[f64], signed: &[f64]) -> f64 {
    // Ranks are multiples of 1/2, so doubling them makes every comparison exact.
    let doubled: Vec<u64> = ranks.iter().map(|r| (r * 2.0) as u64).collect();
    let observed: u64 = doubled
        .iter()
        .zip(signed)
        .filter(|(_, v)| **v > 0.0)
        .map(|(r, _)| r)
        .sum();
    let m = doubled.len();
    debug_assert!(
        m <= PERMUTATION_MAX_N,
        "2^{m} sign patterns is too many to enumerate"
    );
    let total = 1u64 << m;
    let (mut at_most, mut at_least) = (0u64, 0u64);
    for mask in 0..total {
        let s: u64 = doubled
            .iter()
            .enumerate()
            .filter(|(j, _)| (mask >> j) & 1 == 1)
            .map(|(_, r)| r)
            .sum();
        at_most += u64::from(s <= observed);
        at_least += u64::from(s >= observed);
    }
    (2.0 * at_most.min(at_least) as f64 / total as f64).min(1.0)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FriedmanResult {
    /// Chi-square statistic with scipy's tie correction.
    pub statistic: f64,
    pub p_value: f64,
    /// Degrees of freedom, treatments - 1.
    pub df: usize,
    pub treatments: usize,
    pub blocks: usize,
    /// Mean within-block rank of each treatment (higher value = higher rank), in input order.
    pub mean_ranks: Vec<f64>,
}

/// Friedman test of `treatments.len()` treatments (models) over blocks (users):
/// `treatments[j][i]` is the value of treatment j in block i. Values are ranked within each
/// block with average ranks for ties; the statistic and its tie correction are those of
/// `scipy.stats.friedmanchisquare`, the p-value the chi-square(k-1) survival function.
///
/// Deviations from scipy: two treatments are accepted (scipy demands three; the statistic is
/// still well defined), and if every block is entirely tied the statistic is 0 with p = 1
/// instead of NaN.
pub fn friedman<T: AsRef<[f64]>>(treatments: &[T]) -> Result<FriedmanResult, StatsError> {
    let k = treatments.len();
    if k < 2 {
        return Err(StatsError::TooFewTreatments(k));
    }
    let n = treatments[0].as_ref().len();
    for (index, t) in treatments.iter().enumerate() {
        let t = t.as_ref();
        if t.len() != n {
            return Err(StatsError::LengthMismatch {
                index,
                expected: n,
                got: t.len(),
            });
        }
        check_finite(index, t)?;
    }
    if n == 0 {
        return Err(StatsError::Empty);
    }
    let mut rank_sums = vec![0.0; k];
    let mut ties = 0.0;
    let mut block = vec![0.0; k];
    for i in 0..n {
        for (slot, t) in block.iter_mut().zip(treatments) {
            *slot = t.as_ref()[i];
        }
        let ranked = average_ranks(&block);
        for (sum, r) in rank_sums.iter_mut().zip(&ranked.ranks) {
            *sum += r;
        }
        ties += ranked.tie_term;
    }
    // Same operation order as scipy, so results agree to the last bit where they can.
    let (kf, nf) = (k as f64, n as f64);
    let c = 1.0 - ties / (kf * (kf * kf - 1.0) * nf);
    let ssbn: f64 = rank_sums.iter().map(|r| r * r).sum();
    let mean_ranks = rank_sums.iter().map(|r| r / nf).collect();
    let df = k - 1;
    if c <= 0.0 {
        return Ok(FriedmanResult {
            statistic: 0.0,
            p_value: 1.0,
            df,
            treatments: k,
            blocks: n,
            mean_ranks,
        });
    }
    let statistic = (12.0 / (kf * nf * (kf + 1.0)) * ssbn - 3.0 * nf * (kf + 1.0)) / c;
    let chi2 = ChiSquared::new(df as f64).map_err(|e| StatsError::Distribution(e.to_string()))?;
    let p_value = if statistic <= 0.0 {
        1.0
    } else {
        chi2.sf(statistic)
    };
    Ok(FriedmanResult {
        statistic,
        p_value,
        df,
        treatments: k,
        blocks: n,
        mean_ranks,
    })
}

/// Holm-Bonferroni adjusted p-values, in input order: sort ascending, multiply the i-th
/// smallest (0-based) by m - i, carry the running maximum so adjusted values keep the order
/// of the raw ones, cap at 1. NaN entries stay NaN and do not count towards m.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p_values.len())
        .filter(|&i| !p_values[i].is_nan())
        .collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let m = order.len();
    let mut adjusted = vec![f64::NAN; p_values.len()];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        let scaled = ((m - rank) as f64 * p_values[i]).min(1.0);
        running = running.max(scaled);
        adjusted[i] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(got: f64, want: f64, tol: f64) {
        assert!(
            (got - want).abs() <= tol,
            "got {got:e}, want {want:e} (tolerance {tol:e})"
        );
    }

    /// For p-values through statrs' normal tail (see the module docs).
    fn assert_rel(got: f64, want: f64, rel: f64) {
        assert!(
            (got - want).abs() <= rel * want.abs(),
            "got {got:e}, want {want:e} (relative tolerance {rel:e})"
        );
    }

    fn d(values: &[i32]) -> Vec<f64> {
        values.iter().map(|&v| f64::from(v)).collect()
    }

    /// scipy.stats.wilcoxon documentation example (Wilcoxon 1945 / Hollander & Wolfe data).
    const SCIPY_D: [i32; 15] = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75];

    #[test]
    fn wilcoxon_published_exact_example() {
        let x = d(&SCIPY_D);
        let y = vec![0.0; x.len()];
        let r = wilcoxon_signed_rank(&x, &y).expect("valid");
        // Negative differences have ranks 10 and 14: W- = 24, W+ = 120 - 24 = 96.
        assert_eq!(r.statistic, 24.0);
        assert_eq!(r.w_minus, 24.0);
        assert_eq!(r.w_plus, 96.0);
        assert_eq!(r.method, PValueMethod::Exact);
        // 2 * P(W <= 24) = 2 * 676 / 2^15, representable exactly.
        assert_eq!(r.p_value, 0.041259765625);
        assert_eq!(r.z, None);
        assert_eq!(r.direction, Direction::XGreater);
        assert_eq!((r.n, r.n_used, r.n_zero), (15, 15, 0));
        // Sorted d: -67 -48 6 8 14 16 23 [24] 28 ...; sum 314.
        assert_eq!(r.median_difference, 24.0);
        assert_close(r.mean_difference, 314.0 / 15.0, 1e-12);
    }

    #[test]
    fn wilcoxon_published_approximate_example() {
        let r = wilcoxon_differences(&d(&SCIPY_D), WilcoxonMethod::Asymptotic).expect("valid");
        // z = (24 - 60) / sqrt(15 * 16 * 31 / 24) = -36 / sqrt(310) = -2.0447.
        let z = r.z.expect("asymptotic reports z");
        assert_close(z, -2.0447, 1e-3);
        assert_close(r.p_value, 0.040, 1e-3);
        // scipy 1.17: wilcoxon(d, method='asymptotic').
        assert_close(z, -2.0446626032894333, 1e-12);
        assert_rel(r.p_value, 0.04088813291185591, 1e-9);
        assert_eq!(r.method, PValueMethod::Asymptotic);
    }

    #[test]
    fn wilcoxon_swapping_samples_flips_direction_only() {
        let x = d(&SCIPY_D);
        let zeros = vec![0.0; x.len()];
        let a = wilcoxon_signed_rank(&x, &zeros).expect("valid");
        let b = wilcoxon_signed_rank(&zeros, &x).expect("valid");
        assert_eq!(a.p_value, b.p_value);
        assert_eq!(a.statistic, b.statistic);
        assert_eq!((a.w_plus, a.w_minus), (b.w_minus, b.w_plus));
        assert_eq!(b.direction, Direction::YGreater);
    }

    #[test]
    fn wilcoxon_small_sample_with_ties_and_zero_uses_permutation() {
        // scipy 1.17: wilcoxon([1, 2, -2, 3, 0, 4, 5, -1]) -> (5.0, 0.171875).
        // |d| ranks without the zero: 1,1 -> 1.5; 2,2 -> 3.5; 3 -> 5; 4 -> 6; 5 -> 7.
        // W- = 3.5 + 1.5 = 5, W+ = 23; 22 of the 128 sign patterns are as extreme.
        let r = wilcoxon_differences(&d(&[1, 2, -2, 3, 0, 4, 5, -1]), WilcoxonMethod::Auto)
            .expect("valid");
        assert_eq!(r.statistic, 5.0);
        assert_eq!(r.method, PValueMethod::Permutation);
        assert_eq!(r.p_value, 0.171875);
        assert_eq!((r.n, r.n_used, r.n_zero), (8, 7, 1));
        // method='exact' rounds the tied statistic conservatively: 0.15625.
        let e = wilcoxon_differences(&d(&[1, 2, -2, 3, 0, 4, 5, -1]), WilcoxonMethod::Exact)
            .expect("valid");
        assert_eq!(e.p_value, 0.15625);
        // method='asymptotic': tie-corrected variance.
        let a = wilcoxon_differences(&d(&[1, 2, -2, 3, 0, 4, 5, -1]), WilcoxonMethod::Asymptotic)
            .expect("valid");
        assert_rel(a.p_value, 0.12682565837709103, 1e-9);
        assert_close(a.z.expect("z"), -1.5267400734239478, 1e-12);
    }

    #[test]
    fn wilcoxon_paired_floats_with_zero() {
        // scipy 1.17: wilcoxon(x, y) -> (3.0, 0.3125).
        let x = [0.5, 0.25, 0.75, 1.0, 0.0, 0.3];
        let y = [0.25, 0.25, 0.5, 0.5, 0.25, 0.1];
        let r = wilcoxon_signed_rank(&x, &y).expect("valid");
        assert_eq!(r.statistic, 3.0);
        assert_close(r.p_value, 0.3125, 1e-12);
        assert_eq!(r.n_zero, 1);
    }

    #[test]
    fn wilcoxon_ties_beyond_permutation_size_use_normal_approximation() {
        // scipy 1.17: n = 20 with ties and two zeros -> (40.5, 0.04961597388734891).
        let d20 = d(&[
            3, -1, 4, 1, -5, 9, 2, 6, -5, 3, 5, 0, 8, -9, 7, 9, 3, 2, 0, 4,
        ]);
        let r = wilcoxon_differences(&d20, WilcoxonMethod::Auto).expect("valid");
        assert_eq!(r.method, PValueMethod::Asymptotic);
        assert_eq!(r.statistic, 40.5);
        assert_rel(r.p_value, 0.04961597388734891, 1e-9);
        assert_close(r.z.expect("z"), -1.9632599730110654, 1e-12);
        // n = 14 with ties: just past the permutation limit.
        let d14 = d(&[1, 1, 2, -2, 3, 4, 5, -6, 7, 8, 9, 10, 11, 12]);
        let r = wilcoxon_differences(&d14, WilcoxonMethod::Auto).expect("valid");
        assert_eq!(r.method, PValueMethod::Asymptotic);
        assert_eq!(r.statistic, 11.5);
        assert_rel(r.p_value, 0.010020977585649177, 1e-9);
    }

    #[test]
    fn wilcoxon_large_untied_sample() {
        // scipy 1.17, n = 60 distinct |d|: auto -> normal approximation, p = 0.0016284...;
        // method='exact' -> 0.0013428...
        let d60 = d(&[
            28, -32, -39, 27, -12, 30, 13, 58, 40, 42, 18, -48, 60, 7, 10, 56, -25, 23, -19, 35,
            45, 31, 37, -36, 3, 21, 33, 51, 50, 43, 14, 29, 8, -24, 52, 53, 20, 59, 44, 26, -34, 4,
            -9, 49, 22, 2, 17, -57, 15, -5, 6, -16, 11, -46, 55, 1, -38, 54, -47, 41,
        ]);
        let auto = wilcoxon_differences(&d60, WilcoxonMethod::Auto).expect("valid");
        assert_eq!(auto.method, PValueMethod::Asymptotic);
        assert_eq!(auto.statistic, 487.0);
        assert_rel(auto.p_value, 0.0016284285104229673, 1e-9);
        let exact = wilcoxon_differences(&d60, WilcoxonMethod::Exact).expect("valid");
        assert_close(exact.p_value, 0.0013428359419933589, 1e-14);
    }

    #[test]
    fn wilcoxon_exact_distribution_small_n() {
        // n = 3: W+ takes 0,1,2,3,3,4,5,6 over the 8 sign patterns.
        let pmf = signed_rank_pmf(3);
        let want = [1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0].map(|c| c / 8.0);
        assert_eq!(pmf, want.to_vec());
        assert_eq!(cdf(&pmf, 3.0), 5.0 / 8.0);
        assert_eq!(sf(&pmf, 3.0), 5.0 / 8.0);
        assert_eq!(cdf(&pmf, -1.0), 0.0);
        assert_eq!(sf(&pmf, 7.0), 0.0);
    }

    #[test]
    fn wilcoxon_degenerate_and_invalid_input() {
        let r = wilcoxon_signed_rank(&[1.0, 2.0], &[1.0, 2.0]).expect("valid");
        assert_eq!(r.p_value, 1.0);
        assert_eq!(r.method, PValueMethod::NoDifferences);
        assert_eq!(r.direction, Direction::Neither);
        assert_eq!(r.n_used, 0);
        assert_eq!(
            wilcoxon_signed_rank(&[1.0], &[1.0, 2.0]),
            Err(StatsError::LengthMismatch {
                index: 1,
                expected: 1,
                got: 2
            })
        );
        assert_eq!(wilcoxon_signed_rank(&[], &[]), Err(StatsError::Empty));
        assert_eq!(
            wilcoxon_signed_rank(&[1.0, f64::NAN], &[0.0, 0.0]),
            Err(StatsError::NonFinite {
                sample: 0,
                index: 1
            })
        );
    }

    #[test]
    fn friedman_published_example() {
        // scipy.stats.friedmanchisquare documentation (scipy <= 1.11): pulse before,
        // immediately after and five minutes after exercise.
        let before = d(&[72, 96, 88, 92, 74, 76, 82]);
        let immediately_after = d(&[120, 120, 132, 120, 101, 96, 112]);
        let five_min_after = d(&[76, 95, 104, 96, 84, 72, 76]);
        let r = friedman(&[before, immediately_after, five_min_after]).expect("valid");
        assert_close(r.statistic, 10.57142857142857, 1e-12);
        assert_close(r.p_value, 0.005063414171757498, 1e-15);
        assert_eq!(r.df, 2);
        // Rank sums 10, 21, 11 over 7 blocks.
        assert_eq!(r.mean_ranks, vec![10.0 / 7.0, 3.0, 11.0 / 7.0]);
    }

    #[test]
    fn friedman_with_ties() {
        // HypothesisTests.jl FriedmanTest reference, confirmed with scipy 1.17.
        let a1 = d(&[4, 6, 3, 4, 3, 2, 2, 7, 6, 5, 3, 8, 6, 1, 5, 7]);
        let a2 = d(&[5, 6, 8, 7, 7, 8, 4, 6, 4, 5, 2, 4, 4, 3, 8, 9]);
        let a3 = d(&[2, 4, 4, 3, 2, 2, 1, 4, 3, 2, 5, 3, 5, 7, 6, 1]);
        let r = friedman(&[&a1[..], &a2[..], &a3[..]]).expect("valid");
        assert_close(r.statistic, 8.098360655737705, 1e-12);
        assert_close(r.p_value, 0.017436661128762587, 1e-15);
        // Rank sums 33.5, 39, 23.5.
        assert_eq!(r.mean_ranks, vec![33.5 / 16.0, 39.0 / 16.0, 23.5 / 16.0]);
    }

    #[test]
    fn friedman_hand_computed_without_ties() {
        // Blocks (x, y, z): (1,2,3) (2,3,1) (3,4,5) (4,5,6) -> ranks (1,2,3) (2,3,1) (1,2,3)
        // (1,2,3); rank sums R = 5, 9, 10. chi2 = 12 / (n k (k+1)) * sum R^2 - 3 n (k+1)
        // = 12 / 48 * (25 + 81 + 100) - 48 = 51.5 - 48 = 3.5; p = exp(-3.5 / 2) for 2 df.
        let r = friedman(&[d(&[1, 2, 3, 4]), d(&[2, 3, 4, 5]), d(&[3, 1, 5, 6])]).expect("valid");
        assert_close(r.statistic, 3.5, 1e-12);
        assert_close(r.p_value, (-1.75f64).exp(), 1e-15);
    }

    #[test]
    fn friedman_edge_cases() {
        // Two treatments: allowed. Blocks (1,2) (1,2) (2,1): R = 4, 5;
        // chi2 = 12 / (3 * 2 * 3) * 41 - 27 = 1/3.
        let r = friedman(&[d(&[1, 1, 2]), d(&[2, 2, 1])]).expect("valid");
        assert_close(r.statistic, 1.0 / 3.0, 1e-12);
        assert_eq!(r.df, 1);
        // All tied in every block.
        let r = friedman(&[d(&[1, 2]), d(&[1, 2]), d(&[1, 2])]).expect("valid");
        assert_eq!((r.statistic, r.p_value), (0.0, 1.0));
        assert_eq!(
            friedman(&[d(&[1, 2])]),
            Err(StatsError::TooFewTreatments(1))
        );
        assert_eq!(
            friedman(&[d(&[1, 2]), d(&[1])]),
            Err(StatsError::LengthMismatch {
                index: 1,
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            friedman(&[Vec::<f64>::new(), Vec::new()]),
            Err(StatsError::Empty)
        );
        assert!(matches!(
            friedman(&[vec![1.0], vec![f64::INFINITY]]),
            Err(StatsError::NonFinite { sample: 1, .. })
        ));
    }

    #[test]
    fn holm_hand_example() {
        // Sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> the
        // running maximum lifts the last to 0.06.
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adj.iter().zip(want) {
            assert_close(*a, w, 1e-15);
        }
        // Capped at 1.
        assert_eq!(holm(&[0.5, 0.6]), vec![1.0, 1.0]);
        // NaN stays out of m: two real tests, tied at 0.02 -> 0.04 for both.
        let adj = holm(&[0.02, f64::NAN, 0.02]);
        assert_close(adj[0], 0.04, 1e-15);
        assert!(adj[1].is_nan());
        assert_close(adj[2], 0.04, 1e-15);
        assert!(holm(&[]).is_empty());
    }

    #[test]
    fn results_serialize() {
        let r = wilcoxon_differences(&d(&SCIPY_D), WilcoxonMethod::Asymptotic).expect("valid");
        let back: WilcoxonResult =
            serde_json::from_str(&serde_json::to_string(&r).expect("ser")).expect("de");
        // serde_json's default float parser may be 1 ulp off; the rest must match exactly.
        assert_eq!(
            (back.method, back.direction, back.n, back.z.is_some()),
            (r.method, r.direction, r.n, true)
        );
        assert_rel(back.p_value, r.p_value, 1e-15);
        assert_rel(back.mean_difference, r.mean_difference, 1e-15);
    }
}
