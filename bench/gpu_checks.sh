#!/usr/bin/env bash
# The CUDA checks of the device machine (an H100/H200 lent through the `device` tool), which has
# CUDA, nvcc and Python but no Rust: build the test binaries here, carry them, run them there.
#
#   cargo test -p archetype-kernels -p archetype-vae --no-run --message-format=json \
#     | bench/gpu_test_binaries.py > target/gpu-tests.txt        # lists the binaries
#   mkdir -p target/gpu && xargs -a target/gpu-tests.txt cp -t target/gpu && strip target/gpu/*
#   (the carry limit is 64 MiB; stripped, the three binaries are a few MiB each)
#   (device) run: bash bench/gpu_checks.sh target/gpu   with carry ["target/gpu"]
#
# Writes $OUT/gpu_checks.txt: the device, driver, library versions and every test's result.
# ARCHETYPE_REQUIRE_GPU=1 turns "no GPU" into a failure instead of a skip.
set -uo pipefail
bins=${1:-target/gpu}
out=${OUT:-/tmp}/gpu_checks.txt
export ARCHETYPE_REQUIRE_GPU=1 ARCHETYPE_REQUIRE_NVRTC=1 RUST_BACKTRACE=1
export ARCHETYPE_PTX_CACHE=${ARCHETYPE_PTX_CACHE:-/tmp/archetype-ptx}
# The image's CUDA libraries (driver under /usr/local/nvidia or the system; toolkit and pip
# wheels for NVRTC and cuBLAS); cudarc searches LD_LIBRARY_PATH.
for d in /usr/local/cuda/lib64 /usr/local/nvidia/lib64 \
  $(python3 -c 'import nvidia, os; [print(os.path.join(p, sub, "lib")) for p in nvidia.__path__ for sub in os.listdir(p)]' 2>/dev/null); do
  [ -d "$d" ] && LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
export LD_LIBRARY_PATH
{
  echo "== $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1
  ls -1 /usr/local/cuda/lib64/libnvrtc.so* /usr/local/cuda/lib64/libcublas.so* 2>&1 | head
  rc=0
  for t in "$bins"/*; do
    [ -x "$t" ] || continue
    echo "== $(basename "$t")"
    "$t" --test-threads=1 2>&1 | grep -E '^test |test result|panicked|error|relative' || true
    "$t" --test-threads=1 >/dev/null 2>&1 || rc=1
  done
  echo "== exit $rc"
} | tee "$out"
