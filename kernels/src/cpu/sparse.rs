//! Sparse x dense products for an input layer whose rows are users' few played tracks: the
//! forward `X W` touches only the rows of `W` a user played, and the gradient `X^T dY` only
//! those rows of `dW`. No dense `users x tracks` matrix is ever built.
//!
//! Offsets are `u64`: a batch holds few non-zeros, but the same type carries whole training
//! sets whose non-zeros pass 2^31.

use rayon::prelude::*;

/// A row-major sparse matrix in CSR form: row `r` holds `indices[offsets[r]..offsets[r+1]]`
/// with `values` beside them (`offsets[0]` may be non-zero: a window of a larger matrix).
#[derive(Clone, Copy, Debug)]
pub struct CsrRef<'a> {
    pub offsets: &'a [u64],
    pub indices: &'a [u32],
    pub values: &'a [f32],
    /// Columns (the index range).
    pub cols: usize,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SparseError {
    #[error("CSR: {0}")]
    Shape(String),
}

impl<'a> CsrRef<'a> {
    /// Checks offsets, index range and lengths once, so that the products can index freely.
    pub fn new(
        offsets: &'a [u64],
        indices: &'a [u32],
        values: &'a [f32],
        cols: usize,
    ) -> Result<Self, SparseError> {
        let bad = |m: String| Err(SparseError::Shape(m));
        if offsets.is_empty() {
            return bad("no offsets".into());
        }
        if indices.len() != values.len() {
            return bad(format!(
                "{} indices but {} values",
                indices.len(),
                values.len()
            ));
        }
        if offsets.windows(2).any(|w| w[0] > w[1]) {
            return bad("offsets decrease".into());
        }
        let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
        if last as usize > indices.len() || first > last {
            return bad(format!(
                "offsets reach {last}, past the {} non-zeros",
                indices.len()
            ));
        }
        if let Some(&i) = indices[first as usize..last as usize]
            .iter()
            .find(|&&i| i as usize >= cols)
        {
            return bad(format!("column {i} outside {cols} columns"));
        }
        Ok(CsrRef {
            offsets,
            indices,
            values,
            cols,
        })
    }

    pub fn rows(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn row(&self, r: usize) -> (&'a [u32], &'a [f32]) {
        let (a, b) = (self.offsets[r] as usize, self.offsets[r + 1] as usize);
        (&self.indices[a..b], &self.values[a..b])
    }

    pub fn nnz(&self) -> u64 {
        self.offsets[self.offsets.len() - 1] - self.offsets[0]
    }
}

/// `out = X W` (`accumulate`: `out += X W`) for `X` of `rows x cols` and `W` of `cols x h`,
/// row-major; `out` is `rows x h`.
pub fn spmm(x: CsrRef<'_>, w: &[f32], h: usize, out: &mut [f32], accumulate: bool) {
    assert_eq!(w.len(), x.cols * h, "spmm: W is not cols x h");
    assert_eq!(out.len(), x.rows() * h, "spmm: out is not rows x h");
    if h == 0 {
        return;
    }
    out.par_chunks_mut(h).enumerate().for_each(|(r, o)| {
        if !accumulate {
            o.fill(0.0);
        }
        let (idx, val) = x.row(r);
        for (&j, &v) in idx.iter().zip(val) {
            let wj = &w[j as usize * h..][..h];
            for (o, &wv) in o.iter_mut().zip(wj) {
                *o += v * wv;
            }
        }
    });
}

/// The transpose of a CSR matrix: for every column, the `(row, value)` pairs in row order.
#[derive(Clone, Debug, Default)]
pub struct Transposed {
    pub offsets: Vec<u64>,
    pub rows: Vec<u32>,
    pub values: Vec<f32>,
}

/// Counting sort of the non-zeros by column; stable, so each column lists its rows in order.
pub fn transpose(x: CsrRef<'_>) -> Transposed {
    let mut offsets = vec![0u64; x.cols + 1];
    let (a, b) = (x.offsets[0] as usize, x.offsets[x.rows()] as usize);
    for &j in &x.indices[a..b] {
        offsets[j as usize + 1] += 1;
    }
    for c in 0..x.cols {
        offsets[c + 1] += offsets[c];
    }
    let nnz = b - a;
    let mut next = offsets.clone();
    let mut rows = vec![0u32; nnz];
    let mut values = vec![0f32; nnz];
    for r in 0..x.rows() {
        let (idx, val) = x.row(r);
        for (&j, &v) in idx.iter().zip(val) {
            let slot = &mut next[j as usize];
            rows[*slot as usize] = r as u32;
            values[*slot as usize] = v;
            *slot += 1;
        }
    }
    Transposed {
        offsets,
        rows,
        values,
    }
}

/// `dW += X^T dY` for `X` of `rows x cols` (given by its [`transpose`]) and `dY` of
/// `rows x h`: only the rows of `dW` whose column `X` touches change. Each row of `dW` sums
/// its terms in row order, on one thread, so the result does not depend on the thread count.
pub fn spmm_transpose_acc(xt: &Transposed, dy: &[f32], h: usize, dw: &mut [f32]) {
    let cols = xt.offsets.len() - 1;
    assert_eq!(dw.len(), cols * h, "spmm_transpose_acc: dW is not cols x h");
    assert!(
        h > 0 && dy.len().is_multiple_of(h),
        "spmm_transpose_acc: dY shape"
    );
    dw.par_chunks_mut(h).enumerate().for_each(|(j, d)| {
        let (a, b) = (xt.offsets[j] as usize, xt.offsets[j + 1] as usize);
        for (&r, &v) in xt.rows[a..b].iter().zip(&xt.values[a..b]) {
            let g = &dy[r as usize * h..][..h];
            for (d, &gv) in d.iter_mut().zip(g) {
                *d += v * gv;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    struct Owned {
        offsets: Vec<u64>,
        indices: Vec<u32>,
        values: Vec<f32>,
        cols: usize,
    }

    fn random_csr(rng: &mut ChaCha8Rng, rows: usize, cols: usize) -> Owned {
        let mut offsets = vec![0u64];
        let (mut indices, mut values) = (Vec::new(), Vec::new());
        for _ in 0..rows {
            for j in 0..cols as u32 {
                if rng.random_bool(0.2) {
                    indices.push(j);
                    values.push(rng.random_range(-2.0..2.0));
                }
            }
            offsets.push(indices.len() as u64);
        }
        Owned {
            offsets,
            indices,
            values,
            cols,
        }
    }

    fn dense(x: &Owned) -> Vec<f32> {
        let rows = x.offsets.len() - 1;
        let mut d = vec![0f32; rows * x.cols];
        for r in 0..rows {
            for n in x.offsets[r] as usize..x.offsets[r + 1] as usize {
                d[r * x.cols + x.indices[n] as usize] += x.values[n];
            }
        }
        d
    }

    #[test]
    fn products_match_dense_ones() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..20 {
            let (rows, cols, h) = (
                rng.random_range(1..12),
                rng.random_range(1..40),
                rng.random_range(1..20),
            );
            let x = random_csr(&mut rng, rows, cols);
            let csr = CsrRef::new(&x.offsets, &x.indices, &x.values, x.cols).unwrap();
            let d = dense(&x);
            let w: Vec<f32> = (0..cols * h).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut out = vec![0.5f32; rows * h];
            spmm(csr, &w, h, &mut out, false);
            for r in 0..rows {
                for c in 0..h {
                    let want: f32 = (0..cols).map(|j| d[r * cols + j] * w[j * h + c]).sum();
                    assert!((out[r * h + c] - want).abs() < 1e-4);
                }
            }
            let dy: Vec<f32> = (0..rows * h).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut dw = vec![0.25f32; cols * h];
            spmm_transpose_acc(&transpose(csr), &dy, h, &mut dw);
            for j in 0..cols {
                for c in 0..h {
                    let want: f32 = 0.25
                        + (0..rows)
                            .map(|r| d[r * cols + j] * dy[r * h + c])
                            .sum::<f32>();
                    assert!((dw[j * h + c] - want).abs() < 1e-4);
                }
            }
        }
    }

    #[test]
    fn a_window_of_a_larger_matrix_reads_only_its_rows() {
        let offsets = [2u64, 3, 5];
        let indices = [9, 9, 0, 1, 2];
        let values = [9.0, 9.0, 1.0, 2.0, 3.0];
        let x = CsrRef::new(&offsets, &indices, &values, 3).unwrap();
        assert_eq!(x.rows(), 2);
        assert_eq!(x.nnz(), 3);
        let w = [1.0, 10.0, 100.0];
        let mut out = [0.0; 2];
        spmm(x, &w, 1, &mut out, false);
        assert_eq!(out, [1.0, 20.0 + 300.0]);
        let t = transpose(x);
        assert_eq!(t.offsets, vec![0, 1, 2, 3]);
        assert_eq!(t.rows, vec![0, 1, 1]);
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(CsrRef::new(&[], &[], &[], 3).is_err());
        assert!(CsrRef::new(&[0, 1], &[3], &[1.0], 3).is_err());
        assert!(CsrRef::new(&[0, 2], &[1], &[1.0], 3).is_err());
        assert!(CsrRef::new(&[1, 0], &[1], &[1.0], 3).is_err());
        assert!(CsrRef::new(&[0, 1], &[1, 2], &[1.0], 3).is_err());
    }
}
