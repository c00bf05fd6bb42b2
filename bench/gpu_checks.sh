#!/usr/bin/env bash
# The CUDA checks and benchmarks for the device machine (an H100/H200 lent through the
# `device` tool), which has CUDA, nvcc and Python but no Rust: build here, carry, run there.
#
# Here:
#   bash bench/gpu_bundle.sh        (builds, strips and lists target/gpu; under the 64 MiB carry)
# There (run with carry ["target/gpu"]):
#   bash bench/gpu_checks.sh target/gpu
#
# Writes $OUT/gpu_checks.txt: the device, driver and libraries, every test's result, the cuBLAS
# GEMM rates and a VAE training run at the paper's size. ARCHETYPE_REQUIRE_GPU=1 turns "no GPU"
# into a failure instead of a skip.
set -uo pipefail
dir=${1:-target/gpu}
out=${OUT:-/tmp}/gpu_checks.txt
export ARCHETYPE_REQUIRE_GPU=1 ARCHETYPE_REQUIRE_NVRTC=1 RUST_BACKTRACE=1
export ARCHETYPE_PTX_CACHE=${ARCHETYPE_PTX_CACHE:-/tmp/archetype-ptx}
# The image's CUDA libraries (driver, toolkit, pip wheels); cudarc searches LD_LIBRARY_PATH.
for d in /usr/local/cuda/lib64 /usr/local/nvidia/lib64 \
  $(python3 -c 'import nvidia, os; [print(os.path.join(p, s, "lib")) for p in nvidia.__path__ for s in os.listdir(p)]' 2>/dev/null); do
  [ -d "$d" ] && LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
# NCCL: cudarc loads libnccl.so, which packages ship only as libnccl.so.2; link it in a folder
# of our own. Found: the NCCL test must run (ARCHETYPE_REQUIRE_NCCL=1); not found: say so.
nccl2=$( (ldconfig -p 2>/dev/null | awk '$1 == "libnccl.so.2" { print $NF; exit }';
  IFS=:; for d in $LD_LIBRARY_PATH; do ls "$d"/libnccl.so.2 2>/dev/null; done) | head -n 1)
if [ -n "$nccl2" ]; then
  mkdir -p /tmp/archetype-nccl && ln -sf "$nccl2" /tmp/archetype-nccl/libnccl.so
  LD_LIBRARY_PATH="/tmp/archetype-nccl:$LD_LIBRARY_PATH"
  export ARCHETYPE_REQUIRE_NCCL=1
fi
export LD_LIBRARY_PATH
rc=0
{
  echo "== $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1
  echo "libnccl.so.2: ${nccl2:-not found (the NCCL test reports itself as not run)}"
  for t in "$dir"/tests/*; do
    [ -x "$t" ] || continue
    echo "== test $(basename "$t")"
    if ! "$t" --test-threads=1 > /tmp/gpu-test.log 2>&1; then rc=1; fi
    # Each test's line, and each panic with the message on the line after it.
    awk '/^test |test result|not run/ {print} /panicked/ {print; getline; print}' /tmp/gpu-test.log
  done
  if [ -x "$dir/bin/gemm_peak" ]; then
    echo "== cuBLAS GEMM rates"
    "$dir/bin/gemm_peak" 10 || rc=1
  fi
  if [ -x "$dir/bin/als_gpu_bench" ]; then
    echo "== ALS iterations on the GPU: 10 M non-zeros, 128 and 512 factors"
    "$dir/bin/als_gpu_bench" 200000 100000 10000000 5 128 512 || rc=1
  fi
  if [ -x "$dir/bin/vae_bench" ]; then
    echo "== VAE epochs on the GPU, the paper's sizes (122,442 tracks, 1200/600)"
    for gemm in f32 tf32 bf16; do
      VAE_BENCH_BIN="$dir/bin/vae_bench" ARCHETYPE_DEVICE=cuda ARCHETYPE_GEMM=$gemm \
        python3 bench/vae_vs_torch.py 20000 122442 2000000 --hidden 1200 --latent 600 \
        --epochs 2 --replicas 1 --torch-input none || rc=1
    done
  fi
  echo "== exit $rc"
  exit $rc
} 2>&1 | tee "$out"
