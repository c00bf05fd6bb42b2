//! The compute backend of this worker process: the job's `[compute] device` (or the worker's
//! `--device`) resolved once per phase against what this process can load and see.

use std::sync::Arc;

use archetype_job::config::{ComputeConfig, DeviceKind, GemmKind};
use archetype_kernels::backend::{select, DeviceChoice, Selected};
use archetype_kernels::cuda::compile::{default_cache_dir, PtxCache};
use archetype_kernels::cuda::device::{CudaDevice, GemmPrecision};
use tracing::{info, warn};

/// What this worker was told at start: an override of the job's device and its GPU ordinal
/// (one process per GPU; under Kubernetes the device plugin makes the one it grants number 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceOptions {
    pub device: Option<DeviceKind>,
    pub gpu: usize,
}

/// The backend a phase runs on.
#[derive(Clone)]
pub enum Backend {
    Cpu,
    Cuda(Arc<CudaDevice>),
}

impl Backend {
    /// For reports: `cpu`, or `cuda:<ordinal> <name> (sm_XY)`.
    pub fn describe(&self) -> String {
        match self {
            Backend::Cpu => "cpu".into(),
            Backend::Cuda(d) => {
                let i = d.info();
                let (ma, mi) = i.compute_capability;
                format!("cuda:{} {} (sm_{ma}{mi})", i.ordinal, i.name)
            }
        }
    }

    pub fn device(&self) -> Option<&Arc<CudaDevice>> {
        match self {
            Backend::Cpu => None,
            Backend::Cuda(d) => Some(d),
        }
    }
}

pub fn choice(kind: DeviceKind) -> DeviceChoice {
    match kind {
        DeviceKind::Auto => DeviceChoice::Auto,
        DeviceKind::Cuda => DeviceChoice::Cuda,
        DeviceKind::Cpu => DeviceChoice::Cpu,
    }
}

/// Resolves the backend, logging the outcome once: a fallback from `auto` is a warning that
/// says why, a `cuda` that cannot be had is an error for the task.
pub fn resolve(cfg: &ComputeConfig, opts: DeviceOptions, phase: &str) -> Result<Backend, String> {
    let kind = opts.device.unwrap_or(cfg.device);
    let want = choice(kind);
    match select(want, opts.gpu)? {
        Selected::Cpu { fallback: None } => {
            info!(phase, "compute backend: cpu");
            Ok(Backend::Cpu)
        }
        Selected::Cpu {
            fallback: Some(why),
        } => {
            warn!(phase, "{why}");
            Ok(Backend::Cpu)
        }
        Selected::Cuda { ordinal, devices } => {
            let precision = match cfg.gemm {
                GemmKind::F32 => GemmPrecision::F32,
                GemmKind::Tf32 => GemmPrecision::Tf32,
                GemmKind::Bf16 => GemmPrecision::Bf16,
            };
            let cache = PtxCache::new(default_cache_dir());
            match CudaDevice::open(ordinal, &cache, precision) {
                Ok(d) => {
                    for line in &d.info().programs {
                        info!(phase, "{line}");
                    }
                    let b = Backend::Cuda(Arc::new(d));
                    info!(phase, devices, "compute backend: {}", b.describe());
                    Ok(b)
                }
                Err(e) if want == DeviceChoice::Auto => {
                    warn!(phase, "device = auto: using the CPU backend because GPU {ordinal} did not open: {e}");
                    Ok(Backend::Cpu)
                }
                Err(e) => Err(format!(
                    "device = cuda, but GPU {ordinal} did not open: {e}"
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_override_wins_and_cpu_needs_nothing() {
        let cfg = ComputeConfig {
            device: DeviceKind::Cuda,
            gemm: GemmKind::F32,
            ..ComputeConfig::default()
        };
        let opts = DeviceOptions {
            device: Some(DeviceKind::Cpu),
            gpu: 0,
        };
        assert!(matches!(resolve(&cfg, opts, "test"), Ok(Backend::Cpu)));
        assert_eq!(Backend::Cpu.describe(), "cpu");
    }

    #[test]
    fn auto_always_gives_a_backend_and_cuda_on_a_machine_without_one_is_an_error() {
        let auto = ComputeConfig::default();
        let b = resolve(&auto, DeviceOptions::default(), "test");
        assert!(b.is_ok(), "{:?}", b.err());
        if matches!(b, Ok(Backend::Cpu)) {
            // No GPU here: asking for one must fail with the reason, not panic.
            let cuda = ComputeConfig {
                device: DeviceKind::Cuda,
                gemm: GemmKind::F32,
                ..ComputeConfig::default()
            };
            match resolve(&cuda, DeviceOptions::default(), "test") {
                Err(e) => assert!(e.starts_with("device = cuda"), "{e}"),
                Ok(b) => panic!("cuda without a GPU gave {}", b.describe()),
            }
        }
    }
}
