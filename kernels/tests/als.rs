//! The ALS kernels against dense, obviously-correct references on small random inputs.

use archetype_kernels::cpu::als::{gram, loss, solve, transpose, AlsError, CsrRef, Solver};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// An owned CSR with sorted rows, for building [`CsrRef`]s.
struct Csr {
    offsets: Vec<u64>,
    indices: Vec<u32>,
    confidence: Vec<f32>,
}

impl Csr {
    fn as_ref(&self) -> CsrRef<'_> {
        CsrRef::new(&self.offsets, &self.indices, &self.confidence).unwrap()
    }

    /// Confidence of each cell, 0 where absent.
    fn dense(&self, n_cols: usize) -> Vec<Vec<f64>> {
        (0..self.offsets.len() - 1)
            .map(|r| {
                let mut row = vec![0.0; n_cols];
                for p in self.offsets[r] as usize..self.offsets[r + 1] as usize {
                    row[self.indices[p] as usize] = f64::from(self.confidence[p]);
                }
                row
            })
            .collect()
    }
}

fn random_csr(rng: &mut ChaCha8Rng, rows: usize, cols: usize, density: f64) -> Csr {
    let mut offsets = vec![0u64];
    let mut indices = Vec::new();
    let mut confidence = Vec::new();
    for _ in 0..rows {
        for j in 0..cols {
            if rng.random_bool(density) {
                indices.push(j as u32);
                confidence.push(rng.random_range(1.0..6.0));
            }
        }
        offsets.push(indices.len() as u64);
    }
    Csr {
        offsets,
        indices,
        confidence,
    }
}

fn random_factors(rng: &mut ChaCha8Rng, n: usize, k: usize, scale: f32) -> Vec<f32> {
    (0..n * k)
        .map(|_| rng.random_range(-scale..scale))
        .collect()
}

/// Gaussian elimination with partial pivoting, f64.
fn gauss_solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap();
        a.swap(col, piv);
        b.swap(col, piv);
        let pivot = a[col].clone();
        for row in col + 1..n {
            let f = a[row][col] / pivot[col];
            for (v, &p) in a[row][col..].iter_mut().zip(&pivot[col..]) {
                *v -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|c| a[row][c] * x[c]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x
}

/// Every row's exact optimum, with `A_u` and `b_u` built densely over all columns (c = 1 and
/// p = 0 for absent cells), straight from the objective.
fn dense_reference(m: &Csr, y: &[f32], k: usize, lambda: f32) -> Vec<f64> {
    let n_cols = y.len() / k;
    let conf = m.dense(n_cols);
    let mut out = Vec::new();
    for row in conf {
        let mut a = vec![vec![0.0; k]; k];
        let mut b = vec![0.0; k];
        for (i, &c_raw) in row.iter().enumerate() {
            let (c, p) = if c_raw > 0.0 {
                (c_raw, 1.0)
            } else {
                (1.0, 0.0)
            };
            let yi: Vec<f64> = y[i * k..(i + 1) * k].iter().map(|&v| v.into()).collect();
            for r in 0..k {
                for s in 0..k {
                    a[r][s] += c * yi[r] * yi[s];
                }
                b[r] += c * p * yi[r];
            }
        }
        for (d, ad) in a.iter_mut().enumerate() {
            ad[d] += f64::from(lambda);
        }
        out.extend(gauss_solve(a, b));
    }
    out
}

/// The objective evaluated cell by cell.
fn dense_loss(m: &Csr, x: &[f32], y: &[f32], k: usize, lambda: f32) -> f64 {
    let n_cols = y.len() / k;
    let conf = m.dense(n_cols);
    let mut total = 0.0;
    for (u, row) in conf.iter().enumerate() {
        for (i, &c_raw) in row.iter().enumerate() {
            let (c, p) = if c_raw > 0.0 {
                (c_raw, 1.0)
            } else {
                (1.0, 0.0)
            };
            let s: f64 = (0..k)
                .map(|d| f64::from(x[u * k + d]) * f64::from(y[i * k + d]))
                .sum();
            total += c * (p - s) * (p - s);
        }
    }
    let sq: f64 = x
        .iter()
        .chain(y)
        .map(|&v| f64::from(v) * f64::from(v))
        .sum();
    total + f64::from(lambda) * sq
}

fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    let num: f64 = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| (f64::from(g) - w).powi(2))
        .sum();
    let den: f64 = want.iter().map(|w| w * w).sum();
    (num / den).sqrt()
}

#[test]
fn cholesky_matches_dense_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for k in [3, 5] {
        for trial in 0..5 {
            let m = random_csr(&mut rng, 7, 9, 0.4);
            let y = random_factors(&mut rng, 9, k, 1.0);
            let lambda = 0.1;
            let want = dense_reference(&m, &y, k, lambda);
            let mut x = random_factors(&mut rng, 7, k, 1.0);
            let yty = gram(&y, k);
            solve(&mut x, &y, &yty, k, &m.as_ref(), lambda, Solver::Cholesky).unwrap();
            let e = rel_err(&x, &want);
            assert!(e < 1e-5, "k = {k}, trial {trial}: relative error {e}");
        }
    }
}

#[test]
fn cg_50_steps_matches_dense_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for k in [3, 5] {
        for trial in 0..5 {
            let m = random_csr(&mut rng, 7, 9, 0.4);
            let y = random_factors(&mut rng, 9, k, 1.0);
            let lambda = 0.1;
            let want = dense_reference(&m, &y, k, lambda);
            let mut x = random_factors(&mut rng, 7, k, 1.0);
            let yty = gram(&y, k);
            let solver = Solver::Cg { steps: 50 };
            solve(&mut x, &y, &yty, k, &m.as_ref(), lambda, solver).unwrap();
            let e = rel_err(&x, &want);
            assert!(e < 1e-5, "k = {k}, trial {trial}: relative error {e}");
        }
    }
}

#[test]
fn cg_3_steps_warm_started_converges() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    // k above the step count, or 3 steps would already be exact (CG ends in k steps).
    for k in [4, 5] {
        let m = random_csr(&mut rng, 7, 9, 0.4);
        let y = random_factors(&mut rng, 9, k, 1.0);
        let lambda = 0.1;
        let want = dense_reference(&m, &y, k, lambda);
        let mut x = random_factors(&mut rng, 7, k, 1.0);
        let yty = gram(&y, k);
        let first = {
            let mut once = x.clone();
            solve(
                &mut once,
                &y,
                &yty,
                k,
                &m.as_ref(),
                lambda,
                Solver::Cg { steps: 3 },
            )
            .unwrap();
            rel_err(&once, &want)
        };
        for _ in 0..20 {
            solve(
                &mut x,
                &y,
                &yty,
                k,
                &m.as_ref(),
                lambda,
                Solver::Cg { steps: 3 },
            )
            .unwrap();
        }
        let e = rel_err(&x, &want);
        assert!(e < 1e-5, "k = {k}: relative error {e} after 20 warm starts");
        assert!(
            first > 1e-3,
            "k = {k}: one solve of 3 steps was already exact ({first})"
        );
    }
}

#[test]
fn empty_rows_solve_to_zero() {
    let k = 4;
    let offsets = [0u64, 0, 1, 1];
    let indices = [2u32];
    let confidence = [3.0f32];
    let m = CsrRef::new(&offsets, &indices, &confidence).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let y = random_factors(&mut rng, 5, k, 1.0);
    let yty = gram(&y, k);
    for solver in [Solver::Cholesky, Solver::Cg { steps: 20 }] {
        let mut x = random_factors(&mut rng, 3, k, 1.0);
        solve(&mut x, &y, &yty, k, &m, 0.1, solver).unwrap();
        for u in [0, 2] {
            assert!(
                x[u * k..(u + 1) * k].iter().all(|v| v.abs() < 1e-5),
                "{solver:?}"
            );
        }
        assert!(x[k..2 * k].iter().any(|v| v.abs() > 1e-3), "{solver:?}");
    }
}

#[test]
fn loss_matches_dense_evaluation() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for (rows, cols, k, density) in [(7, 9, 3, 0.4), (30, 17, 5, 0.2), (600, 40, 8, 0.1)] {
        let m = random_csr(&mut rng, rows, cols, density);
        let x = random_factors(&mut rng, rows, k, 1.0);
        let y = random_factors(&mut rng, cols, k, 1.0);
        let lambda = 0.3;
        let got = loss(&x, &y, k, &m.as_ref(), lambda).unwrap();
        let want = dense_loss(&m, &x, &y, k, lambda);
        assert!(
            (got - want).abs() <= 1e-6 * want.abs(),
            "{rows} x {cols}, k = {k}: {got} vs {want}"
        );
    }
}

/// Alternates half-steps from random factors, returning the loss after each.
fn run_als(solver: Solver, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (users, items, k, lambda) = (40, 60, 6, 0.1);
    let m = random_csr(&mut rng, users, items, 0.15);
    let (t_off, t_idx, t_conf) = transpose(&m.as_ref(), items).unwrap();
    let mt = CsrRef::new(&t_off, &t_idx, &t_conf).unwrap();
    let mut x = random_factors(&mut rng, users, k, 0.1);
    let mut y = random_factors(&mut rng, items, k, 0.1);
    let mut losses = vec![loss(&x, &y, k, &m.as_ref(), lambda).unwrap()];
    for half in 0..10 {
        if half % 2 == 0 {
            let yty = gram(&y, k);
            solve(&mut x, &y, &yty, k, &m.as_ref(), lambda, solver).unwrap();
        } else {
            let xtx = gram(&x, k);
            solve(&mut y, &x, &xtx, k, &mt, lambda, solver).unwrap();
        }
        losses.push(loss(&x, &y, k, &m.as_ref(), lambda).unwrap());
    }
    losses
}

#[test]
fn als_cholesky_loss_never_increases() {
    let losses = run_als(Solver::Cholesky, 31);
    for w in losses.windows(2) {
        assert!(w[1] <= w[0] * (1.0 + 1e-6), "loss rose: {losses:?}");
    }
    assert!(losses[10] < 0.9 * losses[0], "{losses:?}");
}

#[test]
fn als_cg_3_steps_loss_decreases() {
    let losses = run_als(Solver::Cg { steps: 3 }, 32);
    // Every CG iterate minimises the row's quadratic over a growing Krylov space, so each
    // half-step is monotone up to f32 rounding too.
    for w in losses.windows(2) {
        assert!(w[1] <= w[0] * (1.0 + 1e-4), "loss rose: {losses:?}");
    }
    assert!(losses[10] < 0.9 * losses[0], "{losses:?}");
    let exact = run_als(Solver::Cholesky, 32);
    assert!(
        losses[10] <= exact[10] * 1.05,
        "CG ended far above Cholesky: {} vs {}",
        losses[10],
        exact[10]
    );
}

#[test]
fn gram_matches_naive_product() {
    let mut rng = ChaCha8Rng::seed_from_u64(41);
    // 1500 rows cross several leaves of the reduction tree and leave a partial group of rows.
    for (n, k) in [(0, 3), (1, 1), (9, 5), (1500, 7), (1027, 16)] {
        let f = random_factors(&mut rng, n, k, 1.0);
        let g = gram(&f, k);
        assert_eq!(g.len(), k * k);
        for a in 0..k {
            for b in 0..k {
                let want: f64 = (0..n)
                    .map(|r| f64::from(f[r * k + a]) * f64::from(f[r * k + b]))
                    .sum();
                let got = f64::from(g[a * k + b]);
                assert!(
                    (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                    "n = {n}, k = {k}, ({a}, {b}): {got} vs {want}"
                );
                assert_eq!(g[a * k + b], g[b * k + a]);
            }
        }
    }
}

#[test]
fn transpose_matches_dense_and_twice_is_identity() {
    let mut rng = ChaCha8Rng::seed_from_u64(51);
    for (rows, cols) in [(0, 0), (0, 4), (5, 0), (13, 7), (50, 80)] {
        let m = random_csr(&mut rng, rows, cols, 0.3);
        let (o, i, c) = transpose(&m.as_ref(), cols).unwrap();
        let t = Csr {
            offsets: o,
            indices: i,
            confidence: c,
        };
        let d = m.dense(cols);
        let dt = t.dense(rows);
        assert_eq!(dt.len(), cols);
        for (u, row) in d.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                assert_eq!(dt[j][u], v);
            }
        }
        let (o2, i2, c2) = transpose(&t.as_ref(), rows).unwrap();
        assert_eq!(o2, m.offsets);
        assert_eq!(i2, m.indices);
        assert_eq!(c2, m.confidence);
    }
}

#[test]
fn csr_new_rejects_bad_input_with_clear_messages() {
    let ok_off = [0u64, 2, 3];
    let ok_idx = [0u32, 4, 1];
    let ok_conf = [1.0f32, 2.5, 1.0];
    let m = CsrRef::new(&ok_off, &ok_idx, &ok_conf).unwrap();
    assert_eq!(m.rows(), 2);
    assert_eq!(m.nnz(), 3);

    let cases: Vec<(Result<CsrRef, AlsError>, &str)> = vec![
        (CsrRef::new(&[], &[], &[]), "offsets are empty"),
        (CsrRef::new(&[1, 3], &ok_idx, &ok_conf), "start at 0"),
        (
            CsrRef::new(&[0, 3, 2, 3], &ok_idx, &ok_conf),
            "decrease at row 1",
        ),
        (CsrRef::new(&[0, 2, 4], &ok_idx, &ok_conf), "end at 4"),
        (
            CsrRef::new(&ok_off, &ok_idx, &ok_conf[..2]),
            "3 column indices but 2 confidence",
        ),
        (
            CsrRef::new(&ok_off, &ok_idx, &[1.0, 0.5, 1.0]),
            "non-zero 1 is 0.5",
        ),
        (
            CsrRef::new(&ok_off, &ok_idx, &[1.0, f32::NAN, 1.0]),
            "finite and at least 1",
        ),
        (
            CsrRef::new(&ok_off, &ok_idx, &[1.0, f32::INFINITY, 1.0]),
            "finite and at least 1",
        ),
        (
            CsrRef::new(&ok_off, &[4, 0, 1], &ok_conf),
            "row 0 are not strictly increasing",
        ),
        (
            CsrRef::new(&ok_off, &[3, 3, 1], &ok_conf),
            "without duplicates",
        ),
    ];
    for (i, (res, needle)) in cases.into_iter().enumerate() {
        let err = res.expect_err(&format!("case {i} was accepted"));
        let msg = err.to_string();
        assert!(msg.contains(needle), "case {i}: {msg:?} lacks {needle:?}");
    }
}

#[test]
fn kernels_reject_inconsistent_shapes() {
    let off = [0u64, 2, 3];
    let idx = [0u32, 4, 1];
    let conf = [1.0f32, 2.5, 1.0];
    let m = CsrRef::new(&off, &idx, &conf).unwrap();
    let k = 2;
    let y = vec![0.5f32; 5 * k];
    let yty = gram(&y, k);
    let mut x = vec![0.0f32; 2 * k];
    let cg = Solver::Cg { steps: 3 };

    let short_y = vec![0.5f32; 4 * k];
    let err = solve(&mut x, &short_y, &yty, k, &m, 0.1, cg).unwrap_err();
    assert!(
        matches!(
            err,
            AlsError::IndexOutOfRange {
                index: 4,
                n_cols: 4,
                ..
            }
        ),
        "{err}"
    );
    let err = solve(&mut x[..3], &y, &yty, k, &m, 0.1, cg).unwrap_err();
    assert!(matches!(err, AlsError::Shape { what: "x", .. }), "{err}");
    let err = solve(&mut x, &y[..9], &yty, k, &m, 0.1, cg).unwrap_err();
    assert!(
        matches!(err, AlsError::NotMultipleOfRank { what: "y", .. }),
        "{err}"
    );
    let err = solve(&mut x, &y, &yty[..3], k, &m, 0.1, cg).unwrap_err();
    assert!(matches!(err, AlsError::Shape { what: "yty", .. }), "{err}");
    let err = solve(&mut x, &y, &yty, k, &m, -1.0, cg).unwrap_err();
    assert!(matches!(err, AlsError::Lambda(_)), "{err}");
    let err = solve(&mut x, &y, &yty, 0, &m, 0.1, cg).unwrap_err();
    assert_eq!(err, AlsError::ZeroRank);
    let err = loss(&x, &short_y, k, &m, 0.1).unwrap_err();
    assert!(matches!(err, AlsError::IndexOutOfRange { .. }), "{err}");
    let err = transpose(&m, 4).unwrap_err();
    assert!(matches!(err, AlsError::IndexOutOfRange { .. }), "{err}");

    // Built from the public fields, bypassing `new`: still refused rather than a panic.
    let raw = CsrRef {
        offsets: &[0, 5],
        indices: &idx,
        confidence: &conf,
    };
    let err = solve(&mut x[..k], &y, &yty, k, &raw, 0.1, cg).unwrap_err();
    assert!(matches!(err, AlsError::OffsetsEnd { .. }), "{err}");

    // All-zero factors, lambda 0 and no non-zeros: A = 0, which Cholesky must refuse.
    let zero_y = vec![0.0f32; 5 * k];
    let zero_yty = gram(&zero_y, k);
    let empty = CsrRef::new(&[0, 0], &[], &[]).unwrap();
    let err = solve(
        &mut x[..k],
        &zero_y,
        &zero_yty,
        k,
        &empty,
        0.0,
        Solver::Cholesky,
    )
    .unwrap_err();
    assert_eq!(err, AlsError::NotPositiveDefinite { row: 0 });
}

#[test]
fn results_are_bit_identical_across_thread_counts() {
    let mut rng = ChaCha8Rng::seed_from_u64(61);
    // Enough rows for the reduction trees of gram and loss to have many leaves.
    let (users, items, k) = (3000, 700, 12);
    let m = random_csr(&mut rng, users, items, 0.01);
    let x0 = random_factors(&mut rng, users, k, 0.5);
    let y = random_factors(&mut rng, items, k, 0.5);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let yty = gram(&y, k);
            let xtx = gram(&x0, k);
            let mut cg = x0.clone();
            solve(
                &mut cg,
                &y,
                &yty,
                k,
                &m.as_ref(),
                0.1,
                Solver::Cg { steps: 3 },
            )
            .unwrap();
            let mut ch = x0.clone();
            solve(&mut ch, &y, &yty, k, &m.as_ref(), 0.1, Solver::Cholesky).unwrap();
            let l = loss(&cg, &y, k, &m.as_ref(), 0.1).unwrap();
            (yty, xtx, cg, ch, l.to_bits())
        })
    };
    let one = run(1);
    for threads in [2, 3, 4] {
        let other = run(threads);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one.0), bits(&other.0), "gram(y), {threads} threads");
        assert_eq!(bits(&one.1), bits(&other.1), "gram(x), {threads} threads");
        assert_eq!(bits(&one.2), bits(&other.2), "CG, {threads} threads");
        assert_eq!(bits(&one.3), bits(&other.3), "Cholesky, {threads} threads");
        assert_eq!(one.4, other.4, "loss, {threads} threads");
    }
}
