# Helpers for the smoke scripts: run a command and check its exit status and messages.
fail() { echo "FAIL: $*" >&2; exit 1; }
checks=0
# SMOKE_PART=K/N runs only every Nth expect_fail, starting with the Kth, so that CTest can run the N
# parts of a long script side by side (every case runs in exactly one part).
smoke_part=${SMOKE_PART:-1/1}
part_k=${smoke_part%/*} part_n=${smoke_part#*/} case_index=0

# expect_fail REGEX CMD...: CMD must exit non-zero with one error line matching REGEX and no crash.
expect_fail() {
  case_index=$((case_index + 1))
  [ $(((case_index - 1) % part_n + 1)) -eq "$part_k" ] || return 0
  local regex=$1; shift
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  [ $rc -ne 0 ] || fail "expected failure (exit 0): $*"
  [ $rc -lt 128 ] || fail "crashed with signal $((rc - 128)): $*"
  if echo "$err" | grep -qE 'terminate called|Aborted|Segmentation|core dumped|Exception raised from'; then
    fail "crash output for: $*"$'\n'"$err"
  fi
  local lines; lines=$(printf '%s\n' "$err" | grep -c .)
  [ "$lines" -eq 1 ] || fail "expected one line, got $lines for: $*"$'\n'"$err"
  echo "$err" | grep -qE -e "$regex" || fail "message does not match /$regex/ for: $*"$'\n'"$err"
  checks=$((checks + 1))
  echo "ok: $err"
}
