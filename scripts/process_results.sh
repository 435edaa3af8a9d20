#!/usr/bin/env bash
# Measures docs/results.md's comparison of seed 004's three processes on KJV: masking (absorbing
# noise), uniform noise and the simplex, each trained alone for the same wall time (configs/kjv_absorbing,
# kjv_uniform, kjv_simplex: train.time_limit 900 s), against the autoregressive twin trained the same
# way (configs/kjv_ar15). The scorer is the longer-trained twin (configs/kjv_ar, 700 steps).
# For each: `dtrain --eval` (the bound where the process has one, the loss per noise level), then the
# first 16 tokens of each of the 9 validation books continued by 240 tokens with the run's own sample
# settings, one sample at a time, scored by the AR twin (perplexity, unigram entropy; dgen --score-with),
# and the seconds per sample.
# Usage: scripts/process_results.sh [output folder]   (runs: runs/kjv_absorbing, kjv_uniform, kjv_simplex,
# kjv_ar15, and the scorer runs/kjv_ar). Train first, each alone:
#   scripts/fetch_kjv.sh
#   for c in kjv_absorbing kjv_uniform kjv_simplex kjv_ar15 kjv_ar; do build/dtrain --config configs/$c.json; done
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/kjv_results_lib.sh
OUT=${1:-runs/process_results} AR=runs/kjv_ar
RUNS=(runs/kjv_absorbing runs/kjv_uniform runs/kjv_simplex runs/kjv_ar15)
mkdir -p "$OUT"

eval_runs "$OUT" "${RUNS[@]}"
# Prompts: each validation book's first 16 tokens as the runs' tokenizer splits them, as text.
val_prompts "$OUT" "${RUNS[0]}" 16

for run in "${RUNS[@]}"; do
  name=$(basename "$run")
  echo "== $name: 9 continuations of 240 tokens, its own sample settings, one at a time"
  build/dgen --checkpoint "$run" --prompts "$OUT/prompts.jsonl" --length 240 --seed 7 --batch-size 1 \
    --score-with "$AR" --verbose > "$OUT/${name}_samples.txt" 2> "$OUT/${name}_samples.log"
  grep -v '^BLAS' "$OUT/${name}_samples.log"
  head -c 600 "$OUT/${name}_samples.txt"; echo
done
