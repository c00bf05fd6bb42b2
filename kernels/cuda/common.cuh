// Shared by every kernel file. NVRTC has no include path at run time, so the Rust side
// (`kernels/src/cuda/sources.rs`) pastes this file over each kernel file's include line; nvcc
// finds it by `-I kernels/cuda`.
#ifndef ARCHETYPE_COMMON_CUH
#define ARCHETYPE_COMMON_CUH

typedef unsigned int u32;
typedef unsigned long long u64;

#define FULL_MASK 0xffffffffu
// math.h's INFINITY is not there under NVRTC without headers.
#define NEG_INF __int_as_float(0xff800000)

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ double warp_sum_f64(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ u32 warp_sum_u32(u32 v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ u32 block_sum_u32(u32 v, u32* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int warps = (blockDim.x + 31) >> 5;
    v = warp_sum_u32(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    u32 t = lane < warps ? scratch[lane] : 0u;
    return warp_sum_u32(t);
}

// Sum over the block, returned to every thread. `scratch` holds one value per warp (32 is
// enough for 1024 threads). Warps combine in a fixed order, so the result is reproducible.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int warps = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = lane < warps ? scratch[lane] : 0.0f;
    t = warp_sum(t);
    return t;
}

__device__ __forceinline__ double block_sum_f64(double v, double* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int warps = (blockDim.x + 31) >> 5;
    v = warp_sum_f64(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    double t = lane < warps ? scratch[lane] : 0.0;
    t = warp_sum_f64(t);
    return t;
}

// Online (max, sum of exp(x - max)) pairs, merged so that nothing is exponentiated past its
// maximum: the one-pass logsumexp of the multinomial likelihood.
struct MaxSum {
    float max;
    float sum;
};

__device__ __forceinline__ MaxSum maxsum_merge(MaxSum a, MaxSum b) {
    if (a.max == NEG_INF) return b;
    if (b.max == NEG_INF) return a;
    if (a.max >= b.max) {
        a.sum += b.sum * expf(b.max - a.max);
        return a;
    }
    b.sum += a.sum * expf(a.max - b.max);
    return b;
}

__device__ __forceinline__ MaxSum warp_maxsum(MaxSum v) {
    for (int o = 16; o > 0; o >>= 1) {
        MaxSum other;
        other.max = __shfl_xor_sync(FULL_MASK, v.max, o);
        other.sum = __shfl_xor_sync(FULL_MASK, v.sum, o);
        v = maxsum_merge(v, other);
    }
    return v;
}

#endif
