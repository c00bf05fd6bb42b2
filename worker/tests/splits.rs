//! Held-out users, their input/target split, training popularity and the evaluation of the
//! popularity baselines: independent of the worker count, consistent with the interactions,
//! and equal to a naive recomputation.

use std::collections::{BTreeMap, BTreeSet};

use archetype_job::config::SplitProtocol;
use archetype_job::{JobConfig, StoreUrl};
use archetype_worker::evaluate::{evaluate, MP_COUNTRY, MP_GLOBAL};
use archetype_worker::split::Split;
use archetype_worker::tables::{col, read_table, StrCol, U32Col, U64Col};

mod common;
use common::{aggregate, config, data};

/// Everything keyed by original ids, so runs with different worker counts compare directly.
#[derive(Debug, PartialEq)]
struct Tables {
    split: BTreeMap<u32, String>,
    country: BTreeMap<u32, String>,
    /// (user, track) -> plays
    plays: BTreeMap<(u32, u32), u32>,
    /// (user, track) -> (input, target)
    heldout: BTreeMap<(u32, u32), (u32, u32)>,
    train_plays: BTreeMap<u32, u64>,
    /// (country, track) -> training plays
    country_train: BTreeMap<(String, u32), u64>,
}

async fn load(root: &StoreUrl) -> Tables {
    use archetype_job::layout::{COUNTRY_PROFILES, HELDOUT, INTERACTIONS, TRACKS, USERS};
    let read = |t: &str| {
        let d = root.join(t);
        async move { read_table(&d).await.unwrap() }
    };
    let mut user_id = BTreeMap::new();
    let mut t = Tables {
        split: BTreeMap::new(),
        country: BTreeMap::new(),
        plays: BTreeMap::new(),
        heldout: BTreeMap::new(),
        train_plays: BTreeMap::new(),
        country_train: BTreeMap::new(),
    };
    for b in read(USERS).await {
        let idx = col::<U32Col>(&b, "user_idx").unwrap();
        let id = col::<U32Col>(&b, "user_id").unwrap();
        let sp = col::<StrCol>(&b, "split").unwrap();
        let c = col::<StrCol>(&b, "country").unwrap();
        for i in 0..b.num_rows() {
            user_id.insert(idx.value(i), id.value(i));
            t.split.insert(id.value(i), sp.value(i).to_string());
            t.country.insert(id.value(i), c.value(i).to_string());
        }
    }
    let mut track_id = BTreeMap::new();
    for b in read(TRACKS).await {
        let idx = col::<U32Col>(&b, "track_idx").unwrap();
        let id = col::<U32Col>(&b, "track_id").unwrap();
        let tp = col::<U64Col>(&b, "train_plays").unwrap();
        for i in 0..b.num_rows() {
            track_id.insert(idx.value(i), id.value(i));
            t.train_plays.insert(id.value(i), tp.value(i));
        }
    }
    for b in read(INTERACTIONS).await {
        let u = col::<U32Col>(&b, "user_idx").unwrap();
        let tr = col::<U32Col>(&b, "track_idx").unwrap();
        let p = col::<U32Col>(&b, "plays").unwrap();
        for i in 0..b.num_rows() {
            t.plays
                .insert((user_id[&u.value(i)], track_id[&tr.value(i)]), p.value(i));
        }
    }
    for b in read(HELDOUT).await {
        let u = col::<U32Col>(&b, "user_idx").unwrap();
        let tr = col::<U32Col>(&b, "track_idx").unwrap();
        let inp = col::<U32Col>(&b, "input_plays").unwrap();
        let tg = col::<U32Col>(&b, "target_plays").unwrap();
        for i in 0..b.num_rows() {
            t.heldout.insert(
                (user_id[&u.value(i)], track_id[&tr.value(i)]),
                (inp.value(i), tg.value(i)),
            );
        }
    }
    for b in read(COUNTRY_PROFILES).await {
        let c = col::<StrCol>(&b, "country").unwrap();
        let tr = col::<U32Col>(&b, "track_idx").unwrap();
        let tp = col::<U64Col>(&b, "train_plays").unwrap();
        for i in 0..b.num_rows() {
            t.country_train.insert(
                (c.value(i).to_string(), track_id[&tr.value(i)]),
                tp.value(i),
            );
        }
    }
    t
}

fn check_consistent(t: &Tables, c: &JobConfig) {
    let count = |s: &str| t.split.values().filter(|x| *x == s).count();
    let users = t.split.len();
    let cap = (users as f64 * c.eval.heldout_fraction).floor() as usize;
    assert_eq!(count("validation"), c.eval.validation_users.min(cap));
    assert_eq!(count("test"), c.eval.test_users.min(cap));
    assert_eq!(count("train") + count("validation") + count("test"), users);
    // The held-out table covers exactly the held-out users' interactions, plays preserved.
    let held: BTreeSet<u32> = t
        .split
        .iter()
        .filter(|(_, s)| *s != "train")
        .map(|(u, _)| *u)
        .collect();
    let want: BTreeMap<(u32, u32), u32> = t
        .plays
        .iter()
        .filter(|((u, _), _)| held.contains(u))
        .map(|(k, v)| (*k, *v))
        .collect();
    assert_eq!(
        t.heldout.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, (i, g)) in &t.heldout {
        assert_eq!(i + g, want[k], "{k:?}");
    }
    // Training popularity counts training users only.
    let mut train: BTreeMap<u32, u64> = BTreeMap::new();
    let mut country_train: BTreeMap<(String, u32), u64> = BTreeMap::new();
    for ((u, tr), p) in &t.plays {
        if t.split[u] == "train" {
            *train.entry(*tr).or_default() += u64::from(*p);
            *country_train
                .entry((t.country[u].clone(), *tr))
                .or_default() += u64::from(*p);
        }
    }
    for (tr, tp) in &t.train_plays {
        assert_eq!(*tp, train.get(tr).copied().unwrap_or(0), "track {tr}");
    }
    for (k, tp) in &t.country_train {
        assert_eq!(*tp, country_train.get(k).copied().unwrap_or(0), "{k:?}");
    }
}

#[test]
fn splits_are_reproducible_consistent_and_independent_of_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    data(&dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    for protocol in [SplitProtocol::Events, SplitProtocol::Tracks] {
        let c = config(&dir, protocol);
        let mut first: Option<Tables> = None;
        for threads in [1, 2, 4] {
            let out = tmp
                .path()
                .join(format!("out-{}-{threads}", protocol.name()));
            let root = aggregate(&rt, &c, &out, threads);
            let t = rt.block_on(load(&root));
            check_consistent(&t, &c);
            let held_users: BTreeSet<u32> = t.heldout.keys().map(|(u, _)| *u).collect();
            for u in held_users {
                let rows: Vec<(u32, u32)> = t
                    .heldout
                    .range((u, 0)..=(u, u32::MAX))
                    .map(|(_, v)| *v)
                    .collect();
                let total: u32 = rows.iter().map(|(i, g)| i + g).sum();
                match protocol {
                    SplitProtocol::Events => {
                        let target: u32 = rows.iter().map(|r| r.1).sum();
                        assert_eq!(
                            target,
                            (f64::from(total) * c.eval.target_fraction).round() as u32
                        );
                    }
                    SplitProtocol::Tracks => {
                        assert!(rows.iter().all(|(i, g)| (*i == 0) != (*g == 0)));
                        let n = rows.iter().filter(|r| r.1 > 0).count();
                        assert_eq!(
                            n,
                            (rows.len() as f64 * c.eval.target_fraction).round() as usize
                        );
                    }
                }
            }
            match &first {
                None => first = Some(t),
                Some(f) => assert_eq!(f, &t, "{threads} workers, {}", protocol.name()),
            }
        }
    }
}

/// Naive MP global: sort the whole catalogue, drop the inputs, cut at k.
fn naive_global(train: &BTreeMap<u32, u64>, input: &BTreeSet<u32>, k: usize) -> Vec<u32> {
    let mut all: Vec<(u64, u32)> = train
        .iter()
        .filter(|(t, p)| **p > 0 && !input.contains(t))
        .map(|(t, p)| (*p, *t))
        .collect();
    all.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    all.into_iter().take(k).map(|(_, t)| t).collect()
}

#[test]
fn evaluation_shards_add_up_and_match_a_naive_ranking() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    data(&dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Split by events, input excluded: the variant where the target rule matters. Most users
    // replay only what their input holds and get no target, so hold out many.
    let mut c = config(&dir, SplitProtocol::Events);
    c.eval.heldout_fraction = 0.3;
    c.eval.test_users = 300;
    let root = aggregate(&rt, &c, &tmp.path().join("out"), 4);

    let whole = rt
        .block_on(evaluate(&root, &c, Split::Test, |_| true))
        .unwrap();
    // Two members of two threads each: parts 0-1 and 2-3.
    let a = rt
        .block_on(evaluate(&root, &c, Split::Test, |p| p < 2))
        .unwrap();
    let b = rt
        .block_on(evaluate(&root, &c, Split::Test, |p| p >= 2))
        .unwrap();
    // Three baselines, the WMF-ALS family (the model, its item cosine, the local models, four
    // cross-cultural strengths and the hard exclusion) and one row per configured VAE.
    let vaes = archetype_worker::vae::models(&c.vae);
    assert_eq!(
        vaes.len(),
        10,
        "plain, 4 contexts x 2 gates, concat country"
    );
    assert_eq!(whole.models.len(), 11 + vaes.len());
    for (i, m) in whole.models.iter().enumerate() {
        let mut rows = a.models[i].rows.clone();
        rows.extend(b.models[i].rows.clone());
        rows.sort_by_key(|r| r.user_idx);
        assert_eq!(rows, m.rows, "{}", m.model);
        assert_eq!(a.models[i].skipped + b.models[i].skipped, m.skipped);
    }
    assert!(
        whole.models[2].unavailable.is_some(),
        "MP cluster is not faked"
    );
    for m in &whole.models[3..] {
        let switch = if vaes.iter().any(|v| v.name == m.model) {
            "vae.enabled"
        } else {
            "als.enabled"
        };
        assert!(
            m.unavailable.as_deref().is_some_and(|r| r.contains(switch)),
            "{} is not faked: {:?}",
            m.model,
            m.unavailable
        );
        assert!(m.rows.is_empty());
    }
    let global = &whole.models[0];
    assert_eq!(global.model, MP_GLOBAL);
    assert_eq!(whole.models[1].model, MP_COUNTRY);
    assert!(global.rows.len() >= 10, "{}", global.rows.len());

    // P@10 and R@100 of MP global, recomputed naively from the tables.
    let t = rt.block_on(load(&root));
    let mut id_by_idx: BTreeMap<u32, u32> = BTreeMap::new();
    {
        let users = rt
            .block_on(read_table(&root.join(archetype_job::layout::USERS)))
            .unwrap();
        for b in users {
            let idx = col::<U32Col>(&b, "user_idx").unwrap();
            let id = col::<U32Col>(&b, "user_id").unwrap();
            for i in 0..b.num_rows() {
                id_by_idx.insert(idx.value(i), id.value(i));
            }
        }
    }
    // Real listeners replay: most held-out events fall on tracks that are also in the input.
    // The generated data must have that property, or the rule below would not be tested.
    let (mut replayed, mut held) = (0u64, 0u64);
    for (inp, tgt) in t.heldout.values() {
        held += u64::from(*tgt);
        if *inp > 0 {
            replayed += u64::from(*tgt);
        }
    }
    assert!(
        replayed as f64 > 0.8 * held as f64,
        "{replayed} of {held} held-out events replay an input track"
    );
    // With the input excluded from every ranking, a user's targets are the held-out tracks
    // that are not in the input; users left without one are skipped and counted.
    let test_users: Vec<u32> = t
        .split
        .iter()
        .filter(|(_, s)| *s == "test")
        .map(|(u, _)| *u)
        .collect();
    let targets_of = |u: u32, new_only: bool| -> BTreeSet<u32> {
        t.heldout
            .range((u, 0)..=(u, u32::MAX))
            .filter(|(_, (i, g))| *g > 0 && (!new_only || *i == 0))
            .map(|((_, tr), _)| *tr)
            .collect()
    };
    let without = test_users
        .iter()
        .filter(|&&u| targets_of(u, true).is_empty())
        .count() as u64;
    assert_eq!(global.skipped, without);
    assert_eq!(global.rows.len() as u64 + without, test_users.len() as u64);
    let mut differs_from_old_rule = 0;
    for row in &global.rows {
        let u = id_by_idx[&row.user_idx];
        let input: BTreeSet<u32> = t
            .heldout
            .range((u, 0)..=(u, u32::MAX))
            .filter(|(_, (i, _))| *i > 0)
            .map(|((_, tr), _)| *tr)
            .collect();
        let ranking = naive_global(&t.train_plays, &input, 100);
        let metrics = |target: &BTreeSet<u32>| {
            let hits10 = ranking
                .iter()
                .take(10)
                .filter(|x| target.contains(x))
                .count();
            let hits100 = ranking.iter().filter(|x| target.contains(x)).count();
            (
                hits10 as f64 / 10.0,
                hits100 as f64 / (target.len().min(100) as f64),
            )
        };
        let (p10, r100) = metrics(&targets_of(u, true));
        // Columns: P@10, R@10, NDCG@10, MAP@10, P@100, R@100, ...
        assert!((row.metrics.values[0] - p10).abs() < 1e-12, "user {u}");
        assert!((row.metrics.values[5] - r100).abs() < 1e-12, "user {u}");
        let (_, old_r100) = metrics(&targets_of(u, false));
        differs_from_old_rule += usize::from((old_r100 - r100).abs() > 1e-12);
    }
    // The old rule (every held-out track a target) would give other numbers: the assertions
    // above fail on it.
    assert!(
        differs_from_old_rule > 0,
        "no user of {} tells the rules apart",
        global.rows.len()
    );
}
