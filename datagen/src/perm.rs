//! Keyed pseudo-random permutations of `0..n` that need no table.
//!
//! Ids must look shuffled (not popularity-sorted) yet be computable in both directions
//! for catalogues of tens of millions of tracks: a table would cost hundreds of MB at 10^9
//! events, a balanced Feistel network with cycle walking costs four words.

use crate::rng::mix64;

#[derive(Debug, Clone)]
pub(crate) struct Permutation {
    n: u64,
    half_bits: u32,
    mask: u64,
    keys: [u64; 4],
}

impl Permutation {
    pub fn new(n: u64, key: u64) -> Permutation {
        // The Feistel domain is 4^half_bits >= n, so cycle walking needs < 4 steps on average.
        let bits = 64 - n.saturating_sub(1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        let keys = [
            mix64(key ^ 0x01),
            mix64(key ^ 0x02),
            mix64(key ^ 0x03),
            mix64(key ^ 0x04),
        ];
        Permutation {
            n,
            half_bits,
            mask: (1u64 << half_bits) - 1,
            keys,
        }
    }

    #[inline]
    fn round(&self, x: u64, k: u64) -> u64 {
        mix64(x ^ k) & self.mask
    }

    #[inline]
    fn forward_once(&self, x: u64) -> u64 {
        let (mut l, mut r) = (x >> self.half_bits, x & self.mask);
        for &k in &self.keys {
            let next = l ^ self.round(r, k);
            l = r;
            r = next;
        }
        (l << self.half_bits) | r
    }

    #[inline]
    fn backward_once(&self, y: u64) -> u64 {
        let (mut l, mut r) = (y >> self.half_bits, y & self.mask);
        for &k in self.keys.iter().rev() {
            let prev = r ^ self.round(l, k);
            r = l;
            l = prev;
        }
        (l << self.half_bits) | r
    }

    /// Image of `x` (< n).
    #[inline]
    pub fn apply(&self, x: u64) -> u64 {
        debug_assert!(x < self.n);
        let mut y = self.forward_once(x);
        while y >= self.n {
            y = self.forward_once(y);
        }
        y
    }

    /// Preimage of `y` (< n).
    #[inline]
    pub fn invert(&self, y: u64) -> u64 {
        debug_assert!(y < self.n);
        let mut x = self.backward_once(y);
        while x >= self.n {
            x = self.backward_once(x);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_bijection_with_inverse() {
        for n in [1u64, 2, 3, 7, 100, 1000, 4097] {
            let p = Permutation::new(n, 99);
            let mut seen = vec![false; n as usize];
            for x in 0..n {
                let y = p.apply(x);
                assert!(y < n);
                assert!(!seen[y as usize], "n={n} collision at {y}");
                seen[y as usize] = true;
                assert_eq!(p.invert(y), x);
            }
        }
    }

    #[test]
    fn shuffles() {
        let p = Permutation::new(10_000, 5);
        let fixed = (0..10_000).filter(|&x| p.apply(x) == x).count();
        assert!(fixed < 20, "{fixed} fixed points");
    }
}
