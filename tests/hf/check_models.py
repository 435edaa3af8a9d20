"""The oracle check of dlm's Hugging Face import and export against transformers (pinned 4.57.6):
  1. `dgen --dump-logits/--dump-hidden` on each fixture folder (tests/hf/make_fixtures.py) gives the ids
     the folder's AutoTokenizer gives and logits / hidden states within 1e-4 of transformers' fp32 ones;
  2. `dtrain --export-hf` of each masked-LM folder loads in AutoModelForMaskedLM (eager attention) and
     AutoTokenizer, and gives dlm's logits within 1e-4; an fp16 folder exports as fp16;
  3. with --minilm DIR: the real all-MiniLM-L6-v2 folder's last hidden state matches BertModel's.
Prints one line per check and exits 1 on the first failure.
Usage: python check_models.py --dgen BIN --dtrain BIN --fixtures DIR --work DIR [--minilm DIR]"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch
from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

TOLERANCE = 1e-4
# Masks, accents, CJK, emoji and whitespace runs; {mask} is the tokenizer's own mask token.
PROMPT = "The café{mask} naïve Ångström 中文字符 👍🏽 and  two   spaces,\tа tab{mask}: 3.14 don't!"


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def dump(args, folder, text, what):
    """Runs dgen's forward dump; returns the ids and the arrays asked for."""
    paths = {w: os.path.join(args.work, w + ".npy") for w in what}
    cmd = [args.dgen, "--checkpoint", folder, "--prefix", text, "--device", "cpu"]
    for w, p in paths.items():
        cmd += ["--dump-" + w, p]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        fail(f"{' '.join(cmd)}: exit {run.returncode}: {run.stderr.strip()}")
    lines = run.stdout.strip().splitlines()
    if len(lines) != 1:  # status lines belong on stderr
        fail(f"{' '.join(cmd)}: stdout holds {len(lines)} lines, expected only the ids")
    ids = json.loads(lines[0])["ids"]
    return ids, {w: np.load(p) for w, p in paths.items()}


def compare(label, ours, theirs):
    if ours.shape != theirs.shape:
        fail(f"{label}: shape {ours.shape} against transformers' {theirs.shape}")
    diff = float(np.abs(ours - theirs).max())
    if diff > TOLERANCE:
        fail(f"{label}: max |dlm - transformers| = {diff:.3g} > {TOLERANCE}")
    return diff


def reference(folder, ids, masked_lm):
    cls = AutoModelForMaskedLM if masked_lm else AutoModel
    model = cls.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32).eval()
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_hidden_states=True)
    hidden = out.hidden_states[-1] if masked_lm else out.last_hidden_state
    return (out.logits[0].numpy() if masked_lm else None), hidden[0].numpy()


def check_folder(args, name, masked_lm=True):
    folder = os.path.join(args.fixtures, name) if not os.path.isabs(name) else name
    tok = AutoTokenizer.from_pretrained(folder)
    text = PROMPT.format(mask=(" " if tok.mask_token.startswith("<") else "") + tok.mask_token)
    ids, arrays = dump(args, folder, text, ["logits", "hidden"] if masked_lm else ["hidden"])
    want = tok(text)["input_ids"]
    if ids != want:
        fail(f"{name}: dlm's ids {ids} differ from AutoTokenizer's {want}")
    if tok.mask_token_id not in ids:
        fail(f"{name}: the prompt holds no mask token")
    logits, hidden = reference(folder, ids, masked_lm)
    d_hidden = compare(f"{name} hidden", arrays["hidden"], hidden)
    d_logits = compare(f"{name} logits", arrays["logits"], logits) if masked_lm else float("nan")
    print(f"ok {name}: {len(ids)} ids equal; max |diff| logits {d_logits:.2e}, hidden {d_hidden:.2e}")
    return folder, text, ids, arrays.get("logits")


def check_export(args, name, expect_dtype):
    folder, text, ids, logits = check_folder(args, name)
    out = os.path.join(args.work, "export_" + name)
    shutil.rmtree(out, ignore_errors=True)
    run = subprocess.run([args.dtrain, "--export-hf", folder, out], capture_output=True, text=True)
    if run.returncode != 0:
        fail(f"dtrain --export-hf {folder}: exit {run.returncode}: {run.stderr.strip()}")
    from safetensors import safe_open
    with safe_open(os.path.join(out, "model.safetensors"), "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    if dtypes != {expect_dtype}:
        fail(f"export of {name}: tensor dtypes {sorted(dtypes)}, expected {expect_dtype}")
    tok = AutoTokenizer.from_pretrained(out)
    if tok(text)["input_ids"] != ids:
        fail(f"export of {name}: AutoTokenizer of the export gives other ids")
    theirs, _ = reference(out, ids, True)
    diff = compare(f"export of {name} logits", logits, theirs)
    print(f"ok export {name}: loads in transformers ({expect_dtype}); max |diff| logits {diff:.2e}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dgen", required=True)
    p.add_argument("--dtrain", required=True)
    p.add_argument("--fixtures", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--minilm")
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    torch.set_num_threads(1)
    check_export(args, "bert", "F32")
    check_export(args, "bert_fp16", "F16")
    check_export(args, "bert_untied", "F32")
    check_export(args, "roberta", "F32")
    check_folder(args, "bert_encoder", masked_lm=False)
    if args.minilm:
        check_folder(args, os.path.abspath(args.minilm), masked_lm=False)
    print("hf oracle: all checks passed")


if __name__ == "__main__":
    main()
