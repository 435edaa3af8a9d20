#!/usr/bin/env python3
"""Checks dlm's tokenizer.json reader against transformers, line by line.

For each --folder (oracle: AutoTokenizer) and --slow-folder (oracle: the slow Qwen2Tokenizer, for folders of
vocab.json + merges.txt only) and each line of the --texts files (default tests/hf/mixed.txt), then the
whole of those files as one text and a few texts with newlines, carriage returns and trailing spaces:
  - `dgen --tokenize --tokenizer DIR --format jsonl` (every line at once, each as a JSON string) must give the ids of
    AutoTokenizer.from_pretrained(DIR)(line)["input_ids"], specials included;
  - `dgen --detokenize --tokenizer DIR --format jsonl` of those ids without the specials must print
    tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False). The cleanup flag is
    fixed because it is transformers' own pass over the decoded text (the tokenizer.json's WordPiece
    decoder, which dlm does follow, has its own cleanup), and its default depends on the folder's
    tokenizer_config.json; dlm's decode is the library's decode.
  - for a folder with a chat template, `dgen --tokenize --chat` of each line must give
    tok(tok.apply_chat_template([{"role": "user", "content": line}], add_generation_prompt=True,
    tokenize=False))["input_ids"], the ids --chat lays out.
Prints one line per folder (lines checked, mismatches) and the first mismatch in detail; exits 1 on any.
Usage: check_tokenizers.py --dgen build/dgen --folder DIR [--folder DIR ...] [--slow-folder DIR ...] [--texts FILE ...]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


# Texts that one line cannot hold: newlines, carriage returns, blank lines, spaces before a newline.
MULTILINE = ["first line\nsecond line\n", "a\r\nb\r\n\r\nc", "ends with spaces   \n   \n\n  next", "\n\n\nx \n",
             "  indented\n    code(x) {\n        return 1;\n    }\n", "tab\t\n\tstart", "CR only\rhere\r"]


def run_dgen(dgen, mode, folder, requests, extra=()):
    """One dgen run over every request (one JSON line each, --format jsonl); its answers, or an error."""
    stdin = "".join(json.dumps(r) + "\n" for r in requests)
    try:
        proc = subprocess.run([dgen, mode, "--tokenizer", folder, "--format", "jsonl"] + list(extra),
                              input=stdin.encode("utf-8"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:  # no binary, or one being relinked
        return None, "cannot run %s: %s" % (dgen, e)
    if proc.returncode != 0:
        return None, proc.stderr.decode("utf-8", "replace").strip()
    return [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()], None


def check_folder(dgen, folder, tok, lines):
    """The descriptions of the lines where dgen differs from transformers, as (line number, text)."""
    want_ids = [tok(line)["input_ids"] for line in lines]
    got, err = run_dgen(dgen, "--tokenize", folder, lines)
    if err is not None:
        return [(0, "dgen --tokenize failed: %s" % err)]
    special = set(tok.all_special_ids)
    plain = [[i for i in ids if i not in special] for ids in want_ids]
    texts, err = run_dgen(dgen, "--detokenize", folder, [{"ids": p} for p in plain])
    if err is not None:
        return [(0, "dgen --detokenize failed: %s" % err)]
    problems = []
    for n, (want, answer, ids, text) in enumerate(zip(want_ids, got, plain, texts), 1):
        if answer["ids"] != want:
            problems.append((n, "ids differ\n  transformers: %s\n  tokens:       %s\n  dgen:         %s\n  pieces:       %s"
                             % (want, tok.convert_ids_to_tokens(want), answer["ids"], answer["pieces"])))
            continue
        want_text = tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        if text["text"] != want_text:
            problems.append((n, "decoded text differs\n  ids:          %s\n  transformers: %r\n  dgen:         %r"
                             % (ids, want_text, text["text"])))
    if len(got) != len(lines) or len(texts) != len(lines):
        problems.append((0, "dgen answered %d and %d of %d lines" % (len(got), len(texts), len(lines))))
    return problems


def check_chat(dgen, folder, tok, lines):
    """The lines whose --chat ids differ from transformers' chat template encoded as text."""
    want = [tok(tok.apply_chat_template([{"role": "user", "content": line}], add_generation_prompt=True,
                                        tokenize=False))["input_ids"] for line in lines]
    got, err = run_dgen(dgen, "--tokenize", folder, lines, ["--chat"])
    if err is not None:
        return [(0, "dgen --tokenize --chat failed: %s" % err)]
    problems = [(n, "chat ids differ\n  transformers: %s\n  dgen:         %s" % (w, g["ids"]))
                for n, (w, g) in enumerate(zip(want, got), 1) if w != g["ids"]]
    if len(got) != len(lines):
        problems.append((0, "dgen answered %d of %d lines" % (len(got), len(lines))))
    return problems


def report(folder, what, texts, problems):
    """Prints `what` was checked and the first problem (numbered in `texts`); true when there is one."""
    print("%s: %s checked, %d mismatches" % (folder, what, len(problems)))
    if problems:
        number, problem = problems[0]
        print("  first mismatch, text %d %r: %s" % (number, texts[number - 1] if number else "", problem))
    return bool(problems)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dgen", required=True, help="path to the dgen binary")
    parser.add_argument("--folder", action="append", default=[], help="a folder with tokenizer.json")
    parser.add_argument("--slow-folder", action="append", default=[],
                        help="a folder of the slow Qwen2Tokenizer's files (vocab.json, merges.txt)")
    parser.add_argument("--texts", action="append", help="a file of one text per line (default: mixed.txt)")
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer, Qwen2Tokenizer

    lines = []
    for path in args.texts or [os.path.join(HERE, "mixed.txt")]:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        lines.extend(text[:-1].split("\n") if text.endswith("\n") else text.split("\n"))
    texts = lines + ["\n".join(lines)] + MULTILINE
    failed = False
    folders = [(f, AutoTokenizer.from_pretrained) for f in args.folder]
    folders += [(f, Qwen2Tokenizer.from_pretrained) for f in args.slow_folder]
    for folder, load in folders:
        tok = load(folder)
        what = "%d lines (+ the whole file and %d multi-line texts)" % (len(lines), len(MULTILINE))
        failed |= report(folder, what, texts, check_folder(args.dgen, folder, tok, texts))
        if tok.chat_template:
            what = "%d --chat prompts" % len(lines)
            failed |= report(folder, what, lines, check_chat(args.dgen, folder, tok, lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
