//! Country play counts with planted archetypes, to check that the grid search finds them
//! (`examples/grid_criterion.rs`, `tests/grid_criterion.rs`).
//!
//! The model is `bench/grid_criterion_study.py`'s (the study that chose the grid score), with
//! Rust's random numbers, so the data are alike in law but not in value. Every country plays a
//! mix of three kinds of music:
//!
//! * the global hits: a Zipf law over [`GLOBAL`] tracks, each track's weight jittered per
//!   country (countries differ in which hits they like);
//! * its archetype's local music: a Zipf law over its own block of [`LOCAL`] tracks, a share
//!   drawn from the signal's range (the planted structure);
//! * its own music: a Zipf law over [`OWN`] tracks no other country plays.
//!
//! A noise country has no archetype: its archetype share goes to its own music, so it is an
//! archetype of one. Plays come from users, [`DRAWS_PER_USER`] each, and each user favours one
//! of [`GENRES`] genres (slices of the global hits) for [`GENRE_SHARE`] of its global plays, as
//! datagen's users do: a country of few users has a lopsided genre profile and few plays, so
//! small countries are noisy, which is what makes unequal sizes hard (their noise, not their
//! archetype, dominates Euclidean distances between country vectors). Unequal sizes take
//! LFM-1b's users per country ([`LFM_USERS`], the 70 countries the pipeline keeps) times
//! [`USER_SCALE`].

use rand::distr::weighted::WeightedIndex;
use rand::seq::index::sample;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use crate::matrix::SparseRows;
use crate::{ArchetypeError, Inputs};

/// LFM-1b's users per country for the 70 countries with the most users
/// (`datagen/src/figures.rs`).
pub const LFM_USERS: [u32; 70] = [
    10255, 5024, 4578, 4534, 4408, 3886, 1409, 1375, 1243, 1231, 1143, 1077, 1055, 976, 974, 806,
    750, 705, 632, 558, 513, 484, 479, 425, 372, 291, 282, 277, 276, 272, 272, 253, 237, 236, 220,
    202, 192, 175, 165, 164, 162, 159, 135, 122, 118, 107, 100, 90, 84, 71, 67, 66, 61, 58, 55, 52,
    45, 40, 40, 40, 39, 36, 35, 35, 34, 33, 32, 31, 29, 26,
];
pub const GLOBAL: usize = 2000;
pub const LOCAL: usize = 150;
pub const OWN: usize = 50;
pub const USER_SCALE: f64 = 0.15;
pub const MIN_USERS: u32 = 3;
pub const EQUAL_USERS: u32 = 40;
pub const DRAWS_PER_USER: u32 = 100;
pub const GENRES: usize = 12;
pub const GENRE_SHARE: f64 = 0.6;
/// Range of a country's own-music share.
pub const OWN_SHARE: (f64, f64) = (0.05, 0.15);
/// Lognormal sigma of a country's taste for each global hit.
pub const GLOBAL_JITTER: f64 = 0.3;

/// How strongly countries follow their archetype: the range of the archetype share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// 20-35% of plays from the archetype's local music.
    Strong,
    /// 9-16%: at unequal sizes the noise of small countries is as large as the signal.
    Weak,
}

impl Signal {
    fn range(self) -> (f64, f64) {
        match self {
            Signal::Strong => (0.2, 0.35),
            Signal::Weak => (0.09, 0.16),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    pub archetypes: usize,
    pub countries: usize,
    /// Countries in no archetype.
    pub noise: usize,
    /// LFM-1b-like country sizes (else [`EQUAL_USERS`] users each).
    pub unequal: bool,
    pub signal: Signal,
}

impl Shape {
    pub fn name(&self) -> String {
        format!(
            "K{}-n{}-noise{}-{}-{}",
            self.archetypes,
            self.countries,
            self.noise,
            if self.unequal { "uneq" } else { "eq" },
            match self.signal {
                Signal::Strong => "strong",
                Signal::Weak => "weak",
            }
        )
    }
}

/// The study's shapes (`bench/grid_criterion_study.py`'s `shapes()`): 3, 6, 9 and 12
/// archetypes among 30, 40, 55 and 70 countries, none or a fifth of them noise, equal or
/// LFM-1b sizes, strong or weak signal; then issue 27's case (9 archetypes, 38 countries, 8 of
/// them noise, LFM-1b sizes) at both signals.
pub fn study_shapes() -> Vec<Shape> {
    let mut out = Vec::new();
    for (archetypes, countries) in [(3, 30), (6, 40), (9, 55), (12, 70)] {
        for noise in [0, (countries as f64 * 0.2).round() as usize] {
            for unequal in [false, true] {
                for signal in [Signal::Strong, Signal::Weak] {
                    out.push(Shape {
                        archetypes,
                        countries,
                        noise,
                        unequal,
                        signal,
                    });
                }
            }
        }
    }
    for signal in [Signal::Weak, Signal::Strong] {
        out.push(Shape {
            archetypes: 9,
            countries: 38,
            noise: 8,
            unequal: true,
            signal,
        });
    }
    out
}

/// A generated data set: what [`crate::run`] reads (no users) and the planted labels
/// (-1: no archetype).
#[derive(Clone, Debug)]
pub struct Planted {
    pub inputs: Inputs,
    pub truth: Vec<i32>,
}

/// Generates `shape` from `seed` (the same seed gives the same data).
pub fn generate(shape: &Shape, seed: u64) -> Result<Planted, ArchetypeError> {
    validate(shape)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let users = country_users(shape, &mut rng);
    let truth = assign_archetypes(shape, &mut rng);
    let (n, k) = (shape.countries, shape.archetypes);
    let tracks = GLOBAL + k * LOCAL + n * OWN;
    let global = zipf(GLOBAL);
    let genres: Vec<Vec<f64>> = (0..GENRES)
        .map(|g| {
            let w: Vec<f64> = (0..GLOBAL)
                .map(|t| if t % GENRES == g { global[t] } else { 0.0 })
                .collect();
            normalise(w)
        })
        .collect();
    let mut triples = Vec::new();
    for i in 0..n {
        let counts = country_counts(shape, i, truth[i], users[i], &global, &genres, &mut rng)?;
        triples.extend(
            counts
                .iter()
                .enumerate()
                .filter(|&(_, &c)| c > 0)
                .map(|(t, &c)| (i as u32, t as u32, f64::from(c))),
        );
    }
    let plays = SparseRows::from_triples(n, tracks, &mut triples)?;
    let mut track_plays = vec![0u64; tracks];
    for (&t, &v) in plays.cols.iter().zip(&plays.values) {
        track_plays[t as usize] += v as u64;
    }
    Ok(Planted {
        inputs: Inputs {
            countries: (0..n).map(|i| format!("C{i:02}")).collect(),
            plays,
            track_plays,
            users: Vec::new(),
        },
        truth,
    })
}

fn validate(shape: &Shape) -> Result<(), ArchetypeError> {
    let members = shape.countries.saturating_sub(shape.noise);
    if shape.archetypes == 0 || members < shape.archetypes {
        return Err(ArchetypeError::Input(format!(
            "{} archetypes need at least as many countries outside the noise ({members})",
            shape.archetypes
        )));
    }
    if shape.unequal && shape.countries > LFM_USERS.len() {
        return Err(ArchetypeError::Input(format!(
            "unequal sizes come from LFM-1b's {} countries, not {}",
            LFM_USERS.len(),
            shape.countries
        )));
    }
    Ok(())
}

/// `w_r = 1 / r` over ranks 1..=m, summing to 1.
fn zipf(m: usize) -> Vec<f64> {
    normalise((1..=m).map(|r| 1.0 / r as f64).collect())
}

fn normalise(mut w: Vec<f64>) -> Vec<f64> {
    let s: f64 = w.iter().sum();
    for v in &mut w {
        *v /= s;
    }
    w
}

/// Users per country, largest first: a sample of LFM-1b's countries, or all equal.
fn country_users(shape: &Shape, rng: &mut ChaCha8Rng) -> Vec<u32> {
    if !shape.unequal {
        return vec![EQUAL_USERS; shape.countries];
    }
    let mut picked: Vec<u32> = sample(rng, LFM_USERS.len(), shape.countries)
        .iter()
        .map(|i| LFM_USERS[i])
        .collect();
    picked.sort_unstable_by(|a, b| b.cmp(a));
    picked
        .into_iter()
        .map(|u| ((f64::from(u) * USER_SCALE).round() as u32).max(MIN_USERS))
        .collect()
}

/// Noise countries at random; the others dealt to archetypes `k` at a time in a random order
/// (as datagen deals LFM-1b's countries by size), so every archetype gets big and small ones.
fn assign_archetypes(shape: &Shape, rng: &mut ChaCha8Rng) -> Vec<i32> {
    let n = shape.countries;
    let mut noise = vec![false; n];
    for i in sample(rng, n, shape.noise).iter() {
        noise[i] = true;
    }
    let members: Vec<usize> = (0..n).filter(|&i| !noise[i]).collect();
    let mut truth = vec![-1i32; n];
    for chunk in members.chunks(shape.archetypes) {
        let mut order: Vec<usize> = (0..shape.archetypes).collect();
        order.shuffle(rng);
        for (&i, &a) in chunk.iter().zip(&order) {
            truth[i] = a as i32;
        }
    }
    truth
}

/// One country's plays per track: its users, grouped by favourite genre, each drawing
/// [`DRAWS_PER_USER`] plays from the country's mix.
fn country_counts(
    shape: &Shape,
    i: usize,
    archetype: i32,
    users: u32,
    global: &[f64],
    genres: &[Vec<f64>],
    rng: &mut ChaCha8Rng,
) -> Result<Vec<u32>, ArchetypeError> {
    let (lo, hi) = shape.signal.range();
    let a_share = rng.random_range(lo..hi);
    let o_share = rng.random_range(OWN_SHARE.0..OWN_SHARE.1);
    let jitter = LogNormal::new(0.0, GLOBAL_JITTER)
        .map_err(|e| ArchetypeError::Numeric(format!("lognormal: {e}")))?;
    let taste = normalise(global.iter().map(|&w| w * jitter.sample(rng)).collect());
    let base = local_mix(shape, i, archetype, a_share, o_share);
    let rest = 1.0 - a_share - o_share;
    let mut per_genre = [0u32; GENRES];
    for _ in 0..users {
        per_genre[rng.random_range(0..GENRES)] += 1;
    }
    let mut counts = vec![0u32; base.len()];
    for (g, &u) in per_genre.iter().enumerate() {
        if u == 0 {
            continue;
        }
        let mut mix = base.clone();
        for (t, m) in mix[..GLOBAL].iter_mut().enumerate() {
            *m = rest * (GENRE_SHARE * genres[g][t] + (1.0 - GENRE_SHARE) * taste[t]);
        }
        let pick = WeightedIndex::new(&mix)
            .map_err(|e| ArchetypeError::Numeric(format!("play mix: {e}")))?;
        for _ in 0..u * DRAWS_PER_USER {
            counts[pick.sample(rng)] += 1;
        }
    }
    Ok(counts)
}

/// Country `i`'s weights outside the global hits: `a_share` on its archetype's local block
/// and `o_share` on its own tracks, or both shares on its own tracks for a noise country.
fn local_mix(shape: &Shape, i: usize, archetype: i32, a_share: f64, o_share: f64) -> Vec<f64> {
    let mut base = vec![0.0; GLOBAL + shape.archetypes * LOCAL + shape.countries * OWN];
    let own0 = GLOBAL + shape.archetypes * LOCAL + i * OWN;
    let own_share = match usize::try_from(archetype) {
        Ok(a) => {
            let s = GLOBAL + a * LOCAL;
            for (b, w) in base[s..s + LOCAL].iter_mut().zip(zipf(LOCAL)) {
                *b = a_share * w;
            }
            o_share
        }
        Err(_) => a_share + o_share,
    };
    for (b, w) in base[own0..own0 + OWN].iter_mut().zip(zipf(OWN)) {
        *b = own_share * w;
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_weights_are_one_over_rank_and_sum_to_one() {
        let w = zipf(4);
        let h = 1.0 + 1.0 / 2.0 + 1.0 / 3.0 + 1.0 / 4.0;
        for (r, v) in w.iter().enumerate() {
            assert!((v - 1.0 / ((r + 1) as f64 * h)).abs() < 1e-15, "{w:?}");
        }
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!(study_shapes().len(), 34);
    }

    #[test]
    fn shapes_have_the_planted_counts_and_are_deterministic() {
        let shape = Shape {
            archetypes: 4,
            countries: 30,
            noise: 6,
            unequal: true,
            signal: Signal::Weak,
        };
        let a = generate(&shape, 3).unwrap();
        let b = generate(&shape, 3).unwrap();
        assert_eq!(a.truth, b.truth);
        assert_eq!(a.inputs.plays, b.inputs.plays);
        assert_eq!(a.truth.iter().filter(|&&l| l < 0).count(), 6);
        for k in 0..4 {
            assert_eq!(a.truth.iter().filter(|&&l| l == k).count(), 6);
        }
        // Plays per country: users x draws, users from LFM-1b scaled, largest first.
        let totals: Vec<f64> = (0..30)
            .map(|i| a.inputs.plays.row(i).1.iter().sum())
            .collect();
        for w in totals.windows(2) {
            assert!(w[0] >= w[1], "{totals:?}");
        }
        let smallest = f64::from(MIN_USERS.max((26.0 * USER_SCALE).round() as u32));
        assert!(totals[29] >= smallest * f64::from(DRAWS_PER_USER));
        assert!(totals[0] <= (10255.0 * USER_SCALE).round() * f64::from(DRAWS_PER_USER));
        // Each member's archetype block holds about its archetype share of its plays; other
        // archetypes' blocks stay empty.
        for (i, &l) in a.truth.iter().enumerate() {
            let (cols, vals) = a.inputs.plays.row(i);
            let block = |k: usize| -> f64 {
                let r = GLOBAL + k * LOCAL..GLOBAL + (k + 1) * LOCAL;
                cols.iter()
                    .zip(vals)
                    .filter(|(&c, _)| r.contains(&(c as usize)))
                    .map(|(_, v)| v)
                    .sum()
            };
            for k in 0..4 {
                let share = block(k) / totals[i];
                if k as i32 == l {
                    assert!((0.04..0.25).contains(&share), "{i}: {share}");
                } else {
                    assert_eq!(share, 0.0);
                }
            }
        }
        let e = generate(
            &Shape {
                noise: 28,
                ..shape.clone()
            },
            0,
        );
        assert!(e.is_err());
    }
}
