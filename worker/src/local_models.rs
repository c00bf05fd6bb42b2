//! Local WMF models: one per archetype cluster or country, trained after the global model over
//! the same timely cluster, stored under `als/local/`, and loaded as an
//! [`archetype_als::LocalModels`] combination for the evaluation and the CLI.
//!
//! Every member derives the same groups, the same training users per group (from the users
//! table) and the same item list per group (tracks with training plays in the group's
//! countries, from the country profiles), so each local model has compact dense indices
//! without any exchange. Each timely worker hands the trainer the group's cells of its own
//! share; worker `w` stores the item rows it owns as `als/local/<group>/part-<w>.parquet`
//! (`idx` = global track index). `als/local/models.json`, written by worker 0 after every model,
//! lists what is complete; a rerun with the same settings skips those models.

use std::collections::BTreeMap;

use archetype_als::local::popularity_weight;
use archetype_als::mailbox::Mailbox;
use archetype_als::{Factors, LocalInput, LocalModels, LocalSet, NoCheckpoints, Params, Shape};
use archetype_archetypes::matrix::SparseRows;
use archetype_job::config::LocalGroups;
use archetype_job::layout::{ALS_LOCAL, ALS_LOCAL_MODELS, TRACKS, USERS};
use archetype_job::{JobConfig, StoreUrl};
use arrow_array::Array;
use serde::{Deserialize, Serialize};
use timely::worker::Worker;
use tokio::runtime::Handle;
use tracing::info;

use crate::als::{factors_batch, read_factors, read_json, write_bytes};
use crate::tables::{self, col, StrCol, U32Col, U64Col};

/// A data set of one local model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub countries: Vec<String>,
}

/// What a rerun must share with the run that stored the models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalSettings {
    pub groups: String,
    pub factors: usize,
    pub iterations: usize,
    pub lambda: f32,
    pub solver: String,
    pub confidence: archetype_als::Confidence,
    pub seed: u64,
    pub min_users: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalModelInfo {
    pub name: String,
    pub countries: Vec<String>,
    pub users: usize,
    pub items: usize,
    pub cells: u64,
    /// The WMF objective after the last iteration.
    pub loss: f64,
    pub seconds: f64,
}

/// `als/local/models.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalState {
    pub settings: LocalSettings,
    pub models: Vec<LocalModelInfo>,
    /// Groups without a model, and why.
    pub skipped: Vec<(String, String)>,
    pub complete: bool,
}

fn settings(cfg: &JobConfig) -> LocalSettings {
    let l = &cfg.als.local;
    let p = crate::als::params(cfg);
    LocalSettings {
        groups: l.groups.name().to_string(),
        factors: l.factors,
        iterations: l.iterations,
        lambda: p.lambda,
        solver: format!("{:?}", p.solver),
        confidence: p.confidence,
        seed: p.seed,
        min_users: l.min_users,
    }
}

/// Directory of one local model below the job root.
pub fn model_dir(name: &str) -> String {
    format!("{ALS_LOCAL}/{name}")
}

/// The groups the config asks for, over the countries with training plays.
pub async fn groups(
    root: &StoreUrl,
    cfg: &JobConfig,
    countries: &[String],
) -> Result<Vec<Group>, String> {
    match cfg.als.local.groups {
        LocalGroups::Country => Ok(countries
            .iter()
            .map(|c| Group {
                name: format!("country-{c}"),
                countries: vec![c.clone()],
            })
            .collect()),
        LocalGroups::Cluster => {
            let clusters = crate::context::read_clusters(root).await?.ok_or_else(|| {
                "local models by cluster need the archetype phase's clusters \
                 (archetypes/clusters.json); enable the archetypes or set \
                 als.local.groups = \"country\""
                    .to_string()
            })?;
            let mut by_label: BTreeMap<i32, Vec<String>> = BTreeMap::new();
            for (c, &l) in clusters.countries.iter().zip(&clusters.labels) {
                if l >= 0 && countries.contains(c) {
                    by_label.entry(l).or_default().push(c.clone());
                }
            }
            Ok(by_label
                .into_iter()
                .map(|(l, mut countries)| {
                    countries.sort();
                    Group {
                        name: format!("cluster-{l}"),
                        countries,
                    }
                })
                .collect())
        }
    }
}

/// The tracks with training plays in the group's countries (ascending) and those plays.
pub fn group_items(
    countries: &[String],
    plays: &SparseRows,
    group: &Group,
) -> (Vec<u32>, Vec<u64>) {
    let mut sum: BTreeMap<u32, f64> = BTreeMap::new();
    for (i, c) in countries.iter().enumerate() {
        if !group.countries.contains(c) {
            continue;
        }
        let (cols, vals) = plays.row(i);
        for (&t, &p) in cols.iter().zip(vals) {
            *sum.entry(t).or_default() += p;
        }
    }
    sum.into_iter().map(|(t, p)| (t, p as u64)).unzip()
}

/// What every member derives alike before training the local models.
pub struct LocalPlan {
    pub groups: Vec<Group>,
    /// Per group: its training users (global ids, ascending) and items.
    pub users: Vec<Vec<u32>>,
    pub items: Vec<Vec<u32>>,
    /// Group of every user (`u32::MAX`: none, or not a training user).
    pub group_of: Vec<u32>,
    pub settings: LocalSettings,
    /// Models a previous run with the same settings completed.
    pub done: Vec<LocalModelInfo>,
    /// That run completed every model: nothing to train.
    pub complete: bool,
}

/// Reads what [`LocalPlan`] needs; `users` is the number of users of the data set.
pub async fn plan(
    root: &StoreUrl,
    cfg: &JobConfig,
    users: usize,
    items: usize,
) -> Result<LocalPlan, String> {
    let (countries, plays) = crate::context::country_train_plays(root, items).await?;
    let groups = groups(root, cfg, &countries).await?;
    let index: BTreeMap<&str, u32> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, grp)| grp.countries.iter().map(move |c| (c.as_str(), g as u32)))
        .collect();
    let mut group_of = vec![u32::MAX; users];
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); groups.len()];
    let e = |x: tables::TableError| x.to_string();
    for b in tables::read_table(&root.join(USERS)).await.map_err(e)? {
        let idx = col::<U32Col>(&b, "user_idx").map_err(e)?;
        let country = col::<StrCol>(&b, "country").map_err(e)?;
        let split = col::<StrCol>(&b, "split").map_err(e)?;
        for i in 0..b.num_rows() {
            if split.value(i) != "train" || country.is_null(i) {
                continue;
            }
            let u = idx.value(i);
            if let Some(&g) = index.get(country.value(i)) {
                let slot = group_of
                    .get_mut(u as usize)
                    .ok_or_else(|| format!("user_idx {u} outside the {users} users"))?;
                *slot = g;
                members[g as usize].push(u);
            }
        }
    }
    for m in &mut members {
        m.sort_unstable();
    }
    let item_lists = groups
        .iter()
        .map(|g| group_items(&countries, &plays, g).0)
        .collect();
    let settings = settings(cfg);
    let previous: Option<LocalState> = read_json(&root.join(ALS_LOCAL_MODELS)).await?;
    let previous = previous.filter(|p| cfg.als.resume && p.settings == settings);
    let complete = previous.as_ref().is_some_and(|p| p.complete);
    let done = previous.map(|p| p.models).unwrap_or_default();
    Ok(LocalPlan {
        groups,
        users: members,
        items: item_lists,
        group_of,
        settings,
        done,
        complete,
    })
}

/// Trains every group's model on this timely worker's share of the training cells (global
/// ids). Every worker calls it with the same plan.
pub fn train_all(
    worker: &mut Worker,
    rt: &Handle,
    root: &StoreUrl,
    cfg: &JobConfig,
    plan: &LocalPlan,
    share: &[(u32, u32, f32)],
    row_group_rows: usize,
) -> Result<LocalState, String> {
    let w = worker.index();
    let mut mb = Mailbox::new(worker);
    let mut by_group: Vec<Vec<(u32, u32, f32)>> = vec![Vec::new(); plan.groups.len()];
    for &(u, i, p) in share {
        if let Some(&g) = plan.group_of.get(u as usize) {
            if g != u32::MAX {
                by_group[g as usize].push((u, i, p));
            }
        }
    }
    let mut params: Params = crate::als::params(cfg);
    params.factors = cfg.als.local.factors;
    params.iterations = cfg.als.local.iterations;
    params.validate_every = 0;
    let mut state = LocalState {
        settings: plan.settings.clone(),
        models: Vec::new(),
        skipped: Vec::new(),
        complete: false,
    };
    for (g, group) in plan.groups.iter().enumerate() {
        if let Some(info) = plan.done.iter().find(|m| m.name == group.name) {
            state.models.push(info.clone());
            continue;
        }
        let (users, items) = (&plan.users[g], &plan.items[g]);
        if users.len() < cfg.als.local.min_users.max(1) {
            state.skipped.push((
                group.name.clone(),
                format!(
                    "{} training users, fewer than als.local.min_users = {}",
                    users.len(),
                    cfg.als.local.min_users
                ),
            ));
            continue;
        }
        let t0 = std::time::Instant::now();
        let mut cells = Vec::with_capacity(by_group[g].len());
        let mut stray = None;
        for &(u, i, p) in &by_group[g] {
            match (users.binary_search(&u), items.binary_search(&i)) {
                (Ok(lu), Ok(li)) => cells.push((lu as u32, li as u32, p)),
                _ => {
                    stray = Some((u, i));
                    break;
                }
            }
        }
        // Every worker must enter the trainer, or none: agree first.
        let failed = mb.all_sum(worker, vec![f64::from(u8::from(stray.is_some()))])[0];
        if let Some((u, i)) = stray {
            return Err(format!(
                "local model {}: cell (user {u}, track {i}) is not in the group's users or \
                 tracks (the country profiles disagree with the interactions)",
                group.name
            ));
        }
        if failed > 0.0 {
            return Err("another worker failed to build its local model cells".to_string());
        }
        let trained = archetype_als::train(
            worker,
            Shape {
                users: users.len(),
                items: items.len(),
            },
            LocalInput {
                train: cells,
                ..LocalInput::default()
            },
            &params,
            None,
            &mut NoCheckpoints,
            // Local models are small (64 factors, one group's users): the CPU solves them.
            None,
        )
        .map_err(|e| format!("local model {}: {e}", group.name))?;
        let global = Factors {
            rows: trained
                .items
                .rows
                .iter()
                .map(|&l| items[l as usize])
                .collect(),
            values: trained.items.values,
        };
        let written = factors_batch(&global, params.factors).and_then(|b| {
            let dest = root.join(&format!("{}/part-{w:05}.parquet", model_dir(&group.name)));
            rt.block_on(tables::write_parquet(&dest, &b, row_group_rows))
                .map_err(|e| e.to_string())
        });
        let failed = mb.all_sum(worker, vec![f64::from(u8::from(written.is_err()))])[0];
        written?;
        if failed > 0.0 {
            return Err("another worker could not store its local model rows".to_string());
        }
        let info = LocalModelInfo {
            name: group.name.clone(),
            countries: group.countries.clone(),
            users: users.len(),
            items: items.len(),
            cells: trained.nnz,
            loss: trained.reports.last().map_or(f64::NAN, |r| r.loss),
            seconds: t0.elapsed().as_secs_f64(),
        };
        if w == 0 {
            info!(
                model = info.name,
                users = info.users,
                items = info.items,
                cells = info.cells,
                seconds = info.seconds,
                "local WMF model trained"
            );
        }
        state.models.push(info);
        commit(rt, root, w, &state)?;
    }
    state.complete = true;
    commit(rt, root, w, &state)?;
    Ok(state)
}

fn commit(rt: &Handle, root: &StoreUrl, w: usize, state: &LocalState) -> Result<(), String> {
    if w != 0 {
        return Ok(());
    }
    let json = serde_json::to_vec_pretty(state).map_err(|e| e.to_string())?;
    rt.block_on(write_bytes(&root.join(ALS_LOCAL_MODELS), json))
}

/// Training plays per track (dense), from the tracks table.
pub async fn train_plays(root: &StoreUrl) -> Result<Vec<u64>, String> {
    let e = |x: tables::TableError| x.to_string();
    let mut plays: Vec<u64> = Vec::new();
    for b in tables::read_table(&root.join(TRACKS)).await.map_err(e)? {
        let idx = col::<U32Col>(&b, "track_idx").map_err(e)?;
        let tp = col::<U64Col>(&b, "train_plays").map_err(e)?;
        for i in 0..b.num_rows() {
            let t = idx.value(i) as usize;
            if t >= plays.len() {
                plays.resize(t + 1, 0);
            }
            plays[t] = tp.value(i);
        }
    }
    Ok(plays)
}

/// The global model as one data set of a combination: every track with training plays,
/// weighted by them.
pub fn global_set(
    model: &archetype_als::WmfModel,
    train_plays: &[u64],
) -> Result<LocalSet, String> {
    let k = model.factors();
    let y = model.item_factors();
    let mut items = Vec::new();
    let mut factors = Vec::new();
    let mut weights = Vec::new();
    for (t, &p) in train_plays.iter().enumerate().take(model.items()) {
        if p > 0 {
            items.push(t as u32);
            factors.extend_from_slice(&y[t * k..(t + 1) * k]);
            weights.push(popularity_weight(p));
        }
    }
    LocalSet::new("global", k, items, &factors, weights).map_err(|e| e.to_string())
}

/// The stored local models of a job, combined; with the global model too when asked.
pub async fn load(
    root: &StoreUrl,
    cfg: &JobConfig,
    global: Option<&archetype_als::WmfModel>,
    catalogue: usize,
) -> Result<LocalModels, String> {
    let url = root.join(ALS_LOCAL_MODELS);
    let state: LocalState = read_json(&url)
        .await?
        .ok_or_else(|| format!("{}: missing; the local models were not trained", url.url))?;
    if !state.complete {
        return Err(format!(
            "{}: training of the local models did not finish",
            url.url
        ));
    }
    let (countries, plays) = crate::context::country_train_plays(root, catalogue).await?;
    let k = state.settings.factors;
    let mut sets = Vec::new();
    for m in &state.models {
        let group = Group {
            name: m.name.clone(),
            countries: m.countries.clone(),
        };
        let (items, item_plays) = group_items(&countries, &plays, &group);
        let f = read_factors(&root.join(&model_dir(&m.name)), k).await?;
        let mut rows: Vec<(u32, &[f32])> = f
            .rows
            .iter()
            .copied()
            .zip(f.values.chunks_exact(k))
            .collect();
        rows.sort_unstable_by_key(|r| r.0);
        let stored: Vec<u32> = rows.iter().map(|r| r.0).collect();
        if stored != items {
            return Err(format!(
                "local model {}: {} item rows stored, the country profiles give {} tracks",
                m.name,
                stored.len(),
                items.len()
            ));
        }
        let factors: Vec<f32> = rows.iter().flat_map(|r| r.1.iter().copied()).collect();
        let weights = item_plays.into_iter().map(popularity_weight).collect();
        sets.push(
            LocalSet::new(m.name.clone(), k, items, &factors, weights)
                .map_err(|e| e.to_string())?,
        );
    }
    if cfg.als.local.include_global {
        let g = global.ok_or("the global WMF-ALS model is missing")?;
        sets.push(global_set(g, &train_plays(root).await?)?);
    }
    LocalModels::new(sets, catalogue, crate::als::confidence(cfg)).map_err(|e| e.to_string())
}
