#!/usr/bin/env bash
# Smoke run of the real executables: train a tiny model, generate from it, resume it.
set -u
DTRAIN=$1 DGEN=$2 SMOKE=$3 WORK=$4
. "$SMOKE/lib.sh"
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1

"$DTRAIN" --config "$SMOKE/tiny.json" --progress plain || fail "dtrain"
for f in runs/tiny/last.pt runs/tiny/best.pt runs/tiny/config.json runs/tiny/tokenizer.json runs/tiny/metrics.jsonl runs/LATEST; do
  [ -s "$f" ] || fail "missing $f"
done
[ "$(wc -l < runs/tiny/metrics.jsonl)" -eq 3 ] || fail "expected 3 evaluations in metrics.jsonl"
grep -q '"levels"' runs/tiny/metrics.jsonl || fail "metrics lack per-level validation"

# dgen without --checkpoint uses the latest run; jsonl has one object per sample.
out=$("$DGEN" --num-samples 3 --format jsonl --seed 5) || fail "dgen jsonl"
[ "$(echo "$out" | grep -c '"forward_passes"')" -eq 3 ] || fail "expected 3 jsonl samples: $out"
again=$("$DGEN" --num-samples 3 --format jsonl --seed 5)
untimed() { sed 's/"seconds":[0-9.e+-]*,//'; }  # wall time is the one field that may differ
[ "$(echo "$out" | untimed)" = "$(echo "$again" | untimed)" ] || fail "same seed gave different output"
steps=$("$DGEN" --checkpoint runs/tiny --show-steps --steps 4 --strategy l2r --sampling greedy) || fail "dgen show-steps"
[ "$(echo "$steps" | grep -c '^step')" -eq 5 ] || fail "expected 5 timeline lines: $steps"
for s in linear cosine exponential loglinear; do "$DGEN" --schedule "$s" --sampling nucleus --top-p 0.8 >/dev/null || fail "schedule $s"; done
"$DGEN" --prefix "as" --strategy random --sampling topk --top-k 3 --temperature 0.7 | grep -q '^as' || fail "prefix not kept"

# --order-temperature, --block-length and --cfg-scale reach the sampler from a real command line. The
# timeline's canvases with masks as M: l2r reveals left to right, and a high order temperature breaks
# that order; blocks of 4 keep the second block (canvas positions 5-8 after the prefix "a") masked
# until the first is full; guidance costs two passes per step.
canvases() { "$DGEN" --checkpoint runs/tiny --show-steps --steps 8 --length 8 --strategy l2r --sampling greedy --prefix a \
  --seed 2 "$@" | grep '^step' | sed 's/.*\] //; s/░/M/g; s/·/./g'; }
right_of_mask() { grep -c 'M.*[^M]'; }
early_block() { awk 'index(substr($0, 2, 4), "M") && substr($0, 6, 4) ~ /[^M]/' | wc -l; }
[ "$(canvases | right_of_mask)" -eq 0 ] || fail "l2r revealed right of a mask: $(canvases)"
[ "$(canvases --order-temperature 100 | right_of_mask)" -gt 0 ] || fail "--order-temperature 100 kept l2r's order: $(canvases --order-temperature 100)"
[ "$(canvases --order-temperature 100 | early_block)" -gt 0 ] || fail "expected the second block to open early without blocks"
[ "$(canvases --order-temperature 100 --block-length 4 | early_block)" -eq 0 ] ||
  fail "--block-length 4: the second block opened before the first was full: $(canvases --order-temperature 100 --block-length 4)"
passes() { "$DGEN" --checkpoint runs/tiny --format jsonl --length 6 --prefix a "$@" | sed -E 's/.*"equivalents":([0-9.]+),"forward_passes":([0-9]+).*/\1 \2/'; }
read -r eq n < <(passes)
awk -v e="$eq" -v n="$n" 'BEGIN { exit !(e == n) }' || fail "unguided: $eq full passes for $n passes"
read -r eq n < <(passes --cfg-scale 1.5)
awk -v e="$eq" -v n="$n" 'BEGIN { exit !(e == 2 * n) }' || fail "--cfg-scale 1.5: $eq full passes for $n passes, expected twice"

# Resume continues the same run to a higher step count.
"$DTRAIN" --resume runs/tiny --set train.steps=40 --progress plain || fail "resume"
[ "$(wc -l < runs/tiny/metrics.jsonl)" -eq 4 ] || fail "resume did not continue the run"
# SIGINT: the current step finishes, a checkpoint is written, exit 0 with how to resume.
"$DTRAIN" --config "$SMOKE/tiny.json" --run-dir runs/sigint --set train.steps=100000 --set train.eval_every=100000 \
  --progress plain 2> sigint.log &
pid=$!
for _ in $(seq 1 300); do grep -q "model:" sigint.log && break; sleep 0.05; done
sleep 0.5
kill -INT "$pid"
wait "$pid" || fail "SIGINT: dtrain exited $?"
grep -q "continue with: dtrain --resume runs/sigint" sigint.log || fail "SIGINT: no resume hint: $(cat sigint.log)"
[ -s runs/sigint/last.pt ] || fail "SIGINT: no checkpoint"
"$DGEN" --checkpoint runs/sigint/last.pt --length 3 >/dev/null || fail "SIGINT checkpoint does not load"
# A second signal ends dtrain at once (status 130); whatever it left on disk still loads.
"$DTRAIN" --config "$SMOKE/tiny.json" --run-dir runs/sigint2 --set train.steps=100000 --set train.eval_every=2 \
  --progress plain 2> sigint2.log &
pid=$!
for _ in $(seq 1 300); do grep -q "model:" sigint2.log && break; sleep 0.05; done
sleep 0.3
kill -INT "$pid"; kill -INT "$pid"
wait "$pid"; rc=$?
[ "$rc" -eq 130 ] || [ "$rc" -eq 0 ] || fail "double SIGINT: unexpected status $rc"
if [ -f runs/sigint2/last.pt ]; then "$DGEN" --checkpoint runs/sigint2/last.pt --length 3 >/dev/null || fail "checkpoint after double SIGINT does not load"; fi
# SIGKILL before the first checkpoint leaves only the config the run saved at start; --resume starts
# that run again from step 0, so a preemption loop that always resumes needs no special case.
"$DTRAIN" --config "$SMOKE/tiny.json" --run-dir runs/killed --set train.steps=100000 --progress plain 2> killed.log &
pid=$!
for _ in $(seq 1 300); do [ -s runs/killed/config.json ] && break; sleep 0.05; done
kill -KILL "$pid"; wait "$pid" 2>/dev/null
[ ! -e runs/killed/last.pt ] || rm runs/killed/last.pt  # killed late on a slow machine: make it early
"$DTRAIN" --resume runs/killed --set train.steps=4 --progress plain 2> resumed.log || fail "resume before a checkpoint: $(cat resumed.log)"
grep -q "no checkpoint yet: starting it from step 0" resumed.log || fail "resume before a checkpoint: no notice: $(cat resumed.log)"
[ -s runs/killed/last.pt ] || fail "resume before a checkpoint: no checkpoint"
echo "smoke: ok"
