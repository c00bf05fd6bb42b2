//! Which CUDA libraries this process can load. cudarc loads each library on first use and
//! panics when it is missing, so every CUDA path asks here first.

/// The libraries the CUDA backend uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Libraries {
    /// `libcuda` (the driver).
    pub driver: bool,
    /// `libnvrtc` (run-time compilation of the kernels).
    pub nvrtc: bool,
    /// `libcublas` (the GEMMs).
    pub cublas: bool,
    /// `libnccl` (multi-GPU all-reduce; cudarc looks for `libnccl.so`, which the PyPI wheels
    /// ship only as `libnccl.so.2`: a symlink is needed).
    pub nccl: bool,
}

impl Libraries {
    /// Tries to load each library by the names cudarc searches (on `LD_LIBRARY_PATH` and the
    /// system's paths).
    pub fn probe() -> Self {
        // SAFETY: each call only tries `dlopen` on candidate names and closes what it opened.
        unsafe {
            Libraries {
                driver: cudarc::driver::sys::is_culib_present(),
                nvrtc: cudarc::nvrtc::sys::is_culib_present(),
                cublas: cudarc::cublas::sys::is_culib_present(),
                nccl: cudarc::nccl::sys::is_culib_present(),
            }
        }
    }

    /// The libraries a single-GPU worker needs and does not have, by their file names.
    pub fn missing_for_training(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.driver {
            out.push("libcuda.so (the NVIDIA driver)");
        }
        if !self.nvrtc {
            out.push("libnvrtc.so");
        }
        if !self.cublas {
            out.push("libcublas.so");
        }
        out
    }
}

/// The number of CUDA devices, or why there are none (no driver, or the driver sees none).
pub fn device_count(libs: &Libraries) -> Result<usize, String> {
    if !libs.driver {
        return Err("the NVIDIA driver library (libcuda.so) was not found".into());
    }
    match cudarc::driver::CudaContext::device_count() {
        Ok(n) if n > 0 => Ok(n as usize),
        Ok(_) => Err("the driver reports no CUDA device".into()),
        Err(e) => Err(format!("the driver reports no usable device ({e})")),
    }
}
