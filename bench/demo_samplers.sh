#!/usr/bin/env bash
# The samplers on the seed demos: for each setting, the demo's own mark (code: the three functions
# reproduced exactly from their names, greedy; translate: every pair exact, greedy; names: distinct
# out of 200 at seed 1, and their plausibility score, scripts/name_plausibility.awk) with the forward passes per row and the wall time of the generation call
# (model loading excluded). Needs the demos trained (scripts/check_demos.sh trains them) and jq.
#   bench/demo_samplers.sh [--bin DIR] [--runs DIR]
# Run it alone: two LibTorch jobs on 2 cores slow each other several times over.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build runs=runs
while [ $# -gt 0 ]; do
  case $1 in
    --bin) bin=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "demo_samplers.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v jq > /dev/null || { echo "demo_samplers.sh: needs jq (sudo apt-get install jq)" >&2; exit 1; }
for d in names code translate; do
  [ -e "$runs/$d/best.pt" ] || { echo "demo_samplers.sh: $runs/$d is not trained (scripts/check_demos.sh $d)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prompts and what each demo must reproduce.
for f in add factorial fibonacci; do
  jq -nc --arg p "def $f" '{prefix: $p}' >> "$tmp/code.jsonl"
  awk -v f="def $f(" 'index($0, f) == 1 {on = 1} on && /^$/ {exit} on {print}' data/code.txt | jq -Rs . >> "$tmp/code.expected"
done
grep . data/translate.txt | cut -d'>' -f1 | jq -Rc '{prefix: (. + ">")}' > "$tmp/translate.jsonl"
grep . data/translate.txt | jq -R . > "$tmp/translate.expected"

# gen DEMO FLAGS...: dgen's jsonl for the demo's prompts
gen() {
  local demo=$1
  shift
  case $demo in
    names) "$bin/dgen" --checkpoint "$runs/names" --num-samples 200 --seed 1 --format jsonl "$@" ;;
    *) "$bin/dgen" --checkpoint "$runs/$demo" --prompts "$tmp/$demo.jsonl" --sampling greedy --format jsonl "$@" ;;
  esac
}
# mark DEMO OUTPUT: the demo's figure
mark() {
  case $1 in
    names) echo "$(jq -r .text "$2" | sort -u | wc -l) / 200 distinct, plausibility $(jq -r .text "$2" |
      awk -f scripts/name_plausibility.awk data/names.txt - | awk '{print $2}')" ;;
    *) echo "$(jq -c .text "$2" | paste - "$tmp/$1.expected" | awk -F'\t' '$1 == $2' | wc -l) / $(wc -l < "$tmp/$1.expected") exact" ;;
  esac
}

# demo | label | flags (over the demo's own sample settings)
settings=(
  "code|its config (l2r, 32 steps)|"
  "code|confidence, 32 steps|--strategy confidence"
  "code|confidence, 8 steps|--strategy confidence --steps 8"
  "code|threshold 0.9|--strategy confidence --threshold 0.9"
  "code|threshold 0.7|--strategy confidence --threshold 0.7"
  "code|block 8, threshold 0.9 (exact)|--strategy confidence --block-length 8 --threshold 0.9"
  "code|block 8, kv cache, threshold 0.9|--strategy confidence --block-length 8 --kv-cache --threshold 0.9"
  "translate|its config (confidence, 10 steps)|"
  "translate|confidence, 4 steps|--steps 4"
  "translate|threshold 0.9|--threshold 0.9"
  "translate|threshold 0.7|--threshold 0.7"
  "names|its config (random order, 16 steps, top-k 5)|"
  "names|random order, 8 steps|--steps 8"
  "names|confidence, 10 steps, top-k 10 (its config before, but at T 0.8)|--strategy confidence --steps 10 --top-k 10"
  "names|confidence, 16 steps|--strategy confidence"
  "names|threshold 0.9|--strategy confidence --threshold 0.9"
  "names|threshold 0.5|--strategy confidence --threshold 0.5"
  "names|entropy bound 1|--strategy confidence --entropy-bound 1"
)
echo "| demo | setting | mark | passes per row | equivalents per row | seconds (generation call) |"
echo "|---|---|---|---|---|---|"
for s in "${settings[@]}"; do
  IFS='|' read -r demo label flags <<<"$s"
  # shellcheck disable=SC2086
  gen "$demo" $flags > "$tmp/out.jsonl"
  jq -rs --arg d "$demo" --arg l "$label" --arg m "$(mark "$demo" "$tmp/out.jsonl")" \
    '"| \($d) | \($l) | \($m) | \(map(.forward_passes) | add / length * 10 | round / 10) | \(map(.equivalents) | add / length * 10 | round / 10) | \(.[0].seconds * 1000 | round / 1000) |"' "$tmp/out.jsonl"
done
