#!/usr/bin/env bash
# Device placement, checked where it is decided: every tensor the library creates from nothing (a
# factory call such as torch::zeros or torch::arange) must take its device from an input (`.options()`,
# a `device` argument) or draw on a generator's device (`gen`), or say why the CPU is meant with a
# `// cpu:` comment on its line or the line above. Without a GPU this is how a CPU tensor meeting a CUDA
# one is caught before it ships. The collator builds every batch on the CPU by design and is exempt.
# Usage: device_audit.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: device_audit.sh SOURCE_DIR}/src
bad=0
for f in "$src"/*.cpp; do
  [ "$(basename "$f")" = collator.cpp ] && continue
  prev=""
  n=0
  while IFS= read -r line; do
    n=$((n + 1))
    if grep -qE 'torch::(zeros|ones|full|empty|arange|rand|randn|randint|tensor|eye|linspace)\(' <<<"$line" &&
       ! grep -qE 'options\(\)|device\)|\.device\(|[(, ]gen[,)]|// cpu:' <<<"$line" &&
       ! grep -q '// cpu:' <<<"$prev"; then
      echo "$(basename "$f"):$n: tensor created without a device: $line"
      bad=1
    fi
    prev=$line
  done <"$f"
done
[ $bad -eq 0 ] && echo "device audit: every factory call in $src takes its device from an input or says why not"
exit $bad
