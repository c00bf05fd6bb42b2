//! Top-K selection without sorting the whole row: recommendation lists over catalogues of a
//! million tracks need the best K (10, 100) of each user's scores.

use rayon::prelude::*;

/// Indices of the `k` largest finite scores of `row`, best first; ties go to the lower index
/// so results do not depend on thread count. Indices in `exclude` (sorted ascending) are
/// skipped: the tracks a user already gave as input.
pub fn top_k(row: &[f32], k: usize, exclude: &[u32]) -> Vec<u32> {
    if k == 0 {
        return Vec::new();
    }
    // A min-heap of the best k so far, keyed so that "smaller" means "worse".
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<Key>> =
        std::collections::BinaryHeap::with_capacity(k + 1);
    let mut ex = exclude.iter().peekable();
    for (i, &s) in row.iter().enumerate() {
        let i = i as u32;
        while ex.peek().is_some_and(|&&e| e < i) {
            ex.next();
        }
        if ex.peek().is_some_and(|&&e| e == i) || !s.is_finite() {
            continue;
        }
        let key = Key { score: s, index: i };
        if heap.len() < k {
            heap.push(std::cmp::Reverse(key));
        } else if let Some(worst) = heap.peek() {
            if key > worst.0 {
                heap.pop();
                heap.push(std::cmp::Reverse(key));
            }
        }
    }
    let mut out: Vec<Key> = heap.into_iter().map(|r| r.0).collect();
    out.sort_by(|a, b| b.cmp(a));
    out.into_iter().map(|k| k.index).collect()
}

/// [`top_k`] for every row of a row-major `rows x cols` matrix, in parallel.
pub fn top_k_rows(scores: &[f32], cols: usize, k: usize, exclude: &[Vec<u32>]) -> Vec<Vec<u32>> {
    if cols == 0 {
        return Vec::new();
    }
    scores
        .par_chunks(cols)
        .enumerate()
        .map(|(r, row)| top_k(row, k, exclude.get(r).map(Vec::as_slice).unwrap_or(&[])))
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Key {
    score: f32,
    index: u32,
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    /// Higher score is better; on equal scores the lower index is better.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.index.cmp(&self.index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The obvious reference: sort everything.
    fn reference(row: &[f32], k: usize, exclude: &[u32]) -> Vec<u32> {
        let mut idx: Vec<u32> = (0..row.len() as u32)
            .filter(|i| !exclude.contains(i) && row[*i as usize].is_finite())
            .collect();
        idx.sort_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b)));
        idx.truncate(k);
        idx
    }

    #[test]
    fn matches_full_sort_on_random_rows() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..300 {
            let n = rng.random_range(0..400);
            // Few distinct values so ties are common.
            let row: Vec<f32> = (0..n)
                .map(|_| rng.random_range(0..20) as f32 / 4.0)
                .collect();
            let k = rng.random_range(0..120);
            let mut ex: Vec<u32> = (0..n as u32).filter(|_| rng.random_bool(0.1)).collect();
            ex.sort_unstable();
            assert_eq!(top_k(&row, k, &ex), reference(&row, k, &ex));
        }
    }

    #[test]
    fn skips_non_finite_and_handles_small_rows() {
        let row = [1.0, f32::NAN, 3.0, f32::INFINITY, 2.0];
        assert_eq!(top_k(&row, 10, &[]), vec![2, 4, 0]);
        assert_eq!(top_k(&row, 0, &[]), Vec::<u32>::new());
        assert_eq!(top_k(&row, 2, &[2]), vec![4, 0]);
    }

    #[test]
    fn rows_in_parallel_equal_rows_one_by_one() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let cols = 57;
        let scores: Vec<f32> = (0..cols * 40).map(|_| rng.random::<f32>()).collect();
        let ex: Vec<Vec<u32>> = (0..40).map(|r| vec![r as u32 % cols as u32]).collect();
        let got = top_k_rows(&scores, cols, 5, &ex);
        for (r, g) in got.iter().enumerate() {
            assert_eq!(g, &top_k(&scores[r * cols..(r + 1) * cols], 5, &ex[r]));
        }
    }
}
