//! The best `n` items of each query by inner product: `scores = Q Y^T`, then a top-K per row.
//!
//! Recommending from factor models (WMF fold-ins, item-to-item cosine) needs the best 100 of a
//! catalogue that may hold a million items for thousands of queries. The score matrix is never
//! built whole: queries go through in batches whose scores fit a fixed buffer, each batch is one
//! GEMM (faer), and rows are reduced to their top `n` in parallel.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::cpu::als::AlsError;
use crate::cpu::topk::top_k;

/// Scores held at once (f32 values): 64 MiB.
const SCORE_BUFFER: usize = 16 << 20;

/// One query's best items, best first: `(item, score)`.
pub type Ranked = Vec<(u32, f32)>;

/// For each row of `queries` (`q x k`, row-major), the `n` items of `items` (`m x k`) with the
/// largest finite inner product, best first; equal scores go to the lower item index. Items in
/// `exclude[r]` (sorted ascending) are skipped for query `r`; `exclude` may be shorter than the
/// number of queries (the rest exclude nothing). Results do not depend on the thread count.
pub fn top_n_dot(
    queries: &[f32],
    items: &[f32],
    k: usize,
    n: usize,
    exclude: &[Vec<u32>],
) -> Result<Vec<Ranked>, AlsError> {
    if k == 0 {
        return Err(AlsError::ZeroRank);
    }
    if !queries.len().is_multiple_of(k) {
        return Err(AlsError::NotMultipleOfRank {
            what: "queries",
            actual: queries.len(),
            k,
        });
    }
    if !items.len().is_multiple_of(k) {
        return Err(AlsError::NotMultipleOfRank {
            what: "items",
            actual: items.len(),
            k,
        });
    }
    let (q, m) = (queries.len() / k, items.len() / k);
    if m > 0 && u32::try_from(m - 1).is_err() {
        return Err(AlsError::TooManyRows { rows: m });
    }
    let mut out: Vec<Ranked> = Vec::with_capacity(q);
    if q == 0 {
        return Ok(out);
    }
    if m == 0 || n == 0 {
        out.resize(q, Vec::new());
        return Ok(out);
    }
    let batch = (SCORE_BUFFER / m).clamp(1, q);
    let mut scores = vec![0f32; batch * m];
    let y = MatRef::from_row_major_slice(items, m, k);
    for (b, qb) in queries.chunks(batch * k).enumerate() {
        let rows = qb.len() / k;
        let s = &mut scores[..rows * m];
        matmul(
            MatMut::from_row_major_slice_mut(s, rows, m),
            Accum::Replace,
            MatRef::from_row_major_slice(qb, rows, k),
            y.transpose(),
            1.0,
            Par::rayon(0),
        );
        super::avx_state::after_parallel_matmul();
        let ranked: Vec<Ranked> = s
            .par_chunks(m)
            .enumerate()
            .map(|(r, row)| {
                let ex = exclude.get(b * batch + r).map_or(&[][..], Vec::as_slice);
                top_k(row, n, ex)
                    .into_iter()
                    .map(|i| (i, row[i as usize]))
                    .collect()
            })
            .collect();
        out.extend(ranked);
    }
    Ok(out)
}

/// `values` (`rows x k`) with every row scaled to unit Euclidean length; all-zero rows stay
/// zero (a cosine against them is 0, never NaN). Norms are taken in f64.
pub fn normalise_rows(values: &[f32], k: usize) -> Result<Vec<f32>, AlsError> {
    if k == 0 {
        return Err(AlsError::ZeroRank);
    }
    if !values.len().is_multiple_of(k) {
        return Err(AlsError::NotMultipleOfRank {
            what: "values",
            actual: values.len(),
            k,
        });
    }
    let mut out = values.to_vec();
    out.par_chunks_mut(k).for_each(|row| {
        let norm = row
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 {
            for v in row.iter_mut() {
                *v = (f64::from(*v) / norm) as f32;
            }
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Plain dot products in f64 and a full sort.
    fn reference(q: &[f32], y: &[f32], k: usize, n: usize, exclude: &[u32]) -> Vec<(u32, f64)> {
        let mut all: Vec<(u32, f64)> = y
            .chunks(k)
            .enumerate()
            .filter(|(i, _)| !exclude.contains(&(*i as u32)))
            .map(|(i, row)| {
                let s: f64 = row
                    .iter()
                    .zip(q)
                    .map(|(&a, &b)| f64::from(a) * f64::from(b))
                    .sum();
                (i as u32, s)
            })
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    #[test]
    fn matches_plain_dot_products_on_random_inputs() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..40 {
            let k = rng.random_range(1..20);
            let m = rng.random_range(1..300);
            let q = rng.random_range(1..12);
            let n = rng.random_range(1..40);
            let y: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0..1.0)).collect();
            let qs: Vec<f32> = (0..q * k).map(|_| rng.random_range(-1.0..1.0)).collect();
            let exclude: Vec<Vec<u32>> = (0..q)
                .map(|_| (0..m as u32).filter(|_| rng.random_bool(0.2)).collect())
                .collect();
            let got = top_n_dot(&qs, &y, k, n, &exclude).unwrap();
            assert_eq!(got.len(), q);
            for (r, ranked) in got.iter().enumerate() {
                let want = reference(&qs[r * k..(r + 1) * k], &y, k, n, &exclude[r]);
                assert_eq!(ranked.len(), want.len());
                for (&(i, s), &(wi, ws)) in ranked.iter().zip(&want) {
                    assert!((f64::from(s) - ws).abs() < 1e-4, "{s} vs {ws}");
                    // Different rounding may swap items whose scores are within rounding.
                    if i != wi {
                        let si = want.iter().find(|x| x.0 == i).map(|x| x.1);
                        assert!(si.is_some_and(|v| (v - ws).abs() < 1e-4), "{i} vs {wi}");
                    }
                }
                assert!(ranked.iter().all(|(i, _)| !exclude[r].contains(i)));
            }
        }
    }

    #[test]
    fn batches_many_queries_and_rejects_bad_shapes() {
        // More queries than one buffer holds at this width: two batches.
        let (k, m) = (2, SCORE_BUFFER / 3 + 1);
        let y: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32).collect();
        let qs: Vec<f32> = (0..5 * k).map(|i| i as f32 - 4.0).collect();
        let got = top_n_dot(&qs, &y, k, 3, &[]).unwrap();
        assert_eq!(got.len(), 5);
        for (r, ranked) in got.iter().enumerate() {
            let (a, b) = (qs[r * k], qs[r * k + 1]);
            let best = ranked[0].1;
            let max = y
                .chunks(2)
                .map(|c| a * c[0] + b * c[1])
                .fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(best, max);
        }
        assert!(top_n_dot(&[1.0; 3], &y, k, 3, &[]).is_err());
        assert!(top_n_dot(&qs, &y, 0, 3, &[]).is_err());
        assert_eq!(top_n_dot(&qs, &[], k, 3, &[]).unwrap(), vec![Vec::new(); 5]);
    }

    #[test]
    fn normalised_rows_have_unit_length_and_zero_rows_stay_zero() {
        let v = normalise_rows(&[3.0, 4.0, 0.0, 0.0, -1.0, 0.0], 2).unwrap();
        assert_eq!(v, vec![0.6, 0.8, 0.0, 0.0, -1.0, 0.0]);
        assert!(normalise_rows(&[1.0; 3], 2).is_err());
    }
}
