//! Local models (Sec. 3.2 of "local CF models for tail and culture"): one WMF model per data
//! set (a country, an archetype cluster, optionally the whole data), combined per item pair as
//!
//! ```text
//! aff(A -> B) = sum_i W_i(A, B) cos_i(A, B) / sum_i W_i(A, B),   W_i(A, B) = w_i(A) w_i(B)
//! ```
//!
//! with `cos_i` the cosine of the two items' factors in model `i` and `w_i(t) = ln(1 + plays of t
//! in data set i)`: a data set that knows both items well speaks loudest about them. Items a
//! data set never saw have weight 0 there.
//!
//! A user is scored by pooling the same weights over their input items `A` (confidence `c_A`
//! of their plays):
//!
//! ```text
//! score(B) = sum_A sum_i c_A W_i(A, B) cos_i(A, B) / sum_A sum_i c_A W_i(A, B)
//! ```
//!
//! which is the pair formula exactly for a single input item, and, unlike a sum of per-pair
//! ratios, separates into per-model products: `sum_i w_i(B) u_i(B) . q_i` over
//! `q_i = sum_A c_A w_i(A) u_i(A)` (`u` the unit factors), so a user costs one pass over each
//! model's items instead of one per (input item, candidate) pair.

use archetype_kernels::cpu::rank::{normalise_rows, Ranked};
use archetype_kernels::cpu::topk::top_k;
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::confidence::Confidence;
use crate::TrainError;

/// Score values held per matrix at once (num, den and one model's block each): 16 MiB each.
const BUFFER: usize = 4 << 20;

/// The popularity weight of an item with `plays` plays in a data set.
pub fn popularity_weight(plays: u64) -> f32 {
    (plays as f64).ln_1p() as f32
}

/// One local model: the items its data set holds, their weights and unit factors.
#[derive(Clone, Debug)]
pub struct LocalSet {
    pub name: String,
    k: usize,
    /// Global item indices, ascending.
    items: Vec<u32>,
    weights: Vec<f32>,
    /// `items.len() x k`, rows of unit length (or zero).
    unit: Vec<f32>,
}

impl LocalSet {
    /// `factors` holds one row of `k` per entry of `items` (global indices, ascending), and
    /// `weights` one weight (>= 0) per item.
    pub fn new(
        name: impl Into<String>,
        k: usize,
        items: Vec<u32>,
        factors: &[f32],
        weights: Vec<f32>,
    ) -> Result<Self, TrainError> {
        let name = name.into();
        let bad = |m: String| Err(TrainError::Input(format!("local model {name}: {m}")));
        if k == 0 || factors.len() != items.len() * k {
            return bad(format!(
                "{} factor values for {} items of k = {k}",
                factors.len(),
                items.len()
            ));
        }
        if weights.len() != items.len() {
            return bad(format!(
                "{} weights for {} items",
                weights.len(),
                items.len()
            ));
        }
        if let Some(w) = items.windows(2).find(|w| w[0] >= w[1]) {
            return bad(format!(
                "items not strictly ascending at {} then {}",
                w[0], w[1]
            ));
        }
        if let Some(p) = factors.iter().position(|v| !v.is_finite()) {
            return bad(format!("item {} has a non-finite factor", items[p / k]));
        }
        if let Some(p) = weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
            return bad(format!("item {} has weight {}", items[p], weights[p]));
        }
        let unit = normalise_rows(factors, k)?;
        Ok(LocalSet {
            name,
            k,
            items,
            weights,
            unit,
        })
    }

    pub fn items(&self) -> &[u32] {
        &self.items
    }

    fn position(&self, item: u32) -> Option<usize> {
        self.items.binary_search(&item).ok()
    }
}

/// Local models combined over one catalogue.
#[derive(Clone, Debug)]
pub struct LocalModels {
    sets: Vec<LocalSet>,
    catalogue: usize,
    confidence: Confidence,
}

impl LocalModels {
    pub fn new(
        sets: Vec<LocalSet>,
        catalogue: usize,
        confidence: Confidence,
    ) -> Result<Self, TrainError> {
        confidence.check().map_err(TrainError::Params)?;
        for s in &sets {
            if let Some(&last) = s.items.last() {
                if last as usize >= catalogue {
                    return Err(TrainError::Input(format!(
                        "local model {}: item {last} is outside the catalogue of {catalogue}",
                        s.name
                    )));
                }
            }
        }
        Ok(LocalModels {
            sets,
            catalogue,
            confidence,
        })
    }

    pub fn sets(&self) -> &[LocalSet] {
        &self.sets
    }

    /// The combined affinity of one pair, `None` when no data set holds both with weight.
    /// Plain f64 arithmetic: the reference the batched paths are tested against.
    pub fn affinity(&self, a: u32, b: u32) -> Option<f64> {
        let (mut num, mut den) = (0f64, 0f64);
        for s in &self.sets {
            let (Some(pa), Some(pb)) = (s.position(a), s.position(b)) else {
                continue;
            };
            let w = f64::from(s.weights[pa]) * f64::from(s.weights[pb]);
            let cos: f64 = s.unit[pa * s.k..(pa + 1) * s.k]
                .iter()
                .zip(&s.unit[pb * s.k..(pb + 1) * s.k])
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum();
            num += w * cos;
            den += w;
        }
        (den > 0.0).then(|| num / den)
    }

    /// The `n` items most similar to `item` by the combined affinity, best first, the item
    /// itself left out.
    pub fn similar(&self, item: u32, n: usize) -> Result<Ranked, TrainError> {
        if item as usize >= self.catalogue {
            return Err(TrainError::Input(format!(
                "item {item} is outside the catalogue of {}",
                self.catalogue
            )));
        }
        // A single input item with confidence-free weight 1: the pair formula itself.
        let mut r = self.rank(&[vec![(item, 1.0)]], n, &[vec![item]], false)?;
        Ok(r.pop().unwrap_or_default())
    }

    /// The `n` best items for each user's `(item, plays)` input, skipping `exclude[u]`
    /// (sorted ascending). Items no data set relates to the user's input are never ranked.
    pub fn recommend(
        &self,
        users: &[Vec<(u32, f32)>],
        n: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Ranked>, TrainError> {
        self.rank(users, n, exclude, true)
    }

    fn rank(
        &self,
        users: &[Vec<(u32, f32)>],
        n: usize,
        exclude: &[Vec<u32>],
        confidence: bool,
    ) -> Result<Vec<Ranked>, TrainError> {
        let cat = self.catalogue;
        for (u, cells) in users.iter().enumerate() {
            if let Some(&(i, p)) = cells
                .iter()
                .find(|(i, p)| *i as usize >= cat || !(p.is_finite() && *p > 0.0))
            {
                return Err(TrainError::Input(format!(
                    "user {u}: cell (item {i}, {p} plays) is outside the catalogue of {cat} \
                     or has no positive play count"
                )));
            }
        }
        let mut out = Vec::with_capacity(users.len());
        if cat == 0 {
            out.resize(users.len(), Vec::new());
            return Ok(out);
        }
        let batch = (BUFFER / cat).clamp(1, users.len().max(1));
        let mut num = vec![0f32; batch * cat];
        let mut den = vec![0f32; batch * cat];
        for (bi, ub) in users.chunks(batch).enumerate() {
            let rows = ub.len();
            let num = &mut num[..rows * cat];
            let den = &mut den[..rows * cat];
            num.fill(0.0);
            den.fill(0.0);
            for s in &self.sets {
                self.accumulate(s, ub, confidence, num, den);
            }
            let ranked: Vec<Ranked> = num
                .par_chunks_mut(cat)
                .zip(den.par_chunks(cat))
                .enumerate()
                .map(|(r, (nu, de))| {
                    for (v, &d) in nu.iter_mut().zip(de) {
                        *v = if d > 0.0 { *v / d } else { f32::NEG_INFINITY };
                    }
                    let ex = exclude.get(bi * batch + r).map_or(&[][..], Vec::as_slice);
                    top_k(nu, n, ex)
                        .into_iter()
                        .map(|i| (i, nu[i as usize]))
                        .collect()
                })
                .collect();
            out.extend(ranked);
        }
        Ok(out)
    }

    /// Adds one model's share of the numerators and denominators of a batch of users.
    fn accumulate(
        &self,
        s: &LocalSet,
        users: &[Vec<(u32, f32)>],
        confidence: bool,
        num: &mut [f32],
        den: &mut [f32],
    ) {
        let (k, m, cat) = (s.k, s.items.len(), self.catalogue);
        if m == 0 {
            return;
        }
        let rows = users.len();
        let mut q = vec![0f32; rows * k];
        let mut mass = vec![0f32; rows];
        for (b, cells) in users.iter().enumerate() {
            let qb = &mut q[b * k..(b + 1) * k];
            for &(a, plays) in cells {
                let Some(p) = s.position(a) else {
                    continue;
                };
                let c = if confidence {
                    self.confidence.of(plays)
                } else {
                    plays
                };
                let w = c * s.weights[p];
                if w == 0.0 {
                    continue;
                }
                mass[b] += w;
                for (x, &u) in qb.iter_mut().zip(&s.unit[p * k..(p + 1) * k]) {
                    *x += w * u;
                }
            }
        }
        let active: Vec<usize> = (0..rows).filter(|&b| mass[b] > 0.0).collect();
        if active.is_empty() {
            return;
        }
        let qa: Vec<f32> = active
            .iter()
            .flat_map(|&b| q[b * k..(b + 1) * k].iter().copied())
            .collect();
        let mut scores = vec![0f32; active.len() * m];
        matmul(
            MatMut::from_row_major_slice_mut(&mut scores, active.len(), m),
            Accum::Replace,
            MatRef::from_row_major_slice(&qa, active.len(), k),
            MatRef::from_row_major_slice(&s.unit, m, k).transpose(),
            1.0,
            Par::rayon(0),
        );
        archetype_kernels::cpu::avx_state::after_parallel_matmul();
        let mut targets: Vec<(&mut [f32], &mut [f32])> = num
            .chunks_mut(cat)
            .zip(den.chunks_mut(cat))
            .enumerate()
            .filter(|(b, _)| mass[*b] > 0.0)
            .map(|(_, r)| r)
            .collect();
        targets
            .par_iter_mut()
            .zip(scores.par_chunks(m))
            .zip(active.par_iter())
            .for_each(|(((nu, de), sc), &b)| {
                for ((&item, &w), &v) in s.items.iter().zip(&s.weights).zip(sc) {
                    nu[item as usize] += w * v;
                    de[item as usize] += w * mass[b];
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_models(rng: &mut rand_chacha::ChaCha8Rng, cat: usize) -> LocalModels {
        let sets = (0..rng.random_range(1..5))
            .map(|s| {
                let k = rng.random_range(1..6);
                let items: Vec<u32> = (0..cat as u32).filter(|_| rng.random_bool(0.5)).collect();
                let factors: Vec<f32> = (0..items.len() * k)
                    .map(|_| rng.random_range(-1.0..1.0))
                    .collect();
                let weights: Vec<f32> = items
                    .iter()
                    .map(|_| popularity_weight(rng.random_range(0..50)))
                    .collect();
                LocalSet::new(format!("s{s}"), k, items, &factors, weights).unwrap()
            })
            .collect();
        LocalModels::new(sets, cat, Confidence::default()).unwrap()
    }

    /// The pooled formula written out pair by pair, in f64.
    fn pooled(m: &LocalModels, cells: &[(u32, f32)], b: u32) -> Option<f64> {
        let (mut num, mut den) = (0f64, 0f64);
        for &(a, plays) in cells {
            let c = f64::from(m.confidence.of(plays));
            for s in &m.sets {
                let (Some(pa), Some(pb)) = (s.position(a), s.position(b)) else {
                    continue;
                };
                let w = c * f64::from(s.weights[pa]) * f64::from(s.weights[pb]);
                let cos: f64 = (0..s.k)
                    .map(|d| f64::from(s.unit[pa * s.k + d]) * f64::from(s.unit[pb * s.k + d]))
                    .sum();
                num += w * cos;
                den += w;
            }
        }
        (den > 0.0).then(|| num / den)
    }

    #[test]
    fn recommendations_follow_the_pooled_pair_formula() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..20 {
            let cat = rng.random_range(1..60);
            let m = random_models(&mut rng, cat);
            let users: Vec<Vec<(u32, f32)>> = (0..rng.random_range(1..8))
                .map(|_| {
                    let mut cells = Vec::new();
                    for i in 0..cat as u32 {
                        if rng.random_bool(0.15) {
                            cells.push((i, rng.random_range(1..20) as f32));
                        }
                    }
                    cells
                })
                .collect();
            let exclude: Vec<Vec<u32>> = users
                .iter()
                .map(|c| c.iter().map(|x| x.0).collect())
                .collect();
            let got = m.recommend(&users, cat, &exclude).unwrap();
            for (u, ranked) in got.iter().enumerate() {
                let mut want: Vec<(u32, f64)> = (0..cat as u32)
                    .filter(|i| !exclude[u].contains(i))
                    .filter_map(|b| pooled(&m, &users[u], b).map(|s| (b, s)))
                    .collect();
                want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                assert_eq!(ranked.len(), want.len(), "user {u}");
                for (&(i, s), &(_, ws)) in ranked.iter().zip(&want) {
                    assert!((f64::from(s) - ws).abs() < 1e-4, "{s} vs {ws}");
                    let direct = pooled(&m, &users[u], i).unwrap();
                    assert!((direct - ws).abs() < 1e-4, "item {i}: {direct} vs {ws}");
                }
            }
        }
    }

    #[test]
    fn similar_items_follow_the_pair_formula() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        for _ in 0..20 {
            let cat = rng.random_range(2..60);
            let m = random_models(&mut rng, cat);
            let a = rng.random_range(0..cat as u32);
            let got = m.similar(a, 10).unwrap();
            let mut want: Vec<(u32, f64)> = (0..cat as u32)
                .filter(|&b| b != a)
                .filter_map(|b| m.affinity(a, b).map(|s| (b, s)))
                .collect();
            want.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            want.truncate(10);
            assert_eq!(got.len(), want.len());
            for (&(i, s), &(_, ws)) in got.iter().zip(&want) {
                assert!((f64::from(s) - ws).abs() < 1e-5, "{s} vs {ws}");
                assert!((m.affinity(a, i).unwrap() - ws).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn the_data_set_that_knows_a_pair_better_weighs_more() {
        // Items 0 and 1 point the same way in "a", opposite ways in "b".
        let a = LocalSet::new("a", 1, vec![0, 1], &[1.0, 1.0], vec![4.0, 4.0]).unwrap();
        let b = LocalSet::new("b", 1, vec![0, 1], &[1.0, -1.0], vec![1.0, 1.0]).unwrap();
        let m = LocalModels::new(vec![a, b], 3, Confidence::default()).unwrap();
        let aff = m.affinity(0, 1).unwrap();
        assert!((aff - (16.0 - 1.0) / 17.0).abs() < 1e-12, "{aff}");
        assert_eq!(m.affinity(0, 2), None);
        // Item 2 is in no model: never recommended.
        let r = m.recommend(&[vec![(0, 3.0)]], 5, &[vec![0]]).unwrap();
        assert_eq!(r[0].iter().map(|x| x.0).collect::<Vec<_>>(), vec![1]);
        assert!(m.recommend(&[vec![(7, 1.0)]], 5, &[]).is_err());
        assert!(LocalSet::new("c", 1, vec![1, 0], &[1.0, 1.0], vec![1.0, 1.0]).is_err());
        assert!(LocalSet::new("c", 1, vec![0, 1], &[1.0, 1.0], vec![1.0, -1.0]).is_err());
        assert!(LocalModels::new(
            vec![LocalSet::new("d", 1, vec![5], &[1.0], vec![1.0]).unwrap()],
            3,
            Confidence::default()
        )
        .is_err());
    }
}
