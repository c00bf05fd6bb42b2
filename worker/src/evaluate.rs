//! Evaluation of one member's share of the held-out users.
//!
//! The aggregation left, for every timely worker, a users part and a held-out part covering the
//! same users; a member scores the users of the parts its own threads wrote. Popularity comes
//! from the training users only (the `train_plays` columns of the tracks and country profiles
//! tables), so no held-out interaction leaks into a baseline. Each model yields one metric row
//! per user; the coordinator reduces the rows of all members and runs the significance tests.

use std::collections::BTreeMap;

use archetype_eval::baselines::{GroupedPopularity, PopularityRanker};
use archetype_eval::metrics::{user_metrics, CoverageAtKs, UserMetrics};
use archetype_job::{JobConfig, StoreUrl};
use arrow_array::Array;

use crate::split::Split;
use crate::tables::{self, col, StrCol, U32Col, U64Col};

/// The models evaluated by this phase, in report order.
pub const MP_GLOBAL: &str = "MP global";
pub const MP_COUNTRY: &str = "MP country";
pub const MP_CLUSTER: &str = "MP cluster";
pub const WMF_ALS: &str = "WMF-ALS";

/// One user's metrics under one model.
#[derive(Clone, Debug, PartialEq)]
pub struct UserMetricsRow {
    pub user_idx: u32,
    pub user_id: u32,
    pub country: Option<String>,
    pub metrics: UserMetrics,
}

#[derive(Clone, Debug)]
pub struct ModelResult {
    pub model: String,
    /// Why the model could not be evaluated; `rows` is empty then.
    pub unavailable: Option<String>,
    pub rows: Vec<UserMetricsRow>,
    /// Held-out users with an empty target, left out of every mean.
    pub skipped: u64,
    /// Users scored with another ranking than the model's own (MP country for a user whose
    /// country has no training plays falls back to MP global).
    pub fallback: u64,
    pub coverage: CoverageAtKs,
}

#[derive(Clone, Debug)]
pub struct EvalOutcome {
    pub models: Vec<ModelResult>,
    /// Tracks in the catalogue (the dense track index range).
    pub catalogue: usize,
    pub users: u64,
}

struct HeldOutUser {
    user_id: u32,
    country: Option<String>,
    /// Sorted track indices given as input, and those to be found.
    input: Vec<u32>,
    target: Vec<u32>,
    /// (track, plays) of the input, for models that weigh plays.
    input_plays: Vec<(u32, f32)>,
}

fn country_code(c: &str) -> Option<u32> {
    let b = c.as_bytes();
    (b.len() == 2).then(|| u32::from(b[0]) << 8 | u32::from(b[1]))
}

/// Scores the held-out users of `split` found in the parts `wanted` accepts.
pub async fn evaluate(
    root: &StoreUrl,
    cfg: &JobConfig,
    split: Split,
    wanted: impl Fn(usize) -> bool + Copy,
) -> Result<EvalOutcome, String> {
    use archetype_job::layout::{COUNTRY_PROFILES, HELDOUT, TRACKS, USERS};
    let e = |x: tables::TableError| x.to_string();
    let ks = &cfg.eval.ks;
    let max_k = ks.iter().copied().max().unwrap_or(0);

    // Training popularity over the whole catalogue (every member reads it all: it is small).
    let mut train_plays: Vec<u64> = Vec::new();
    for b in tables::read_table(&root.join(TRACKS)).await.map_err(e)? {
        let idx = col::<U32Col>(&b, "track_idx").map_err(e)?;
        let tp = col::<U64Col>(&b, "train_plays").map_err(e)?;
        for i in 0..b.num_rows() {
            let t = idx.value(i) as usize;
            if t >= train_plays.len() {
                train_plays.resize(t + 1, 0);
            }
            train_plays[t] = tp.value(i);
        }
    }
    let catalogue = train_plays.len();
    let global = PopularityRanker::from_dense(&train_plays).map_err(|x| x.to_string())?;
    let mut triples: Vec<(u32, u32, u64)> = Vec::new();
    for b in tables::read_table(&root.join(COUNTRY_PROFILES))
        .await
        .map_err(e)?
    {
        let c = col::<StrCol>(&b, "country").map_err(e)?;
        let t = col::<U32Col>(&b, "track_idx").map_err(e)?;
        let tp = col::<U64Col>(&b, "train_plays").map_err(e)?;
        for i in 0..b.num_rows() {
            if let Some(code) = country_code(c.value(i)) {
                triples.push((code, t.value(i), tp.value(i)));
            }
        }
    }
    let by_country = GroupedPopularity::from_triples(&triples).map_err(|x| x.to_string())?;
    // MP cluster: the same plays summed over the countries of each archetype cluster.
    let clusters = crate::context::read_clusters(root).await?;
    let cluster_of: BTreeMap<u32, u32> = clusters
        .iter()
        .flat_map(|c| c.countries.iter().zip(&c.labels))
        .filter(|(_, &l)| l >= 0)
        .filter_map(|(code, &l)| country_code(code).map(|cc| (cc, l as u32)))
        .collect();
    let by_cluster = match &clusters {
        Some(_) => {
            let t: Vec<(u32, u32, u64)> = triples
                .iter()
                .filter_map(|&(c, t, p)| cluster_of.get(&c).map(|&k| (k, t, p)))
                .collect();
            Some(GroupedPopularity::from_triples(&t).map_err(|x| x.to_string())?)
        }
        None => None,
    };
    drop(triples);

    // This member's held-out users.
    let mut users: BTreeMap<u32, HeldOutUser> = BTreeMap::new();
    for b in tables::read_table_parts(&root.join(USERS), wanted)
        .await
        .map_err(e)?
    {
        let idx = col::<U32Col>(&b, "user_idx").map_err(e)?;
        let id = col::<U32Col>(&b, "user_id").map_err(e)?;
        let country = col::<StrCol>(&b, "country").map_err(e)?;
        let sp = col::<StrCol>(&b, "split").map_err(e)?;
        for i in 0..b.num_rows() {
            if Split::parse(sp.value(i)) != Some(split) {
                continue;
            }
            users.insert(
                idx.value(i),
                HeldOutUser {
                    user_id: id.value(i),
                    country: (!country.is_null(i)).then(|| country.value(i).to_string()),
                    input: Vec::new(),
                    target: Vec::new(),
                    input_plays: Vec::new(),
                },
            );
        }
    }
    for b in tables::read_table_parts(&root.join(HELDOUT), wanted)
        .await
        .map_err(e)?
    {
        let u = col::<U32Col>(&b, "user_idx").map_err(e)?;
        let t = col::<U32Col>(&b, "track_idx").map_err(e)?;
        let inp = col::<U32Col>(&b, "input_plays").map_err(e)?;
        let tgt = col::<U32Col>(&b, "target_plays").map_err(e)?;
        for i in 0..b.num_rows() {
            if let Some(h) = users.get_mut(&u.value(i)) {
                if inp.value(i) > 0 {
                    h.input.push(t.value(i));
                    h.input_plays.push((t.value(i), inp.value(i) as f32));
                }
                if tgt.value(i) > 0 {
                    h.target.push(t.value(i));
                }
            }
        }
    }

    for h in users.values_mut() {
        h.input.sort_unstable();
        h.target.sort_unstable();
        h.target.dedup();
    }
    let exclusions: Vec<Vec<u32>> = users
        .values()
        .map(|h| {
            if cfg.eval.exclude_input {
                h.input.clone()
            } else {
                Vec::new()
            }
        })
        .collect();
    let wmf = wmf_rankings(root, cfg, &users, &exclusions, catalogue, max_k).await?;

    let mut mp_global = ModelResult::new(MP_GLOBAL, ks, catalogue);
    let mut mp_country = ModelResult::new(MP_COUNTRY, ks, catalogue);
    let mut mp_cluster = ModelResult::new(MP_CLUSTER, ks, catalogue);
    let mut wmf_model = ModelResult::new(WMF_ALS, ks, catalogue);
    for (pos, (&user_idx, h)) in users.iter().enumerate() {
        let exclude = &exclusions[pos];
        let g = global.recommend(max_k, exclude);
        let ranker = h
            .country
            .as_deref()
            .and_then(country_code)
            .and_then(|c| by_country.get(c));
        let (c, fell_back) = match ranker {
            Some(r) => (r.recommend(max_k, exclude), false),
            None => (g.clone(), true),
        };
        mp_global.score(user_idx, h, &g, ks, false);
        mp_country.score(user_idx, h, &c, ks, fell_back);
        if let Some(by_cluster) = &by_cluster {
            // A country OPTICS left out of every cluster has no cluster list: MP global,
            // counted as a fallback.
            let ranker = h
                .country
                .as_deref()
                .and_then(country_code)
                .and_then(|c| cluster_of.get(&c))
                .and_then(|&k| by_cluster.get(k));
            match ranker {
                Some(r) => mp_cluster.score(user_idx, h, &r.recommend(max_k, exclude), ks, false),
                None => mp_cluster.score(user_idx, h, &g, ks, true),
            }
        }
        if let Ok(r) = &wmf {
            wmf_model.score(user_idx, h, &r[pos], ks, false);
        }
    }
    if let Err(reason) = wmf {
        wmf_model.unavailable = Some(reason);
    }
    if by_cluster.is_none() {
        mp_cluster.unavailable = Some(
            "needs the country clusters of the archetype phase, which did not run \
             (archetypes.enabled = false or too few countries); not approximated"
                .to_string(),
        );
    }
    Ok(EvalOutcome {
        models: vec![mp_global, mp_country, mp_cluster, wmf_model],
        catalogue,
        users: users.len() as u64,
    })
}

/// WMF-ALS top-`n` lists of every user (in `users` order), each folded in from their input
/// plays against the trained item factors; `Ok(Err(reason))` when the model was not trained.
async fn wmf_rankings(
    root: &StoreUrl,
    cfg: &JobConfig,
    users: &BTreeMap<u32, HeldOutUser>,
    exclusions: &[Vec<u32>],
    catalogue: usize,
    n: usize,
) -> Result<Result<Vec<Vec<u32>>, String>, String> {
    if !cfg.als.enabled {
        return Ok(Err(
            "als.enabled = false: WMF-ALS was not trained".to_string()
        ));
    }
    let model = crate::als::load_model(root).await?;
    if model.items() != catalogue {
        return Err(format!(
            "the WMF-ALS item factors have {} rows, the catalogue {catalogue} tracks",
            model.items()
        ));
    }
    let cells: Vec<Vec<(u32, f32)>> = users.values().map(|h| h.input_plays.clone()).collect();
    let ranked = tokio::task::block_in_place(|| {
        let x = model.fold_in(&cells)?;
        model.recommend(&x, n, exclusions)
    })
    .map_err(|e| format!("WMF-ALS scoring: {e}"))?;
    Ok(Ok(ranked
        .into_iter()
        .map(|r| r.into_iter().map(|(i, _)| i).collect())
        .collect()))
}

impl ModelResult {
    fn new(model: &str, ks: &[usize], catalogue: usize) -> ModelResult {
        ModelResult {
            model: model.to_string(),
            unavailable: None,
            rows: Vec::new(),
            skipped: 0,
            fallback: 0,
            coverage: CoverageAtKs::new(ks, catalogue),
        }
    }

    fn score(
        &mut self,
        user_idx: u32,
        h: &HeldOutUser,
        ranking: &[u32],
        ks: &[usize],
        fell_back: bool,
    ) {
        self.fallback += u64::from(fell_back);
        match user_metrics(ranking, &h.target, ks) {
            Some(metrics) => {
                self.coverage.add(ranking);
                self.rows.push(UserMetricsRow {
                    user_idx,
                    user_id: h.user_id,
                    country: h.country.clone(),
                    metrics,
                });
            }
            None => self.skipped += 1,
        }
    }
}
