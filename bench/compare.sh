#!/usr/bin/env bash
# dlm against its PyTorch twin (bench/reference.py) on configs/char6x384.json, batch 16, context 256,
# in one run on one machine: the same LibTorch (Debian's 1.13 build against Debian's python3-torch, or
# the 2.x build against the pip wheel's Python, which also runs the twin under torch.compile), the
# same threads and the same BLAS kernels (the twin gets dlm's OpenBLAS choice via OPENBLAS_CORETYPE).
# Each program measures training tokens/s over --steps steps after 3 untimed ones, forward latency at
# batch 1 and 64, and resident memory; dlm also times fp32 matmuls at the model's GEMM shapes, the
# peak that model FLOP/s (6 x linear weights + attention, per token) is a share of. Prints a table
# and writes every figure as JSON. Run it alone: a second job on the same cores spoils the figures.
#   bench/compare.sh [--flavour debian|pip] [--steps N] [--precisions "fp32 bf16"] [--json FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
flavour=debian steps=20 precisions="fp32 bf16" json="" threads=2 text=data/plays/plays.txt
while [ $# -gt 0 ]; do
  case $1 in
    --flavour) flavour=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --precisions) precisions=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    --text) text=$2; shift 2 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
bench_setup compare.sh "$flavour" "$text"
[ -x "$build/train_bench" ] || { echo "compare.sh: $build/train_bench is missing (cmake --build $build)" >&2; exit 1; }
"$python" -c 'import torch' 2>/dev/null ||
  { echo "compare.sh: $python has no torch (debian: apt-get install python3-torch; pip: scripts/setup.sh --torch pip)" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for precision in $precisions; do
  "$build/train_bench" --config configs/char6x384.json --text "$text" --steps "$steps" --threads $threads \
    --precision "$precision" | tee -a "$out"
  OPENBLAS_CORETYPE=$core "$python" bench/reference.py speed --text "$text" --steps "$steps" \
    --threads $threads --precision "$precision" | tee -a "$out"
  if [ "$flavour" = pip ]; then
    "$python" bench/reference.py speed --compile --text "$text" --steps "$steps" --threads $threads \
      --precision "$precision" | tee -a "$out" || echo "compare.sh: torch.compile failed on this machine" >&2
  fi
done

python3 - "$out" "${json:-/dev/null}" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
json.dump(rows, open(sys.argv[2], "w"), indent=1)
dlm = {r["precision"]: r for r in rows if r["impl"] == "dlm"}
print(f"\n{'impl':17} {'prec':5} {'tok/s':>7} {'vs eager':>8} {'of peak':>7} {'fwd b1 ms':>9} {'fwd b64 ms':>10} {'RSS MiB':>8} {'peak MiB':>8}")
for r in rows:
    d = dlm[r["precision"]]
    eager = next(x for x in rows if x["impl"] == "pytorch" and x["precision"] == r["precision"])
    share = r["tokens_per_s"] * d["model_gflops"] / d["tokens_per_s"] / d["gemm_peak_gflops"]
    print(f"{r['impl']:17} {r['precision']:5} {r['tokens_per_s']:7.0f} {r['tokens_per_s'] / eager['tokens_per_s']:7.2f}x"
          f" {share:7.1%} {r['forward_ms_batch1']:9.1f} {r['forward_ms_batch64']:10.0f} {r['rss_mib_after_steps']:8.0f}"
          f" {r['peak_rss_mib']:8.0f}")
d = next(iter(dlm.values()))
print(f"\nLibTorch {d['torch']}; {d['blas']}; {d['threads']} threads; fp32 matmul peak at the model's GEMM shapes "
      f"{d['gemm_peak_gflops']:.1f} GFLOP/s (dlm's process); {d['linear_parameters']:,} linear weights")
EOF
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
