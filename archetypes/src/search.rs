//! The grid search of the paper's footnote 9: t-SNE perplexity x OPTICS minimum cluster size.
//!
//! The paper optimises an "average neighborhood preservation ratio (nearest neighbor
//! consistency)" without giving its formula. The score here was chosen on planted country
//! structure (`bench/grid_criterion_study.py`, `examples/grid_criterion.rs`, the section
//! "Archetype grid criterion against planted structure" of `bench/README.md`):
//!
//! `score = consensus x max(silhouette, 0)`
//!
//! * `silhouette` ([`silhouette`] on [`cosine_distances`] of the PCA scores): how well each
//!   country sits in its cluster rather than the next one, judged by the direction of its
//!   deviation from the average country, not its length, so that a small country's sampling
//!   noise does not pass for distance; countries in no cluster score 0.
//! * `consensus` ([`consensus`]): the clustering's mean adjusted Rand index with the
//!   clusterings of every other pair of the grid. Structure in the data shows up under many
//!   perplexities and minimum sizes; a clustering that one pair finds by accident (a few tight
//!   groups with most countries left out, say, which can score as well on the silhouette
//!   alone) agrees with few others. The clustering closest to the whole ensemble is Strehl and
//!   Ghosh's (2002) representative of a cluster ensemble.
//!
//! Pairs that find fewer than two clusters are not eligible (one cluster says nothing about
//! archetypes). Ties go to more clusters, then to the better map (its own k-NN preservation,
//! k = `neighbours`), then to the earlier pair in the grid. The minimum cluster size is OPTICS'
//! `min_samples`, with `min_cluster_size` following it as scikit-learn does by default. The old
//! score, [`cluster_preservation`], is still computed and reported per pair.

use std::cmp::Ordering;

use rayon::prelude::*;
use serde::Serialize;

use crate::optics::{optics, OpticsParams, OpticsResult};
use crate::quality::{
    cluster_preservation, consensus, cosine_distances, map_preservation, nearest, silhouette,
    squared_distances,
};
use crate::tsne::{tsne, Embedding, TsneParams};
use crate::ArchetypeError;

#[derive(Clone, Debug)]
pub struct SearchParams {
    pub perplexities: Vec<f64>,
    pub min_cluster_sizes: Vec<usize>,
    pub xi: f64,
    pub neighbours: usize,
    /// Template for every run (its perplexity is replaced).
    pub tsne: TsneParams,
}

impl SearchParams {
    /// The paper's grid (Sec. 3.2): twelve t-SNE perplexities x OPTICS minimum cluster sizes
    /// 2 to 5, with xi 0.05 and 5 neighbours for the map's k-NN preservation (a tie-break).
    pub fn paper() -> SearchParams {
        SearchParams {
            perplexities: vec![
                1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 50.0,
            ],
            min_cluster_sizes: vec![2, 3, 4, 5],
            xi: 0.05,
            neighbours: 5,
            tsne: TsneParams::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GridCell {
    pub perplexity: f64,
    pub min_cluster_size: usize,
    /// The selection score, `consensus x max(silhouette, 0)`; `None` when the pair could not
    /// run (the reason is in `skipped`).
    pub score: Option<f64>,
    /// Mean silhouette on cosine distances in the PCA space (countries in no cluster: 0).
    pub silhouette: Option<f64>,
    /// Mean adjusted Rand index with every other pair's clustering.
    pub consensus: Option<f64>,
    /// The former score: per country, the share of its s - 1 nearest PCA neighbours that are
    /// cluster-mates (s: its cluster's size; countries in no cluster: 0).
    pub cluster_preservation: Option<f64>,
    pub map_preservation: Option<f64>,
    pub clusters: usize,
    pub left_out: usize,
    pub kl_divergence: Option<f64>,
    pub eligible: bool,
    pub skipped: Option<String>,
    /// The pair's cluster of each country (-1: in none); empty when it did not run. Not
    /// serialised: the chosen pair's labels are the phase's output.
    #[serde(skip)]
    pub labels: Vec<i32>,
}

#[derive(Clone, Debug)]
pub struct Clustering {
    pub perplexity: f64,
    pub min_cluster_size: usize,
    pub embedding: Embedding,
    pub optics: OpticsResult,
    pub clusters: usize,
    pub score: f64,
    pub silhouette: f64,
    pub consensus: f64,
    pub map_preservation: f64,
}

#[derive(Clone, Debug)]
pub struct SearchResult {
    pub grid: Vec<GridCell>,
    pub chosen: Clustering,
    /// False when no pair found two clusters and the best of the rest was taken.
    pub eligible: bool,
}

/// Runs every pair on the row-major n x d `points` (the PCA scores) and keeps the best.
pub fn search(
    points: &[f64],
    n: usize,
    d: usize,
    params: &SearchParams,
) -> Result<SearchResult, ArchetypeError> {
    let maps = run_maps(points, n, d, params);
    let (mut grid, runs) = run_grid(points, n, d, &maps, params);
    add_consensus(&mut grid);
    let Some(best) = select(&grid) else {
        let reasons: Vec<String> = grid.iter().filter_map(|c| c.skipped.clone()).collect();
        return Err(ArchetypeError::Input(format!(
            "no grid pair could run on {n} countries: {}",
            reasons.first().cloned().unwrap_or_default()
        )));
    };
    let cell = &grid[best];
    let Some((pi, o)) = runs[best].as_ref() else {
        return Err(ArchetypeError::Numeric(
            "the chosen grid pair has no clustering".into(),
        ));
    };
    let Ok(embedding) = &maps[*pi] else {
        return Err(ArchetypeError::Numeric(
            "the chosen grid pair has no map".into(),
        ));
    };
    Ok(SearchResult {
        chosen: Clustering {
            perplexity: cell.perplexity,
            min_cluster_size: cell.min_cluster_size,
            embedding: embedding.clone(),
            optics: o.clone(),
            clusters: cell.clusters,
            score: cell.score.unwrap_or(0.0),
            silhouette: cell.silhouette.unwrap_or(0.0),
            consensus: cell.consensus.unwrap_or(0.0),
            map_preservation: cell.map_preservation.unwrap_or(0.0),
        },
        eligible: cell.eligible,
        grid,
    })
}

/// One t-SNE per perplexity, in parallel (the costly part); a failed run keeps its reason.
fn run_maps(
    points: &[f64],
    n: usize,
    d: usize,
    params: &SearchParams,
) -> Vec<Result<Embedding, String>> {
    params
        .perplexities
        .par_iter()
        .map(|&p| {
            let t = TsneParams {
                perplexity: p,
                ..params.tsne.clone()
            };
            tsne(points, n, d, &t).map_err(|e| e.to_string())
        })
        .collect()
}

/// A pair's map (index into the perplexities) and OPTICS result; `None` when it did not run.
type Run = Option<(usize, OpticsResult)>;

/// Every OPTICS on its map, in grid order, with the scores of the pair alone (all but the
/// consensus). Beside the cells: each pair's [`Run`].
fn run_grid(
    points: &[f64],
    n: usize,
    d: usize,
    maps: &[Result<Embedding, String>],
    params: &SearchParams,
) -> (Vec<GridCell>, Vec<Run>) {
    let k = params.neighbours.min(n.saturating_sub(1)).max(1);
    let original_sq = squared_distances(points, n, d);
    let original_nn = nearest(&original_sq, n, k);
    let cosine = cosine_distances(points, n, d);
    let mut grid = Vec::new();
    let mut runs = Vec::new();
    for (pi, (&p, map)) in params.perplexities.iter().zip(maps).enumerate() {
        let map_score = map.as_ref().ok().map(|e| {
            let nn = nearest(&squared_distances(&e.coords, n, e.dims), n, k);
            map_preservation(&original_nn, &nn)
        });
        for &m in &params.min_cluster_sizes {
            let (mut cell, run) = run_cell(p, m, map, params.xi);
            if let Some(o) = &run {
                cell.silhouette = Some(silhouette(&cosine, &o.labels));
                cell.cluster_preservation = Some(cluster_preservation(&original_sq, &o.labels));
                cell.map_preservation = map_score;
                cell.labels = o.labels.clone();
            }
            grid.push(cell);
            runs.push(run.map(|o| (pi, o)));
        }
    }
    (grid, runs)
}

/// Each pair that ran gets its consensus with the others and its score,
/// `consensus x max(silhouette, 0)`: a negative silhouette (countries closer to another
/// cluster than to their own) is worth nothing, however many pairs agree on it.
fn add_consensus(grid: &mut [GridCell]) {
    let ran: Vec<usize> = (0..grid.len())
        .filter(|&i| grid[i].silhouette.is_some())
        .collect();
    let labellings: Vec<&[i32]> = ran.iter().map(|&i| grid[i].labels.as_slice()).collect();
    let agreement = consensus(&labellings);
    for (&i, c) in ran.iter().zip(agreement) {
        let cell = &mut grid[i];
        cell.consensus = Some(c);
        cell.score = cell.silhouette.map(|s| c * s.max(0.0));
    }
}

/// One pair: OPTICS on the map (when the map exists); the cell without its scores.
fn run_cell(
    p: f64,
    m: usize,
    map: &Result<Embedding, String>,
    xi: f64,
) -> (GridCell, Option<OpticsResult>) {
    let mut cell = GridCell {
        perplexity: p,
        min_cluster_size: m,
        score: None,
        silhouette: None,
        consensus: None,
        cluster_preservation: None,
        map_preservation: None,
        clusters: 0,
        left_out: 0,
        kl_divergence: None,
        eligible: false,
        skipped: None,
        labels: Vec::new(),
    };
    let emb = match map {
        Ok(e) => e,
        Err(reason) => {
            cell.skipped = Some(format!("t-SNE: {reason}"));
            return (cell, None);
        }
    };
    let params = OpticsParams {
        min_samples: m,
        min_cluster_size: None,
        xi,
        predecessor_correction: true,
    };
    match optics(&emb.coords, emb.n, emb.dims, &params) {
        Ok(o) => {
            cell.clusters = o.labels.iter().copied().max().map_or(0, |x| (x + 1).max(0)) as usize;
            cell.left_out = o.labels.iter().filter(|&&l| l < 0).count();
            cell.kl_divergence = Some(emb.kl_divergence);
            cell.eligible = cell.clusters >= 2;
            (cell, Some(o))
        }
        Err(e) => {
            cell.skipped = Some(format!("OPTICS: {e}"));
            (cell, None)
        }
    }
}

/// Index of the best cell that ran: eligible first, then the higher score, more clusters, the
/// better map, the earlier pair. `None` when no cell ran.
pub fn select(grid: &[GridCell]) -> Option<usize> {
    let key = |c: &GridCell| {
        (
            c.eligible,
            c.score.unwrap_or(f64::NEG_INFINITY),
            c.clusters,
            c.map_preservation.unwrap_or(f64::NEG_INFINITY),
        )
    };
    let better = |a: &GridCell, b: &GridCell| -> Ordering {
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0)
            .then(ka.1.total_cmp(&kb.1))
            .then(ka.2.cmp(&kb.2))
            .then(ka.3.total_cmp(&kb.3))
    };
    let mut best: Option<usize> = None;
    for (i, c) in grid.iter().enumerate() {
        if c.score.is_none() {
            continue;
        }
        // Strictly better only: an exact tie keeps the earlier pair.
        if best.is_none_or(|b| better(c, &grid[b]) == Ordering::Greater) {
            best = Some(i);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(score: Option<f64>, clusters: usize, map: f64) -> GridCell {
        GridCell {
            perplexity: 5.0,
            min_cluster_size: 3,
            score,
            silhouette: score,
            consensus: score.map(|_| 1.0),
            cluster_preservation: None,
            map_preservation: Some(map),
            clusters,
            left_out: 0,
            kl_divergence: None,
            eligible: clusters >= 2,
            skipped: None,
            labels: Vec::new(),
        }
    }

    #[test]
    fn selection_prefers_eligible_then_score_then_clusters_then_map_then_earlier() {
        // An ineligible cell loses to any eligible one, whatever its score.
        let g = [cell(Some(0.9), 1, 0.5), cell(Some(0.1), 2, 0.5)];
        assert_eq!(select(&g), Some(1));
        // Higher score wins.
        let g = [cell(Some(0.2), 3, 0.5), cell(Some(0.3), 2, 0.5)];
        assert_eq!(select(&g), Some(1));
        // Equal scores: more clusters, then the better map, then the earlier pair.
        let g = [cell(Some(0.3), 2, 0.9), cell(Some(0.3), 3, 0.1)];
        assert_eq!(select(&g), Some(1));
        let g = [cell(Some(0.3), 3, 0.1), cell(Some(0.3), 3, 0.9)];
        assert_eq!(select(&g), Some(1));
        let g = [cell(Some(0.3), 3, 0.5), cell(Some(0.3), 3, 0.5)];
        assert_eq!(select(&g), Some(0));
        // Cells that did not run are never chosen; none ran: nothing.
        let g = [cell(None, 0, 0.0), cell(Some(0.0), 1, 0.0)];
        assert_eq!(select(&g), Some(1));
        assert_eq!(select(&[cell(None, 0, 0.0)]), None);
        // With no eligible cell the best of the rest is taken.
        let g = [cell(Some(0.1), 1, 0.0), cell(Some(0.2), 0, 0.0)];
        assert_eq!(select(&g), Some(1));
    }
}
