//! Exact summation of non-negative `f64` values.
//!
//! Floating-point addition is not associative, so summing per-user metrics in f64 gives
//! results that depend on how users were sharded and in which order partial sums arrive. A
//! fixed-point accumulator wide enough for every finite `f64` makes the sum exact; rounding
//! happens once, when the total is read, so any partition and any merge order give the same
//! bits.

use serde::{Deserialize, Serialize};

/// Bit `i` of the accumulator is worth `2^(i + MIN_EXP)`: every finite `f64` is an integer
/// multiple of the smallest subnormal, `2^-1074`.
const MIN_EXP: i32 = -1074;
/// 2^1024 (the largest finite magnitude) times 2^64 addends needs bit 1074 + 1024 + 64 = 2162;
/// 35 limbs (2240 bits) leave room, and the vector grows on carry-out anyway.
const LIMBS: usize = 35;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExactSum {
    /// Little-endian limbs of the fixed-point total.
    limbs: Vec<u64>,
}

impl Default for ExactSum {
    fn default() -> Self {
        Self {
            limbs: vec![0; LIMBS],
        }
    }
}

impl ExactSum {
    /// Whether [`ExactSum::add`] accepts `v`.
    pub(crate) fn accepts(v: f64) -> bool {
        v.is_finite() && v.is_sign_positive()
    }

    /// Adds `v` exactly. Values [`ExactSum::accepts`] rejects are ignored; callers validate
    /// first so that a rejected row leaves every column untouched.
    pub(crate) fn add(&mut self, v: f64) {
        if !Self::accepts(v) {
            return;
        }
        let bits = v.to_bits();
        let exp_field = ((bits >> 52) & 0x7ff) as usize;
        let frac = bits & ((1u64 << 52) - 1);
        // Subnormals sit at bit 0; a normal number with biased exponent e is
        // (2^52 + frac) * 2^(e - 1075), i.e. starts at bit e - 1.
        let (mantissa, shift) = if exp_field == 0 {
            (frac, 0)
        } else {
            (frac | (1u64 << 52), exp_field - 1)
        };
        if mantissa == 0 {
            return;
        }
        let wide = u128::from(mantissa) << (shift % 64);
        let idx = shift / 64;
        self.add_at(idx, wide as u64);
        self.add_at(idx + 1, (wide >> 64) as u64);
    }

    pub(crate) fn merge(&mut self, other: &ExactSum) {
        for (i, &limb) in other.limbs.iter().enumerate() {
            self.add_at(i, limb);
        }
    }

    fn add_at(&mut self, mut idx: usize, value: u64) {
        let mut carry = value;
        while carry != 0 {
            if idx >= self.limbs.len() {
                self.limbs.resize(idx + 1, 0);
            }
            let (sum, overflow) = self.limbs[idx].overflowing_add(carry);
            self.limbs[idx] = sum;
            carry = u64::from(overflow);
            idx += 1;
        }
    }

    /// The total rounded to nearest, ties to even (infinite if beyond `f64::MAX`).
    pub(crate) fn to_f64(&self) -> f64 {
        let Some(top) = self.limbs.iter().rposition(|&l| l != 0) else {
            return 0.0;
        };
        let high_bit = top * 64 + 63 - self.limbs[top].leading_zeros() as usize;
        if high_bit < 64 {
            // The whole value fits one u64; `as f64` rounds it correctly and the power-of-two
            // scaling below is exact because the result is either normal or exactly
            // representable (fewer than 53 significant bits).
            return scale_by_pow2(self.limbs[0] as f64, MIN_EXP);
        }
        // Take the 64 bits below and including the top bit; fold everything under them into
        // bit 0 ("sticky"). Rounding 64 -> 53 bits only looks at bits 10 and below, so a
        // sticky bit 0 reproduces round-to-nearest-even of the full value.
        let low = high_bit - 63;
        let (idx, off) = (low / 64, low % 64);
        let next = self.limbs.get(idx + 1).copied().unwrap_or(0);
        let mut window = if off == 0 {
            self.limbs[idx]
        } else {
            (self.limbs[idx] >> off) | (next << (64 - off))
        };
        let below_in_limb = if off == 0 {
            0
        } else {
            self.limbs[idx] & ((1u64 << off) - 1)
        };
        if below_in_limb != 0 || self.limbs[..idx].iter().any(|&l| l != 0) {
            window |= 1;
        }
        scale_by_pow2(window as f64, low as i32 + MIN_EXP)
    }
}

/// `x * 2^e` in steps that keep intermediates normal, so no step rounds as long as the final
/// result is representable.
fn scale_by_pow2(mut x: f64, mut e: i32) -> f64 {
    while e > 1023 {
        x *= pow2(1023);
        e -= 1023;
    }
    while e < -1022 {
        x *= pow2(-1022);
        e += 1022;
    }
    x * pow2(e)
}

/// `2^e` for `e` in the normal exponent range `[-1022, 1023]`.
fn pow2(e: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&e));
    f64::from_bits(((e + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn exact(values: &[f64]) -> f64 {
        let mut s = ExactSum::default();
        for &v in values {
            s.add(v);
        }
        s.to_f64()
    }

    #[test]
    fn empty_and_zero() {
        assert_eq!(exact(&[]).to_bits(), 0.0f64.to_bits());
        assert_eq!(exact(&[0.0, 0.0]).to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn small_integers_are_exact() {
        assert_eq!(exact(&[1.0, 2.0, 3.5]), 6.5);
        assert_eq!(exact(&[0.25; 8]), 2.0);
    }

    #[test]
    fn beats_naive_summation() {
        let big = 9007199254740992.0; // 2^53
                                      // Naive left-to-right: 2^53 + 1 rounds back to 2^53 (ties to even), twice.
        assert_eq!(big + 1.0 + 1.0, big);
        assert_eq!(exact(&[big, 1.0, 1.0]), big + 2.0);
        // Ten copies of the double nearest 0.1 sum to 1 + 5.55e-17, which rounds to 1.0; naive
        // summation drifts to 0.9999999999999999.
        let naive: f64 = [0.1; 10].iter().sum();
        assert_ne!(naive, 1.0);
        assert_eq!(exact(&[0.1; 10]), 1.0);
    }

    #[test]
    fn rounds_to_nearest_even_with_sticky_bits() {
        let big = 9007199254740992.0; // 2^53
                                      // Exactly halfway between 2^53 and 2^53 + 2: ties to even keeps 2^53.
        assert_eq!(exact(&[big, 1.0]), big);
        // Halfway plus a tiny bit far below the window must round up.
        assert_eq!(exact(&[big, 1.0, 2f64.powi(-40)]), big + 2.0);
        assert_eq!(exact(&[big, 1.0, f64::from_bits(1)]), big + 2.0);
        // 2^53 + 3 is halfway between 2^53 + 2 and 2^53 + 4: ties to even gives 2^53 + 4.
        assert_eq!(exact(&[big, 3.0]), big + 4.0);
    }

    #[test]
    fn subnormals_and_extremes() {
        let tiny = f64::from_bits(1);
        assert_eq!(exact(&[tiny, tiny, tiny]).to_bits(), 3);
        let almost_normal = f64::from_bits((1u64 << 52) - 1);
        assert_eq!(
            exact(&[almost_normal, tiny]),
            f64::MIN_POSITIVE,
            "carry from subnormal into the smallest normal"
        );
        assert_eq!(exact(&[f64::MAX]), f64::MAX);
        assert_eq!(exact(&[f64::MAX, f64::MAX]), f64::INFINITY);
        assert_eq!(exact(&[f64::MAX, tiny]), f64::MAX);
        assert_eq!(exact(&[1e300, 1e-300, 1e300]), 2e300);
    }

    #[test]
    fn rejects_negative_and_non_finite() {
        assert!(!ExactSum::accepts(-1.0));
        assert!(!ExactSum::accepts(f64::NAN));
        assert!(!ExactSum::accepts(f64::INFINITY));
        assert!(ExactSum::accepts(0.0));
        assert_eq!(exact(&[1.0, -1.0, f64::NAN]), 1.0);
    }

    #[test]
    fn any_partition_and_order_gives_the_same_bits() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..50 {
            let n = rng.random_range(1..400);
            let mut values: Vec<f64> = (0..n)
                .map(|_| {
                    let mag = rng.random_range(-30..30);
                    rng.random::<f64>() * 2f64.powi(mag)
                })
                .collect();
            let reference = exact(&values);
            values.shuffle(&mut rng);
            let parts = rng.random_range(1..6);
            let mut partials: Vec<ExactSum> = vec![ExactSum::default(); parts];
            for &v in &values {
                partials[rng.random_range(0..parts)].add(v);
            }
            partials.shuffle(&mut rng);
            let mut total = ExactSum::default();
            for p in &partials {
                total.merge(p);
            }
            assert_eq!(total.to_f64().to_bits(), reference.to_bits());
            // Plain f64 summation lands close to the exact total, just not bit-identically.
            let approx: f64 = values.iter().sum();
            assert!((approx - reference).abs() <= 1e-12 * reference.abs());
        }
    }
}
