//! Exact t-SNE, following scikit-learn 1.9's `TSNE(method="exact")` operation by operation.
//!
//! No Rust crate offers an sklearn-compatible exact t-SNE, so this module is written by hand
//! from `sklearn/manifold/_t_sne.py` and the Cython `sklearn/manifold/_utils.pyx` of
//! scikit-learn 1.9.0. What is mirrored, and why it matters for reproducing sklearn's maps:
//!
//! * **Input affinities.** Squared Euclidean distances are formed the way sklearn's
//!   `euclidean_distances` does (`-2 x.y + |x|^2 + |y|^2`, clipped at 0, zero diagonal) and then
//!   cast to `f32` before the perplexity search, exactly as `_joint_probabilities` does. The
//!   binary search keeps `_binary_search_perplexity`'s constants (100 steps, tolerance
//!   `f32(1e-5)`, `EPSILON_DBL = f32(1e-8)`, perplexity passed as a C `float`) and its
//!   accumulation order. `P = (C + C^T) / max(sum, eps)` with the sum taken by numpy's pairwise
//!   summation, then `max(P, MACHINE_EPSILON)` on the condensed (off-diagonal) entries.
//! * **Initialisation.** `init="pca"`: sklearn 1.9 calls `PCA(n_components)` with the default
//!   `svd_solver="auto"` (not `"randomized"`), which for these sizes (at most 500 rows and
//!   fewer than ten rows per feature) is the full LAPACK SVD of the centred data; scores are
//!   `U * S`, signs follow `svd_flip(u_based_decision=False)` (the largest-magnitude loading of
//!   each component is positive). The scores are cast to `f32` and divided by the `f32`
//!   standard deviation of the first column (numpy's pairwise `f32` sums), then multiplied by
//!   `1e-4`. Here the SVD is faer's thin SVD, whatever the shape (sklearn would switch to a
//!   covariance eigendecomposition from ten rows per feature, and to a randomized SVD above
//!   500 rows; both agree with this up to rounding). `init="random"` draws `N(0, 1)` from a
//!   seeded `ChaCha8Rng` (it cannot match numpy's generator), casts to `f32` and scales by
//!   `1e-4`.
//! * **Optimiser.** The embedding, its gradient and the gains are `f32` arrays as in sklearn;
//!   distances, `P`, `Q` and the KL divergence are `f64`. With `learning_rate="auto"` sklearn's
//!   rate is a numpy `float64` scalar (`np.maximum(n / ee / 4, 50)`), which promotes the
//!   momentum `update` array to `f64`, so the step is `p = f32(f64(p) + update)`. With an
//!   explicit rate (a Python float) the update stays `f32`. Both paths are mirrored.
//!   Two phases: 250 iterations with `P * early_exaggeration`, momentum 0.5 and
//!   `n_iter_without_progress = 250`, then (fresh `update` and `gains`) momentum 0.8 up to
//!   `max_iter`. Progress and the gradient norm (of the gain-scaled gradient, as sklearn
//!   measures it) are checked every 50 iterations. `P` is multiplied and later divided by the
//!   exaggeration in place, as sklearn does (not bit-identical to the original `P`).
//! * **Gradient.** `_kl_divergence`: Student-t kernel with `dof = max(dims - 1, 1)`,
//!   `Q = max(w / (2 sum w), eps)` with numpy's pairwise sum, per-point differences taken in
//!   `f32` (`X_embedded[i] - X_embedded`) and accumulated in `f64`, stored as `f32`, then times
//!   `2 (dof + 1) / dof`.
//!
//! Where the order of operations cannot be sklearn's: its distance and gradient dot products
//! go through OpenBLAS (summation order set by the CPU kernel) and numpy's SIMD `log`/`power`;
//! here they are sequential sums and libm calls. Those differences sit at `f64` rounding
//! level, far below the `f32` resolution of the embedding, and on the reference inputs
//! (`tests/sklearn_reference.rs`, up to 250 x 100) every map came out bit-identical to
//! sklearn's. That matters more than it seems: t-SNE from a 1e-4-scale start is chaotic, and a
//! single `f32` ulp of difference anywhere ends in a different local minimum, not a nearby map.
//!
//! The code is sequential and allocates nothing per iteration; the elementwise steps run as
//! separate passes over the condensed pair arrays so that they vectorise.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// `np.finfo(np.double).eps`, sklearn's floor for probabilities.
const MACHINE_EPSILON: f64 = f64::EPSILON;
/// `_utils.pyx` declares these as C `float`s, so their values are the `f32` roundings.
const PERPLEXITY_TOLERANCE: f32 = 1e-5;
const EPSILON_DBL: f32 = 1e-8;
const PERPLEXITY_STEPS: usize = 100;
/// `TSNE._EXPLORATION_MAX_ITER` and `TSNE._N_ITER_CHECK`.
const EXPLORATION_MAX_ITER: usize = 250;
const N_ITER_CHECK: usize = 50;
const MIN_GAIN: f32 = 0.01;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TsneInit {
    Pca,
    Random,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TsneParams {
    /// Embedding dimension (sklearn's `n_components`).
    pub dims: usize,
    /// The paper's 5, not sklearn's default 30.
    pub perplexity: f64,
    pub early_exaggeration: f64,
    /// `None` is sklearn's `"auto"`: `max(n / early_exaggeration / 4, 50)`.
    pub learning_rate: Option<f64>,
    /// At least 250, as sklearn requires.
    pub max_iter: usize,
    pub n_iter_without_progress: usize,
    pub min_grad_norm: f64,
    pub init: TsneInit,
    /// Seed of the random initialisation; unused with [`TsneInit::Pca`].
    pub seed: u64,
}

impl Default for TsneParams {
    fn default() -> Self {
        Self {
            dims: 2,
            perplexity: 5.0,
            early_exaggeration: 12.0,
            learning_rate: None,
            max_iter: 1000,
            n_iter_without_progress: 300,
            min_grad_norm: 1e-7,
            init: TsneInit::Pca,
            seed: 0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Embedding {
    pub n: usize,
    pub dims: usize,
    /// Row-major n x dims; the `f32` optimisation state widened to `f64`.
    pub coords: Vec<f64>,
    /// sklearn's `kl_divergence_`: the KL divergence evaluated at the start of the last
    /// iteration (before its update). Like sklearn it is `f64::MAX` when `max_iter == 250`,
    /// because the second phase then runs no iteration and reports its initial error.
    pub kl_divergence: f64,
    /// Gradient steps taken. sklearn's `n_iter_` is the index of the last step, i.e. usually
    /// `iterations - 1` (with `max_iter == 250` sklearn reports 250 for 250 steps).
    pub iterations: usize,
}

impl Embedding {
    pub fn point(&self, i: usize) -> &[f64] {
        &self.coords[i * self.dims..(i + 1) * self.dims]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TsneError {
    #[error("t-SNE needs at least 2 points, got {0}")]
    TooFewPoints(usize),
    #[error("perplexity ({perplexity}) must be less than the number of points ({n})")]
    PerplexityTooLarge { perplexity: f64, n: usize },
    #[error("input value at row {row}, column {col} is not finite")]
    NonFinite { row: usize, col: usize },
    #[error("embedding dimension must be at least 1")]
    ZeroDims,
    #[error("data has {got} values, expected n * d = {n} * {d}")]
    LengthMismatch { got: usize, n: usize, d: usize },
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    #[error("PCA initialisation failed: {0}")]
    PcaInit(String),
}

/// Runs exact t-SNE on row-major n x d `data` (see the module docs for what is mirrored).
pub fn tsne(data: &[f64], n: usize, d: usize, params: &TsneParams) -> Result<Embedding, TsneError> {
    validate(data, n, d, params)?;
    clear_upper_vector_state();
    let dims = params.dims;
    let sq = squared_euclidean(data, n, d);
    let mut p = joint_probabilities_condensed(&sq, n, params.perplexity);
    let mut y = initial_embedding(data, n, d, params)?;
    clear_upper_vector_state();
    let learning_rate = match params.learning_rate {
        // sklearn: `np.maximum(n / ee / 4, 50)`, a numpy float64 scalar.
        None => LearningRate::Auto((n as f64 / params.early_exaggeration / 4.0).max(50.0)),
        Some(lr) => LearningRate::Explicit(lr),
    };
    let mut opt = Optimizer {
        n,
        dims,
        dof: dims.saturating_sub(1).max(1) as f64,
        learning_rate,
        min_grad_norm: params.min_grad_norm,
        workspace: Workspace::new(n, dims),
    };

    for v in p.iter_mut() {
        *v *= params.early_exaggeration;
    }
    let (_, it, steps1) = opt.descend(
        &mut y,
        &p,
        0,
        EXPLORATION_MAX_ITER,
        EXPLORATION_MAX_ITER,
        0.5,
    );
    for v in p.iter_mut() {
        *v /= params.early_exaggeration;
    }
    // sklearn's condition `it < 250 or remaining > 0` always holds (`it` is at most 249), so
    // the second phase always starts, possibly with an empty range.
    let (kl, _, steps2) = opt.descend(
        &mut y,
        &p,
        it + 1,
        params.max_iter,
        params.n_iter_without_progress,
        0.8,
    );
    Ok(Embedding {
        n,
        dims,
        coords: y.iter().map(|&v| v as f64).collect(),
        kl_divergence: kl,
        iterations: steps1 + steps2,
    })
}

/// sklearn's `_joint_probabilities` on a full, row-major n x n matrix of squared distances.
///
/// The distances are cast to `f32` first, as sklearn does. Returns the full symmetric n x n
/// joint distribution with a **zero diagonal**: sklearn keeps P condensed (off-diagonal pairs
/// only, each floored at `MACHINE_EPSILON`), and its gradient expands it with `squareform`,
/// whose diagonal is zero. The off-diagonal entries are sklearn's condensed values, so the
/// full matrix sums to 1 (up to rounding and the epsilon floor).
///
/// # Panics
/// If `sq_distances.len() != n * n` (a caller bug, not a data condition).
pub fn joint_probabilities(sq_distances: &[f64], n: usize, perplexity: f64) -> Vec<f64> {
    assert_eq!(sq_distances.len(), n * n, "sq_distances must be n x n");
    let condensed = joint_probabilities_condensed(sq_distances, n, perplexity);
    expand_condensed(&condensed, n)
}

/// The starting embedding sklearn would use (`f32`, row-major n x dims): PCA scores scaled to
/// a first-column standard deviation of 1e-4, or seeded `1e-4 * N(0, 1)`.
pub fn initial_embedding(
    data: &[f64],
    n: usize,
    d: usize,
    params: &TsneParams,
) -> Result<Vec<f32>, TsneError> {
    validate(data, n, d, params)?;
    match params.init {
        TsneInit::Pca => pca_init(data, n, d, params.dims),
        TsneInit::Random => {
            let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
            Ok((0..n * params.dims)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    // sklearn: `1e-4 * standard_normal(...).astype(np.float32)`, in f32.
                    1e-4f32 * (z as f32)
                })
                .collect())
        }
    }
}

/// sklearn's `_kl_divergence` for a full n x n joint `p` (as returned by
/// [`joint_probabilities`]) at the `f32` embedding `params`: returns the KL divergence and the
/// `f32` gradient (row-major n x dims).
///
/// # Panics
/// If `p.len() != n * n` or `params.len() != n * dims` (caller bugs).
pub fn kl_divergence_and_gradient(
    params: &[f32],
    p: &[f64],
    n: usize,
    dims: usize,
) -> (f64, Vec<f32>) {
    assert_eq!(p.len(), n * n, "p must be n x n");
    assert_eq!(params.len(), n * dims, "params must be n x dims");
    let mut condensed = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        condensed.extend_from_slice(&p[i * n + i + 1..(i + 1) * n]);
    }
    let mut ws = Workspace::new(n, dims);
    let mut grad = vec![0f32; n * dims];
    let dof = dims.saturating_sub(1).max(1) as f64;
    let kl = kl_gradient(params, &condensed, n, dims, dof, true, &mut ws, &mut grad);
    (kl, grad)
}

fn validate(data: &[f64], n: usize, d: usize, params: &TsneParams) -> Result<(), TsneError> {
    if data.len() != n * d {
        return Err(TsneError::LengthMismatch {
            got: data.len(),
            n,
            d,
        });
    }
    if params.dims == 0 {
        return Err(TsneError::ZeroDims);
    }
    if n < 2 {
        return Err(TsneError::TooFewPoints(n));
    }
    if let Some(k) = data.iter().position(|v| !v.is_finite()) {
        return Err(TsneError::NonFinite {
            row: k / d.max(1),
            col: k % d.max(1),
        });
    }
    if params.perplexity.is_nan() || params.perplexity <= 0.0 {
        return Err(TsneError::InvalidParameter(format!(
            "perplexity must be positive, got {}",
            params.perplexity
        )));
    }
    if params.perplexity >= n as f64 {
        return Err(TsneError::PerplexityTooLarge {
            perplexity: params.perplexity,
            n,
        });
    }
    if !(params.early_exaggeration >= 1.0 && params.early_exaggeration.is_finite()) {
        return Err(TsneError::InvalidParameter(format!(
            "early_exaggeration must be at least 1, got {}",
            params.early_exaggeration
        )));
    }
    if let Some(lr) = params.learning_rate {
        if !(lr > 0.0 && lr.is_finite()) {
            return Err(TsneError::InvalidParameter(format!(
                "learning_rate must be positive, got {lr}"
            )));
        }
    }
    if params.max_iter < EXPLORATION_MAX_ITER {
        return Err(TsneError::InvalidParameter(format!(
            "max_iter must be at least {EXPLORATION_MAX_ITER} (sklearn's constraint), got {}",
            params.max_iter
        )));
    }
    if params.min_grad_norm.is_nan() || params.min_grad_norm < 0.0 {
        return Err(TsneError::InvalidParameter(format!(
            "min_grad_norm must be non-negative, got {}",
            params.min_grad_norm
        )));
    }
    if params.init == TsneInit::Pca && params.dims > n.min(d) {
        return Err(TsneError::PcaInit(format!(
            "{} components need at least as many points and features (have {n} x {d})",
            params.dims
        )));
    }
    Ok(())
}

/// AVX code run earlier on this thread (faer's SIMD kernels leave it so) can leave the upper
/// halves of the vector registers dirty. Every SSE instruction here, and every call into
/// glibc's AVX-built `exp`/`log`, then pays a state-transition penalty: the KL loop ran 20x
/// slower after the PCA initialisation until this was added. Clearing them changes no value.
fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: AVX support was checked just above, and `vzeroupper` only zeroes the
            // upper bits of the vector registers, which hold no live value in SSE code.
            unsafe { std::arch::x86_64::_mm256_zeroupper() };
        }
    }
}

/// numpy's pairwise summation (`pairwise_sum` in `loops_utils.h.src`) for a contiguous array
/// reduced as a whole, as `np.sum` does for the arrays used here. Generic over f32/f64 because
/// numpy accumulates `f32` arrays in `f32`.
fn np_sum<T: Copy + Default + std::ops::Add<Output = T>>(a: &[T]) -> T {
    const BLOCK: usize = 128;
    let n = a.len();
    if n < 8 {
        let mut res = T::default();
        for &v in a {
            res = res + v;
        }
        res
    } else if n <= BLOCK {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let mut i = 8;
        while i < n - n % 8 {
            for (j, rj) in r.iter_mut().enumerate() {
                *rj = *rj + a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[i..] {
            res = res + v;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        np_sum(&a[..n2]) + np_sum(&a[n2..])
    }
}

/// `pairwise_distances(X, metric="euclidean", squared=True)`: sklearn's dot-product form
/// `(-2 x.y + |x|^2) + |y|^2`, clipped at zero, with an exact zero diagonal.
fn squared_euclidean(data: &[f64], n: usize, d: usize) -> Vec<f64> {
    let norms: Vec<f64> = (0..n)
        .map(|i| data[i * d..(i + 1) * d].iter().map(|v| v * v).sum())
        .collect();
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        let xi = &data[i * d..(i + 1) * d];
        for j in 0..n {
            if i == j {
                continue;
            }
            let xj = &data[j * d..(j + 1) * d];
            let dot: f64 = xi.iter().zip(xj).map(|(a, b)| a * b).sum();
            out[i * n + j] = ((-2.0 * dot + norms[i]) + norms[j]).max(0.0);
        }
    }
    out
}

/// `_joint_probabilities` in sklearn's condensed layout (pairs i < j, row-major).
fn joint_probabilities_condensed(sq_distances: &[f64], n: usize, perplexity: f64) -> Vec<f64> {
    let sq32: Vec<f32> = sq_distances.iter().map(|&v| v as f32).collect();
    let cond = binary_search_perplexity(&sq32, n, perplexity);
    let mut sym = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            sym[i * n + j] = cond[i * n + j] + cond[j * n + i];
        }
    }
    let sum = np_sum(&sym).max(MACHINE_EPSILON);
    let mut out = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            out.push((sym[i * n + j] / sum).max(MACHINE_EPSILON));
        }
    }
    out
}

/// `_utils._binary_search_perplexity` on the full (non-neighbour) distance matrix.
fn binary_search_perplexity(sq: &[f32], n: usize, perplexity: f64) -> Vec<f64> {
    // The Cython signature takes `float desired_perplexity`.
    let desired_entropy = ((perplexity as f32) as f64).ln();
    let tolerance = PERPLEXITY_TOLERANCE as f64;
    let mut p = vec![0.0f64; n * n];
    for i in 0..n {
        let row = &mut p[i * n..(i + 1) * n];
        let dist = &sq[i * n..(i + 1) * n];
        let mut beta_min = f64::NEG_INFINITY;
        let mut beta_max = f64::INFINITY;
        let mut beta = 1.0f64;
        for _ in 0..PERPLEXITY_STEPS {
            let mut sum_pi = 0.0f64;
            for j in 0..n {
                if j != i {
                    let arg = -(dist[j] as f64) * beta;
                    // exp(x) rounds to exactly 0 below about -745.13; skipping libm's slow
                    // underflow path there changes no value.
                    row[j] = if arg < -746.0 { 0.0 } else { arg.exp() };
                    sum_pi += row[j];
                }
            }
            if sum_pi == 0.0 {
                sum_pi = EPSILON_DBL as f64;
            }
            let mut sum_disti_pi = 0.0f64;
            for j in 0..n {
                row[j] /= sum_pi;
                sum_disti_pi += dist[j] as f64 * row[j];
            }
            let entropy = sum_pi.ln() + beta * sum_disti_pi;
            let entropy_diff = entropy - desired_entropy;
            if entropy_diff.abs() <= tolerance {
                break;
            }
            if entropy_diff > 0.0 {
                beta_min = beta;
                if beta_max == f64::INFINITY {
                    beta *= 2.0;
                } else {
                    beta = (beta + beta_max) / 2.0;
                }
            } else {
                beta_max = beta;
                if beta_min == f64::NEG_INFINITY {
                    beta /= 2.0;
                } else {
                    beta = (beta + beta_min) / 2.0;
                }
            }
        }
    }
    p
}

fn expand_condensed(condensed: &[f64], n: usize) -> Vec<f64> {
    let mut full = vec![0.0; n * n];
    let mut k = 0;
    for i in 0..n {
        for j in i + 1..n {
            full[i * n + j] = condensed[k];
            full[j * n + i] = condensed[k];
            k += 1;
        }
    }
    full
}

/// PCA scores of the top `dims` components, as sklearn's `PCA(...).fit_transform(X)` with the
/// full-SVD solver, then `astype(f32) / std(col 0) * 1e-4`.
fn pca_init(data: &[f64], n: usize, d: usize, dims: usize) -> Result<Vec<f32>, TsneError> {
    // Column means as numpy's `mean(axis=0)` accumulates them: row by row.
    let mut mean = vec![0.0f64; d];
    for i in 0..n {
        for (m, v) in mean.iter_mut().zip(&data[i * d..(i + 1) * d]) {
            *m += v;
        }
    }
    for m in mean.iter_mut() {
        *m /= n as f64;
    }
    let centred = faer::Mat::<f64>::from_fn(n, d, |i, j| data[i * d + j] - mean[j]);
    let svd = centred
        .thin_svd()
        .map_err(|e| TsneError::PcaInit(format!("SVD did not converge: {e:?}")))?;
    let u = svd.U();
    let v = svd.V();
    let s = svd.S().column_vector();
    let mut scores = vec![0f32; n * dims];
    for k in 0..dims {
        // svd_flip(u_based_decision=False): the first largest-|.| loading of component k
        // (row k of sklearn's Vt, column k of faer's V) becomes positive.
        let mut arg = 0;
        for j in 1..d {
            if v[(j, k)].abs() > v[(arg, k)].abs() {
                arg = j;
            }
        }
        let sign = if v[(arg, k)] < 0.0 { -1.0 } else { 1.0 };
        for i in 0..n {
            scores[i * dims + k] = (u[(i, k)] * sign * s[k]) as f32;
        }
    }
    let col0: Vec<f32> = (0..n).map(|i| scores[i * dims]).collect();
    let std = np_std_f32(&col0);
    if !(std > 0.0 && std.is_finite()) {
        return Err(TsneError::PcaInit(format!(
            "the first principal component has standard deviation {std}; the points are \
             (numerically) identical"
        )));
    }
    Ok(scores.iter().map(|&x| (x / std) * 1e-4f32).collect())
}

/// `np.std` of an `f32` vector: numpy keeps every intermediate in `f32`.
fn np_std_f32(x: &[f32]) -> f32 {
    let n = x.len() as f32;
    let mean = np_sum(x) / n;
    let sq: Vec<f32> = x
        .iter()
        .map(|&v| {
            let c = v - mean;
            c * c
        })
        .collect();
    (np_sum(&sq) / n).sqrt()
}

#[derive(Clone, Copy, Debug)]
enum LearningRate {
    /// numpy float64 scalar: promotes `update` to f64.
    Auto(f64),
    /// Python float: `update` stays f32.
    Explicit(f64),
}

/// Buffers reused by every gradient evaluation.
struct Workspace {
    /// The embedding widened to f64.
    y64: Vec<f64>,
    /// Per condensed pair: the squared distance, then the Student-t kernel.
    w: Vec<f64>,
    /// Per condensed pair: `(P - Q) * w`, sklearn's `PQd`.
    pq: Vec<f64>,
    /// The f64 gradient sums, row-major n x dims.
    acc: Vec<f64>,
}

impl Workspace {
    fn new(n: usize, dims: usize) -> Self {
        let pairs = n * n.saturating_sub(1) / 2;
        Self {
            y64: vec![0.0; n * dims],
            w: vec![0.0; pairs],
            pq: vec![0.0; pairs],
            acc: vec![0.0; n * dims],
        }
    }
}

/// `np.maximum(x, MACHINE_EPSILON)`, which (unlike `f64::max`) keeps a NaN.
fn floor_eps(x: f64) -> f64 {
    if x < MACHINE_EPSILON {
        MACHINE_EPSILON
    } else {
        x
    }
}

/// `_kl_divergence` with a condensed `p`: writes the gradient into `grad` and returns the KL
/// divergence (NaN when `compute_error` is false, as sklearn).
///
/// The elementwise steps run as separate passes over the condensed arrays (so they
/// vectorise); each value is still formed by the same operations as in sklearn.
#[allow(clippy::too_many_arguments)]
fn kl_gradient(
    y: &[f32],
    p: &[f64],
    n: usize,
    dims: usize,
    dof: f64,
    compute_error: bool,
    ws: &mut Workspace,
    grad: &mut [f32],
) -> f64 {
    let Workspace { y64, w, pq, acc } = ws;
    // scipy's pdist works on the f64 upcast of the f32 embedding.
    for (a, &b) in y64.iter_mut().zip(y) {
        *a = b as f64;
    }
    let mut k = 0;
    for i in 0..n {
        let yi = &y64[i * dims..(i + 1) * dims];
        let rows_j = y64[(i + 1) * dims..].chunks_exact(dims);
        let out = &mut w[k..k + (n - i - 1)];
        k += n - i - 1;
        if dims == 2 {
            // `0 + a + b` is `a + b` exactly, so this is pdist's sum.
            let (y0, y1) = (yi[0], yi[1]);
            for (o, yj) in out.iter_mut().zip(rows_j) {
                let (d0, d1) = (y0 - yj[0], y1 - yj[1]);
                *o = d0 * d0 + d1 * d1;
            }
        } else {
            for (o, yj) in out.iter_mut().zip(rows_j) {
                let mut s = 0.0f64;
                for (a, b) in yi.iter().zip(yj) {
                    let diff = a - b;
                    s += diff * diff;
                }
                *o = s;
            }
        }
    }
    if dof == 1.0 {
        // `dist /= 1` is exact, and numpy's `**=` turns the exponent -1 into `reciprocal`.
        for v in w.iter_mut() {
            *v = 1.0 / (*v + 1.0);
        }
    } else {
        let exponent = (dof + 1.0) / -2.0;
        for v in w.iter_mut() {
            *v = (*v / dof + 1.0).powf(exponent);
        }
    }
    let denom = 2.0 * np_sum(w);
    let kl = if compute_error {
        let mut sum = 0.0;
        for (&pij, &wij) in p.iter().zip(w.iter()) {
            let q = floor_eps(wij / denom);
            sum += pij * (floor_eps(pij) / q).ln();
        }
        2.0 * sum
    } else {
        f64::NAN
    };
    for ((out, &pij), &wij) in pq.iter_mut().zip(p).zip(w.iter()) {
        *out = (pij - floor_eps(wij / denom)) * wij;
    }
    // Walking pairs (i, j > i) in order adds every row's terms in increasing column order,
    // the same order as sklearn's per-row dot product over the squareform matrix. Row i's
    // sums are held in locals while j runs; that changes no operation, only the memory
    // traffic.
    acc.fill(0.0);
    let mut k = 0;
    for i in 0..n {
        let (head, tail) = acc.split_at_mut((i + 1) * dims);
        let acc_i = &mut head[i * dims..];
        let yi = &y[i * dims..(i + 1) * dims];
        let rows_j = y[(i + 1) * dims..].chunks_exact(dims);
        let pairs = &pq[k..k + (n - i - 1)];
        k += n - i - 1;
        if dims == 2 {
            let (mut a0, mut a1) = (acc_i[0], acc_i[1]);
            for ((acc_j, yj), &pqij) in tail.chunks_exact_mut(2).zip(rows_j).zip(pairs) {
                // sklearn subtracts the f32 rows before the f64 dot product.
                let d0 = (yi[0] - yj[0]) as f64;
                let d1 = (yi[1] - yj[1]) as f64;
                a0 += pqij * d0;
                a1 += pqij * d1;
                acc_j[0] += pqij * -d0;
                acc_j[1] += pqij * -d1;
            }
            acc_i[0] = a0;
            acc_i[1] = a1;
        } else {
            for ((acc_j, yj), &pqij) in tail.chunks_exact_mut(dims).zip(rows_j).zip(pairs) {
                for c in 0..dims {
                    let diff = (yi[c] - yj[c]) as f64;
                    acc_i[c] += pqij * diff;
                    acc_j[c] += pqij * -diff;
                }
            }
        }
    }
    // `grad *= c` runs in f32 on the f32 gradient.
    let c = (2.0 * (dof + 1.0) / dof) as f32;
    for (g, a) in grad.iter_mut().zip(acc.iter()) {
        *g = (*a as f32) * c;
    }
    kl
}

struct Optimizer {
    n: usize,
    dims: usize,
    dof: f64,
    learning_rate: LearningRate,
    min_grad_norm: f64,
    workspace: Workspace,
}

impl Optimizer {
    /// `_gradient_descent` from iteration `it` to `max_iter` (exclusive). Returns the last
    /// error, sklearn's last iteration index and the number of steps taken.
    fn descend(
        &mut self,
        y: &mut [f32],
        p: &[f64],
        it: usize,
        max_iter: usize,
        n_iter_without_progress: usize,
        momentum: f64,
    ) -> (f64, usize, usize) {
        let len = y.len();
        // Values of the f32 path are kept exactly representable in f32.
        let mut update = vec![0.0f64; len];
        let mut gains = vec![1.0f32; len];
        let mut grad = vec![0.0f32; len];
        let mut error = f64::MAX;
        let mut best_error = f64::MAX;
        let mut best_iter = it;
        let mut last = it;
        let mut steps = 0;
        for i in it..max_iter {
            last = i;
            steps += 1;
            let check = (i + 1) % N_ITER_CHECK == 0;
            let compute_error = check || i + 1 == max_iter;
            error = kl_gradient(
                y,
                p,
                self.n,
                self.dims,
                self.dof,
                compute_error,
                &mut self.workspace,
                &mut grad,
            );
            match self.learning_rate {
                LearningRate::Auto(lr) => {
                    for k in 0..len {
                        let inc = update[k] * (grad[k] as f64) < 0.0;
                        gains[k] = step_gain(gains[k], inc);
                        grad[k] *= gains[k];
                        update[k] = momentum * update[k] - lr * grad[k] as f64;
                        y[k] = (y[k] as f64 + update[k]) as f32;
                    }
                }
                LearningRate::Explicit(lr) => {
                    let (m32, lr32) = (momentum as f32, lr as f32);
                    for k in 0..len {
                        let u = update[k] as f32;
                        let inc = u * grad[k] < 0.0;
                        gains[k] = step_gain(gains[k], inc);
                        grad[k] *= gains[k];
                        let u = m32 * u - lr32 * grad[k];
                        update[k] = u as f64;
                        y[k] += u;
                    }
                }
            }
            if check {
                let grad_norm = grad
                    .iter()
                    .map(|&g| g as f64 * g as f64)
                    .sum::<f64>()
                    .sqrt();
                if error < best_error {
                    best_error = error;
                    best_iter = i;
                } else if i - best_iter > n_iter_without_progress {
                    break;
                }
                if grad_norm <= self.min_grad_norm {
                    break;
                }
            }
        }
        (error, last, steps)
    }
}

/// sklearn's gains rule in f32: `+0.2` where the update and gradient disagree in sign, `*0.8`
/// elsewhere, floored at `min_gain`.
fn step_gain(g: f32, inc: bool) -> f32 {
    let g = if inc { g + 0.2f32 } else { g * 0.8f32 };
    g.max(MIN_GAIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn np_sum_matches_plain_sum_on_exact_values() {
        // Small integers are exact in any order, so pairwise and sequential sums agree.
        for n in [0usize, 1, 7, 8, 9, 127, 128, 129, 300, 1000] {
            let a: Vec<f64> = (0..n).map(|i| (i % 17) as f64).collect();
            assert_eq!(np_sum(&a), a.iter().sum::<f64>());
        }
    }

    #[test]
    fn np_sum_is_pairwise_not_sequential() {
        // 1 + 1e-16 * many: sequential summation loses every tiny term, pairwise keeps them.
        let mut a = vec![1e-16f64; 1024];
        a[0] = 1.0;
        let sequential: f64 = a.iter().sum();
        assert_eq!(sequential, 1.0);
        assert!(np_sum(&a) > 1.0);
    }

    #[test]
    fn step_gain_rules() {
        assert_eq!(step_gain(1.0, true), 1.2f32);
        assert_eq!(step_gain(1.0, false), 0.8f32);
        assert_eq!(step_gain(0.011, false), MIN_GAIN);
    }

    #[test]
    fn conditional_rows_reach_the_perplexity() {
        let n = 20;
        let data: Vec<f64> = (0..n * 3).map(|k| ((k * 37 % 101) as f64).sin()).collect();
        let sq = squared_euclidean(&data, n, 3);
        let sq32: Vec<f32> = sq.iter().map(|&v| v as f32).collect();
        let cond = binary_search_perplexity(&sq32, n, 5.0);
        for i in 0..n {
            let row = &cond[i * n..(i + 1) * n];
            assert_eq!(row[i], 0.0);
            let sum: f64 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-12);
            let h: f64 = row.iter().filter(|&&p| p > 0.0).map(|&p| -p * p.ln()).sum();
            assert!(
                (h.exp() - 5.0).abs() < 1e-3,
                "row {i}: perplexity {}",
                h.exp()
            );
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let n = 9;
        let dims = 2;
        let data: Vec<f64> = (0..n * 4)
            .map(|k| ((k * 13 % 29) as f64 * 0.7).cos())
            .collect();
        let sq = squared_euclidean(&data, n, 4);
        let p = joint_probabilities(&sq, n, 3.0);
        let y: Vec<f32> = (0..n * dims)
            .map(|k| ((k * 7 % 11) as f32 - 5.0) * 0.3)
            .collect();
        let (_, grad) = kl_divergence_and_gradient(&y, &p, n, dims);
        let h = 1e-3f32;
        for k in 0..n * dims {
            let mut plus = y.clone();
            plus[k] += h;
            let mut minus = y.clone();
            minus[k] -= h;
            let (kp, _) = kl_divergence_and_gradient(&plus, &p, n, dims);
            let (km, _) = kl_divergence_and_gradient(&minus, &p, n, dims);
            let fd = (kp - km) / ((plus[k] - minus[k]) as f64);
            assert!(
                (fd - grad[k] as f64).abs() < 2e-3 * (1.0 + fd.abs()),
                "coordinate {k}: finite difference {fd}, gradient {}",
                grad[k]
            );
        }
    }

    #[test]
    fn rejects_bad_input() {
        let p = TsneParams::default();
        assert!(matches!(
            tsne(&[0.0; 5], 2, 3, &p),
            Err(TsneError::LengthMismatch { .. })
        ));
        assert!(matches!(
            tsne(&[0.0; 3], 1, 3, &p),
            Err(TsneError::TooFewPoints(1))
        ));
        assert!(matches!(
            tsne(&[0.0; 12], 4, 3, &p),
            Err(TsneError::PerplexityTooLarge { .. })
        ));
        let mut data = vec![0.5; 30];
        data[7] = f64::NAN;
        assert!(matches!(
            tsne(
                &data,
                10,
                3,
                &TsneParams {
                    perplexity: 2.0,
                    ..p.clone()
                }
            ),
            Err(TsneError::NonFinite { row: 2, col: 1 })
        ));
        assert!(matches!(
            tsne(
                &[0.5; 30],
                10,
                3,
                &TsneParams {
                    dims: 0,
                    perplexity: 2.0,
                    ..p.clone()
                }
            ),
            Err(TsneError::ZeroDims)
        ));
        assert!(matches!(
            tsne(
                &[0.5; 30],
                10,
                3,
                &TsneParams {
                    perplexity: 2.0,
                    ..p.clone()
                }
            ),
            Err(TsneError::PcaInit(_))
        ));
        assert!(matches!(
            tsne(
                &[0.5; 30],
                10,
                3,
                &TsneParams {
                    perplexity: 2.0,
                    max_iter: 100,
                    ..p
                }
            ),
            Err(TsneError::InvalidParameter(_))
        ));
    }
}
