#!/usr/bin/env bash
# The CPU kernels' objects built for one instruction set (src/model/kernels/cpu_kernels.cpp, compiled
# with -mavx2 or -mavx512f) must not define a shareable (weak) function outside that set's own
# namespaces: the linker keeps one copy of each such function for the whole program, and if it kept
# this object's, a CPU without the instructions would run them and crash. ATen's vector types live in
# the CPU_CAPABILITY namespace (at::vec::AVX2::...), so their copies stay apart.
# Usage: kernel_isa_audit.sh ISA OBJECT... (ISA: AVX2, AVX512)
set -euo pipefail
isa=${1:?usage: kernel_isa_audit.sh ISA OBJECT...}
shift
[ $# -gt 0 ] || { echo "kernel_isa_audit: no object files given" >&2; exit 2; }
# W and w: weak functions (code). Weak data (V, v: e.g. the typeinfo UBSan emits) holds no instructions.
bad=$(nm -C --defined-only "$@" | awk '$2 ~ /^[Ww]$/' | grep -v "::${isa}::" || true)
if [ -n "$bad" ]; then
  echo "kernel_isa_audit: shared functions built for $isa outside its namespaces (another file's copy may run them):"
  echo "$bad"
  exit 1
fi
echo "kernel_isa_audit: $isa objects share no function outside the $isa namespaces"
