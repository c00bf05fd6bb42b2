//! The whole archetype phase on country vectors with planted archetypes: the clusters found
//! must match the planted ones.

use archetype_archetypes::matrix::SparseRows;
use archetype_archetypes::pca::PcaParams;
use archetype_archetypes::quality::adjusted_rand_index;
use archetype_archetypes::search::SearchParams;
use archetype_archetypes::tables::UserProfile;
use archetype_archetypes::{run, Inputs, Params};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `archetypes` groups of `per` countries. Every country plays the global hits (a Zipf curve
/// over the first `global` tracks) and, for a `local_share` of its plays, the local music of its
/// archetype (its own block of tracks), each with country-level noise.
fn planted(archetypes: usize, per: usize, seed: u64) -> (Inputs, Vec<i32>) {
    let (global, local) = (400usize, 150usize);
    let tracks = global + archetypes * local;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut triples = Vec::new();
    let mut truth = Vec::new();
    let mut names = Vec::new();
    for a in 0..archetypes {
        for c in 0..per {
            let row = (a * per + c) as u32;
            names.push(format!(
                "{}{}",
                (b'A' + a as u8) as char,
                (b'A' + c as u8) as char
            ));
            truth.push(a as i32);
            let size = rng.random_range(50_000.0..500_000.0);
            let local_share = rng.random_range(0.3..0.6);
            for t in 0..global {
                let w = size * (1.0 - local_share) / (t as f64 + 1.0) / 6.5;
                let noisy = w * rng.random_range(0.5..1.5);
                if noisy >= 1.0 {
                    triples.push((row, t as u32, noisy.round()));
                }
            }
            for t in 0..local {
                let w = size * local_share / (t as f64 + 1.0) / 5.6;
                let noisy = w * rng.random_range(0.5..1.5);
                if noisy >= 1.0 {
                    triples.push((row, (global + a * local + t) as u32, noisy.round()));
                }
            }
        }
    }
    let n = archetypes * per;
    let plays = SparseRows::from_triples(n, tracks, &mut triples).unwrap();
    let mut track_plays = vec![0u64; tracks];
    for (&c, &v) in plays.cols.iter().zip(&plays.values) {
        track_plays[c as usize] += v as u64;
    }
    let users = (0..n * 10)
        .map(|u| UserProfile {
            country_row: Some(u % n),
            age: (u % 7 != 0).then_some(18 + (u % 30) as u16),
            gender: ["f", "m", "n"][u % 3].to_string(),
            plays: 100 + u as u64,
        })
        .collect();
    (
        Inputs {
            countries: names,
            plays,
            track_plays,
            users,
        },
        truth,
    )
}

fn params() -> Params {
    Params {
        pca: PcaParams::default(),
        search: SearchParams::paper(),
        idf_threshold: 2.0,
        top_tracks: 20,
    }
}

#[test]
fn clusters_found_match_the_planted_archetypes() {
    for (archetypes, per, seed) in [(8, 9, 1u64), (5, 14, 2)] {
        let (inputs, truth) = planted(archetypes, per, seed);
        let out = run(&inputs, &params()).unwrap();
        let ari = adjusted_rand_index(&out.labels, &truth);
        let left_out = out.labels.iter().filter(|&&l| l < 0).count();
        eprintln!(
            "{archetypes}x{per}: ARI {ari:.3}, {} clusters, {left_out} left out, perplexity {}, min size {}, score {:.3}",
            out.clusters, out.search.chosen.perplexity, out.search.chosen.min_cluster_size, out.search.chosen.score
        );
        assert!(ari >= 0.9, "ARI {ari} < 0.9: labels {:?}", out.labels);
        assert_eq!(out.search.grid.len(), 48);
        // Each archetype's top tracks are its own local block, since the global hits are
        // removed as dominating or outnumbered.
        for c in &out.top_tracks {
            let members: Vec<usize> = (0..truth.len())
                .filter(|&i| out.labels[i] == c.cluster)
                .collect();
            let planted = truth[members[0]] as usize;
            let own = c
                .tracks
                .iter()
                .filter(|t| {
                    (t.track_idx as usize).saturating_sub(400) / 150 == planted
                        && t.track_idx >= 400
                })
                .count();
            assert!(
                own * 2 > c.tracks.len(),
                "cluster {} top tracks are not its local music",
                c.cluster
            );
        }
        // Demographics cover every user of a clustered country.
        let covered: u64 = out.demographics.iter().map(|d| d.users).sum();
        assert_eq!(covered, inputs.users.len() as u64);
        // Deterministic: a second run gives the same clusters and the same map.
        let again = run(&inputs, &params()).unwrap();
        assert_eq!(again.labels, out.labels);
        assert_eq!(
            again.search.chosen.embedding.coords,
            out.search.chosen.embedding.coords
        );
    }
}
