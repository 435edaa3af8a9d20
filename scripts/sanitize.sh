#!/usr/bin/env bash
# Builds dlm with clang under AddressSanitizer + UndefinedBehaviorSanitizer into build-san/, runs the
# whole test suite there, then runs every libFuzzer target for FUZZ_SECONDS each (default 20) from
# the seed corpus in fuzz/corpus/. Longer fuzzing: FUZZ_SECONDS=600 scripts/sanitize.sh
# A crash leaves its input as build-san/fuzz-out/TARGET-crash-*; turn it into a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/phases.sh
FUZZ_SECONDS=${FUZZ_SECONDS:-20}

phase "packages (sanitizers)" scripts/install_packages.sh clang libclang-rt-14-dev
# The benchmarks and the fixture writer are left out (DLM_BUILD_EXTRAS=OFF): nothing here runs them.
# Sources are compiled in batches (unity build) at -O1 with line tables only: what AddressSanitizer
# recommends, and stack traces still name file and line; the plain build compiles each file alone.
phase "configure (ASan/UBSan)" env CC=clang CXX=clang++ cmake -S . -B build-san -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" -DCMAKE_UNITY_BUILD=ON \
  -DDLM_SANITIZE=ON -DDLM_FUZZ=ON -DDLM_BUILD_EXTRAS=OFF
phase "build (ASan/UBSan)" cmake --build build-san -j"$(nproc)"

# LibTorch itself is not instrumented: leak reports from its static state are not ours.
export ASAN_OPTIONS=detect_leaks=0:detect_odr_violation=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The demos train for minutes; the plain build runs them.
phase "tests (ASan/UBSan)" ctest --test-dir build-san --output-on-failure -j"$(nproc)" -LE demos

# Each target fuzzes for FUZZ_SECONDS; libFuzzer uses one core, so as many targets run at once as
# there are cores.
fuzz_one() {
  local target=$1 corpus=build-san/fuzz-corpus/$1
  mkdir -p "$corpus"
  cp fuzz/corpus/$target/* "$corpus/"
  # A real checkpoint from the smoke run seeds the checkpoint fuzzer.
  if [ "$target" = checkpoint ] && [ -f build-san/tests/smoke_work/runs/tiny/last.pt ]; then
    cp build-san/tests/smoke_work/runs/tiny/last.pt "$corpus/tiny.pt"
  fi
  OMP_NUM_THREADS=1 build-san/fuzz_$target -max_total_time="$FUZZ_SECONDS" -timeout=20 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="build-san/fuzz-out/$target-" "$corpus" > "build-san/fuzz-out/$target.log" 2>&1 || true
}
fuzz_start=$SECONDS
rm -rf build-san/fuzz-out && mkdir -p build-san/fuzz-out
targets=(config tokenizer dataset checkpoint safetensors)
cores=$(nproc)
for ((i = 0; i < ${#targets[@]}; i += cores)); do
  pids=()
  for target in "${targets[@]:i:cores}"; do fuzz_one "$target" & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid"; done
done
for target in "${targets[@]}"; do
  echo "fuzz_$target: ${FUZZ_SECONDS}s"
  grep -E "^(stat::number_of_executed_units|stat::new_units_added|==|SUMMARY)|Done " "build-san/fuzz-out/$target.log" ||
    { echo "fuzz_$target did not run: $(tail -3 "build-san/fuzz-out/$target.log")"; exit 1; }
done
failing=$(find build-san/fuzz-out -type f \( -name '*crash-*' -o -name '*timeout-*' -o -name '*oom-*' -o -name '*leak-*' \))
if [ -n "$failing" ]; then
  echo "fuzzing found failing inputs: $failing"
  phase_record "fuzzing" $((SECONDS - fuzz_start)) failed
  exit 1
fi
phase_record "fuzzing (${#targets[@]} x ${FUZZ_SECONDS} s, $cores at once)" $((SECONDS - fuzz_start)) ok
echo "sanitizers and fuzzers: clean"
