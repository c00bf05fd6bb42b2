//! A trained WMF model put to use: folding in users the model never trained on, top-N
//! recommendations, and item-to-item "similar tracks" by cosine of the item factors.
//!
//! A held-out user is folded in exactly as training would have solved their row: with the item
//! factors fixed, `x_u = (Y^T Y + Y^T (C_u - I) Y + lambda I)^-1 Y^T C_u p_u`, by Cholesky, so
//! the evaluation scores the model the trainer would have produced for that user.

use archetype_kernels::cpu::als::{gram, solve, CsrRef, Solver};
use archetype_kernels::cpu::rank::{normalise_rows, top_n_dot, Ranked};

use crate::confidence::Confidence;
use crate::TrainError;

/// Item factors and the settings needed to fold users in.
#[derive(Clone, Debug)]
pub struct WmfModel {
    k: usize,
    /// `items x k`, row-major, row = dense item index.
    items: Vec<f32>,
    yty: Vec<f32>,
    lambda: f32,
    confidence: Confidence,
}

impl WmfModel {
    pub fn new(
        items: Vec<f32>,
        k: usize,
        lambda: f32,
        confidence: Confidence,
    ) -> Result<Self, TrainError> {
        if k == 0 || !items.len().is_multiple_of(k) {
            return Err(TrainError::Input(format!(
                "item factors of length {} are not rows of k = {k}",
                items.len()
            )));
        }
        if let Some(p) = items.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::Input(format!(
                "item {} has a non-finite factor",
                p / k
            )));
        }
        confidence.check().map_err(TrainError::Params)?;
        if !(lambda.is_finite() && lambda >= 0.0) {
            return Err(TrainError::Params(format!("lambda is {lambda}")));
        }
        let yty = gram(&items, k);
        Ok(WmfModel {
            k,
            items,
            yty,
            lambda,
            confidence,
        })
    }

    pub fn factors(&self) -> usize {
        self.k
    }

    pub fn items(&self) -> usize {
        self.items.len() / self.k
    }

    /// The item factors, `items x k` row-major.
    pub fn item_factors(&self) -> &[f32] {
        &self.items
    }

    /// One row of `k` per user: each user's `(item, plays)` cells (any order; repeated items
    /// add up) folded in against the fixed item factors. A user without cells gets zeros.
    pub fn fold_in(&self, users: &[Vec<(u32, f32)>]) -> Result<Vec<f32>, TrainError> {
        let n_items = self.items();
        let mut offsets = Vec::with_capacity(users.len() + 1);
        offsets.push(0u64);
        let mut indices = Vec::new();
        let mut conf = Vec::new();
        for (u, cells) in users.iter().enumerate() {
            let mut c = cells.clone();
            c.sort_unstable_by_key(|x| x.0);
            let mut merged: Vec<(u32, f32)> = Vec::with_capacity(c.len());
            for (i, p) in c {
                if i as usize >= n_items {
                    return Err(TrainError::Input(format!(
                        "user {u}: item {i} is outside the model's {n_items} items"
                    )));
                }
                if !(p.is_finite() && p > 0.0) {
                    return Err(TrainError::Input(format!(
                        "user {u}: item {i} has {p} plays; a cell needs a positive count"
                    )));
                }
                match merged.last_mut() {
                    Some(last) if last.0 == i => last.1 += p,
                    _ => merged.push((i, p)),
                }
            }
            for (i, p) in merged {
                indices.push(i);
                conf.push(self.confidence.of(p));
            }
            offsets.push(indices.len() as u64);
        }
        let m = CsrRef::new(&offsets, &indices, &conf)?;
        let mut x = vec![0f32; users.len() * self.k];
        solve(
            &mut x,
            &self.items,
            &self.yty,
            self.k,
            &m,
            self.lambda,
            Solver::Cholesky,
        )?;
        Ok(x)
    }

    /// The `n` best items for each user row of `x`, skipping `exclude[u]` (sorted ascending).
    pub fn recommend(
        &self,
        x: &[f32],
        n: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Ranked>, TrainError> {
        Ok(top_n_dot(x, &self.items, self.k, n, exclude)?)
    }

    /// The `n` items most similar to `item` by cosine of the item factors, best first, the
    /// item itself left out. An item whose factors are all zero has no neighbours.
    pub fn similar(&self, item: u32, n: usize) -> Result<Ranked, TrainError> {
        let normalised = normalise_rows(&self.items, self.k)?;
        self.similar_in(&normalised, item, n)
    }

    /// [`WmfModel::similar`] against factors already normalised by the caller (many queries).
    pub fn similar_in(
        &self,
        normalised: &[f32],
        item: u32,
        n: usize,
    ) -> Result<Ranked, TrainError> {
        let i = item as usize;
        if i >= self.items() {
            return Err(TrainError::Input(format!(
                "item {item} is outside the model's {} items",
                self.items()
            )));
        }
        let q = &normalised[i * self.k..(i + 1) * self.k];
        if q.iter().all(|&v| v == 0.0) {
            return Ok(Vec::new());
        }
        let mut ranked = top_n_dot(q, normalised, self.k, n, &[vec![item]])?;
        Ok(ranked.pop().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archetype_kernels::cpu::als::gram;
    use rand::{Rng, SeedableRng};

    /// Solves the fold-in's normal equations by Gaussian elimination in f64, written out from
    /// the objective: sum_i c_ui (p_ui - x . y_i)^2 + lambda |x|^2 over every item.
    fn direct(y: &[f32], k: usize, cells: &[(u32, f32)], lambda: f32, c: &Confidence) -> Vec<f64> {
        let n = y.len() / k;
        let mut a = vec![0f64; k * k];
        let mut b = vec![0f64; k];
        for i in 0..n {
            let (conf, p) = match cells.iter().find(|x| x.0 as usize == i) {
                Some(&(_, plays)) => (f64::from(c.of(plays)), 1.0),
                None => (1.0, 0.0),
            };
            let yi = &y[i * k..(i + 1) * k];
            for r in 0..k {
                b[r] += conf * p * f64::from(yi[r]);
                for s in 0..k {
                    a[r * k + s] += conf * f64::from(yi[r]) * f64::from(yi[s]);
                }
            }
        }
        for d in 0..k {
            a[d * k + d] += f64::from(lambda);
        }
        // Gaussian elimination with partial pivoting.
        for col in 0..k {
            let piv = (col..k)
                .max_by(|&i, &j| a[i * k + col].abs().total_cmp(&a[j * k + col].abs()))
                .unwrap();
            for s in 0..k {
                a.swap(col * k + s, piv * k + s);
            }
            b.swap(col, piv);
            for r in col + 1..k {
                let f = a[r * k + col] / a[col * k + col];
                for s in col..k {
                    a[r * k + s] -= f * a[col * k + s];
                }
                b[r] -= f * b[col];
            }
        }
        let mut x = vec![0f64; k];
        for r in (0..k).rev() {
            let mut v = b[r];
            for s in r + 1..k {
                v -= a[r * k + s] * x[s];
            }
            x[r] = v / a[r * k + r];
        }
        x
    }

    #[test]
    fn fold_in_solves_the_objective_of_one_row() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let (k, n) = (5, 40);
        let y: Vec<f32> = (0..n * k).map(|_| rng.random_range(-0.5..0.5)).collect();
        let c = Confidence::Log {
            alpha: 2.0,
            eps: 1.0,
        };
        let model = WmfModel::new(y.clone(), k, 0.3, c).unwrap();
        let users: Vec<Vec<(u32, f32)>> = (0..6)
            .map(|_| {
                let mut cells = Vec::new();
                for i in 0..n as u32 {
                    if rng.random_bool(0.2) {
                        cells.push((i, rng.random_range(1..30) as f32));
                    }
                }
                cells
            })
            .collect();
        let x = model.fold_in(&users).unwrap();
        for (u, cells) in users.iter().enumerate() {
            let want = direct(&y, k, cells, 0.3, &c);
            for d in 0..k {
                let got = f64::from(x[u * k + d]);
                assert!(
                    (got - want[d]).abs() < 1e-4 * (1.0 + want[d].abs()),
                    "{got} vs {}",
                    want[d]
                );
            }
        }
        // Repeated cells add up; order does not matter.
        let split = vec![vec![(3, 2.0), (1, 1.0), (3, 3.0)]];
        let whole = vec![vec![(1, 1.0), (3, 5.0)]];
        assert_eq!(
            model.fold_in(&split).unwrap(),
            model.fold_in(&whole).unwrap()
        );
        // A user without cells gets zeros, bad cells a clear error.
        assert!(model.fold_in(&[vec![]]).unwrap().iter().all(|&v| v == 0.0));
        let e = model.fold_in(&[vec![(99, 1.0)]]).unwrap_err().to_string();
        assert!(e.contains("item 99"), "{e}");
        assert!(model.fold_in(&[vec![(1, 0.0)]]).is_err());
        assert_eq!(gram(&y, k).len(), k * k);
    }

    #[test]
    fn similar_items_are_the_nearest_by_cosine() {
        // Items 0 and 2 point the same way (different lengths), 1 the opposite, 3 is zero.
        let y = vec![1.0, 1.0, -1.0, -1.0, 3.0, 3.1, 0.0, 0.0, 1.0, 0.0];
        let model = WmfModel::new(y, 2, 0.1, Confidence::default()).unwrap();
        let s = model.similar(0, 10).unwrap();
        assert_eq!(s[0].0, 2);
        assert!((s[0].1 - 0.9999).abs() < 1e-3);
        assert_eq!(s.last().unwrap().0, 1);
        assert!(!s.iter().any(|x| x.0 == 0));
        assert!(model.similar(3, 10).unwrap().is_empty());
        assert!(model.similar(9, 10).is_err());
        let x = model.fold_in(&[vec![(0, 4.0), (2, 1.0)]]).unwrap();
        let r = model.recommend(&x, 2, &[vec![0, 2]]).unwrap();
        assert_eq!(r[0].len(), 2);
        assert!(r[0].iter().all(|(i, _)| *i != 0 && *i != 2));
    }

    #[test]
    fn rejects_bad_factors() {
        assert!(WmfModel::new(vec![1.0; 5], 2, 0.1, Confidence::default()).is_err());
        assert!(WmfModel::new(vec![f32::NAN, 1.0], 2, 0.1, Confidence::default()).is_err());
    }
}
