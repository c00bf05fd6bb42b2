//! Ranking metrics of Schedl et al. (2021), eqs. 9-12, per user; catalogue coverage; and the
//! exact reduction of per-user rows into means.
//!
//! Every metric here is "higher is better" and lies in `[0, 1]`.

use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::exact::ExactSum;

/// Number of metrics stored per cut-off K in a [`UserMetrics`] row.
pub const METRICS_PER_K: usize = 4;

/// The cut-offs K a run evaluates at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricSet {
    pub ks: Vec<usize>,
}

impl Default for MetricSet {
    /// The paper's cut-offs, K = 10 and K = 100.
    fn default() -> Self {
        Self { ks: vec![10, 100] }
    }
}

impl MetricSet {
    /// Validated cut-offs: non-empty, no zero (P@0 divides by zero), no repeats (column names
    /// would collide). Order is kept; it is the column order of every row.
    pub fn new(ks: Vec<usize>) -> Result<Self, EvalError> {
        validate_ks(&ks)?;
        Ok(Self { ks })
    }

    pub fn columns(&self) -> Vec<String> {
        columns(&self.ks)
    }

    pub fn user_metrics(&self, ranking: &[u32], targets: &[u32]) -> Option<UserMetrics> {
        user_metrics(ranking, targets, &self.ks)
    }

    /// The largest K: how many items a ranker has to produce per user.
    pub fn max_k(&self) -> usize {
        self.ks.iter().copied().max().unwrap_or(0)
    }
}

pub(crate) fn validate_ks(ks: &[usize]) -> Result<(), EvalError> {
    if ks.is_empty() {
        return Err(EvalError::EmptyKs);
    }
    for (i, &k) in ks.iter().enumerate() {
        if k == 0 {
            return Err(EvalError::ZeroK);
        }
        if ks[..i].contains(&k) {
            return Err(EvalError::DuplicateK(k));
        }
    }
    Ok(())
}

/// One metric family; combined with a K it names a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Metric {
    Precision,
    Recall,
    Ndcg,
    Map,
}

impl Metric {
    /// The storage order inside each K block of a [`UserMetrics`] row.
    pub const ALL: [Metric; METRICS_PER_K] =
        [Metric::Precision, Metric::Recall, Metric::Ndcg, Metric::Map];

    pub fn short_name(self) -> &'static str {
        match self {
            Metric::Precision => "P",
            Metric::Recall => "R",
            Metric::Ndcg => "NDCG",
            Metric::Map => "MAP",
        }
    }

    /// Column name as in the paper's tables: "P@10", "R@10", "NDCG@10", "MAP@10".
    pub fn name(self, k: usize) -> String {
        format!("{}@{k}", self.short_name())
    }

    fn offset(self) -> usize {
        match self {
            Metric::Precision => 0,
            Metric::Recall => 1,
            Metric::Ndcg => 2,
            Metric::Map => 3,
        }
    }
}

/// Column names of a [`UserMetrics`] row: for each K in `ks` (in the given order) the block
/// P@K, R@K, NDCG@K, MAP@K.
pub fn columns(ks: &[usize]) -> Vec<String> {
    ks.iter()
        .flat_map(|&k| Metric::ALL.iter().map(move |m| m.name(k)))
        .collect()
}

/// Index of `metric` at cut-off `k` in a row laid out for `ks`.
pub fn column_index(ks: &[usize], metric: Metric, k: usize) -> Option<usize> {
    ks.iter()
        .position(|&x| x == k)
        .map(|ki| ki * METRICS_PER_K + metric.offset())
}

/// The metrics of one user. Layout is K-major: `values[ki * 4 + m]` holds metric `m`
/// ([`Metric::ALL`] order: P, R, NDCG, MAP) at cut-off `ks[ki]`; [`columns`] names them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserMetrics {
    pub values: Vec<f64>,
}

impl UserMetrics {
    pub fn get(&self, ks: &[usize], metric: Metric, k: usize) -> Option<f64> {
        column_index(ks, metric, k).and_then(|i| self.values.get(i).copied())
    }
}

/// P@K, R@K, NDCG@K and MAP@K (paper eqs. 9-12) of one user at every K in `ks`.
///
/// * `ranking`: recommended items, best first. It may be shorter than K (small catalogue,
///   many exclusions); missing positions count as non-relevant, and P@K still divides by K.
/// * `targets`: the user's held-out items, sorted ascending without repeats.
///
/// Returns `None` when `targets` is empty: recall and NDCG are undefined for such a user, so
/// callers count the user as skipped instead of averaging in zeros.
///
/// With `N_u = |targets|` and `rel(i) = 1` when `ranking[i-1]` is a target:
/// `P@K = sum rel / K`, `R@K = sum rel / min(K, N_u)`,
/// `NDCG@K = (sum rel(i) / log2(i+1)) / (sum_{i <= min(K, N_u)} 1 / log2(i+1))`,
/// `AP@K = sum P@i rel(i) / min(K, N_u)` (MAP is its mean over users).
///
/// A ranking must not repeat an item (top-K selection never does). Debug builds assert this;
/// release builds count a repeated target only at its first position, which keeps every metric
/// within `[0, 1]`.
pub fn user_metrics(ranking: &[u32], targets: &[u32], ks: &[usize]) -> Option<UserMetrics> {
    if targets.is_empty() {
        return None;
    }
    debug_assert!(
        targets.windows(2).all(|w| w[0] < w[1]),
        "targets must be sorted ascending and deduplicated"
    );
    #[cfg(debug_assertions)]
    {
        let depth = ks.iter().copied().max().unwrap_or(0).min(ranking.len());
        let mut prefix = ranking[..depth].to_vec();
        prefix.sort_unstable();
        debug_assert!(
            prefix.windows(2).all(|w| w[0] != w[1]),
            "ranking contains a duplicate item"
        );
    }
    Some(metrics_counting_once(ranking, targets, ks))
}

/// Running sums along the ranking, read off whenever the position reaches a cut-off.
#[derive(Default)]
struct Prefix {
    hits: usize,
    dcg: f64,
    idcg: f64,
    /// sum over relevant positions i of P@i.
    ap: f64,
}

fn metrics_counting_once(ranking: &[u32], targets: &[u32], ks: &[usize]) -> UserMetrics {
    let n_u = targets.len();
    let max_k = ks.iter().copied().max().unwrap_or(0);
    // Past both the ranking's end and N_u nothing changes, so a huge K costs nothing extra.
    let limit = max_k.min(ranking.len().max(n_u));
    let mut order: Vec<usize> = (0..ks.len()).collect();
    order.sort_by_key(|&j| ks[j]);
    let mut values = vec![0.0; ks.len() * METRICS_PER_K];
    let mut seen = vec![false; n_u];
    let mut acc = Prefix::default();
    let mut next = 0;
    // K = 0 is rejected by MetricSet; here it just stays all zeros rather than dividing by 0.
    while next < order.len() && ks[order[next]] == 0 {
        next += 1;
    }
    for i in 1..=limit {
        let discount = 1.0 / ((i + 1) as f64).log2();
        if i <= n_u {
            acc.idcg += discount;
        }
        if let Some(item) = ranking.get(i - 1) {
            if let Ok(t) = targets.binary_search(item) {
                if !seen[t] {
                    seen[t] = true;
                    acc.hits += 1;
                    acc.dcg += discount;
                    acc.ap += acc.hits as f64 / i as f64;
                }
            }
        }
        while next < order.len() && ks[order[next]] == i {
            record(&mut values, order[next], i, n_u, &acc);
            next += 1;
        }
    }
    for &j in &order[next..] {
        record(&mut values, j, ks[j], n_u, &acc);
    }
    UserMetrics { values }
}

fn record(values: &mut [f64], j: usize, k: usize, n_u: usize, acc: &Prefix) {
    let best_possible = k.min(n_u) as f64;
    let hits = acc.hits as f64;
    let base = j * METRICS_PER_K;
    values[base] = hits / k as f64;
    values[base + 1] = hits / best_possible;
    // idcg >= 1 here: k >= 1 and n_u >= 1 put position 1 in it.
    values[base + 2] = acc.dcg / acc.idcg;
    values[base + 3] = acc.ap / best_possible;
}

/// Items recommended to at least one user within the top K, as a bitset over dense item
/// indices. Workers keep one each and the coordinator ORs them together.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    bits: Vec<u64>,
}

impl Coverage {
    pub fn new(catalogue_size: usize) -> Self {
        Self {
            bits: vec![0; catalogue_size.div_ceil(64)],
        }
    }

    /// Marks the first `k` items of `ranking`. Items past the catalogue size given to
    /// [`Coverage::new`] grow the set instead of panicking; [`Coverage::fraction`] ignores them.
    pub fn add(&mut self, ranking: &[u32], k: usize) {
        for &item in ranking.iter().take(k) {
            let (word, bit) = (item as usize / 64, item % 64);
            if word >= self.bits.len() {
                self.bits.resize(word + 1, 0);
            }
            self.bits[word] |= 1u64 << bit;
        }
    }

    pub fn merge(&mut self, other: &Coverage) {
        if other.bits.len() > self.bits.len() {
            self.bits.resize(other.bits.len(), 0);
        }
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a |= b;
        }
    }

    /// Number of distinct items marked so far.
    pub fn distinct(&self) -> u64 {
        self.bits.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Share of the catalogue (items `0..catalogue_size`) recommended at least once; 0 for an
    /// empty catalogue.
    pub fn fraction(&self, catalogue_size: usize) -> f64 {
        if catalogue_size == 0 {
            return 0.0;
        }
        let full = catalogue_size / 64;
        let mut count: u64 = self
            .bits
            .iter()
            .take(full)
            .map(|w| u64::from(w.count_ones()))
            .sum();
        let rest = catalogue_size % 64;
        if rest > 0 {
            if let Some(w) = self.bits.get(full) {
                count += u64::from((w & ((1u64 << rest) - 1)).count_ones());
            }
        }
        count as f64 / catalogue_size as f64
    }
}

/// One [`Coverage`] per cut-off, fed with whole rankings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageAtKs {
    ks: Vec<usize>,
    per_k: Vec<Coverage>,
}

impl CoverageAtKs {
    pub fn new(ks: &[usize], catalogue_size: usize) -> Self {
        Self {
            ks: ks.to_vec(),
            per_k: ks.iter().map(|_| Coverage::new(catalogue_size)).collect(),
        }
    }

    pub fn ks(&self) -> &[usize] {
        &self.ks
    }

    pub fn add(&mut self, ranking: &[u32]) {
        for (cov, &k) in self.per_k.iter_mut().zip(&self.ks) {
            cov.add(ranking, k);
        }
    }

    pub fn merge(&mut self, other: &CoverageAtKs) -> Result<(), EvalError> {
        if self.ks != other.ks {
            return Err(EvalError::KsMismatch {
                left: self.ks.clone(),
                right: other.ks.clone(),
            });
        }
        for (a, b) in self.per_k.iter_mut().zip(&other.per_k) {
            a.merge(b);
        }
        Ok(())
    }

    /// Coverage@K for each K, in `ks` order.
    pub fn fractions(&self, catalogue_size: usize) -> Vec<f64> {
        self.per_k
            .iter()
            .map(|c| c.fraction(catalogue_size))
            .collect()
    }
}

/// Column sums of per-user metric rows, plus how many users were evaluated and skipped.
///
/// Sums are exact (a wide fixed-point accumulator), so adding and merging commute and
/// associate: however users are sharded over workers and in whatever order partial sums are
/// merged, [`MetricSums::means`] returns the same bits as a single process adding every row.
/// Each mean is the exact sum rounded once to `f64`, divided by the user count.
///
/// Sums cannot tell whether a user was counted twice; sharding by user keeps workers
/// disjoint, and [`MetricSums::from_rows`] checks a row set it is given whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricSums {
    sums: Vec<ExactSum>,
    users: u64,
    skipped: u64,
}

impl MetricSums {
    pub fn new(columns: usize) -> Self {
        Self {
            sums: vec![ExactSum::default(); columns],
            users: 0,
            skipped: 0,
        }
    }

    /// Sums sized for rows laid out by `ks`.
    pub fn for_ks(ks: &[usize]) -> Self {
        Self::new(ks.len() * METRICS_PER_K)
    }

    /// Reduces a complete set of `(user, row)` pairs; a repeated user is an error since it
    /// would silently weigh that user twice.
    pub fn from_rows(columns: usize, rows: &[(u32, UserMetrics)]) -> Result<Self, EvalError> {
        let mut ids: Vec<u32> = rows.iter().map(|(u, _)| *u).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(EvalError::DuplicateUser(w[0]));
        }
        let mut sums = Self::new(columns);
        for (_, row) in rows {
            sums.add(row)?;
        }
        Ok(sums)
    }

    pub fn columns(&self) -> usize {
        self.sums.len()
    }

    /// Adds one user's row. A row of the wrong width or with a value outside `[0, inf)` is
    /// rejected without touching any column.
    pub fn add(&mut self, row: &UserMetrics) -> Result<(), EvalError> {
        if row.values.len() != self.sums.len() {
            return Err(EvalError::ColumnMismatch {
                expected: self.sums.len(),
                got: row.values.len(),
            });
        }
        if let Some((column, &value)) = row
            .values
            .iter()
            .enumerate()
            .find(|(_, v)| !ExactSum::accepts(**v))
        {
            return Err(EvalError::InvalidMetricValue { column, value });
        }
        for (sum, &v) in self.sums.iter_mut().zip(&row.values) {
            sum.add(v);
        }
        self.users += 1;
        Ok(())
    }

    /// Counts users that had no held-out targets ([`user_metrics`] returned `None`).
    pub fn add_skipped(&mut self, n: u64) {
        self.skipped += n;
    }

    pub fn merge(&mut self, other: &MetricSums) -> Result<(), EvalError> {
        if other.sums.len() != self.sums.len() {
            return Err(EvalError::ColumnMismatch {
                expected: self.sums.len(),
                got: other.sums.len(),
            });
        }
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            a.merge(b);
        }
        self.users += other.users;
        self.skipped += other.skipped;
        Ok(())
    }

    pub fn users(&self) -> u64 {
        self.users
    }

    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Column sums, each correctly rounded from the exact total.
    pub fn sums(&self) -> Vec<f64> {
        self.sums.iter().map(ExactSum::to_f64).collect()
    }

    /// Column means; `None` when no user was evaluated.
    pub fn means(&self) -> Option<Vec<f64>> {
        if self.users == 0 {
            return None;
        }
        let n = self.users as f64;
        Some(self.sums.iter().map(|s| s.to_f64() / n).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const EPS: f64 = 1e-12;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= EPS
    }

    fn assert_row(ks: &[usize], m: &UserMetrics, k: usize, expected: [f64; 4]) {
        for (metric, want) in Metric::ALL.iter().zip(expected) {
            let got = m.get(ks, *metric, k).expect("column exists");
            assert!(
                close(got, want),
                "{}: got {got}, want {want}",
                metric.name(k)
            );
        }
    }

    #[test]
    fn names_and_layout() {
        assert_eq!(Metric::Precision.name(10), "P@10");
        assert_eq!(Metric::Recall.name(10), "R@10");
        assert_eq!(Metric::Ndcg.name(10), "NDCG@10");
        assert_eq!(Metric::Map.name(100), "MAP@100");
        assert_eq!(
            columns(&[10, 100]),
            ["P@10", "R@10", "NDCG@10", "MAP@10", "P@100", "R@100", "NDCG@100", "MAP@100"]
        );
        assert_eq!(column_index(&[10, 100], Metric::Ndcg, 100), Some(6));
        assert_eq!(column_index(&[10, 100], Metric::Ndcg, 5), None);
        assert_eq!(MetricSet::default().ks, vec![10, 100]);
        assert_eq!(MetricSet::default().max_k(), 100);
    }

    #[test]
    fn metric_set_validation() {
        assert_eq!(MetricSet::new(vec![]), Err(EvalError::EmptyKs));
        assert_eq!(MetricSet::new(vec![10, 0]), Err(EvalError::ZeroK));
        assert_eq!(
            MetricSet::new(vec![10, 5, 10]),
            Err(EvalError::DuplicateK(10))
        );
        assert_eq!(
            MetricSet::new(vec![100, 10]).map(|s| s.ks),
            Ok(vec![100, 10])
        );
    }

    #[test]
    fn hand_computed_case() {
        // ranking 5 3 9 1 7, targets {1, 3, 8}: hits at positions 2 and 4, N_u = 3.
        let ks = [1, 3, 5];
        let m = user_metrics(&[5, 3, 9, 1, 7], &[1, 3, 8], &ks).expect("targets non-empty");
        let d = |i: f64| 1.0 / (i + 1.0).log2();
        // K=1: no hit yet.
        assert_row(&ks, &m, 1, [0.0, 0.0, 0.0, 0.0]);
        // K=3: one hit at 2. P = 1/3, R = 1/min(3,3) = 1/3,
        // NDCG = (1/log2 3) / (1 + 1/log2 3 + 1/log2 4) = 0.63093 / 2.13093 = 0.2960819,
        // AP = (1/3) * P@2 = (1/3)(1/2) = 1/6.
        assert!(close(
            d(2.0) / (d(1.0) + d(2.0) + d(3.0)),
            0.2960819109658652
        ));
        assert_row(
            &ks,
            &m,
            3,
            [1.0 / 3.0, 1.0 / 3.0, 0.2960819109658652, 1.0 / 6.0],
        );
        // K=5: hits at 2 and 4. P = 2/5, R = 2/min(5,3) = 2/3,
        // NDCG = (1/log2 3 + 1/log2 5) / 2.13093 = 0.4981893 (IDCG stops at N_u = 3),
        // AP = (1/3)(P@2 + P@4) = (1/3)(1/2 + 2/4) = 1/3.
        assert_row(&ks, &m, 5, [0.4, 2.0 / 3.0, 0.49818925746641285, 1.0 / 3.0]);
    }

    #[test]
    fn k_below_number_of_targets() {
        // ranking 1 9, targets {1, 2, 3}, K = 2 < N_u = 3: every denominator is min(K, N_u) = 2.
        // P = 1/2, R = 1/2 (not 1/3), NDCG = 1 / (1 + 1/log2 3) = 0.6131472 (IDCG over 2
        // positions), AP = (1/2) * P@1 = 1/2.
        let m = user_metrics(&[1, 9], &[1, 2, 3], &[2]).expect("some");
        assert_row(&[2], &m, 2, [0.5, 0.5, 0.6131471927654584, 0.5]);
    }

    #[test]
    fn column_order_follows_ks_not_sorted_order() {
        let a = user_metrics(&[5, 3, 9, 1, 7], &[1, 3, 8], &[5, 1, 3]).expect("some");
        let b = user_metrics(&[5, 3, 9, 1, 7], &[1, 3, 8], &[1, 3, 5]).expect("some");
        assert_eq!(&a.values[0..4], &b.values[8..12]);
        assert_eq!(&a.values[4..8], &b.values[0..4]);
        assert_eq!(&a.values[8..12], &b.values[4..8]);
    }

    #[test]
    fn fewer_targets_than_k_and_short_ranking() {
        // Catalogue of 2 items: ranking has 2 entries for K=10, one target at position 1.
        // P@10 = 1/10 (still divided by K), R@10 = 1/min(10,1) = 1, NDCG = 1/1 = 1,
        // AP = (1/1) * P@1 = 1.
        let m = user_metrics(&[2, 4], &[2], &[10]).expect("some");
        assert_row(&[10], &m, 10, [0.1, 1.0, 1.0, 1.0]);
        // Target at position 2 of 2, N_u = 2 (one target never recommended).
        // P = 1/10, R = 1/2, NDCG = (1/log2 3) / (1 + 1/log2 3) = 0.3868528,
        // AP = (1/2) * P@2 = (1/2)(1/2) = 0.25.
        let m = user_metrics(&[4, 2], &[2, 6], &[10]).expect("some");
        assert_row(&[10], &m, 10, [0.1, 0.5, 0.38685280723454163, 0.25]);
    }

    #[test]
    fn perfect_and_empty_rankings() {
        let m = user_metrics(&[3, 1, 2], &[1, 2, 3], &[3]).expect("some");
        assert_row(&[3], &m, 3, [1.0, 1.0, 1.0, 1.0]);
        let m = user_metrics(&[], &[1, 2, 3], &[3, 10]).expect("some");
        assert!(m.values.iter().all(|&v| v == 0.0));
        assert_eq!(m.values.len(), 8);
    }

    #[test]
    fn empty_targets_are_skipped() {
        assert_eq!(user_metrics(&[1, 2, 3], &[], &[10]), None);
        assert_eq!(user_metrics(&[], &[], &[10]), None);
    }

    #[test]
    fn huge_k_is_cheap_and_correct() {
        let m = user_metrics(&[7], &[7], &[usize::MAX / 2]).expect("some");
        assert_eq!(m.values[1], 1.0);
        assert_eq!(m.values[2], 1.0);
        assert_eq!(m.values[3], 1.0);
        assert!(m.values[0] > 0.0 && m.values[0] < 1e-15);
    }

    #[test]
    fn duplicate_targets_in_ranking_count_once() {
        // ranking 2 2 5, targets {2, 5}: rel = 1 0 1 once the repeat is ignored.
        // P@3 = 2/3, R@3 = 2/2 = 1, NDCG = (1 + 1/log2 4) / (1 + 1/log2 3) = 1.5 / 1.63093
        // = 0.9197208, AP = (1/2)(P@1 + P@3) = (1/2)(1 + 2/3) = 5/6.
        // Counting the repeat would give P = 1 and R = 1.5.
        let m = metrics_counting_once(&[2, 2, 5], &[2, 5], &[3]);
        assert_row(&[3], &m, 3, [2.0 / 3.0, 1.0, 0.9197207891481876, 5.0 / 6.0]);
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "duplicate item"))]
    fn duplicate_in_ranking_is_caught_in_debug_builds() {
        let m = user_metrics(&[2, 2, 5], &[2, 5], &[3]).expect("some");
        assert!(close(m.values[0], 2.0 / 3.0));
        assert!(close(m.values[1], 1.0));
    }

    /// Straight transcription of eqs. 9-12, no shared code with the implementation.
    fn naive(ranking: &[u32], targets: &[u32], k: usize) -> [f64; 4] {
        let rel = |i: usize| -> f64 {
            match ranking.get(i - 1) {
                Some(item) if targets.contains(item) => 1.0,
                _ => 0.0,
            }
        };
        let n_u = targets.len();
        let hits: f64 = (1..=k).map(rel).sum();
        let p = hits / k as f64;
        let r = hits / k.min(n_u) as f64;
        let dcg: f64 = (1..=k).map(|i| rel(i) / ((i + 1) as f64).log2()).sum();
        let idcg: f64 = (1..=k.min(n_u))
            .map(|i| 1.0 / ((i + 1) as f64).log2())
            .sum();
        let p_at = |i: usize| (1..=i).map(rel).sum::<f64>() / i as f64;
        let ap = (1..=k).map(|i| p_at(i) * rel(i)).sum::<f64>() / k.min(n_u) as f64;
        [p, r, dcg / idcg, ap]
    }

    #[test]
    fn matches_naive_definition_on_random_rankings() {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        for case in 0..3000 {
            let catalogue = rng.random_range(1..80u32);
            let mut items: Vec<u32> = (0..catalogue).collect();
            items.shuffle(&mut rng);
            let len = rng.random_range(0..=items.len().min(60));
            let ranking = &items[..len];
            let mut targets: Vec<u32> = (0..catalogue).filter(|_| rng.random_bool(0.2)).collect();
            if targets.is_empty() {
                targets.push(rng.random_range(0..catalogue));
            }
            let mut ks: Vec<usize> = (0..rng.random_range(1..4))
                .map(|_| rng.random_range(1..70))
                .collect();
            ks.dedup();
            let m = user_metrics(ranking, &targets, &ks).expect("targets non-empty");
            assert_eq!(m.values.len(), ks.len() * METRICS_PER_K);
            for (ki, &k) in ks.iter().enumerate() {
                let want = naive(ranking, &targets, k);
                for (mi, w) in want.iter().enumerate() {
                    let got = m.values[ki * METRICS_PER_K + mi];
                    assert!(
                        (got - w).abs() <= 1e-12,
                        "case {case} k {k} metric {mi}: {got} vs {w}"
                    );
                    assert!((0.0..=1.0 + 1e-12).contains(&got));
                }
            }
        }
    }

    #[test]
    fn top_k_rankings_feed_metrics() {
        // The kernels' top-K is what produces model rankings; it never repeats an item, so
        // the debug duplicate check stays quiet on real input.
        let scores = [0.1f32, 0.9, 0.3, 0.8, 0.5, 0.7];
        let ranking = archetype_kernels::cpu::topk::top_k(&scores, 3, &[3]);
        assert_eq!(ranking, vec![1, 5, 4]);
        let m = user_metrics(&ranking, &[4, 5], &[3]).expect("some");
        // hits at 2 and 3: P = 2/3, R = 1, AP = (1/2)(1/2 + 2/3) = 7/12.
        assert!(close(m.values[0], 2.0 / 3.0));
        assert!(close(m.values[1], 1.0));
        assert!(close(m.values[3], 7.0 / 12.0));
    }

    #[test]
    fn coverage_counts_distinct_items_within_k() {
        let mut a = Coverage::new(10);
        a.add(&[1, 2, 3], 2);
        a.add(&[2, 5], 2);
        assert_eq!(a.distinct(), 3);
        assert!(close(a.fraction(10), 0.3));
        let mut b = Coverage::new(10);
        b.add(&[9, 5], 10);
        a.merge(&b);
        assert_eq!(a.distinct(), 4);
        assert!(close(a.fraction(10), 0.4));
        // Out-of-catalogue ids grow the set but are not counted against the catalogue.
        a.add(&[130], 1);
        assert_eq!(a.distinct(), 5);
        assert!(close(a.fraction(10), 0.4));
        assert_eq!(a.fraction(0), 0.0);
        // Merging a longer set into a shorter one keeps the high bits.
        let mut c = Coverage::new(1);
        c.merge(&a);
        assert_eq!(c.distinct(), 5);
    }

    #[test]
    fn coverage_at_ks_merges_and_checks_ks() {
        let mut w1 = CoverageAtKs::new(&[1, 3], 100);
        let mut w2 = CoverageAtKs::new(&[1, 3], 100);
        w1.add(&[1, 2, 3]);
        w2.add(&[1, 4, 5]);
        w1.merge(&w2).expect("same ks");
        assert_eq!(w1.fractions(100), vec![0.01, 0.05]);
        let other = CoverageAtKs::new(&[3, 1], 100);
        assert!(matches!(
            w1.merge(&other),
            Err(EvalError::KsMismatch { .. })
        ));
    }

    fn random_rows(rng: &mut ChaCha8Rng, users: u32, ks: &[usize]) -> Vec<(u32, UserMetrics)> {
        let mut rows = Vec::new();
        for u in 0..users {
            let mut items: Vec<u32> = (0..500).collect();
            items.shuffle(rng);
            let targets: Vec<u32> = (0..500).filter(|_| rng.random_bool(0.05)).collect();
            if let Some(m) = user_metrics(&items[..100], &targets, ks) {
                rows.push((u * 7 + 3, m));
            }
        }
        rows
    }

    #[test]
    fn reduction_is_bit_identical_across_order_and_sharding() {
        let ks = [10, 100];
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let rows = random_rows(&mut rng, 400, &ks);
        let cols = ks.len() * METRICS_PER_K;
        let single = MetricSums::from_rows(cols, &rows).expect("valid rows");
        let reference = single.means().expect("users");
        // Plain mean agrees to rounding; the reduction must agree exactly with itself.
        for (c, mean) in reference.iter().enumerate() {
            let naive = rows.iter().map(|(_, m)| m.values[c]).sum::<f64>() / rows.len() as f64;
            assert!((mean - naive).abs() < 1e-12);
        }
        for trial in 0..20 {
            let mut shuffled = rows.clone();
            shuffled.shuffle(&mut rng);
            let workers = 1 + trial % 5;
            let mut parts = vec![MetricSums::new(cols); workers];
            for (i, (_, row)) in shuffled.iter().enumerate() {
                parts[(i * 31 + trial) % workers].add(row).expect("valid");
            }
            parts[0].add_skipped(2);
            parts.shuffle(&mut rng);
            let mut total = MetricSums::for_ks(&ks);
            for p in &parts {
                total.merge(p).expect("same width");
            }
            assert_eq!(total.users(), rows.len() as u64);
            assert_eq!(total.skipped(), 2);
            let means = total.means().expect("users");
            let bits: Vec<u64> = means.iter().map(|v| v.to_bits()).collect();
            let want: Vec<u64> = reference.iter().map(|v| v.to_bits()).collect();
            assert_eq!(bits, want, "trial {trial}");
        }
    }

    #[test]
    fn reduction_errors_and_edge_cases() {
        let row = UserMetrics {
            values: vec![0.5; 4],
        };
        assert_eq!(
            MetricSums::from_rows(4, &[(1, row.clone()), (2, row.clone()), (1, row.clone())]),
            Err(EvalError::DuplicateUser(1))
        );
        let mut s = MetricSums::new(4);
        assert_eq!(s.means(), None);
        assert_eq!(
            s.add(&UserMetrics { values: vec![0.5] }),
            Err(EvalError::ColumnMismatch {
                expected: 4,
                got: 1
            })
        );
        let bad = UserMetrics {
            values: vec![0.5, f64::NAN, 0.5, 0.5],
        };
        assert!(matches!(
            s.add(&bad),
            Err(EvalError::InvalidMetricValue { column: 1, .. })
        ));
        // The rejected row left nothing behind.
        s.add(&row).expect("valid");
        assert_eq!(s.users(), 1);
        assert_eq!(s.means(), Some(vec![0.5; 4]));
        assert!(s.merge(&MetricSums::new(8)).is_err());
        // Survives a JSON round trip, which is how workers ship partial sums.
        let json = serde_json::to_string(&s).expect("serialize");
        let back: MetricSums = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, s);
    }
}
