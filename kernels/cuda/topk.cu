// Top-K selection for evaluation and recommendation lists (`cpu::topk`): the indices of the
// k largest finite scores of every row, best first, ties to the lower index, rows with fewer
// than k finite scores giving fewer. One block per row: a 4-pass radix select (8 bits a pass)
// finds the k-th largest key, the keys above it and the lowest-indexed ties are gathered, and
// the k survivors are sorted by a bitonic network in shared memory. k <= TOPK_MAX.
#include "common.cuh"

#define TOPK_MAX 1024

// Finite floats to u32 keys ordered as the floats; 0 marks "not a candidate" (non-finite),
// which no finite float maps to.
__device__ __forceinline__ u32 order_key(float s) {
    const u32 u = __float_as_uint(s);
    if ((u & 0x7f800000u) == 0x7f800000u) return 0u;
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Sets the excluded scores of every row (a CSR of column lists: the user's input tracks) to
// -inf, so that `top_k_f32` skips them. One block per row.
extern "C" __global__ void mask_excluded_f32(float* scores, u64 rows, u32 cols,
                                             const u64* offsets, const u32* indices) {
    const u64 r = blockIdx.x;
    if (r >= rows) return;
    for (u64 e = offsets[r] + threadIdx.x; e < offsets[r + 1]; e += blockDim.x) {
        const u32 j = indices[e];
        if (j < cols) scores[r * cols + j] = NEG_INF;
    }
}

// out_idx is rows x k (entries past count[r] are left as they were); count[r] <= k.
extern "C" __global__ void top_k_f32(const float* scores, u64 rows, u32 cols, u32 k,
                                     u32* out_idx, u32* count) {
    __shared__ u32 hist[256];
    __shared__ u32 cand_key[TOPK_MAX];
    __shared__ u32 cand_idx[TOPK_MAX];
    __shared__ u32 s_u32[32];
    __shared__ u32 s_prefix, s_need, s_fill, s_taken;
    const u64 row = blockIdx.x;
    if (row >= rows || k == 0 || k > TOPK_MAX) return;
    const float* s = scores + row * cols;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int warps = (blockDim.x + 31) >> 5;

    u32 valid = 0;
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x) valid += order_key(s[j]) != 0u;
    const u32 n_valid = block_sum_u32(valid, s_u32);
    const u32 kk = n_valid < k ? n_valid : k;
    if (kk == 0) {
        if (threadIdx.x == 0) count[row] = 0;
        return;
    }

    // Radix select: after the passes, s_prefix is the kk-th largest key and s_need the
    // number of elements equal to it that belong to the top kk.
    if (threadIdx.x == 0) {
        s_prefix = 0;
        s_need = kk;
    }
    u32 mask = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
        __syncthreads();
        const u32 prefix = s_prefix;
        for (u32 j = threadIdx.x; j < cols; j += blockDim.x) {
            const u32 key = order_key(s[j]);
            if (key != 0u && (key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            u32 need = s_need, above = 0;
            int b = 255;
            for (; b > 0; --b) {
                if (above + hist[b] >= need) break;
                above += hist[b];
            }
            s_need = need - above;
            s_prefix = prefix | ((u32)b << shift);
        }
        mask |= 255u << shift;
        __syncthreads();
    }
    const u32 thr = s_prefix, need = s_need;
    const u32 above = kk - need;

    // Everything above the threshold (fewer than kk of them), in any order: the sort below
    // orders them.
    if (threadIdx.x == 0) {
        s_fill = 0;
        s_taken = 0;
    }
    __syncthreads();
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x) {
        const u32 key = order_key(s[j]);
        if (key > thr) {
            const u32 at = atomicAdd(&s_fill, 1u);
            cand_key[at] = key;
            cand_idx[at] = j;
        }
    }
    // The ties, lowest indices first: tile by tile, a block-wide prefix count of the tied
    // elements decides which are still needed.
    for (u32 base = 0; base < cols; base += blockDim.x) {
        __syncthreads();
        const u32 taken = s_taken;
        if (taken >= need) break;
        const u32 j = base + threadIdx.x;
        const bool tie = j < cols && order_key(s[j]) == thr;
        const u32 ballot = __ballot_sync(FULL_MASK, tie);
        if (lane == 0) s_u32[warp] = __popc(ballot);
        __syncthreads();
        u32 before = 0, tile = 0;
        for (int w = 0; w < warps; ++w) {
            if (w < warp) before += s_u32[w];
            tile += s_u32[w];
        }
        before += __popc(ballot & ((1u << lane) - 1u));
        if (tie && taken + before < need) {
            cand_key[above + taken + before] = thr;
            cand_idx[above + taken + before] = j;
        }
        __syncthreads();
        if (threadIdx.x == 0) s_taken = taken + tile;
    }
    __syncthreads();

    // Bitonic sort of the kk candidates, padded to a power of two with entries that sort
    // last: better = larger key, then smaller index.
    u32 size = 1;
    while (size < kk) size <<= 1;
    for (u32 i = kk + threadIdx.x; i < size; i += blockDim.x) {
        cand_key[i] = 0;
        cand_idx[i] = 0xffffffffu;
    }
    __syncthreads();
    for (u32 len = 2; len <= size; len <<= 1) {
        for (u32 stride = len >> 1; stride > 0; stride >>= 1) {
            for (u32 i = threadIdx.x; i < size; i += blockDim.x) {
                const u32 p = i ^ stride;
                if (p > i) {
                    const u32 ki = cand_key[i], kp = cand_key[p];
                    const u32 ii = cand_idx[i], ip = cand_idx[p];
                    const bool p_better = kp > ki || (kp == ki && ip < ii);
                    // Blocks with (i & len) == 0 sort best-first, the others worst-first.
                    const bool swap = ((i & len) == 0) ? p_better : !p_better;
                    if (swap) {
                        cand_key[i] = kp;
                        cand_key[p] = ki;
                        cand_idx[i] = ip;
                        cand_idx[p] = ii;
                    }
                }
            }
            __syncthreads();
        }
    }
    for (u32 i = threadIdx.x; i < kk; i += blockDim.x) out_idx[row * k + i] = cand_idx[i];
    if (threadIdx.x == 0) count[row] = kk;
}
