//! OPTICS with xi-steep cluster extraction, following scikit-learn 1.9's `OPTICS` (Euclidean
//! metric, `max_eps = inf`, `cluster_method = "xi"`) and `cluster_optics_xi`.
//!
//! Written by hand from `sklearn/cluster/_optics.py` (no Rust crate reproduces sklearn's
//! ordering tie-breaks or its xi extraction). Mirrored behaviour:
//!
//! * **Core distances**: distance to the `min_samples`-th nearest neighbour counting the point
//!   itself (sklearn queries `kneighbors(X, min_samples)` on the training points), then
//!   `np.around(.., decimals=15)`, i.e. `rint(x * 1e15) / 1e15`.
//! * **Ordering**: repeatedly the unprocessed point with the smallest reachability, ties to the
//!   smaller index (`np.argmin`), including when every remaining reachability is infinite.
//!   Each processed point offers `round15(max(dist, core))` to every unprocessed point and
//!   replaces its reachability (and predecessor) only on a strict improvement.
//! * **Xi extraction**: `_xi_cluster`, `_extend_region`, `_update_filter_sdas`,
//!   `_correct_predecessor` and `_extract_xi_labels` line by line, with sklearn's `inf`
//!   appended to the reachability plot, its corrections of the original paper (steep-down
//!   definition and criterion 4c), and its `0/0 = NaN` ratios that are neither steep nor
//!   up/down. Clusters come out in sklearn's `cluster_hierarchy_` order (smaller nested
//!   clusters before the ones containing them); labels go to the first, innermost clusters.
//!
//! Distances are `sqrt(sum (x - y)^2)` summed in feature order, which is what sklearn's
//! KD-tree (its choice for at most 15 features and `min_samples < n / 2`) and scipy's `cdist`
//! compute. When sklearn falls back to brute force (more than 15 features, or
//! `min_samples >= n / 2`), its core distances come from the `|x|^2 - 2 x.y + |y|^2` form and
//! can differ in the last bits (and for exact duplicates be ~1e-8 instead of 0).
//! Fractional `min_samples`/`min_cluster_size` (sklearn's floats in (0, 1]) are not supported.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpticsParams {
    pub min_samples: usize,
    /// `None` uses `min_samples`, as sklearn.
    pub min_cluster_size: Option<usize>,
    pub xi: f64,
    pub predecessor_correction: bool,
}

impl Default for OpticsParams {
    fn default() -> Self {
        Self {
            min_samples: 3,
            min_cluster_size: None,
            xi: 0.05,
            predecessor_correction: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct OpticsResult {
    pub ordering: Vec<usize>,
    /// Per point (not in order); `f64::INFINITY` where undefined (the first point of the order).
    pub reachability: Vec<f64>,
    /// Per point.
    pub core_distances: Vec<f64>,
    pub predecessor: Vec<Option<usize>>,
    /// Per point; -1 = in no cluster.
    pub labels: Vec<i32>,
    /// sklearn's `cluster_hierarchy_`: inclusive `[start, end]` positions in `ordering`.
    pub clusters: Vec<(usize, usize)>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpticsError {
    #[error("data has {got} values, expected n * d = {n} * {d}")]
    LengthMismatch { got: usize, n: usize, d: usize },
    #[error("input value at row {row}, column {col} is not finite")]
    NonFinite { row: usize, col: usize },
    #[error("min_samples must be between 2 and the number of points ({n}), got {min_samples}")]
    MinSamples { min_samples: usize, n: usize },
    #[error(
        "min_cluster_size must be between 2 and the number of points ({n}), got {min_cluster_size}"
    )]
    MinClusterSize { min_cluster_size: usize, n: usize },
    #[error("xi must be in [0, 1), got {0}")]
    Xi(f64),
    #[error("reachability, predecessor and ordering lengths differ ({0}, {1}, {2})")]
    PlotLengths(usize, usize, usize),
}

/// OPTICS with Euclidean distance on row-major n x d `points`, then xi extraction.
pub fn optics(
    points: &[f64],
    n: usize,
    d: usize,
    params: &OpticsParams,
) -> Result<OpticsResult, OpticsError> {
    if points.len() != n * d {
        return Err(OpticsError::LengthMismatch {
            got: points.len(),
            n,
            d,
        });
    }
    if let Some(k) = points.iter().position(|v| !v.is_finite()) {
        return Err(OpticsError::NonFinite {
            row: k / d.max(1),
            col: k % d.max(1),
        });
    }
    let min_cluster_size = check_params(n, params)?;
    let dist = |i: usize, j: usize| -> f64 {
        let a = &points[i * d..(i + 1) * d];
        let b = &points[j * d..(j + 1) * d];
        let mut s = 0.0f64;
        for (x, y) in a.iter().zip(b) {
            let t = x - y;
            s += t * t;
        }
        s.sqrt()
    };

    let k = params.min_samples;
    let mut row = vec![0.0f64; n];
    let core_distances: Vec<f64> = (0..n)
        .map(|i| {
            for (j, r) in row.iter_mut().enumerate() {
                *r = if i == j { 0.0 } else { dist(i, j) };
            }
            let (_, kth, _) = row.select_nth_unstable_by(k - 1, f64::total_cmp);
            round15(*kth)
        })
        .collect();

    let mut reachability = vec![f64::INFINITY; n];
    let mut predecessor: Vec<Option<usize>> = vec![None; n];
    let mut processed = vec![false; n];
    let mut ordering = Vec::with_capacity(n);
    for _ in 0..n {
        // np.argmin over the unprocessed points in index order: the first minimum wins, and
        // when all are inf the first unprocessed point.
        let mut point = None;
        for j in (0..n).filter(|&j| !processed[j]) {
            match point {
                None => point = Some(j),
                Some(b) if reachability[j] < reachability[b] => point = Some(j),
                Some(_) => {}
            }
        }
        let Some(point) = point else { break };
        processed[point] = true;
        ordering.push(point);
        // With max_eps = inf every core distance is finite, so sklearn always expands.
        let core = core_distances[point];
        for j in 0..n {
            if processed[j] {
                continue;
            }
            let rd = round15(dist(point, j).max(core));
            if rd < reachability[j] {
                reachability[j] = rd;
                predecessor[j] = Some(point);
            }
        }
    }

    let (labels, clusters) = xi_extract(
        &reachability,
        &predecessor,
        &ordering,
        params,
        min_cluster_size,
    );
    Ok(OpticsResult {
        ordering,
        reachability,
        core_distances,
        predecessor,
        labels,
        clusters,
    })
}

/// Per-point labels (-1 = in no cluster) and the cluster hierarchy, as
/// [`OpticsResult::labels`] and [`OpticsResult::clusters`].
pub type XiClustering = (Vec<i32>, Vec<(usize, usize)>);

/// sklearn's `cluster_optics_xi` on a given OPTICS result (per-point `reachability` and
/// `predecessor`, and the `ordering`).
pub fn cluster_optics_xi(
    reachability: &[f64],
    predecessor: &[Option<usize>],
    ordering: &[usize],
    params: &OpticsParams,
) -> Result<XiClustering, OpticsError> {
    let n = reachability.len();
    if predecessor.len() != n || ordering.len() != n {
        return Err(OpticsError::PlotLengths(
            n,
            predecessor.len(),
            ordering.len(),
        ));
    }
    let min_cluster_size = check_params(n, params)?;
    Ok(xi_extract(
        reachability,
        predecessor,
        ordering,
        params,
        min_cluster_size,
    ))
}

/// Validates the sizes and xi; returns the effective `min_cluster_size`.
fn check_params(n: usize, params: &OpticsParams) -> Result<usize, OpticsError> {
    if params.min_samples < 2 || params.min_samples > n {
        return Err(OpticsError::MinSamples {
            min_samples: params.min_samples,
            n,
        });
    }
    let mcs = params.min_cluster_size.unwrap_or(params.min_samples);
    if mcs < 2 || mcs > n {
        return Err(OpticsError::MinClusterSize {
            min_cluster_size: mcs,
            n,
        });
    }
    // sklearn accepts xi = 1 and then divides by zero computing 1 / (1 - xi).
    if !(params.xi >= 0.0 && params.xi < 1.0) {
        return Err(OpticsError::Xi(params.xi));
    }
    Ok(mcs)
}

/// `np.around(x, decimals=15)`: numpy scales by 10^15, rounds half to even, scales back.
fn round15(x: f64) -> f64 {
    (x * 1e15).round_ties_even() / 1e15
}

fn xi_extract(
    reachability: &[f64],
    predecessor: &[Option<usize>],
    ordering: &[usize],
    params: &OpticsParams,
    min_cluster_size: usize,
) -> XiClustering {
    let plot: Vec<f64> = ordering.iter().map(|&i| reachability[i]).collect();
    let pred_plot: Vec<Option<usize>> = ordering.iter().map(|&i| predecessor[i]).collect();
    let clusters = xi_cluster(
        &plot,
        &pred_plot,
        ordering,
        params.xi,
        params.min_samples,
        min_cluster_size,
        params.predecessor_correction,
    );
    let labels = extract_xi_labels(ordering, &clusters);
    (labels, clusters)
}

#[derive(Clone, Copy, Debug)]
struct SteepDownArea {
    start: usize,
    end: usize,
    mib: f64,
}

/// Python's `max(a, b)`: `a` unless `b` is strictly greater.
fn py_max(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}

/// sklearn's `_xi_cluster`.
fn xi_cluster(
    reachability_plot: &[f64],
    predecessor_plot: &[Option<usize>],
    ordering: &[usize],
    xi: f64,
    min_samples: usize,
    min_cluster_size: usize,
    predecessor_correction: bool,
) -> Vec<(usize, usize)> {
    let n = reachability_plot.len();
    // The appended inf lets a cluster end at the last point without an upward region.
    let mut r = reachability_plot.to_vec();
    r.push(f64::INFINITY);
    let xi_complement = 1.0 - xi;
    let mut steep_upward = vec![false; n];
    let mut steep_downward = vec![false; n];
    let mut upward = vec![false; n];
    let mut downward = vec![false; n];
    for i in 0..n {
        // inf/inf and 0/0 are NaN, which fails every comparison, as in numpy.
        let ratio = r[i] / r[i + 1];
        steep_upward[i] = ratio <= xi_complement;
        steep_downward[i] = ratio >= 1.0 / xi_complement;
        downward[i] = ratio > 1.0;
        upward[i] = ratio < 1.0;
    }

    let mut sdas: Vec<SteepDownArea> = Vec::new();
    let mut clusters = Vec::new();
    let mut index = 0usize;
    let mut mib = 0.0f64;
    for steep_index in 0..n {
        if !(steep_upward[steep_index] || steep_downward[steep_index]) {
            continue;
        }
        if steep_index < index {
            continue;
        }
        let local_max = r[index..=steep_index]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        mib = py_max(mib, local_max);
        if steep_downward[steep_index] {
            update_filter_sdas(&mut sdas, mib, xi_complement, &r);
            let d_start = steep_index;
            let d_end = extend_region(&steep_downward, &upward, d_start, min_samples);
            sdas.push(SteepDownArea {
                start: d_start,
                end: d_end,
                mib: 0.0,
            });
            index = d_end + 1;
            mib = r[index];
        } else {
            update_filter_sdas(&mut sdas, mib, xi_complement, &r);
            let u_start = steep_index;
            let u_end = extend_region(&steep_upward, &downward, u_start, min_samples);
            index = u_end + 1;
            mib = r[index];
            let mut u_clusters = Vec::new();
            for sda in &sdas {
                let mut c_start = sda.start;
                let mut c_end = u_end;
                // line (**), sc2*
                if r[c_end + 1] * xi_complement < sda.mib {
                    continue;
                }
                // Definition 11: criterion 4
                let d_max = r[sda.start];
                if d_max * xi_complement >= r[c_end + 1] {
                    while r[c_start + 1] > r[c_end + 1] && c_start < sda.end {
                        c_start += 1;
                    }
                } else if r[c_end + 1] * xi_complement >= d_max {
                    // sklearn reads r[c_end - 1] before testing c_end > u_start (Python's
                    // r[-1] is harmless there); testing the bound first is equivalent.
                    while c_end > u_start && r[c_end - 1] > d_max {
                        c_end -= 1;
                    }
                }
                if predecessor_correction {
                    match correct_predecessor(&r, predecessor_plot, ordering, c_start, c_end) {
                        Some((s, e)) => {
                            c_start = s;
                            c_end = e;
                        }
                        None => continue,
                    }
                }
                // Definition 11: criterion 3.a (sizes are compared as signed, as in Python).
                if (c_end as i64) - (c_start as i64) + 1 < min_cluster_size as i64 {
                    continue;
                }
                // Definition 11: criterion 1
                if c_start > sda.end {
                    continue;
                }
                // Definition 11: criterion 2
                if c_end < u_start {
                    continue;
                }
                u_clusters.push((c_start, c_end));
            }
            // Smaller clusters first.
            u_clusters.reverse();
            clusters.extend(u_clusters);
        }
    }
    clusters
}

/// sklearn's `_extend_region`: grows a steep region while it has at most `min_samples`
/// consecutive non-steep points that still go the same way; returns its last steep index.
fn extend_region(
    steep_point: &[bool],
    xward_point: &[bool],
    start: usize,
    min_samples: usize,
) -> usize {
    let n = steep_point.len();
    let mut non_xward_points = 0;
    let mut index = start;
    let mut end = start;
    while index < n {
        if steep_point[index] {
            non_xward_points = 0;
            end = index;
        } else if !xward_point[index] {
            non_xward_points += 1;
            if non_xward_points > min_samples {
                break;
            }
        } else {
            return end;
        }
        index += 1;
    }
    end
}

/// sklearn's `_update_filter_sdas`: drops the steep-down areas whose start is not xi-higher
/// than the new maximum-in-between, and raises the survivors' mib.
fn update_filter_sdas(sdas: &mut Vec<SteepDownArea>, mib: f64, xi_complement: f64, r: &[f64]) {
    if mib.is_infinite() {
        sdas.clear();
        return;
    }
    sdas.retain(|sda| mib <= r[sda.start] * xi_complement);
    for sda in sdas.iter_mut() {
        sda.mib = py_max(sda.mib, mib);
    }
}

/// sklearn's `_correct_predecessor` (Schubert & Gertz 2018, Algorithm 2).
fn correct_predecessor(
    r: &[f64],
    predecessor_plot: &[Option<usize>],
    ordering: &[usize],
    s: usize,
    mut e: usize,
) -> Option<(usize, usize)> {
    while s < e {
        if r[s] > r[e] {
            return Some((s, e));
        }
        let p_e = predecessor_plot[e];
        if ordering[s..e].iter().any(|&o| p_e == Some(o)) {
            return Some((s, e));
        }
        e -= 1;
    }
    None
}

/// sklearn's `_extract_xi_labels`: each cluster, in hierarchy order, labels its range if no
/// point of it is labelled yet.
fn extract_xi_labels(ordering: &[usize], clusters: &[(usize, usize)]) -> Vec<i32> {
    let n = ordering.len();
    let mut by_position = vec![-1i32; n];
    let mut label = 0i32;
    for &(s, e) in clusters {
        if by_position[s..=e].iter().all(|&l| l == -1) {
            by_position[s..=e].iter_mut().for_each(|l| *l = label);
            label += 1;
        }
    }
    let mut labels = vec![-1i32; n];
    for (pos, &point) in ordering.iter().enumerate() {
        labels[point] = by_position[pos];
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round15_is_numpy_around() {
        assert_eq!(round15(0.0), 0.0);
        assert_eq!(round15(f64::INFINITY), f64::INFINITY);
        // 1.2345678901234567 * 1e15 rounds to ...457.
        assert_eq!(round15(1.234_567_890_123_456_7), 1.234_567_890_123_457);
        // Half to even at the 15th decimal (2.5e-15 * 1e15 is exactly 2.5), as numpy gives.
        assert_eq!(round15(2.5e-15), 2e-15);
        assert_eq!(round15(3.5e-15), 4e-15);
    }

    #[test]
    fn extend_region_counts_non_steep_points() {
        // steep, non-steep x2, steep, then a point going the other way.
        let steep = [true, false, false, true, false];
        let xward = [false, false, false, false, true];
        assert_eq!(extend_region(&steep, &xward, 0, 2), 3);
        // With min_samples 1 the two non-steep points end the region at 0.
        assert_eq!(extend_region(&steep, &xward, 0, 1), 0);
    }

    #[test]
    fn correct_predecessor_shrinks_until_linked() {
        let r = [f64::INFINITY, 1.0, 1.0, 1.0, f64::INFINITY];
        let ordering = [10, 11, 12, 13];
        // Point at position 3 was reached from outside [1, 3) and position 2 from 11.
        let pred = [None, Some(10), Some(11), Some(99)];
        assert_eq!(
            correct_predecessor(&r, &pred, &ordering, 1, 3),
            Some((1, 2))
        );
        let pred = [None, Some(10), Some(99), Some(99)];
        assert_eq!(correct_predecessor(&r, &pred, &ordering, 1, 3), None);
    }

    #[test]
    fn labels_go_to_innermost_clusters() {
        let ordering = [3, 2, 1, 0, 4];
        let labels = extract_xi_labels(&ordering, &[(0, 1), (2, 3), (0, 4)]);
        assert_eq!(labels, vec![1, 1, 0, 0, -1]);
    }

    #[test]
    fn rejects_bad_parameters() {
        let pts = [0.0, 1.0, 2.0, 3.0];
        let p = |min_samples, min_cluster_size, xi| OpticsParams {
            min_samples,
            min_cluster_size,
            xi,
            predecessor_correction: true,
        };
        assert!(matches!(
            optics(&pts, 4, 1, &p(1, None, 0.05)),
            Err(OpticsError::MinSamples { .. })
        ));
        assert!(matches!(
            optics(&pts, 4, 1, &p(5, None, 0.05)),
            Err(OpticsError::MinSamples { .. })
        ));
        assert!(matches!(
            optics(&pts, 4, 1, &p(2, Some(5), 0.05)),
            Err(OpticsError::MinClusterSize { .. })
        ));
        assert!(matches!(
            optics(&pts, 4, 1, &p(2, None, 1.0)),
            Err(OpticsError::Xi(_))
        ));
        assert!(matches!(
            optics(&pts, 3, 1, &p(2, None, 0.05)),
            Err(OpticsError::LengthMismatch { .. })
        ));
        assert!(matches!(
            optics(&[0.0, f64::NAN, 1.0, 2.0], 4, 1, &p(2, None, 0.05)),
            Err(OpticsError::NonFinite { row: 1, col: 0 })
        ));
    }
}
