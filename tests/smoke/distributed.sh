#!/usr/bin/env bash
# Data-parallel training on loopback, launched the way a machine without Python launches it: the
# launcher's variables set by a shell loop. Two ranks (Gloo, one thread each) end with the weights of
# one process at the same global batch, up to summation order, and the same validation loss; only
# rank 0 writes; a stop signal to one rank ends both at the same step with one checkpoint; a resumed
# 2-rank run equals the uninterrupted one; resuming on another world size works and says so; a rank
# that dies makes the other exit with one line.
set -u
DTRAIN=$1 CKPT_DIFF=$2 SMOKE=$3 WORK=$4
. "$SMOKE/lib.sh"
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
common=(--config "$SMOKE/tiny.json" --set model.dropout=0 --set train.steps=20 --set train.eval_every=10
        --set train.threads=1 --set train.dist_timeout=20 --progress plain)
port=$((20000 + RANDOM % 20000))

# ranks N ARGS...: N ranks of dtrain in the background, rank r's stderr in rank<r>.log; pids in $pids.
ranks() {
  local n=$1; shift
  port=$((port + 1))
  pids=()
  for r in $(seq 0 $((n - 1))); do
    RANK=$r WORLD_SIZE=$n LOCAL_RANK=$r LOCAL_WORLD_SIZE=$n MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
      "$DTRAIN" "$@" 2> "rank$r.log" &
    pids+=($!)
  done
}
wait_all() { local rc=0; for p in "${pids[@]}"; do wait "$p" || rc=$?; done; return $rc; }
last_val() { tail -1 "$1/metrics.jsonl" | sed 's/.*"val_loss":\([0-9.e+-]*\).*/\1/'; }

# 1. Two ranks equal one process. Rank 1 is given another run directory: it must never create it.
"$DTRAIN" "${common[@]}" --run-dir runs/one 2> one.log || fail "one process: $(cat one.log)"
port=$((port + 1))
RANK=0 WORLD_SIZE=2 LOCAL_RANK=0 LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
  "$DTRAIN" "${common[@]}" --run-dir runs/two 2> rank0.log &
p0=$!
RANK=1 WORLD_SIZE=2 LOCAL_RANK=1 LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
  "$DTRAIN" "${common[@]}" --run-dir runs/ghost 2> rank1.log &
p1=$!
wait $p0 || fail "rank 0: $(cat rank0.log)"
wait $p1 || fail "rank 1: $(cat rank1.log)"
grep -q "data parallel: 2 ranks (gloo" rank0.log || fail "rank 0 does not say it runs data-parallel: $(cat rank0.log)"
"$CKPT_DIFF" runs/one/last.pt runs/two/last.pt 1e-4 || fail "2 ranks end with other weights than 1 process"
v1=$(last_val runs/one) v2=$(last_val runs/two)
awk -v a="$v1" -v b="$v2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 1e-4) }' ||
  fail "validation loss: 1 process $v1, 2 ranks $v2"
echo "validation loss: 1 process $v1, 2 ranks $v2"
[ ! -e runs/ghost ] || fail "rank 1 wrote into its run directory"
[ ! -s rank1.log ] || fail "rank 1 logged (rank 0 alone speaks): $(cat rank1.log)"

# 2. A resumed 2-rank run equals the uninterrupted one, bit for bit.
ranks 2 "${common[@]}" --run-dir runs/resumed --stop-at 7
wait_all || fail "2 ranks, stop at 7: $(cat rank0.log rank1.log)"
ranks 2 --resume runs/resumed --progress plain
wait_all || fail "2 ranks, resume: $(cat rank0.log rank1.log)"
"$CKPT_DIFF" runs/two/last.pt runs/resumed/last.pt || fail "resumed 2-rank run differs from the uninterrupted one"

# 3. Another world size: a 1-process run resumed on 2 ranks finishes and says it is not bit-exact.
"$DTRAIN" "${common[@]}" --run-dir runs/grow --stop-at 7 2> grow.log || fail "1 process, stop at 7: $(cat grow.log)"
ranks 2 --resume runs/grow --progress plain
wait_all || fail "resume on 2 ranks: $(cat rank0.log rank1.log)"
grep -q "continues on 2: the same global batch, but not bit-exact" rank0.log || fail "no world-size notice: $(cat rank0.log)"
"$CKPT_DIFF" runs/one/last.pt runs/grow/last.pt 1e-4 || fail "1 then 2 ranks end far from 1 process"

# 4. SIGTERM to one rank: both stop at the same step, rank 0 writes one checkpoint, both exit 0.
ranks 2 "${common[@]}" --run-dir runs/stopped --set train.steps=100000 --set train.eval_every=100000
for _ in $(seq 1 600); do grep -q "model:" rank0.log && break; sleep 0.05; done
sleep 1
kill -TERM "${pids[1]}"
wait_all || fail "a stop signal to rank 1: $(cat rank0.log rank1.log)"
step=$(sed -n 's/.*stopped at step \([0-9]*\);.*/\1/p' rank0.log)
[ -n "$step" ] || fail "rank 0 did not stop: $(cat rank0.log)"
"$CKPT_DIFF" runs/stopped/last.pt runs/stopped/last.pt | grep -q "at step $step" || fail "checkpoint is not at step $step"

# 5. A rank that dies: the other exits non-zero with one line, within train.dist_timeout.
ranks 2 "${common[@]}" --run-dir runs/dies --set train.steps=100000 --set train.eval_every=100000
for _ in $(seq 1 600); do grep -q "model:" rank0.log && break; sleep 0.05; done
sleep 1
kill -KILL "${pids[1]}"
start=$SECONDS
wait "${pids[0]}"; rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || fail "rank 0 after rank 1 died: exit $rc: $(cat rank0.log)"
[ $((SECONDS - start)) -le 30 ] || fail "rank 0 took $((SECONDS - start)) s to notice"
[ "$(grep -c 'dtrain: error:' rank0.log)" -eq 1 ] || fail "expected one error line: $(cat rank0.log)"
grep 'dtrain: error:' rank0.log
! grep -qE 'terminate called|Aborted|Exception raised from' rank0.log || fail "crash output: $(cat rank0.log)"
echo "smoke distributed: ok"
