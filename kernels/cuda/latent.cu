// The latent code (`cpu::latent`): gated reparameterisation, its backward pass, and KL.
// Gate modes, as `cpu::latent::GateMode`: 0 off, 1 literal (z = mu + sigma eps g, the paper's
// eq. 5), 2 scale (z = g (mu + sigma eps)). `eps == nullptr` is inference (z from the mean);
// `gate == nullptr` means g = 1.
#include "common.cuh"

extern "C" __global__ void reparameterise_f32(const float* mu, const float* logvar,
                                              const float* eps, const float* gate, float* z,
                                              u64 n, int mode) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n;
         i += (u64)gridDim.x * blockDim.x) {
        const float noise = eps ? expf(0.5f * logvar[i]) * eps[i] : 0.0f;
        const float g = gate ? gate[i] : 1.0f;
        float v;
        if (mode == 1) v = mu[i] + noise * g;
        else if (mode == 2) v = g * (mu[i] + noise);
        else v = mu[i] + noise;
        z[i] = v;
    }
}

// Gradients written (not added) into dmu, dlogvar and, unless null, dgate.
extern "C" __global__ void reparameterise_backward_f32(const float* mu, const float* logvar,
                                                       const float* eps, const float* gate,
                                                       const float* dz, float* dmu,
                                                       float* dlogvar, float* dgate, u64 n,
                                                       int mode) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n;
         i += (u64)gridDim.x * blockDim.x) {
        const float noise = expf(0.5f * logvar[i]) * eps[i];
        const float g = gate ? gate[i] : 1.0f;
        const float d = dz[i];
        float m, v, dg;
        if (mode == 1) {
            m = d;
            v = d * g * 0.5f * noise;
            dg = d * noise;
        } else if (mode == 2) {
            m = d * g;
            v = d * g * 0.5f * noise;
            dg = d * (mu[i] + noise);
        } else {
            m = d;
            v = d * 0.5f * noise;
            dg = 0.0f;
        }
        dmu[i] = m;
        dlogvar[i] = v;
        if (dgate) dgate[i] = dg;
    }
}

// KL(N(mu, sigma^2) || N(0, 1)) of each row into kl[row] (f64, as the CPU sums it), and
// `scale` times its gradient added to dmu and dlogvar. One warp per row: the latent sizes
// (50 to 600) fill a warp many times over and need no block synchronisation.
extern "C" __global__ void kl_divergence_f32(const float* mu, const float* logvar, u64 rows,
                                             u32 latent, float scale, float* dmu, float* dlogvar,
                                             double* kl) {
    const u64 row = (blockIdx.x * (u64)blockDim.x + threadIdx.x) >> 5;
    const u32 lane = threadIdx.x & 31;
    if (row >= rows) return;
    const u64 base = row * latent;
    double acc = 0.0;
    for (u32 i = lane; i < latent; i += 32) {
        const float m = mu[base + i], v = logvar[base + i];
        const float e = expf(v);
        acc += 0.5 * (double)(e + m * m - 1.0f - v);
        dmu[base + i] += scale * m;
        dlogvar[base + i] += scale * 0.5f * (e - 1.0f);
    }
    acc = warp_sum_f64(acc);
    if (lane == 0) kl[row] = acc;
}
