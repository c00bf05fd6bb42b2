//! NVRTC compilation of the [`super::sources`] programs to PTX, with an on-disk cache keyed
//! by the source, the target architecture, the options and the NVRTC version (a new NVRTC
//! may emit PTX that an older driver cannot load, so its version is part of the key).
//!
//! NVRTC needs no GPU: CI compiles every program here with the library from the PyPI wheel
//! `nvidia-cuda-nvrtc-cu12`.

use std::path::{Path, PathBuf};

use super::sources::Program;
use super::CudaError;

/// A virtual architecture, `compute_<major><minor>`: the PTX target. The driver turns the PTX
/// into machine code for the device at load time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Arch {
    pub major: u32,
    pub minor: u32,
}

impl Arch {
    /// Hopper (H100, H200): what the project's GPU nodes are.
    pub const SM90: Arch = Arch { major: 9, minor: 0 };
    /// Ampere (A100): the oldest architecture CI compiles the kernels for.
    pub const SM80: Arch = Arch { major: 8, minor: 0 };

    pub fn option(&self) -> String {
        format!("--gpu-architecture=compute_{}{}", self.major, self.minor)
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "compute_{}{}", self.major, self.minor)
    }
}

/// The options every program is compiled with, besides the architecture. Precise division
/// and square root (NVRTC's defaults, spelled out) keep the kernels within the bounds the
/// tests hold them to against the CPU.
const OPTIONS: &[&str] = &[
    "--std=c++17",
    "--prec-div=true",
    "--prec-sqrt=true",
    "--fmad=true",
];

/// NVRTC's version, `(major, minor)`.
///
/// # Errors
/// [`CudaError::Unavailable`] when libnvrtc cannot be loaded.
pub fn nvrtc_version() -> Result<(i32, i32), CudaError> {
    // SAFETY: the probe is a dlopen; `nvrtcVersion` writes two ints.
    unsafe {
        if !cudarc::nvrtc::sys::is_culib_present() {
            return Err(CudaError::Unavailable("libnvrtc.so was not found".into()));
        }
        let (mut major, mut minor) = (0, 0);
        let status = cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor);
        if status != cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS {
            return Err(CudaError::Unavailable(format!("nvrtcVersion: {status:?}")));
        }
        Ok((major, minor))
    }
}

/// Compiles one program to PTX text for `arch`.
///
/// # Errors
/// [`CudaError::Unavailable`] without libnvrtc, [`CudaError::Compile`] with NVRTC's log.
pub fn compile(program: &Program, arch: Arch) -> Result<String, CudaError> {
    nvrtc_version()?;
    let mut opts = cudarc::nvrtc::CompileOptions {
        name: Some(program.file.to_string()),
        ..Default::default()
    };
    opts.options.push(arch.option());
    opts.options.extend(OPTIONS.iter().map(|s| s.to_string()));
    match cudarc::nvrtc::compile_ptx_with_opts(program.source(), opts) {
        Ok(ptx) => Ok(ptx.to_src()),
        Err(cudarc::nvrtc::CompileError::CompileError { log, .. }) => Err(CudaError::Compile {
            file: program.file,
            arch: arch.to_string(),
            log: log.to_string_lossy().into_owned(),
        }),
        Err(e) => Err(CudaError::Compile {
            file: program.file,
            arch: arch.to_string(),
            log: e.to_string(),
        }),
    }
}

/// The kernels a PTX text defines (its `.entry` directives).
pub fn entries(ptx: &str) -> Vec<&str> {
    ptx.lines()
        .filter_map(|l| {
            let rest = l.trim_start().strip_prefix(".visible .entry ")?;
            Some(
                rest.split(|c: char| c == '(' || c.is_whitespace())
                    .next()
                    .unwrap_or(rest),
            )
        })
        .collect()
}

/// Where compiled PTX is kept between runs: `$ARCHETYPE_PTX_CACHE`, else
/// `$XDG_CACHE_HOME/archetype/ptx`, else `~/.cache/archetype/ptx`; `None` (no disk cache)
/// when none of those is set.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("ARCHETYPE_PTX_CACHE") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("archetype/ptx"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/archetype/ptx"))
}

/// A PTX cache in one directory (or none).
#[derive(Clone, Debug)]
pub struct PtxCache {
    dir: Option<PathBuf>,
}

/// Where [`PtxCache::get_or_compile`]'s PTX came from.
#[derive(Debug, PartialEq, Eq)]
pub enum Origin {
    Cache(PathBuf),
    /// Compiled now; `stored` says whether it went to the cache, or why not.
    Compiled {
        stored: Result<PathBuf, String>,
    },
}

impl PtxCache {
    pub fn new(dir: Option<PathBuf>) -> Self {
        PtxCache { dir }
    }

    /// The file that holds `program` for `arch` and this NVRTC.
    pub fn path(&self, program: &Program, arch: Arch, nvrtc: (i32, i32)) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let mut h = Fnv64::new();
        h.write(program.source().as_bytes());
        h.write(arch.option().as_bytes());
        for o in OPTIONS {
            h.write(o.as_bytes());
        }
        h.write(format!("nvrtc {}.{}", nvrtc.0, nvrtc.1).as_bytes());
        let stem = program.file.trim_end_matches(".cu");
        Some(dir.join(format!("{stem}-{arch}-{:016x}.ptx", h.finish())))
    }

    /// The cached PTX of `program`, or a fresh compilation stored for next time. A cache
    /// that cannot be written does not stop the compilation: the caller gets the reason in
    /// [`Origin::Compiled`] to log.
    ///
    /// # Errors
    /// As [`compile`].
    pub fn get_or_compile(
        &self,
        program: &Program,
        arch: Arch,
    ) -> Result<(String, Origin), CudaError> {
        let nvrtc = nvrtc_version()?;
        let path = self.path(program, arch, nvrtc);
        if let Some(p) = &path {
            if let Ok(ptx) = std::fs::read_to_string(p) {
                let complete = program.kernels.iter().all(|k| entries(&ptx).contains(k));
                if complete {
                    return Ok((ptx, Origin::Cache(p.clone())));
                }
            }
        }
        let ptx = compile(program, arch)?;
        let stored = match &path {
            None => Err("no cache directory (set ARCHETYPE_PTX_CACHE)".to_string()),
            Some(p) => store(p, &ptx)
                .map(|()| p.clone())
                .map_err(|e| e.to_string()),
        };
        Ok((ptx, Origin::Compiled { stored }))
    }
}

/// Writes through a temporary file and a rename, so a concurrent reader (another worker on
/// the node) never sees half a file.
fn store(path: &Path, ptx: &str) -> Result<(), CudaError> {
    let err = |source| CudaError::Cache {
        path: path.to_path_buf(),
        source,
    };
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(err)?;
    }
    let tmp = path.with_extension(format!("ptx.{}.tmp", std::process::id()));
    std::fs::write(&tmp, ptx).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// FNV-1a, 64 bits: a cache key that stays the same across Rust versions (std's hasher
/// does not promise that).
struct Fnv64(u64);

impl Fnv64 {
    fn new() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_reads_the_ptx_entry_directives() {
        let ptx =
            ".version 8.5\n.target sm_90\n.visible .entry adam_step_f32(\n\t.param .u64 p\n)\n\
                   .visible .entry top_k_f32(\n";
        assert_eq!(entries(ptx), vec!["adam_step_f32", "top_k_f32"]);
    }

    #[test]
    fn cache_paths_differ_by_program_arch_and_nvrtc() {
        let cache = PtxCache::new(Some(PathBuf::from("/c")));
        let p = &super::super::sources::PROGRAMS;
        let a = cache.path(&p[0], Arch::SM90, (12, 8));
        assert_eq!(a, cache.path(&p[0], Arch::SM90, (12, 8)));
        assert_ne!(a, cache.path(&p[1], Arch::SM90, (12, 8)));
        assert_ne!(a, cache.path(&p[0], Arch::SM80, (12, 8)));
        assert_ne!(a, cache.path(&p[0], Arch::SM90, (13, 0)));
        assert!(a.is_some_and(
            |p| p.starts_with("/c") && p.to_string_lossy().contains("dense-compute_90-")
        ));
        assert_eq!(PtxCache::new(None).path(&p[0], Arch::SM90, (12, 8)), None);
    }
}
