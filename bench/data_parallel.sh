#!/usr/bin/env bash
# Data-parallel throughput on this machine: 2 ranks x 1 thread (Gloo on loopback, launched by a shell
# loop as torchrun would) against 1 process x 2 threads, for the names and char6x384 presets. Prints
# training tokens/s over the second half of each run (train.log_every is half the steps, so the
# window skips the start), the gradient bytes each step all-reduces, and the step time.
#   bench/data_parallel.sh [STEPS_NAMES] [STEPS_CHAR]     (default 200 and 30; a few minutes)
# Run it alone: two LibTorch jobs on 2 cores slow each other several times over.
set -euo pipefail
cd "$(dirname "$0")/.."
steps_names=${1:-200} steps_char=${2:-30}
out=runs/bench/data_parallel
rm -rf "$out" && mkdir -p "$out"
[ -x build/dtrain ] || { echo "data_parallel.sh: build/dtrain is missing (scripts/setup.sh)" >&2; exit 1; }

speed() { tail -1 "$1/metrics.jsonl" | jq -r '.tokens_per_s'; }
params() { sed -n 's/.*with \([0-9]*\) parameters.*/\1/p' "$1" | head -1; }

run() {  # run PRESET STEPS
  local preset=$1 steps=$2
  local common=(--config "configs/$preset.json" --set "train.steps=$steps" --set "train.eval_every=$steps"
                --set "train.log_every=$((steps / 2))" --progress plain)
  build/dtrain "${common[@]}" --set train.threads=2 --run-dir "$out/$preset-1x2" 2> "$out/$preset-1x2.log"
  local port=$((20000 + RANDOM % 20000)) pids=()
  for r in 0 1; do
    RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
      build/dtrain "${common[@]}" --set train.threads=1 --run-dir "$out/$preset-2x1" 2> "$out/$preset-2x1.$r.log" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  local one two n batch seq
  one=$(speed "$out/$preset-1x2") two=$(speed "$out/$preset-2x1")
  n=$(params "$out/$preset-1x2.log")
  batch=$(jq -r '.train.batch_size' "$out/$preset-1x2/config.json")
  seq=$(jq -r '.data.seq_len' "$out/$preset-1x2/config.json")
  awk -v p="$preset" -v one="$one" -v two="$two" -v n="$n" -v b="$batch" -v s="$seq" 'BEGIN {
    tokens = b * s; bytes = n * 4
    printf "| %s | %d | %d x %d | %.0f | %.0f | %.2fx | %.1f MB | %.0f / %.0f ms |\n", p, n, b, s, one, two, two / one,
      bytes / 1e6, 1000 * tokens / one, 1000 * tokens / two }'
}

echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
echo "| preset | parameters | batch x length | tokens/s, 1 process x 2 threads | tokens/s, 2 ranks x 1 thread | 2 ranks / 1 process | gradient bytes all-reduced per step | step time (1x2 / 2x1) |"
echo "|---|---|---|---|---|---|---|---|"
run names "$steps_names"
run char6x384 "$steps_char"
grep -m1 "BLAS:" "$out/names-1x2.log" | sed 's/^\[[0-9:]*\] //'
echo "all-reduce cost on this machine: /usr/bin/python3 bench/allreduce_gloo.py 3.2 42.6"
