//! The worker's own Prometheus metrics (served with `--metrics-listen`).
//!
//! The coordinator exports the job-wide view (sums over members); a worker exports what only
//! it can see: which task it runs, its share of the input, its replica's training progress,
//! the time its replicas spend in gradient all-reduce, and the memory of its GPU. Every metric
//! is a gauge named `archetype_worker_*` with `job` and `worker` labels (the process index in
//! the task's cluster).
//!
//! | metric | meaning |
//! |---|---|
//! | `archetype_worker_task_phase` | 1 for the phase the worker is in (`phase` label), 0 for the others it was in |
//! | `archetype_worker_events_read_total` | events this worker has read in the current aggregation |
//! | `archetype_worker_bytes_read_total` | input bytes this worker has read |
//! | `archetype_worker_training_step` | optimiser steps of the model in training (`model` label) |
//! | `archetype_worker_training_loss` | the last step's loss (VAE) or iteration's loss (ALS) |
//! | `archetype_worker_validation_ndcg` | the last validation NDCG@100 |
//! | `archetype_worker_allreduce_seconds_total` | seconds this process's replicas spent in all-reduce |
//! | `archetype_worker_gpu_memory_used_bytes` | memory in use on this worker's GPU (`gpu` label) |
//! | `archetype_worker_gpu_memory_total_bytes` | that GPU's memory |

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use metrics::{describe_gauge, gauge};

const TASK_PHASE: &str = "archetype_worker_task_phase";
const EVENTS_READ: &str = "archetype_worker_events_read_total";
const BYTES_READ: &str = "archetype_worker_bytes_read_total";
const TRAINING_STEP: &str = "archetype_worker_training_step";
const TRAINING_LOSS: &str = "archetype_worker_training_loss";
const VALIDATION_NDCG: &str = "archetype_worker_validation_ndcg";
const ALLREDUCE_SECONDS: &str = "archetype_worker_allreduce_seconds_total";
const GPU_USED: &str = "archetype_worker_gpu_memory_used_bytes";
const GPU_TOTAL: &str = "archetype_worker_gpu_memory_total_bytes";

/// Registers the `# HELP` lines (passed to the endpoint at start).
pub fn describe() {
    describe_gauge!(
        TASK_PHASE,
        "1 for the phase this worker is in, 0 for phases it left."
    );
    describe_gauge!(
        EVENTS_READ,
        "Listening events this worker has read in the aggregation."
    );
    describe_gauge!(
        BYTES_READ,
        "Input bytes this worker has read in the aggregation."
    );
    describe_gauge!(
        TRAINING_STEP,
        "Optimiser steps (VAE) or iterations (ALS) of the model in training."
    );
    describe_gauge!(TRAINING_LOSS, "The last training loss this worker saw.");
    describe_gauge!(
        VALIDATION_NDCG,
        "The last validation NDCG@100 this worker saw."
    );
    describe_gauge!(
        ALLREDUCE_SECONDS,
        "Seconds this process's replicas spent in gradient all-reduce."
    );
    describe_gauge!(GPU_USED, "Memory in use on this worker's GPU.");
    describe_gauge!(GPU_TOTAL, "Memory of this worker's GPU.");
}

/// Identifies the series of one task: the job and this member's index.
#[derive(Clone, Debug)]
pub struct Labels {
    pub job: String,
    pub worker: String,
}

impl Labels {
    pub fn new(job: &str, process_index: u32) -> Labels {
        Labels {
            job: job.to_string(),
            worker: process_index.to_string(),
        }
    }
}

static LAST_PHASE: Mutex<Option<(String, String)>> = Mutex::new(None);

/// Enters `phase` (and sets the previous one to 0).
pub fn set_phase(l: &Labels, phase: &str) {
    let Ok(mut last) = LAST_PHASE.lock() else {
        return;
    };
    if let Some((job, old)) = last.as_ref() {
        if job == &l.job && old == phase {
            return;
        }
        gauge!(TASK_PHASE, "job" => job.clone(), "worker" => l.worker.clone(), "phase" => old.clone())
            .set(0.0);
    }
    gauge!(TASK_PHASE, "job" => l.job.clone(), "worker" => l.worker.clone(), "phase" => phase.to_string())
        .set(1.0);
    *last = Some((l.job.clone(), phase.to_string()));
}

pub fn set_read(l: &Labels, events: u64, bytes: u64) {
    gauge!(EVENTS_READ, "job" => l.job.clone(), "worker" => l.worker.clone()).set(events as f64);
    gauge!(BYTES_READ, "job" => l.job.clone(), "worker" => l.worker.clone()).set(bytes as f64);
}

pub fn set_training(l: &Labels, model: &str, step: f64, loss: f64, ndcg: Option<f64>) {
    let labels = [
        ("job", l.job.clone()),
        ("worker", l.worker.clone()),
        ("model", model.to_string()),
    ];
    gauge!(TRAINING_STEP, &labels).set(step);
    gauge!(TRAINING_LOSS, &labels).set(loss);
    if let Some(n) = ndcg {
        gauge!(VALIDATION_NDCG, &labels).set(n);
    }
}

/// Nanoseconds all this process's replicas spent in all-reduce, since it started.
static ALLREDUCE_NANOS: AtomicU64 = AtomicU64::new(0);

/// Called by the collective around each all-reduce.
pub fn add_allreduce(elapsed: std::time::Duration) {
    ALLREDUCE_NANOS.fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
}

pub fn allreduce_seconds() -> f64 {
    ALLREDUCE_NANOS.load(Ordering::Relaxed) as f64 * 1e-9
}

pub fn publish_allreduce(l: &Labels) {
    gauge!(ALLREDUCE_SECONDS, "job" => l.job.clone(), "worker" => l.worker.clone())
        .set(allreduce_seconds());
}

pub fn set_gpu_memory(gpu: usize, used: u64, total: u64) {
    gauge!(GPU_USED, "gpu" => gpu.to_string()).set(used as f64);
    gauge!(GPU_TOTAL, "gpu" => gpu.to_string()).set(total as f64);
}
