#!/usr/bin/env python3
"""Checks dlm's tokenizer.json reader against transformers, line by line.

For each --folder and each line of the --texts files (default tests/hf/mixed.txt):
  - `dgen --tokenize --tokenizer DIR` (stdin = the line, without its newline) must print the ids of
    AutoTokenizer.from_pretrained(DIR)(line)["input_ids"], specials included;
  - `dgen --detokenize --tokenizer DIR` of those ids without the specials must print
    tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False). The cleanup flag is
    fixed because it is transformers' own pass over the decoded text (the tokenizer.json's WordPiece
    decoder, which dlm does follow, has its own cleanup), and its default depends on the folder's
    tokenizer_config.json; dlm's decode is the library's decode.
Prints one line per folder (lines checked, mismatches) and the first mismatch in detail; exits 1 on any.
Usage: check_tokenizers.py --dgen build/dgen --folder DIR [--folder DIR ...] [--texts FILE ...]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_dgen(dgen, mode, folder, stdin_text):
    try:
        proc = subprocess.run([dgen, mode, "--tokenizer", folder], input=stdin_text.encode("utf-8"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:  # no binary, or one being relinked
        return None, "cannot run %s: %s" % (dgen, e)
    if proc.returncode != 0:
        return None, proc.stderr.decode("utf-8", "replace").strip()
    return proc.stdout.decode("utf-8"), None


def check_line(dgen, folder, tok, line):
    """Returns None when dgen agrees with transformers on `line`, else a description of the difference."""
    want_ids = tok(line)["input_ids"]
    out, err = run_dgen(dgen, "--tokenize", folder, line)
    if err is not None:
        return "dgen --tokenize failed: %s" % err
    got = json.loads(out)
    if got["ids"] != want_ids:
        return ("ids differ\n  transformers: %s\n  tokens:       %s\n  dgen:         %s\n  pieces:       %s"
                % (want_ids, tok.convert_ids_to_tokens(want_ids), got["ids"], got["pieces"]))
    special = set(tok.all_special_ids)
    plain = [i for i in want_ids if i not in special]
    want_text = tok.decode(plain, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    got_text, err = run_dgen(dgen, "--detokenize", folder, json.dumps({"ids": plain}))
    if err is not None:
        return "dgen --detokenize failed: %s" % err
    if got_text != want_text:
        return "decoded text differs\n  ids:          %s\n  transformers: %r\n  dgen:         %r" % (
            plain, want_text, got_text)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dgen", required=True, help="path to the dgen binary")
    parser.add_argument("--folder", action="append", required=True, help="a folder with tokenizer.json")
    parser.add_argument("--texts", action="append", help="a file of one text per line (default: mixed.txt)")
    args = parser.parse_args()

    from transformers import AutoTokenizer

    lines = []
    for path in args.texts or [os.path.join(HERE, "mixed.txt")]:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        lines.extend(text[:-1].split("\n") if text.endswith("\n") else text.split("\n"))
    failed = False
    for folder in args.folder:
        tok = AutoTokenizer.from_pretrained(folder)
        mismatches, first = 0, None
        for number, line in enumerate(lines, 1):
            problem = check_line(args.dgen, folder, tok, line)
            if problem is not None:
                mismatches += 1
                if first is None:
                    first = "  first mismatch, line %d %r: %s" % (number, line, problem)
        print("%s: %d lines checked, %d mismatches" % (folder, len(lines), mismatches))
        if first is not None:
            print(first)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
