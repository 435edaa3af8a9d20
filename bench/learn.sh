#!/usr/bin/env bash
# How fast a recipe learns: each arm trains alone for the same wall-clock budget on the same text
# (data/plays/plays.txt: first 90% trains, last 10% validates, 256-character windows) and reports
# validation loss at 100%, 50% and 10% masking on the same windows with the same masks. An arm is
# "dlm LABEL [dtrain args]" (configs/char6x384.json plus e.g. --set train.beta2=0.999) or
# "ref LABEL [bench/reference.py args]" (the PyTorch twin). Each arm runs once per seed; the table
# gives the mean, and --json writes every run.
#   bench/learn.sh [--seconds 480] [--seeds "1234 1235"] [--flavour debian|pip] [--json FILE] ARM...
#   bench/learn.sh 'dlm preset' 'ref reference'
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
seconds=480 seeds="1234 1235" flavour=debian json="" text=data/plays/plays.txt
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --flavour) flavour=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    --text) text=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "learn.sh: give at least one arm, e.g. 'dlm preset' 'ref reference'" >&2; exit 2; }
bench_setup learn.sh "$flavour" "$text"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=$work/results.jsonl

for arm in "$@"; do
  read -r impl label args <<<"$arm"
  for seed in $seeds; do
    run=$work/$label-$seed
    if [ "$impl" = dlm ]; then
      # shellcheck disable=SC2086
      "$build/dtrain" --config configs/char6x384.json --set data.path="$PWD/$text" --set train.seed="$seed" \
        --set train.time_limit="$seconds" --set train.steps=100000000 --set train.eval_every=100000000 \
        --threads 2 --run-dir "$run" --progress plain $args >"$run.log" 2>&1
      tail -1 "$run/metrics.jsonl" | python3 -c '
import json, sys
m = json.load(sys.stdin)
levels = {str(l["rate"]): l["loss"] for l in m["levels"] if l["rate"] in (1.0, 0.5, 0.1)}
print(json.dumps({"impl": "dlm", "steps": m["step"], "levels": levels}))' >"$run.json"
    else
      # shellcheck disable=SC2086
      OPENBLAS_CORETYPE=$core "$python" bench/reference.py learn --text "$text" \
        --seconds "$seconds" --seed "$seed" --threads 2 $args >"$run.json"
    fi
    python3 -c '
import json, sys
r = json.load(open(sys.argv[1])); r.update(arm=sys.argv[2], seed=int(sys.argv[3]))
print(json.dumps(r))' "$run.json" "$label" "$seed" | tee -a "$results"
  done
done

python3 - "$results" "${json:-/dev/null}" "$seconds" <<'EOF'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
json.dump(rows, open(sys.argv[2], "w"), indent=1)
print(f"\n{sys.argv[3]} s per run; validation loss (nats/char) by masking level, mean over seeds")
print(f"{'arm':28} {'seeds':>5} {'steps':>6} {'100%':>6} {'50%':>6} {'10%':>6}")
for arm in dict.fromkeys(r["arm"] for r in rows):
    rs = [r for r in rows if r["arm"] == arm]
    mean = lambda k: statistics.mean(r["levels"][k] for r in rs)
    print(f"{arm:28} {len(rs):5} {statistics.mean(r['steps'] for r in rs):6.0f} {mean('1.0'):6.3f} {mean('0.5'):6.3f} {mean('0.1'):6.3f}")
EOF
