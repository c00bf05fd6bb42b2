//! Seeding: every random decision draws from a generator keyed by (seed, stream, index), so
//! any user, block or catalogue segment can be produced on any thread, in any order, with the
//! same result.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Independent random streams; the values are arbitrary but must never change, or every
/// generated data set changes with them.
#[derive(Clone, Copy)]
#[repr(u64)]
pub(crate) enum Stream {
    Users = 0x5553_4552,
    Events = 0x4556_4e54,
    Chunks = 0x4348_4e4b,
    Archetypes = 0x4152_4348,
    Catalogue = 0x4341_5441,
    BadRows = 0x4241_4452,
    Duplicates = 0x4455_504c,
    Playcount = 0x504c_4159,
}

/// SplitMix64's finaliser: a cheap bijective mixer with full avalanche.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hash of (seed, stream, index); distinct triples give unrelated values.
#[inline]
pub(crate) fn key(seed: u64, stream: Stream, index: u64) -> u64 {
    let a = mix64(seed.wrapping_add(0x9e37_79b9_7f4a_7c15));
    let b = mix64(a ^ (stream as u64).wrapping_mul(0xd6e8_feb8_6659_fd93));
    mix64(b ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// The generator for one (stream, index): ChaCha8 is fast enough for per-event draws and its
/// output is specified, so the data only depends on this crate's code.
pub(crate) fn rng_for(seed: u64, stream: Stream, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(key(seed, stream, index))
}

/// Uniform draw in [0, 1) from a cumulative table: index of the first entry above `u * total`.
#[inline]
pub(crate) fn pick_cumulative(cumulative: &[f64], u: f64) -> usize {
    let total = cumulative.last().copied().unwrap_or(0.0);
    let target = u * total;
    cumulative
        .partition_point(|&c| c <= target)
        .min(cumulative.len().saturating_sub(1))
}

/// Cumulative sums of `weights` as f64.
pub(crate) fn cumulative<I: IntoIterator<Item = f64>>(weights: I) -> Vec<f64> {
    let mut acc = 0.0;
    weights
        .into_iter()
        .map(|w| {
            acc += w;
            acc
        })
        .collect()
}

/// Linear interpolation in a quantile table at probability `u` in [0, 1).
pub(crate) fn quantile(table: &[f64], u: f64) -> f64 {
    let steps = (table.len() - 1) as f64;
    let x = (u * steps).clamp(0.0, steps);
    let i = (x as usize).min(table.len() - 2);
    let frac = x - i as f64;
    table[i] + frac * (table[i + 1] - table[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_every_component() {
        let k = key(1, Stream::Users, 7);
        assert_ne!(k, key(2, Stream::Users, 7));
        assert_ne!(k, key(1, Stream::Events, 7));
        assert_ne!(k, key(1, Stream::Users, 8));
    }

    #[test]
    fn pick_cumulative_respects_weights() {
        let c = cumulative([1.0, 0.0, 3.0]);
        assert_eq!(pick_cumulative(&c, 0.0), 0);
        assert_eq!(pick_cumulative(&c, 0.2), 0);
        assert_eq!(pick_cumulative(&c, 0.26), 2);
        assert_eq!(pick_cumulative(&c, 0.999), 2);
    }

    #[test]
    fn quantile_interpolates() {
        let t = [0.0, 10.0, 20.0];
        assert_eq!(quantile(&t, 0.0), 0.0);
        assert!((quantile(&t, 0.25) - 5.0).abs() < 1e-9);
        assert!((quantile(&t, 0.999_999) - 20.0).abs() < 1e-3);
    }
}
