//! Dense layers: GEMM through faer, bias plus activation fused into one pass over the output,
//! the activations' backward passes and the bias gradient.
//!
//! Matrices are row-major `f32`. Every function here is deterministic for a given thread count
//! (faer splits a product the same way each time); results for another thread count agree to
//! float tolerance.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Columns a rayon task owns in the column-wise passes: wide enough to amortise a task, small
/// enough that a 500-row batch splits across cores.
const COLUMN_CHUNK: usize = 2048;

/// Output columns per task when [`gemm`] splits a wide product itself (the decoder's last
/// layer: 500 x 1200 times 1200 x 100,000). faer's own split of such a product reached
/// 120-150 GFLOP/s on two cores; sequential products over 4,096-column chunks, one rayon task
/// each, reached 210-280 (MKL through PyTorch: 200-280), `cargo run --release -p
/// archetype-kernels --example cpu_gemm`. A fixed width keeps every output element's
/// summation independent of the thread count.
const GEMM_COLUMN_CHUNK: usize = 4096;

/// Chunks each thread must get at least before [`gemm`] splits by columns: fewer leave a thread
/// idle behind the last chunk.
const CHUNKS_PER_THREAD: usize = 4;

/// How the output of a layer is squashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Tanh,
    Sigmoid,
}

/// One operand of [`gemm`]: a row-major matrix of `rows x cols`, used as is or transposed.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub transpose: bool,
}

impl<'a> Operand<'a> {
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Operand {
            data,
            rows,
            cols,
            transpose: false,
        }
    }

    pub fn t(self) -> Self {
        Operand {
            transpose: !self.transpose,
            ..self
        }
    }

    /// Rows and columns of the operand as used.
    fn shape(&self) -> (usize, usize) {
        if self.transpose {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }

    fn mat(&self) -> MatRef<'a, f32> {
        let m = MatRef::from_row_major_slice(self.data, self.rows, self.cols);
        if self.transpose {
            m.transpose()
        } else {
            m
        }
    }
}

/// `c = a b` (`accumulate`: `c += a b`) with `c` row-major of `a.rows x b.cols` as used.
///
/// # Panics
/// When the shapes do not chain or a slice is shorter than its shape; callers size them.
pub fn gemm(c: &mut [f32], a: Operand<'_>, b: Operand<'_>, accumulate: bool) {
    let (m, k) = a.shape();
    let (k2, n) = b.shape();
    assert_eq!(k, k2, "gemm: inner dimensions {k} and {k2}");
    assert_eq!(a.data.len(), a.rows * a.cols, "gemm: a's length");
    assert_eq!(b.data.len(), b.rows * b.cols, "gemm: b's length");
    assert_eq!(c.len(), m * n, "gemm: c's length");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    let accum = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    let threads = rayon::current_num_threads();
    let mut out = MatMut::from_row_major_slice_mut(c, m, n);
    if threads > 1 && n >= GEMM_COLUMN_CHUNK * CHUNKS_PER_THREAD * threads {
        // One sequential product per chunk of output columns, the chunks spread by rayon.
        let mut chunks = Vec::with_capacity(n.div_ceil(GEMM_COLUMN_CHUNK));
        let mut first = 0;
        while out.ncols() > GEMM_COLUMN_CHUNK {
            let (chunk, rest) = out.split_at_col_mut(GEMM_COLUMN_CHUNK);
            chunks.push((first, chunk));
            first += GEMM_COLUMN_CHUNK;
            out = rest;
        }
        chunks.push((first, out));
        let (a, b) = (a.mat(), b.mat());
        chunks.into_par_iter().for_each(|(j, chunk)| {
            let cols = chunk.ncols();
            matmul(chunk, accum, a, b.subcols(j, cols), 1.0, Par::Seq);
        });
    } else {
        matmul(out, accum, a.mat(), b.mat(), 1.0, Par::rayon(0));
    }
    super::avx_state::after_parallel_matmul();
}

fn activate(v: f32, act: Activation) -> f32 {
    match act {
        Activation::Identity => v,
        Activation::Tanh => v.tanh(),
        Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
    }
}

/// `x[r, j] = act(x[r, j] + bias[j])` over the rows of `x` (`bias.len()` columns).
pub fn bias_activation(x: &mut [f32], bias: &[f32], act: Activation) {
    let cols = bias.len();
    assert!(
        cols > 0 && x.len().is_multiple_of(cols),
        "bias_activation: shape"
    );
    x.par_chunks_mut(cols).for_each(|row| {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v = activate(*v + b, act);
        }
    });
}

/// Turns `dy` (the gradient at the activation's output `y`) into the gradient at its input.
pub fn activation_backward(dy: &mut [f32], y: &[f32], act: Activation) {
    assert_eq!(dy.len(), y.len(), "activation_backward: shape");
    let chunk = COLUMN_CHUNK * 8;
    dy.par_chunks_mut(chunk)
        .zip(y.par_chunks(chunk))
        .for_each(|(d, y)| match act {
            Activation::Identity => {}
            Activation::Tanh => {
                for (d, &y) in d.iter_mut().zip(y) {
                    *d *= 1.0 - y * y;
                }
            }
            Activation::Sigmoid => {
                for (d, &y) in d.iter_mut().zip(y) {
                    *d *= y * (1.0 - y);
                }
            }
        });
}

/// `out[j] += sum_r dy[r, j]`: the bias gradient, summed over rows in row order so that the
/// result does not depend on the thread count.
pub fn column_sums(dy: &[f32], out: &mut [f32]) {
    let cols = out.len();
    assert!(
        cols > 0 && dy.len().is_multiple_of(cols),
        "column_sums: shape"
    );
    let rows = dy.len() / cols;
    out.par_chunks_mut(COLUMN_CHUNK)
        .enumerate()
        .for_each(|(c, o)| {
            let first = c * COLUMN_CHUNK;
            for r in 0..rows {
                let row = &dy[r * cols + first..][..o.len()];
                for (o, &v) in o.iter_mut().zip(row) {
                    *o += v;
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// `op(a)[i, l]` of a row-major `rows x cols` matrix.
    fn at(o: &Operand<'_>, i: usize, l: usize) -> f32 {
        if o.transpose {
            o.data[l * o.cols + i]
        } else {
            o.data[i * o.cols + l]
        }
    }

    /// `gemm` of random `m x k` and `k x n` operands (transposed as asked) against a triple
    /// loop in f64, plain and accumulating; returns the plain product.
    fn check_gemm(
        rng: &mut ChaCha8Rng,
        (m, k, n): (usize, usize, usize),
        ta: bool,
        tb: bool,
    ) -> Vec<f32> {
        let ad = random(rng, m * k);
        let bd = random(rng, k * n);
        let a = if ta {
            Operand::new(&ad, k, m).t()
        } else {
            Operand::new(&ad, m, k)
        };
        let b = if tb {
            Operand::new(&bd, n, k).t()
        } else {
            Operand::new(&bd, k, n)
        };
        let start = random(rng, m * n);
        let mut plain = Vec::new();
        for accumulate in [false, true] {
            let mut c = start.clone();
            gemm(&mut c, a, b, accumulate);
            for i in 0..m {
                for j in 0..n {
                    let mut want: f64 = if accumulate {
                        f64::from(start[i * n + j])
                    } else {
                        0.0
                    };
                    for l in 0..k {
                        want += f64::from(at(&a, i, l)) * f64::from(at(&b, l, j));
                    }
                    let got = f64::from(c[i * n + j]);
                    assert!(
                        (got - want).abs() < 1e-4,
                        "{m}x{k}x{n} {ta} {tb} at ({i}, {j}): {got} {want}"
                    );
                }
            }
            if !accumulate {
                plain = c;
            }
        }
        plain
    }

    #[test]
    fn gemm_matches_the_triple_loop_for_every_transposition() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..30 {
            let shape = (
                rng.random_range(1..40),
                rng.random_range(0..30),
                rng.random_range(1..50),
            );
            let (ta, tb) = (rng.random_bool(0.5), rng.random_bool(0.5));
            check_gemm(&mut rng, shape, ta, tb);
        }
    }

    /// Products wide enough to be split into column chunks (with a partial last chunk) are
    /// right, and bit-identical for 2 and 3 threads: the chunks do not depend on the count.
    #[test]
    fn wide_gemm_split_by_columns_is_right_and_independent_of_the_thread_count() {
        let n = GEMM_COLUMN_CHUNK * CHUNKS_PER_THREAD * 3 + 777;
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut results = Vec::new();
            for threads in [2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut rng = ChaCha8Rng::seed_from_u64(4);
                results.push(pool.install(|| check_gemm(&mut rng, (3, 17, n), ta, tb)));
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&results[0]), bits(&results[1]), "{ta} {tb}");
        }
    }

    #[test]
    fn activations_and_their_derivatives_match_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for act in [Activation::Identity, Activation::Tanh, Activation::Sigmoid] {
            let cols = 7;
            let x = random(&mut rng, 5 * cols);
            let bias = random(&mut rng, cols);
            let mut y = x.clone();
            bias_activation(&mut y, &bias, act);
            let upstream = random(&mut rng, x.len());
            let mut dx = upstream.clone();
            activation_backward(&mut dx, &y, act);
            for i in 0..x.len() {
                let f = |v: f64| {
                    let b = f64::from(bias[i % cols]);
                    let s = v + b;
                    match act {
                        Activation::Identity => s,
                        Activation::Tanh => s.tanh(),
                        Activation::Sigmoid => 1.0 / (1.0 + (-s).exp()),
                    }
                };
                let v = f64::from(x[i]);
                assert!((f(v) - f64::from(y[i])).abs() < 1e-6);
                let h = 1e-4;
                let fd = (f(v + h) - f(v - h)) / (2.0 * h) * f64::from(upstream[i]);
                assert!(
                    (fd - f64::from(dx[i])).abs() < 1e-5,
                    "{act:?} {i}: {fd} {}",
                    dx[i]
                );
            }
        }
    }

    #[test]
    fn column_sums_add_every_row() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (rows, cols) = (9, COLUMN_CHUNK + 13);
        let dy = random(&mut rng, rows * cols);
        let mut out = vec![1.0f32; cols];
        column_sums(&dy, &mut out);
        for j in 0..cols {
            let want: f32 = 1.0 + (0..rows).map(|r| dy[r * cols + j]).sum::<f32>();
            assert!((out[j] - want).abs() < 1e-5);
        }
    }
}
