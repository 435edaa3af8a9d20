#!/usr/bin/env bash
# Writes the King James Bible (1611, public domain; Debian's bible-kjv-text, read with its
# bible-kjv reader) as a document corpus: one book per JSONL line {"book", "text"}, books Genesis to
# Philemon (57 books) in data/kjv/train.jsonl and Hebrews to Revelation (the last 9) in
# data/kjv/val.jsonl, so validation text is never trained on; the validation books also go to
# data/kjv/val_text/ as plain text (prompts). The diffusion/AR comparison of docs/results.md runs on
# it (configs/kjv_diffusion.json, configs/kjv_ar.json): every Debian machine reaches it.
# Usage: scripts/fetch_kjv.sh [output folder]   (default: data/kjv; installs the packages when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-data/kjv}
first_val=Hebrews

if [ -s "$out/train.jsonl" ] && [ -s "$out/val.jsonl" ]; then
  echo "fetch_kjv: $out already holds train.jsonl and val.jsonl"
  exit 0
fi
if ! command -v bible >/dev/null || [ ! -e /usr/lib/bible.data ]; then
  sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
  $sudo apt-get install -y -q bible-kjv bible-kjv-text >/dev/null
fi
mkdir -p "$out/val_text"
# One verse per line (a wide line length); "Book N" lines open chapters.
bible -l 100000 Gen1:1-Rev22:21 | python3 -c '
import json, re, sys
out, first_val = sys.argv[1], sys.argv[2]
books, name = [], None
for line in sys.stdin:
    line = line.rstrip("\n")
    m = re.fullmatch(r"([1-3]?[A-Za-z ]+) ([0-9]+)", line)
    if m:
        if m.group(1) != name:
            name = m.group(1)
            books.append([name, []])
        books[-1][1].append("" if m.group(2) == "1" else "\n")
        books[-1][1].append("Chapter " + m.group(2) + "\n")
    elif line.strip() and books:
        books[-1][1].append(line.strip() + "\n")
split = [b[0] for b in books].index(first_val)
with open(out + "/train.jsonl.tmp", "w") as tr, open(out + "/val.jsonl.tmp", "w") as va:
    for i, (book, parts) in enumerate(books):
        text = book + "\n\n" + "".join(parts)
        (va if i >= split else tr).write(json.dumps({"book": book, "text": text}) + "\n")
        if i >= split:
            open(out + "/val_text/" + book.replace(" ", "_") + ".txt", "w").write(text)
' "$out" "$first_val"
mv "$out/train.jsonl.tmp" "$out/train.jsonl"
mv "$out/val.jsonl.tmp" "$out/val.jsonl"
echo "fetch_kjv: $(wc -l < "$out/train.jsonl") books in $out/train.jsonl ($(wc -c < "$out/train.jsonl") bytes), $(wc -l < "$out/val.jsonl") in $out/val.jsonl ($(wc -c < "$out/val.jsonl") bytes)"
