#!/usr/bin/env bash
# Builds dlm with clang under AddressSanitizer + UndefinedBehaviorSanitizer into build-san/, runs the
# whole test suite there, then runs every libFuzzer target for FUZZ_SECONDS each (default 20) from
# the seed corpus in fuzz/corpus/. Longer fuzzing: FUZZ_SECONDS=600 scripts/sanitize.sh
# A crash leaves its input as build-san/fuzz-out/crash-*; turn it into a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-20}

missing=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

CC=clang CXX=clang++ cmake -S . -B build-san -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLM_SANITIZE=ON -DDLM_FUZZ=ON
cmake --build build-san -j"$(nproc)"

# LibTorch itself is not instrumented: leak reports from its static state are not ours.
export ASAN_OPTIONS=detect_leaks=0:detect_odr_violation=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-san --output-on-failure -j"$(nproc)" -LE demos  # the demos train for minutes; the plain build runs them

rm -rf build-san/fuzz-out && mkdir -p build-san/fuzz-out
for target in config tokenizer dataset checkpoint; do
  corpus=build-san/fuzz-corpus/$target
  mkdir -p "$corpus"
  cp fuzz/corpus/$target/* "$corpus/"
  # A real checkpoint from the smoke run seeds the checkpoint fuzzer.
  if [ "$target" = checkpoint ] && [ -f build-san/tests/smoke_work/runs/tiny/last.pt ]; then
    cp build-san/tests/smoke_work/runs/tiny/last.pt "$corpus/tiny.pt"
  fi
  echo "fuzz_$target: ${FUZZ_SECONDS}s"
  build-san/fuzz_$target -max_total_time="$FUZZ_SECONDS" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix=build-san/fuzz-out/ "$corpus" 2>&1 | grep -E "^(stat::number_of_executed_units|stat::new_units_added|==|SUMMARY)|Done " || true
  if [ -n "$(find build-san/fuzz-out -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \))" ]; then
    echo "fuzz_$target found a failing input: $(ls build-san/fuzz-out/)"
    exit 1
  fi
done
echo "sanitizers and fuzzers: clean"
