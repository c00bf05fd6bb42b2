//! A plain, single-threaded implementation of the aggregation: the oracle the dataflow is
//! tested against, and a reader that turns the written Parquet tables back into the same shape.
//!
//! It shares only the row parsers with the dataflow (tested on their own in `archetype-lfm`);
//! sharding, exchange, filtering and indexing are done here the obvious way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use archetype_job::config::FilterConfig;
use archetype_job::StoreUrl;
use archetype_lfm::parse::{is_users_header, parse_event, parse_user, TimeWindow};
use archetype_lfm::BadRowKind;

use crate::tables::{self, col, I64Col, StrCol, U32Col, U64Col};

/// The aggregation keyed by original ids, so runs with any worker count compare directly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aggregate {
    /// (user id, track id) -> (plays, first timestamp, last timestamp)
    pub interactions: BTreeMap<(u32, u32), (u32, i64, i64)>,
    /// user id -> (country, plays, distinct tracks)
    pub users: BTreeMap<u32, (Option<String>, u64, u32)>,
    /// track id -> (plays, listeners, filter plays, filter listeners)
    pub tracks: BTreeMap<u32, (u64, u64, u64, u64)>,
    /// (country, track id) -> plays
    pub country_profiles: BTreeMap<(String, u32), u64>,
    /// country -> (LEs, users, kept)
    pub countries: BTreeMap<Option<String>, (u64, u64, bool)>,
    /// Rejected rows per kind name.
    pub bad_rows: BTreeMap<String, u64>,
}

fn lines(data: &[u8]) -> impl Iterator<Item = (&[u8], bool)> {
    let ends_clean = data.last() == Some(&b'\n');
    let body = if ends_clean {
        &data[..data.len() - 1]
    } else {
        data
    };
    let n = if data.is_empty() {
        0
    } else {
        body.split(|b| *b == b'\n').count()
    };
    body.split(|b| *b == b'\n')
        .take(n)
        .enumerate()
        .map(move |(i, l)| (l, !ends_clean && i + 1 == n))
}

/// Aggregates plain-text LFM-1b files on one thread.
pub fn aggregate_files(
    events: &[&Path],
    users_file: &Path,
    filter: &FilterConfig,
    window: TimeWindow,
) -> std::io::Result<Aggregate> {
    let mut out = Aggregate::default();
    let mut bad = |kind: BadRowKind| *out.bad_rows.entry(kind.name().to_string()).or_default() += 1;

    let mut users: BTreeMap<u32, archetype_lfm::UserRow> = BTreeMap::new();
    let data = std::fs::read(users_file)?;
    for (i, (line, last)) in lines(&data).enumerate() {
        if i == 0 && is_users_header(line) {
            continue;
        }
        match parse_user(line) {
            Ok(u) => {
                if let std::collections::btree_map::Entry::Vacant(v) = users.entry(u.user) {
                    v.insert(u);
                } else {
                    bad(BadRowKind::DuplicateUser);
                }
            }
            Err(e) => bad(if last {
                BadRowKind::TruncatedLastLine
            } else {
                e.kind
            }),
        }
    }

    let mut pairs: BTreeMap<(u32, u32), (u32, i64, i64)> = BTreeMap::new();
    for f in events {
        let data = std::fs::read(f)?;
        for (line, last) in lines(&data) {
            match parse_event(line, window) {
                Ok(e) => {
                    let ts = i64::from(e.timestamp);
                    let p = pairs.entry((e.user, e.track)).or_insert((0, ts, ts));
                    p.0 += 1;
                    p.1 = p.1.min(ts);
                    p.2 = p.2.max(ts);
                }
                Err(e) => bad(if last {
                    BadRowKind::TruncatedLastLine
                } else {
                    e.kind
                }),
            }
        }
    }

    let country_of = |u: &u32| users.get(u).and_then(|r| r.country).map(|c| c.to_string());
    // User filter.
    pairs.retain(|(u, _), _| !filter.require_country || country_of(u).is_some());
    // Track filter over the remaining users' events.
    let mut track_filter: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    let mut country_totals: BTreeMap<Option<String>, (u64, BTreeSet<u32>)> = BTreeMap::new();
    for ((u, t), (p, _, _)) in &pairs {
        let e = track_filter.entry(*t).or_default();
        e.0 += u64::from(*p);
        e.1 += 1;
        let c = country_totals.entry(country_of(u)).or_default();
        c.0 += u64::from(*p);
        c.1.insert(*u);
    }
    let passed: Vec<u32> = track_filter
        .iter()
        .filter(|(_, (p, _))| filter.keep_all_tracks || *p >= filter.min_track_les)
        .map(|(t, _)| *t)
        .collect();
    let kept_tracks: BTreeSet<u32> = filter.sample(passed).into_iter().collect();
    for (c, (les, us)) in &country_totals {
        let users_n = us.len() as u64;
        let kept = match c {
            Some(_) => *les >= filter.min_country_les && users_n >= filter.min_country_users,
            None => !filter.require_country,
        };
        out.countries.insert(c.clone(), (*les, users_n, kept));
    }
    pairs.retain(|(u, t), _| {
        kept_tracks.contains(t)
            && out
                .countries
                .get(&country_of(u))
                .map(|c| c.2)
                .unwrap_or(false)
    });
    for t in &kept_tracks {
        let (fp, fl) = track_filter[t];
        out.tracks.insert(*t, (0, 0, fp, fl));
    }
    for ((u, t), (p, first, last)) in &pairs {
        out.interactions.insert((*u, *t), (*p, *first, *last));
        let ue = out.users.entry(*u).or_insert((country_of(u), 0, 0));
        ue.1 += u64::from(*p);
        ue.2 += 1;
        if let Some(te) = out.tracks.get_mut(t) {
            te.0 += u64::from(*p);
            te.1 += 1;
        }
        if let Some(c) = country_of(u) {
            *out.country_profiles.entry((c, *t)).or_default() += u64::from(*p);
        }
    }
    Ok(out)
}

/// Reads a job's aggregate tables back, keyed by original ids. Also checks that the dense
/// indices are exactly 0..n in sorted-id order.
pub async fn load_tables(job_root: &StoreUrl) -> Result<Aggregate, String> {
    use archetype_job::layout::{COUNTRIES, COUNTRY_PROFILES, INTERACTIONS, TRACKS, USERS};
    let read = |t: &str| {
        let dir = job_root.join(t);
        async move { tables::read_table(&dir).await.map_err(|e| e.to_string()) }
    };
    let e = |x: tables::TableError| x.to_string();
    let mut out = Aggregate::default();

    let mut user_ids: BTreeMap<u32, u32> = BTreeMap::new();
    for b in read(USERS).await? {
        let idx = col::<U32Col>(&b, "user_idx").map_err(e)?;
        let id = col::<U32Col>(&b, "user_id").map_err(e)?;
        let country = col::<StrCol>(&b, "country").map_err(e)?;
        let plays = col::<U64Col>(&b, "plays").map_err(e)?;
        let tracks = col::<U32Col>(&b, "tracks").map_err(e)?;
        for i in 0..b.num_rows() {
            user_ids.insert(idx.value(i), id.value(i));
            let c =
                (!arrow_array::Array::is_null(country, i)).then(|| country.value(i).to_string());
            out.users
                .insert(id.value(i), (c, plays.value(i), tracks.value(i)));
        }
    }
    let mut track_ids: BTreeMap<u32, u32> = BTreeMap::new();
    for b in read(TRACKS).await? {
        let idx = col::<U32Col>(&b, "track_idx").map_err(e)?;
        let id = col::<U32Col>(&b, "track_id").map_err(e)?;
        let p = col::<U64Col>(&b, "plays").map_err(e)?;
        let l = col::<U64Col>(&b, "listeners").map_err(e)?;
        let fp = col::<U64Col>(&b, "filter_plays").map_err(e)?;
        let fl = col::<U64Col>(&b, "filter_listeners").map_err(e)?;
        for i in 0..b.num_rows() {
            track_ids.insert(idx.value(i), id.value(i));
            out.tracks.insert(
                id.value(i),
                (p.value(i), l.value(i), fp.value(i), fl.value(i)),
            );
        }
    }
    check_dense("user", &user_ids)?;
    check_dense("track", &track_ids)?;
    for b in read(INTERACTIONS).await? {
        let u = col::<U32Col>(&b, "user_idx").map_err(e)?;
        let t = col::<U32Col>(&b, "track_idx").map_err(e)?;
        let p = col::<U32Col>(&b, "plays").map_err(e)?;
        let f = col::<I64Col>(&b, "first_timestamp").map_err(e)?;
        let l = col::<I64Col>(&b, "last_timestamp").map_err(e)?;
        for i in 0..b.num_rows() {
            let uid = *user_ids
                .get(&u.value(i))
                .ok_or("interaction with unknown user_idx")?;
            let tid = *track_ids
                .get(&t.value(i))
                .ok_or("interaction with unknown track_idx")?;
            if out
                .interactions
                .insert((uid, tid), (p.value(i), f.value(i), l.value(i)))
                .is_some()
            {
                return Err(format!("pair ({uid}, {tid}) written twice"));
            }
        }
    }
    for b in read(COUNTRY_PROFILES).await? {
        let c = col::<StrCol>(&b, "country").map_err(e)?;
        let t = col::<U32Col>(&b, "track_idx").map_err(e)?;
        let p = col::<U64Col>(&b, "plays").map_err(e)?;
        for i in 0..b.num_rows() {
            let tid = *track_ids
                .get(&t.value(i))
                .ok_or("profile with unknown track_idx")?;
            out.country_profiles
                .insert((c.value(i).to_string(), tid), p.value(i));
        }
    }
    for b in read(COUNTRIES).await? {
        let c = col::<StrCol>(&b, "country").map_err(e)?;
        let les = col::<U64Col>(&b, "les").map_err(e)?;
        let users = col::<U64Col>(&b, "users").map_err(e)?;
        let kept = col::<tables::BoolCol>(&b, "kept").map_err(e)?;
        for i in 0..b.num_rows() {
            let name = (!arrow_array::Array::is_null(c, i)).then(|| c.value(i).to_string());
            out.countries
                .insert(name, (les.value(i), users.value(i), kept.value(i)));
        }
    }
    Ok(out)
}

fn check_dense(what: &str, ids: &BTreeMap<u32, u32>) -> Result<(), String> {
    for (expect, (idx, _)) in ids.iter().enumerate() {
        if *idx as usize != expect {
            return Err(format!(
                "{what} indices are not dense: {idx} at position {expect}"
            ));
        }
    }
    if !ids.values().zip(ids.values().skip(1)).all(|(a, b)| a < b) {
        return Err(format!("{what} indices do not follow sorted original ids"));
    }
    Ok(())
}
