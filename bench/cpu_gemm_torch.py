#!/usr/bin/env python3
"""The decoder's three products of one Mult-VAE step in PyTorch (CPU), as
`kernels/examples/cpu_gemm.rs` times them with faer: best seconds and GFLOP/s of each.

    bench/.venv/bin/python bench/cpu_gemm_torch.py [batch] [hidden] [items] [reps] [threads]
"""
import json
import sys
import time

import torch

b, h, n, reps, threads = (int(v) for v in (sys.argv[1:] + ["500", "1200", "100000", "3", "2"][len(sys.argv) - 1:]))
torch.set_num_threads(threads)
h2 = torch.randn(b, h)
w = torch.randn(h, n)
d = torch.randn(b, n)
dw = torch.zeros(h, n)
flop = 2.0 * b * h * n
best = [float("inf")] * 3
for _ in range(reps):
    t = time.perf_counter(); logits = h2 @ w; best[0] = min(best[0], time.perf_counter() - t)
    t = time.perf_counter(); dw.addmm_(h2.t(), d); best[1] = min(best[1], time.perf_counter() - t)
    t = time.perf_counter(); dh = d @ w.t(); best[2] = min(best[2], time.perf_counter() - t)
names = ["logits = h2 W", "dW += h2^T d", "dh2 = d W^T"]
print(json.dumps({"shape": [b, h, n], **{k: [round(s, 4), round(flop / s / 1e9, 1)] for k, s in zip(names, best)}}))
