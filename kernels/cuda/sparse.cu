// The sparse input layer (`cpu::sparse`): out = X W for the CSR batch X (64-bit offsets,
// u32 columns) and its transpose product dW += X^T dY for the weight gradient. Both give each
// output row to one block whose threads stride over the h hidden units, so every sum runs in
// the CSR's order, on one thread: the results do not depend on the launch shape and match the
// CPU's order of additions.
#include "common.cuh"

extern "C" __global__ void spmm_f32(const u64* offsets, const u32* indices, const float* values,
                                    u64 rows, const float* w, u32 h, float* out,
                                    int accumulate) {
    const u64 r = blockIdx.x;
    if (r >= rows) return;
    const u64 a = offsets[r], b = offsets[r + 1];
    float* o = out + r * h;
    for (u32 t = threadIdx.x; t < h; t += blockDim.x) {
        float acc = accumulate ? o[t] : 0.0f;
        for (u64 e = a; e < b; ++e) acc += values[e] * w[(u64)indices[e] * h + t];
        o[t] = acc;
    }
}

// dW += X^T dY with X given by its transpose (for every column j, the (row, value) pairs in
// row order): only the rows of dW whose column X touches are written.
extern "C" __global__ void spmm_transpose_acc_f32(const u64* t_offsets, const u32* t_rows,
                                                  const float* t_values, u64 cols,
                                                  const float* dy, u32 h, float* dw) {
    const u64 j = blockIdx.x;
    if (j >= cols) return;
    const u64 a = t_offsets[j], b = t_offsets[j + 1];
    if (a == b) return;
    float* d = dw + j * h;
    for (u32 t = threadIdx.x; t < h; t += blockDim.x) {
        float acc = d[t];
        for (u64 e = a; e < b; ++e) acc += t_values[e] * dy[(u64)t_rows[e] * h + t];
        d[t] = acc;
    }
}
