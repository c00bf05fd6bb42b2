//! The user population: demographics and activity drawn from the real LFM-1b figures, hidden
//! archetype memberships, and the users file.

use std::collections::BTreeMap;
use std::io::Write;

use rand::seq::index::sample;
use rand::Rng;
use rayon::prelude::*;

use crate::config::{Resolved, MAX_USER_ID};
use crate::figures::{self, Demographics};
use crate::itoa::{push_i64, push_u64};
use crate::rng::{cumulative, pick_cumulative, quantile, rng_for, Stream};

/// Country index meaning "no country stated".
pub(crate) const NO_COUNTRY: u16 = u16::MAX;
/// Gender field values, indexed by [`User::gender`].
const GENDERS: [&str; 4] = ["m", "f", "n", ""];
/// Range of the share of a user's repertoire drawn from its archetype's local tracks.
pub(crate) const LOCAL_SHARE_RANGE: (f64, f64) = (0.4, 0.6);

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: u64,
    /// Index into [`figures::COUNTRY_USERS`], or [`NO_COUNTRY`].
    pub country: u16,
    /// Archetype: the country's, or a hidden random one for users without a country.
    pub cluster: u32,
    pub age: i32,
    pub gender: u8,
    pub registered: i64,
    pub events: u64,
    /// Global index of this user's first event (users are written in order).
    pub first_event: u64,
    pub local_share: f64,
    pub playcount_missing: bool,
}

/// A second users-file row for an existing user, with another country.
#[derive(Debug, Clone)]
pub(crate) struct Duplicate {
    /// Written right after the row of user index `after`.
    pub after: usize,
    pub user: usize,
    pub country: u16,
}

pub(crate) struct Population {
    pub users: Vec<User>,
    /// Archetype of each country of [`figures::COUNTRY_USERS`].
    pub country_cluster: Vec<u32>,
    /// Sorted by `after`.
    pub duplicates: Vec<Duplicate>,
}

/// Weighted choices built once from the figures.
struct Tables {
    country: Vec<f64>,
    demographics: Vec<Demographics>,
    empty_demographics: Demographics,
    age_values: Vec<i32>,
    age: Vec<f64>,
    activity_with_country: Vec<f64>,
    activity_no_country: Vec<f64>,
    registered: Vec<f64>,
    id_gaps: Vec<f64>,
}

impl Tables {
    fn new() -> Tables {
        let country = cumulative(
            std::iter::once(f64::from(figures::EMPTY_COUNTRY_USERS))
                .chain(figures::COUNTRY_USERS.iter().map(|&(_, n)| f64::from(n))),
        );
        let lookup = |code: &str| {
            figures::COUNTRY_DEMOGRAPHICS
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, d)| *d)
        };
        let demographics = figures::COUNTRY_USERS
            .iter()
            .map(|(code, _)| lookup(code).unwrap_or(figures::SMALL_COUNTRY_DEMOGRAPHICS))
            .collect();
        let empty_demographics = lookup("").unwrap_or(figures::SMALL_COUNTRY_DEMOGRAPHICS);
        let known: Vec<(i32, u32)> = figures::AGE_USERS
            .iter()
            .copied()
            .filter(|&(a, _)| a >= 0)
            .collect();
        Tables {
            country,
            demographics,
            empty_demographics,
            age_values: known.iter().map(|&(a, _)| a).collect(),
            age: cumulative(known.iter().map(|&(_, n)| f64::from(n))),
            activity_with_country: figures::PLAYCOUNT_QUANTILES_WITH_COUNTRY
                .map(f64::from)
                .to_vec(),
            activity_no_country: figures::PLAYCOUNT_QUANTILES_NO_COUNTRY
                .map(f64::from)
                .to_vec(),
            registered: figures::REGISTERED_QUANTILES.map(|v| v as f64).to_vec(),
            id_gaps: figures::USER_ID_GAP_QUANTILES.map(|v| v as f64).to_vec(),
        }
    }
}

/// Assigns every country to an archetype. Countries are taken in order of size, `k` at a time,
/// and each group is dealt one per archetype in a seeded order, so that every archetype gets a
/// share of the big countries (otherwise one cluster could hold the US, RU and DE and dwarf the
/// others).
pub(crate) fn assign_countries(seed: u64, k: u32) -> Vec<u32> {
    let n = figures::COUNTRY_USERS.len();
    let mut out = vec![0u32; n];
    for (g, group) in (0..n).collect::<Vec<_>>().chunks(k as usize).enumerate() {
        let mut rng = rng_for(seed, Stream::Archetypes, g as u64);
        let order = sample(&mut rng, k as usize, k as usize);
        for (slot, &country) in group.iter().enumerate() {
            out[country] = order.index(slot) as u32;
        }
    }
    out
}

struct Draw {
    country: u16,
    cluster: u32,
    age: i32,
    gender: u8,
    registered: i64,
    weight: u64,
    gap: u64,
    local_share: f64,
}

fn draw_user(seed: u64, i: u64, k: u32, t: &Tables, clusters: &[u32]) -> Draw {
    let mut rng = rng_for(seed, Stream::Users, i);
    let c = pick_cumulative(&t.country, rng.random());
    let (country, demo) = if c == 0 {
        (NO_COUNTRY, t.empty_demographics)
    } else {
        ((c - 1) as u16, t.demographics[c - 1])
    };
    let cluster = if country == NO_COUNTRY {
        rng.random_range(0..k)
    } else {
        clusters[country as usize]
    };
    let gender_weights =
        cumulative([demo.male, demo.female, demo.neutral, demo.unset].map(f64::from));
    let gender = pick_cumulative(&gender_weights, rng.random()) as u8;
    let age = if rng.random::<f64>() * f64::from(demo.users) < f64::from(demo.age_known) {
        t.age_values[pick_cumulative(&t.age, rng.random())]
    } else {
        -1
    };
    // Users without a country are far less active in LFM-1b; keep that asymmetry.
    let activity = if country == NO_COUNTRY {
        &t.activity_no_country
    } else {
        &t.activity_with_country
    };
    let weight = quantile(activity, rng.random()).round() as u64;
    let registered = quantile(&t.registered, rng.random()) as i64;
    let gap = (quantile(&t.id_gaps, rng.random()).round() as u64).max(1);
    let local_share = rng.random_range(LOCAL_SHARE_RANGE.0..LOCAL_SHARE_RANGE.1);
    Draw {
        country,
        cluster,
        age,
        gender,
        registered,
        weight,
        gap,
        local_share,
    }
}

/// Splits `total` events in proportion to `weights`, exactly. Every user with a positive weight
/// gets at least one event when there are enough; cumulative flooring then spreads the rest
/// without drift, so no single user absorbs a large rounding remainder.
pub(crate) fn allocate(weights: &[u64], total: u64) -> Vec<u64> {
    let active = weights.iter().filter(|&&w| w > 0).count() as u64;
    let (base, rest) = if total >= active {
        (1, total - active)
    } else {
        (0, total)
    };
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        // Degenerate figures: spread evenly rather than dividing by zero.
        let n = weights.len() as u64;
        return (0..n)
            .map(|i| total * (i + 1) / n - total * i / n)
            .collect();
    }
    let mut acc = 0u128;
    let mut prev = 0u128;
    weights
        .iter()
        .map(|&w| {
            acc += u128::from(w);
            let upto = u128::from(rest) * acc / sum;
            let share = (upto - prev) as u64;
            prev = upto;
            if w > 0 {
                base + share
            } else {
                share
            }
        })
        .collect()
}

impl Population {
    pub fn new(r: &Resolved, pool: &rayon::ThreadPool) -> Population {
        let tables = Tables::new();
        let country_cluster = assign_countries(r.seed, r.archetypes);
        let draws: Vec<Draw> = pool.install(|| {
            (0..r.users)
                .into_par_iter()
                .map(|i| draw_user(r.seed, i, r.archetypes, &tables, &country_cluster))
                .collect()
        });

        // Ids: LFM-1b ids are sparse and increasing; keep the real gap shape unless that would
        // overflow the id budget, then compress gaps proportionally.
        let gap_sum: u128 = draws.iter().skip(1).map(|d| u128::from(d.gap - 1)).sum();
        let budget = u128::from(MAX_USER_ID - figures::USER_ID_FIRST - r.users);
        let mut id = figures::USER_ID_FIRST;
        let mut ids = Vec::with_capacity(draws.len());
        for (i, d) in draws.iter().enumerate() {
            if i > 0 {
                let extra = u128::from(d.gap - 1);
                let extra = if gap_sum > budget {
                    extra * budget / gap_sum
                } else {
                    extra
                };
                id += 1 + extra as u64;
            }
            ids.push(id);
        }

        // Registration time grows with user id in the real table (ids are handed out at
        // sign-up), so sorted draws go to ascending ids.
        let mut registered: Vec<i64> = draws.iter().map(|d| d.registered).collect();
        registered.sort_unstable();

        let weights: Vec<u64> = draws.iter().map(|d| d.weight).collect();
        let events = allocate(&weights, r.events);

        let mut users = Vec::with_capacity(draws.len());
        let mut first_event = 0u64;
        for (i, d) in draws.into_iter().enumerate() {
            users.push(User {
                id: ids[i],
                country: d.country,
                cluster: d.cluster,
                age: d.age,
                gender: d.gender,
                registered: registered[i],
                events: events[i],
                first_event,
                local_share: d.local_share,
                playcount_missing: false,
            });
            first_event += events[i];
        }

        let missing = ((r.users as f64 * f64::from(figures::PLAYCOUNT_MISSING_USERS)
            / f64::from(figures::SOURCE_USERS))
        .round() as usize)
            .max(1);
        let mut rng = rng_for(r.seed, Stream::Playcount, 0);
        for i in sample(&mut rng, users.len(), missing.min(users.len())).iter() {
            users[i].playcount_missing = true;
        }

        let duplicates = make_duplicates(r, &users, &tables);
        Population {
            users,
            country_cluster,
            duplicates,
        }
    }

    /// Users per country code (empty code for users without a country), original rows only.
    pub fn country_counts(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for u in &self.users {
            *out.entry(country_code(u.country).to_string()).or_insert(0) += 1;
        }
        out
    }

    /// Writes the users file: header, one row per user in id order, duplicates after their
    /// originals.
    pub fn write<W: Write>(&self, w: &mut W) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(1 << 20);
        buf.extend_from_slice(b"user_id\tcountry\tage\tgender\tplaycount\tregistered_unixtime\n");
        let mut dup = self.duplicates.iter().peekable();
        for (i, u) in self.users.iter().enumerate() {
            push_user_row(&mut buf, u, u.country);
            while let Some(d) = dup.next_if(|d| d.after == i) {
                push_user_row(&mut buf, &self.users[d.user], d.country);
            }
            if buf.len() > (1 << 20) - 256 {
                w.write_all(&buf)?;
                buf.clear();
            }
        }
        w.write_all(&buf)
    }
}

pub(crate) fn country_code(country: u16) -> &'static str {
    if country == NO_COUNTRY {
        ""
    } else {
        figures::COUNTRY_USERS[country as usize].0
    }
}

fn push_user_row(buf: &mut Vec<u8>, u: &User, country: u16) {
    push_u64(buf, u.id);
    buf.push(b'\t');
    buf.extend_from_slice(country_code(country).as_bytes());
    buf.push(b'\t');
    push_i64(buf, i64::from(u.age));
    buf.push(b'\t');
    buf.extend_from_slice(GENDERS[u.gender as usize].as_bytes());
    buf.push(b'\t');
    if u.playcount_missing {
        buf.extend_from_slice(b"-1");
    } else {
        // The events file is the only play log there is, so the profile counter matches it.
        push_u64(buf, u.events);
    }
    buf.push(b'\t');
    push_i64(buf, u.registered);
    buf.push(b'\n');
}

fn make_duplicates(r: &Resolved, users: &[User], t: &Tables) -> Vec<Duplicate> {
    let n = r.bad_rows.get("duplicate_user").copied().unwrap_or(0) as usize;
    if n == 0 {
        return Vec::new();
    }
    let mut rng = rng_for(r.seed, Stream::Duplicates, 0);
    let originals = sample(&mut rng, users.len(), n);
    let mut out: Vec<Duplicate> = originals
        .iter()
        .map(|user| {
            let own = users[user].country;
            let mut country = own;
            for _ in 0..64 {
                let c = pick_cumulative(&t.country, rng.random());
                country = if c == 0 { NO_COUNTRY } else { (c - 1) as u16 };
                if country != own {
                    break;
                }
            }
            if country == own {
                // Only reachable with absurd luck; any other country will do.
                country = if own == 0 { 1 } else { 0 };
            }
            let after = rng.random_range(user..users.len());
            Duplicate {
                after,
                user,
                country,
            }
        })
        .collect();
    out.sort_by_key(|d| d.after);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_is_exact_and_proportional() {
        let w = [0, 1, 10, 100, 1000, 5];
        let a = allocate(&w, 10_000);
        assert_eq!(a.iter().sum::<u64>(), 10_000);
        assert_eq!(a[0], 0);
        assert!(a.iter().skip(1).all(|&x| x >= 1));
        assert!(a[4] > 8 * a[3], "{a:?}");
        let a = allocate(&w, 3);
        assert_eq!(a.iter().sum::<u64>(), 3);
    }

    #[test]
    fn big_countries_are_spread_over_archetypes() {
        let k = 6;
        let c = assign_countries(7, k);
        let mut top: Vec<u32> = c[..k as usize].to_vec();
        top.sort_unstable();
        assert_eq!(top, (0..k).collect::<Vec<_>>());
        assert_ne!(c, assign_countries(8, k));
    }
}
