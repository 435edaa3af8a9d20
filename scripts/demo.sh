#!/usr/bin/env bash
# The main job: set up and build dtrain and dgen (nothing else), train the names model on the shipped
# data set (CPU, minutes), then watch it denoise a name step by step and generate a batch of names.
# It ends with a table of its phases and their seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/phases.sh
scripts/setup.sh --build apps
phase "train names" build/dtrain --config configs/names.json
echo
echo "== one name, denoised step by step (masks are shown as the shaded block) =="
build/dgen --show-steps --seed 7
echo
echo "== 20 names generated as one batch =="
build/dgen --num-samples 20 --seed 1 | paste -sd ' ' -
