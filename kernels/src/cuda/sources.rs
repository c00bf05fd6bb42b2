//! The CUDA C sources under `kernels/cuda/`, embedded in the binary so that a deployed worker
//! compiles them with NVRTC without the source tree, and the kernels each one defines.

/// One `.cu` file and the `extern "C"` kernels it defines.
#[derive(Clone, Copy, Debug)]
pub struct Program {
    /// File name under `kernels/cuda/`.
    pub file: &'static str,
    raw: &'static str,
    /// Entry points, as the launchers name them.
    pub kernels: &'static [&'static str],
}

const COMMON: &str = include_str!("../../cuda/common.cuh");
const INCLUDE_LINE: &str = "#include \"common.cuh\"";

impl Program {
    /// A program from any source (tests, experiments); the shipped ones are [`PROGRAMS`].
    pub const fn new(
        file: &'static str,
        raw: &'static str,
        kernels: &'static [&'static str],
    ) -> Self {
        Program { file, raw, kernels }
    }

    /// The source as NVRTC gets it: `common.cuh` pasted over its include line, since NVRTC
    /// has no include path at run time.
    pub fn source(&self) -> String {
        self.raw.replacen(INCLUDE_LINE, COMMON, 1)
    }
}

macro_rules! program {
    ($file:literal, [$($k:literal),* $(,)?]) => {
        Program {
            file: $file,
            raw: include_str!(concat!("../../cuda/", $file)),
            kernels: &[$($k),*],
        }
    };
}

/// Every program; the launchers in [`super::device`] load them all at start.
pub const PROGRAMS: &[Program] = &[
    program!(
        "dense.cu",
        [
            "bias_activation_f32",
            "activation_backward_f32",
            "column_sums_f32"
        ]
    ),
    program!(
        "latent.cu",
        [
            "reparameterise_f32",
            "reparameterise_backward_f32",
            "kl_divergence_f32"
        ]
    ),
    program!("softmax.cu", ["multinomial_nll_f32"]),
    program!("adam.cu", ["adam_step_f32"]),
    program!("sparse.cu", ["spmm_f32", "spmm_transpose_acc_f32"]),
    program!("topk.cu", ["mask_excluded_f32", "top_k_f32"]),
    program!("als.cu", ["als_cg_f32", "gather_rows_f32"]),
];

/// The largest `k` [`super::device::CudaDevice::top_k`] selects (the kernel's shared buffer).
pub const TOPK_MAX: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_program_pastes_the_common_header_and_defines_its_kernels() {
        for p in PROGRAMS {
            let src = p.source();
            assert!(!src.contains(INCLUDE_LINE), "{}: include left", p.file);
            assert!(src.contains("block_sum"), "{}: common.cuh missing", p.file);
            for k in p.kernels {
                let decl = format!("__global__ void {k}(");
                assert!(src.contains(&decl), "{}: no kernel {k}", p.file);
            }
        }
    }

    #[test]
    fn topk_max_matches_the_kernel() {
        let topk = PROGRAMS
            .iter()
            .find(|p| p.file == "topk.cu")
            .map(Program::source);
        let expected = format!("#define TOPK_MAX {TOPK_MAX}");
        assert!(topk.is_some_and(|s| s.contains(&expected)));
    }
}
