#!/usr/bin/env bash
# Builds what bench/gpu_checks.sh runs on the device machine (which has CUDA but no Rust) and
# puts it under target/gpu, stripped: the CUDA test binaries of kernels, vae and als, and the
# release examples gemm_peak, als_gpu_bench and vae_bench. Then carry ["target/gpu"] and run there
#   bash bench/gpu_checks.sh target/gpu
# Fails when the bundle would not fit the device tool's 64 MiB carry.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -p archetype-kernels -p archetype-vae -p archetype-als --no-run --locked \
  --message-format=json | python3 bench/gpu_test_binaries.py > target/gpu-tests.txt
cargo build --release --locked -p archetype-kernels --example gemm_peak \
  --example als_gpu_bench -p archetype-vae --example vae_bench
rm -rf target/gpu && mkdir -p target/gpu/tests target/gpu/bin
xargs -a target/gpu-tests.txt cp -t target/gpu/tests
cp target/release/examples/{gemm_peak,als_gpu_bench,vae_bench} target/gpu/bin
strip target/gpu/tests/* target/gpu/bin/*
ls -l target/gpu/tests target/gpu/bin
size=$(du -sb target/gpu | cut -f1)
echo "target/gpu: $((size >> 20)) MiB"
if [ "$size" -gt $((60 << 20)) ]; then
  echo "target/gpu is over 60 MiB: the device tool carries 64 MiB in all" >&2
  exit 1
fi
