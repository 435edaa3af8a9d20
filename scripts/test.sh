#!/usr/bin/env bash
# Checks the C++ format (scripts/check_format.sh), then sets up, builds and runs every test (unit tests
# and smoke runs of dtrain/dgen) for each LibTorch flavour, and ends with a table of its phases and
# their seconds:
#   scripts/test.sh                  both flavours (what CI runs); the seed demos, which train for
#                                    minutes, run once, on 1.13
#   scripts/test.sh --torch debian   Debian's LibTorch 1.13 in build/, then the same suite under
#                                    AddressSanitizer + UndefinedBehaviorSanitizer with short fuzz runs
#                                    (scripts/sanitize.sh)
#   scripts/test.sh --torch pip      LibTorch 2.x from the torch wheel (CUDA compiled in) in build-torch2/
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/phases.sh

flavour=all
while [ $# -gt 0 ]; do
  case "$1" in
    --torch) flavour="${2:-}"; shift 2 || { echo "test: --torch needs a value (debian or pip)" >&2; exit 2; } ;;
    --torch=*) flavour="${1#--torch=}"; shift ;;
    *) echo "test: unknown option '$1' (valid: --torch debian|pip)" >&2; exit 2 ;;
  esac
done
case "$flavour" in all|debian|pip) ;; *) echo "test: unknown LibTorch flavour '$flavour' (valid: debian, pip)" >&2; exit 2 ;; esac
# The 2.x flavour configures against the wheel's CUDA build, which needs the CUDA toolkit.
if [ "$flavour" = all ] && ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "test: no CUDA toolkit (nvcc) on this machine: testing Debian's LibTorch 1.13 only (the 2.x flavour needs it)"
  flavour=debian
fi

# The format first: a mis-formatted line fails in seconds, not after the builds.
phase "format" scripts/check_format.sh
if [ "$flavour" != pip ]; then
  scripts/setup.sh --torch debian
  phase "tests (1.13)" ctest --test-dir build --output-on-failure -j"$(nproc)" -LE demos
  phase "demos (1.13)" ctest --test-dir build --output-on-failure -L '^demos$'
  scripts/sanitize.sh
fi
if [ "$flavour" != debian ]; then
  # Only what the tests run: the benchmarks are built (and so compiled) by the 1.13 build.
  scripts/setup.sh --torch pip --build tests
  # The 2.x binaries must carry LibTorch's CUDA library, even though nothing here can run it.
  # ldd's output is read whole first: grep -q stops at its first match, and under pipefail the SIGPIPE ldd
  # then gets would fail the check at random.
  linked=$(ldd build-torch2/dtrain)
  if ! grep -q 'libtorch_cuda\.so' <<<"$linked"; then
    echo "test: build-torch2/dtrain does not link libtorch_cuda.so" >&2
    exit 1
  fi
  # The Hugging Face oracle (CTest hf.oracle, this flavour only) needs transformers and tokenizers beside
  # torch, and the real all-MiniLM-L6-v2 folder.
  # The installed versions, read without importing them (an import of transformers takes seconds).
  if ! .venv-torch2/bin/python -c 'import importlib.metadata as m; assert m.version("transformers") == "4.57.6"; m.version("tokenizers")' 2>/dev/null; then
    phase "transformers (pip)" .venv-torch2/bin/pip install -q --disable-pip-version-check --no-compile \
      transformers==4.57.6 tokenizers==0.22.2
  fi
  phase "MiniLM folder" scripts/fetch_minilm.sh
  phase "tests (2.x)" ctest --test-dir build-torch2 --output-on-failure -j"$(nproc)" -LE demos
  # The demos ran on 1.13 above; run alone, this flavour runs them too.
  if [ "$flavour" = pip ]; then
    phase "demos (2.x)" ctest --test-dir build-torch2 --output-on-failure -L '^demos$'
  else
    echo "test: the seed demos ran on 1.13 above; on 2.x: ctest --test-dir build-torch2 -L '^demos$'"
  fi
fi
