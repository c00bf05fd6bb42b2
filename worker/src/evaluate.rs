//! Evaluation of one member's share of the held-out users.
//!
//! The aggregation left, for every timely worker, a users part and a held-out part covering the
//! same users; a member scores the users of the parts its own threads wrote. Popularity comes
//! from the training users only (the `train_plays` columns of the tracks and country profiles
//! tables), so no held-out interaction leaks into a baseline. Each model yields one metric row
//! per user; the coordinator reduces the rows of all members and runs the significance tests.

use std::collections::BTreeMap;

use archetype_als::LocalModels;
use archetype_eval::baselines::{GroupedPopularity, PopularityRanker};
use archetype_eval::breakdown::{head_tail_metrics, head_tracks};
use archetype_eval::cultural::{exclude_same_country, Cultures};
use archetype_eval::metrics::{user_metrics, CoverageAtKs, UserMetrics};
use archetype_eval::targets::is_target;
use archetype_job::config::CrossCulturalConfig;
use archetype_job::{JobConfig, StoreUrl};
use archetype_kernels::cpu::rank::Ranked;
use arrow_array::Array;

use crate::split::Split;
use crate::tables::{self, col, StrCol, U32Col, U64Col};

/// The models evaluated by this phase, in report order.
pub const MP_GLOBAL: &str = "MP global";
pub const MP_COUNTRY: &str = "MP country";
pub const MP_CLUSTER: &str = "MP cluster";
pub const WMF_ALS: &str = "WMF-ALS";
/// WMF-ALS used item to item: a user's input tracks vote for tracks by cosine of the factors.
pub const WMF_ALS_ITEM_COSINE: &str = "WMF-ALS item cosine";

/// One user's metrics under one model.
#[derive(Clone, Debug, PartialEq)]
pub struct UserMetricsRow {
    pub user_idx: u32,
    pub user_id: u32,
    pub country: Option<String>,
    pub metrics: UserMetrics,
    /// The same metrics against the head targets only, and the tail targets only.
    pub head: Option<UserMetrics>,
    pub tail: Option<UserMetrics>,
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
    /// Per K, over users with a country: top-K tracks from another country, and with a known
    /// origin.
    pub foreign: Vec<u64>,
    pub known_origin: Vec<u64>,
}

#[derive(Clone, Debug)]
pub struct EvalOutcome {
    pub models: Vec<ModelResult>,
    /// Tracks in the catalogue (the dense track index range).
    pub catalogue: usize,
    pub users: u64,
    /// Tracks in the head (`eval.head_share` of the training plays).
    pub head_tracks: u64,
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
    use archetype_job::layout::{COUNTRY_PROFILES, HELDOUT, USERS};
    let e = |x: tables::TableError| x.to_string();
    let ks = &cfg.eval.ks;
    let max_k = ks.iter().copied().max().unwrap_or(0);

    // Training popularity over the whole catalogue (every member reads it all: it is small).
    let train_plays = crate::local_models::train_plays(root).await?;
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
                if is_target(inp.value(i), tgt.value(i), cfg.eval.exclude_input) {
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
    let cc = &cfg.eval.cross_cultural;
    let depth = if cc.enabled {
        max_k.max(cc.candidates)
    } else {
        max_k
    };
    let cells: Vec<Vec<(u32, f32)>> = users.values().map(|h| h.input_plays.clone()).collect();
    let factor_models = factor_rankings(
        root,
        cfg,
        &cells,
        &exclusions,
        catalogue,
        depth,
        &train_plays,
    )
    .await?;
    let (names, plays) = crate::context::country_train_plays(root, catalogue).await?;
    let mut culture_plays = Vec::with_capacity(plays.nnz() as usize);
    for c in 0..plays.rows() {
        let (cols, vals) = plays.row(c);
        culture_plays.extend(
            cols.iter()
                .zip(vals)
                .map(|(&t, &p)| (c as u32, t, p as u64)),
        );
    }
    let cultures =
        Cultures::from_plays(names, catalogue, &culture_plays).map_err(|x| x.to_string())?;
    drop(culture_plays);
    let scorer = Scorer {
        ks,
        head: head_tracks(&train_plays, cfg.eval.head_share),
        cultures: &cultures,
    };

    let mut mp_global = ModelResult::new(MP_GLOBAL, ks, catalogue);
    let mut mp_country = ModelResult::new(MP_COUNTRY, ks, catalogue);
    let mut mp_cluster = ModelResult::new(MP_CLUSTER, ks, catalogue);
    let mut factor_results: Vec<ModelResult> = Vec::new();
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
        mp_global.score(&scorer, user_idx, h, &g, false);
        mp_country.score(&scorer, user_idx, h, &c, fell_back);
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
                Some(r) => {
                    mp_cluster.score(&scorer, user_idx, h, &r.recommend(max_k, exclude), false)
                }
                None => mp_cluster.score(&scorer, user_idx, h, &g, true),
            }
        }
    }
    if by_cluster.is_none() {
        mp_cluster.unavailable = Some(
            "needs the country clusters of the archetype phase, which did not run \
             (archetypes.enabled = false or too few countries); not approximated"
                .to_string(),
        );
    }
    let mut models = vec![mp_global, mp_country, mp_cluster];
    for (name, ranked) in factor_models {
        let mut m = ModelResult::new(&name, ks, catalogue);
        match ranked {
            Err(reason) => m.unavailable = Some(reason),
            Ok(lists) => {
                for (pos, (&user_idx, h)) in users.iter().enumerate() {
                    let r: Vec<u32> = lists[pos].iter().take(max_k).map(|x| x.0).collect();
                    m.score(&scorer, user_idx, h, &r, false);
                }
                if name == WMF_ALS && cc.enabled {
                    factor_results.extend(cross_cultural(
                        &scorer, cc, &users, &lists, catalogue, max_k,
                    ));
                }
            }
        }
        models.push(m);
        let base_missing = models
            .last()
            .and_then(|m| m.unavailable.clone())
            .filter(|_| name == WMF_ALS && cc.enabled);
        if let Some(why) = base_missing {
            for n in cross_cultural_names(cc) {
                let mut m = ModelResult::new(&n, ks, catalogue);
                m.unavailable = Some(format!("re-ranks WMF-ALS, which is unavailable: {why}"));
                factor_results.push(m);
            }
        }
    }
    models.extend(vae_results(root, cfg, &users, &scorer, catalogue, max_k).await?);
    models.extend(factor_results);
    Ok(EvalOutcome {
        models,
        catalogue,
        users: users.len() as u64,
        head_tracks: scorer.head.iter().filter(|&&h| h).count() as u64,
    })
}

/// What every model's rows are scored with.
struct Scorer<'a> {
    ks: &'a [usize],
    head: Vec<bool>,
    cultures: &'a Cultures,
}

/// A model's per-user lists (best first, with scores), or why it could not run.
type Lists = Result<Vec<Ranked>, String>;

/// The factor models in report order: WMF-ALS (folded in from each user's input plays), its
/// item-to-item cosine, and the local models (when configured). Lists are `n` deep.
async fn factor_rankings(
    root: &StoreUrl,
    cfg: &JobConfig,
    cells: &[Vec<(u32, f32)>],
    exclusions: &[Vec<u32>],
    catalogue: usize,
    n: usize,
    train_plays: &[u64],
) -> Result<Vec<(String, Lists)>, String> {
    let local_name = format!("{WMF_ALS} local ({})", cfg.als.local.groups.name());
    let mut out: Vec<(String, Lists)> = Vec::new();
    if !cfg.als.enabled {
        let why = "als.enabled = false: WMF-ALS was not trained".to_string();
        out.push((WMF_ALS.to_string(), Err(why.clone())));
        out.push((WMF_ALS_ITEM_COSINE.to_string(), Err(why.clone())));
        if cfg.als.local.enabled {
            out.push((local_name, Err(why)));
        }
        return Ok(out);
    }
    let model = crate::als::load_model(root).await?;
    if model.items() != catalogue {
        return Err(format!(
            "the WMF-ALS item factors have {} rows, the catalogue {catalogue} tracks",
            model.items()
        ));
    }
    let scoring = |e: archetype_als::TrainError| format!("WMF-ALS scoring: {e}");
    let folded = tokio::task::block_in_place(|| {
        let x = model.fold_in(cells)?;
        model.recommend(&x, n, exclusions)
    })
    .map_err(scoring)?;
    out.push((WMF_ALS.to_string(), Ok(folded)));
    let global = crate::local_models::global_set(&model, train_plays)?;
    let cosine = LocalModels::new(vec![global], catalogue, crate::als::confidence(cfg))
        .and_then(|m| tokio::task::block_in_place(|| m.recommend(cells, n, exclusions)))
        .map_err(scoring)?;
    out.push((WMF_ALS_ITEM_COSINE.to_string(), Ok(cosine)));
    if cfg.als.local.enabled {
        let local = crate::local_models::load(root, cfg, Some(&model), catalogue).await?;
        let ranked = tokio::task::block_in_place(|| local.recommend(cells, n, exclusions))
            .map_err(scoring)?;
        out.push((local_name, Ok(ranked)));
    }
    Ok(out)
}

/// The VAE models of the phase, in its order: each scores the users from their input plays
/// (and context features), input tracks excluded.
async fn vae_results(
    root: &StoreUrl,
    cfg: &JobConfig,
    users: &BTreeMap<u32, HeldOutUser>,
    scorer: &Scorer<'_>,
    catalogue: usize,
    k: usize,
) -> Result<Vec<ModelResult>, String> {
    let keys = crate::vae::models(&cfg.vae);
    if !cfg.vae.enabled {
        return Ok(keys
            .iter()
            .map(|key| {
                let mut m = ModelResult::new(&key.name, scorer.ks, catalogue);
                m.unavailable = Some("vae.enabled = false: the VAE was not trained".into());
                m
            })
            .collect());
    }
    let (loaded, skipped) = crate::vae::load_models(root).await?;
    let context = crate::vae::read_context(root).await?;
    let idx: Vec<u32> = users.keys().copied().collect();
    let input =
        archetype_vae::UserRows::new(catalogue, users.values().map(|h| h.input_plays.clone()))
            .map_err(|e| e.to_string())?;
    let exclude = cfg.eval.exclude_input;
    // Off the runtime's threads: scoring saturates every core, and the heartbeat must go on.
    let lists: Vec<(String, Vec<Vec<u32>>)> = tokio::task::spawn_blocking(move || {
        loaded
            .iter()
            .map(|v| {
                let lists = v.recommend(&input, &idx, &context, k, exclude)?;
                Ok((v.key.id.clone(), lists))
            })
            .collect::<Result<Vec<_>, String>>()
    })
    .await
    .map_err(|j| format!("VAE scoring panicked: {j}"))??;
    let mut out = Vec::new();
    for key in &keys {
        let mut m = ModelResult::new(&key.name, scorer.ks, catalogue);
        if let Some(s) = skipped.iter().find(|s| s.key.id == key.id) {
            m.unavailable = Some(s.reason.clone());
        } else if let Some((_, lists)) = lists.iter().find(|l| l.0 == key.id) {
            for ((&user_idx, h), r) in users.iter().zip(lists) {
                m.score(scorer, user_idx, h, r, false);
            }
        } else {
            m.unavailable = Some("not in vae/models.json: trained with other settings".into());
        }
        out.push(m);
    }
    Ok(out)
}

fn strength_name(s: f64) -> String {
    format!("{WMF_ALS} cross-cultural s={s}")
}

const NO_SAME_COUNTRY: &str = "WMF-ALS without own country";

fn cross_cultural_names(cc: &CrossCulturalConfig) -> Vec<String> {
    let mut v: Vec<String> = cc.strengths.iter().map(|&s| strength_name(s)).collect();
    if cc.exclude_same_country {
        v.push(NO_SAME_COUNTRY.to_string());
    }
    v
}

/// WMF-ALS lists re-ranked away from each user's own culture, one model per strength, and the
/// hard exclusion of the user's own country.
fn cross_cultural(
    scorer: &Scorer,
    cc: &CrossCulturalConfig,
    users: &BTreeMap<u32, HeldOutUser>,
    lists: &[Ranked],
    catalogue: usize,
    k: usize,
) -> Vec<ModelResult> {
    let countries: Vec<Option<u32>> = users
        .values()
        .map(|h| {
            h.country
                .as_deref()
                .and_then(|c| scorer.cultures.country_index(c))
        })
        .collect();
    let mut out = Vec::new();
    for &strength in &cc.strengths {
        let mut m = ModelResult::new(&strength_name(strength), scorer.ks, catalogue);
        for (pos, (&user_idx, h)) in users.iter().enumerate() {
            let candidates = &lists[pos][..lists[pos].len().min(cc.candidates)];
            let r = scorer
                .cultures
                .rerank(candidates, countries[pos], strength, k);
            m.score(scorer, user_idx, h, &r, false);
        }
        out.push(m);
    }
    if cc.exclude_same_country {
        let mut m = ModelResult::new(NO_SAME_COUNTRY, scorer.ks, catalogue);
        for (pos, (&user_idx, h)) in users.iter().enumerate() {
            let candidates = &lists[pos][..lists[pos].len().min(cc.candidates)];
            let r = exclude_same_country(scorer.cultures, candidates, countries[pos], k);
            m.score(scorer, user_idx, h, &r, false);
        }
        out.push(m);
    }
    out
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
            foreign: vec![0; ks.len()],
            known_origin: vec![0; ks.len()],
        }
    }

    fn score(
        &mut self,
        scorer: &Scorer,
        user_idx: u32,
        h: &HeldOutUser,
        ranking: &[u32],
        fell_back: bool,
    ) {
        let ks = scorer.ks;
        self.fallback += u64::from(fell_back);
        if let Some(c) = h
            .country
            .as_deref()
            .and_then(|c| scorer.cultures.country_index(c))
        {
            for (i, &k) in ks.iter().enumerate() {
                let (f, n) = scorer.cultures.foreign(ranking, c, k);
                self.foreign[i] += f;
                self.known_origin[i] += n;
            }
        }
        match user_metrics(ranking, &h.target, ks) {
            Some(metrics) => {
                self.coverage.add(ranking);
                let (head, tail) = head_tail_metrics(ranking, &h.target, &scorer.head, ks);
                self.rows.push(UserMetricsRow {
                    user_idx,
                    user_id: h.user_id,
                    country: h.country.clone(),
                    metrics,
                    head,
                    tail,
                });
            }
            None => self.skipped += 1,
        }
    }
}
