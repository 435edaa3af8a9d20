#!/usr/bin/env bash
# Measures the seed demos end to end: trains names, translate and code (unless --no-train), then
# prints the figures docs/measured.md quotes: distinct names out of 200 and how much they read like
# names, translate pairs reproduced with greedy decoding, and code functions reproduced with l2r and
# confidence unmasking and by infilling. Exits non-zero when a demo misses its mark (names: at least
# 90% distinct and a plausibility score of at most 1.05; translate and code: every one exact), so
# CTest runs it as the `demos` test. The other processes' demos (names_uniform, names_simplex,
# translate_uniform; CTest's `demos.processes`) are checked against seed 004's marks: names at least
# 90% (uniform) / 80% (simplex) distinct, 20% not in the training list, plausibility at most 1.3.
#   scripts/check_demos.sh [--no-train] [--bin DIR] [--runs DIR] [--jobs 1|2] [DEMO...]   (default: code, names, translate)
# With two or more cores the demos run in two lanes at once, one thread each (--jobs 2, the default):
# code in one, names then translate in the other. These small models keep about 80% of their two-thread
# speed on one thread, so two lanes finish in about two thirds of the time (docs/testing.md); two
# multi-threaded LibTorch jobs on 2 cores would instead slow each other several times.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=build runs=runs train=1 demos=() jobs=
while [ $# -gt 0 ]; do
  case $1 in
    --no-train) train=0; shift ;;
    --bin) bin=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    names|translate|code|names_uniform|names_simplex|translate_uniform) demos+=("$1"); shift ;;
    *) echo "check_demos: unknown argument $1 (demos: names, translate, code, names_uniform, names_simplex, translate_uniform)" >&2; exit 2 ;;
  esac
done
[ ${#demos[@]} -gt 0 ] || demos=(code names translate)
[ -n "$jobs" ] || { [ "$(nproc)" -ge 2 ] && jobs=2 || jobs=1; }
case $jobs in 1|2) ;; *) echo "check_demos: --jobs must be 1 or 2, got '$jobs'" >&2; exit 2 ;; esac
[ ${#demos[@]} -ge 2 ] || jobs=1
# One lane: every core for each demo in turn. Two lanes: one thread each.
threads=0
[ "$jobs" = 1 ] || threads=1
DTRAIN=("$bin/dtrain" --set "train.threads=$threads") DGEN=("$bin/dgen" --threads "$threads")
mkdir -p "$runs"

# names_check RUN MIN_DISTINCT MAX_SCORE [MIN_NOVEL]: 200 samples of RUN against the marks.
names_check() {
  local run=$1 min_distinct=$2 max_score=$3 min_novel=${4:-0}
  echo "== $run: 200 samples in one batch =="
  local names total distinct novel score bad=0
  names=$("${DGEN[@]}" --checkpoint "$runs/$run" --num-samples 200 --seed 1)
  total=$(echo "$names" | wc -l)
  distinct=$(echo "$names" | sort -u | wc -l)
  novel=$(echo "$names" | sort -u | grep -vxFf data/names.txt | wc -l)
  # Plausibility: per-character NLL under a trigram model of 80% of the real names, as a multiple of
  # the other 20%'s (scripts/name_plausibility.awk); 1.0 reads like real names.
  score=$(echo "$names" | awk -f scripts/name_plausibility.awk data/names.txt - | awk '{print $2}')
  echo "distinct: $distinct / $total; not in the training list: $novel; plausibility: $score (at most $max_score)"
  echo "first 30: $(echo "$names" | head -30 | paste -sd ' ' -)"
  [ "$total" -eq 200 ] && [ "$distinct" -ge "$min_distinct" ] || { echo "$run: fewer than $min_distinct distinct"; bad=1; }
  [ "$novel" -ge "$min_novel" ] || { echo "$run: fewer than $min_novel not in the training list"; bad=1; }
  awk -v s="$score" -v m="$max_score" 'BEGIN { exit !(s != "" && s + 0 <= m + 0) }' || { echo "$run: plausibility above $max_score"; bad=1; }
  return $bad
}
run_names() { names_check names 180 1.05; }
run_names_uniform() { names_check names_uniform 180 1.3 40; }
run_names_simplex() { names_check names_simplex 160 1.3 40; }

# translate_check RUN: every pair, greedy, prompt as prefix.
translate_check() {
  local run=$1
  echo "== $run: every pair, greedy, prompt as prefix (one batch; a row's greedy output does not depend on its batch) =="
  local ok=0 en hi got n
  n=$(wc -l < data/translate.txt)
  cut -d'>' -f1 data/translate.txt | sed 's/$/>/' > "$runs/$run.prompts"
  while IFS='>' read -r en hi <&3 && IFS= read -r got <&4; do
    if [ "$got" = "$en>$hi" ]; then ok=$((ok + 1)); else echo "  miss: $en>$hi got $got"; fi
  done 3< data/translate.txt 4< <("${DGEN[@]}" --checkpoint "$runs/$run" --prompts "$runs/$run.prompts" --sampling greedy)
  echo "exact: $ok / $n"
  [ "$ok" -eq "$n" ]
}
run_translate() { translate_check translate; }
run_translate_uniform() { translate_check translate_uniform; }

run_code() {
  echo "== code: greedy, each function from its name =="
  local strategy f expected got bad=0
  for strategy in l2r confidence; do
    for f in add factorial fibonacci; do
      # The whole document, trailing newline included, JSON-escaped (the code has no quotes).
      expected=$(awk -v f="def $f(" 'index($0, f) == 1 {on = 1} on && /^$/ {exit} on {printf "%s\\n", $0}' data/code.txt)
      got=$("${DGEN[@]}" --checkpoint "$runs/code" --prefix "def $f" --sampling greedy --strategy "$strategy" --format jsonl)
      if echo "$got" | grep -qF "\"text\":\"$expected\""; then
        echo "  $strategy $f: exact, stops at its end"
      else
        echo "  $strategy $f: DIFFERS: $got"
        bad=1
      fi
    done
  done
  # Infilling: the body of add from its signature, and nothing around the span changes.
  got=$("${DGEN[@]}" --checkpoint "$runs/code" --infill $'def add(a, b):\n    return <mask:5>\n' --sampling greedy --format jsonl)
  if echo "$got" | grep -qF '"text":"def add(a, b):\n    return a + b\n"'; then
    echo "  infill add: exact"
  else
    echo "  infill add: DIFFERS: $got"
    bad=1
  fi
  return $bad
}

# Trains (unless --no-train) and checks one demo; its report goes to stdout.
one_demo() {
  local c=$1 start
  if [ $train = 1 ]; then
    start=$(date +%s)
    "${DTRAIN[@]}" --config "configs/$c.json" --run-dir "$runs/$c" --progress plain 2> "$runs/$c.train.log" ||
      { echo "training $c failed"; tail -3 "$runs/$c.train.log"; return 1; }
    echo "trained $c in $(( $(date +%s) - start )) s"
  fi
  "run_$c"
}

# Each lane runs its demos in turn and leaves its report in $runs/DEMO.check.log, printed in order.
lane() {
  local c bad=0
  for c in "$@"; do one_demo "$c" > "$runs/$c.check.log" 2>&1 || bad=1; done
  return $bad
}
failed=0
if [ "$jobs" = 1 ]; then
  lane "${demos[@]}" || failed=1
else
  lane "${demos[0]}" & first=$!
  lane "${demos[@]:1}" || failed=1
  wait "$first" || failed=1
fi
for c in "${demos[@]}"; do cat "$runs/$c.check.log"; done
exit $failed
