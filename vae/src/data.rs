//! Users as sparse track vectors, their context features, and the batches a step consumes.
//!
//! A batch never becomes a dense `users x tracks` matrix: its input is CSR (normalised,
//! dropped out) and feeds the first layer as sparse x dense; its target is the same sparsity
//! for the multinomial. Every random draw of a user in a step (dropout of each input track,
//! the latent noise) comes from a stream keyed by (seed, step, user), so the draws do not
//! depend on which replica holds the user: that is what makes 1, 2 and 4 replicas agree.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use archetype_kernels::cpu::sparse::CsrRef;

use crate::spec::InputKind;
use crate::VaeError;

/// Users' (track, plays) rows in CSR form, 64-bit offsets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserRows {
    offsets: Vec<u64>,
    indices: Vec<u32>,
    values: Vec<f32>,
    items: usize,
}

impl UserRows {
    /// Rows from per-user (track, plays) lists; tracks are sorted and repeats summed.
    pub fn new(
        items: usize,
        rows: impl IntoIterator<Item = Vec<(u32, f32)>>,
    ) -> Result<UserRows, VaeError> {
        let mut out = UserRows {
            offsets: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
            items,
        };
        for (r, mut row) in rows.into_iter().enumerate() {
            row.sort_unstable_by_key(|c| c.0);
            let start = out.indices.len();
            for (t, p) in row {
                if t as usize >= items {
                    return Err(VaeError::Data(format!(
                        "user row {r}: track {t} outside the catalogue of {items}"
                    )));
                }
                if !(p.is_finite() && p >= 0.0) {
                    return Err(VaeError::Data(format!(
                        "user row {r}, track {t}: plays {p} must be finite and >= 0"
                    )));
                }
                if out.indices.len() > start && out.indices.last() == Some(&t) {
                    if let Some(v) = out.values.last_mut() {
                        *v += p;
                    }
                } else {
                    out.indices.push(t);
                    out.values.push(p);
                }
            }
            out.offsets.push(out.indices.len() as u64);
        }
        Ok(out)
    }

    pub fn rows(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn items(&self) -> usize {
        self.items
    }

    pub fn nnz(&self) -> u64 {
        self.offsets[self.offsets.len() - 1]
    }

    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.offsets[r] as usize, self.offsets[r + 1] as usize);
        (&self.indices[a..b], &self.values[a..b])
    }
}

/// Dense context features, `rows x dim` row-major (one-hot codes or distances).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContextRows {
    pub values: Vec<f32>,
    pub dim: usize,
}

impl ContextRows {
    pub fn new(values: Vec<f32>, dim: usize) -> Result<ContextRows, VaeError> {
        if dim == 0 || !values.len().is_multiple_of(dim) {
            return Err(VaeError::Data(format!(
                "{} context values do not make rows of {dim}",
                values.len()
            )));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(VaeError::Data(format!(
                "context row {}, feature {}: {} is not finite",
                i / dim,
                i % dim,
                values[i]
            )));
        }
        Ok(ContextRows { values, dim })
    }

    /// One-hot rows from codes in `0..dim`; a negative code (no country, no cluster) gives
    /// a zero row.
    pub fn one_hot(codes: &[i32], dim: usize) -> Result<ContextRows, VaeError> {
        let mut values = vec![0f32; codes.len() * dim];
        for (r, &c) in codes.iter().enumerate() {
            if c >= 0 {
                let c = c as usize;
                if c >= dim {
                    return Err(VaeError::Data(format!(
                        "context row {r}: code {c} outside one-hot width {dim}"
                    )));
                }
                values[r * dim + c] = 1.0;
            }
        }
        Ok(ContextRows { values, dim })
    }

    pub fn rows(&self) -> usize {
        self.values.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Each feature's mean and standard deviation over the rows (a constant feature gets 1),
    /// for [`ContextRows::standardise`]: distances to centroids differ by little between
    /// users, and a sigmoid gate learns faster on centred, unit-scale inputs.
    pub fn moments(&self) -> (Vec<f32>, Vec<f32>) {
        let n = self.rows().max(1) as f64;
        let mut mean = vec![0f64; self.dim];
        for r in 0..self.rows() {
            for (m, &v) in mean.iter_mut().zip(self.row(r)) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0f64; self.dim];
        for r in 0..self.rows() {
            for ((s, &v), m) in var.iter_mut().zip(self.row(r)).zip(&mean) {
                *s += (f64::from(v) - m).powi(2);
            }
        }
        let std = var
            .iter()
            .map(|s| {
                let d = (s / n).sqrt();
                if d > 1e-12 {
                    d as f32
                } else {
                    1.0
                }
            })
            .collect();
        (mean.iter().map(|&m| m as f32).collect(), std)
    }

    /// `(x - mean) / std` per feature, with moments from the training users.
    pub fn standardise(&mut self, mean: &[f32], std: &[f32]) -> Result<(), VaeError> {
        if mean.len() != self.dim || std.len() != self.dim {
            return Err(VaeError::Shape(format!(
                "moments of {} and {} features for rows of {}",
                mean.len(),
                std.len(),
                self.dim
            )));
        }
        for row in self.values.chunks_mut(self.dim) {
            for ((v, m), s) in row.iter_mut().zip(mean).zip(std) {
                *v = (*v - m) / s;
            }
        }
        Ok(())
    }

    pub fn row(&self, r: usize) -> &[f32] {
        &self.values[r * self.dim..(r + 1) * self.dim]
    }
}

/// One replica's share of a step, or a block of users to score.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub rows: usize,
    pub items: usize,
    input_offsets: Vec<u64>,
    input_indices: Vec<u32>,
    input_values: Vec<f32>,
    target_offsets: Vec<u64>,
    target_indices: Vec<u32>,
    target_values: Vec<f32>,
    /// `rows x context` (empty without context).
    pub context: Vec<f32>,
    /// `rows x latent` standard normal draws (empty when scoring).
    pub eps: Vec<f32>,
}

/// The stream of draws of `user` in step `step`.
fn user_rng(seed: u64, step: u64, user: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(mix(seed) ^ step));
    rng.set_stream(user);
    rng
}

/// SplitMix64's finaliser: nearby seeds and steps give unrelated keys.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How a batch is drawn in training.
#[derive(Clone, Copy, Debug)]
pub struct Draws {
    pub seed: u64,
    pub step: u64,
    pub dropout: f32,
    pub latent: usize,
}

impl Batch {
    /// The users `users` (rows of `data`): inputs normalised to unit L2 norm, then (with
    /// `draws`) dropped out at rate `dropout` and rescaled by `1 / (1 - dropout)`, as Liang
    /// et al. do; targets are the rows as `kind` reads them.
    pub fn build(
        data: &UserRows,
        context: Option<&ContextRows>,
        users: &[u32],
        kind: InputKind,
        draws: Option<Draws>,
    ) -> Batch {
        let mut b = Batch {
            rows: users.len(),
            items: data.items(),
            input_offsets: Vec::with_capacity(users.len() + 1),
            target_offsets: Vec::with_capacity(users.len() + 1),
            ..Batch::default()
        };
        b.input_offsets.push(0);
        b.target_offsets.push(0);
        if let Some(c) = context {
            b.context.reserve(users.len() * c.dim);
        }
        if let Some(d) = draws {
            b.eps.reserve(users.len() * d.latent);
        }
        for &u in users {
            let (idx, val) = data.row(u as usize);
            let read = |v: f32| match kind {
                InputKind::Binary => 1.0,
                InputKind::Counts => v,
            };
            let norm = idx
                .iter()
                .zip(val)
                .map(|(_, &v)| f64::from(read(v)).powi(2))
                .sum::<f64>()
                .sqrt();
            let inv = if norm > 0.0 { (1.0 / norm) as f32 } else { 0.0 };
            let mut rng = draws.map(|d| user_rng(d.seed, d.step, u64::from(u)));
            let keep = draws.map_or(1.0, |d| 1.0 - d.dropout);
            for (&t, &v) in idx.iter().zip(val) {
                let x = read(v);
                b.target_indices.push(t);
                b.target_values.push(x);
                let kept = match rng.as_mut() {
                    Some(r) if keep < 1.0 => r.random::<f32>() < keep,
                    _ => true,
                };
                if kept {
                    b.input_indices.push(t);
                    b.input_values.push(x * inv / keep);
                }
            }
            b.input_offsets.push(b.input_indices.len() as u64);
            b.target_offsets.push(b.target_indices.len() as u64);
            if let Some(c) = context {
                b.context.extend_from_slice(c.row(u as usize));
            }
            if let (Some(d), Some(r)) = (draws, rng.as_mut()) {
                b.eps
                    .extend((0..d.latent).map(|_| -> f32 { StandardNormal.sample(r) }));
            }
        }
        b
    }

    pub fn input(&self) -> CsrRef<'_> {
        csr(
            &self.input_offsets,
            &self.input_indices,
            &self.input_values,
            self.items,
        )
    }

    pub fn target(&self) -> CsrRef<'_> {
        csr(
            &self.target_offsets,
            &self.target_indices,
            &self.target_values,
            self.items,
        )
    }
}

fn csr<'a>(offsets: &'a [u64], indices: &'a [u32], values: &'a [f32], cols: usize) -> CsrRef<'a> {
    // Built here from rows already checked against the catalogue: the checks cannot fail.
    match CsrRef::new(offsets, indices, values, cols) {
        Ok(c) => c,
        Err(e) => unreachable!("a batch built from checked rows is valid CSR: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> UserRows {
        UserRows::new(
            6,
            vec![
                vec![(3, 2.0), (1, 1.0), (3, 1.0)],
                vec![],
                vec![(0, 4.0), (5, 1.0), (2, 2.0), (4, 7.0)],
            ],
        )
        .unwrap()
    }

    #[test]
    fn rows_are_sorted_merged_and_checked() {
        let d = data();
        assert_eq!(d.rows(), 3);
        assert_eq!(d.row(0), (&[1u32, 3][..], &[1.0f32, 3.0][..]));
        assert_eq!(d.row(1).0.len(), 0);
        assert_eq!(d.nnz(), 6);
        assert!(UserRows::new(2, vec![vec![(2, 1.0)]]).is_err());
        assert!(UserRows::new(5, vec![vec![(1, f32::NAN)]]).is_err());
        assert!(ContextRows::new(vec![1.0; 5], 2).is_err());
        assert!(ContextRows::one_hot(&[0, 3], 3).is_err());
        assert_eq!(
            ContextRows::one_hot(&[1, -1], 2).unwrap().values,
            vec![0.0, 1.0, 0.0, 0.0]
        );
        let mut c = ContextRows::new(vec![1.0, 5.0, 3.0, 5.0], 2).unwrap();
        let (m, s) = c.moments();
        assert_eq!((m, s.clone()), (vec![2.0, 5.0], vec![1.0, 1.0]));
        c.standardise(&[2.0, 5.0], &s).unwrap();
        assert_eq!(c.values, vec![-1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn inputs_are_unit_norm_and_targets_keep_every_track() {
        let d = data();
        for kind in [InputKind::Binary, InputKind::Counts] {
            let b = Batch::build(&d, None, &[2, 0, 1], kind, None);
            let (inp, tgt) = (b.input(), b.target());
            for r in [0, 1] {
                let n: f32 = inp.row(r).1.iter().map(|v| v * v).sum();
                assert!((n - 1.0).abs() < 1e-5, "{kind:?} row {r}: {n}");
            }
            assert_eq!(inp.row(2).0.len(), 0);
            assert_eq!(tgt.row(0).0, &[0, 2, 4, 5]);
            let expect: &[f32] = match kind {
                InputKind::Binary => &[1.0, 1.0, 1.0, 1.0],
                InputKind::Counts => &[4.0, 2.0, 7.0, 1.0],
            };
            assert_eq!(tgt.row(0).1, expect);
        }
    }

    #[test]
    fn draws_depend_on_the_user_and_step_not_on_the_batch() {
        let rows: Vec<Vec<(u32, f32)>> = (0..20)
            .map(|u| (0..40).map(|t| (t, (u + t) as f32 % 3.0 + 1.0)).collect())
            .collect();
        let d = UserRows::new(40, rows).unwrap();
        let draws = Draws {
            seed: 1,
            step: 9,
            dropout: 0.5,
            latent: 3,
        };
        let together = Batch::build(&d, None, &[4, 7], InputKind::Binary, Some(draws));
        let alone = Batch::build(&d, None, &[7], InputKind::Binary, Some(draws));
        assert_eq!(together.input().row(1).0, alone.input().row(0).0);
        assert_eq!(&together.eps[3..], &alone.eps[..]);
        let next = Batch::build(
            &d,
            None,
            &[7],
            InputKind::Binary,
            Some(Draws { step: 10, ..draws }),
        );
        assert_ne!(next.eps, alone.eps);
        // About half of the 40 tracks survive, each scaled by 1 / (1 - 0.5).
        let kept = alone.input().row(0).0.len();
        assert!((10..=30).contains(&kept), "{kept}");
        let v = alone.input().row(0).1[0];
        assert!((v - 2.0 / 40f32.sqrt()).abs() < 1e-6, "{v}");
        assert_eq!(alone.target().row(0).0.len(), 40);
    }
}
