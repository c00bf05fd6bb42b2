//! The grid score against planted structure: for every shape of `planted::study_shapes()` and
//! seed, the whole phase (`run`: PCA, the paper's 12 x 4 grid, the score's choice) on generated
//! country play counts, and the adjusted Rand index (ARI) of the chosen pair against the
//! planted archetypes, beside the best ARI any pair of the grid reached and the pair the old
//! score (cluster preservation) would have chosen. Run by hand:
//!
//! ```text
//! cargo run --release -p archetype-archetypes --example grid_criterion -- [seeds]
//! ```
//!
//! `seeds` (default 3) data sets per shape, seeds 0.. (the Python study uses the same shapes
//! and seed numbers but numpy's generator, so not the same data).

use std::time::Instant;

use archetype_archetypes::pca::PcaParams;
use archetype_archetypes::planted::{generate, study_shapes};
use archetype_archetypes::quality::adjusted_rand_index;
use archetype_archetypes::search::{select, GridCell, SearchParams};
use archetype_archetypes::{run, Params};

/// How close to the grid's best pair a choice must come.
const TOLERANCE: f64 = 0.05;

fn params() -> Params {
    Params {
        pca: PcaParams::default(),
        search: SearchParams::paper(),
        idf_threshold: 4.2,
        top_tracks: 20,
    }
}

fn pair(c: &GridCell) -> String {
    format!("p{} m{}", c.perplexity, c.min_cluster_size)
}

/// The old choice: the grid re-scored by cluster preservation, same tie-breaks.
fn old_choice(grid: &[GridCell]) -> Option<usize> {
    let rescored: Vec<GridCell> = grid
        .iter()
        .map(|c| GridCell {
            score: c.cluster_preservation,
            ..c.clone()
        })
        .collect();
    select(&rescored)
}

struct Row {
    shape: String,
    chosen: f64,
    best: f64,
    old: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seeds: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(3);
    let params = params();
    let t0 = Instant::now();
    let mut rows = Vec::new();
    println!("| Shape | Seed | Chosen | Clusters | ARI | Best ARI | Best pair | Within 0.05 | Old choice | Old ARI |");
    println!("|---|---:|---|---:|---:|---:|---|---|---|---:|");
    for shape in study_shapes() {
        for seed in 0..seeds {
            let planted = generate(&shape, seed)?;
            let out = run(&planted.inputs, &params)?;
            let ari = |c: &GridCell| -> Option<f64> {
                (!c.labels.is_empty()).then(|| adjusted_rand_index(&c.labels, &planted.truth))
            };
            let grid = &out.search.grid;
            let chosen = adjusted_rand_index(&out.labels, &planted.truth);
            let (best_at, best) = grid
                .iter()
                .enumerate()
                .filter_map(|(i, c)| ari(c).map(|a| (i, a)))
                .fold((0, f64::NEG_INFINITY), |b, x| if x.1 > b.1 { x } else { b });
            let old_at = old_choice(grid).ok_or("no grid pair ran")?;
            let old = ari(&grid[old_at]).unwrap_or(f64::NAN);
            println!(
                "| {} | {seed} | p{} m{} | {} | {chosen:.2} | {best:.2} | {} | {} | {} | {old:.2} |",
                shape.name(),
                out.search.chosen.perplexity,
                out.search.chosen.min_cluster_size,
                out.clusters,
                pair(&grid[best_at]),
                if best - chosen <= TOLERANCE { "yes" } else { "no" },
                pair(&grid[old_at]),
            );
            rows.push(Row {
                shape: shape.name(),
                chosen,
                best,
                old,
            });
        }
    }
    summary(&rows);
    println!(
        "\n{} data sets in {:.1}s, {} threads",
        rows.len(),
        t0.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    Ok(())
}

/// One shape's means over its seeds.
struct ShapeMean {
    shape: String,
    chosen: f64,
    best: f64,
    old: f64,
    seeds: usize,
    seeds_within: usize,
}

fn shape_means(rows: &[Row]) -> Vec<ShapeMean> {
    let mut names: Vec<&str> = rows.iter().map(|r| r.shape.as_str()).collect();
    names.dedup();
    names
        .into_iter()
        .map(|s| {
            let of: Vec<&Row> = rows.iter().filter(|r| r.shape == s).collect();
            let m = |g: fn(&Row) -> f64| of.iter().map(|r| g(r)).sum::<f64>() / of.len() as f64;
            ShapeMean {
                shape: s.to_string(),
                chosen: m(|r| r.chosen),
                best: m(|r| r.best),
                old: m(|r| r.old),
                seeds: of.len(),
                seeds_within: of.iter().filter(|r| r.best - r.chosen <= TOLERANCE).count(),
            }
        })
        .collect()
}

/// The per-shape table, then hits and mean ARIs of both scores over all shapes and per signal.
fn summary(rows: &[Row]) {
    let shapes = shape_means(rows);
    println!("\n| Shape | Mean ARI (chosen) | Mean best ARI | Within 0.05 (shape mean) | Seeds within 0.05 | Mean ARI (old score) |");
    println!("|---|---:|---:|---|---:|---:|");
    for s in &shapes {
        let within = if s.best - s.chosen <= TOLERANCE {
            "yes"
        } else {
            "no"
        };
        println!(
            "| {} | {:.2} | {:.2} | {within} | {}/{} | {:.2} |",
            s.shape, s.chosen, s.best, s.seeds_within, s.seeds, s.old
        );
    }
    println!();
    for signal in ["", "-strong", "-weak"] {
        let rows: Vec<&Row> = rows.iter().filter(|r| r.shape.ends_with(signal)).collect();
        let shapes: Vec<&ShapeMean> = shapes
            .iter()
            .filter(|s| s.shape.ends_with(signal))
            .collect();
        let label = if signal.is_empty() {
            "all"
        } else {
            &signal[1..]
        };
        for (name, f, g) in [
            (
                "new score",
                (|r: &Row| r.chosen) as fn(&Row) -> f64,
                (|s: &ShapeMean| s.chosen) as fn(&ShapeMean) -> f64,
            ),
            ("old score", |r: &Row| r.old, |s: &ShapeMean| s.old),
        ] {
            let hits = rows.iter().filter(|r| r.best - f(r) <= TOLERANCE).count();
            let shape_hits = shapes.iter().filter(|s| s.best - g(s) <= TOLERANCE).count();
            let mean = rows.iter().map(|r| f(r)).sum::<f64>() / rows.len() as f64;
            println!(
                "{label} shapes, {name}: within {TOLERANCE} of the grid's best in {hits}/{} data sets and {shape_hits}/{} shapes (shape means); mean ARI {mean:.3}",
                rows.len(),
                shapes.len(),
            );
        }
        let best = rows.iter().map(|r| r.best).sum::<f64>() / rows.len() as f64;
        println!("{label} shapes, grid's best: mean ARI {best:.3}");
    }
}
