//! The grid search of the paper's footnote 9: t-SNE perplexity x OPTICS minimum cluster size,
//! scored by neighbourhood preservation.
//!
//! The paper names the criterion ("average neighborhood preservation ratio (nearest neighbor
//! consistency)") but not its formula, and a score of the map alone cannot choose a minimum
//! cluster size. The score here is [`quality::cluster_preservation`]: per country in a cluster
//! of size s, the share of its s - 1 nearest neighbours in the PCA space that are its
//! cluster-mates; countries left out count 0. Pairs that find fewer than two clusters are not
//! eligible (one cluster says nothing about archetypes). Ties go to more clusters (the finer
//! partition that preserves neighbourhoods as well), then to the better map (its own k-NN
//! preservation, k = `neighbours`), then to the earlier pair in the grid. The minimum cluster size is OPTICS' `min_samples`, with
//! `min_cluster_size` following it as scikit-learn does by default.

use rayon::prelude::*;
use serde::Serialize;

use crate::optics::{optics, OpticsParams, OpticsResult};
use crate::quality::{cluster_preservation, map_preservation, nearest, squared_distances};
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

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GridCell {
    pub perplexity: f64,
    pub min_cluster_size: usize,
    /// `None` when the pair could not run (the reason is in `skipped`).
    pub score: Option<f64>,
    pub map_preservation: Option<f64>,
    pub clusters: usize,
    pub left_out: usize,
    pub kl_divergence: Option<f64>,
    pub eligible: bool,
    pub skipped: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Clustering {
    pub perplexity: f64,
    pub min_cluster_size: usize,
    pub embedding: Embedding,
    pub optics: OpticsResult,
    pub clusters: usize,
    pub score: f64,
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
    let k = params.neighbours.min(n.saturating_sub(1)).max(1);
    let original_sq = squared_distances(points, n, d);
    let original_nn = nearest(&original_sq, n, k);
    // One t-SNE per perplexity (the costly part, in parallel), then every OPTICS on its map.
    let maps: Vec<(f64, Result<Embedding, String>)> = params
        .perplexities
        .par_iter()
        .map(|&p| {
            let t = TsneParams {
                perplexity: p,
                ..params.tsne.clone()
            };
            (p, tsne(points, n, d, &t).map_err(|e| e.to_string()))
        })
        .collect();
    let mut grid = Vec::new();
    let mut best: Option<((bool, f64, usize, f64), Clustering)> = None;
    for (p, map) in maps {
        let map_score = match &map {
            Ok(e) => {
                let nn = nearest(&squared_distances(&e.coords, n, e.dims), n, k);
                map_preservation(&original_nn, &nn)
            }
            Err(_) => 0.0,
        };
        for &m in &params.min_cluster_sizes {
            let mut cell = GridCell {
                perplexity: p,
                min_cluster_size: m,
                score: None,
                map_preservation: None,
                clusters: 0,
                left_out: 0,
                kl_divergence: None,
                eligible: false,
                skipped: None,
            };
            let emb = match &map {
                Ok(e) => e,
                Err(reason) => {
                    cell.skipped = Some(format!("t-SNE: {reason}"));
                    grid.push(cell);
                    continue;
                }
            };
            let o = optics(
                &emb.coords,
                n,
                emb.dims,
                &OpticsParams {
                    min_samples: m,
                    min_cluster_size: None,
                    xi: params.xi,
                    predecessor_correction: true,
                },
            );
            let o = match o {
                Ok(o) => o,
                Err(e) => {
                    cell.skipped = Some(format!("OPTICS: {e}"));
                    grid.push(cell);
                    continue;
                }
            };
            let clusters = o.labels.iter().copied().max().map_or(0, |x| (x + 1).max(0)) as usize;
            let score = cluster_preservation(&original_sq, &o.labels);
            cell.score = Some(score);
            cell.map_preservation = Some(map_score);
            cell.clusters = clusters;
            cell.left_out = o.labels.iter().filter(|&&l| l < 0).count();
            cell.kl_divergence = Some(emb.kl_divergence);
            cell.eligible = clusters >= 2;
            grid.push(cell);
            let key = (clusters >= 2, score, clusters, map_score);
            if best.as_ref().is_none_or(|(b, _)| key > *b) {
                best = Some((
                    key,
                    Clustering {
                        perplexity: p,
                        min_cluster_size: m,
                        embedding: emb.clone(),
                        optics: o,
                        clusters,
                        score,
                        map_preservation: map_score,
                    },
                ));
            }
        }
    }
    let Some(((eligible, ..), chosen)) = best else {
        let reasons: Vec<String> = grid.iter().filter_map(|c| c.skipped.clone()).collect();
        return Err(ArchetypeError::Input(format!(
            "no grid pair could run on {n} countries: {}",
            reasons.first().cloned().unwrap_or_default()
        )));
    };
    Ok(SearchResult {
        grid,
        chosen,
        eligible,
    })
}
