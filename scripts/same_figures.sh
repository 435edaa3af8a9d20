#!/usr/bin/env bash
# Records the figures a refactor must not change, for one build: trains the names demo, the names
# data under objective ar (200 steps), and the uniform and simplex names configs, each on 2 threads,
# then writes each run's `dtrain --eval` report and its first 30 samples (seed 1) to OUT_DIR.
# Run it on the build before and after a change and compare the figures (the training logs beside
# them hold times): `for f in BEFORE/*.eval BEFORE/*.samples; do cmp "$f" AFTER/"${f##*/}"; done`
# prints nothing when nothing changed.
#   scripts/same_figures.sh BIN_DIR OUT_DIR        e.g. scripts/same_figures.sh build /tmp/after
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: scripts/same_figures.sh BIN_DIR OUT_DIR" >&2; exit 2; }
bin=$1 out=$2
runs=$out/runs
mkdir -p "$runs"
# NAME CONFIG [--set ...]: train, evaluate, sample.
record() {
  local name=$1 config=$2
  shift 2
  "$bin/dtrain" --config "$config" --run-dir "$runs/$name" --threads 2 --progress plain "$@" >"$out/$name.train.log" 2>&1
  # The report's first line names the run's path, which differs between builds; the time varies.
  "$bin/dtrain" --eval "$runs/$name" --threads 2 | sed -e '1s/^[^:]*: //' -e '/^  ([0-9.]* s)$/d' >"$out/$name.eval"
  "$bin/dgen" --checkpoint "$runs/$name" --num-samples 30 --seed 1 --threads 2 >"$out/$name.samples" 2>/dev/null
  echo "same_figures: $name: $(head -c 60 "$out/$name.samples" | tr '\n' ' ')..."
}
record names configs/names.json
record names_ar configs/names.json --set objective=ar --set train.steps=200
record names_uniform configs/names_uniform.json
record names_simplex configs/names_simplex.json
