#!/usr/bin/env bash
# The generation benchmark of docs/generation.md: 240-token continuations of the same 16-token
# validation prompts (context 256) from the KJV diffusion model, for each sampler and a sweep of
# steps, thresholds and block lengths, and from its autoregressive twin with its KV cache; batch 1
# and batch 16, top-k 40 and temperature 1 everywhere. Each line of OUT/generation.jsonl is one
# gen_bench run: wall time, passes and full-canvas equivalents per row, tokens/s, perplexity under the
# AR twin and unigram entropy. Then a table on stdout and a plot of quality against time.
#   bench/generation.sh [--quick] [--out DIR] [--from LABEL] [--only "LABEL ..."] [--report]
# --from LABEL appends from that setting on (a sweep that was stopped); --only remeasures the named
# settings and replaces their lines; --report draws the table and the plot of OUT's JSON only.
# Train the twins first: see scripts/twin_results.sh.
# Run it alone: two LibTorch jobs on 2 cores slow each other several times over.
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/bench quick=0 from="" only="" report=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; shift ;;
    --out) out=$2; shift 2 ;;
    --from) from=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --report) report=1; shift ;;
    *) echo "generation.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
DIFF=runs/kjv_diffusion AR=runs/kjv_ar VAL=data/kjv/val.jsonl
[ -s "$VAL" ] || scripts/fetch_kjv.sh
for run in "$DIFF" "$AR"; do
  [ -e "$run/best.pt" ] || { echo "generation.sh: $run is not trained (build/dtrain --config configs/$(basename "$run").json)" >&2; exit 1; }
done
[ -x build/gen_bench ] || { echo "generation.sh: build/gen_bench is missing (cmake --build build)" >&2; exit 1; }
mkdir -p "$out"
jsonl=$out/generation.jsonl
[ -n "$from$only" ] || [ $report = 1 ] || : > "$jsonl"
common="--set sample.sampling=topk --set sample.top_k=40 --set sample.temperature=1"

# label | batch sizes | model | flags
settings=(
  "ar-kv-cache|1 16|$AR|"
  "confidence-240|1 16|$DIFF|--set sample.steps=240"
  "confidence-120|1 16|$DIFF|--set sample.steps=120"
  "confidence-60|1 16|$DIFF|--set sample.steps=60"
  "margin-60|16|$DIFF|--set sample.steps=60 --set sample.strategy=margin"
  "entropy-60|16|$DIFF|--set sample.steps=60 --set sample.strategy=entropy"
  "threshold-0.7|1 16|$DIFF|--set sample.threshold=0.7"
  "threshold-0.5|1|$DIFF|--set sample.threshold=0.5"
  "threshold-0.3|16|$DIFF|--set sample.threshold=0.3"
  "entropy-bound-1|1 16|$DIFF|--set sample.entropy_bound=1"
  "block32-240|16|$DIFF|--set sample.steps=240 --set sample.block_length=32"
  "block32-kv-240|1 16|$DIFF|--set sample.steps=240 --set sample.block_length=32 --set sample.kv_cache=true"
  "block32-kv-threshold-0.7|1 16|$DIFF|--set sample.block_length=32 --set sample.kv_cache=true --set sample.threshold=0.7"
  "block32-kv-threshold-0.5|1 16|$DIFF|--set sample.block_length=32 --set sample.kv_cache=true --set sample.threshold=0.5"
  "block16-kv-threshold-0.5|1 16|$DIFF|--set sample.block_length=16 --set sample.kv_cache=true --set sample.threshold=0.5"
  "block8-kv-threshold-0.5|1 16|$DIFF|--set sample.block_length=8 --set sample.kv_cache=true --set sample.threshold=0.5"
  "random-480-cache|16|$DIFF|--set sample.steps=480 --set sample.strategy=random"
  "random-480-no-cache|16|$DIFF|--set sample.steps=480 --set sample.strategy=random --set sample.cache=false"
  "block64-kv-240|1 16|$DIFF|--set sample.steps=240 --set sample.block_length=64 --set sample.kv_cache=true"
  "block64-kv-120|1 16|$DIFF|--set sample.steps=120 --set sample.block_length=64 --set sample.kv_cache=true"
  "block128-kv-240|1 16|$DIFF|--set sample.steps=240 --set sample.block_length=128 --set sample.kv_cache=true"
  "block128-kv-120|1 16|$DIFF|--set sample.steps=120 --set sample.block_length=128 --set sample.kv_cache=true"
  "confidence-240-linear|1 16|$DIFF|--set sample.steps=240 --set sample.schedule=linear"
  "block64-kv-200|1|$DIFF|--set sample.steps=200 --set sample.block_length=64 --set sample.kv_cache=true"
  "block64-kv-180|1|$DIFF|--set sample.steps=180 --set sample.block_length=64 --set sample.kv_cache=true"
)
[ $quick = 1 ] && settings=("${settings[0]}" "${settings[1]}" "${settings[12]}")
if [ -n "$from" ]; then
  while [ ${#settings[@]} -gt 0 ] && [ "${settings[0]%%|*}" != "$from" ]; do settings=("${settings[@]:1}"); done
  [ ${#settings[@]} -gt 0 ] || { echo "generation.sh: no setting is labelled $from" >&2; exit 2; }
fi
if [ -n "$only" ]; then
  kept=()
  for label in $only; do
    found=0
    for s in "${settings[@]}"; do [ "${s%%|*}" = "$label" ] && { kept+=("$s"); found=1; }; done
    [ $found = 1 ] || { echo "generation.sh: no setting is labelled $label" >&2; exit 2; }
    [ -e "$jsonl" ] && { jq -c --arg l "$label" 'select(.label != $l)' "$jsonl" > "$jsonl.tmp"; mv "$jsonl.tmp" "$jsonl"; }
  done
  settings=("${kept[@]}")
fi
[ $report = 1 ] && settings=()
for s in "${settings[@]}"; do
  IFS='|' read -r label batches model flags <<<"$s"
  for batch in $batches; do
    [ $quick = 1 ] && [ "$batch" = 1 ] && continue
    echo "== $label, batch $batch" >&2
    # shellcheck disable=SC2086
    build/gen_bench --model "$model" --scorer "$AR" --val "$VAL" --label "$label" --batch-size "$batch" $common $flags >> "$jsonl"
  done
done

echo "| setting | batch | s per row | passes per row | full-canvas equivalents | tokens/s | AR perplexity | unigram entropy |"
echo "|---|---|---|---|---|---|---|---|"
jq -rs 'sort_by(.batch_size)[] | "| \(.label) | \(.batch_size) | \(.seconds_per_row*1000|round/1000) | \(.passes_per_row*10|round/10) | \(.equivalents_per_row*10|round/10) | \(.tokens_per_s|round) | \(.ar_perplexity*100|round/100) | \(.unigram_entropy*1000|round/1000) |"' "$jsonl"

if command -v gnuplot > /dev/null; then
  # Points for every setting; names only for the reference points and the best trade-offs.
  named='["ar-kv-cache", "confidence-240-linear", "confidence-60", "block64-kv-240", "block128-kv-120", "block32-kv-threshold-0.7", "random-480-cache", "margin-60"]'
  for batch in 1 16; do
    jq -r --argjson named "$named" "select(.batch_size == $batch) | \"\(.seconds_per_row) \(.ar_perplexity) \(.unigram_entropy) \(if (.label as \$l | \$named | index(\$l)) then .label else \"\" end)\"" \
      "$jsonl" > "$out/points_b$batch.dat"
  done
  gnuplot <<PLOT
set terminal pngcairo size 1200,560 font ",10"
set output "docs/generation.png"
set multiplot layout 1,2 title "240-token continuations of 16 KJV validation prompts (top-k 40, temperature 1)"
set logscale x
set grid
set xlabel "seconds per continuation (batch 16: wall time / 16)"
set key top right
set logscale y
set ylabel "perplexity under the autoregressive twin (log)"
set yrange [5:250]
plot "$out/points_b1.dat" using 1:2 with points pt 7 title "batch 1", \
     "$out/points_b16.dat" using 1:2 with points pt 5 title "batch 16", \
     "$out/points_b1.dat" using 1:2:4 with labels offset 0,0.8 font ",8" notitle
unset logscale y
set autoscale y
set ylabel "unigram entropy of a sample (nats)"
plot "$out/points_b1.dat" using 1:3 with points pt 7 title "batch 1", \
     "$out/points_b16.dat" using 1:3 with points pt 5 title "batch 16", \
     "$out/points_b1.dat" using 1:3:4 with labels offset 0,0.8 font ",8" notitle
unset multiplot
PLOT
  echo "plot: docs/generation.png" >&2
else
  echo "gnuplot is not installed (sudo apt-get install gnuplot-nox): no plot" >&2
fi
