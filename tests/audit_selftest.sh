#!/usr/bin/env bash
# Checks that the source audits can fail: on copies of the real tree with one planted violation each,
# tests/device_audit.sh and tests/layering.sh must exit 1 naming file:line; on the unchanged copy and
# on what they allow, exit 0.
# Usage: audit_selftest.sh PROJECT_DIR
set -uo pipefail
project=${1:?usage: audit_selftest.sh PROJECT_DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0

fresh() { rm -rf "$work/tree" && mkdir -p "$work/tree" && cp -r "$project/src" "$project/include" "$project/apps" "$work/tree/"; }
expect() {  # expect RC [TEXT]: runs the audit named by $audit on $work/tree
  local rc out
  out=$(bash "$project/tests/$audit.sh" "$work/tree" 2>&1); rc=$?
  if [ "$rc" != "$1" ] || { [ -n "${2:-}" ] && ! grep -qF -- "$2" <<<"$out"; }; then
    echo "FAIL ($audit: $case): wanted exit $1${2:+ and '$2'}, got exit $rc: $out"
    failed=1
  else
    echo "ok ($audit: $case)"
  fi
}
plant() {  # plant FILE LINE: appends LINE to FILE (under src/ unless it names include/ or apps/) and
           # prints its line number
  local f=$1
  case $f in include/*|apps/*) ;; *) f=src/$f ;; esac
  mkdir -p "$(dirname "$work/tree/$f")"
  printf '%s\n' "$2" >> "$work/tree/$f"
  wc -l < "$work/tree/$f"
}
planted() {  # planted CASE FILE LINE MESSAGE: on a fresh copy with LINE planted in FILE, the audit must
             # fail naming FILE:N: MESSAGE (N the planted line; the path as plant resolves it)
  local n path=$2
  case="$1"; fresh; n=$(plant "$2" "$3")
  case $path in include/*|apps/*) ;; *) path=src/$path ;; esac
  expect 1 "$path:$n: $4"
}

audit=device_audit
case="the real tree is clean"; fresh; expect 0
planted "a stage folder" train/trainer.cpp 'static auto bad = torch::arange(5);' "tensor created without a device"
planted "a nested folder" model/hf/new_family.cpp 'auto w = torch::zeros({3, 4});' "tensor created"
planted "a private header" diffusion/denoise_loop.h 'inline auto t() { return torch::ones({2}); }' "tensor created"
planted "a collator outside diffusion/ is not exempt" data/collator.cpp 'auto m = torch::full({2}, 1.0);' "tensor created"
case="diffusion/collator.cpp is exempt"; fresh; plant diffusion/collator.cpp 'auto m = torch::full({2}, 1.0);' >/dev/null
expect 0
case="a device from an input"; fresh; plant model/model.cpp 'auto a = torch::zeros({3}, x.options());' >/dev/null
expect 0
case="a reason on the line above"; fresh
plant model/model.cpp '// cpu: a figure for the log' >/dev/null; plant model/model.cpp 'auto a = torch::zeros({3});' >/dev/null
expect 0
case="a reason two lines above does not count"; fresh
plant model/model.cpp '// cpu: a figure for the log' >/dev/null; plant model/model.cpp '' >/dev/null
n=$(plant model/model.cpp 'auto a = torch::zeros({3});')
expect 1 "src/model/model.cpp:$n:"
audit=layering
case="the real tree is clean"; fresh; expect 0
planted "an upward include" data/dataset.cpp '#include "dlm/train/trainer.h"' \
  "stage data includes dlm/train/trainer.h of the higher stage train"
planted "the top level includes a stage" config.cpp '#include "dlm/model/model.h"' "stage top includes"
planted "a public header includes a higher one" include/dlm/model/model.h '#include "dlm/diffusion/sampler.h"' \
  "stage model includes"
planted "train includes its peer generate" train/trainer.cpp '#include "dlm/generate/generate.h"' \
  "stage train includes dlm/generate/generate.h of its peer generate"
planted "a public header includes CLI11" include/dlm/config.h '#include <CLI/CLI.hpp>' "public header includes CLI11"
planted "another stage's private header" generate/generate.cpp '#include "diffusion/denoise_loop.h"' \
  "includes diffusion/denoise_loop.h, a private header of stage diffusion"
case="a stage folder without a place"; fresh; plant vision/vit.cpp '#include "dlm/config.h"' >/dev/null
expect 1 'stage folder "vision" has no place in the stage order'
case="a downward include"; fresh; plant generate/generate.cpp '#include "dlm/data/dataset.h"' >/dev/null
expect 0
case="apps include anything public"; fresh; plant apps/dgen.cpp '#include "dlm/train/trainer.h"' >/dev/null
expect 0
exit $failed
