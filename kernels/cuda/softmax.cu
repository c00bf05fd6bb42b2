// The multinomial log-likelihood of Mult-VAE and its gradient in place over the logits
// (`cpu::softmax`): for logits o and the user's counts x (one CSR row),
//   loss = sum(x) logsumexp(o) - sum_i x_i o_i,   d loss / d o = sum(x) softmax(o) - x.
// One block per row, two passes over it: an online (max, sum) pass merged across the block
// (nothing is exponentiated past its maximum, so large logits cannot overflow), then the
// scaled gradient written over the logits. The losses are returned unscaled, in f64.
#include "common.cuh"

extern "C" __global__ void multinomial_nll_f32(float* logits, u64 rows, u32 cols,
                                               const u64* offsets, const u32* indices,
                                               const float* values, float scale,
                                               double* loss) {
    __shared__ float s_max[32];
    __shared__ float s_sum[32];
    __shared__ double s_f64[32];
    const u64 row = blockIdx.x;
    if (row >= rows) return;
    float* o = logits + row * cols;
    const u64 a = offsets[row], b = offsets[row + 1];

    // Terms of the targets, in f64 as on the CPU.
    double picked = 0.0, total = 0.0;
    for (u64 e = a + threadIdx.x; e < b; e += blockDim.x) {
        const double v = values[e];
        picked += v * (double)o[indices[e]];
        total += v;
    }
    picked = block_sum_f64(picked, s_f64);
    total = block_sum_f64(total, s_f64);

    MaxSum ms;
    ms.max = NEG_INF;
    ms.sum = 0.0f;
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x) {
        const float v = o[j];
        if (v > ms.max) {
            ms.sum = ms.sum * expf(ms.max - v) + 1.0f;
            ms.max = v;
        } else {
            ms.sum += expf(v - ms.max);
        }
    }
    ms = warp_maxsum(ms);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int warps = (blockDim.x + 31) >> 5;
    if (lane == 0) {
        s_max[warp] = ms.max;
        s_sum[warp] = ms.sum;
    }
    __syncthreads();
    MaxSum all;
    all.max = lane < warps ? s_max[lane] : NEG_INF;
    all.sum = lane < warps ? s_sum[lane] : 0.0f;
    all = warp_maxsum(all);
    const float max = all.max, sum = all.sum;

    const float coef = (float)total * scale / sum;
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x) o[j] = coef * expf(o[j] - max);
    // Every thread must finish writing the softmax before the targets are subtracted.
    __syncthreads();
    for (u64 e = a + threadIdx.x; e < b; e += blockDim.x) o[indices[e]] -= scale * values[e];
    if (threadIdx.x == 0) loss[row] = total * ((double)max + log((double)sum)) - picked;
}
