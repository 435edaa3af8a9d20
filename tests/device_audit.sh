#!/usr/bin/env bash
# Device placement, checked where it is decided: every tensor the library creates from nothing (a
# factory call such as torch::zeros or torch::arange) must take its device from an input (`.options()`,
# a `device` argument) or draw on a generator's device (`gen`), or say why the CPU is meant with a
# `// cpu:` comment on its line or the line above. Without a GPU this is how a CPU tensor meeting a CUDA
# one is caught before it ships. Every source and private header under SOURCE_DIR/src is read, in every
# stage folder; the collator (src/diffusion/collator.cpp) builds every batch on the CPU by design and is
# exempt by its path. Prints file:line for each violation and exits 1; exits 0 when clean.
# Usage: device_audit.sh SOURCE_DIR
set -euo pipefail
root=${1:?usage: device_audit.sh SOURCE_DIR}
src=$root/src
[ -d "$src" ] || { echo "device_audit: no src/ folder in $root" >&2; exit 2; }
mapfile -t files < <(cd "$src" && find . -type f \( -name '*.cpp' -o -name '*.h' \) ! -path ./diffusion/collator.cpp | sed 's#^\./##' | sort)
[ ${#files[@]} -gt 0 ] || { echo "device_audit: no sources under $src" >&2; exit 2; }
(cd "$src" && awk '
  FNR == 1 { prev = "" }
  /torch::(zeros|ones|full|empty|arange|rand|randn|randint|tensor|eye|linspace)\(/ &&
      !/options\(\)|device\)|\.device\(|[(, ]gen[,)]|\/\/ cpu:/ && prev !~ /\/\/ cpu:/ {
    printf "src/%s:%d: tensor created without a device: %s\n", FILENAME, FNR, $0
    bad = 1
  }
  { prev = $0 }
  END { exit bad }' "${files[@]}") ||
  exit 1
echo "device audit: every factory call in ${#files[@]} files under $src takes its device from an input or says why not"
