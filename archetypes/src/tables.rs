//! What describes each archetype: its top tracks once the dominating ones are removed by IDF
//! (the paper's Table 2 and Fig. 6), and its users' demographics (Figures 10-12).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::matrix::SparseRows;

/// IDF(t) = log10(N / n_t): N all listening events, n_t the track's.
pub fn idf(total: u64, plays: u64) -> f64 {
    if plays == 0 || total == 0 {
        return f64::INFINITY;
    }
    (total as f64 / plays as f64).log10()
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScoredTrack {
    pub track_idx: u32,
    /// Plays in the whole data (for dominating tracks) or in the cluster (for top tracks).
    pub plays: u64,
    pub idf: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterTracks {
    pub cluster: i32,
    pub tracks: Vec<ScoredTrack>,
}

/// Tracks whose IDF falls below `threshold`, most played first: the paper's "dominating"
/// tracks, popular everywhere and so useless to tell clusters apart.
pub fn dominating(track_plays: &[u64], threshold: f64) -> Vec<ScoredTrack> {
    let total: u64 = track_plays.iter().sum();
    let mut out: Vec<ScoredTrack> = track_plays
        .iter()
        .enumerate()
        .filter_map(|(t, &p)| {
            let v = idf(total, p);
            (v < threshold).then_some(ScoredTrack {
                track_idx: t as u32,
                plays: p,
                idf: v,
            })
        })
        .collect();
    out.sort_by(|a, b| b.plays.cmp(&a.plays).then(a.track_idx.cmp(&b.track_idx)));
    out
}

/// The `top` most played tracks of each cluster (sum of its countries' plays), dominating
/// tracks left out; ties go to the smaller track index. `plays` is countries x tracks.
pub fn top_tracks(
    plays: &SparseRows,
    labels: &[i32],
    clusters: usize,
    track_plays: &[u64],
    removed: &[ScoredTrack],
    top: usize,
) -> Vec<ClusterTracks> {
    let total: u64 = track_plays.iter().sum();
    let mut skip = vec![false; plays.n_cols];
    for t in removed {
        if let Some(s) = skip.get_mut(t.track_idx as usize) {
            *s = true;
        }
    }
    // One dense accumulator reused across clusters; only touched cells are read and reset, so
    // a cluster costs its countries' non-zeros, not the catalogue.
    let mut sums = vec![0f64; plays.n_cols];
    let mut touched: Vec<u32> = Vec::new();
    (0..clusters)
        .map(|k| {
            for (i, &l) in labels.iter().enumerate().take(plays.rows()) {
                if l != k as i32 {
                    continue;
                }
                let (cs, vs) = plays.row(i);
                for (&c, &v) in cs.iter().zip(vs) {
                    // Zero cells would enter `touched` twice.
                    if skip[c as usize] || v <= 0.0 {
                        continue;
                    }
                    if sums[c as usize] == 0.0 {
                        touched.push(c);
                    }
                    sums[c as usize] += v;
                }
            }
            let by_plays = |a: &u32, b: &u32| {
                sums[*b as usize]
                    .total_cmp(&sums[*a as usize])
                    .then(a.cmp(b))
            };
            if touched.len() > top {
                touched.select_nth_unstable_by(top, by_plays);
                touched.truncate(top);
            }
            touched.sort_by(by_plays);
            let tracks = touched
                .iter()
                .map(|&t| ScoredTrack {
                    track_idx: t,
                    plays: sums[t as usize].round() as u64,
                    idf: idf(total, track_plays.get(t as usize).copied().unwrap_or(0)),
                })
                .collect();
            // Reset everything this cluster touched (the truncated tail included).
            for (i, &l) in labels.iter().enumerate().take(plays.rows()) {
                if l == k as i32 {
                    for &c in plays.row(i).0 {
                        sums[c as usize] = 0.0;
                    }
                }
            }
            touched.clear();
            ClusterTracks {
                cluster: k as i32,
                tracks,
            }
        })
        .collect()
}

/// One user as the demographics see it.
#[derive(Clone, Debug)]
pub struct UserProfile {
    /// Row of the user's country in the country matrix; `None` for countries not clustered.
    pub country_row: Option<usize>,
    pub age: Option<u16>,
    /// `f`, `m`, or anything else (counted as other/unknown).
    pub gender: String,
    pub plays: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Demographics {
    pub cluster: i32,
    pub users: u64,
    /// Users with a known age, and the quartiles of those ages.
    pub users_with_age: u64,
    pub age_quartiles: Option<[f64; 3]>,
    pub female: u64,
    pub male: u64,
    pub other: u64,
    pub mean_plays: f64,
    /// The known ages themselves, for the figures (not serialised).
    #[serde(skip)]
    pub ages: Vec<u16>,
}

/// Demographics of every cluster, -1 (countries in no cluster) included when it has users.
pub fn demographics(users: &[UserProfile], labels: &[i32]) -> Vec<Demographics> {
    let mut by: BTreeMap<i32, Demographics> = BTreeMap::new();
    for u in users {
        let Some(row) = u.country_row else { continue };
        let Some(&cluster) = labels.get(row) else {
            continue;
        };
        let d = by.entry(cluster).or_insert_with(|| Demographics {
            cluster,
            users: 0,
            users_with_age: 0,
            age_quartiles: None,
            female: 0,
            male: 0,
            other: 0,
            mean_plays: 0.0,
            ages: Vec::new(),
        });
        d.users += 1;
        d.mean_plays += u.plays as f64;
        if let Some(a) = u.age {
            d.ages.push(a);
        }
        match u.gender.as_str() {
            "f" => d.female += 1,
            "m" => d.male += 1,
            _ => d.other += 1,
        }
    }
    let mut out: Vec<Demographics> = by.into_values().collect();
    for d in &mut out {
        d.mean_plays /= d.users.max(1) as f64;
        d.ages.sort_unstable();
        d.users_with_age = d.ages.len() as u64;
        d.age_quartiles = quartiles(&d.ages);
    }
    // Real clusters first, then the left-out countries.
    out.sort_by_key(|d| (d.cluster < 0, d.cluster));
    out
}

/// Quartiles by linear interpolation between order statistics (numpy's default).
fn quartiles(sorted: &[u16]) -> Option<[f64; 3]> {
    if sorted.is_empty() {
        return None;
    }
    let at = |q: f64| {
        let pos = q * (sorted.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        let w = pos - lo as f64;
        f64::from(sorted[lo]) * (1.0 - w) + f64::from(sorted[hi]) * w
    };
    Some([at(0.25), at(0.5), at(0.75)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dominating_tracks_and_top_tracks_follow_the_idf_rule() {
        // Track 0 holds 90% of all plays: IDF log10(1/0.9) = 0.046 < 1.
        let track_plays = [900u64, 50, 30, 20];
        let d = dominating(&track_plays, 1.0);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].track_idx, 0);
        assert!((d[0].idf - (1000f64 / 900.0).log10()).abs() < 1e-12);
        assert!(dominating(&track_plays, 0.0).is_empty());
        let mut t = vec![
            (0, 0, 500.0),
            (0, 1, 10.0),
            (0, 2, 30.0),
            (1, 0, 400.0),
            (1, 1, 40.0),
            (2, 3, 20.0),
        ];
        let plays = SparseRows::from_triples(3, 4, &mut t).unwrap();
        let top = top_tracks(&plays, &[0, 0, 1], 2, &track_plays, &d, 2);
        assert_eq!(
            top[0]
                .tracks
                .iter()
                .map(|t| t.track_idx)
                .collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(top[0].tracks[0].plays, 50);
        assert_eq!(top[1].tracks.len(), 1);
        assert_eq!(top[1].tracks[0].track_idx, 3);
    }

    #[test]
    fn demographics_count_per_cluster() {
        let u = |row: Option<usize>, age: Option<u16>, g: &str, plays: u64| UserProfile {
            country_row: row,
            age,
            gender: g.into(),
            plays,
        };
        let users = vec![
            u(Some(0), Some(20), "f", 10),
            u(Some(0), Some(30), "m", 30),
            u(Some(1), None, "n", 5),
            u(Some(2), Some(40), "m", 7),
            u(None, Some(50), "f", 100),
        ];
        let d = demographics(&users, &[0, 0, -1]);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].cluster, d[0].users, d[0].female, d[0].male, d[0].other),
            (0, 3, 1, 1, 1)
        );
        assert!((d[0].mean_plays - 15.0).abs() < 1e-12);
        assert_eq!(d[0].age_quartiles, Some([22.5, 25.0, 27.5]));
        assert_eq!((d[1].cluster, d[1].users), (-1, 1));
    }
}
