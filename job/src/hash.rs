//! The seeded hash behind every draw a job makes by id (held-out users, sampled tracks): a
//! draw that hashes (seed, id) depends on neither the worker count nor the order ids arrive in.

/// SplitMix64's finaliser: a bijection on u64 whose outputs look independent.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::mix64;

    #[test]
    fn matches_splitmix64_and_spreads_neighbours() {
        // The first output of Vigna's splitmix64 seeded with 0.
        assert_eq!(mix64(0), 0xE220_A839_7B1D_CDAF);
        let flipped = (mix64(1) ^ mix64(2)).count_ones();
        assert!((16..=48).contains(&flipped), "{flipped} bits differ");
    }
}
