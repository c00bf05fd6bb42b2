//! Keyed pseudo-random permutations of `0..n` that need no table.
//!
//! Ids must look shuffled (not popularity-sorted) yet be computable in both directions for
//! catalogues of tens of millions of tracks: a table would cost hundreds of MB at 10^9 events.
//! Three rounds of multiply / xorshift / add on the smallest power-of-two domain >= n are each
//! bijective, so cycle walking (re-applying until the value falls below n) yields a
//! permutation of `0..n` in under two passes on average. This sits on the hot path of
//! repertoire building, hence plain integer ops rather than a Feistel network of full hashes.

use crate::rng::mix64;

const ROUNDS: usize = 3;

#[derive(Debug, Clone)]
pub(crate) struct Permutation {
    n: u64,
    bits: u32,
    mask: u64,
    shift: u32,
    mul: [u64; ROUNDS],
    mul_inv: [u64; ROUNDS],
    add: [u64; ROUNDS],
}

/// Inverse of an odd number modulo 2^64 (Newton's iteration doubles the correct bits).
fn inverse_mod_2_64(m: u64) -> u64 {
    let mut inv = m;
    for _ in 0..6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(m.wrapping_mul(inv)));
    }
    inv
}

impl Permutation {
    pub fn new(n: u64, key: u64) -> Permutation {
        let bits = (64 - n.saturating_sub(1).leading_zeros()).max(1);
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let mut mul = [0u64; ROUNDS];
        let mut add = [0u64; ROUNDS];
        for r in 0..ROUNDS {
            mul[r] = mix64(key ^ (2 * r as u64 + 1)) | 1;
            add[r] = mix64(key ^ (2 * r as u64 + 2));
        }
        Permutation {
            n,
            bits,
            mask,
            // At least half the width, so high bits reach every low bit in one step.
            shift: bits.div_ceil(2),
            mul,
            mul_inv: mul.map(inverse_mod_2_64),
            add,
        }
    }

    #[inline]
    fn forward_once(&self, mut x: u64) -> u64 {
        for r in 0..ROUNDS {
            x = x.wrapping_mul(self.mul[r]) & self.mask;
            x ^= x >> self.shift;
            x = x.wrapping_add(self.add[r]) & self.mask;
        }
        x
    }

    #[inline]
    fn backward_once(&self, mut y: u64) -> u64 {
        for r in (0..ROUNDS).rev() {
            y = y.wrapping_sub(self.add[r]) & self.mask;
            let mut x = y;
            for _ in 0..self.bits.div_ceil(self.shift) {
                x = y ^ (x >> self.shift);
            }
            y = x.wrapping_mul(self.mul_inv[r]) & self.mask;
        }
        y
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
        for n in [1u64, 2, 3, 7, 100, 1000, 4097, 65_536] {
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
        let n = 10_000u64;
        let p = Permutation::new(n, 5);
        let fixed = (0..n).filter(|&x| p.apply(x) == x).count();
        assert!(fixed < 10, "{fixed} fixed points");
        // Neighbours land as far apart as in a random permutation (about 2% within 100),
        // unlike a stride or block structure.
        let near = (0..n - 1)
            .filter(|&x| p.apply(x).abs_diff(p.apply(x + 1)) < 100)
            .count();
        assert!(near < 400, "{near} neighbours stay close");
        assert_ne!(
            (0..20).map(|x| p.apply(x)).collect::<Vec<_>>(),
            (0..20)
                .map(|x| Permutation::new(n, 6).apply(x))
                .collect::<Vec<_>>()
        );
    }
}
