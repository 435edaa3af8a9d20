#!/usr/bin/env bash
# Measures a diffusion/autoregressive comparison of docs/results.md from its two trained runs: the
# validation bound of the diffusion model (with two seeds, to show the estimate is stable), the
# autoregressive model's exact perplexity, and seed 003's recipe: a 16-token prompt from the last
# validation document continued into a 256-token block in 10 steps with each schedule, next to the
# autoregressive continuation.
# Usage: scripts/twin_results.sh [corpus] [diffusion run] [ar run] [output folder]
# (corpus kjv or sotu, default kjv; runs default to runs/<corpus>_diffusion, runs/<corpus>_ar, and
# the output to runs/<corpus>_results). Train the runs first:
#   scripts/fetch_kjv.sh
#   build/dtrain --config configs/kjv_diffusion.json && build/dtrain --config configs/kjv_ar.json
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${1:-kjv}
DIFF=${2:-runs/${CORPUS}_diffusion} AR=${3:-runs/${CORPUS}_ar} OUT=${4:-runs/${CORPUS}_results}
mkdir -p "$OUT"

echo "== likelihood on the validation documents"
build/dtrain --eval "$DIFF" --eval-json "$OUT/diffusion_eval.json" | tee "$OUT/diffusion_eval.txt"
build/dtrain --eval "$DIFF" --set eval.seed=1 --eval-json "$OUT/diffusion_eval_seed1.json" | tee "$OUT/diffusion_eval_seed1.txt"
build/dtrain --eval "$AR" --eval-json "$OUT/ar_eval.json" | tee "$OUT/ar_eval.txt"

# The prompt: the first 16 tokens of the last validation document (by name), as text.
address=$(ls data/"$CORPUS"/val_text/*.txt | LC_ALL=C sort | tail -n 1)
ids=$(build/dgen --tokenize --tokenizer "$DIFF" < "$address" | sed 's/.*"ids":\[\([^]]*\)\].*/\1/' | cut -d, -f1-16)
prompt=$(echo "[$ids]" | build/dgen --detokenize --tokenizer "$DIFF")
echo "== prompt: the first 16 tokens of $(basename "$address"): $prompt"
echo "$prompt" > "$OUT/prompt.txt"

for schedule in linear cosine exponential; do
  build/dgen --checkpoint "$DIFF" --prefix "$prompt" --length 240 --steps 10 --schedule "$schedule" \
    --num-samples 2 --seed 7 --format jsonl > "$OUT/diffusion_$schedule.jsonl"
done
build/dgen --checkpoint "$AR" --prefix "$prompt" --length 240 --num-samples 2 --seed 7 --format jsonl > "$OUT/ar.jsonl"
for f in "$OUT"/diffusion_*.jsonl "$OUT/ar.jsonl"; do
  echo "== $(basename "$f" .jsonl)"
  cat "$f"
done
