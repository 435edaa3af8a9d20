#!/usr/bin/env bash
# Acceptance 1 of the generation issue at batch 1, measured so that machine drift cannot decide it:
# the one-token-per-step confidence sampler (linear, 240 steps) and the best setting (blocks of 64
# with the KV cache, 240 steps) run alternately REPEATS times on the same 16 KJV prompts; prints
# each pair's seconds per row, the mean of each and the ratio of the means with its range.
#   bench/generation_ratio.sh [REPEATS] [BATCH]     (default 3 and 1; about 4.5 min per pair at batch 1)
# Run it alone: two LibTorch jobs on 2 cores slow each other several times over.
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3} batch=${2:-1}
DIFF=runs/kjv_diffusion AR=runs/kjv_ar VAL=data/kjv/val.jsonl
for run in "$DIFF" "$AR"; do
  [ -e "$run/best.pt" ] || { echo "generation_ratio.sh: $run is not trained (see scripts/twin_results.sh)" >&2; exit 1; }
done
common="--set sample.sampling=topk --set sample.top_k=40 --set sample.temperature=1 --set sample.steps=240"
reference="--set sample.schedule=linear"
best="--set sample.block_length=64 --set sample.kv_cache=true"
out=$(mktemp)
for i in $(seq "$repeats"); do
  for which in reference best; do
    # shellcheck disable=SC2086
    build/gen_bench --model "$DIFF" --scorer "$AR" --val "$VAL" --label "$which" --batch-size "$batch" $common ${!which} >> "$out"
    echo "pair $i: $(tail -1 "$out" | jq -r '"\(.label) \(.seconds_per_row*1000|round/1000) s/row"')" >&2
  done
done
jq -rs --arg batch "$batch" '
  def mean: add / length;
  (map(select(.label == "reference")) | map(.seconds_per_row)) as $r |
  (map(select(.label == "best")) | map(.seconds_per_row)) as $b |
  ([range(0; $r | length)] | map($r[.] / $b[.])) as $pairs |
  "batch \($batch), \($r | length) pairs: reference \($r | mean * 1000 | round / 1000) s/row, best \($b | mean * 1000 | round / 1000) s/row; " +
  "ratio of means \(($r | mean) / ($b | mean) * 100 | round / 100)x (pairs \($pairs | min * 100 | round / 100)x to \($pairs | max * 100 | round / 100)x); " +
  "equivalents \(.[0].equivalents_per_row) vs \(.[1].equivalents_per_row); AR perplexity \(.[0].ar_perplexity * 100 | round / 100) vs \(.[1].ar_perplexity * 100 | round / 100); " +
  "entropy \(.[0].unigram_entropy * 1000 | round / 1000) vs \(.[1].unigram_entropy * 1000 | round / 1000)"' "$out"
rm -f "$out"
