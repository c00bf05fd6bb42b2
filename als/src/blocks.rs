//! Row blocks of one side (users or items) and the routing plans between the sides.
//!
//! Row `r` of a side belongs to block `r % W` at local position `r / W`: round robin spreads
//! the heavy rows of a popularity-sorted index evenly without a lookup table. Like Spark's
//! ALS, a block lists once, at setup, which of its rows each block of the other side needs
//! (its "out-block"), and each block knows where the rows it receives go in its compact copy
//! of the other side (its "in-block"); every half-step then ships each factor row only to the
//! blocks that use it, at most once each.

use archetype_kernels::cpu::als::CsrRef;

use crate::confidence::Confidence;
use crate::TrainError;

/// Rows of a side with `n` rows owned by block `w` of `peers`.
pub fn owned(n: usize, w: usize, peers: usize) -> usize {
    if w < n {
        (n - w - 1) / peers + 1
    } else {
        0
    }
}

pub fn owner(r: u32, peers: usize) -> usize {
    r as usize % peers
}

pub fn local(r: u32, peers: usize) -> usize {
    r as usize / peers
}

pub fn global(l: usize, w: usize, peers: usize) -> u32 {
    (w + l * peers) as u32
}

/// A sparse matrix over this block's rows, its columns renumbered into `needed`.
#[derive(Clone, Debug, Default)]
pub struct Csr {
    pub offsets: Vec<u64>,
    pub indices: Vec<u32>,
    pub confidence: Vec<f32>,
}

impl Csr {
    pub fn as_ref(&self) -> Result<CsrRef<'_>, TrainError> {
        Ok(CsrRef::new(&self.offsets, &self.indices, &self.confidence)?)
    }

    pub fn nnz(&self) -> u64 {
        self.indices.len() as u64
    }
}

/// One block of a side, as seen by the half-step that recomputes its rows.
#[derive(Clone, Debug, Default)]
pub struct Block {
    /// Rows owned here.
    pub own: usize,
    pub csr: Csr,
    /// Global ids of the other side's rows these rows touch, ascending.
    pub needed: Vec<u32>,
    /// For each block of the other side: positions in `needed` of the rows it sends, in the
    /// order it sends them (ascending id).
    pub from: Vec<Vec<u32>>,
    /// For each block of the other side: local rows of this block it needs, ascending.
    pub send: Vec<Vec<u32>>,
}

/// Sorts `(row, col, plays)` by cell and adds up repeated cells (a cell read twice from
/// overlapping inputs counts its plays once per read: the caller's inputs never overlap, so a
/// repeat only comes from a table that itself lists a cell twice, whose plays add up).
pub fn merge_cells(mut cells: Vec<(u32, u32, f32)>) -> Vec<(u32, u32, f32)> {
    cells.sort_unstable_by_key(|c| (c.0, c.1));
    let mut out: Vec<(u32, u32, f32)> = Vec::with_capacity(cells.len());
    for c in cells {
        match out.last_mut() {
            Some(last) if last.0 == c.0 && last.1 == c.1 => last.2 += c.2,
            _ => out.push(c),
        }
    }
    out
}

/// Builds the CSR of the owned rows over the compact columns of `needed` (which must
/// contain every column of `cells`). `cells` are merged, with global row ids.
pub fn csr(
    cells: &[(u32, u32, f32)],
    rows: usize,
    needed: &[u32],
    peers: usize,
    confidence: &Confidence,
    what: &str,
) -> Result<Csr, TrainError> {
    let mut offsets = vec![0u64; rows + 1];
    let mut indices = Vec::with_capacity(cells.len());
    let mut conf = Vec::with_capacity(cells.len());
    for &(r, c, plays) in cells {
        let l = local(r, peers);
        if l >= rows {
            return Err(TrainError::Input(format!(
                "{what}: row {r} is outside the {rows} rows of this block"
            )));
        }
        if !(plays.is_finite() && plays > 0.0) {
            return Err(TrainError::Input(format!(
                "{what}: cell ({r}, {c}) has {plays} plays; a stored cell needs a positive count"
            )));
        }
        let Ok(pos) = needed.binary_search(&c) else {
            return Err(TrainError::Internal(format!(
                "{what}: column {c} missing from the block's column list"
            )));
        };
        offsets[l + 1] += 1;
        indices.push(pos as u32);
        conf.push(confidence.of(plays));
    }
    for l in 0..rows {
        offsets[l + 1] += offsets[l];
    }
    Ok(Csr {
        offsets,
        indices,
        confidence: conf,
    })
}

/// The sorted distinct values of `cols`.
pub fn distinct(cols: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut v: Vec<u32> = cols.collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Positions in `needed` of the ids each block of the other side sends.
pub fn from_plan(needed: &[u32], peers: usize) -> Vec<Vec<u32>> {
    let mut from = vec![Vec::new(); peers];
    for (p, &id) in needed.iter().enumerate() {
        from[owner(id, peers)].push(p as u32);
    }
    from
}

/// For each block of the other side, the local rows of this side it needs, given cells
/// `(global row of this side, global row of the other side)`.
pub fn send_plan(cells: impl Iterator<Item = (u32, u32)>, peers: usize) -> Vec<Vec<u32>> {
    let mut send = vec![Vec::new(); peers];
    for (r, other) in cells {
        send[owner(other, peers)].push(local(r, peers) as u32);
    }
    for s in &mut send {
        s.sort_unstable();
        s.dedup();
    }
    send
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_covers_every_row_once() {
        for n in [0usize, 1, 5, 17] {
            for peers in 1..5 {
                let total: usize = (0..peers).map(|w| owned(n, w, peers)).sum();
                assert_eq!(total, n);
                for r in 0..n as u32 {
                    let w = owner(r, peers);
                    assert!(local(r, peers) < owned(n, w, peers));
                    assert_eq!(global(local(r, peers), w, peers), r);
                }
            }
        }
    }

    #[test]
    fn merged_cells_add_repeats_and_sort() {
        let m = merge_cells(vec![(2, 1, 1.0), (0, 3, 2.0), (2, 1, 4.0), (0, 1, 1.0)]);
        assert_eq!(m, vec![(0, 1, 1.0), (0, 3, 2.0), (2, 1, 5.0)]);
    }

    #[test]
    fn csr_refuses_non_positive_plays() {
        let needed = vec![1, 3];
        let c = Confidence::default();
        let err = csr(&[(0, 1, 0.0)], 1, &needed, 1, &c, "t").unwrap_err();
        assert!(err.to_string().contains("positive"), "{err}");
        let ok = csr(&[(0, 1, 1.0), (0, 3, 2.0)], 1, &needed, 1, &c, "t").unwrap();
        assert_eq!(ok.offsets, vec![0, 2]);
        assert_eq!(ok.indices, vec![0, 1]);
    }
}
