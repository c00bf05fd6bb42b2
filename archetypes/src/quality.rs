//! How good a map and a clustering are: neighbourhood preservation (the grid search's score)
//! and the adjusted Rand index (for tests against planted clusters).

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

/// Neighbourhood preservation of a clustering, the score the grid search maximises: for each
/// point in a cluster of size s, the share of its s - 1 nearest neighbours in the original space
/// that are its cluster-mates (R-precision); a point in no cluster scores 0; the mean is over
/// all points. A cluster that splits a true neighbourhood scores about the split share, one
/// that mixes neighbourhoods loses the foreign mates, and leaving points out costs their share.
/// `sq` is the original space's squared distances (n x n).
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
