//! Cross-cultural recommendation (after Ido, Sharkov & Yang 2021): each track's country of
//! origin, estimated from where it is listened to, and re-ranking of a user's list away from
//! their own culture.
//!
//! - Origin: the country in which the track takes the largest share of that country's
//!   listening (plays of the track / all plays of the country). Ido et al. take the country
//!   with the most plays, which hands most of the catalogue to the largest country; the share
//!   asks where the track matters most. Ties go to the lower country index.
//! - Similarity of two countries: the cosine of their listening vectors (plays per track,
//!   normalised to sum 1) - the vectors the archetypes are clustered from, so countries of one
//!   archetype are close; a country is 1 to itself.
//! - Re-ranking: the base model's best `candidates` items, their scores min-max scaled to
//!   [0, 1], each minus `strength x similarity(user's country, item's origin)`; strength 0 keeps
//!   the base order, large strengths push the user's own and culturally close countries down.
//!   Going beyond Ido et al.'s hard rule (drop every track of the user's country), which is
//!   [`exclude_same_country`].

use crate::error::EvalError;

/// Origins of a catalogue and the similarity of its countries.
#[derive(Clone, Debug, PartialEq)]
pub struct Cultures {
    /// Country names, index order.
    pub countries: Vec<String>,
    /// Origin country index per track (`None`: no plays anywhere).
    pub origin: Vec<Option<u32>>,
    /// `countries x countries`, row-major.
    pub similarity: Vec<f64>,
}

impl Cultures {
    /// From `(country index, track, plays)` triples over `countries.len()` countries and a
    /// catalogue of `tracks` tracks; repeated (country, track) pairs add up.
    pub fn from_plays(
        countries: Vec<String>,
        tracks: usize,
        plays: &[(u32, u32, u64)],
    ) -> Result<Self, EvalError> {
        let n = countries.len();
        let mut totals = vec![0f64; n];
        for &(c, t, p) in plays {
            if c as usize >= n || t as usize >= tracks {
                return Err(EvalError::Input(format!(
                    "country {c} / track {t} outside {n} countries x {tracks} tracks"
                )));
            }
            totals[c as usize] += p as f64;
        }
        // Per track, the (country, share) entries; sorted so sums run in a fixed order.
        let mut cells: Vec<(u32, u32, f64)> = plays
            .iter()
            .filter(|x| x.2 > 0)
            .map(|&(c, t, p)| (t, c, p as f64 / totals[c as usize]))
            .collect();
        cells.sort_by_key(|a| (a.0, a.1));
        let mut merged: Vec<(u32, u32, f64)> = Vec::with_capacity(cells.len());
        for c in cells {
            match merged.last_mut() {
                Some(l) if l.0 == c.0 && l.1 == c.1 => l.2 += c.2,
                _ => merged.push(c),
            }
        }
        let mut origin = vec![None; tracks];
        let mut dot = vec![0f64; n * n];
        let mut start = 0;
        while start < merged.len() {
            let t = merged[start].0;
            let end = start + merged[start..].iter().take_while(|x| x.0 == t).count();
            let group = &merged[start..end];
            let mut best: Option<(u32, f64)> = None;
            for &(_, c, s) in group {
                if best.is_none_or(|(_, b)| s > b) {
                    best = Some((c, s));
                }
                for &(_, d, r) in group {
                    dot[c as usize * n + d as usize] += s * r;
                }
            }
            origin[t as usize] = best.map(|b| b.0);
            start = end;
        }
        let mut similarity = vec![0f64; n * n];
        for a in 0..n {
            for b in 0..n {
                let norm = (dot[a * n + a] * dot[b * n + b]).sqrt();
                similarity[a * n + b] = if a == b {
                    1.0
                } else if norm > 0.0 {
                    dot[a * n + b] / norm
                } else {
                    0.0
                };
            }
        }
        Ok(Cultures {
            countries,
            origin,
            similarity,
        })
    }

    pub fn country_index(&self, name: &str) -> Option<u32> {
        self.countries
            .iter()
            .position(|c| c == name)
            .map(|i| i as u32)
    }

    pub fn similarity(&self, a: u32, b: u32) -> f64 {
        let n = self.countries.len();
        self.similarity[a as usize * n + b as usize]
    }

    /// How much of the top `k` of `ranking` comes from another country than `country`:
    /// (foreign items, items with a known origin).
    pub fn foreign(&self, ranking: &[u32], country: u32, k: usize) -> (u64, u64) {
        let (mut foreign, mut known) = (0, 0);
        for &t in ranking.iter().take(k) {
            if let Some(o) = self.origin.get(t as usize).copied().flatten() {
                known += 1;
                foreign += u64::from(o != country);
            }
        }
        (foreign, known)
    }

    /// Re-ranks `candidates` (best first, with scores) for a user of `country`, keeping `k`.
    /// A user without a country, or a strength of 0, keeps the base order.
    pub fn rerank(
        &self,
        candidates: &[(u32, f32)],
        country: Option<u32>,
        strength: f64,
        k: usize,
    ) -> Vec<u32> {
        let Some(c) = country.filter(|_| strength > 0.0) else {
            return candidates.iter().take(k).map(|x| x.0).collect();
        };
        let (lo, hi) = candidates
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(f64::from(x.1)), hi.max(f64::from(x.1)))
            });
        let span = hi - lo;
        let mut scored: Vec<(f64, usize, u32)> = candidates
            .iter()
            .enumerate()
            .map(|(rank, &(t, s))| {
                let scaled = if span > 0.0 {
                    (f64::from(s) - lo) / span
                } else {
                    1.0
                };
                let sim = self
                    .origin
                    .get(t as usize)
                    .copied()
                    .flatten()
                    .map_or(0.0, |o| self.similarity(c, o));
                (scaled - strength * sim, rank, t)
            })
            .collect();
        // Equal adjusted scores keep the base order.
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().take(k).map(|x| x.2).collect()
    }
}

/// Ido et al.'s rule: the base order without the tracks whose origin is the user's country.
pub fn exclude_same_country(
    cultures: &Cultures,
    candidates: &[(u32, f32)],
    country: Option<u32>,
    k: usize,
) -> Vec<u32> {
    candidates
        .iter()
        .filter(|(t, _)| {
            country.is_none() || cultures.origin.get(*t as usize).copied().flatten() != country
        })
        .take(k)
        .map(|x| x.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cultures() -> Cultures {
        // A is a large country, B a small one listening partly alike, C apart.
        // Totals: A 2001, B 20, C 50.
        let plays = vec![
            (0, 0, 1000),
            (0, 1, 900),
            (0, 2, 100),
            (0, 3, 1),
            (1, 0, 2),
            (1, 1, 9),
            (1, 2, 9),
            (2, 3, 50),
            (0, 4, 0),
        ];
        Cultures::from_plays(vec!["A".into(), "B".into(), "C".into()], 6, &plays).unwrap()
    }

    #[test]
    fn origins_follow_the_share_of_listening() {
        let c = cultures();
        assert_eq!(c.origin[0], Some(0)); // A: 1000/2001 = 0.50 > B: 2/20
        assert_eq!(c.origin[1], Some(1)); // B: 9/20 = 0.45 > A: 900/2001 = 0.4498, on 100x fewer plays
        assert_eq!(c.origin[2], Some(1));
        assert_eq!(c.origin[3], Some(2));
        assert_eq!(c.origin[4], None); // zero plays
        assert_eq!(c.origin[5], None); // no row
        assert_eq!(c.country_index("C"), Some(2));
    }

    #[test]
    fn similar_countries_are_close_and_a_country_is_one_to_itself() {
        let c = cultures();
        assert_eq!(c.similarity(0, 0), 1.0);
        // Cosines of (.50, .45, .05, .0005) with (.1, .45, .45, 0) and with (0, 0, 0, 1).
        assert!(
            (c.similarity(0, 1) - 0.6329).abs() < 1e-3,
            "{}",
            c.similarity(0, 1)
        );
        assert!(
            (c.similarity(0, 2) - 0.00074).abs() < 1e-4,
            "{}",
            c.similarity(0, 2)
        );
        assert_eq!(c.similarity(0, 1), c.similarity(1, 0));
    }

    #[test]
    fn reranking_moves_the_users_culture_down_by_strength() {
        let c = cultures();
        let cand = vec![(0, 1.0), (1, 0.9), (3, 0.5)];
        assert_eq!(c.rerank(&cand, Some(0), 0.0, 3), vec![0, 1, 3]);
        assert_eq!(c.rerank(&cand, None, 5.0, 3), vec![0, 1, 3]);
        // Scaled 1, 0.8, 0 minus 2 x similarity 1, 0.63, 0.0007: C's track first, A's last.
        let strong = c.rerank(&cand, Some(0), 2.0, 3);
        assert_eq!(strong, vec![3, 1, 0]);
        // A mild penalty keeps the order.
        assert_eq!(c.rerank(&cand, Some(0), 0.1, 3), vec![0, 1, 3]);
        // Foreign share rises with it.
        let base = c.foreign(&[0, 1, 3], 0, 1);
        let after = c.foreign(&strong, 0, 1);
        assert!(after.0 > base.0, "{base:?} {after:?}");
        assert_eq!(exclude_same_country(&c, &cand, Some(2), 3), vec![0, 1]);
        assert!(Cultures::from_plays(vec!["A".into()], 1, &[(1, 0, 1)]).is_err());
    }
}
