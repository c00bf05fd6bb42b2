//! The country-archetype phase, run by one member after the aggregation: reads the country
//! profiles, tracks and users tables, runs [`archetype_archetypes::run`] (PCA, t-SNE x OPTICS
//! grid search, archetype tables) and writes what it found:
//!
//! * `archetypes/clusters.json`: the countries' clusters, what the context and evaluation
//!   phases read;
//! * `archetypes/archetypes.json`: everything (map coordinates, OPTICS order, PCA variance,
//!   the grid, dominating tracks, top tracks with names and tags, demographics);
//! * `archetypes/clusters.csv` (the paper's Table 1), `archetypes/top_tracks.csv` (Table 2),
//!   `archetypes/grid.csv`;
//! * `report/archetypes.md` and `report/figures/{tsne_map,reachability,demographics}.{png,svg}`;
//! * `aggregate/context/vocabulary.json`: the meaning of the context feature columns.
//!
//! Country vectors use the training users' plays only, so the clusters (and the MP-cluster
//! baseline and context features built on them) carry nothing of a held-out user's targets.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Instant;

use archetype_archetypes::pca::{PcaParams, Solver};
use archetype_archetypes::search::SearchParams;
use archetype_archetypes::tables::UserProfile;
use archetype_archetypes::tsne::{TsneInit, TsneParams};
use archetype_archetypes::{Inputs, Outcome, Params};
use archetype_job::layout::{
    ARCHETYPES_JSON, CLUSTERS_CSV, CLUSTERS_JSON, CONTEXT_VOCABULARY, FIGURES, GRID_CSV,
    REPORT_ARCHETYPES_MD, TOP_TRACKS_CSV, TRACKS, USERS,
};
use archetype_job::{open_url, ArchetypeSummary, CountryClusters, JobConfig, PcaSolver, StoreUrl};
use arrow_array::Array;
use object_store::ObjectStoreExt;
use serde::Serialize;

use crate::tables::{self, col, StrCol, U16Col, U32Col, U64Col};

struct TrackMeta {
    track_id: u32,
    name: Option<String>,
    artist: Option<String>,
}

/// Runs the phase on a finished aggregation under `root`.
pub async fn run_phase(root: &StoreUrl, cfg: &JobConfig) -> Result<ArchetypeSummary, String> {
    let t0 = Instant::now();
    let e = |x: tables::TableError| x.to_string();
    // Tracks: IDF counts (training plays) and names.
    let mut track_plays: Vec<u64> = Vec::new();
    let mut meta: HashMap<u32, TrackMeta> = HashMap::new();
    for b in tables::read_table(&root.join(TRACKS)).await.map_err(e)? {
        let idx = col::<U32Col>(&b, "track_idx").map_err(e)?;
        let id = col::<U32Col>(&b, "track_id").map_err(e)?;
        let tp = col::<U64Col>(&b, "train_plays").map_err(e)?;
        let name = col::<StrCol>(&b, "name").map_err(e)?;
        let artist = col::<StrCol>(&b, "artist_name").map_err(e)?;
        for i in 0..b.num_rows() {
            let t = idx.value(i) as usize;
            if t >= track_plays.len() {
                track_plays.resize(t + 1, 0);
            }
            track_plays[t] = tp.value(i);
            meta.insert(
                idx.value(i),
                TrackMeta {
                    track_id: id.value(i),
                    name: (!name.is_null(i)).then(|| name.value(i).to_string()),
                    artist: (!artist.is_null(i)).then(|| artist.value(i).to_string()),
                },
            );
        }
    }
    let (countries, plays) = crate::context::country_train_plays(root, track_plays.len()).await?;
    let row_of: HashMap<&str, usize> = countries
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    // Users, for the demographics.
    let mut users = Vec::new();
    for b in tables::read_table(&root.join(USERS)).await.map_err(e)? {
        let country = col::<StrCol>(&b, "country").map_err(e)?;
        let age = col::<U16Col>(&b, "age").map_err(e)?;
        let gender = col::<StrCol>(&b, "gender").map_err(e)?;
        let p = col::<U64Col>(&b, "plays").map_err(e)?;
        for i in 0..b.num_rows() {
            users.push(UserProfile {
                country_row: (!country.is_null(i))
                    .then(|| row_of.get(country.value(i)).copied())
                    .flatten(),
                age: (!age.is_null(i)).then(|| age.value(i)),
                gender: gender.value(i).to_string(),
                plays: p.value(i),
            });
        }
    }
    let a = &cfg.archetypes;
    let params = Params {
        pca: PcaParams {
            components: a.components,
            solver: match a.pca_solver {
                PcaSolver::Auto => Solver::Auto,
                PcaSolver::Exact => Solver::Exact,
                PcaSolver::Randomized => Solver::Randomized,
            },
            seed: a.seed,
            ..PcaParams::default()
        },
        search: SearchParams {
            perplexities: if a.grid {
                a.perplexities.clone()
            } else {
                vec![a.perplexity]
            },
            min_cluster_sizes: if a.grid {
                a.min_cluster_sizes.clone()
            } else {
                vec![a.min_samples]
            },
            xi: a.xi,
            neighbours: a.neighbours,
            tsne: TsneParams {
                max_iter: a.tsne_iterations,
                init: TsneInit::Pca,
                seed: a.seed,
                ..TsneParams::default()
            },
        },
        idf_threshold: a.idf_threshold,
        top_tracks: a.top_tracks,
    };
    let inputs = Inputs {
        countries,
        plays,
        track_plays,
        users,
    };
    let outcome = tokio::task::spawn_blocking(move || {
        archetype_archetypes::run(&inputs, &params).map(|o| (o, inputs))
    })
    .await
    .map_err(|j| format!("archetype phase panicked: {j}"))?
    .map_err(|x| format!("archetype phase: {x}"))?;
    let (outcome, inputs) = outcome;
    let tags = match &cfg.input.tags {
        Some(url) => {
            let wanted: HashSet<u32> = outcome
                .top_tracks
                .iter()
                .flat_map(|c| c.tracks.iter())
                .chain(outcome.dominating.iter())
                .filter_map(|t| meta.get(&t.track_idx).map(|m| m.track_id))
                .collect();
            read_tags(url, &wanted).await?
        }
        None => HashMap::new(),
    };
    let outputs = write_outputs(root, cfg, &outcome, &inputs, &meta, &tags).await?;
    // The planted truth is an aid for generated data, never a reason to fail the phase.
    let planted =
        crate::ground_truth::compare(&cfg.input.users, &outcome.countries, &outcome.labels)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "ground truth unreadable: clusters not compared");
                None
            });
    let chosen = &outcome.search.chosen;
    Ok(ArchetypeSummary {
        countries: outcome.countries.len(),
        clusters: outcome.clusters,
        left_out: outcome.labels.iter().filter(|&&l| l < 0).count(),
        perplexity: chosen.perplexity,
        min_cluster_size: chosen.min_cluster_size,
        score: chosen.score,
        map_preservation: chosen.map_preservation,
        eligible: outcome.search.eligible,
        pca_solver: outcome.pca.solver.to_string(),
        pca_components: outcome.pca.components,
        variance_kept: outcome.pca.variance_kept(),
        dominating_tracks: outcome.dominating.len(),
        seconds: t0.elapsed().as_secs_f64(),
        outputs,
        planted,
    })
}

/// Genre tags of the tracks in `wanted` (original track ids). Format: tab-separated
/// `track_id` then tags; `#` comments, blank lines and a `track_id` header are skipped. A line
/// whose first field is not a track id is an error naming the file, line and field.
async fn read_tags(url: &str, wanted: &HashSet<u32>) -> Result<HashMap<u32, Vec<String>>, String> {
    let src = open_url(url).map_err(|e| e.to_string())?;
    let bytes = src
        .store
        .get(&src.path)
        .await
        .map_err(|e| format!("tags file {}: {e}", src.url))?
        .bytes()
        .await
        .map_err(|e| format!("tags file {}: {e}", src.url))?;
    parse_tags(&bytes, &src.url, wanted)
}

pub fn parse_tags(
    bytes: &[u8],
    file: &str,
    wanted: &HashSet<u32>,
) -> Result<HashMap<u32, Vec<String>>, String> {
    let mut out: HashMap<u32, Vec<String>> = HashMap::new();
    for (n, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = n + 1;
        let line = std::str::from_utf8(raw)
            .map_err(|_| format!("{file}:{line_no}: not UTF-8"))?
            .trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split('\t');
        let first = fields.next().unwrap_or("").trim();
        if line_no == 1 && first.eq_ignore_ascii_case("track_id") {
            continue;
        }
        let id: u32 = first.parse().map_err(|_| {
            format!("{file}:{line_no}: field `track_id` is `{first}`, not a track id")
        })?;
        if !wanted.contains(&id) {
            continue;
        }
        let tags = out.entry(id).or_default();
        for t in fields.map(str::trim).filter(|t| !t.is_empty()) {
            if !tags.iter().any(|x| x == t) {
                tags.push(t.to_string());
            }
        }
    }
    Ok(out)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[derive(Serialize)]
struct CountryOut<'a> {
    country: &'a str,
    cluster: i32,
    x: f64,
    y: f64,
    /// Position in the OPTICS ordering.
    order: usize,
    reachability: Option<f64>,
    core_distance: Option<f64>,
}

#[derive(Serialize)]
struct TrackOut<'a> {
    rank: usize,
    track_idx: u32,
    track_id: Option<u32>,
    name: Option<&'a str>,
    artist: Option<&'a str>,
    plays: u64,
    idf: f64,
    tags: &'a [String],
}

#[derive(Serialize)]
struct ArchetypeOut<'a> {
    cluster: i32,
    countries: Vec<&'a str>,
    top_tracks: Vec<TrackOut<'a>>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

async fn write_outputs(
    root: &StoreUrl,
    cfg: &JobConfig,
    o: &Outcome,
    inputs: &Inputs,
    meta: &HashMap<u32, TrackMeta>,
    tags: &HashMap<u32, Vec<String>>,
) -> Result<Vec<String>, String> {
    let put = |name: String, bytes: Vec<u8>| {
        let dest = root.join(&name);
        async move {
            dest.store
                .put(&dest.path, bytes.into())
                .await
                .map_err(|e| format!("writing {}: {e}", dest.url))?;
            Ok::<String, String>(name)
        }
    };
    let chosen = &o.search.chosen;
    let emb = &chosen.embedding;
    let mut order_of = vec![0usize; o.countries.len()];
    for (pos, &i) in chosen.optics.ordering.iter().enumerate() {
        if let Some(slot) = order_of.get_mut(i) {
            *slot = pos;
        }
    }
    let no_tags: Vec<String> = Vec::new();
    let track_out = |rank: usize, t: &archetype_archetypes::tables::ScoredTrack| {
        let m = meta.get(&t.track_idx);
        TrackOut {
            rank,
            track_idx: t.track_idx,
            track_id: m.map(|m| m.track_id),
            name: m.and_then(|m| m.name.as_deref()),
            artist: m.and_then(|m| m.artist.as_deref()),
            plays: t.plays,
            idf: t.idf,
            tags: m.and_then(|m| tags.get(&m.track_id)).unwrap_or(&no_tags),
        }
    };
    let members = |k: i32| -> Vec<&str> {
        o.countries
            .iter()
            .zip(&o.labels)
            .filter(|(_, &l)| l == k)
            .map(|(c, _)| c.as_str())
            .collect()
    };
    let archetypes: Vec<ArchetypeOut> = o
        .top_tracks
        .iter()
        .map(|c| ArchetypeOut {
            cluster: c.cluster,
            countries: members(c.cluster),
            top_tracks: c
                .tracks
                .iter()
                .enumerate()
                .map(|(r, t)| track_out(r + 1, t))
                .collect(),
        })
        .collect();
    let countries: Vec<CountryOut> = o
        .countries
        .iter()
        .enumerate()
        .map(|(i, c)| CountryOut {
            country: c,
            cluster: o.labels[i],
            x: emb.coords[i * emb.dims],
            y: emb.coords.get(i * emb.dims + 1).copied().unwrap_or(0.0),
            order: order_of[i],
            reachability: finite(chosen.optics.reachability[i]),
            core_distance: finite(chosen.optics.core_distances[i]),
        })
        .collect();
    let dominating: Vec<TrackOut> = o
        .dominating
        .iter()
        .enumerate()
        .map(|(r, t)| track_out(r + 1, t))
        .collect();
    let json = serde_json::json!({
        "countries": countries,
        "clusters": o.clusters,
        "chosen": {
            "perplexity": chosen.perplexity,
            "min_cluster_size": chosen.min_cluster_size,
            "score": chosen.score,
            "silhouette": chosen.silhouette,
            "consensus": chosen.consensus,
            "map_preservation": chosen.map_preservation,
            "kl_divergence": emb.kl_divergence,
            "tsne_iterations": emb.iterations,
            "eligible": o.search.eligible,
        },
        "score": "consensus x max(silhouette, 0): silhouette = mean silhouette of the clustering on cosine distances between the PCA scores (countries in no cluster score 0); consensus = mean adjusted Rand index with every other pair's clustering; pairs with fewer than 2 clusters are not eligible; ties go to more clusters, then to map_preservation (k-NN preservation of the t-SNE map, k = neighbours), then to the earlier pair",
        "neighbours": cfg.archetypes.neighbours,
        "xi": cfg.archetypes.xi,
        "pca": {
            "solver": o.pca.solver,
            "components": o.pca.components,
            "variance_kept": o.pca.variance_kept(),
            "variance_kept_at_50": o.pca.variance_kept_at(50),
            "explained_variance": o.pca.explained_variance,
            "total_variance": o.pca.total_variance,
        },
        "grid": o.search.grid,
        "idf_threshold": cfg.archetypes.idf_threshold,
        "dominating_tracks": dominating,
        "archetypes": archetypes,
        "demographics": o.demographics,
        "country_vectors": "training users' plays per kept track, each country normalised to sum 1",
        "catalogue_tracks": inputs.track_plays.len(),
        "timings": o.timings,
    });
    let mut written = Vec::new();
    let clusters = CountryClusters {
        countries: o.countries.clone(),
        labels: o.labels.clone(),
        clusters: o.clusters,
        perplexity: chosen.perplexity,
        min_cluster_size: chosen.min_cluster_size,
    };
    written.push(put(CLUSTERS_JSON.into(), pretty(&clusters)).await?);
    written.push(put(ARCHETYPES_JSON.into(), pretty(&json)).await?);

    // Table 1.
    let mut t1 = String::from("cluster,countries\n");
    for k in (0..o.clusters as i32).chain([-1]) {
        let m = members(k);
        if !m.is_empty() {
            let _ = writeln!(t1, "{k},{}", csv_field(&m.join(", ")));
        }
    }
    written.push(put(CLUSTERS_CSV.into(), t1.into_bytes()).await?);
    // Table 2.
    let mut t2 = String::from("cluster,rank,track_id,artist,track,plays,idf,tags\n");
    for a in &archetypes {
        for t in &a.top_tracks {
            let _ = writeln!(
                t2,
                "{},{},{},{},{},{},{:.4},{}",
                a.cluster,
                t.rank,
                t.track_id.map(|x| x.to_string()).unwrap_or_default(),
                csv_field(t.artist.unwrap_or("")),
                csv_field(t.name.unwrap_or("")),
                t.plays,
                t.idf,
                csv_field(&t.tags.join("; "))
            );
        }
    }
    written.push(put(TOP_TRACKS_CSV.into(), t2.into_bytes()).await?);
    // score = consensus x max(silhouette, 0), the selection score; cluster_preservation is
    // the former score, kept for comparison.
    let mut g = String::from(
        "perplexity,min_cluster_size,score,silhouette,consensus,cluster_preservation,map_preservation,clusters,left_out,kl_divergence,eligible,skipped\n",
    );
    for c in &o.search.grid {
        let f = |x: Option<f64>| x.map(|v| format!("{v:.6}")).unwrap_or_default();
        let _ = writeln!(
            g,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            c.perplexity,
            c.min_cluster_size,
            f(c.score),
            f(c.silhouette),
            f(c.consensus),
            f(c.cluster_preservation),
            f(c.map_preservation),
            c.clusters,
            c.left_out,
            f(c.kl_divergence),
            c.eligible,
            csv_field(c.skipped.as_deref().unwrap_or(""))
        );
    }
    written.push(put(GRID_CSV.into(), g.into_bytes()).await?);

    let vocab = serde_json::json!({
        "countries": o.countries,
        "clusters": (0..o.clusters).collect::<Vec<_>>(),
        "columns": {
            "country_index": "index into `countries` (the country one-hot's hot position); -1: none",
            "cluster": "index into `clusters` (the cluster one-hot's hot position); -1: the country is in no cluster",
            "cluster_distances": "Euclidean distance from the user's normalised track vector to each cluster centroid, in `clusters` order",
            "country_distances": "the same to each country centroid, in `countries` order",
        },
        "user_vector": "training users: all their plays; held-out users: their input plays only",
        "centroids": "training users' plays of the centroid's countries per track, divided by their total",
    });
    written.push(put(CONTEXT_VOCABULARY.into(), pretty(&vocab)).await?);

    // Figures.
    let map_points: Vec<archetype_plots::MapPoint> = countries
        .iter()
        .map(|c| archetype_plots::MapPoint {
            x: c.x,
            y: c.y,
            label: c.country.to_string(),
            cluster: c.cluster,
        })
        .collect();
    let bars: Vec<archetype_plots::ReachBar> = chosen
        .optics
        .ordering
        .iter()
        .map(|&i| archetype_plots::ReachBar {
            label: o.countries[i].clone(),
            reachability: chosen.optics.reachability[i],
            cluster: o.labels[i],
        })
        .collect();
    let demo: Vec<archetype_plots::ClusterDemographics> = o
        .demographics
        .iter()
        .map(|d| archetype_plots::ClusterDemographics {
            cluster: d.cluster,
            users: d.users,
            ages: d.ages.clone(),
            female: d.female,
            male: d.male,
            other: d.other,
            mean_plays: d.mean_plays,
        })
        .collect();
    let title = format!(
        "t-SNE (perplexity {}) and OPTICS (minimum cluster size {}) on {} countries",
        chosen.perplexity,
        chosen.min_cluster_size,
        o.countries.len()
    );
    let figures = tokio::task::spawn_blocking(move || {
        let map = archetype_plots::tsne_map(&title, &map_points).map_err(|e| e.to_string())?;
        let reach = archetype_plots::reachability_plot("OPTICS reachability", &bars)
            .map_err(|e| e.to_string())?;
        let demo = archetype_plots::demographics_plot("Users per cluster", &demo)
            .map_err(|e| e.to_string())?;
        Ok::<_, String>([
            ("tsne_map", map),
            ("reachability", reach),
            ("demographics", demo),
        ])
    })
    .await
    .map_err(|j| format!("drawing figures panicked: {j}"))??;
    for (name, fig) in figures {
        written.push(put(format!("{FIGURES}/{name}.png"), fig.png).await?);
        written.push(put(format!("{FIGURES}/{name}.svg"), fig.svg.into_bytes()).await?);
    }
    let md = markdown(cfg, o, &archetypes, &dominating);
    written.push(put(REPORT_ARCHETYPES_MD.into(), md.into_bytes()).await?);
    Ok(written)
}

fn pretty<T: Serialize>(v: &T) -> Vec<u8> {
    // Plain data with string keys: serialising cannot fail.
    serde_json::to_vec_pretty(v).unwrap_or_default()
}

fn markdown(
    cfg: &JobConfig,
    o: &Outcome,
    archetypes: &[ArchetypeOut],
    dominating: &[TrackOut],
) -> String {
    let chosen = &o.search.chosen;
    let mut s = String::new();
    let _ = writeln!(s, "# Country archetypes ({})\n", cfg.name);
    let _ = writeln!(
        s,
        "{} countries; country vectors from the training users' plays, normalised to sum 1.\n",
        o.countries.len()
    );
    let _ = writeln!(
        s,
        "- PCA ({}): {} components keep {:.1}% of the variance (50 keep {:.1}%).",
        o.pca.solver,
        o.pca.components,
        100.0 * o.pca.variance_kept(),
        100.0 * o.pca.variance_kept_at(50)
    );
    let _ = writeln!(
        s,
        "- Chosen: t-SNE perplexity {}, OPTICS minimum cluster size {} (xi {}): {} clusters, {} countries in none; score {:.4}, map preservation {:.4}{}.",
        chosen.perplexity,
        chosen.min_cluster_size,
        cfg.archetypes.xi,
        o.clusters,
        o.labels.iter().filter(|&&l| l < 0).count(),
        chosen.score,
        chosen.map_preservation,
        if o.search.eligible { "" } else { " (no pair found two clusters)" }
    );
    let _ = writeln!(
        s,
        "- Score (neighbourhood preservation): per country in a cluster of size s, the share of its s - 1 nearest neighbours in the PCA space that are its cluster-mates; countries in no cluster score 0; the mean over all countries. Map preservation: the share of each country's {} nearest neighbours kept on the t-SNE map.\n",
        cfg.archetypes.neighbours
    );
    let _ = writeln!(
        s,
        "## Clusters (Table 1)\n\n| Cluster | Countries |\n|---:|---|"
    );
    for k in (0..o.clusters as i32).chain([-1]) {
        let m: Vec<&str> = o
            .countries
            .iter()
            .zip(&o.labels)
            .filter(|(_, &l)| l == k)
            .map(|(c, _)| c.as_str())
            .collect();
        if !m.is_empty() {
            let _ = writeln!(s, "| {k} | {} |", m.join(", "));
        }
    }
    let _ = writeln!(
        s,
        "\n## Dominating tracks (IDF below {})\n\n{} tracks removed from the archetypes.\n",
        cfg.archetypes.idf_threshold,
        dominating.len()
    );
    if !dominating.is_empty() {
        let _ = writeln!(
            s,
            "| # | Artist | Track | Plays | IDF |\n|---:|---|---|---:|---:|"
        );
        for t in dominating.iter().take(50) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.3} |",
                t.rank,
                t.artist.unwrap_or("?"),
                t.name.unwrap_or("?"),
                t.plays,
                t.idf
            );
        }
    }
    let _ = writeln!(s, "\n## Archetypes (Table 2)\n");
    for a in archetypes {
        let _ = writeln!(
            s,
            "### Cluster {} ({})\n\n| # | Artist | Track | Plays | Tags |\n|---:|---|---|---:|---|",
            a.cluster,
            a.countries.join(", ")
        );
        for t in &a.top_tracks {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                t.rank,
                t.artist.unwrap_or("?"),
                t.name
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("track {}", t.track_id.unwrap_or(t.track_idx))),
                t.plays,
                t.tags.join(", ")
            );
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "## Demographics\n\n| Cluster | Users | Age Q1 / median / Q3 | Female | Male | Other | Mean plays |\n|---:|---:|---|---:|---:|---:|---:|"
    );
    for d in &o.demographics {
        let q = d
            .age_quartiles
            .map(|q| format!("{:.0} / {:.0} / {:.0}", q[0], q[1], q[2]))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {:.1} |",
            d.cluster, d.users, q, d.female, d.male, d.other, d.mean_plays
        );
    }
    let _ = writeln!(
        s,
        "\n## Grid search\n\n| Perplexity | Min. cluster size | Score | Map preservation | Clusters | Left out |\n|---:|---:|---:|---:|---:|---:|"
    );
    for c in &o.search.grid {
        let f = |x: Option<f64>| x.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            c.perplexity,
            c.min_cluster_size,
            f(c.score),
            f(c.map_preservation),
            c.clusters,
            c.left_out
        );
    }
    let _ = writeln!(
        s,
        "\n## Figures\n\n![t-SNE map](figures/tsne_map.png)\n\n![OPTICS reachability](figures/reachability.png)\n\n![Demographics](figures/demographics.png)"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_keep_wanted_tracks_and_name_bad_lines() {
        let wanted: HashSet<u32> = [1, 2].into_iter().collect();
        let text = b"track_id\ttag\n# comment\n1\trock\tindie\n3\tpop\n1\trock\tgarage\n\n2\t\n";
        let t = parse_tags(text, "tags.tsv", &wanted).unwrap();
        assert_eq!(t[&1], vec!["rock", "indie", "garage"]);
        assert!(t[&2].is_empty());
        assert!(!t.contains_key(&3));
        let e = parse_tags(b"1\trock\nabc\tpop\n", "tags.tsv", &wanted).unwrap_err();
        assert!(e.contains("tags.tsv:2") && e.contains("track_id"), "{e}");
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
