//! Weighted matrix factorisation by alternating least squares on implicit feedback
//! (Hu, Koren & Volinsky 2008), with the conjugate-gradient solve of Takács et al. as done by
//! `implicit` (`_solve_cg`) and an exact Cholesky solve as the reference.
//!
//! Every cell of the users x items matrix enters the objective: absent cells have confidence 1
//! and preference 0, so no kernel may touch them one by one. The dense part is always carried
//! by a k x k Gram matrix (`Y^T Y`) and only the non-zeros add corrections.
//!
//! Results are bit-identical whatever rayon's thread count: rows are solved independently, and
//! every sum across rows is combined along a tree fixed by the row count alone.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// What a kernel refused, with enough context to find the offending input.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AlsError {
    #[error("CSR offsets are empty: a matrix of n rows needs n + 1 offsets")]
    EmptyOffsets,
    #[error("CSR offsets must start at 0, found {first}")]
    OffsetsStart { first: u64 },
    #[error("CSR offsets decrease at row {row}: {start} then {end}")]
    OffsetsNotMonotone { row: usize, start: u64, end: u64 },
    #[error("CSR offsets end at {last} but there are {nnz} column indices")]
    OffsetsEnd { last: u64, nnz: usize },
    #[error("CSR has {indices} column indices but {confidence} confidence values")]
    LengthMismatch { indices: usize, confidence: usize },
    #[error("confidence at non-zero {position} is {value}; it must be finite and at least 1")]
    Confidence { position: usize, value: f32 },
    #[error(
        "column indices of row {row} are not strictly increasing at non-zero {position} \
         (sorted, without duplicates, is required)"
    )]
    UnsortedRow { row: usize, position: usize },
    #[error("column index {index} at non-zero {position} is out of range for {n_cols} columns")]
    IndexOutOfRange {
        position: usize,
        index: u32,
        n_cols: usize,
    },
    #[error("rank k must be at least 1")]
    ZeroRank,
    #[error("{what} has length {actual}, expected {expected}")]
    Shape {
        what: &'static str,
        expected: usize,
        actual: usize,
    },
    #[error("{what} has length {actual}, which is not a multiple of k = {k}")]
    NotMultipleOfRank {
        what: &'static str,
        actual: usize,
        k: usize,
    },
    #[error("regularisation lambda is {0}; it must be finite and non-negative")]
    Lambda(f32),
    #[error(
        "the normal equations of row {row} are not positive definite (lambda = 0 with too few \
         non-zeros, or non-finite factors)"
    )]
    NotPositiveDefinite { row: usize },
    #[error("{rows} rows do not fit the u32 column indices of the transpose")]
    TooManyRows { rows: usize },
}

/// Sparse rows with 64-bit offsets (non-zeros can pass 2^31).
///
/// The fields are public so that callers can borrow their own buffers; [`CsrRef::new`] checks
/// everything, and every kernel re-checks what it needs not to panic (offsets, lengths, column
/// range), since a value built from the fields directly skipped `new`.
#[derive(Clone, Copy, Debug)]
pub struct CsrRef<'a> {
    pub offsets: &'a [u64],
    pub indices: &'a [u32],
    pub confidence: &'a [f32],
}

impl<'a> CsrRef<'a> {
    /// Checks that `offsets` has `rows + 1` entries starting at 0, never decreasing and ending
    /// at the number of non-zeros; that indices and confidences are as many; that every
    /// confidence is finite and at least 1; and that the column indices of each row are
    /// strictly increasing (a duplicated cell would enter the objective twice).
    pub fn new(
        offsets: &'a [u64],
        indices: &'a [u32],
        confidence: &'a [f32],
    ) -> Result<Self, AlsError> {
        let m = Self {
            offsets,
            indices,
            confidence,
        };
        m.check_structure()?;
        // `!(c >= 1)` rather than `c < 1` so that NaN is refused too.
        if let Some(position) = confidence
            .par_iter()
            .position_first(|&c| !(c.is_finite() && c >= 1.0))
        {
            return Err(AlsError::Confidence {
                position,
                value: confidence[position],
            });
        }
        if let Some(err) = (0..m.rows()).into_par_iter().find_map_first(|row| {
            let start = m.offsets[row] as usize;
            let (idx, _) = m.row(row);
            idx.windows(2)
                .position(|w| w[0] >= w[1])
                .map(|p| AlsError::UnsortedRow {
                    row,
                    position: start + p + 1,
                })
        }) {
            return Err(err);
        }
        Ok(m)
    }

    /// Number of rows (one less than the number of offsets).
    pub fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Number of stored non-zeros.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Column indices and confidences of one row. Only called after `check_structure`, which
    /// makes every offset a valid `usize` position.
    fn row(&self, row: usize) -> (&'a [u32], &'a [f32]) {
        let start = self.offsets[row] as usize;
        let end = self.offsets[row + 1] as usize;
        (&self.indices[start..end], &self.confidence[start..end])
    }

    /// What every kernel needs to slice rows without panicking. Offsets that end at
    /// `indices.len()` and never decrease all fit in `usize`, which makes the later casts safe.
    fn check_structure(&self) -> Result<(), AlsError> {
        let first = *self.offsets.first().ok_or(AlsError::EmptyOffsets)?;
        if first != 0 {
            return Err(AlsError::OffsetsStart { first });
        }
        if let Some(row) = self.offsets.windows(2).position(|w| w[0] > w[1]) {
            return Err(AlsError::OffsetsNotMonotone {
                row,
                start: self.offsets[row],
                end: self.offsets[row + 1],
            });
        }
        let last = self.offsets[self.offsets.len() - 1];
        if last != self.indices.len() as u64 {
            return Err(AlsError::OffsetsEnd {
                last,
                nnz: self.indices.len(),
            });
        }
        if self.indices.len() != self.confidence.len() {
            return Err(AlsError::LengthMismatch {
                indices: self.indices.len(),
                confidence: self.confidence.len(),
            });
        }
        Ok(())
    }

    fn check_columns(&self, n_cols: usize) -> Result<(), AlsError> {
        match self
            .indices
            .par_iter()
            .position_first(|&j| j as usize >= n_cols)
        {
            Some(position) => Err(AlsError::IndexOutOfRange {
                position,
                index: self.indices[position],
                n_cols,
            }),
            None => Ok(()),
        }
    }
}

/// How [`solve`] computes each row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Solver {
    /// `steps` conjugate-gradient iterations warm-started from the current row, as `implicit`.
    Cg { steps: usize },
    /// The exact solution by a Cholesky factorisation in f64.
    Cholesky,
}

/// `out[j] = src[pos[j]]`, rows of `k` values: a half-step's compact copy of the fixed side
/// picked from the whole side (the reference of the CUDA `gather_rows`).
///
/// # Errors
/// `k = 0`, a position beyond `src`, or `out` not `pos.len()` rows.
pub fn gather_rows(src: &[f32], k: usize, pos: &[u64], out: &mut [f32]) -> Result<(), AlsError> {
    if k == 0 {
        return Err(AlsError::ZeroRank);
    }
    if out.len() != pos.len() * k {
        return Err(AlsError::Shape {
            what: "gathered rows",
            expected: pos.len() * k,
            actual: out.len(),
        });
    }
    let rows = src.len() / k;
    for (o, &p) in out.chunks_exact_mut(k).zip(pos) {
        let p = usize::try_from(p).unwrap_or(usize::MAX);
        if p >= rows {
            return Err(AlsError::Shape {
                what: "gather position (as a row of the source)",
                expected: rows,
                actual: p,
            });
        }
        o.copy_from_slice(&src[p * k..(p + 1) * k]);
    }
    Ok(())
}

/// `Y^T Y` (k x k, row-major) of the row-major `n x k` factors, accumulated in f64.
///
/// # Panics
/// If `factors.len()` is not a multiple of `k` (a caller's shape error, not bad data).
pub fn gram(factors: &[f32], k: usize) -> Vec<f32> {
    if k == 0 {
        return Vec::new();
    }
    assert_eq!(
        factors.len() % k,
        0,
        "factors of length {} are not rows of k = {k}",
        factors.len()
    );
    gram64(factors, k).into_iter().map(|v| v as f32).collect()
}

/// One half-iteration: recompute every row of `x` (`m.rows() x k`, row-major) from the fixed
/// `y` (`n x k`; the column indices of `m` index its rows) and `yty = gram(y, k)`.
///
/// Each row solves `(Y^T Y + Y^T (C_u - I) Y + lambda I) x_u = Y^T C_u p_u`. On error the
/// rows already solved keep their new values; the shapes, the offsets of `m` and its column
/// range are checked before any row is touched, so only [`AlsError::NotPositiveDefinite`] can
/// leave `x` half-updated.
pub fn solve(
    x: &mut [f32],
    y: &[f32],
    yty: &[f32],
    k: usize,
    m: &CsrRef,
    lambda: f32,
    solver: Solver,
) -> Result<(), AlsError> {
    if k == 0 {
        return Err(AlsError::ZeroRank);
    }
    m.check_structure()?;
    check_len("x", x.len(), m.rows().checked_mul(k))?;
    let n_cols = rows_of("y", y.len(), k)?;
    check_len("yty", yty.len(), k.checked_mul(k))?;
    if !(lambda.is_finite() && lambda >= 0.0) {
        return Err(AlsError::Lambda(lambda));
    }
    m.check_columns(n_cols)?;

    match solver {
        Solver::Cg { steps } => {
            // implicit folds the regularisation into the Gram matrix once per half-step.
            let mut a0 = yty.to_vec();
            for d in 0..k {
                a0[d * k + d] += lambda;
            }
            let bounds = cg_blocks(m, k);
            let mut blocks = Vec::with_capacity(bounds.len());
            let mut rest = x;
            for w in bounds.windows(2) {
                let (xb, tail) = rest.split_at_mut((w[1] - w[0]) * k);
                blocks.push((w[0], xb));
                rest = tail;
            }
            blocks.into_par_iter().for_each_init(
                || CgBlockScratch::new(k),
                |s, (first, xb)| cg_block(xb, y, &a0, k, m, first, steps, s),
            );
            Ok(())
        }
        Solver::Cholesky => {
            let mut a0: Vec<f64> = yty.iter().map(|&v| f64::from(v)).collect();
            for d in 0..k {
                a0[d * k + d] += f64::from(lambda);
            }
            x.par_chunks_mut(k).enumerate().try_for_each_init(
                || CholScratch::new(k),
                |s, (u, xu)| {
                    let (idx, conf) = m.row(u);
                    if cholesky_row(xu, y, &a0, k, idx, conf, s) {
                        Ok(())
                    } else {
                        Err(AlsError::NotPositiveDefinite { row: u })
                    }
                },
            )
        }
    }
}

/// The objective `L(X, Y)` over all cells, in f64, touching only the non-zeros: the sum of
/// `s_ui^2` over every cell is `trace((X^T X)(Y^T Y))`, each non-zero then swaps its `s^2` for
/// `c (1 - s)^2`, and the regularisation is `lambda (trace X^T X + trace Y^T Y)`.
pub fn loss(x: &[f32], y: &[f32], k: usize, m: &CsrRef, lambda: f32) -> Result<f64, AlsError> {
    if k == 0 {
        return Err(AlsError::ZeroRank);
    }
    m.check_structure()?;
    check_len("x", x.len(), m.rows().checked_mul(k))?;
    let n_cols = rows_of("y", y.len(), k)?;
    m.check_columns(n_cols)?;

    let gx = gram64(x, k);
    let gy = gram64(y, k);
    let all_cells: f64 = gx.iter().zip(&gy).map(|(a, b)| a * b).sum();
    let trace = |g: &[f64]| (0..k).map(|d| g[d * k + d]).sum::<f64>();
    let reg = f64::from(lambda) * (trace(&gx) + trace(&gy));
    let corrections = corrections_sum(x, y, k, m);
    Ok(all_cells + corrections + reg)
}

/// The non-zeros' part of [`loss`]: the sum over stored cells of `c (1 - s)^2 - s^2` with
/// `s = x_u . y_i`. A distributed trainer adds these over row blocks and builds the rest from
/// the all-reduced Gram matrices.
pub fn loss_corrections(x: &[f32], y: &[f32], k: usize, m: &CsrRef) -> Result<f64, AlsError> {
    if k == 0 {
        return Err(AlsError::ZeroRank);
    }
    m.check_structure()?;
    check_len("x", x.len(), m.rows().checked_mul(k))?;
    let n_cols = rows_of("y", y.len(), k)?;
    m.check_columns(n_cols)?;
    Ok(corrections_sum(x, y, k, m))
}

/// `F^T F` in f64 (row-major k x k), the partial Gram matrix of one block of rows.
pub fn gram_f64(factors: &[f32], k: usize) -> Result<Vec<f64>, AlsError> {
    if k == 0 {
        return Err(AlsError::ZeroRank);
    }
    rows_of("factors", factors.len(), k)?;
    Ok(gram64(factors, k))
}

fn corrections_sum(x: &[f32], y: &[f32], k: usize, m: &CsrRef) -> f64 {
    tree_reduce(
        0,
        m.rows(),
        LOSS_LEAF_ROWS,
        &|lo, hi| {
            let mut acc = 0.0f64;
            for u in lo..hi {
                let xu = &x[u * k..(u + 1) * k];
                let (idx, conf) = m.row(u);
                for (&j, &c) in idx.iter().zip(conf) {
                    let j = j as usize;
                    let s = dot64(xu, &y[j * k..(j + 1) * k]);
                    let e = 1.0 - s;
                    acc += f64::from(c) * e * e - s * s;
                }
            }
            acc
        },
        &|a, b| a + b,
    )
}

/// An owned CSR as (offsets, indices, confidence), the parts a [`CsrRef`] borrows.
pub type CsrParts = (Vec<u64>, Vec<u32>, Vec<f32>);

/// The transpose of `m` (`n_cols x m.rows()`), for the item half-step. Column indices within
/// each output row come out sorted, so the result passes [`CsrRef::new`] whenever `m` does.
pub fn transpose(m: &CsrRef, n_cols: usize) -> Result<CsrParts, AlsError> {
    m.check_structure()?;
    m.check_columns(n_cols)?;
    let rows = m.rows();
    if rows > 0 && u32::try_from(rows - 1).is_err() {
        return Err(AlsError::TooManyRows { rows });
    }
    let mut offsets = vec![0u64; n_cols + 1];
    for &j in m.indices {
        offsets[j as usize + 1] += 1;
    }
    for j in 0..n_cols {
        offsets[j + 1] += offsets[j];
    }
    // A counting sort: scanning rows in order leaves each output row sorted by row id.
    let mut cursor: Vec<usize> = offsets[..n_cols].iter().map(|&o| o as usize).collect();
    let mut indices = vec![0u32; m.nnz()];
    let mut confidence = vec![0f32; m.nnz()];
    for r in 0..rows {
        let (idx, conf) = m.row(r);
        for (&j, &c) in idx.iter().zip(conf) {
            let dst = &mut cursor[j as usize];
            indices[*dst] = r as u32;
            confidence[*dst] = c;
            *dst += 1;
        }
    }
    Ok((offsets, indices, confidence))
}

fn check_len(what: &'static str, actual: usize, expected: Option<usize>) -> Result<(), AlsError> {
    match expected {
        Some(expected) if expected == actual => Ok(()),
        _ => Err(AlsError::Shape {
            what,
            expected: expected.unwrap_or(usize::MAX),
            actual,
        }),
    }
}

fn rows_of(what: &'static str, len: usize, k: usize) -> Result<usize, AlsError> {
    if len.is_multiple_of(k) {
        Ok(len / k)
    } else {
        Err(AlsError::NotMultipleOfRank {
            what,
            actual: len,
            k,
        })
    }
}

/// Leaf sizes of the fixed reduction trees: big enough that the k x k additions of the merges
/// are a small fraction of the work, small enough to spread over threads.
const GRAM_LEAF_ROWS: usize = 512;
const LOSS_LEAF_ROWS: usize = 256;

/// Reduces `leaf` over `lo..hi` along a tree that depends only on the range, never on how rayon
/// splits the work, so floating-point sums are reproducible across thread counts.
fn tree_reduce<T: Send>(
    lo: usize,
    hi: usize,
    leaf_rows: usize,
    leaf: &(dyn Fn(usize, usize) -> T + Sync),
    merge: &(dyn Fn(T, T) -> T + Sync),
) -> T {
    if hi - lo <= leaf_rows {
        return leaf(lo, hi);
    }
    let mid = lo + (hi - lo) / 2;
    let (a, b) = rayon::join(
        || tree_reduce(lo, mid, leaf_rows, leaf, merge),
        || tree_reduce(mid, hi, leaf_rows, leaf, merge),
    );
    merge(a, b)
}

/// Full symmetric `F^T F` in f64: each leaf of rows is widened to f64 and multiplied by a
/// GEMM (the rank-1 updates it replaced took a fifth of an ALS iteration), and the leaves are
/// summed along the fixed tree.
fn gram64(factors: &[f32], k: usize) -> Vec<f64> {
    let n = factors.len() / k;
    tree_reduce(
        0,
        n,
        GRAM_LEAF_ROWS,
        &|lo, hi| {
            let rows = hi - lo;
            let wide: Vec<f64> = factors[lo * k..hi * k]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let mut acc = vec![0f64; k * k];
            let f = MatRef::from_row_major_slice(&wide, rows, k);
            matmul(
                MatMut::from_row_major_slice_mut(&mut acc, k, k),
                Accum::Replace,
                f.transpose(),
                f,
                1.0,
                Par::Seq,
            );
            super::avx_state::after_matmul();
            acc
        },
        &|mut a, b| {
            for (x, y) in a.iter_mut().zip(&b) {
                *x += y;
            }
            a
        },
    )
}

/// Rows accumulated per pass of [`rank_update_lower`]: each pass loads and stores the k x k
/// accumulator once, so grouping rows cuts that memory traffic by the group size.
const GROUP: usize = 4;

/// `acc[a][..=a] += sum_g w[g] rows[g][a] rows[g][..=a]` for the first `used` rows of `rows`
/// (`GROUP` rows of k, row-major): the lower triangle of a weighted rank-`used` update.
#[inline(always)]
fn rank_update_lower(acc: &mut [f64], k: usize, rows: &[f64], w: &[f64; GROUP], used: usize) {
    let (r0, rest) = rows.split_at(k);
    let (r1, rest) = rest.split_at(k);
    let (r2, r3) = rest.split_at(k);
    for (a, out) in acc.chunks_exact_mut(k).enumerate() {
        let out = &mut out[..=a];
        match used {
            GROUP => {
                let (c0, c1, c2, c3) = (w[0] * r0[a], w[1] * r1[a], w[2] * r2[a], w[3] * r3[a]);
                let (y0, y1, y2, y3) = (&r0[..=a], &r1[..=a], &r2[..=a], &r3[..=a]);
                for ((((o, &v0), &v1), &v2), &v3) in out.iter_mut().zip(y0).zip(y1).zip(y2).zip(y3)
                {
                    *o += c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3;
                }
            }
            _ => {
                for (g, row) in [r0, r1, r2, r3].into_iter().enumerate().take(used) {
                    let c = w[g] * row[a];
                    for (o, &v) in out.iter_mut().zip(&row[..=a]) {
                        *o += c * v;
                    }
                }
            }
        }
    }
}

/// Lanes of the f32 kernels: one AVX register, or two SSE ones.
const LANES: usize = 8;

/// `a . b` over fixed-width chunks so that it vectorises; the lanes are summed in a fixed order,
/// which keeps every row's result independent of anything but its inputs. The lanes are summed
/// left to right on purpose: a pairwise order made LLVM shuffle the accumulators inside the loop.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0f32; LANES];
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `y += alpha x`.
#[inline(always)]
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &mut y[..n]);
    let mut cy = y.chunks_exact_mut(LANES);
    let mut cx = x.chunks_exact(LANES);
    for (yc, xc) in (&mut cy).zip(&mut cx) {
        for l in 0..LANES {
            yc[l] += alpha * xc[l];
        }
    }
    for (yv, &xv) in cy.into_remainder().iter_mut().zip(cx.remainder()) {
        *yv += alpha * xv;
    }
}

/// `a . b` of f32 vectors accumulated in f64, for the loss.
fn dot64(a: &[f32], b: &[f32]) -> f64 {
    let mut acc = [0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += f64::from(x[l]) * f64::from(y[l]);
        }
    }
    (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail
}

/// `a . b` in f64, for the Cholesky factorisation and substitutions.
#[inline(always)]
fn dot_f64(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0f64; 4];
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail
}

#[cfg(test)]
struct CgScratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
}

#[cfg(test)]
impl CgScratch {
    fn new(k: usize) -> Self {
        Self {
            r: vec![0.0; k],
            p: vec![0.0; k],
            ap: vec![0.0; k],
        }
    }
}

/// implicit's threshold on `r . r` below which a row counts as solved.
const CG_EPS: f32 = 1e-20;

/// `implicit`'s `_solve_cg` for one row, one mat-vec per step: the plain reference that the
/// blocked [`cg_block`] is tested against. `A = a0 + sum_i (c_i - 1) y_i y_i^T` is never
/// formed.
#[cfg(test)]
#[allow(clippy::too_many_arguments)]
fn cg_row_body(
    xu: &mut [f32],
    y: &[f32],
    a0: &[f32],
    k: usize,
    idx: &[u32],
    conf: &[f32],
    steps: usize,
    s: &mut CgScratch,
) {
    let CgScratch { r, p, ap } = s;
    // r = b - A x, with b = sum_i c_i y_i since p_ui = 1 on every non-zero.
    for (ra, arow) in r.iter_mut().zip(a0.chunks_exact(k)) {
        *ra = -dot(arow, xu);
    }
    for (&j, &c) in idx.iter().zip(conf) {
        let yi = &y[j as usize * k..][..k];
        axpy(c - (c - 1.0) * dot(yi, xu), yi, r);
    }
    p.copy_from_slice(r);
    let mut rsold = dot(r, r);
    if rsold < CG_EPS {
        return;
    }
    for _ in 0..steps {
        for (o, arow) in ap.iter_mut().zip(a0.chunks_exact(k)) {
            *o = dot(arow, p);
        }
        for (&j, &c) in idx.iter().zip(conf) {
            let yi = &y[j as usize * k..][..k];
            axpy((c - 1.0) * dot(yi, p), yi, ap);
        }
        let pap = dot(p, ap);
        // Positive whenever A is positive definite and p != 0 (p = 0 already exited above);
        // stopping keeps NaN out of x when the inputs break that.
        if pap.is_nan() || pap <= 0.0 {
            break;
        }
        let alpha = rsold / pap;
        axpy(alpha, p, xu);
        axpy(-alpha, ap, r);
        let rsnew = dot(r, r);
        if rsnew < CG_EPS {
            break;
        }
        let beta = rsnew / rsold;
        for (pv, &rv) in p.iter_mut().zip(r.iter()) {
            *pv = rv + beta * *pv;
        }
        rsold = rsnew;
    }
}

/// Rows whose CG runs in lockstep, so that the products with the dense `Y^T Y + lambda I`
/// become one GEMM per step (compute-bound) instead of a mat-vec per row (bound by streaming
/// the k x k matrix from L2 for every row).
const CG_BLOCK: usize = 64;

/// Floats of factor rows (512 KiB) that one block copies out of `y` for its CG steps.
///
/// Every CG step of a row reads the factor rows of all its non-zeros again. Scattered over a
/// `y` far larger than the caches, and with 63 other rows of the block read in between, each
/// of those reads went to L3 or memory (implicit, solving one row at a time, finds them in L2).
/// Copied once, during the residual pass, into one contiguous buffer that stays in a core's
/// L2 (1 MiB on the development machine) with the block's `r`, `p`, `ap` and `Y^T Y`, the
/// steps stream from cache instead.
const GATHER_FLOATS: usize = 128 * 1024;

/// Row boundaries of the CG blocks of `m`: at most [`CG_BLOCK`] rows, and no more gathered
/// factor rows than [`GATHER_FLOATS`] holds. A row too long to be gathered at all rides along
/// without using the budget and reads `y` in place. Depends on `m` and `k` only, so the result
/// does not depend on the thread count.
fn cg_blocks(m: &CsrRef, k: usize) -> Vec<usize> {
    let mut bounds = vec![0];
    let (mut used, mut count) = (0usize, 0usize);
    for u in 0..m.rows() {
        let n = row_len(m, u).saturating_mul(k);
        let gathered = n <= GATHER_FLOATS;
        if count == CG_BLOCK || (gathered && used + n > GATHER_FLOATS) {
            bounds.push(u);
            used = 0;
            count = 0;
        }
        if gathered {
            used += n;
        }
        count += 1;
    }
    if count > 0 {
        bounds.push(m.rows());
    }
    bounds
}

/// Non-zeros of one row; only called after `check_structure`.
fn row_len(m: &CsrRef, row: usize) -> usize {
    (m.offsets[row + 1] - m.offsets[row]) as usize
}

struct CgBlockScratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
    rsold: Vec<f32>,
    active: Vec<bool>,
    /// The block's gathered factor rows, row after row, non-zero after non-zero.
    g: Vec<f32>,
    /// Where each row's gathered factor rows start in `g`; `None` for a row read in place.
    g_at: Vec<Option<usize>>,
}

impl CgBlockScratch {
    fn new(k: usize) -> Self {
        Self {
            r: vec![0.0; CG_BLOCK * k],
            p: vec![0.0; CG_BLOCK * k],
            ap: vec![0.0; CG_BLOCK * k],
            rsold: vec![0.0; CG_BLOCK],
            active: vec![false; CG_BLOCK],
            g: vec![0.0; GATHER_FLOATS],
            g_at: vec![None; CG_BLOCK],
        }
    }
}

/// `dst = sign * src A` for `rows` row-major rows of k, `A` symmetric k x k.
fn times_dense(dst: &mut [f32], src: &[f32], a: &[f32], rows: usize, k: usize, sign: f32) {
    matmul(
        MatMut::from_row_major_slice_mut(dst, rows, k),
        Accum::Replace,
        MatRef::from_row_major_slice(src, rows, k),
        MatRef::from_row_major_slice(a, k, k),
        sign,
        Par::Seq,
    );
    super::avx_state::after_matmul();
}

/// [`cg_row_body`] for the rows `first..` of `m` whose factors are `xb`, the dense products of all
/// rows at once. Each row follows implicit's `_solve_cg` step for step, including its early
/// exits; a finished row rides along in the GEMMs and is left untouched.
#[allow(clippy::too_many_arguments)]
fn cg_block(
    xb: &mut [f32],
    y: &[f32],
    a0: &[f32],
    k: usize,
    m: &CsrRef,
    first: usize,
    steps: usize,
    s: &mut CgBlockScratch,
) {
    let rows = xb.len() / k;
    let n = rows * k;
    // r = b - A x, with b = sum_i c_i y_i since p_ui = 1 on every non-zero.
    times_dense(&mut s.r[..n], xb, a0, rows, k, -1.0);
    sparse_residual(xb, y, k, m, first, s);
    s.p[..n].copy_from_slice(&s.r[..n]);
    let mut live = 0;
    for i in 0..rows {
        let ri = &s.r[i * k..(i + 1) * k];
        s.rsold[i] = dot(ri, ri);
        s.active[i] = s.rsold[i] >= CG_EPS;
        live += usize::from(s.active[i]);
    }
    for _ in 0..steps {
        if live == 0 {
            break;
        }
        times_dense(&mut s.ap[..n], &s.p[..n], a0, rows, k, 1.0);
        live = sparse_step(xb, y, k, m, first, s);
    }
}

/// How many non-zeros ahead the factor rows are prefetched. They are scattered over a matrix far
/// larger than the caches, and one non-zero's arithmetic is too short to hide a miss; the
/// profile put most of the CG's time on the first load of each row.
const PREFETCH_AHEAD: usize = 16;

/// `out += w(c_i, y_i . v) y_i` over the non-zeros `(i, c_i)` of one row, in their order.
/// With `gather`, each factor row is also copied there (row after row) for the later CG steps,
/// and the arithmetic runs on the copy, in the same order, so the result is the same.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn sparse_pass(
    idx: &[u32],
    conf: &[f32],
    y: &[f32],
    k: usize,
    v: &[f32],
    out: &mut [f32],
    mut gather: Option<&mut [f32]>,
    weight: impl Fn(f32, f32) -> f32,
) {
    let row = |j: u32| &y[j as usize * k..][..k];
    // The first rows' misses overlap when issued together instead of one per non-zero.
    for &j in idx.iter().take(PREFETCH_AHEAD) {
        prefetch(row(j));
    }
    for (n, (&j, &c)) in idx.iter().zip(conf).enumerate() {
        if let Some(&ahead) = idx.get(n + PREFETCH_AHEAD) {
            prefetch(row(ahead));
        }
        let yi: &[f32] = match gather.as_deref_mut() {
            Some(g) => {
                let copy = &mut g[n * k..(n + 1) * k];
                copy.copy_from_slice(row(j));
                copy
            }
            None => row(j),
        };
        axpy(weight(c, dot(yi, v)), yi, out);
    }
}

/// [`sparse_pass`] over factor rows already gathered into `g`.
#[inline(always)]
fn gathered_pass(
    g: &[f32],
    conf: &[f32],
    k: usize,
    v: &[f32],
    out: &mut [f32],
    weight: impl Fn(f32, f32) -> f32,
) {
    for (yi, &c) in g.chunks_exact(k).zip(conf) {
        axpy(weight(c, dot(yi, v)), yi, out);
    }
}

/// Asks for the cache lines of `row` ahead of use; a hint only, never a fault.
#[inline(always)]
fn prefetch(row: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // 16 f32 to a 64-byte line; the last element covers a row that straddles one more.
        let mut i = 0;
        while i < row.len() {
            // SAFETY: SSE is part of the x86-64 baseline, and a prefetch reads nothing (the
            // address lies inside `row` anyway).
            unsafe { _mm_prefetch::<_MM_HINT_T0>((&raw const row[i]).cast()) };
            i += 16;
        }
        if let Some(last) = row.last() {
            // SAFETY: as above.
            unsafe { _mm_prefetch::<_MM_HINT_T0>((&raw const *last).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// The non-zeros' part of the first residual of every row of a block.
#[inline]
fn sparse_residual(
    xb: &[f32],
    y: &[f32],
    k: usize,
    m: &CsrRef,
    first: usize,
    s: &mut CgBlockScratch,
) {
    #[cfg(target_arch = "x86_64")]
    if simd::avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time just above).
        return unsafe { simd::sparse_residual_avx2(xb, y, k, m, first, s) };
    }
    sparse_residual_body(xb, y, k, m, first, s)
}

#[inline(always)]
fn sparse_residual_body(
    xb: &[f32],
    y: &[f32],
    k: usize,
    m: &CsrRef,
    first: usize,
    s: &mut CgBlockScratch,
) {
    let CgBlockScratch { r, g, g_at, .. } = s;
    let weight = |c: f32, d: f32| c - (c - 1.0) * d;
    let mut used = 0;
    for (i, (xu, r)) in xb.chunks_exact(k).zip(r.chunks_exact_mut(k)).enumerate() {
        let (idx, conf) = m.row(first + i);
        let n = idx.len() * k;
        if n <= g.len() - used {
            sparse_pass(idx, conf, y, k, xu, r, Some(&mut g[used..used + n]), weight);
            g_at[i] = Some(used);
            used += n;
        } else {
            sparse_pass(idx, conf, y, k, xu, r, None, weight);
            g_at[i] = None;
        }
    }
}

/// One CG step of every live row of a block, once `ap` holds the dense part of `A p`.
/// Returns how many rows are still live.
#[inline]
fn sparse_step(
    xb: &mut [f32],
    y: &[f32],
    k: usize,
    m: &CsrRef,
    first: usize,
    s: &mut CgBlockScratch,
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if simd::avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time just above).
        return unsafe { simd::sparse_step_avx2(xb, y, k, m, first, s) };
    }
    sparse_step_body(xb, y, k, m, first, s)
}

#[inline(always)]
fn sparse_step_body(
    xb: &mut [f32],
    y: &[f32],
    k: usize,
    m: &CsrRef,
    first: usize,
    s: &mut CgBlockScratch,
) -> usize {
    let mut live = 0;
    let CgBlockScratch {
        r,
        p,
        ap,
        rsold,
        active,
        g,
        g_at,
    } = s;
    for (i, xu) in xb.chunks_exact_mut(k).enumerate() {
        if !active[i] {
            continue;
        }
        let (r, p, ap) = (
            &mut r[i * k..(i + 1) * k],
            &mut p[i * k..(i + 1) * k],
            &mut ap[i * k..(i + 1) * k],
        );
        let (idx, conf) = m.row(first + i);
        let weight = |c: f32, d: f32| (c - 1.0) * d;
        match g_at[i] {
            Some(at) => gathered_pass(&g[at..at + idx.len() * k], conf, k, p, ap, weight),
            None => sparse_pass(idx, conf, y, k, p, ap, None, weight),
        }
        let pap = dot(p, ap);
        // Positive whenever A is positive definite and p != 0; stopping keeps NaN out of x
        // when the inputs break that.
        if pap.is_nan() || pap <= 0.0 {
            active[i] = false;
            continue;
        }
        let alpha = rsold[i] / pap;
        axpy(alpha, p, xu);
        axpy(-alpha, ap, r);
        let rsnew = dot(r, r);
        if rsnew < CG_EPS {
            active[i] = false;
            continue;
        }
        let beta = rsnew / rsold[i];
        for (pv, &rv) in p.iter_mut().zip(r.iter()) {
            *pv = rv + beta * *pv;
        }
        rsold[i] = rsnew;
        live += 1;
    }
    live
}

struct CholScratch {
    a: Vec<f64>,
    b: Vec<f64>,
    rows: Vec<f64>,
}

impl CholScratch {
    fn new(k: usize) -> Self {
        Self {
            a: vec![0.0; k * k],
            b: vec![0.0; k],
            rows: vec![0.0; GROUP * k],
        }
    }
}

/// Forms `A = a0 + sum_i (c_i - 1) y_i y_i^T` and `b = sum_i c_i y_i` in f64 and solves
/// exactly. Returns false when `A` is not numerically positive definite.
fn cholesky_row(
    xu: &mut [f32],
    y: &[f32],
    a0: &[f64],
    k: usize,
    idx: &[u32],
    conf: &[f32],
    s: &mut CholScratch,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if simd::avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time just above).
        return unsafe { simd::cholesky_row_avx2(xu, y, a0, k, idx, conf, s) };
    }
    cholesky_row_body(xu, y, a0, k, idx, conf, s)
}

/// The body of [`cholesky_row`], inlined into a baseline and an AVX2 clone.
#[inline(always)]
fn cholesky_row_body(
    xu: &mut [f32],
    y: &[f32],
    a0: &[f64],
    k: usize,
    idx: &[u32],
    conf: &[f32],
    s: &mut CholScratch,
) -> bool {
    let CholScratch { a, b, rows } = s;
    a.copy_from_slice(a0);
    b.fill(0.0);
    for (js, cs) in idx.chunks(GROUP).zip(conf.chunks(GROUP)) {
        let mut w = [0.0; GROUP];
        for (g, (&j, &c)) in js.iter().zip(cs).enumerate() {
            let yi = &y[j as usize * k..][..k];
            let dst = &mut rows[g * k..(g + 1) * k];
            for (d, &v) in dst.iter_mut().zip(yi) {
                *d = f64::from(v);
            }
            let c = f64::from(c);
            w[g] = c - 1.0;
            for (bv, &v) in b.iter_mut().zip(dst.iter()) {
                *bv += c * v;
            }
        }
        rank_update_lower(a, k, rows, &w, js.len());
    }
    if !cholesky_lower(a, k) {
        return false;
    }
    // L z = b, then L^T x = z, both in place in b; the second runs by columns of L^T (rows of
    // L) so that every inner loop is contiguous.
    for i in 0..k {
        let li = &a[i * k..i * k + i + 1];
        b[i] = (b[i] - dot_f64(&li[..i], &b[..i])) / li[i];
    }
    for i in (0..k).rev() {
        let li = &a[i * k..i * k + i + 1];
        b[i] /= li[i];
        let xi = b[i];
        for (bv, &l) in b[..i].iter_mut().zip(&li[..i]) {
            *bv -= l * xi;
        }
    }
    for (o, &v) in xu.iter_mut().zip(b.iter()) {
        *o = v as f32;
    }
    true
}

/// In-place Cholesky–Banachiewicz on the lower triangle of a row-major k x k matrix: row by
/// row, each entry is one contiguous dot product of two rows of L.
#[inline(always)]
fn cholesky_lower(a: &mut [f64], k: usize) -> bool {
    for i in 0..k {
        let (done, rest) = a.split_at_mut(i * k);
        let li = &mut rest[..k];
        for j in 0..i {
            let lj = &done[j * k..j * k + j + 1];
            li[j] = (li[j] - dot_f64(&li[..j], &lj[..j])) / lj[j];
        }
        let d = li[i] - dot_f64(&li[..i], &li[..i]);
        // NaN comes from non-finite factors.
        if d.is_nan() || d <= 0.0 {
            return false;
        }
        li[i] = d.sqrt();
    }
    true
}

/// AVX2 clones of the per-row solves. The build targets baseline x86-64 (SSE2) so the
/// binaries run anywhere; these clones let the same code use 256-bit registers where the CPU
/// has them. Rust never fuses a multiply and an add on its own, and the lane-wise loops keep
/// their order, so both clones give bit-identical results.
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{
        cholesky_row_body, sparse_residual_body, sparse_step_body, CgBlockScratch, CholScratch,
        CsrRef,
    };
    use std::sync::OnceLock;

    pub(super) fn avx2_fma() -> bool {
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        })
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn sparse_residual_avx2(
        xb: &[f32],
        y: &[f32],
        k: usize,
        m: &CsrRef,
        first: usize,
        s: &mut CgBlockScratch,
    ) {
        sparse_residual_body(xb, y, k, m, first, s)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn sparse_step_avx2(
        xb: &mut [f32],
        y: &[f32],
        k: usize,
        m: &CsrRef,
        first: usize,
        s: &mut CgBlockScratch,
    ) -> usize {
        sparse_step_body(xb, y, k, m, first, s)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn cholesky_row_avx2(
        xu: &mut [f32],
        y: &[f32],
        a0: &[f64],
        k: usize,
        idx: &[u32],
        conf: &[f32],
        s: &mut CholScratch,
    ) -> bool {
        cholesky_row_body(xu, y, a0, k, idx, conf, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn gather_rows_picks_rows_by_position_and_checks_bounds() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(41);
        let (rows, k) = (37, 5);
        let src: Vec<f32> = (0..rows * k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let pos: Vec<u64> = (0..60).map(|_| rng.random_range(0..rows as u64)).collect();
        let mut out = vec![0f32; pos.len() * k];
        gather_rows(&src, k, &pos, &mut out).unwrap();
        for (j, &p) in pos.iter().enumerate() {
            let p = p as usize;
            assert_eq!(
                &out[j * k..(j + 1) * k],
                &src[p * k..(p + 1) * k],
                "row {j}"
            );
        }
        assert!(gather_rows(&src, k, &[rows as u64], &mut out[..k]).is_err());
        assert!(gather_rows(&src, k, &pos, &mut out[1..]).is_err());
        assert!(gather_rows(&src, 0, &[], &mut []).is_err());
    }

    fn random_vec(rng: &mut impl Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// The AVX2 clones must agree bit for bit with the baseline bodies, or results would depend
    /// on the machine.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn cholesky_clone_matches_the_baseline_bit_for_bit() {
        if !simd::avx2_fma() {
            eprintln!("no AVX2/FMA here: nothing to compare");
            return;
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for k in [1usize, 7, 8, 33, 128] {
            let n_items = 50;
            let y = random_vec(&mut rng, n_items * k);
            let mut a0 = gram(&y, k);
            for d in 0..k {
                a0[d * k + d] += 0.1;
            }
            let a064: Vec<f64> = a0.iter().map(|&v| f64::from(v)).collect();
            let idx: Vec<u32> = (0..n_items as u32)
                .filter(|_| rng.random::<f32>() < 0.3)
                .collect();
            let conf: Vec<f32> = idx
                .iter()
                .map(|_| 1.0 + 10.0 * rng.random::<f32>())
                .collect();
            let x0 = random_vec(&mut rng, k);
            let (mut xa, mut xb) = (x0.clone(), x0.clone());
            let oka =
                cholesky_row_body(&mut xa, &y, &a064, k, &idx, &conf, &mut CholScratch::new(k));
            // SAFETY: as above.
            let okb = unsafe {
                simd::cholesky_row_avx2(
                    &mut xb,
                    &y,
                    &a064,
                    k,
                    &idx,
                    &conf,
                    &mut CholScratch::new(k),
                )
            };
            assert_eq!(oka, okb);
            assert_eq!(
                xa.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                xb.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "Cholesky, k = {k}"
            );
        }
    }

    /// A random CSR of `rows` rows over `cols` columns, some rows empty.
    fn random_csr(rng: &mut impl Rng, rows: usize, cols: usize, density: f32) -> CsrParts {
        let mut offsets = vec![0u64];
        let (mut idx, mut conf) = (Vec::new(), Vec::new());
        for _ in 0..rows {
            for j in 0..cols as u32 {
                if rng.random::<f32>() < density {
                    idx.push(j);
                    conf.push(1.0 + 10.0 * rng.random::<f32>());
                }
            }
            offsets.push(idx.len() as u64);
        }
        (offsets, idx, conf)
    }

    /// The blocked CG follows the per-row reference step for step; only the summation order
    /// of the dense products differs (GEMM against mat-vec).
    #[test]
    fn blocked_cg_matches_the_per_row_reference() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        // The last two shapes have rows too long to be gathered (over GATHER_FLOATS / k
        // non-zeros) next to short ones, so both the gathered and the in-place passes run.
        for (k, rows, n_items, density) in [
            (1usize, 3usize, 60usize, 0.2f32),
            (8, 64, 60, 0.2),
            (33, 150, 60, 0.2),
            (128, 130, 60, 0.2),
            (128, 6, 2400, 0.5),
            (160, 9, 1500, 0.6),
        ] {
            let y = random_vec(&mut rng, n_items * k);
            let yty = gram(&y, k);
            let (o, i, c) = random_csr(&mut rng, rows, n_items, density);
            let m = CsrRef::new(&o, &i, &c).unwrap();
            let x0 = random_vec(&mut rng, rows * k);
            for steps in [0, 1, 3, 8] {
                let mut blocked = x0.clone();
                solve(&mut blocked, &y, &yty, k, &m, 0.1, Solver::Cg { steps }).unwrap();
                let mut a0 = yty.clone();
                for d in 0..k {
                    a0[d * k + d] += 0.1;
                }
                let mut s = CgScratch::new(k);
                for (u, want) in x0.chunks(k).enumerate() {
                    let mut want = want.to_vec();
                    let (idx, conf) = m.row(u);
                    cg_row_body(&mut want, &y, &a0, k, idx, conf, steps, &mut s);
                    let got = &blocked[u * k..(u + 1) * k];
                    let scale = want.iter().fold(1e-3f32, |a, v| a.max(v.abs()));
                    for (g, w) in got.iter().zip(&want) {
                        assert!(
                            (g - w).abs() <= 1e-3 * scale,
                            "k = {k}, steps = {steps}, row {u}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }

    /// Blocks cover every row once, in order, hold at most CG_BLOCK rows and never more
    /// gathered factor rows than the buffer; rows too long to gather do not count.
    #[test]
    fn cg_blocks_partition_the_rows_within_the_gather_budget() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        for k in [1usize, 64, 128, 1024] {
            let lens: Vec<usize> = (0..3000)
                .map(|_| match rng.random_range(0..20) {
                    0 => rng.random_range(0..5000),
                    _ => rng.random_range(0..300),
                })
                .collect();
            let mut offsets = vec![0u64];
            for l in &lens {
                offsets.push(offsets.last().unwrap() + *l as u64);
            }
            let nnz = *offsets.last().unwrap() as usize;
            let (indices, confidence) = (vec![0u32; nnz], vec![1f32; nnz]);
            let m = CsrRef {
                offsets: &offsets,
                indices: &indices,
                confidence: &confidence,
            };
            let b = cg_blocks(&m, k);
            assert_eq!(b.first(), Some(&0));
            assert_eq!(b.last(), Some(&lens.len()));
            for w in b.windows(2) {
                assert!(w[0] < w[1] && w[1] - w[0] <= CG_BLOCK, "k = {k}: {w:?}");
                let gathered: usize = lens[w[0]..w[1]]
                    .iter()
                    .map(|l| l * k)
                    .filter(|&n| n <= GATHER_FLOATS)
                    .sum();
                assert!(
                    gathered <= GATHER_FLOATS,
                    "k = {k}: {w:?} gathers {gathered}"
                );
            }
        }
        let empty = CsrRef {
            offsets: &[0],
            indices: &[],
            confidence: &[],
        };
        assert_eq!(cg_blocks(&empty, 8), vec![0]);
    }

    /// The AVX2 clones of the blocked CG's sparse parts agree bit for bit with the baseline.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn blocked_cg_clones_match_the_baseline_bit_for_bit() {
        if !simd::avx2_fma() {
            eprintln!("no AVX2/FMA here: nothing to compare");
            return;
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for k in [1usize, 7, 8, 33, 128] {
            let rows = 40;
            let n_items = 50;
            let y = random_vec(&mut rng, n_items * k);
            let (o, i, c) = random_csr(&mut rng, rows, n_items, 0.3);
            let m = CsrRef::new(&o, &i, &c).unwrap();
            let x0 = random_vec(&mut rng, rows * k);
            let mut sa = CgBlockScratch::new(k);
            sa.r[..rows * k].copy_from_slice(&random_vec(&mut rng, rows * k));
            sa.p[..rows * k].copy_from_slice(&random_vec(&mut rng, rows * k));
            sa.ap[..rows * k].copy_from_slice(&random_vec(&mut rng, rows * k));
            sa.rsold.fill(1.0);
            sa.active.fill(true);
            let mut sb = CgBlockScratch::new(k);
            for (dst, src) in [(&mut sb.r, &sa.r), (&mut sb.p, &sa.p), (&mut sb.ap, &sa.ap)] {
                dst.copy_from_slice(src);
            }
            sb.rsold.copy_from_slice(&sa.rsold);
            sb.active.copy_from_slice(&sa.active);
            let (mut xa, mut xb) = (x0.clone(), x0);
            sparse_residual_body(&xa, &y, k, &m, 0, &mut sa);
            // SAFETY: AVX2 and FMA were detected above.
            unsafe { simd::sparse_residual_avx2(&xb, &y, k, &m, 0, &mut sb) };
            let la = sparse_step_body(&mut xa, &y, k, &m, 0, &mut sa);
            // SAFETY: as above.
            let lb = unsafe { simd::sparse_step_avx2(&mut xb, &y, k, &m, 0, &mut sb) };
            assert_eq!(la, lb);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&xa), bits(&xb), "x, k = {k}");
            assert_eq!(bits(&sa.r), bits(&sb.r), "r, k = {k}");
            assert_eq!(bits(&sa.p), bits(&sb.p), "p, k = {k}");
        }
    }

    #[test]
    fn dot_and_axpy_match_naive_for_every_remainder() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for n in 0..40 {
            let a = random_vec(&mut rng, n);
            let b = random_vec(&mut rng, n);
            let naive: f64 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum();
            assert!((f64::from(dot(&a, &b)) - naive).abs() < 1e-5, "n = {n}");
            assert!((dot64(&a, &b) - naive).abs() < 1e-12, "n = {n}");
            let (a64, b64): (Vec<f64>, Vec<f64>) = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| (f64::from(x), f64::from(y)))
                .unzip();
            assert!((dot_f64(&a64, &b64) - naive).abs() < 1e-12, "n = {n}");
            let mut y = b.clone();
            axpy(0.5, &a, &mut y);
            for i in 0..n {
                assert_eq!(y[i], b[i] + 0.5 * a[i]);
            }
        }
    }

    #[test]
    fn cholesky_factor_reproduces_the_matrix() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        for k in [1, 2, 5, 13] {
            let f: Vec<f64> = (0..k * (k + 3))
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            // F^T F + I is positive definite.
            let mut a = vec![0.0; k * k];
            for r in f.chunks(k) {
                for i in 0..k {
                    for j in 0..k {
                        a[i * k + j] += r[i] * r[j];
                    }
                }
            }
            for d in 0..k {
                a[d * k + d] += 1.0;
            }
            let mut l = a.clone();
            assert!(cholesky_lower(&mut l, k));
            for i in 0..k {
                for j in 0..=i {
                    let v: f64 = (0..=j).map(|p| l[i * k + p] * l[j * k + p]).sum();
                    assert!((v - a[i * k + j]).abs() < 1e-10, "k = {k} ({i}, {j})");
                }
            }
        }
    }

    #[test]
    fn cholesky_refuses_indefinite_and_nan() {
        let mut a = vec![1.0, 2.0, 2.0, 1.0];
        assert!(!cholesky_lower(&mut a, 2));
        let mut a = vec![f64::NAN, 0.0, 0.0, 1.0];
        assert!(!cholesky_lower(&mut a, 2));
    }

    #[test]
    fn rank_update_groups_match_single_rows() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let k = 7;
        for used in 1..=GROUP {
            let rows: Vec<f64> = (0..GROUP * k)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            let w = [0.5, 2.0, 1.5, 3.0];
            let mut grouped = vec![0.0; k * k];
            rank_update_lower(&mut grouped, k, &rows, &w, used);
            for a in 0..k {
                for b in 0..k {
                    let want: f64 = if b <= a {
                        (0..used)
                            .map(|g| w[g] * rows[g * k + a] * rows[g * k + b])
                            .sum()
                    } else {
                        0.0
                    };
                    assert!((grouped[a * k + b] - want).abs() < 1e-12);
                }
            }
        }
    }
}
