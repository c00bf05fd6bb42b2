//! Clearing the upper halves of the vector registers after faer's matrix products.
//!
//! faer's GEMM micro-kernels use 256- and 512-bit instructions and return without `vzeroupper`
//! on the threads that ran them. Code compiled for the baseline x86-64 target (our element-wise
//! kernels, libm's scalar `expf`) uses legacy-encoded SSE instructions, and every one of them
//! then pays for the dirty upper state: measured on this project's AMD EPYC machine, the
//! multinomial softmax over 500 x 5,000 logits went from 30 ms to 1.0 s on the rayon workers
//! that had just run a GEMM (`kernels/examples/softmax_probe.rs`). Every call into faer is
//! therefore followed by [`after_matmul`] (on the thread that called it, for sequential
//! products) or [`after_parallel_matmul`] (on every rayon worker too).

/// `vzeroupper` on the current thread where the CPU has AVX; nothing elsewhere.
#[inline]
pub fn after_matmul() {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the instruction exists, as just checked, and only clears the upper
            // halves of the vector registers, which no live value of the caller occupies
            // across this call.
            unsafe { zero_upper() }
        }
    }
}

/// [`after_matmul`] on the current thread and on every thread of rayon's current pool.
pub fn after_parallel_matmul() {
    after_matmul();
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx") {
            rayon::broadcast(|_| after_matmul());
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn zero_upper() {
    std::arch::x86_64::_mm256_zeroupper();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_harmless_inside_and_outside_the_pool() {
        let v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        after_parallel_matmul();
        let s: f32 = rayon::join(
            || {
                after_matmul();
                v[..500].iter().sum::<f32>()
            },
            || {
                after_parallel_matmul();
                v[500..].iter().sum::<f32>()
            },
        )
        .0;
        assert_eq!(s, (0..500).map(|i| i as f32).sum::<f32>());
    }
}
