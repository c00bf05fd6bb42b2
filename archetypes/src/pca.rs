//! PCA of the country vectors: exact through the centred Gram matrix, or randomised (Halko,
//! Martinsson and Tropp 2011) through products with it.
//!
//! With n countries and m tracks, n <= 250 while m reaches millions, so everything works on the
//! n x n side: the centred Gram matrix `G_c = A_c A_c^T` (A_c = A minus the column means) has the
//! squared singular values of A_c as eigenvalues and its eigenvectors are the left singular
//! vectors, so the PCA scores `U_k S_k` come from an n x n eigendecomposition (faer). Forming
//! `G` costs sum over tracks of (countries playing it)^2, far less than the randomised method's
//! (k + p) multiply-adds per non-zero and power iteration, and it is exact; the randomised
//! solver is there for row counts where an n x n matrix would not fit, and is checked against
//! the exact one.

use faer::{Mat, Side};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::matrix::SparseRows;
use crate::ArchetypeError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    Auto,
    Exact,
    Randomized,
}

/// Above this many rows `Auto` stops forming the n x n Gram matrix.
pub const EXACT_MAX_ROWS: usize = 2_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PcaParams {
    pub components: usize,
    pub solver: Solver,
    /// Extra random directions of the randomised range finder (scikit-learn: 10).
    pub oversamples: usize,
    /// Power iterations; `None`: scikit-learn's rule (7 when components < 0.1 * min(n, m),
    /// else 4).
    pub power_iterations: Option<usize>,
    pub seed: u64,
}

impl Default for PcaParams {
    fn default() -> Self {
        PcaParams {
            components: 100,
            solver: Solver::Auto,
            oversamples: 10,
            power_iterations: None,
            seed: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pca {
    pub rows: usize,
    /// Components returned: `min(requested, rows)`.
    pub components: usize,
    /// Row-major rows x components: the projection of each centred row on the components.
    pub scores: Vec<f64>,
    /// Variance along each component (eigenvalue / (rows - 1), as scikit-learn reports it).
    pub explained_variance: Vec<f64>,
    /// Total variance of the centred rows (same scale).
    pub total_variance: f64,
    /// `exact` or `randomized`: the solver that ran.
    pub solver: &'static str,
}

impl Pca {
    /// Share of the total variance kept by the first `k` components.
    pub fn variance_kept_at(&self, k: usize) -> f64 {
        if self.total_variance <= 0.0 {
            return 1.0;
        }
        let kept: f64 = self.explained_variance.iter().take(k).sum();
        (kept / self.total_variance).min(1.0)
    }

    pub fn variance_kept(&self) -> f64 {
        self.variance_kept_at(self.components)
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.scores[i * self.components..(i + 1) * self.components]
    }
}

/// Principal component scores of the rows of `a`.
pub fn pca(a: &SparseRows, params: &PcaParams) -> Result<Pca, ArchetypeError> {
    let n = a.rows();
    if n < 2 {
        return Err(ArchetypeError::Input(format!(
            "PCA needs at least 2 countries, got {n}"
        )));
    }
    if params.components == 0 {
        return Err(ArchetypeError::Input("PCA with 0 components".into()));
    }
    let k = params.components.min(n);
    let mean = a.column_means();
    let total = centred_trace(a, &mean);
    let l = (k + params.oversamples).min(n);
    let randomized = match params.solver {
        Solver::Exact => false,
        Solver::Randomized => true,
        Solver::Auto => n > EXACT_MAX_ROWS,
    };
    // A range of n directions is the whole space: the randomised answer would be the exact one
    // computed the long way round.
    let (values, vectors, solver) = if randomized && l < n {
        let q = params
            .power_iterations
            .unwrap_or(if (k as f64) < 0.1 * (n.min(a.n_cols) as f64) {
                7
            } else {
                4
            });
        let (v, u) = randomized_eigen(&a.transpose(), &mean, n, l, q, params.seed)?;
        (v, u, "randomized")
    } else {
        let g = centred_gram(a);
        let (v, u) = top_eigen(&g, n, n)?;
        (v, u, "exact")
    };
    // values/vectors: descending eigenvalues of G_c and their unit eigenvectors (column j of
    // the row-major n x cols matrix `vectors`).
    let cols = values.len();
    let k = k.min(cols);
    let mut scores = vec![0f64; n * k];
    for j in 0..k {
        let s = values[j].max(0.0).sqrt();
        // Eigenvectors have no sign; fix one (largest |score| positive) so reruns and solvers
        // agree.
        let mut pivot = 0usize;
        for i in 0..n {
            if vectors[i * cols + j].abs() > vectors[pivot * cols + j].abs() {
                pivot = i;
            }
        }
        let sign = if vectors[pivot * cols + j] < 0.0 {
            -1.0
        } else {
            1.0
        };
        for i in 0..n {
            scores[i * k + j] = sign * vectors[i * cols + j] * s;
        }
    }
    let dof = (n - 1) as f64;
    Ok(Pca {
        rows: n,
        components: k,
        scores,
        explained_variance: values.iter().take(k).map(|v| v.max(0.0) / dof).collect(),
        total_variance: total / dof,
        solver,
    })
}

/// Squared Frobenius norm of the centred matrix: sum ||a_i||^2 - n ||mean||^2.
fn centred_trace(a: &SparseRows, mean: &[f64]) -> f64 {
    let sq: f64 = a.values.iter().map(|v| v * v).sum();
    let m: f64 = mean.iter().map(|v| v * v).sum();
    (sq - a.rows() as f64 * m).max(0.0)
}

/// Columns per unit of parallel work.
const CHUNK: usize = 4096;

/// `A A^T` (row-major n x n) straight from the rows, column chunks in parallel: no global
/// transpose (scattering every non-zero across the whole catalogue was most of the time). Each
/// chunk gathers its slice of every row (rows are sorted, so the slice is contiguous). A chunk
/// whose columns are dense is multiplied by faer's GEMM; a sparse one is transposed locally and
/// adds each column's outer product.
fn gram(a: &SparseRows) -> Vec<f64> {
    let (n, m) = (a.rows(), a.n_cols);
    let chunks: Vec<usize> = (0..m.div_ceil(CHUNK)).collect();
    chunks
        .par_iter()
        .map(|&c| {
            let (lo, hi) = (c * CHUNK, ((c + 1) * CHUNK).min(m));
            let w = hi - lo;
            let slices: Vec<(&[u32], &[f64])> = (0..n)
                .map(|i| {
                    let (cols, vals) = a.row(i);
                    let s = cols.partition_point(|&x| (x as usize) < lo);
                    let e = cols.partition_point(|&x| (x as usize) < hi);
                    (&cols[s..e], &vals[s..e])
                })
                .collect();
            let mut counts = vec![0usize; w + 1];
            for (cols, _) in &slices {
                for &x in *cols {
                    counts[x as usize - lo + 1] += 1;
                }
            }
            let pair_ops: f64 = counts.iter().map(|&z| (z * z) as f64).sum();
            let mut g = vec![0f64; n * n];
            // GEMM runs an order of magnitude faster per flop than the scattered updates.
            if pair_ops * 8.0 > (n * n * w) as f64 {
                let mut d = Mat::<f64>::zeros(n, w);
                for (i, (cols, vals)) in slices.iter().enumerate() {
                    for (&x, &v) in cols.iter().zip(*vals) {
                        d[(i, x as usize - lo)] = v;
                    }
                }
                let p = &d * d.transpose();
                for i in 0..n {
                    for j in 0..n {
                        g[i * n + j] = p[(i, j)];
                    }
                }
            } else {
                for x in 0..w {
                    counts[x + 1] += counts[x];
                }
                let total = counts[w];
                let mut next = counts.clone();
                let mut rows = vec![0u32; total];
                let mut vals = vec![0f64; total];
                for (i, (cols, vs)) in slices.iter().enumerate() {
                    for (&x, &v) in cols.iter().zip(*vs) {
                        let at = &mut next[x as usize - lo];
                        rows[*at] = i as u32;
                        vals[*at] = v;
                        *at += 1;
                    }
                }
                for x in 0..w {
                    let (s, e) = (counts[x], counts[x + 1]);
                    let (rs, vs) = (&rows[s..e], &vals[s..e]);
                    for (k, (&i, &vi)) in rs.iter().zip(vs).enumerate() {
                        let gi = &mut g[i as usize * n..(i as usize + 1) * n];
                        for (&j, &vj) in rs[..=k].iter().zip(&vs[..=k]) {
                            gi[j as usize] += vi * vj;
                        }
                    }
                }
                for i in 0..n {
                    for j in 0..i {
                        g[j * n + i] = g[i * n + j];
                    }
                }
            }
            g
        })
        .reduce(
            || vec![0f64; n * n],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        )
}

/// `G_c = H G H` with `H = I - 11^T/n`: centring the columns of A in Gram form.
fn centred_gram(a: &SparseRows) -> Vec<f64> {
    let n = a.rows();
    let mut g = gram(a);
    let nf = n as f64;
    let row_means: Vec<f64> = (0..n)
        .map(|i| g[i * n..(i + 1) * n].iter().sum::<f64>() / nf)
        .collect();
    let all = row_means.iter().sum::<f64>() / nf;
    for i in 0..n {
        for j in 0..n {
            g[i * n + j] += all - row_means[i] - row_means[j];
        }
    }
    g
}

/// The `want` largest eigenpairs of a symmetric row-major matrix, largest first; eigenvectors
/// as the columns of a row-major n x want matrix.
fn top_eigen(g: &[f64], n: usize, want: usize) -> Result<(Vec<f64>, Vec<f64>), ArchetypeError> {
    let m = Mat::from_fn(n, n, |i, j| g[i * n + j]);
    let e = m
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| ArchetypeError::Numeric(format!("eigendecomposition failed: {e:?}")))?;
    let s = e.S().column_vector();
    let u = e.U();
    let want = want.min(n);
    let mut values = Vec::with_capacity(want);
    let mut vectors = vec![0f64; n * want];
    for j in 0..want {
        let src = n - 1 - j;
        values.push(s[src]);
        for i in 0..n {
            vectors[i * want + j] = u[(i, src)];
        }
    }
    Ok((values, vectors))
}

/// `Y = G_c X` for an n x l row-major `X`, without forming G_c: per track t,
/// `z = a_t^T X - mean_t 1^T X`, then `Y += a_t z^T` and the mean term once at the end.
fn apply_centred_gram(csc: &SparseRows, mean: &[f64], x: &[f64], n: usize, l: usize) -> Vec<f64> {
    let col_sums: Vec<f64> = (0..l).map(|j| (0..n).map(|i| x[i * l + j]).sum()).collect();
    let m = csc.rows();
    let chunks: Vec<usize> = (0..m.div_ceil(CHUNK)).collect();
    let (mut y, w) = chunks
        .par_iter()
        .map(|&c| {
            let mut y = vec![0f64; n * l];
            let mut w = vec![0f64; l];
            let mut z = vec![0f64; l];
            let lo = c * CHUNK;
            for (t, &mean_t) in mean
                .iter()
                .enumerate()
                .take(((c + 1) * CHUNK).min(m))
                .skip(lo)
            {
                let (rows, vals) = csc.row(t);
                for (zj, &s) in z.iter_mut().zip(&col_sums) {
                    *zj = -mean_t * s;
                }
                for (&i, &v) in rows.iter().zip(vals) {
                    let xi = &x[i as usize * l..(i as usize + 1) * l];
                    for (zj, &xv) in z.iter_mut().zip(xi) {
                        *zj += v * xv;
                    }
                }
                for (&i, &v) in rows.iter().zip(vals) {
                    let yi = &mut y[i as usize * l..(i as usize + 1) * l];
                    for (yj, &zj) in yi.iter_mut().zip(&z) {
                        *yj += v * zj;
                    }
                }
                for (wj, &zj) in w.iter_mut().zip(&z) {
                    *wj += mean_t * zj;
                }
            }
            (y, w)
        })
        .reduce(
            || (vec![0f64; n * l], vec![0f64; l]),
            |(mut y, mut w), (y2, w2)| {
                for (a, b) in y.iter_mut().zip(y2) {
                    *a += b;
                }
                for (a, b) in w.iter_mut().zip(w2) {
                    *a += b;
                }
                (y, w)
            },
        );
    for i in 0..n {
        for (yj, wj) in y[i * l..(i + 1) * l].iter_mut().zip(&w) {
            *yj -= wj;
        }
    }
    y
}

/// Orthonormal basis (row-major n x l) of the columns of `y` (thin QR, faer).
fn orthonormal(y: &[f64], n: usize, l: usize) -> Vec<f64> {
    let m = Mat::from_fn(n, l, |i, j| y[i * l + j]);
    let q = m.qr().compute_thin_Q();
    let mut out = vec![0f64; n * l];
    for i in 0..n {
        for j in 0..l {
            out[i * l + j] = q[(i, j)];
        }
    }
    out
}

/// Halko et al. Algorithm 4.4 (randomised subspace iteration) on G_c, then the Rayleigh-Ritz
/// step on the l x l matrix `Q^T G_c Q`.
fn randomized_eigen(
    csc: &SparseRows,
    mean: &[f64],
    n: usize,
    l: usize,
    power_iterations: usize,
    seed: u64,
) -> Result<(Vec<f64>, Vec<f64>), ArchetypeError> {
    // Y = A_c Omega, with Omega's row for track t drawn in track order (deterministic).
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut y = vec![0f64; n * l];
    let mut w = vec![0f64; l];
    let mut omega = vec![0f64; l];
    for (t, &mean_t) in mean.iter().enumerate().take(csc.rows()) {
        for o in omega.iter_mut() {
            *o = StandardNormal.sample(&mut rng);
        }
        let (rows, vals) = csc.row(t);
        for (&i, &v) in rows.iter().zip(vals) {
            for (yj, &o) in y[i as usize * l..(i as usize + 1) * l]
                .iter_mut()
                .zip(&omega)
            {
                *yj += v * o;
            }
        }
        for (wj, &o) in w.iter_mut().zip(&omega) {
            *wj += mean_t * o;
        }
    }
    for i in 0..n {
        for (yj, wj) in y[i * l..(i + 1) * l].iter_mut().zip(&w) {
            *yj -= wj;
        }
    }
    let mut q = orthonormal(&y, n, l);
    for _ in 0..power_iterations {
        let y = apply_centred_gram(csc, mean, &q, n, l);
        q = orthonormal(&y, n, l);
    }
    let gq = apply_centred_gram(csc, mean, &q, n, l);
    // T = Q^T G_c Q, symmetric l x l.
    let mut t = vec![0f64; l * l];
    for a in 0..l {
        for b in 0..l {
            t[a * l + b] = (0..n).map(|i| q[i * l + a] * gq[i * l + b]).sum();
        }
    }
    for a in 0..l {
        for b in 0..a {
            let s = 0.5 * (t[a * l + b] + t[b * l + a]);
            t[a * l + b] = s;
            t[b * l + a] = s;
        }
    }
    let (values, w_vecs) = top_eigen(&t, l, l)?;
    // U = Q W.
    let mut u = vec![0f64; n * l];
    for i in 0..n {
        for j in 0..l {
            u[i * l + j] = (0..l).map(|a| q[i * l + a] * w_vecs[a * l + j]).sum();
        }
    }
    Ok((values, u))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn random_sparse(rows: usize, cols: usize, density: f64, seed: u64) -> SparseRows {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut t = Vec::new();
        for i in 0..rows {
            for j in 0..cols {
                if rng.random::<f64>() < density {
                    t.push((i as u32, j as u32, rng.random::<f64>() * 10.0));
                }
            }
        }
        SparseRows::from_triples(rows, cols, &mut t).unwrap()
    }

    /// Plain reference: covariance of the dense centred rows, eigenvalues by faer on the
    /// m x m covariance (so a different route from the Gram matrix).
    fn dense_reference(a: &SparseRows) -> Vec<f64> {
        let (n, m) = (a.rows(), a.n_cols);
        let d = a.to_dense();
        let mean = a.column_means();
        let c = Mat::from_fn(m, m, |p, q| {
            (0..n)
                .map(|i| (d[i * m + p] - mean[p]) * (d[i * m + q] - mean[q]))
                .sum::<f64>()
                / (n - 1) as f64
        });
        let mut ev: Vec<f64> = c
            .self_adjoint_eigenvalues(Side::Lower)
            .unwrap()
            .into_iter()
            .collect();
        ev.sort_by(|x, y| y.total_cmp(x));
        ev
    }

    #[test]
    fn exact_matches_the_covariance_eigenvalues_and_reconstructs_distances() {
        for (seed, density) in [(1u64, 0.05), (2, 0.5), (3, 1.0)] {
            let a = random_sparse(9, 40, density, seed);
            let p = pca(
                &a,
                &PcaParams {
                    components: 9,
                    solver: Solver::Exact,
                    ..PcaParams::default()
                },
            )
            .unwrap();
            let reference = dense_reference(&a);
            for (j, v) in p.explained_variance.iter().enumerate() {
                assert!(
                    (v - reference[j]).abs() < 1e-9 * (1.0 + reference[0]),
                    "{j}"
                );
            }
            let total: f64 = reference.iter().sum();
            assert!((p.total_variance - total).abs() < 1e-9 * (1.0 + total));
            // All components: pairwise distances of the scores equal those of the rows.
            let d = a.to_dense();
            for i in 0..9 {
                for j in 0..9 {
                    let orig: f64 = (0..40)
                        .map(|c| (d[i * 40 + c] - d[j * 40 + c]).powi(2))
                        .sum();
                    let proj: f64 = p
                        .row(i)
                        .iter()
                        .zip(p.row(j))
                        .map(|(x, y)| (x - y).powi(2))
                        .sum();
                    assert!((orig - proj).abs() < 1e-8 * (1.0 + orig), "{i} {j}");
                }
            }
            assert!((p.variance_kept() - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn dense_and_sparse_gram_paths_agree() {
        let a = random_sparse(7, 9000, 0.9, 4);
        let b = random_sparse(7, 9000, 0.001, 5);
        for m in [a, b] {
            let g = gram(&m);
            let d = m.to_dense();
            for i in 0..7 {
                for j in 0..7 {
                    let r: f64 = (0..m.n_cols)
                        .map(|c| d[i * m.n_cols + c] * d[j * m.n_cols + c])
                        .sum();
                    assert!((g[i * 7 + j] - r).abs() < 1e-9 * (1.0 + r.abs()));
                }
            }
        }
    }

    /// Rows mixing 5 sparse prototypes plus a little noise: a decaying spectrum, as country
    /// vectors have, where the randomised range finder is accurate.
    fn low_rank_plus_noise(rows: usize, cols: usize, seed: u64) -> SparseRows {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let protos: Vec<SparseRows> = (0..5)
            .map(|p| random_sparse(1, cols, 0.2, seed + p))
            .collect();
        let mut t = Vec::new();
        for i in 0..rows {
            for p in &protos {
                let w = rng.random::<f64>();
                let (cs, vs) = p.row(0);
                t.extend(cs.iter().zip(vs).map(|(&c, &v)| (i as u32, c, w * v)));
            }
            for _ in 0..5 {
                t.push((
                    i as u32,
                    rng.random_range(0..cols as u32),
                    0.01 * rng.random::<f64>(),
                ));
            }
        }
        SparseRows::from_triples(rows, cols, &mut t).unwrap()
    }

    #[test]
    fn randomized_agrees_with_exact_on_the_leading_components() {
        let a = low_rank_plus_noise(60, 500, 6);
        let exact = pca(
            &a,
            &PcaParams {
                components: 5,
                solver: Solver::Exact,
                ..PcaParams::default()
            },
        )
        .unwrap();
        let rand = pca(
            &a,
            &PcaParams {
                components: 5,
                solver: Solver::Randomized,
                oversamples: 20,
                power_iterations: Some(7),
                seed: 9,
            },
        )
        .unwrap();
        assert_eq!(rand.solver, "randomized");
        for j in 0..5 {
            let (e, r) = (exact.explained_variance[j], rand.explained_variance[j]);
            assert!((e - r).abs() < 1e-6 * e, "component {j}: {e} vs {r}");
        }
        assert!((exact.total_variance - rand.total_variance).abs() < 1e-12);
        // Same sign rule, so the scores agree too (up to rounding).
        for i in 0..60 {
            for j in 0..3 {
                let (e, r) = (exact.row(i)[j], rand.row(i)[j]);
                assert!(
                    (e - r).abs() < 1e-4 * (1.0 + e.abs()),
                    "{i},{j}: {e} vs {r}"
                );
            }
        }
        assert!(exact.variance_kept() < 1.0 && exact.variance_kept() > 0.0);
    }

    #[test]
    fn too_few_rows_is_an_error() {
        let a = random_sparse(1, 10, 1.0, 1);
        assert!(pca(&a, &PcaParams::default()).is_err());
    }
}
