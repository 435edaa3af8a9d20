"""The oracle check of dlm's Hugging Face import and export against transformers (pinned 4.57.6):
  1. `dgen --dump-logits/--dump-hidden` on each fixture folder (tests/hf/make_fixtures.py) gives the ids
     the folder's AutoTokenizer gives and logits / hidden states within 1e-4 of transformers' fp32 ones
     (ModernBERT's config in transformers 5's layout against 4.57 on the same weights);
  2. `dtrain --export-hf` of each masked-LM folder loads in AutoModelForMaskedLM (eager attention) and
     AutoTokenizer, and gives dlm's logits within 1e-4; an fp16 folder exports as fp16;
  3. a few steps of `model.init_from` fine-tuning on each family: a run stopped and resumed ends with the
     same weights as one that was not, its export loads in transformers with dlm's logits, and its weights
     moved from the folder's without being drawn anew;
  4. with --minilm DIR: the real all-MiniLM-L6-v2 folder's last hidden state matches BertModel's;
  5. the masked-diffusion LMs (tests/hf/diffusion_lms.py's LLaDA MHA and GQA, Dream untied and tied, in the
     fixtures folder): dgen's ids and logits (masks inside the prompt and at its end) against the reference
     (LlamaForCausalLM / Qwen2ForCausalLM, bidirectional, Dream shifted), the export tensor for tensor equal
     to the folder's, and a fine-tune on pairs (answer-only masking) resumed exactly whose export the
     reference reads with dlm's logits.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffusion_lms  # noqa: E402

TOLERANCE = 1e-4
# Masks, accents, CJK, emoji and whitespace runs; {mask} is the tokenizer's own mask token.
PROMPT = "The café{mask} naïve Ångström 中文字符 👍🏽 and  two   spaces,\tа tab{mask}: 3.14 don't!"
# The masked-diffusion LMs' prompt: masks inside and at the end, as a canvas to fill in has them.
DLM_PROMPT = PROMPT + "{mask}{mask}"
REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


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
        logits = model(torch.tensor([ids])).logits[0].numpy() if masked_lm else None
        # The encoder's last hidden state, after a pre-norm stack's final norm (ModernBERT's).
        hidden = model.base_model(torch.tensor([ids])).last_hidden_state
    return logits, hidden[0].numpy()


def check_folder(args, name, masked_lm=True, oracle=None):
    """`oracle`: the folder transformers reads, when it cannot read `name` (default: the same)."""
    folder = os.path.join(args.fixtures, name) if not os.path.isabs(name) else name
    tok = AutoTokenizer.from_pretrained(folder)
    text = PROMPT.format(mask=(" " if tok.mask_token.startswith("<") else "") + tok.mask_token)
    ids, arrays = dump(args, folder, text, ["logits", "hidden"] if masked_lm else ["hidden"])
    want = tok(text)["input_ids"]
    if ids != want:
        fail(f"{name}: dlm's ids {ids} differ from AutoTokenizer's {want}")
    if tok.mask_token_id not in ids:
        fail(f"{name}: the prompt holds no mask token")
    logits, hidden = reference(os.path.join(args.fixtures, oracle) if oracle else folder, ids, masked_lm)
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


def run(cmd, what):
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        fail(f"{what}: {' '.join(cmd)}: exit {done.returncode}: {done.stderr.strip()[-400:]}")


def tensors(folder):
    from safetensors.torch import load_file
    return load_file(os.path.join(folder, "model.safetensors"))


def check_finetune(args, name, diffusion_lm=False):
    """Fine-tunes a fixture folder for 6 steps twice, once stopped at step 3 and resumed; both must end
    with identical weights, and the export must load in transformers with dlm's logits. The masked-diffusion
    LMs train on prompt>answer pairs with only the answer masked (as configs/translate.json)."""
    folder = os.path.join(args.fixtures, name)
    work = os.path.join(args.work, "finetune_" + name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    if diffusion_lm:
        data = {"kind": "pairs", "path": os.path.join(REPO, "data", "translate.txt"), "seq_len": 16}
        diffusion = {"mask_pad": True}
    else:
        data = {"kind": "text", "path": os.path.abspath(args.texts), "seq_len": 32}
        diffusion = {"prefix_len": 2}
    config = {"name": "ft_" + name, "data": data, "model": {"init_from": os.path.abspath(folder)},
              "diffusion": diffusion,
              "train": {"steps": 6, "batch_size": 4, "lr": 3e-3, "warmup": 1, "eval_every": 3, "log_every": 1,
                        "threads": 1, "device": "cpu"}}
    cfg = os.path.join(work, "config.json")
    with open(cfg, "w") as f:
        json.dump(config, f)
    whole, stopped = os.path.join(work, "whole"), os.path.join(work, "stopped")
    run([args.dtrain, "--config", cfg, "--run-dir", whole, "--progress", "plain"], f"fine-tune {name}")
    run([args.dtrain, "--config", cfg, "--run-dir", stopped, "--stop-at", "3", "--progress", "plain"], f"fine-tune {name} to step 3")
    run([args.dtrain, "--resume", stopped, "--progress", "plain"], f"resume {name}")
    outs = {}
    for run_dir in (whole, stopped):
        outs[run_dir] = run_dir + "_hf"
        run([args.dtrain, "--export-hf", run_dir, outs[run_dir]], f"export of the fine-tuned {name}")
    a, b, original = tensors(outs[whole]), tensors(outs[stopped]), tensors(folder)
    if set(a) != set(original):
        fail(f"fine-tuned {name}: the export's tensors {sorted(set(a) ^ set(original))} differ from the folder's names")
    for key in a:
        if not torch.equal(a[key], b[key]):
            fail(f"fine-tuned {name}: {key} differs between the resumed run and the whole one")
    moved = max(float((a[k] - original[k]).abs().max()) for k in a if k in original)
    spread = max(float((a[k] - original[k]).norm() / original[k].norm()) for k in a if k in original and original[k].norm() > 0)
    if moved == 0.0 or spread > 0.5:
        fail(f"fine-tuned {name}: weights moved by {moved:.3g} (largest relative change {spread:.3g}): not fine-tuned from the folder")
    tok = AutoTokenizer.from_pretrained(outs[whole])
    mask = diffusion_lms.mask_token(folder) if diffusion_lm else tok.mask_token
    if diffusion_lm and json.load(open(os.path.join(outs[whole], "config.json")))["mask_token_id"] != tok.convert_tokens_to_ids(mask):
        fail(f"fine-tuned {name}: the export's mask_token_id is not the folder's")
    text = "In the beginning " + mask + " the words"
    ids, arrays = dump(args, whole, text, ["logits"])
    if tok(text)["input_ids"] != ids:
        fail(f"fine-tuned {name}: the export's AutoTokenizer gives other ids")
    if diffusion_lm:
        theirs = diffusion_lms.reference_logits(outs[whole], ids)
    else:
        theirs, _ = reference(outs[whole], ids, True)
    diff = compare(f"fine-tuned {name} logits", arrays["logits"], theirs)
    print(f"ok fine-tune {name}: resumed run identical, weights moved (largest relative change {spread:.3f}); "
          f"export loads in transformers, max |diff| logits {diff:.2e}")


def check_diffusion_lm(args, name):
    """dgen's ids and logits on a LLaDA or Dream fixture against the reference; then its export holds the
    folder's tensors, names, shapes and values, and the reference reads the export's config."""
    folder = os.path.join(args.fixtures, name)
    tok = AutoTokenizer.from_pretrained(folder)
    text = DLM_PROMPT.format(mask=diffusion_lms.mask_token(folder))
    ids, arrays = dump(args, folder, text, ["logits"])
    want = tok(text)["input_ids"]
    if ids != want:
        fail(f"{name}: dlm's ids {ids} differ from AutoTokenizer's {want}")
    mask = diffusion_lms._config(folder)["mask_token_id"]
    if ids[-2:] != [mask, mask] or mask not in ids[:-2]:
        fail(f"{name}: the prompt's ids {ids} lack masks inside and at the end")
    diff = compare(f"{name} logits", arrays["logits"], diffusion_lms.reference_logits(folder, ids))
    out = os.path.join(args.work, "export_" + name)
    shutil.rmtree(out, ignore_errors=True)
    run([args.dtrain, "--export-hf", folder, out], f"export of {name}")
    ours, theirs = tensors(out), tensors(folder)
    if set(ours) != set(theirs) or any(not torch.equal(ours[k], theirs[k]) for k in ours):
        fail(f"export of {name}: its tensors differ from the folder's")
    d_export = compare(f"export of {name} logits", arrays["logits"], diffusion_lms.reference_logits(out, ids))
    print(f"ok {name}: {len(ids)} ids equal; max |diff| logits {diff:.2e}; export holds the same tensors, "
          f"max |diff| logits {d_export:.2e}")


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--dgen", required=True)
    p.add_argument("--dtrain", required=True)
    p.add_argument("--fixtures", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--minilm")
    p.add_argument("--texts", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "mixed.txt"))
    args = p.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    torch.set_num_threads(1)
    check_export(args, "bert", "F32")
    check_export(args, "bert_fp16", "F16")
    check_export(args, "bert_untied", "F32")
    check_export(args, "roberta", "F32")
    check_export(args, "modernbert", "F32")
    check_export(args, "modernbert_nulllocal", "F32")
    check_folder(args, "modernbert_v5", oracle="modernbert")
    for name in ("bert", "roberta", "modernbert"):
        check_finetune(args, name)
    for name in diffusion_lms.FIXTURES:
        check_diffusion_lm(args, name)
    for name in ("llada_gqa", "dream"):
        check_finetune(args, name, diffusion_lm=True)
    check_folder(args, "bert_encoder", masked_lm=False)
    if args.minilm:
        check_folder(args, os.path.abspath(args.minilm), masked_lm=False)
    print("hf oracle: all checks passed")


if __name__ == "__main__":
    main()
