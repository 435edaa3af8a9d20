#!/usr/bin/env bash
# How far the code demo's memory reaches: each function generated greedily from every prefix of its
# first line that names it unambiguously ("def a" onwards for add, "def fa" and "def fi" for the other
# two), with the l2r and confidence orders at 32 and 128 steps. Counts the generations that reproduce
# the whole function and stop at its end. check_demos.sh asks only for the full names; this shows the
# margin behind that (a model that needs the whole name is one unlucky training run from failing).
#   bench/code_prefixes.sh [--bin DIR] [--run DIR]     (defaults: build, runs/code)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build run=runs/code
while [ $# -gt 0 ]; do
  case $1 in
    --bin) bin=$2; shift 2 ;;
    --run) run=$2; shift 2 ;;
    *) echo "code_prefixes.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -e "$run/best.pt" ] || { echo "code_prefixes.sh: $run is not trained (scripts/check_demos.sh code)" >&2; exit 1; }

exact=0 total=0
for f in add factorial fibonacci; do
  doc=$(awk -v f="def $f(" 'index($0, f) == 1 {on = 1} on && /^$/ {exit} on {print}' data/code.txt)
  first=${doc%%$'\n'*}
  # "def f" could be either of two functions; one more letter tells them apart.
  shortest=5
  [ "$f" = add ] || shortest=6
  for ((p = shortest; p <= ${#first}; p++)); do
    for strategy in l2r confidence; do
      for steps in 32 128; do
        got=$("$bin/dgen" --checkpoint "$run" --prefix "${first:0:p}" --sampling greedy --strategy "$strategy" --steps "$steps")
        total=$((total + 1))
        if [ "$got" = "$doc" ]; then
          exact=$((exact + 1))
        else
          echo "  $strategy, $steps steps, from \"${first:0:p}\": $(echo "$got" | head -1)"
        fi
      done
    done
  done
done
echo "code: $exact of $total generations exact (model $run, programs $bin)"
