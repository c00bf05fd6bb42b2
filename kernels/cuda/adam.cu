// Adam with bias correction, as `cpu::adam` and torch.optim.Adam compute it. The host folds
// the bias corrections into `step_size = lr / (1 - beta1^t)` and `c2_sqrt = sqrt(1 - beta2^t)`
// (in f64, as the CPU does), so every replica applies the same step.
#include "common.cuh"

extern "C" __global__ void adam_step_f32(float* param, const float* grad, float* m, float* v,
                                         u64 n, float beta1, float beta2, float eps,
                                         float step_size, float c2_sqrt) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n;
         i += (u64)gridDim.x * blockDim.x) {
        const float g = grad[i];
        const float mi = beta1 * m[i] + (1.0f - beta1) * g;
        const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        const float denom = sqrtf(vi) / c2_sqrt + eps;
        param[i] -= step_size * mi / denom;
    }
}
