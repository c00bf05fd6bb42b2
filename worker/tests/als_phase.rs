//! The WMF-ALS phase on aggregated tables: factors stored as Parquet and `.npy`, a resumed run
//! equal to an uninterrupted one, the same model for another thread count, and the trained
//! model evaluated on the test users next to the baselines.

use std::sync::Arc;

use archetype_eval::metrics::Metric;
use archetype_job::config::{LocalGroups, SplitProtocol};
use archetype_job::layout::{
    ALS_ITEM_FACTORS, ALS_ITEM_NPY, ALS_LOCAL_MODELS, ALS_USER_NPY, USERS,
};
use archetype_job::{JobConfig, StoreUrl};
use archetype_worker::als::{dense, read_factors, run_phase, AlsPhase, AlsProgress, AlsState};
use archetype_worker::evaluate::{evaluate, MP_GLOBAL, WMF_ALS};
use archetype_worker::local_models::LocalState;
use archetype_worker::split::Split;
use archetype_worker::tables::{col, read_table, StrCol, U32Col};
use object_store::ObjectStoreExt;

mod common;
use common::{aggregate, config, data};

fn train(rt: &tokio::runtime::Runtime, c: &JobConfig, root: &StoreUrl, threads: usize) -> AlsState {
    let o = run_phase(
        AlsPhase {
            process_index: 0,
            peers: Vec::new(),
            formation_secret: Vec::new(),
            threads,
            config: c.clone(),
            root: root.url.clone(),
            device: archetype_worker::device::DeviceOptions::default(),
            rendezvous: None,
        },
        Arc::new(AlsProgress::default()),
        rt.handle().clone(),
    )
    .unwrap();
    serde_json::from_str(&o.state_json).unwrap()
}

/// `als/local/models.json` as the phase wrote it.
fn local_state(rt: &tokio::runtime::Runtime, root: &StoreUrl) -> LocalState {
    let url = root.join(ALS_LOCAL_MODELS);
    let b = rt
        .block_on(async { url.store.get(&url.path).await.unwrap().bytes().await })
        .unwrap();
    serde_json::from_slice(&b).unwrap()
}

fn items(rt: &tokio::runtime::Runtime, root: &StoreUrl, s: &AlsState) -> Vec<f32> {
    let k = s.settings.factors;
    let f = rt
        .block_on(read_factors(&root.join(ALS_ITEM_FACTORS), k))
        .unwrap();
    dense(&f, s.settings.items, k).unwrap()
}

/// The values of a `.npy` matrix, with its shape.
fn read_npy(rt: &tokio::runtime::Runtime, url: &StoreUrl) -> (Vec<usize>, Vec<f32>) {
    let b = rt
        .block_on(async { url.store.get(&url.path).await.unwrap().bytes().await })
        .unwrap();
    assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap();
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let values = b[10 + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (dims, values)
}

#[test]
fn wmf_als_phase_stores_resumes_and_is_evaluated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    data(&dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut c = config(&dir, SplitProtocol::Tracks);
    c.als.enabled = true;
    c.als.factors = 16;
    c.als.iterations = 4;
    c.als.local.groups = LocalGroups::Country;
    c.als.local.factors = 8;
    c.als.local.iterations = 3;
    c.als.local.min_users = 5;

    // Uninterrupted, two timely workers.
    let a = aggregate(&rt, &c, &tmp.path().join("a"), 2);
    let sa = train(&rt, &c, &a, 2);
    assert!(sa.complete && sa.completed == 4, "{sa:?}");
    assert_eq!(sa.reports.len(), 4);
    assert!(sa.nnz > 0);
    let first = sa.reports[0].loss;
    let last = sa.reports[3].loss;
    assert!(last < first, "loss {first} -> {last}");
    assert!(sa.reports.iter().all(|r| r.ndcg.is_some_and(|n| n > 0.0)));
    let ya = items(&rt, &a, &sa);
    // The .npy matrices hold the same factors, row = dense index.
    let (dims, values) = read_npy(&rt, &a.join(ALS_ITEM_NPY));
    assert_eq!(dims, vec![sa.settings.items, 16]);
    assert_eq!(values, ya);
    let (udims, x) = read_npy(&rt, &a.join(ALS_USER_NPY));
    assert_eq!(udims, vec![sa.settings.users, 16]);
    // Held-out users never train: their rows are zero, every training user's is not.
    let mut held_out = 0;
    for b in rt.block_on(read_table(&a.join(USERS))).unwrap() {
        let idx = col::<U32Col>(&b, "user_idx").unwrap();
        let split = col::<StrCol>(&b, "split").unwrap();
        for i in 0..b.num_rows() {
            let u = idx.value(i) as usize;
            let zero = x[u * 16..(u + 1) * 16].iter().all(|&v| v == 0.0);
            assert_eq!(zero, split.value(i) != "train", "user {u}");
            held_out += usize::from(zero);
        }
    }
    assert!(held_out >= 80, "{held_out} held-out users");
    // One local model per country with at least `min_users` training users, each trained on
    // those users' cells only.
    let la = local_state(&rt, &a);
    assert!(la.complete, "{la:?}");
    assert!(la.models.len() >= 2, "{la:?}");
    for m in &la.models {
        assert_eq!(format!("country-{}", m.countries.join("")), m.name);
        assert!(m.users >= 5 && m.cells > 0 && m.items > 0, "{m:?}");
        assert!(m.loss.is_finite() && m.loss > 0.0, "{m:?}");
    }
    let cells: u64 = la.models.iter().map(|m| m.cells).sum();
    assert!(cells <= sa.nnz, "{cells} local cells of {} in all", sa.nnz);
    for (name, why) in &la.skipped {
        assert!(!la.models.iter().any(|m| &m.name == name), "{name}: {why}");
    }
    // A finished model is not trained again, nor are the local ones.
    let again = train(&rt, &c, &a, 2);
    assert_eq!(again, sa);
    let la2 = local_state(&rt, &a);
    assert_eq!(la2, la, "local models retrained");

    // Two iterations, then resumed to four: the same bits.
    let b = aggregate(&rt, &c, &tmp.path().join("b"), 2);
    let mut short = c.clone();
    short.als.iterations = 2;
    let sb = train(&rt, &short, &b, 2);
    assert!(sb.complete && sb.completed == 2);
    let sb = train(&rt, &c, &b, 2);
    assert!(sb.complete && sb.completed == 4, "{sb:?}");
    assert_eq!(sb.reports.len(), 4);
    assert_eq!(items(&rt, &b, &sb), ya, "resumed run differs");
    for (x, y) in sb.reports.iter().zip(&sa.reports) {
        assert_eq!((x.iteration, x.loss, x.ndcg), (y.iteration, y.loss, y.ndcg));
    }
    // Settings that differ start over instead of resuming.
    let mut other = c.clone();
    other.als.lambda = 0.5;
    let so = train(&rt, &other, &b, 2);
    assert_eq!(so.settings.lambda, 0.5);
    assert!(so.complete && so.completed == 4);
    assert_ne!(items(&rt, &b, &so), ya);

    // One timely worker reads every part: the same model up to the order of float sums.
    let d = aggregate(&rt, &c, &tmp.path().join("d"), 1);
    let sd = train(&rt, &c, &d, 1);
    let yd = items(&rt, &d, &sd);
    let worst = ya
        .iter()
        .zip(&yd)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-3, "1 vs 2 workers differ by {worst}");

    // Evaluated on the test users; member shards add up to the whole.
    let whole = rt
        .block_on(evaluate(&a, &c, Split::Test, |_| true))
        .unwrap();
    let p0 = rt
        .block_on(evaluate(&a, &c, Split::Test, |p| p == 0))
        .unwrap();
    let p1 = rt
        .block_on(evaluate(&a, &c, Split::Test, |p| p == 1))
        .unwrap();
    let wmf = whole
        .models
        .iter()
        .position(|m| m.model == WMF_ALS)
        .unwrap();
    let m = &whole.models[wmf];
    assert!(m.unavailable.is_none(), "{:?}", m.unavailable);
    assert!(m.rows.len() >= 40, "{}", m.rows.len());
    let mut rows = p0.models[wmf].rows.clone();
    rows.extend(p1.models[wmf].rows.clone());
    rows.sort_by_key(|r| r.user_idx);
    assert_eq!(rows, m.rows);
    let mean = |name: &str| {
        let m = whole.models.iter().find(|m| m.model == name).unwrap();
        let v: Vec<f64> = m
            .rows
            .iter()
            .map(|r| r.metrics.get(&c.eval.ks, Metric::Ndcg, 100).unwrap())
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let (ndcg_wmf, ndcg_global) = (mean(WMF_ALS), mean(MP_GLOBAL));
    let ndcg_local = mean("WMF-ALS local (country)");
    eprintln!("NDCG@100: WMF-ALS {ndcg_wmf:.4}, local {ndcg_local:.4}, MP global {ndcg_global:.4}");
    assert!(ndcg_wmf > ndcg_global, "{ndcg_wmf} vs {ndcg_global}");
    assert!(ndcg_local > 0.0);

    // Cross-cultural re-ranking: the share of foreign-origin tracks grows with the strength,
    // the hard exclusion leaves none of the user's own country.
    let foreign = |name: &str| {
        let m = whole.models.iter().find(|m| m.model == name).unwrap();
        assert!(m.unavailable.is_none(), "{name}: {:?}", m.unavailable);
        assert!(m.known_origin[0] > 0, "{name}");
        m.foreign[0] as f64 / m.known_origin[0] as f64
    };
    let mut last = foreign(WMF_ALS);
    for s in &c.eval.cross_cultural.strengths {
        let f = foreign(&format!("WMF-ALS cross-cultural s={s}"));
        eprintln!("Foreign@10 at strength {s}: {f:.3}");
        assert!(f + 1e-9 >= last, "strength {s}: {f} after {last}");
        last = f;
    }
    assert!(last > foreign(WMF_ALS), "the penalty changed nothing");
    assert_eq!(foreign("WMF-ALS without own country"), 1.0);
}
