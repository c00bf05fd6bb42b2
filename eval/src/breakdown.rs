//! Where a model's accuracy comes from: NDCG on head and on tail tracks, per country, and how
//! much of each list comes from abroad (the cross-cultural share).
//!
//! - Head: the most played tracks (training plays, ties to the lower index) that together hold
//!   `head_share` of all training plays; every other track is tail. A user's head NDCG@K is
//!   [`user_metrics`] against the targets in the head only (the same ranking; tail hits count
//!   as misses there), and likewise for the tail; users without targets on a side are left out
//!   of that side.
//! - Per country: mean NDCG at the largest K over the test users of each of the countries with
//!   the most test users.
//! - Foreign@K: of the top K items with a known origin, over all users with a country, the share
//!   whose origin is another country ([`crate::cultural`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::metrics::{column_index, user_metrics, Metric, MetricSums, UserMetrics, METRICS_PER_K};

/// Head membership per track.
pub fn head_tracks(train_plays: &[u64], share: f64) -> Vec<bool> {
    let total: u128 = train_plays.iter().map(|&p| u128::from(p)).sum();
    let mut order: Vec<u32> = (0..train_plays.len() as u32)
        .filter(|&t| train_plays[t as usize] > 0)
        .collect();
    order.sort_by(|&a, &b| {
        train_plays[b as usize]
            .cmp(&train_plays[a as usize])
            .then(a.cmp(&b))
    });
    let mut head = vec![false; train_plays.len()];
    let want = share * total as f64;
    let mut acc: u128 = 0;
    for t in order {
        if acc as f64 >= want {
            break;
        }
        head[t as usize] = true;
        acc += u128::from(train_plays[t as usize]);
    }
    head
}

/// A user's metrics on their head targets and on their tail targets (`None`: no target there).
pub fn head_tail_metrics(
    ranking: &[u32],
    targets: &[u32],
    head: &[bool],
    ks: &[usize],
) -> (Option<UserMetrics>, Option<UserMetrics>) {
    let (h, t): (Vec<u32>, Vec<u32>) = targets
        .iter()
        .partition(|&&x| head.get(x as usize).copied().unwrap_or(false));
    (user_metrics(ranking, &h, ks), user_metrics(ranking, &t, ks))
}

/// One evaluated user of one model, as the breakdown reads it.
#[derive(Clone, Copy, Debug)]
pub struct UserParts<'a> {
    pub user: u32,
    pub country: Option<&'a str>,
    pub all: &'a UserMetrics,
    pub head: Option<&'a UserMetrics>,
    pub tail: Option<&'a UserMetrics>,
}

/// One model's input: its users and its foreign / known-origin counts per K.
#[derive(Clone, Debug)]
pub struct ModelParts<'a> {
    pub name: &'a str,
    pub users: Vec<UserParts<'a>>,
    pub foreign: &'a [u64],
    pub known: &'a [u64],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BreakdownRow {
    pub model: String,
    /// NDCG@K per K on head targets, and the users that had some.
    pub head_ndcg: Vec<f64>,
    pub head_users: u64,
    pub tail_ndcg: Vec<f64>,
    pub tail_users: u64,
    /// NDCG at the largest K per listed country (`None`: no user of it).
    pub country_ndcg: Vec<Option<f64>>,
    /// Foreign share per K (`None`: no item with a known origin).
    pub foreign: Vec<Option<f64>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    pub ks: Vec<usize>,
    pub head_share: f64,
    pub head_tracks: u64,
    pub catalogue: u64,
    /// Listed countries and their test users (of the first model).
    pub countries: Vec<(String, u64)>,
    pub rows: Vec<BreakdownRow>,
}

fn ndcg_means(ks: &[usize], rows: &[(u32, UserMetrics)]) -> Result<(Vec<f64>, u64), EvalError> {
    let sums = MetricSums::from_rows(ks.len() * METRICS_PER_K, rows)?;
    let means = sums.means();
    let v = ks
        .iter()
        .map(|&k| {
            let i = column_index(ks, Metric::Ndcg, k).unwrap_or(0);
            means.as_ref().map_or(f64::NAN, |m| m[i])
        })
        .collect();
    Ok((v, sums.users()))
}

/// Builds the breakdown; countries: the `max_countries` with the most users of the first
/// model (ties by name).
pub fn build(
    ks: &[usize],
    head_share: f64,
    head_tracks: u64,
    catalogue: u64,
    models: &[ModelParts],
    max_countries: usize,
) -> Result<Breakdown, EvalError> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    if let Some(first) = models.first() {
        for u in &first.users {
            if let Some(c) = u.country {
                *counts.entry(c).or_default() += 1;
            }
        }
    }
    let mut countries: Vec<(String, u64)> = counts
        .into_iter()
        .map(|(c, n)| (c.to_string(), n))
        .collect();
    countries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    countries.truncate(max_countries);
    let max_k = ks.iter().copied().max().unwrap_or(0);
    let ndcg_col = column_index(ks, Metric::Ndcg, max_k).unwrap_or(0);
    let mut rows = Vec::new();
    for m in models {
        let pick = |f: &dyn Fn(&UserParts) -> Option<UserMetrics>| -> Vec<(u32, UserMetrics)> {
            m.users
                .iter()
                .filter_map(|u| f(u).map(|x| (u.user, x)))
                .collect()
        };
        let (head_ndcg, head_users) = ndcg_means(ks, &pick(&|u| u.head.cloned()))?;
        let (tail_ndcg, tail_users) = ndcg_means(ks, &pick(&|u| u.tail.cloned()))?;
        let mut country_ndcg = Vec::new();
        for (c, _) in &countries {
            let of = pick(&|u| (u.country == Some(c.as_str())).then(|| u.all.clone()));
            let sums = MetricSums::from_rows(ks.len() * METRICS_PER_K, &of)?;
            country_ndcg.push(sums.means().map(|v| v[ndcg_col]));
        }
        let foreign = m
            .foreign
            .iter()
            .zip(m.known)
            .map(|(&f, &k)| (k > 0).then(|| f as f64 / k as f64))
            .collect();
        rows.push(BreakdownRow {
            model: m.name.to_string(),
            head_ndcg,
            head_users,
            tail_ndcg,
            tail_users,
            country_ndcg,
            foreign,
        });
    }
    Ok(Breakdown {
        ks: ks.to_vec(),
        head_share,
        head_tracks,
        catalogue,
        countries,
        rows,
    })
}

fn cell(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        _ => "–".to_string(),
    }
}

impl Breakdown {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n## Head and tail\n\nHead: the {} most played tracks of {} ({:.0}% of the training \
             plays); NDCG against each side's targets only.\n",
            self.head_tracks,
            self.catalogue,
            100.0 * self.head_share
        );
        let mut head = vec!["Model".to_string()];
        head.extend(self.ks.iter().map(|k| format!("NDCG@{k} head")));
        head.push("Users (head)".to_string());
        head.extend(self.ks.iter().map(|k| format!("NDCG@{k} tail")));
        head.push("Users (tail)".to_string());
        table(
            &mut out,
            &head,
            self.rows.iter().map(|r| {
                let mut c = vec![r.model.replace('|', "\\|")];
                c.extend(r.head_ndcg.iter().map(|&v| cell(Some(v))));
                c.push(r.head_users.to_string());
                c.extend(r.tail_ndcg.iter().map(|&v| cell(Some(v))));
                c.push(r.tail_users.to_string());
                c
            }),
        );
        let max_k = self.ks.iter().copied().max().unwrap_or(0);
        let _ = writeln!(
            out,
            "\n## By country\n\nNDCG@{max_k} over the test users of the {} countries with the \
             most of them (users in brackets).\n",
            self.countries.len()
        );
        let mut head = vec!["Model".to_string()];
        head.extend(self.countries.iter().map(|(c, n)| format!("{c} ({n})")));
        table(
            &mut out,
            &head,
            self.rows.iter().map(|r| {
                let mut c = vec![r.model.replace('|', "\\|")];
                c.extend(r.country_ndcg.iter().map(|&v| cell(v)));
                c
            }),
        );
        let _ = writeln!(
            out,
            "\n## Cross-cultural share\n\nForeign@K: of the top K tracks with a known origin \
             (users with a country), the share from another country than the user's.\n"
        );
        let mut head = vec!["Model".to_string()];
        head.extend(self.ks.iter().map(|k| format!("Foreign@{k}")));
        table(
            &mut out,
            &head,
            self.rows.iter().map(|r| {
                let mut c = vec![r.model.replace('|', "\\|")];
                c.extend(r.foreign.iter().map(|&v| cell(v)));
                c
            }),
        );
        out
    }
}

fn table(out: &mut String, head: &[String], rows: impl Iterator<Item = Vec<String>>) {
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let rule: Vec<&str> = (0..head.len())
        .map(|i| if i == 0 { "---" } else { "---:" })
        .collect();
    let _ = writeln!(out, "| {} |", rule.join(" | "));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_holds_the_asked_share_of_plays() {
        // Plays 50, 30, 10, 10, 0: half of 100 is reached by the first track alone.
        let head = head_tracks(&[10, 50, 0, 30, 10], 0.5);
        assert_eq!(head, vec![false, true, false, false, false]);
        let head = head_tracks(&[10, 50, 0, 30, 10], 0.6);
        assert_eq!(head, vec![false, true, false, true, false]);
        // Ties go to the lower index.
        let head = head_tracks(&[10, 10, 10, 10], 0.3);
        assert_eq!(head, vec![true, true, false, false]);
    }

    #[test]
    fn head_and_tail_metrics_split_the_targets() {
        let head = vec![true, true, false, false];
        let ks = [2];
        let (h, t) = head_tail_metrics(&[0, 2], &[0, 3], &head, &ks);
        let h = h.unwrap();
        let t = t.unwrap();
        assert_eq!(h.get(&ks, Metric::Ndcg, 2), Some(1.0));
        // Tail target 3 is not in the list: 0.
        assert_eq!(t.get(&ks, Metric::Ndcg, 2), Some(0.0));
        let (h, t) = head_tail_metrics(&[0, 2], &[2], &head, &ks);
        assert!(h.is_none() && t.is_some());
    }

    #[test]
    fn builds_country_means_and_foreign_shares() {
        let ks = [1];
        let m = |v: f64| UserMetrics {
            values: vec![v, v, v, v],
        };
        let (a, b, c) = (m(1.0), m(0.0), m(0.5));
        let users = vec![
            UserParts {
                user: 0,
                country: Some("FI"),
                all: &a,
                head: Some(&a),
                tail: None,
            },
            UserParts {
                user: 1,
                country: Some("FI"),
                all: &b,
                head: None,
                tail: Some(&b),
            },
            UserParts {
                user: 2,
                country: Some("SE"),
                all: &c,
                head: Some(&c),
                tail: Some(&c),
            },
        ];
        let parts = ModelParts {
            name: "x",
            users,
            foreign: &[3],
            known: &[4],
        };
        let bd = build(&ks, 0.5, 1, 4, &[parts], 5).unwrap();
        assert_eq!(
            bd.countries,
            vec![("FI".to_string(), 2), ("SE".to_string(), 1)]
        );
        let r = &bd.rows[0];
        assert_eq!(r.country_ndcg, vec![Some(0.5), Some(0.5)]);
        assert_eq!((r.head_ndcg[0], r.head_users), (0.75, 2));
        assert_eq!((r.tail_ndcg[0], r.tail_users), (0.25, 2));
        assert_eq!(r.foreign, vec![Some(0.75)]);
        let md = bd.markdown();
        assert!(md.contains("| FI (2) | SE (1) |"), "{md}");
        assert!(md.contains("Foreign@1"), "{md}");
    }
}
