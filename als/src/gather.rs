//! The factor exchange of ALS on GPUs: each half-step's fixed side gathered over NCCL instead
//! of routed over timely.
//!
//! Every rank holds its block of a side (rows `w, w + W, w + 2W, ...`, see [`crate::blocks`]),
//! padded to the largest block's row count; `ncclAllGather` lays the blocks side by side in
//! rank order on every GPU, so global row `g` sits at `owner(g) * rows_max + local(g)`. The
//! block that solves next then picks the rows it needs ([`crate::blocks::Block::needed`], in
//! that order) with one gather kernel: the same compact copy `route` builds from timely
//! messages, without the host or the host network. The whole side passes every GPU once per
//! half-step (NVLink or InfiniBand bandwidth), where timely sends each needed row once over
//! TCP.

use archetype_kernels::cuda::cudarc::driver::CudaSlice;
use archetype_kernels::cuda::device::CudaDevice;
use archetype_kernels::cuda::nccl::Nccl;
use archetype_kernels::cuda::CudaError;

use crate::blocks;

/// Rows of the largest block of a side of `n` rows over `peers` (block 0's).
pub fn rows_max(n: usize, peers: usize) -> usize {
    blocks::owned(n, 0, peers.max(1))
}

/// Where each of `needed` (global rows of a side of `n` rows) lies in that side gathered over
/// `peers` padded blocks.
pub fn positions(needed: &[u32], n: usize, peers: usize) -> Vec<u64> {
    let per = rows_max(n, peers) as u64;
    needed
        .iter()
        .map(|&g| blocks::owner(g, peers) as u64 * per + blocks::local(g, peers) as u64)
        .collect()
}

/// What the all-gather leaves on every GPU, on the host: the blocks (each `own x k`) padded
/// with zeros to `rows_max` rows and laid side by side in rank order. For tests.
pub fn gathered_host(blocks: &[Vec<f32>], rows_max: usize, k: usize) -> Vec<f32> {
    let mut out = vec![0f32; blocks.len() * rows_max * k];
    for (w, b) in blocks.iter().enumerate() {
        out[w * rows_max * k..w * rows_max * k + b.len()].copy_from_slice(b);
    }
    out
}

/// Which side's rows are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Users,
    Items,
}

/// The device buffers of one side's exchange, allocated once.
struct SideBuffers {
    /// Rows of the largest block: none means the side is empty.
    per: usize,
    own: usize,
    send: CudaSlice<f32>,
    recv: CudaSlice<f32>,
    pos: Option<CudaSlice<u64>>,
    out: CudaSlice<f32>,
    picks: usize,
}

/// One rank's exchange of both sides over NCCL.
pub struct NcclExchange<'a> {
    nccl: &'a Nccl,
    dev: &'a CudaDevice,
    k: usize,
    users: SideBuffers,
    items: SideBuffers,
}

/// Side sizes and what each block needs from the other side.
pub struct ExchangePlan<'p> {
    pub k: usize,
    pub users: usize,
    pub items: usize,
    /// User rows owned here.
    pub own_users: usize,
    pub own_items: usize,
    /// Items the user block needs (its compact copy's order).
    pub items_for_users: &'p [u32],
    /// Users the item block needs.
    pub users_for_items: &'p [u32],
}

impl<'a> NcclExchange<'a> {
    /// # Errors
    /// When the communicator's rank or world is not this block's, and device allocations.
    pub fn new(
        nccl: &'a Nccl,
        dev: &'a CudaDevice,
        w: usize,
        peers: usize,
        plan: &ExchangePlan<'_>,
    ) -> Result<Self, CudaError> {
        if (nccl.rank(), nccl.world()) != (w, peers) {
            return Err(CudaError::Nccl(format!(
                "NCCL rank {} of {} for ALS block {w} of {peers}",
                nccl.rank(),
                nccl.world()
            )));
        }
        let k = plan.k;
        let side = |n: usize, own: usize, needed: &[u32]| -> Result<SideBuffers, CudaError> {
            let per = rows_max(n, peers);
            let pos = positions(needed, n, peers);
            Ok(SideBuffers {
                per,
                own,
                send: dev.zeros::<f32>((per * k).max(1))?,
                recv: dev.zeros::<f32>((peers * per * k).max(1))?,
                pos: if pos.is_empty() {
                    None
                } else {
                    Some(dev.upload(&pos)?)
                },
                out: dev.zeros::<f32>((pos.len() * k).max(1))?,
                picks: pos.len(),
            })
        };
        Ok(NcclExchange {
            nccl,
            dev,
            k,
            users: side(plan.users, plan.own_users, plan.users_for_items)?,
            items: side(plan.items, plan.own_items, plan.items_for_users)?,
        })
    }

    /// The other side's compact copy of side `from`, whose rows owned here are `own`
    /// (`own rows x k`). Every rank calls it with the same `from`, in the same order.
    pub fn copy(&mut self, from: Side, own: &[f32]) -> Result<Vec<f32>, CudaError> {
        let k = self.k;
        let b = match from {
            Side::Users => &mut self.users,
            Side::Items => &mut self.items,
        };
        if own.len() != b.own * k {
            return Err(CudaError::Shape {
                op: "ALS exchange",
                what: format!("{} values for {} rows of {k}", own.len(), b.own),
            });
        }
        if b.per == 0 {
            return Ok(Vec::new());
        }
        let stream = self.dev.stream();
        if !own.is_empty() {
            stream.memcpy_htod(own, &mut b.send.slice_mut(..own.len()))?;
        }
        self.nccl.all_gather(&b.send, &mut b.recv, stream)?;
        let Some(pos) = &b.pos else {
            return Ok(Vec::new());
        };
        self.dev.gather_rows(&mut b.out, &b.recv, pos, k)?;
        let mut host = self.dev.download(&b.out)?;
        host.truncate(b.picks * k);
        Ok(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gathered layout and the positions give every needed row's values, for worlds
    /// larger and smaller than the side and blocks of unequal size.
    #[test]
    fn positions_pick_the_needed_rows_from_the_gathered_blocks() {
        let k = 3;
        let value = |g: u32, c: usize| g as f32 * 10.0 + c as f32;
        for (n, peers) in [(10, 1), (10, 3), (7, 4), (2, 5), (100, 7)] {
            let per = rows_max(n, peers);
            let blocks_: Vec<Vec<f32>> = (0..peers)
                .map(|w| {
                    let own = blocks::owned(n, w, peers);
                    assert!(own <= per);
                    (0..own)
                        .flat_map(|l| {
                            let g = blocks::global(l, w, peers);
                            (0..k).map(move |c| value(g, c))
                        })
                        .collect()
                })
                .collect();
            let all = gathered_host(&blocks_, per, k);
            let needed: Vec<u32> = (0..n as u32).filter(|g| g % 3 != 1).collect();
            let pos = positions(&needed, n, peers);
            let mut out = vec![0f32; needed.len() * k];
            archetype_kernels::cpu::als::gather_rows(&all, k, &pos, &mut out).unwrap();
            for (j, &g) in needed.iter().enumerate() {
                for c in 0..k {
                    assert_eq!(out[j * k + c], value(g, c), "n {n} peers {peers} row {g}");
                }
            }
        }
    }
}
