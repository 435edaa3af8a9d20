#!/usr/bin/env bash
# Measures docs/results.md's pretrained-start comparison: all-MiniLM-L6-v2 fine-tuned as a masked
# diffusion model on KJV (configs/kjv_minilm.json) against the same architecture and tokenizer from
# random weights (configs/kjv_minilm_random.json), trained for the same wall time. For each run: the
# validation likelihood per masking level and the bound (dtrain --eval), then seed 003's recipe on the
# validation books: the first 16 tokens of each of the 9 books continued by 240 tokens in 10 steps with
# each schedule, scored by the KJV autoregressive twin (perplexity, unigram entropy; dgen --score-with).
# Usage: scripts/minilm_results.sh [pretrained run] [random run] [ar run] [output folder]
# Train first (each alone; the time limit is in the configs):
#   scripts/fetch_kjv.sh && scripts/fetch_minilm.sh
#   build/dtrain --config configs/kjv_minilm.json && build/dtrain --config configs/kjv_minilm_random.json
#   build/dtrain --config configs/kjv_ar.json
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/kjv_results_lib.sh
PRE=${1:-runs/kjv_minilm} RAND=${2:-runs/kjv_minilm_random} AR=${3:-runs/kjv_ar} OUT=${4:-runs/minilm_results}
mkdir -p "$OUT"

eval_runs "$OUT" "$PRE" "$RAND"
# Prompts: each validation book's first 16 tokens as the runs' tokenizer splits them (ids 1-17: the
# tokenizer puts [CLS] first, which detokenizing drops), as text.
val_prompts "$OUT" "$PRE" 17
echo "== prompts"
cat "$OUT/prompts.jsonl"

for run in "$PRE" "$RAND"; do
  name=$(basename "$run")
  for schedule in linear cosine exponential; do
    echo "== $name, $schedule schedule, 10 steps"
    build/dgen --checkpoint "$run" --prompts "$OUT/prompts.jsonl" --length 240 --steps 10 --schedule "$schedule" \
      --seed 7 --score-with "$AR" --verbose > "$OUT/${name}_${schedule}.txt" 2> "$OUT/${name}_${schedule}.log"
    grep -v '^BLAS' "$OUT/${name}_${schedule}.log"
  done
done
