//! NCCL between the GPUs of data-parallel replicas: one communicator per process and GPU.
//!
//! Flow: rank 0 makes the communicator's unique id ([`unique_id`], 128 opaque bytes naming
//! its bootstrap socket); the job hands those bytes to every other rank (the worker asks the
//! coordinator, see the `Rendezvous` RPC); each rank then opens its [`Nccl`] with the same id,
//! its rank and the world size, which blocks until all ranks have joined.
//!
//! [`GradientReducer`] overlaps the gradient's all-reduce with the backward pass: the model
//! says, layer by layer from the output back, which suffix of the flat gradient is final;
//! the reducer sums that suffix in buckets on its own stream while the compute stream goes on
//! with the layers below, and [`GradientReducer::finish`] makes the compute stream wait for the
//! last bucket before the optimiser reads the sums. Every rank issues the same buckets in the
//! same order (they are cut from the same layout), which NCCL requires.
//!
//! Sums are NCCL's (ring or tree, by size): deterministic from run to run on one topology,
//! but not the rank-order sums of the host collective, so a GPU run and a CPU run of the same
//! seed agree to rounding, not bit for bit.

use std::ffi::CStr;
use std::ops::Range;
use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, DevicePtr};
use cudarc::nccl::{result as nccl, sys};

use super::device::CudaDevice;
use super::libraries::Libraries;
use super::CudaError;

/// Size of an NCCL unique id.
pub const ID_BYTES: usize = 128;

fn nccl_error(what: &str, e: nccl::NcclError) -> CudaError {
    // SAFETY: ncclGetErrorString returns a static NUL-terminated string for any result code.
    let text = unsafe {
        let p = sys::ncclGetErrorString(e.0);
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    CudaError::Nccl(format!("{what}: {:?} ({text})", e.0))
}

fn require_library() -> Result<(), CudaError> {
    if Libraries::probe().nccl {
        Ok(())
    } else {
        Err(CudaError::Unavailable(
            "libnccl.so was not found (the PyPI wheel nvidia-nccl-cu12 ships libnccl.so.2 only: \
             link libnccl.so to it in a folder on LD_LIBRARY_PATH)"
                .into(),
        ))
    }
}

/// A new communicator id, made by rank 0 (it opens rank 0's bootstrap listener, so the ranks
/// must be able to reach this process).
pub fn unique_id() -> Result<[u8; ID_BYTES], CudaError> {
    require_library()?;
    let id = nccl::get_uniqueid().map_err(|e| nccl_error("ncclGetUniqueId", e))?;
    let mut out = [0u8; ID_BYTES];
    for (o, c) in out.iter_mut().zip(id.internal.iter()) {
        *o = *c as u8;
    }
    Ok(out)
}

/// This rank's member of one communicator, bound to a stream of its own.
pub struct Nccl {
    comm: sys::ncclComm_t,
    stream: Arc<CudaStream>,
    rank: usize,
    world: usize,
}

impl Nccl {
    /// Joins the communicator `id` as `rank` of `world` on `dev`; returns once every rank has
    /// joined.
    ///
    /// # Errors
    /// A missing library, a malformed id, a rank outside the world, NCCL's own errors.
    pub fn open(dev: &CudaDevice, id: &[u8], rank: usize, world: usize) -> Result<Self, CudaError> {
        require_library()?;
        let bytes: &[u8; ID_BYTES] = id.try_into().map_err(|_| {
            CudaError::Nccl(format!(
                "an NCCL id has {ID_BYTES} bytes, this one {}",
                id.len()
            ))
        })?;
        if world == 0 || rank >= world {
            return Err(CudaError::Nccl(format!(
                "rank {rank} of a world of {world}"
            )));
        }
        let mut internal = [0 as std::ffi::c_char; ID_BYTES];
        for (i, b) in internal.iter_mut().zip(bytes) {
            *i = *b as std::ffi::c_char;
        }
        let stream = dev.context().new_stream()?;
        let mut comm = std::mem::MaybeUninit::uninit();
        // SAFETY: `comm` is written by ncclCommInitRank before it is read; the context is bound
        // to this thread by `new_stream` above, which is the device NCCL attaches to.
        let comm = unsafe {
            nccl::comm_init_rank(
                comm.as_mut_ptr(),
                world as i32,
                sys::ncclUniqueId { internal },
                rank as i32,
            )
            .map_err(|e| nccl_error("ncclCommInitRank", e))?;
            comm.assume_init()
        };
        Ok(Nccl {
            comm,
            stream,
            rank,
            world,
        })
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn world(&self) -> usize {
        self.world
    }

    /// Sums `range` of `buf` over the ranks, in place, on the communicator's stream. The caller orders
    /// it against other streams (see [`GradientReducer`]).
    fn all_reduce_range(
        &self,
        buf: &CudaSlice<f32>,
        range: Range<usize>,
        on: &CudaStream,
    ) -> Result<(), CudaError> {
        if range.is_empty() {
            return Ok(());
        }
        if range.end > buf.len() {
            return Err(super::shape(
                "nccl all-reduce",
                format!("range {range:?} of a buffer of {}", buf.len()),
            ));
        }
        // The pointer is taken on the compute stream `on`: cudarc's event tracking then
        // records nothing on the NCCL stream, so later writes to other ranges of `buf` on the
        // compute stream do not wait for this bucket; ordering is explicit (events).
        let (base, _sync) = buf.device_ptr(on);
        let ptr = base + (range.start * std::mem::size_of::<f32>()) as u64;
        // SAFETY: `ptr..ptr + len` lies in `buf` (checked above), which outlives the call's
        // completion because the caller joins the NCCL stream before releasing it.
        unsafe {
            nccl::all_reduce(
                ptr as *const std::ffi::c_void,
                ptr as *mut std::ffi::c_void,
                range.len(),
                sys::ncclDataType_t::ncclFloat32,
                sys::ncclRedOp_t::ncclSum,
                self.comm,
                self.stream.cu_stream() as sys::cudaStream_t,
            )
        }
        .map_err(|e| nccl_error("ncclAllReduce", e))?;
        Ok(())
    }

    /// `recv` = every rank's `send` in rank order (`recv` holds `world x send.len()`),
    /// ordered after the work queued on `compute` and before whatever is queued there next.
    pub fn all_gather(
        &self,
        send: &CudaSlice<f32>,
        recv: &mut CudaSlice<f32>,
        compute: &CudaStream,
    ) -> Result<(), CudaError> {
        if recv.len() != send.len() * self.world {
            return Err(super::shape(
                "nccl all-gather",
                format!(
                    "{} values received for {} sent by each of {} ranks",
                    recv.len(),
                    send.len(),
                    self.world
                ),
            ));
        }
        if send.is_empty() {
            return Ok(());
        }
        self.stream.join(compute)?;
        {
            let (ps, _rs) = send.device_ptr(compute);
            let (pr, _rr) = recv.device_ptr(compute);
            // SAFETY: the lengths were checked; both buffers outlive the call, since the
            // compute stream waits for the NCCL stream below before anything else uses them.
            unsafe {
                nccl::all_gather(
                    ps as *const std::ffi::c_void,
                    pr as *mut std::ffi::c_void,
                    send.len(),
                    sys::ncclDataType_t::ncclFloat32,
                    self.comm,
                    self.stream.cu_stream() as sys::cudaStream_t,
                )
            }
            .map_err(|e| nccl_error("ncclAllGather", e))?;
        }
        compute.join(&self.stream)?;
        Ok(())
    }
}

impl Drop for Nccl {
    fn drop(&mut self) {
        // SAFETY: the communicator was initialised in `open` and is destroyed once. Abort
        // rather than destroy: destroy waits for peers, and a dropped communicator is usually
        // one whose peers have gone.
        let _ = unsafe { nccl::comm_abort(self.comm) };
    }
}

/// The buckets that sum `ready`, a range of a gradient whose values above `ready.end` are
/// already on their way: cut from the top down in pieces of at most `bucket` values, the
/// order in which a backward pass finishes them.
pub fn buckets(ready: Range<usize>, bucket: usize) -> Vec<Range<usize>> {
    let bucket = bucket.max(1);
    let mut out = Vec::new();
    let mut end = ready.end;
    while end > ready.start {
        let start = end.saturating_sub(bucket).max(ready.start);
        out.push(start..end);
        end = start;
    }
    out
}

/// Tracks which suffix of a gradient has been handed to the all-reduce in this step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watermark {
    len: usize,
    /// Values from here to `len` are summed or being summed.
    sent_from: usize,
}

impl Watermark {
    pub fn new(len: usize) -> Self {
        Watermark {
            len,
            sent_from: len,
        }
    }

    /// The suffix from `start` is final: the part not yet sent. A watermark only moves down;
    /// a `start` above it gives an empty range.
    pub fn advance(&mut self, start: usize) -> Range<usize> {
        let start = start.min(self.len);
        if start >= self.sent_from {
            return start..start;
        }
        let r = start..self.sent_from;
        self.sent_from = start;
        r
    }

    /// Whether the whole gradient has been sent.
    pub fn done(&self) -> bool {
        self.sent_from == 0
    }
}

/// The all-reduce of one gradient per step, overlapped with the backward pass that writes it
/// on the device's compute stream.
pub struct GradientReducer {
    nccl: Nccl,
    compute: Arc<CudaStream>,
    bucket: usize,
    mark: Watermark,
    /// Buckets issued in the current step (for reports and tests).
    pub issued: Vec<Range<usize>>,
}

impl GradientReducer {
    /// `bucket_bytes` of f32 values per NCCL call.
    pub fn new(nccl: Nccl, dev: &CudaDevice, bucket_bytes: usize) -> Self {
        GradientReducer {
            nccl,
            compute: dev.stream().clone(),
            bucket: (bucket_bytes / std::mem::size_of::<f32>()).max(1),
            mark: Watermark::new(0),
            issued: Vec::new(),
        }
    }

    pub fn nccl(&self) -> &Nccl {
        &self.nccl
    }

    /// A new step over a gradient of `len` values.
    pub fn begin(&mut self, len: usize) {
        self.mark = Watermark::new(len);
        self.issued.clear();
    }

    /// The values of `grads` from `start` up are final once the compute stream's work so far
    /// has run: sum the part not yet sent, behind that work, on the NCCL stream.
    pub fn ready(&mut self, grads: &CudaSlice<f32>, start: usize) -> Result<(), CudaError> {
        let range = self.mark.advance(start);
        if range.is_empty() {
            return Ok(());
        }
        let written = self.compute.record_event(None)?;
        self.nccl.stream.wait(&written)?;
        for b in buckets(range, self.bucket) {
            self.nccl
                .all_reduce_range(grads, b.clone(), &self.compute)?;
            self.issued.push(b);
        }
        Ok(())
    }

    /// Sends what is left and makes the compute stream wait for every bucket: after this,
    /// work queued on the compute stream sees the sums.
    pub fn finish(&mut self, grads: &CudaSlice<f32>) -> Result<(), CudaError> {
        self.ready(grads, 0)?;
        self.compute.join(&self.nccl.stream)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_range_from_the_top_within_the_size() {
        for (range, size) in [(0..10, 3), (5..5, 4), (3..100, 100), (0..1, 1), (7..50, 8)] {
            let b = buckets(range.clone(), size);
            let mut covered = vec![0u32; range.end];
            let mut prev_start = range.end;
            for r in &b {
                assert!(r.len() <= size && !r.is_empty(), "{r:?} of size {size}");
                assert_eq!(r.end, prev_start, "buckets go down without gaps");
                prev_start = r.start;
                for i in r.clone() {
                    covered[i] += 1;
                }
            }
            for (i, c) in covered.iter().enumerate() {
                assert_eq!(*c, u32::from(range.contains(&i)), "value {i} of {range:?}");
            }
        }
        assert_eq!(
            buckets(0..10, 0).len(),
            10,
            "a zero size means one value each"
        );
    }

    #[test]
    fn watermark_sends_each_value_once_and_only_moves_down() {
        let mut w = Watermark::new(100);
        assert_eq!(w.advance(80), 80..100);
        assert_eq!(w.advance(90), 90..90, "already sent");
        assert_eq!(w.advance(80), 80..80);
        assert_eq!(w.advance(500), 100..100, "clamped to the length");
        assert!(!w.done());
        assert_eq!(w.advance(30), 30..80);
        assert_eq!(w.advance(0), 0..30);
        assert!(w.done());
        assert_eq!(w.advance(0), 0..0);
    }

    #[test]
    fn without_the_library_nccl_is_a_named_error_not_a_panic() {
        if Libraries::probe().nccl {
            return;
        }
        match unique_id() {
            Err(CudaError::Unavailable(m)) => assert!(m.contains("libnccl.so"), "{m}"),
            other => panic!("expected Unavailable, got {:?}", other.map(|_| ())),
        }
    }
}
