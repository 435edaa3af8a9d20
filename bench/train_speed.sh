#!/usr/bin/env bash
# Training throughput with OpenBLAS's own kernel choice against dlm's (DLM_BLAS_KERNELS=keep vs auto):
# the names demo (configs/names.json) and a 6-layer, 384-wide character model at context 256, batch 16
# (bench/char6x384.json, the names file read as running text). Prints each run's BLAS line and its
# tokens/s over the last logging window. Run it alone: a second job on the same cores spoils the figures.
#   bench/train_speed.sh [BUILD_DIR]          (default build/)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-10s %-6s %-12s %s\n' model blas tokens/s "kernels"
for mode in keep auto; do
  for run in "names configs/names.json --set train.steps=200 --set train.log_every=50 --set train.eval_every=1000" \
             "char6x384 bench/char6x384.json"; do
    read -r name config extra <<<"$run"
    # shellcheck disable=SC2086
    DLM_BLAS_KERNELS=$mode "$build/dtrain" --config "$config" $extra --run-dir "$out/$name-$mode" --progress plain \
      >"$out/$name-$mode.log" 2>&1
    blas=$(grep -m1 'BLAS' "$out/$name-$mode.log" | sed 's/^\[[0-9:]*\] //')
    tps=$(grep -o '[0-9]* tok/s' "$out/$name-$mode.log" | tail -1 | cut -d' ' -f1)
    printf '%-10s %-6s %-12s %s\n' "$name" "$mode" "$tps" "$blas"
  done
done
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; threads: dtrain's default (the core count)"
