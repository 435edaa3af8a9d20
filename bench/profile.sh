#!/usr/bin/env bash
# Where a training step of configs/char6x384.json spends its time in dlm: samples build*/train_bench
# with Linux perf and prints the share of CPU time by library (BLAS kernels, ATen's own kernels,
# OpenMP's waiting, the C library, the kernel) and the top functions. Needs perf (apt-get install
# linux-perf). Run it alone.
#   bench/profile.sh [--flavour debian|pip] [--steps N] [--precision fp32|bf16]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
flavour=debian steps=10 precision=fp32 text=data/plays/plays.txt
while [ $# -gt 0 ]; do
  case $1 in
    --flavour) flavour=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    *) echo "profile.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
bench_setup profile.sh "$flavour" "$text"
command -v perf >/dev/null || { echo "profile.sh: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
data=$(mktemp)
trap 'rm -f "$data"' EXIT
# Training steps only: train_bench's GEMM and latency parts are skipped.
perf record -q -F 999 -o "$data" -- "$build/train_bench" --config configs/char6x384.json --text "$text" \
  --steps "$steps" --warmup 2 --precision "$precision" --threads 2 --gemm-repeats 0 --latency-repeats 0 >/dev/null
echo "CPU time by library ($steps training steps, $precision, $build):"
perf report -q -i "$data" --sort dso --stdio 2>/dev/null | grep -v '^$' | sed -E 's/ +$//' | head -12
echo
echo "top functions:"
perf report -q -i "$data" --sort dso,symbol --stdio 2>/dev/null | grep -v '^$' | sed -E 's/ +-? +-? *$//; s/ {3,}/  /g' | head -25
