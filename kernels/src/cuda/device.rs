//! One CUDA device with every program loaded, and the launchers of its ops. Each op takes
//! device buffers and the shapes the CPU kernel of the same name takes, checks them, and
//! launches on the device's stream; nothing synchronises except the downloads.
//!
//! Matrices are row-major, as on the CPU; cuBLAS (column-major) computes `C^T = B^T A^T`,
//! which is the row-major `C = A B` with no copy.

use std::collections::HashMap;
use std::sync::Arc;

use cudarc::cublas::sys::{cublasMath_t, cublasOperation_t};
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig};
use cudarc::driver::sys::{CUdevice_attribute, CUfunction_attribute};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, CudaView, CudaViewMut, DevicePtr, DeviceRepr,
    LaunchConfig, PushKernelArg,
};

use super::compile::{Arch, Origin, PtxCache};
use super::libraries::{self, Libraries};
use super::sources::{PROGRAMS, TOPK_MAX};
use super::{shape, CudaError};
use crate::cpu::adam::AdamParams;
use crate::cpu::dense::Activation;
use crate::cpu::latent::GateMode;

/// How cuBLAS multiplies f32 matrices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GemmPrecision {
    /// Full f32 (the CPU's maths).
    #[default]
    F32,
    /// TF32 tensor cores (10-bit mantissa products, f32 sums): about 8x the f32 rate on
    /// Hopper.
    Tf32,
    /// BF16 tensor cores on f32 buffers (`CUBLAS_COMPUTE_32F_FAST_16BF`: operands rounded to
    /// bf16, 7 stored mantissa bits, inside cuBLAS; f32 sums and outputs): twice TF32's rate, and the
    /// weights, gradients and Adam moments stay f32, so no loss scaling is needed.
    Bf16,
}

/// What was found about the device when it was opened.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    pub ordinal: usize,
    pub name: String,
    pub compute_capability: (i32, i32),
    pub multiprocessors: u32,
    pub max_shared_per_block_optin: u32,
    pub nvrtc: (i32, i32),
    /// One line per program: where its PTX came from (cache or NVRTC), for the log.
    pub programs: Vec<String>,
}

/// A CSR matrix on the device (64-bit offsets, u32 columns), as [`crate::cpu::sparse::CsrRef`].
pub struct DevCsr {
    pub rows: usize,
    pub cols: usize,
    pub offsets: CudaSlice<u64>,
    pub indices: CudaSlice<u32>,
    pub values: CudaSlice<f32>,
}

/// A row-major operand of [`CudaDevice::gemm`], optionally transposed.
pub struct DevOperand<'a> {
    pub data: CudaView<'a, f32>,
    /// The stored matrix's shape (before `t`).
    pub rows: usize,
    pub cols: usize,
    pub t: bool,
}

impl<'a> DevOperand<'a> {
    pub fn new(data: &'a impl DevIn, rows: usize, cols: usize) -> Self {
        DevOperand {
            data: data.dv(),
            rows,
            cols,
            t: false,
        }
    }
    pub fn t(self) -> Self {
        DevOperand { t: !self.t, ..self }
    }
    /// The shape the product sees.
    fn shape(&self) -> (usize, usize) {
        if self.t {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }
}

/// A device buffer an op reads: a whole [`CudaSlice`] or a view into one.
pub trait DevIn {
    fn dv(&self) -> CudaView<'_, f32>;
}

/// A device buffer an op writes.
pub trait DevOut {
    fn dvm(&mut self) -> CudaViewMut<'_, f32>;
}

impl DevIn for CudaSlice<f32> {
    fn dv(&self) -> CudaView<'_, f32> {
        self.as_view()
    }
}

impl DevIn for CudaView<'_, f32> {
    fn dv(&self) -> CudaView<'_, f32> {
        self.slice(..)
    }
}

impl DevIn for CudaViewMut<'_, f32> {
    fn dv(&self) -> CudaView<'_, f32> {
        self.as_view()
    }
}

impl DevOut for CudaSlice<f32> {
    fn dvm(&mut self) -> CudaViewMut<'_, f32> {
        self.as_view_mut()
    }
}

impl DevOut for CudaViewMut<'_, f32> {
    fn dvm(&mut self) -> CudaViewMut<'_, f32> {
        self.slice_mut(..)
    }
}

/// Threads per block of the elementwise (grid-stride) kernels.
const THREADS: u32 = 256;

pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    precision: GemmPrecision,
    functions: HashMap<&'static str, CudaFunction>,
    info: DeviceInfo,
}

fn int(op: &'static str, v: usize) -> Result<i32, CudaError> {
    i32::try_from(v).map_err(|_| shape(op, format!("{v} does not fit cuBLAS's 32-bit sizes")))
}

fn u32_of(op: &'static str, v: usize) -> Result<u32, CudaError> {
    u32::try_from(v).map_err(|_| shape(op, format!("{v} is above 2^32")))
}

fn want(op: &'static str, what: &str, got: usize, expected: usize) -> Result<(), CudaError> {
    if got == expected {
        Ok(())
    } else {
        Err(shape(
            op,
            format!("{what} has {got} elements, expected {expected}"),
        ))
    }
}

impl CudaDevice {
    /// Opens device `ordinal`: checks the libraries first (cudarc panics on a missing one),
    /// then creates the context, compiles (or takes from `cache`) and loads every program.
    ///
    /// # Errors
    /// [`CudaError::Unavailable`] naming what is missing; driver and NVRTC errors.
    pub fn open(
        ordinal: usize,
        cache: &PtxCache,
        precision: GemmPrecision,
    ) -> Result<Self, CudaError> {
        let libs = Libraries::probe();
        let missing = libs.missing_for_training();
        if !missing.is_empty() {
            return Err(CudaError::Unavailable(format!(
                "not found: {}",
                missing.join(", ")
            )));
        }
        let count = libraries::device_count(&libs).map_err(CudaError::Unavailable)?;
        if ordinal >= count {
            return Err(CudaError::Unavailable(format!(
                "device {ordinal} asked for, the driver sees {count}"
            )));
        }
        let ctx = CudaContext::new(ordinal)?;
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone())?;
        if precision == GemmPrecision::Tf32 {
            // SAFETY: the handle is live for `blas`'s lifetime; the mode is a plain enum.
            unsafe {
                cudarc::cublas::sys::cublasSetMathMode(
                    *blas.handle(),
                    cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH,
                )
            }
            .result()?;
        }
        let (major, minor) = ctx.compute_capability()?;
        let arch = Arch {
            major: major as u32,
            minor: minor as u32,
        };
        let nvrtc = super::compile::nvrtc_version()?;
        let mut functions = HashMap::new();
        let mut programs = Vec::new();
        for p in PROGRAMS {
            let (ptx, origin) = cache.get_or_compile(p, arch)?;
            programs.push(match origin {
                Origin::Cache(path) => format!("{}: cached {}", p.file, path.display()),
                Origin::Compiled { stored: Ok(path) } => {
                    format!("{}: compiled, stored {}", p.file, path.display())
                }
                Origin::Compiled { stored: Err(why) } => {
                    format!("{}: compiled, not cached ({why})", p.file)
                }
            });
            let module = ctx.load_module(cudarc::nvrtc::Ptx::from_src(ptx))?;
            for k in p.kernels {
                functions.insert(*k, module.load_function(k)?);
            }
        }
        let attr = |a| ctx.attribute(a).map(|v| v.max(0) as u32);
        let info = DeviceInfo {
            ordinal,
            name: ctx.name()?,
            compute_capability: (major, minor),
            multiprocessors: attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?,
            max_shared_per_block_optin: attr(
                CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
            )?,
            nvrtc,
            programs,
        };
        Ok(CudaDevice {
            ctx,
            stream,
            blas,
            precision,
            functions,
            info,
        })
    }

    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    fn function(&self, name: &'static str) -> Result<&CudaFunction, CudaError> {
        self.functions
            .get(name)
            .ok_or_else(|| CudaError::Unavailable(format!("kernel {name} is not loaded")))
    }

    /// A grid-stride launch over `n` elements: enough blocks to fill the device, no more.
    fn elementwise(&self, n: u64) -> LaunchConfig {
        let wanted = n.div_ceil(u64::from(THREADS)).max(1);
        let cap = u64::from(self.info.multiprocessors.max(1)) * 32;
        LaunchConfig {
            grid_dim: (wanted.min(cap) as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    /// One block per row.
    fn per_row(rows: usize, threads: u32, shared: u32) -> Result<LaunchConfig, CudaError> {
        let blocks = u32::try_from(rows.max(1)).map_err(|_| {
            shape(
                "launch",
                format!("{rows} rows exceed the grid's 2^31 blocks"),
            )
        })?;
        Ok(LaunchConfig {
            grid_dim: (blocks, 1, 1),
            block_dim: (threads, 1, 1),
            shared_mem_bytes: shared,
        })
    }

    /// A copy of `host` on the device.
    ///
    /// # Errors
    /// For an empty `host`: the driver refuses zero-byte allocations, and a named error beats
    /// its `CUDA_ERROR_INVALID_VALUE`.
    pub fn upload<T: DeviceRepr>(&self, host: &[T]) -> Result<CudaSlice<T>, CudaError> {
        if host.is_empty() {
            return Err(shape(
                "upload",
                "an empty buffer cannot be allocated on the device",
            ));
        }
        Ok(self.stream.clone_htod(host)?)
    }

    /// `n` zeros on the device (`n > 0`, as [`CudaDevice::upload`]).
    pub fn zeros<T: DeviceRepr + cudarc::driver::ValidAsZeroBits>(
        &self,
        n: usize,
    ) -> Result<CudaSlice<T>, CudaError> {
        if n == 0 {
            return Err(shape(
                "zeros",
                "an empty buffer cannot be allocated on the device",
            ));
        }
        Ok(self.stream.alloc_zeros(n)?)
    }

    pub fn download<T: DeviceRepr + Default + Clone, Src: DevicePtr<T>>(
        &self,
        dev: &Src,
    ) -> Result<Vec<T>, CudaError> {
        Ok(self.stream.clone_dtoh(dev)?)
    }

    /// Uploads a CSR batch given as its parts (offsets may start above 0: a slice of a larger
    /// matrix; they are rebased to 0 here).
    pub fn upload_csr(
        &self,
        offsets: &[u64],
        indices: &[u32],
        values: &[f32],
        cols: usize,
    ) -> Result<DevCsr, CudaError> {
        let rows = offsets.len().saturating_sub(1);
        let (a, b) = match (offsets.first(), offsets.last()) {
            (Some(&a), Some(&b)) if a <= b => (a, b),
            _ => return Err(shape("upload_csr", "offsets are empty or decreasing")),
        };
        let (lo, hi) = (a as usize, b as usize);
        if hi > indices.len() || hi > values.len() {
            return Err(shape(
                "upload_csr",
                "offsets run past the indices or values",
            ));
        }
        if offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(shape("upload_csr", "offsets decrease"));
        }
        if indices[lo..hi].iter().any(|&j| j as usize >= cols) {
            return Err(shape("upload_csr", format!("a column index is >= {cols}")));
        }
        let rebased: Vec<u64> = offsets.iter().map(|o| o - a).collect();
        // A matrix with no non-zeros still needs buffers (the driver allocates no zero-byte
        // ones): one placeholder each, which no kernel reads since every row is empty.
        let (idx, val): (&[u32], &[f32]) = if lo == hi {
            (&[0], &[0.0])
        } else {
            (&indices[lo..hi], &values[lo..hi])
        };
        Ok(DevCsr {
            rows,
            cols,
            offsets: self.upload(&rebased)?,
            indices: self.upload(idx)?,
            values: self.upload(val)?,
        })
    }

    /// `c = a b` (`accumulate`: `c += a b`), row-major, as [`crate::cpu::dense::gemm`].
    pub fn gemm(
        &self,
        c: &mut impl DevOut,
        a: DevOperand<'_>,
        b: DevOperand<'_>,
        accumulate: bool,
    ) -> Result<(), CudaError> {
        let c = &mut c.dvm();
        let (m, k) = a.shape();
        let (k2, n) = b.shape();
        if k != k2 {
            return Err(shape("gemm", format!("inner sizes {k} and {k2}")));
        }
        want("gemm", "a", a.data.len(), a.rows * a.cols)?;
        want("gemm", "b", b.data.len(), b.rows * b.cols)?;
        want("gemm", "c", c.len(), m * n)?;
        let op = |t: bool| {
            if t {
                cublasOperation_t::CUBLAS_OP_T
            } else {
                cublasOperation_t::CUBLAS_OP_N
            }
        };
        // Column-major C^T (n x m) = B^T (n x k) A^T (k x m); each row-major operand read as
        // column-major is already its transpose, so `t` maps straight to the cuBLAS op.
        let cfg = GemmConfig {
            transa: op(b.t),
            transb: op(a.t),
            m: int("gemm", n)?,
            n: int("gemm", m)?,
            k: int("gemm", k)?,
            alpha: 1.0f32,
            lda: int("gemm", b.cols.max(1))?,
            ldb: int("gemm", a.cols.max(1))?,
            beta: if accumulate { 1.0 } else { 0.0 },
            ldc: int("gemm", n.max(1))?,
        };
        if m == 0 || n == 0 {
            return Ok(());
        }
        if self.precision == GemmPrecision::Bf16 {
            return self.gemm_bf16(cfg, &b.data, &a.data, c);
        }
        // SAFETY: the shapes and the buffer lengths were checked above.
        unsafe { self.blas.gemm(cfg, &b.data, &a.data, c) }?;
        Ok(())
    }

    /// [`CudaDevice::gemm`]'s column-major call through `cublasGemmEx` with f32 buffers and
    /// BF16 tensor-core products.
    fn gemm_bf16(
        &self,
        cfg: GemmConfig<f32>,
        a: &CudaView<'_, f32>,
        b: &CudaView<'_, f32>,
        c: &mut CudaViewMut<'_, f32>,
    ) -> Result<(), CudaError> {
        use cudarc::cublas::sys::{cublasComputeType_t, cublasGemmAlgo_t, cudaDataType};
        use cudarc::driver::DevicePtrMut;
        let (pa, _ra) = a.device_ptr(&self.stream);
        let (pb, _rb) = b.device_ptr(&self.stream);
        let (pc, _wc) = c.device_ptr_mut(&self.stream);
        let f32t = cudaDataType::CUDA_R_32F;
        // SAFETY: the caller checked the shapes against the buffers' lengths; alpha and beta
        // are host f32 scalars, as the f32 compute type reads them.
        unsafe {
            cudarc::cublas::result::gemm_ex(
                *self.blas.handle(),
                cfg.transa,
                cfg.transb,
                cfg.m,
                cfg.n,
                cfg.k,
                (&cfg.alpha) as *const f32 as *const std::ffi::c_void,
                pa as *const std::ffi::c_void,
                f32t,
                cfg.lda,
                pb as *const std::ffi::c_void,
                f32t,
                cfg.ldb,
                (&cfg.beta) as *const f32 as *const std::ffi::c_void,
                pc as *mut std::ffi::c_void,
                f32t,
                cfg.ldc,
                cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_16BF,
                cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }?;
        Ok(())
    }

    /// `x = act(x + bias)` over `rows x bias.len()`, as [`crate::cpu::dense::bias_activation`].
    pub fn bias_activation(
        &self,
        x: &mut impl DevOut,
        bias: &impl DevIn,
        act: Activation,
    ) -> Result<(), CudaError> {
        let x = &mut x.dvm();
        let bias = &bias.dv();
        let cols = bias.len();
        if cols == 0 || !x.len().is_multiple_of(cols) {
            return Err(shape("bias_activation", "x is not rows of bias.len()"));
        }
        let rows = (x.len() / cols) as u64;
        let cols32 = u32_of("bias_activation", cols)?;
        let code = activation_code(act);
        let f = self.function("bias_activation_f32")?;
        let cfg = self.elementwise(x.len() as u64);
        let mut l = self.stream.launch_builder(f);
        l.arg(x).arg(bias).arg(&rows).arg(&cols32).arg(&code);
        // SAFETY: the kernel reads rows * cols elements of x and cols of bias, checked above.
        unsafe { l.launch(cfg) }?;
        Ok(())
    }

    /// `dy *= act'(y)`, as [`crate::cpu::dense::activation_backward`].
    pub fn activation_backward(
        &self,
        dy: &mut impl DevOut,
        y: &impl DevIn,
        act: Activation,
    ) -> Result<(), CudaError> {
        let dy = &mut dy.dvm();
        let y = &y.dv();
        want("activation_backward", "y", y.len(), dy.len())?;
        if act == Activation::Identity {
            return Ok(());
        }
        let n = dy.len() as u64;
        let code = activation_code(act);
        let f = self.function("activation_backward_f32")?;
        let cfg = self.elementwise(n);
        let mut l = self.stream.launch_builder(f);
        l.arg(dy).arg(y).arg(&n).arg(&code);
        // SAFETY: both buffers hold n elements.
        unsafe { l.launch(cfg) }?;
        Ok(())
    }

    /// `out[j] += sum_r dy[r, j]`, rows in order, as [`crate::cpu::dense::column_sums`].
    pub fn column_sums(&self, dy: &impl DevIn, out: &mut impl DevOut) -> Result<(), CudaError> {
        let out = &mut out.dvm();
        let dy = &dy.dv();
        let cols = out.len();
        if cols == 0 || !dy.len().is_multiple_of(cols) {
            return Err(shape("column_sums", "dy is not rows of out.len()"));
        }
        let rows = (dy.len() / cols) as u64;
        let cols32 = u32_of("column_sums", cols)?;
        let f = self.function("column_sums_f32")?;
        let cfg = LaunchConfig {
            grid_dim: (cols32.div_ceil(THREADS), 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut l = self.stream.launch_builder(f);
        l.arg(dy).arg(out).arg(&rows).arg(&cols32);
        // SAFETY: shapes checked above.
        unsafe { l.launch(cfg) }?;
        Ok(())
    }

    /// `z` from the code, as [`crate::cpu::latent::reparameterise`]; `eps = None` is
    /// inference.
    pub fn reparameterise(
        &self,
        mu: &impl DevIn,
        logvar: &impl DevIn,
        eps: Option<&CudaView<'_, f32>>,
        gate: Option<&CudaView<'_, f32>>,
        mode: GateMode,
        z: &mut impl DevOut,
    ) -> Result<(), CudaError> {
        let z = &mut z.dvm();
        let mu = &mu.dv();
        let logvar = &logvar.dv();
        let n = z.len();
        self.check_latent("reparameterise", n, mu, logvar, eps, gate, mode)?;
        let n64 = n as u64;
        let code = gate_code(mode);
        let null = 0u64;
        let f = self.function("reparameterise_f32")?;
        let cfg = self.elementwise(n64);
        let mut l = self.stream.launch_builder(f);
        l.arg(mu).arg(logvar);
        match eps {
            Some(e) => l.arg(e),
            None => l.arg(&null),
        };
        match gate.filter(|_| mode != GateMode::Off) {
            Some(g) => l.arg(g),
            None => l.arg(&null),
        };
        l.arg(z).arg(&n64).arg(&code);
        // SAFETY: every buffer passed holds n elements (checked); null pointers are only
        // passed where the kernel tests for them.
        unsafe { l.launch(cfg) }?;
        Ok(())
    }

    /// Gradients of `z` written into `dmu`, `dlogvar` and `dgate`, as
    /// [`crate::cpu::latent::reparameterise_backward`].
    #[allow(clippy::too_many_arguments)]
    pub fn reparameterise_backward(
        &self,
        mu: &impl DevIn,
        logvar: &impl DevIn,
        eps: &impl DevIn,
        gate: Option<&CudaView<'_, f32>>,
        mode: GateMode,
        dz: &impl DevIn,
        dmu: &mut impl DevOut,
        dlogvar: &mut impl DevOut,
        dgate: Option<&mut CudaViewMut<'_, f32>>,
    ) -> Result<(), CudaError> {
        let dmu = &mut dmu.dvm();
        let dlogvar = &mut dlogvar.dvm();
        let mu = &mu.dv();
        let logvar = &logvar.dv();
        let eps = &eps.dv();
        let dz = &dz.dv();
        let n = dz.len();
        self.check_latent(
            "reparameterise_backward",
            n,
            mu,
            logvar,
            Some(eps),
            gate,
            mode,
        )?;
        want("reparameterise_backward", "dmu", dmu.len(), n)?;
        want("reparameterise_backward", "dlogvar", dlogvar.len(), n)?;
        if let Some(d) = &dgate {
            want("reparameterise_backward", "dgate", d.len(), n)?;
        }
        let n64 = n as u64;
        let code = gate_code(mode);
        let null = 0u64;
        let f = self.function("reparameterise_backward_f32")?;
        let cfg = self.elementwise(n64);
        let mut l = self.stream.launch_builder(f);
        l.arg(mu).arg(logvar).arg(eps);
        match gate.filter(|_| mode != GateMode::Off) {
            Some(g) => l.arg(g),
            None => l.arg(&null),
        };
        l.arg(dz).arg(dmu).arg(dlogvar);
        match dgate {
            Some(d) => l.arg(d),
            None => l.arg(&null),
        };
        l.arg(&n64).arg(&code);
        // SAFETY: as `reparameterise`.
        unsafe { l.launch(cfg) }?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn check_latent(
        &self,
        op: &'static str,
        n: usize,
        mu: &CudaView<'_, f32>,
        logvar: &CudaView<'_, f32>,
        eps: Option<&CudaView<'_, f32>>,
        gate: Option<&CudaView<'_, f32>>,
        mode: GateMode,
    ) -> Result<(), CudaError> {
        want(op, "mu", mu.len(), n)?;
        want(op, "logvar", logvar.len(), n)?;
        if let Some(e) = eps {
            want(op, "eps", e.len(), n)?;
        }
        match (mode, gate) {
            (GateMode::Off, _) => Ok(()),
            (_, Some(g)) => want(op, "gate", g.len(), n),
            (_, None) => Err(shape(op, "a gated mode needs the gate")),
        }
    }

    /// KL of each row (f64, on the device) and `scale` times its gradient added to `dmu` and
    /// `dlogvar`, as [`crate::cpu::latent::kl_divergence`].
    pub fn kl_divergence(
        &self,
        mu: &impl DevIn,
        logvar: &impl DevIn,
        latent: usize,
        scale: f32,
        dmu: &mut impl DevOut,
        dlogvar: &mut impl DevOut,
    ) -> Result<CudaSlice<f64>, CudaError> {
        let dmu = &mut dmu.dvm();
        let dlogvar = &mut dlogvar.dvm();
        let mu = &mu.dv();
        let logvar = &logvar.dv();
        let n = mu.len();
        if latent == 0 || !n.is_multiple_of(latent) {
            return Err(shape("kl_divergence", "mu is not rows of latent"));
        }
        want("kl_divergence", "logvar", logvar.len(), n)?;
        want("kl_divergence", "dmu", dmu.len(), n)?;
        want("kl_divergence", "dlogvar", dlogvar.len(), n)?;
        let rows = n / latent;
        let mut kl = self.zeros::<f64>(rows)?;
        let rows64 = rows as u64;
        let latent32 = u32_of("kl_divergence", latent)?;
        let f = self.function("kl_divergence_f32")?;
        // One warp per row, 8 warps a block.
        let cfg = LaunchConfig {
            grid_dim: (u32_of("kl_divergence", rows.div_ceil(8).max(1))?, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut l = self.stream.launch_builder(f);
        l.arg(mu)
            .arg(logvar)
            .arg(&rows64)
            .arg(&latent32)
            .arg(&scale)
            .arg(dmu)
            .arg(dlogvar)
            .arg(&mut kl);
        // SAFETY: shapes checked above.
        unsafe { l.launch(cfg) }?;
        Ok(kl)
    }

    /// Replaces each row of `logits` (`targets.rows x targets.cols`) by `scale` times the
    /// gradient of its multinomial loss and returns the losses (unscaled, f64), as
    /// [`crate::cpu::softmax::multinomial_nll`].
    pub fn multinomial_nll(
        &self,
        logits: &mut impl DevOut,
        targets: &DevCsr,
        scale: f32,
    ) -> Result<CudaSlice<f64>, CudaError> {
        let logits = &mut logits.dvm();
        want(
            "multinomial_nll",
            "logits",
            logits.len(),
            targets.rows * targets.cols,
        )?;
        let mut loss = self.zeros::<f64>(targets.rows)?;
        if targets.rows == 0 || targets.cols == 0 {
            return Ok(loss);
        }
        let rows = targets.rows as u64;
        let cols = u32_of("multinomial_nll", targets.cols)?;
        let f = self.function("multinomial_nll_f32")?;
        let cfg = Self::per_row(targets.rows, 512, 0)?;
        let mut l = self.stream.launch_builder(f);
        l.arg(logits)
            .arg(&rows)
            .arg(&cols)
            .arg(&targets.offsets)
            .arg(&targets.indices)
            .arg(&targets.values)
            .arg(&scale)
            .arg(&mut loss);
        // SAFETY: logits hold rows x cols; the CSR was checked at upload.
        unsafe { l.launch(cfg) }?;
        Ok(loss)
    }

    /// One Adam step (`step` from 1), as [`crate::cpu::adam::adam_step`].
    pub fn adam_step(
        &self,
        p: AdamParams,
        step: u64,
        param: &mut impl DevOut,
        grad: &impl DevIn,
        m: &mut impl DevOut,
        v: &mut impl DevOut,
    ) -> Result<(), CudaError> {
        let param = &mut param.dvm();
        let m = &mut m.dvm();
        let v = &mut v.dvm();
        let grad = &grad.dv();
        let n = param.len();
        want("adam", "grad", grad.len(), n)?;
        want("adam", "m", m.len(), n)?;
        want("adam", "v", v.len(), n)?;
        if step == 0 {
            return Err(shape("adam", "steps count from 1"));
        }
        let t = step.min(i32::MAX as u64) as i32;
        let c1 = 1.0 - f64::from(p.beta1).powi(t);
        let c2 = 1.0 - f64::from(p.beta2).powi(t);
        let step_size = (f64::from(p.lr) / c1) as f32;
        let c2_sqrt = c2.sqrt() as f32;
        let n64 = n as u64;
        let f = self.function("adam_step_f32")?;
        let cfg = self.elementwise(n64);
        let mut l = self.stream.launch_builder(f);
        l.arg(param)
            .arg(grad)
            .arg(m)
            .arg(v)
            .arg(&n64)
            .arg(&p.beta1)
            .arg(&p.beta2)
            .arg(&p.eps)
            .arg(&step_size)
            .arg(&c2_sqrt);
        // SAFETY: the four buffers hold n elements.
        unsafe { l.launch(cfg) }?;
        Ok(())
    }

    /// `out = X W` (`accumulate`: `+=`) for `W` of `cols x h`, as
    /// [`crate::cpu::sparse::spmm`].
    pub fn spmm(
        &self,
        x: &DevCsr,
        w: &impl DevIn,
        h: usize,
        out: &mut impl DevOut,
        accumulate: bool,
    ) -> Result<(), CudaError> {
        let out = &mut out.dvm();
        let w = &w.dv();
        want("spmm", "w", w.len(), x.cols * h)?;
        want("spmm", "out", out.len(), x.rows * h)?;
        if x.rows == 0 || h == 0 {
            return Ok(());
        }
        let rows = x.rows as u64;
        let h32 = u32_of("spmm", h)?;
        let acc = i32::from(accumulate);
        let f = self.function("spmm_f32")?;
        let cfg = Self::per_row(x.rows, threads_for(h), 0)?;
        let mut l = self.stream.launch_builder(f);
        l.arg(&x.offsets)
            .arg(&x.indices)
            .arg(&x.values)
            .arg(&rows)
            .arg(w)
            .arg(&h32)
            .arg(out)
            .arg(&acc);
        // SAFETY: shapes checked above and at upload.
        unsafe { l.launch(cfg) }?;
        Ok(())
    }

    /// `dW += X^T dY` with `xt` the transpose of `X` (its rows are `X`'s columns), as
    /// [`crate::cpu::sparse::spmm_transpose_acc`].
    pub fn spmm_transpose_acc(
        &self,
        xt: &DevCsr,
        dy: &impl DevIn,
        h: usize,
        dw: &mut impl DevOut,
    ) -> Result<(), CudaError> {
        let dw = &mut dw.dvm();
        let dy = &dy.dv();
        want("spmm_transpose_acc", "dW", dw.len(), xt.rows * h)?;
        want("spmm_transpose_acc", "dY", dy.len(), xt.cols * h)?;
        if xt.rows == 0 || h == 0 {
            return Ok(());
        }
        let cols = xt.rows as u64;
        let h32 = u32_of("spmm_transpose_acc", h)?;
        let f = self.function("spmm_transpose_acc_f32")?;
        let cfg = Self::per_row(xt.rows, threads_for(h), 0)?;
        let mut l = self.stream.launch_builder(f);
        l.arg(&xt.offsets)
            .arg(&xt.indices)
            .arg(&xt.values)
            .arg(&cols)
            .arg(dy)
            .arg(&h32)
            .arg(dw);
        // SAFETY: shapes checked above and at upload.
        unsafe { l.launch(cfg) }?;
        Ok(())
    }

    /// The indices of the `k` best finite scores of every row, best first, ties to the lower
    /// index, skipping `exclude`'s columns, as [`crate::cpu::topk::top_k_rows`]. The excluded
    /// scores are overwritten with -inf.
    pub fn top_k(
        &self,
        scores: &mut impl DevOut,
        rows: usize,
        cols: usize,
        k: usize,
        exclude: Option<&DevCsr>,
    ) -> Result<Vec<Vec<u32>>, CudaError> {
        let scores = &mut scores.dvm();
        want("top_k", "scores", scores.len(), rows * cols)?;
        if k > TOPK_MAX {
            return Err(shape("top_k", format!("k = {k} is above {TOPK_MAX}")));
        }
        if rows == 0 || k == 0 {
            return Ok(vec![Vec::new(); rows]);
        }
        let rows64 = rows as u64;
        let cols32 = u32_of("top_k", cols)?;
        let k32 = k as u32;
        if let Some(ex) = exclude {
            if ex.rows != rows {
                return Err(shape("top_k", "exclude has another row count"));
            }
            let f = self.function("mask_excluded_f32")?;
            let mut l = self.stream.launch_builder(f);
            l.arg(&mut *scores)
                .arg(&rows64)
                .arg(&cols32)
                .arg(&ex.offsets)
                .arg(&ex.indices);
            // SAFETY: the kernel skips column indices >= cols.
            unsafe { l.launch(Self::per_row(rows, 128, 0)?) }?;
        }
        let mut idx = self.zeros::<u32>(rows * k)?;
        let mut count = self.zeros::<u32>(rows)?;
        let f = self.function("top_k_f32")?;
        let mut l = self.stream.launch_builder(f);
        l.arg(&mut *scores)
            .arg(&rows64)
            .arg(&cols32)
            .arg(&k32)
            .arg(&mut idx)
            .arg(&mut count);
        // SAFETY: out buffers hold rows x k and rows; k <= TOPK_MAX.
        unsafe { l.launch(Self::per_row(rows, 1024, 0)?) }?;
        let idx = self.download(&idx)?;
        let count = self.download(&count)?;
        Ok(idx
            .chunks_exact(k)
            .zip(count)
            .map(|(r, c)| r[..(c as usize).min(k)].to_vec())
            .collect())
    }

    /// `Y^T Y` (k x k) of the `n x k` factors, through cuBLAS.
    pub fn gram(&self, y: &impl DevIn, k: usize) -> Result<CudaSlice<f32>, CudaError> {
        let y = &y.dv();
        if k == 0 || !y.len().is_multiple_of(k) {
            return Err(shape("gram", "factors are not rows of k"));
        }
        let n = y.len() / k;
        let mut g = self.zeros::<f32>(k * k)?;
        self.gemm(
            &mut g,
            DevOperand::new(y, n, k).t(),
            DevOperand::new(y, n, k),
            false,
        )?;
        Ok(g)
    }

    /// `out[j] = src[pos[j]]` for rows of `k` values, as [`crate::cpu::als::gather_rows`]
    /// (positions are not checked on the device: the caller builds them from the layout).
    pub fn gather_rows(
        &self,
        out: &mut impl DevOut,
        src: &impl DevIn,
        pos: &CudaSlice<u64>,
        k: usize,
    ) -> Result<(), CudaError> {
        let out = &mut out.dvm();
        let src = &src.dv();
        if k == 0 {
            return Err(shape("gather_rows", "k = 0"));
        }
        want("gather_rows", "out", out.len(), pos.len() * k)?;
        if src.len() % k != 0 {
            return Err(shape(
                "gather_rows",
                format!("a source of {} values is not rows of {k}", src.len()),
            ));
        }
        let rows = pos.len() as u64;
        if rows == 0 {
            return Ok(());
        }
        let k32 = u32_of("gather_rows", k)?;
        let f = self.function("gather_rows_f32")?;
        let cfg = self.elementwise(rows * k as u64);
        let mut l = self.stream.launch_builder(f);
        l.arg(out).arg(src).arg(pos).arg(&rows).arg(&k32);
        // SAFETY: `out` holds rows x k values; positions index `src`'s rows by construction.
        unsafe { l.launch(cfg) }?;
        Ok(())
    }

    /// One ALS half-iteration with `steps` CG steps per row, as [`crate::cpu::als::solve`]
    /// with `Solver::Cg`: `x` (`m.rows x k`) from the fixed `y` (`m.cols x k`) and its Gram
    /// matrix; the confidences are `m.values`.
    #[allow(clippy::too_many_arguments)]
    pub fn als_cg(
        &self,
        x: &mut impl DevOut,
        y: &impl DevIn,
        yty: &impl DevIn,
        k: usize,
        m: &DevCsr,
        lambda: f32,
        steps: usize,
    ) -> Result<(), CudaError> {
        let x = &mut x.dvm();
        let y = &y.dv();
        let yty = &yty.dv();
        if k == 0 {
            return Err(shape("als_cg", "k = 0"));
        }
        want("als_cg", "x", x.len(), m.rows * k)?;
        want("als_cg", "y", y.len(), m.cols * k)?;
        want("als_cg", "yty", yty.len(), k * k)?;
        if !(lambda.is_finite() && lambda >= 0.0) {
            return Err(shape("als_cg", format!("lambda {lambda}")));
        }
        if m.rows == 0 {
            return Ok(());
        }
        // A0 = Y^T Y + lambda I, once per half-step, as implicit and the CPU do.
        let mut a0 = self.zeros::<f32>(k * k)?;
        self.stream.memcpy_dtod(yty, &mut a0)?;
        let mut host = self.download(&a0)?;
        for d in 0..k {
            host[d * k + d] += lambda;
        }
        self.stream.memcpy_htod(&host, &mut a0)?;
        let nnz = m.values.len();
        let mut coef = self.zeros::<f32>(nnz.max(1))?;
        let shared = u32_of("als_cg", 4 * k * std::mem::size_of::<f32>())?;
        let f = self.function("als_cg_f32")?;
        if shared > 48 * 1024 {
            if shared > self.info.max_shared_per_block_optin {
                return Err(shape(
                    "als_cg",
                    format!(
                        "k = {k} needs {shared} bytes of shared memory, the device allows {}",
                        self.info.max_shared_per_block_optin
                    ),
                ));
            }
            f.set_attribute(
                CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                shared as i32,
            )?;
        }
        let k32 = k as u32;
        let rows = m.rows as u64;
        let steps32 = u32_of("als_cg", steps)?;
        let cfg = Self::per_row(m.rows, threads_for(k), shared)?;
        let mut l = self.stream.launch_builder(f);
        l.arg(x)
            .arg(y)
            .arg(&a0)
            .arg(&k32)
            .arg(&rows)
            .arg(&m.offsets)
            .arg(&m.indices)
            .arg(&m.values)
            .arg(&steps32)
            .arg(&mut coef);
        // SAFETY: shapes checked above; coef holds one float per non-zero.
        unsafe { l.launch(cfg) }?;
        Ok(())
    }

    /// Waits for everything launched so far.
    pub fn synchronize(&self) -> Result<(), CudaError> {
        Ok(self.stream.synchronize()?)
    }
}

/// Threads for a kernel whose block strides over `n` values of one row: a whole number of
/// warps, at most 256.
fn threads_for(n: usize) -> u32 {
    (n.div_ceil(32) * 32).clamp(32, 256) as u32
}

fn activation_code(act: Activation) -> i32 {
    match act {
        Activation::Identity => 0,
        Activation::Tanh => 1,
        Activation::Sigmoid => 2,
    }
}

fn gate_code(mode: GateMode) -> i32 {
    match mode {
        GateMode::Off => 0,
        GateMode::Literal => 1,
        GateMode::Scale => 2,
    }
}
