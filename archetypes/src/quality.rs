//! How good a map and a clustering are: the silhouette on cosine distances and the consensus
//! of the grid's clusterings (the grid search's score is their product), neighbourhood
//! preservation (reported beside it), and the adjusted Rand index.

use std::collections::BTreeMap;

/// Squared Euclidean distances between the rows of a row-major n x d matrix.
pub fn squared_distances(points: &[f64], n: usize, d: usize) -> Vec<f64> {
    let mut out = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..i {
            let s: f64 = points[i * d..(i + 1) * d]
                .iter()
                .zip(&points[j * d..(j + 1) * d])
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            out[i * n + j] = s;
            out[j * n + i] = s;
        }
    }
    out
}

/// Cosine distances `1 - x.y / (|x| |y|)` between the rows of a row-major n x d matrix. On PCA
/// scores (centred country vectors) this compares the directions in which two countries
/// deviate from the average country, whatever the lengths: a small country's sampling noise
/// lengthens its deviation but, on average, does not turn it. A zero row is at distance 1 from
/// every other row.
pub fn cosine_distances(points: &[f64], n: usize, d: usize) -> Vec<f64> {
    let norms: Vec<f64> = (0..n)
        .map(|i| {
            points[i * d..(i + 1) * d]
                .iter()
                .map(|v| v * v)
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let mut out = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..i {
            let dot: f64 = points[i * d..(i + 1) * d]
                .iter()
                .zip(&points[j * d..(j + 1) * d])
                .map(|(a, b)| a * b)
                .sum();
            let den = norms[i] * norms[j];
            let v = if den > 0.0 { 1.0 - dot / den } else { 1.0 };
            out[i * n + j] = v;
            out[j * n + i] = v;
        }
    }
    out
}

/// Mean silhouette (Rousseeuw 1987) of `labels` on the n x n dissimilarities `dist`, over all
/// n points: point i in cluster A scores `(b - a) / max(a, b)`, with `a` its mean dissimilarity
/// to the rest of A and `b` the smallest mean dissimilarity to another cluster; a point alone
/// in its cluster scores 0 (scikit-learn's convention). Points labelled -1 (in no cluster)
/// score 0 and count in no other point's `a` or `b`, so leaving a country out gains what its
/// silhouette would have cost and loses what it would have earned. Fewer than two clusters
/// separate nothing: 0.
///
/// # Panics
/// If `dist.len() != labels.len()^2` (a caller bug, not a data condition).
pub fn silhouette(dist: &[f64], labels: &[i32]) -> f64 {
    let n = labels.len();
    assert_eq!(dist.len(), n * n, "dist must be n x n");
    let ids: Vec<i32> = {
        let mut v: Vec<i32> = labels.iter().copied().filter(|&l| l >= 0).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    if ids.len() < 2 {
        return 0.0;
    }
    let slot = |l: i32| ids.binary_search(&l).ok();
    let mut sizes = vec![0usize; ids.len()];
    for &l in labels {
        if let Some(s) = slot(l) {
            sizes[s] += 1;
        }
    }
    let mut sums = vec![0f64; ids.len()];
    let mut total = 0.0;
    for i in 0..n {
        let Some(own) = slot(labels[i]) else { continue };
        if sizes[own] < 2 {
            continue;
        }
        sums.iter_mut().for_each(|s| *s = 0.0);
        for j in 0..n {
            if let Some(s) = slot(labels[j]) {
                sums[s] += dist[i * n + j];
            }
        }
        let a = sums[own] / (sizes[own] - 1) as f64;
        let b = (0..ids.len())
            .filter(|&s| s != own)
            .map(|s| sums[s] / sizes[s] as f64)
            .fold(f64::INFINITY, f64::min);
        let m = a.max(b);
        if m > 0.0 {
            total += (b - a) / m;
        }
    }
    total / n as f64
}

/// The `k` nearest other points of each point (ties to the smaller index).
pub fn nearest(sq: &[f64], n: usize, k: usize) -> Vec<Vec<usize>> {
    (0..n)
        .map(|i| {
            let mut others: Vec<usize> = (0..n).filter(|&j| j != i).collect();
            others.sort_by(|&a, &b| sq[i * n + a].total_cmp(&sq[i * n + b]).then(a.cmp(&b)));
            others.truncate(k);
            others
        })
        .collect()
}

/// Neighbourhood preservation of a map: the mean share of each point's `k` nearest neighbours
/// in the original space that are also among its `k` nearest on the map.
pub fn map_preservation(original_nn: &[Vec<usize>], map_nn: &[Vec<usize>]) -> f64 {
    let n = original_nn.len();
    if n == 0 {
        return 0.0;
    }
    let mut sum = 0.0;
    for (a, b) in original_nn.iter().zip(map_nn) {
        if a.is_empty() {
            continue;
        }
        let kept = a.iter().filter(|x| b.contains(x)).count();
        sum += kept as f64 / a.len() as f64;
    }
    sum / n as f64
}

/// Neighbourhood preservation of a clustering (the grid search's former score, still reported
/// per pair): for each point in a cluster of size s, the share of its s - 1 nearest neighbours
/// in the original space that are its cluster-mates (R-precision); a point in no cluster
/// scores 0; the mean is over all points. A cluster that splits a true neighbourhood scores about the split share, one
/// that mixes neighbourhoods loses the foreign mates, and leaving points out costs their share.
/// It was replaced because Euclidean nearest neighbours favour big, well-sampled countries
/// (everyone's nearest) and every left-out country costs, so it rewarded a few large clusters
/// whatever the truth. `sq` is the original space's squared distances (n x n).
pub fn cluster_preservation(sq: &[f64], labels: &[i32]) -> f64 {
    let n = labels.len();
    if n == 0 {
        return 0.0;
    }
    let mut sizes: BTreeMap<i32, usize> = BTreeMap::new();
    for &l in labels {
        *sizes.entry(l).or_default() += 1;
    }
    let mut sum = 0.0;
    let mut others: Vec<usize> = Vec::with_capacity(n);
    for (i, &l) in labels.iter().enumerate() {
        if l < 0 {
            continue;
        }
        let mates = sizes.get(&l).copied().unwrap_or(1) - 1;
        if mates == 0 {
            continue;
        }
        others.clear();
        others.extend((0..n).filter(|&j| j != i));
        others.sort_by(|&a, &b| sq[i * n + a].total_cmp(&sq[i * n + b]).then(a.cmp(&b)));
        let shared = others[..mates].iter().filter(|&&j| labels[j] == l).count();
        sum += shared as f64 / mates as f64;
    }
    sum / n as f64
}

/// For each labelling, its mean adjusted Rand index with every other labelling of the
/// ensemble (0 for an ensemble of one): how far it stands for the ensemble as a whole
/// (Strehl and Ghosh 2002 pick the labelling with the best such mean as the ensemble's
/// representative).
///
/// # Panics
/// If the labellings differ in length, as [`adjusted_rand_index`] does.
pub fn consensus(labellings: &[&[i32]]) -> Vec<f64> {
    let m = labellings.len();
    let mut sums = vec![0f64; m];
    for i in 0..m {
        for j in 0..i {
            let a = adjusted_rand_index(labellings[i], labellings[j]);
            sums[i] += a;
            sums[j] += a;
        }
    }
    let others = m.saturating_sub(1).max(1) as f64;
    sums.into_iter().map(|s| s / others).collect()
}

/// Adjusted Rand index (Hubert and Arabie 1985) between two labellings of the same points;
/// every label value, -1 included, is a group of its own.
pub fn adjusted_rand_index(a: &[i32], b: &[i32]) -> f64 {
    assert_eq!(a.len(), b.len(), "labellings of different lengths");
    let n = a.len() as f64;
    let mut table: BTreeMap<(i32, i32), f64> = BTreeMap::new();
    let mut rows: BTreeMap<i32, f64> = BTreeMap::new();
    let mut cols: BTreeMap<i32, f64> = BTreeMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *table.entry((x, y)).or_default() += 1.0;
        *rows.entry(x).or_default() += 1.0;
        *cols.entry(y).or_default() += 1.0;
    }
    let c2 = |x: f64| x * (x - 1.0) / 2.0;
    let index: f64 = table.values().map(|&v| c2(v)).sum();
    let sa: f64 = rows.values().map(|&v| c2(v)).sum();
    let sb: f64 = cols.values().map(|&v| c2(v)).sum();
    let expected = sa * sb / c2(n).max(f64::MIN_POSITIVE);
    let max = 0.5 * (sa + sb);
    if (max - expected).abs() < 1e-12 {
        // Both labellings put everything in one group (or all apart): identical structure.
        return 1.0;
    }
    (index - expected) / (max - expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ari_is_one_for_relabelled_partitions_and_low_for_unrelated_ones() {
        assert!((adjusted_rand_index(&[0, 0, 1, 1, 2], &[5, 5, 3, 3, -1]) - 1.0).abs() < 1e-12);
        // scikit-learn: adjusted_rand_score([0,0,1,1],[0,1,0,1]) = -0.5
        assert!((adjusted_rand_index(&[0, 0, 1, 1], &[0, 1, 0, 1]) + 0.5).abs() < 1e-12);
        // adjusted_rand_score([0,0,0,1,1,1],[0,0,1,1,2,2]) = 0.24242424...
        let v = adjusted_rand_index(&[0, 0, 0, 1, 1, 1], &[0, 0, 1, 1, 2, 2]);
        assert!((v - 0.242_424_242_424_242_4).abs() < 1e-12, "{v}");
    }

    /// Eight points in 3-d (`x` below, row-major). The reference numbers come from
    /// `bench/.venv/bin/python` (scikit-learn 1.9.1, scipy 1.17.1) with
    /// `x = np.array(X).reshape(8, 3)` and the expressions quoted in each test.
    const X: [f64; 24] = [
        1.0, 0.2, 0.0, 0.9, 0.1, 0.1, 1.1, 0.3, -0.1, 0.0, 1.0, 0.2, 0.1, 0.8, 0.0, -0.2, 1.2, 0.1,
        0.5, 0.5, 1.0, 0.3, -0.2, -1.0,
    ];

    #[test]
    fn cosine_distances_match_scipy() {
        // scipy.spatial.distance.cdist(x, x, "cosine")[0] and [3, 7].
        let d = cosine_distances(&X, 8, 3);
        let row0 = [
            0.0, 0.00977905, 0.00618472, 0.80769231, 0.68377223, 0.96786708, 0.51961554, 0.7601623,
        ];
        for (a, b) in d[..8].iter().zip(row0) {
            assert!((a - b).abs() < 1e-8, "{a} {b}");
        }
        assert!((d[3 * 8 + 7] - 1.3689810819024548).abs() < 1e-12);
        assert_eq!(d[7 * 8 + 3], d[3 * 8 + 7]);
        // A zero row is at distance 1.
        let z = cosine_distances(&[0.0, 0.0, 1.0, 0.0], 2, 2);
        assert_eq!(z, vec![0.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn silhouette_matches_scikit_learn() {
        // lab = np.array([0, 0, 0, 1, 1, 1, -1, 1]); c = lab >= 0
        // silhouette_samples(x[c], lab[c], metric="cosine").sum() / len(lab)
        // (the noise country scores 0 and is no one's neighbour), then the same with
        // lab = [0, 0, 1, 1, 2, 2, -1, -1].
        let d = cosine_distances(&X, 8, 3);
        let s = silhouette(&d, &[0, 0, 0, 1, 1, 1, -1, 1]);
        assert!((s - 0.4876844436205006).abs() < 1e-12, "{s}");
        let s = silhouette(&d, &[0, 0, 1, 1, 2, 2, -1, -1]);
        assert!((s - 0.22183705238335832).abs() < 1e-12, "{s}");
        // One cluster, or none, separates nothing.
        assert_eq!(silhouette(&d, &[0, 0, 0, 0, 0, 0, -1, -1]), 0.0);
        assert_eq!(silhouette(&d, &[-1; 8]), 0.0);
        // A singleton cluster scores 0 but is another cluster for the others' b:
        // silhouette_samples(d, [0, 0, 1, 1, 2], metric="precomputed").mean() with d the
        // squared distances of 0, 1, 10, 11, 30.
        let e = squared_distances(&[0.0, 1.0, 10.0, 11.0, 30.0], 5, 1);
        let s = silhouette(&e, &[0, 0, 1, 1, 2]);
        assert!((s - 0.7919602009949751).abs() < 1e-12, "{s}");
    }

    #[test]
    fn consensus_is_the_mean_ari_with_the_others() {
        let a: &[i32] = &[0, 0, 1, 1, -1];
        let b: &[i32] = &[0, 0, 1, 1, 1];
        let c: &[i32] = &[0, 1, 0, 1, -1];
        let got = consensus(&[a, b, c]);
        let (ab, ac, bc) = (
            adjusted_rand_index(a, b),
            adjusted_rand_index(a, c),
            adjusted_rand_index(b, c),
        );
        let want = [(ab + ac) / 2.0, (ab + bc) / 2.0, (ac + bc) / 2.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{got:?} {want:?}");
        }
        // scikit-learn: adjusted_rand_score([0,0,1,1,-1], [0,0,1,1,1]) = 0.5454545454545454
        assert!((ab - 0.545_454_545_454_545_4).abs() < 1e-12, "{ab}");
        assert_eq!(consensus(&[a]), vec![0.0]);
        assert!(consensus(&[]).is_empty());
    }

    #[test]
    fn cluster_preservation_prefers_true_neighbourhoods() {
        // Three tight groups of four: at 0, 20 and 10 (so the groups at 0 and 20 are far).
        let pts = [
            0.0, 0.1, 0.2, 0.3, 20.0, 20.1, 20.2, 20.3, 10.0, 10.1, 10.2, 10.3,
        ];
        let sq = squared_distances(&pts, 12, 1);
        let right = cluster_preservation(&sq, &[0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
        assert!((right - 1.0).abs() < 1e-12, "{right}");
        // Splitting a group across its neighbourhoods: 0.0 with 0.2, 0.1 with 0.3.
        let split = cluster_preservation(&sq, &[0, 3, 0, 3, 1, 1, 1, 1, 2, 2, 2, 2]);
        // Mixing the two far groups: their 7 nearest include the middle group.
        let mixed = cluster_preservation(&sq, &[0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2]);
        let noisy = cluster_preservation(&sq, &[0, 0, 0, 0, 1, 1, 1, 1, -1, -1, -1, -1]);
        assert!(split < right && mixed < right, "{split} {mixed}");
        assert!((noisy - 2.0 / 3.0).abs() < 1e-12, "{noisy}");
        // Identical map: preservation 1.
        let nn = nearest(&sq, 12, 2);
        assert!((map_preservation(&nn, &nn) - 1.0).abs() < 1e-12);
    }
}
