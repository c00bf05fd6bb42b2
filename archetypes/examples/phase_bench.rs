//! Benchmark of the whole archetype phase (PCA, the 12 x 4 t-SNE/OPTICS grid, archetype
//! tables) on a synthetic countries x tracks matrix. Run by hand:
//!
//! ```text
//! cargo run --release -p archetype-archetypes --example phase_bench -- 250 1000000 0.05
//! ```
//!
//! Arguments: countries, tracks, density (share of (country, track) cells with plays; track t
//! is played in a country with probability proportional to its popularity, so popular tracks
//! are heard nearly everywhere and the tail in few countries). Countries belong to 10 planted
//! groups with their own local tracks, so the grid has structure to find.

use std::time::Instant;

use archetype_archetypes::matrix::SparseRows;
use archetype_archetypes::pca::PcaParams;
use archetype_archetypes::quality::adjusted_rand_index;
use archetype_archetypes::search::SearchParams;
use archetype_archetypes::{run, Inputs, Params};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let countries: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(250);
    let tracks: usize = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let density: f64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(0.05);
    let groups = 10usize;
    let t0 = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    // p_t = min(1, c / (t + c)) has mean ~ c ln(T / c) / T; solve for c by bisection.
    let mean = |c: f64| {
        (0..tracks)
            .map(|t| (c / (t as f64 + c)).min(1.0))
            .sum::<f64>()
            / tracks as f64
    };
    let (mut lo, mut hi) = (1e-3, tracks as f64 * 10.0);
    for _ in 0..60 {
        let mid = (lo * hi).sqrt();
        if mean(mid) < density {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let c = lo;
    let mut triples: Vec<(u32, u32, f64)> = Vec::new();
    let mut truth = Vec::new();
    for i in 0..countries {
        let g = i % groups;
        truth.push(g as i32);
        for t in 0..tracks {
            // Each group prefers its own slice of the catalogue.
            let local = t % groups == g;
            let p = (c / (t as f64 + c)).min(1.0) * if local { 1.8 } else { 0.9 };
            if rng.random::<f64>() < p {
                let plays = (1e6 / (t as f64 + 10.0)) * if local { 3.0 } else { 1.0 };
                triples.push((
                    i as u32,
                    t as u32,
                    (plays * rng.random_range(0.5..1.5)).ceil(),
                ));
            }
        }
    }
    let plays = SparseRows::from_triples(countries, tracks, &mut triples).unwrap();
    drop(triples);
    let mut track_plays = vec![0u64; tracks];
    for (&t, &v) in plays.cols.iter().zip(&plays.values) {
        track_plays[t as usize] += v as u64;
    }
    let nnz = plays.nnz();
    println!(
        "input: {countries} countries x {tracks} tracks, {nnz} non-zeros ({:.1}%), generated in {:.1}s",
        100.0 * nnz as f64 / (countries * tracks) as f64,
        t0.elapsed().as_secs_f64()
    );
    let inputs = Inputs {
        countries: (0..countries).map(|i| format!("C{i}")).collect(),
        plays,
        track_plays,
        users: Vec::new(),
    };
    let params = Params {
        pca: PcaParams::default(),
        search: SearchParams::paper(),
        idf_threshold: 4.2,
        top_tracks: 20,
    };
    let t1 = Instant::now();
    let out = run(&inputs, &params).unwrap();
    let total = t1.elapsed().as_secs_f64();
    println!(
        "phase: {total:.2}s total = PCA {:.2}s ({}; {} components keep {:.1}%) + grid {:.2}s (48 pairs) + tables {:.2}s",
        out.timings.pca_s,
        out.pca.solver,
        out.pca.components,
        100.0 * out.pca.variance_kept(),
        out.timings.search_s,
        out.timings.tables_s
    );
    println!(
        "chosen: perplexity {}, min cluster size {}, {} clusters, ARI vs planted {:.3}, threads {}",
        out.search.chosen.perplexity,
        out.search.chosen.min_cluster_size,
        out.clusters,
        adjusted_rand_index(&out.labels, &truth),
        rayon::current_num_threads()
    );
}
