// The elementwise parts of the dense layers around cuBLAS's GEMMs (`cpu::dense`): fused bias +
// activation, its backward pass, and the bias gradient.
#include "common.cuh"

// Activation codes, as `cpu::dense::Activation`: 0 identity, 1 tanh, 2 sigmoid.
__device__ __forceinline__ float activate(float v, int act) {
    if (act == 1) return tanhf(v);
    if (act == 2) return 1.0f / (1.0f + expf(-v));
    return v;
}

// x[r, j] = act(x[r, j] + bias[j]) over a row-major rows x cols matrix. Grid-stride over the
// 64-bit element count: a batch of 500 x 1M logits has 5e8 elements.
extern "C" __global__ void bias_activation_f32(float* x, const float* bias, u64 rows, u32 cols,
                                               int act) {
    const u64 n = rows * (u64)cols;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n;
         i += (u64)gridDim.x * blockDim.x) {
        x[i] = activate(x[i] + bias[i % cols], act);
    }
}

// dy = dy * act'(y), with y the activation's output.
extern "C" __global__ void activation_backward_f32(float* dy, const float* y, u64 n, int act) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n;
         i += (u64)gridDim.x * blockDim.x) {
        const float v = y[i];
        if (act == 1) dy[i] *= 1.0f - v * v;
        else if (act == 2) dy[i] *= v * (1.0f - v);
    }
}

// out[j] += sum_r dy[r, j]. One thread per column walking the rows in order: the reads of a
// warp are coalesced (adjacent columns) and the sum does not depend on the launch shape,
// matching the CPU's row-order sum.
extern "C" __global__ void column_sums_f32(const float* dy, float* out, u64 rows, u32 cols) {
    const u32 j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    float acc = 0.0f;
    for (u64 r = 0; r < rows; ++r) acc += dy[r * cols + j];
    out[j] += acc;
}
