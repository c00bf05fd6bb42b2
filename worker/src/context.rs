//! Context features of this member's users (the paper's Sec. 3.3): country one-hot (as an
//! index), cluster one-hot (as an index), and the Euclidean distances from the user's
//! normalised track vector to every cluster centroid and every country centroid.
//!
//! The clusters come from the archetype phase, which needs every country at once, so the
//! features are a second pass after it rather than a stage of the aggregation dataflow. The
//! pass needs no exchange: the aggregation left each user's interactions, held-out split and
//! user row in the same part number, so a member reads the parts its own threads wrote and
//! writes one context part per part. Training users are described by all their plays;
//! held-out users by their input plays only, so no target leaks into a feature. Centroids use
//! the training users' plays (the `train_plays` of the country profiles).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use archetype_archetypes::context::Centroids;
use archetype_archetypes::matrix::SparseRows;
use archetype_job::layout::{
    CLUSTERS_JSON, CONTEXT, COUNTRY_PROFILES, HELDOUT, INTERACTIONS, TRACKS, USERS,
};
use archetype_job::{CountryClusters, JobConfig, JobLayout, StoreUrl};
use arrow_array::builder::{Float32Builder, ListBuilder};
use arrow_array::{Array, ArrayRef, Int32Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use object_store::ObjectStoreExt;

use crate::split::Split;
use crate::tables::{self, col, StrCol, U32Col, U64Col};

#[derive(Clone, Debug, Default)]
pub struct ContextOutcome {
    pub users: u64,
    pub held_out_users: u64,
    pub outputs: Vec<String>,
}

/// The centroids every member builds from the same tables.
pub struct ContextModel {
    pub countries: Vec<String>,
    country_index: HashMap<String, i32>,
    /// Cluster of each country in `countries` order (-1: none); empty when no clusters.
    labels: Vec<i32>,
    country_centroids: Centroids,
    cluster_centroids: Option<Centroids>,
    pub clusters: usize,
}

impl ContextModel {
    pub async fn load(root: &StoreUrl) -> Result<ContextModel, String> {
        let e = |x: tables::TableError| x.to_string();
        let clusters = read_clusters(root).await?;
        let mut n_tracks = 0usize;
        for b in tables::read_table(&root.join(TRACKS)).await.map_err(e)? {
            let idx = col::<U32Col>(&b, "track_idx").map_err(e)?;
            for i in 0..b.num_rows() {
                n_tracks = n_tracks.max(idx.value(i) as usize + 1);
            }
        }
        let (countries, plays) = country_train_plays(root, n_tracks).await?;
        // The archetype phase read the same table in the same (code) order; anything else
        // means the clusters belong to other tables.
        if let Some(c) = &clusters {
            if c.countries != countries {
                return Err(format!(
                    "{CLUSTERS_JSON} lists countries {:?}, the country profiles {:?}",
                    c.countries, countries
                ));
            }
        }
        let country_centroids =
            Centroids::from_rows(countries.clone(), &plays).map_err(|x| x.to_string())?;
        let (labels, n_clusters, cluster_centroids) = match &clusters {
            Some(c) if c.clusters > 0 => {
                let rows = Centroids::cluster_rows(&plays, &c.labels, c.clusters)
                    .map_err(|x| x.to_string())?;
                let names = (0..c.clusters).map(|k| k.to_string()).collect();
                let cc = Centroids::from_rows(names, &rows).map_err(|x| x.to_string())?;
                (c.labels.clone(), c.clusters, Some(cc))
            }
            _ => (Vec::new(), 0, None),
        };
        Ok(ContextModel {
            country_index: countries
                .iter()
                .enumerate()
                .map(|(i, c)| (c.clone(), i as i32))
                .collect(),
            countries,
            labels,
            country_centroids,
            cluster_centroids,
            clusters: n_clusters,
        })
    }

    /// (country index, cluster) of a user's country; -1 where there is none.
    pub fn indices(&self, country: Option<&str>) -> (i32, i32) {
        let ci = country
            .and_then(|c| self.country_index.get(c))
            .copied()
            .unwrap_or(-1);
        let cluster = if ci >= 0 {
            self.labels.get(ci as usize).copied().unwrap_or(-1)
        } else {
            -1
        };
        (ci, cluster)
    }
}

/// The countries with training plays, in code order, and their training plays per track
/// (countries x `n_tracks`): the country vectors before normalisation, shared by the archetype
/// phase and the context features.
pub async fn country_train_plays(
    root: &StoreUrl,
    n_tracks: usize,
) -> Result<(Vec<String>, SparseRows), String> {
    let e = |x: tables::TableError| x.to_string();
    let mut by_country: BTreeMap<String, Vec<(u32, u64)>> = BTreeMap::new();
    for b in tables::read_table(&root.join(COUNTRY_PROFILES))
        .await
        .map_err(e)?
    {
        let c = col::<StrCol>(&b, "country").map_err(e)?;
        let t = col::<U32Col>(&b, "track_idx").map_err(e)?;
        let tp = col::<U64Col>(&b, "train_plays").map_err(e)?;
        for i in 0..b.num_rows() {
            if tp.value(i) > 0 {
                by_country
                    .entry(c.value(i).to_string())
                    .or_default()
                    .push((t.value(i), tp.value(i)));
            }
        }
    }
    let countries: Vec<String> = by_country.keys().cloned().collect();
    let mut triples: Vec<(u32, u32, f64)> = Vec::new();
    for (i, list) in by_country.into_values().enumerate() {
        triples.extend(list.into_iter().map(|(t, p)| (i as u32, t, p as f64)));
    }
    let plays = SparseRows::from_triples(countries.len(), n_tracks, &mut triples)
        .map_err(|x| format!("country profiles: {x}"))?;
    Ok((countries, plays))
}

/// The clusters the archetype phase wrote, or `None` when it did not run.
pub async fn read_clusters(root: &StoreUrl) -> Result<Option<CountryClusters>, String> {
    let url = root.join(CLUSTERS_JSON);
    let got = match url.store.get(&url.path).await {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", url.url)),
    };
    let bytes = got
        .bytes()
        .await
        .map_err(|e| format!("reading {}: {e}", url.url))?;
    let c: CountryClusters =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", url.url))?;
    c.validate().map_err(|e| format!("{}: {e}", url.url))?;
    Ok(Some(c))
}

/// Computes and writes the context parts `parts` (the ones this member's threads wrote).
pub async fn compute(
    root: &StoreUrl,
    cfg: &JobConfig,
    parts: std::ops::Range<usize>,
) -> Result<ContextOutcome, String> {
    let model = Arc::new(ContextModel::load(root).await?);
    let layout = JobLayout { root: root.clone() };
    let mut out = ContextOutcome::default();
    for p in parts {
        let e = |x: tables::TableError| x.to_string();
        let only = |i: usize| i == p;
        let users = tables::read_table_parts(&root.join(USERS), only)
            .await
            .map_err(e)?;
        let mut plays: HashMap<u32, Vec<(u32, f64)>> = HashMap::new();
        let mut held_out: HashMap<u32, Vec<(u32, f64)>> = HashMap::new();
        for b in tables::read_table_parts(&root.join(INTERACTIONS), only)
            .await
            .map_err(e)?
        {
            let u = col::<U32Col>(&b, "user_idx").map_err(e)?;
            let t = col::<U32Col>(&b, "track_idx").map_err(e)?;
            let n = col::<U32Col>(&b, "plays").map_err(e)?;
            for i in 0..b.num_rows() {
                plays
                    .entry(u.value(i))
                    .or_default()
                    .push((t.value(i), f64::from(n.value(i))));
            }
        }
        for b in tables::read_table_parts(&root.join(HELDOUT), only)
            .await
            .map_err(e)?
        {
            let u = col::<U32Col>(&b, "user_idx").map_err(e)?;
            let t = col::<U32Col>(&b, "track_idx").map_err(e)?;
            let n = col::<U32Col>(&b, "input_plays").map_err(e)?;
            for i in 0..b.num_rows() {
                if n.value(i) > 0 {
                    held_out
                        .entry(u.value(i))
                        .or_default()
                        .push((t.value(i), f64::from(n.value(i))));
                }
            }
        }
        let m = model.clone();
        let (batch, n_users, n_held) =
            tokio::task::spawn_blocking(move || features_batch(&m, &users, &plays, &held_out))
                .await
                .map_err(|j| format!("context features panicked: {j}"))??;
        let dest = layout.part(CONTEXT, p);
        tables::write_parquet(&dest, &batch, cfg.output.row_group_rows)
            .await
            .map_err(|x| x.to_string())?;
        out.users += n_users;
        out.held_out_users += n_held;
        out.outputs.push(format!("{CONTEXT}/part-{p:05}.parquet"));
    }
    Ok(out)
}

fn features_batch(
    m: &ContextModel,
    users: &[RecordBatch],
    plays: &HashMap<u32, Vec<(u32, f64)>>,
    held_out: &HashMap<u32, Vec<(u32, f64)>>,
) -> Result<(RecordBatch, u64, u64), String> {
    let e = |x: tables::TableError| x.to_string();
    let mut idx_col = Vec::new();
    let mut id_col = Vec::new();
    let mut split_col: Vec<&'static str> = Vec::new();
    let mut country_col = Vec::new();
    let mut cluster_col = Vec::new();
    let mut cluster_d = ListBuilder::new(Float32Builder::new());
    let mut country_d = ListBuilder::new(Float32Builder::new());
    let mut buf = Vec::new();
    let empty: Vec<(u32, f64)> = Vec::new();
    let mut n_held = 0u64;
    for b in users {
        let idx = col::<U32Col>(b, "user_idx").map_err(e)?;
        let id = col::<U32Col>(b, "user_id").map_err(e)?;
        let country = col::<StrCol>(b, "country").map_err(e)?;
        let sp = col::<StrCol>(b, "split").map_err(e)?;
        for i in 0..b.num_rows() {
            let u = idx.value(i);
            let split = Split::parse(sp.value(i))
                .ok_or_else(|| format!("user {u}: unknown split `{}`", sp.value(i)))?;
            let vector = if split == Split::Train {
                plays.get(&u).unwrap_or(&empty)
            } else {
                n_held += 1;
                held_out.get(&u).unwrap_or(&empty)
            };
            let (ci, cluster) = m.indices((!country.is_null(i)).then(|| country.value(i)));
            idx_col.push(u);
            id_col.push(id.value(i));
            split_col.push(split.name());
            country_col.push(ci);
            cluster_col.push(cluster);
            if let Some(cc) = &m.cluster_centroids {
                cc.distances(vector, &mut buf)
                    .map_err(|x| format!("user {u}: {x}"))?;
                cluster_d
                    .values()
                    .append_slice(&buf.iter().map(|&d| d as f32).collect::<Vec<_>>());
            }
            cluster_d.append(true);
            m.country_centroids
                .distances(vector, &mut buf)
                .map_err(|x| format!("user {u}: {x}"))?;
            country_d
                .values()
                .append_slice(&buf.iter().map(|&d| d as f32).collect::<Vec<_>>());
            country_d.append(true);
        }
    }
    let n = idx_col.len() as u64;
    let item = || Arc::new(Field::new("item", DataType::Float32, true));
    let schema = Schema::new(vec![
        Field::new("user_idx", DataType::UInt32, false),
        Field::new("user_id", DataType::UInt32, false),
        Field::new("split", DataType::Utf8, false),
        Field::new("country_index", DataType::Int32, false),
        Field::new("cluster", DataType::Int32, false),
        Field::new("cluster_distances", DataType::List(item()), false),
        Field::new("country_distances", DataType::List(item()), false),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from(idx_col)),
        Arc::new(UInt32Array::from(id_col)),
        Arc::new(StringArray::from(split_col)),
        Arc::new(Int32Array::from(country_col)),
        Arc::new(Int32Array::from(cluster_col)),
        Arc::new(cluster_d.finish()),
        Arc::new(country_d.finish()),
    ];
    let batch =
        RecordBatch::try_new(Arc::new(schema), cols).map_err(|x| format!("context batch: {x}"))?;
    Ok((batch, n, n_held))
}
