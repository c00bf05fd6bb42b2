//! The all-reduce behind data-parallel training.
//!
//! Every replica computes the gradient of its shard of the global batch; a [`Collective`]
//! sums them so that each replica holds the same bits and applies the same Adam step. Sums
//! are taken in rank order by whoever owns a chunk, never in arrival order, so a run is
//! reproducible for a given world size. Implementations: [`Solo`] (one replica),
//! [`ThreadGroup`] (replicas as threads of one process), and, in the worker, one over timely's
//! channels between processes; NCCL comes with the GPU path behind the same trait.

use std::sync::{Arc, Barrier, Mutex, RwLock};

use crate::VaeError;

pub trait Collective {
    fn rank(&self) -> usize;
    fn world(&self) -> usize;
    /// Replaces `buf` on every replica by the element-wise sum over replicas.
    fn all_reduce(&mut self, buf: &mut [f32]) -> Result<(), VaeError>;
    /// The same for small vectors of statistics.
    fn all_reduce_f64(&mut self, buf: &mut [f64]) -> Result<(), VaeError>;
}

/// A world of one.
#[derive(Clone, Copy, Debug, Default)]
pub struct Solo;

impl Collective for Solo {
    fn rank(&self) -> usize {
        0
    }

    fn world(&self) -> usize {
        1
    }

    fn all_reduce(&mut self, _: &mut [f32]) -> Result<(), VaeError> {
        Ok(())
    }

    fn all_reduce_f64(&mut self, _: &mut [f64]) -> Result<(), VaeError> {
        Ok(())
    }
}

struct Shared {
    barrier: Barrier,
    /// Each replica's contribution.
    inputs: Vec<RwLock<Vec<f32>>>,
    /// The summed chunk each replica owns.
    chunks: Vec<Mutex<Vec<f32>>>,
    small: Vec<Mutex<Vec<f64>>>,
}

/// One member of a group of replicas that are threads of one process. Reduce-scatter then
/// all-gather through shared memory: replica `r` sums chunk `r` over all inputs in rank order.
pub struct ThreadGroup {
    rank: usize,
    shared: Arc<Shared>,
}

impl ThreadGroup {
    /// The members of a group of `world` replicas, rank order; hand one to each thread.
    pub fn new(world: usize) -> Vec<ThreadGroup> {
        let world = world.max(1);
        let shared = Arc::new(Shared {
            barrier: Barrier::new(world),
            inputs: (0..world).map(|_| RwLock::new(Vec::new())).collect(),
            chunks: (0..world).map(|_| Mutex::new(Vec::new())).collect(),
            small: (0..world).map(|_| Mutex::new(Vec::new())).collect(),
        });
        (0..world)
            .map(|rank| ThreadGroup {
                rank,
                shared: shared.clone(),
            })
            .collect()
    }
}

fn poisoned(what: &str) -> VaeError {
    VaeError::Collective(format!("another replica panicked during the {what}"))
}

fn chunk(len: usize, world: usize, r: usize) -> std::ops::Range<usize> {
    len * r / world..len * (r + 1) / world
}

impl Collective for ThreadGroup {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world(&self) -> usize {
        self.shared.inputs.len()
    }

    fn all_reduce(&mut self, buf: &mut [f32]) -> Result<(), VaeError> {
        let (world, s) = (self.world(), &self.shared);
        if world == 1 {
            return Ok(());
        }
        {
            let mut mine = s.inputs[self.rank]
                .write()
                .map_err(|_| poisoned("all-reduce"))?;
            mine.clear();
            mine.extend_from_slice(buf);
        }
        s.barrier.wait();
        let range = chunk(buf.len(), world, self.rank);
        let mut sum = vec![0f32; range.len()];
        for input in &s.inputs {
            let input = input.read().map_err(|_| poisoned("all-reduce"))?;
            if input.len() != buf.len() {
                return Err(VaeError::Collective(format!(
                    "replicas reduce buffers of {} and {} values",
                    input.len(),
                    buf.len()
                )));
            }
            for (t, v) in sum.iter_mut().zip(&input[range.clone()]) {
                *t += v;
            }
        }
        *s.chunks[self.rank]
            .lock()
            .map_err(|_| poisoned("all-reduce"))? = sum;
        s.barrier.wait();
        let len = buf.len();
        for r in 0..world {
            let c = s.chunks[r].lock().map_err(|_| poisoned("all-reduce"))?;
            buf[chunk(len, world, r)].copy_from_slice(&c);
        }
        // Nobody may overwrite an input or a chunk before everyone has read them.
        s.barrier.wait();
        Ok(())
    }

    fn all_reduce_f64(&mut self, buf: &mut [f64]) -> Result<(), VaeError> {
        let (world, s) = (self.world(), &self.shared);
        if world == 1 {
            return Ok(());
        }
        *s.small[self.rank]
            .lock()
            .map_err(|_| poisoned("all-reduce"))? = buf.to_vec();
        s.barrier.wait();
        let mut total = vec![0f64; buf.len()];
        for part in &s.small {
            let part = part.lock().map_err(|_| poisoned("all-reduce"))?;
            for (t, v) in total.iter_mut().zip(part.iter()) {
                *t += v;
            }
        }
        buf.copy_from_slice(&total);
        s.barrier.wait();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_groups_sum_in_rank_order_and_agree_bit_for_bit() {
        for world in [1, 2, 3, 4] {
            let members = ThreadGroup::new(world);
            let results: Vec<(Vec<f32>, Vec<f64>)> = std::thread::scope(|s| {
                let handles: Vec<_> = members
                    .into_iter()
                    .map(|mut m| {
                        s.spawn(move || {
                            let r = m.rank() as f32;
                            let mut out = Vec::new();
                            // Several rounds: buffers are reused between calls.
                            for round in 0..3 {
                                let mut v: Vec<f32> =
                                    (0..11).map(|i| r * 0.1 + i as f32 + round as f32).collect();
                                m.all_reduce(&mut v).unwrap();
                                out = v;
                            }
                            let mut small = vec![r as f64, 1.0];
                            m.all_reduce_f64(&mut small).unwrap();
                            (out, small)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let w = world as f32;
            for (i, &v) in results[0].0.iter().enumerate() {
                let mut expect = 0f32;
                for r in 0..world {
                    expect += r as f32 * 0.1 + i as f32 + 2.0;
                }
                assert_eq!(v, expect, "world {world} element {i}");
                assert!((v - (w * (i as f32 + 2.0) + 0.1 * w * (w - 1.0) / 2.0)).abs() < 1e-4);
            }
            for r in &results {
                assert_eq!(r, &results[0]);
            }
            assert_eq!(results[0].1[1], world as f64);
        }
    }
}
