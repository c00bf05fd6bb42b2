// The batched per-row ALS solve of weighted matrix factorisation (`cpu::als::solve` with
// `Solver::Cg`): every row u of X solves
//   (A0 + Y^T (C_u - I) Y) x_u = Y^T C_u p_u,   A0 = Y^T Y + lambda I,
// by `steps` conjugate-gradient iterations warm-started from the current x_u, as implicit's
// `_solve_cg` and the CPU kernel do; the matrix is never formed.
//
// One block per row; the block's threads stride over the k factors. Each product with the
// sparse part runs in two phases so that no two threads add into one value: the warps first
// compute one coefficient per non-zero (a dot product with y_j, reduced within a warp) into
// `coef` (a scratch of nnz floats, addressed by the CSR's 64-bit offsets), then every thread
// sums coefficient times y_j over the row's non-zeros for its own factors, in CSR order.
// Shared memory: 4 k floats (x, r, p, Ap) plus reduction scratch, so k = 1024 takes 16 KiB
// and k above 3,000 needs the launcher to raise the dynamic shared-memory limit (Hopper
// allows 227 KiB: k up to about 14,000).
#include "common.cuh"

#define CG_EPS 1e-20f

// out[t] = sum_c a0[c, t] v[c] for the block's t (a0 is symmetric; reading its column c
// across t is coalesced).
__device__ __forceinline__ void dense_times(float* out, const float* a0, const float* v, u32 k) {
    for (u32 t = threadIdx.x; t < k; t += blockDim.x) {
        float acc = 0.0f;
        for (u32 c = 0; c < k; ++c) acc += a0[(u64)c * k + t] * v[c];
        out[t] = acc;
    }
}

// coef[e] = alpha_e + beta_e dot(y_j, v) for the row's non-zeros e (j = indices[e]), with
// (alpha, beta) = (c, 1 - c) for the residual and (0, c - 1) for A p.
__device__ __forceinline__ void sparse_coefficients(float* coef, const float* y, const float* v,
                                                    u32 k, const u32* indices,
                                                    const float* conf, u64 a, u64 b,
                                                    bool residual) {
    const u32 lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const u32 warps = (blockDim.x + 31) >> 5;
    for (u64 e = a + warp; e < b; e += warps) {
        const float* yj = y + (u64)indices[e] * k;
        float d = 0.0f;
        for (u32 t = lane; t < k; t += 32) d += yj[t] * v[t];
        d = warp_sum(d);
        if (lane == 0) {
            const float c = conf[e];
            coef[e] = residual ? c - (c - 1.0f) * d : (c - 1.0f) * d;
        }
    }
}

// out[t] += sum_e coef[e] y_j[t].
__device__ __forceinline__ void sparse_accumulate(float* out, const float* coef, const float* y,
                                                  u32 k, const u32* indices, u64 a, u64 b) {
    for (u32 t = threadIdx.x; t < k; t += blockDim.x) {
        float acc = out[t];
        for (u64 e = a; e < b; ++e) acc += coef[e] * y[(u64)indices[e] * k + t];
        out[t] = acc;
    }
}

__device__ __forceinline__ float block_dot(const float* a, const float* b, u32 k, float* scratch) {
    float acc = 0.0f;
    for (u32 t = threadIdx.x; t < k; t += blockDim.x) acc += a[t] * b[t];
    return block_sum(acc, scratch);
}

extern "C" __global__ void als_cg_f32(float* x, const float* y, const float* a0, u32 k,
                                      u64 rows, const u64* offsets, const u32* indices,
                                      const float* conf, u32 steps, float* coef) {
    extern __shared__ float smem[];
    __shared__ float red[32];
    const u64 row = blockIdx.x;
    if (row >= rows) return;
    float* xs = smem;
    float* r = smem + k;
    float* p = smem + 2 * (u64)k;
    float* ap = smem + 3 * (u64)k;
    float* xu = x + row * k;
    const u64 a = offsets[row], b = offsets[row + 1];

    for (u32 t = threadIdx.x; t < k; t += blockDim.x) xs[t] = xu[t];
    __syncthreads();
    // r = b - A x with b = sum_j c_j y_j (the preference is 1 on every non-zero).
    dense_times(r, a0, xs, k);
    for (u32 t = threadIdx.x; t < k; t += blockDim.x) r[t] = -r[t];
    sparse_coefficients(coef, y, xs, k, indices, conf, a, b, true);
    __syncthreads();
    sparse_accumulate(r, coef, y, k, indices, a, b);
    __syncthreads();
    for (u32 t = threadIdx.x; t < k; t += blockDim.x) p[t] = r[t];
    float rsold = block_dot(r, r, k, red);
    if (rsold < CG_EPS) return;

    for (u32 it = 0; it < steps; ++it) {
        __syncthreads();
        dense_times(ap, a0, p, k);
        sparse_coefficients(coef, y, p, k, indices, conf, a, b, false);
        __syncthreads();
        sparse_accumulate(ap, coef, y, k, indices, a, b);
        __syncthreads();
        const float pap = block_dot(p, ap, k, red);
        // Positive whenever A is positive definite and p != 0; stopping keeps NaN out of x
        // when the inputs break that (the CPU kernel does the same).
        if (!(pap > 0.0f)) break;
        const float alpha = rsold / pap;
        for (u32 t = threadIdx.x; t < k; t += blockDim.x) {
            xs[t] += alpha * p[t];
            r[t] -= alpha * ap[t];
        }
        __syncthreads();
        const float rsnew = block_dot(r, r, k, red);
        if (rsnew < CG_EPS) break;
        const float beta = rsnew / rsold;
        for (u32 t = threadIdx.x; t < k; t += blockDim.x) p[t] = r[t] + beta * p[t];
        rsold = rsnew;
    }
    __syncthreads();
    for (u32 t = threadIdx.x; t < k; t += blockDim.x) xu[t] = xs[t];
}

// out[j, :] = src[pos[j], :] for the `rows` rows of a half-step's compact copy of the fixed
// side, picked from the side all-gathered over NCCL (`cpu::als::gather_rows`). Offsets in
// 64 bits: a million rows of 1,024 factors pass 2^31 values.
extern "C" __global__ void gather_rows_f32(float* out, const float* src, const u64* pos, u64 rows,
                                           u32 k) {
    const u64 n = rows * k;
    const u64 stride = (u64)gridDim.x * blockDim.x;
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const u64 j = i / k;
        out[i] = src[pos[j] * k + (i - j * k)];
    }
}
