//! Opening NCCL for a GPU phase (the VAE's gradients, ALS's factor rows): all members agree
//! first that every one of them can use it, then rank 0 makes the communicator's id, publishes
//! it through the coordinator's rendezvous, and every rank joins. Anything short of that keeps
//! the phase on timely's channels, with one log line saying why.

use std::sync::Arc;
use std::time::Duration;

use archetype_kernels::cuda::device::CudaDevice;
use archetype_kernels::cuda::libraries::Libraries;
use archetype_kernels::cuda::nccl::{self, Nccl};
use tracing::info;

use crate::rendezvous::Rendezvous;

/// The rendezvous name of a phase's NCCL id.
pub const NCCL_ID: &str = "nccl-id";

/// How long ranks wait for rank 0's NCCL id (rank 0 makes it at once; the wait covers
/// members that reach the phase late).
const NCCL_ID_WAIT: Duration = Duration::from_secs(120);

/// Why this member cannot take part in NCCL, if it cannot.
pub fn unusable(
    on_gpu: bool,
    threads: usize,
    world: usize,
    has_rendezvous: bool,
    libs: &Libraries,
) -> Option<String> {
    if world < 2 {
        return Some("one replica has nothing to exchange".into());
    }
    if !on_gpu {
        return Some("a member computes on the CPU".into());
    }
    if threads > 1 {
        // NCCL takes one rank per GPU; threads of one process share its GPU.
        return Some(format!(
            "{threads} threads per process share a GPU (NCCL needs one GPU per rank; set \
             cluster.threads = 1 on GPU workers)"
        ));
    }
    if !libs.nccl {
        return Some("libnccl.so was not found on a member".into());
    }
    if !has_rendezvous {
        return Some("no coordinator to hand out the NCCL id".into());
    }
    None
}

/// What a phase offers for NCCL.
pub struct Offer<'a> {
    /// For the log lines: "VAE gradients", "ALS factor rows".
    pub what: &'a str,
    pub rank: usize,
    pub world: usize,
    pub threads: usize,
    pub device: Option<&'a Arc<CudaDevice>>,
    pub rendezvous: Option<&'a Rendezvous>,
}

/// Opens NCCL when every member can use it. `any_unusable` sums a flag over the members (the
/// phase's own host collective), so that either every rank joins or none waits.
pub fn open(
    offer: Offer<'_>,
    any_unusable: impl FnOnce(f64) -> Result<f64, String>,
) -> Result<Option<Nccl>, String> {
    let Offer {
        what,
        rank,
        world,
        threads,
        device,
        rendezvous,
    } = offer;
    let why = unusable(
        device.is_some(),
        threads,
        world,
        rendezvous.is_some(),
        &Libraries::probe(),
    );
    let votes = any_unusable(f64::from(u8::from(why.is_some())))?;
    let (Some(dev), Some(rdv), true) = (device, rendezvous, votes == 0.0) else {
        if rank == 0 && world > 1 {
            info!(
                "{what} exchanged over timely: {}",
                why.unwrap_or_else(|| "another member cannot use NCCL".into())
            );
        }
        return Ok(None);
    };
    let id = if rank == 0 {
        match nccl::unique_id() {
            Ok(id) => {
                rdv.publish(NCCL_ID, &id)?;
                id.to_vec()
            }
            Err(e) => {
                // An empty id tells the waiting ranks at once instead of after their timeout.
                let _ = rdv.publish(NCCL_ID, &[]);
                return Err(format!("rank 0 cannot make an NCCL id: {e}"));
            }
        }
    } else {
        let id = rdv.wait(NCCL_ID, NCCL_ID_WAIT)?;
        if id.is_empty() {
            return Err("rank 0 could not make an NCCL id".into());
        }
        id
    };
    let comm = Nccl::open(dev, &id, rank, world).map_err(|e| format!("NCCL rank {rank}: {e}"))?;
    if rank == 0 {
        info!(world, group = rdv.group(), "{what} exchanged over NCCL");
    }
    Ok(Some(comm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nccl_only_when_every_condition_holds() {
        let all = Libraries {
            driver: true,
            nvrtc: true,
            cublas: true,
            nccl: true,
        };
        let no_nccl = Libraries { nccl: false, ..all };
        assert_eq!(unusable(true, 1, 4, true, &all), None);
        for (gpu, threads, world, rdv, libs, reason) in [
            (true, 1, 1, true, &all, "one replica"),
            (false, 1, 4, true, &all, "CPU"),
            (true, 2, 4, true, &all, "share a GPU"),
            (true, 1, 4, true, &no_nccl, "libnccl.so"),
            (true, 1, 4, false, &all, "no coordinator"),
        ] {
            let why = unusable(gpu, threads, world, rdv, libs);
            assert!(
                why.as_deref().is_some_and(|w| w.contains(reason)),
                "{gpu} {threads} {world} {rdv}: {why:?}"
            );
        }
    }

    /// Without a GPU every member votes "unusable" and the phase stays on timely, whatever
    /// the others said; the vote is taken exactly once.
    #[test]
    fn a_member_without_a_gpu_keeps_everyone_on_timely() {
        for others in [0.0, 2.0] {
            let mut calls = 0;
            let r = open(
                Offer {
                    what: "test",
                    rank: 1,
                    world: 3,
                    threads: 1,
                    device: None,
                    rendezvous: None,
                },
                |mine| {
                    calls += 1;
                    assert_eq!(mine, 1.0, "this member cannot");
                    Ok(mine + others)
                },
            );
            assert!(matches!(r, Ok(None)));
            assert_eq!(calls, 1);
        }
        let e = open(
            Offer {
                what: "test",
                rank: 0,
                world: 2,
                threads: 1,
                device: None,
                rendezvous: None,
            },
            |_| Err("a peer failed".into()),
        );
        assert_eq!(e.err().as_deref(), Some("a peer failed"));
    }
}
