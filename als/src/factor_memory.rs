//! What WMF-ALS needs in memory on one member, from sizes known before training starts, so
//! that a job can refuse a model that cannot fit instead of losing its workers to the
//! allocator.

use crate::blocks::Csr;
use crate::train::Shape;

const F32: u64 = std::mem::size_of::<f32>() as u64;
const F64: u64 = std::mem::size_of::<f64>() as u64;

/// Bytes one member needs for WMF-ALS, by what holds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlsMemory {
    /// Dense `(users + items) x factors` f32: member 0 assembles both matrices to write the
    /// model, and a member's threads together hold their own rows plus routed copies of up
    /// to every row of the other side.
    pub factors: u64,
    /// Per thread, `k x k` f64 systems: the Gram matrix, one row's system and its Cholesky
    /// factor.
    pub solves: u64,
    /// The member's share of the cells: in the user-side and the item-side CSR (u32 column,
    /// f32 confidence, u64 row offsets) and as input `(user, item, plays)` tuples.
    pub cells: u64,
}

impl AlsMemory {
    pub fn total(&self) -> u64 {
        self.factors
            .saturating_add(self.solves)
            .saturating_add(self.cells)
    }
}

/// The CSR bytes of `cells` non-zeros over `rows` rows, as [`crate::blocks::csr`] lays them
/// out.
pub fn csr_bytes(rows: u64, cells: u64) -> u64 {
    let cell = std::mem::size_of::<u32>() as u64 + F32;
    (rows + 1) * std::mem::size_of::<u64>() as u64 + cells * cell
}

/// The estimate for a cluster of `members` processes of `threads` timely workers each,
/// training `factors` factors on `cells` (user, item) pairs.
pub fn member_bytes(
    shape: Shape,
    cells: u64,
    factors: usize,
    members: usize,
    threads: usize,
) -> AlsMemory {
    let (users, items, k) = (shape.users as u64, shape.items as u64, factors as u64);
    let members = members.max(1) as u64;
    let tuple = std::mem::size_of::<(u32, u32, f32)>() as u64;
    let share = cells.div_ceil(members);
    let rows = (users + items).div_ceil(members);
    AlsMemory {
        factors: (users + items).saturating_mul(k).saturating_mul(F32),
        solves: (threads.max(1) as u64)
            .saturating_mul(3)
            .saturating_mul(k.saturating_mul(k))
            .saturating_mul(F64),
        cells: (2 * csr_bytes(rows, share)).saturating_add(share.saturating_mul(tuple)),
    }
}

/// The bytes a built [`Csr`] holds, for checking [`csr_bytes`] against the real layout.
pub fn held_bytes(csr: &Csr) -> u64 {
    (std::mem::size_of_val(csr.offsets.as_slice())
        + std::mem::size_of_val(csr.indices.as_slice())
        + std::mem::size_of_val(csr.confidence.as_slice())) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::csr;
    use crate::Confidence;

    #[test]
    fn csr_estimate_is_the_built_csr() {
        let cells: Vec<(u32, u32, f32)> = (0..50u32).map(|i| (i % 7, i % 11, 1.0)).collect();
        let cells = crate::blocks::merge_cells(cells);
        let needed: Vec<u32> = (0..11).collect();
        let built = csr(&cells, 7, &needed, 1, &Confidence::default(), "t").unwrap();
        assert_eq!(held_bytes(&built), csr_bytes(7, cells.len() as u64));
    }

    #[test]
    fn factors_dominate_at_the_issue_size() {
        // The issue: 100,000 factors on ~200k users and tracks asked ~80 GB of every worker.
        let shape = Shape {
            users: 120_000,
            items: 80_000,
        };
        let m = member_bytes(shape, 10_000_000, 100_000, 2, 1);
        assert_eq!(m.factors, 200_000 * 100_000 * 4);
        assert!(
            m.solves > m.factors,
            "k^2 f64 systems at k = 100,000: {m:?}"
        );
        let small = member_bytes(shape, 10_000_000, 128, 2, 1);
        assert!(small.total() < 1 << 30, "{small:?}");
    }

    #[test]
    fn cells_are_shared_over_members() {
        let shape = Shape {
            users: 1_000,
            items: 1_000,
        };
        let one = member_bytes(shape, 1_000_000, 8, 1, 1).cells;
        let four = member_bytes(shape, 1_000_000, 8, 4, 1).cells;
        assert!(four * 3 < one && four * 5 > one, "{one} {four}");
    }
}
