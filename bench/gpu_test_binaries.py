#!/usr/bin/env python3
"""Reads `cargo test --no-run --message-format=json` on stdin and prints the paths of the test
executables that hold the CUDA checks (kernels' cuda_ops and nvrtc, vae's gpu_model, als's
distributed with its GPU-solve test)."""
import json
import sys

WANTED = {"cuda_ops", "nvrtc", "gpu_model", "distributed"}
for line in sys.stdin:
    try:
        m = json.loads(line)
    except json.JSONDecodeError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        if m.get("target", {}).get("name") in WANTED:
            print(m["executable"])
