"""LLaDA and Dream at their real vocabulary and a 12-layer width-768 body: how fast each tool generates
(docs/performance.md, "LLaDA and Dream"). Random weights (std 0.02), fp32, greedy, 2 threads; a 64-token
prompt, 256 tokens in blocks of 32, 256 steps.

  (a) transformers' Llama / Qwen2 classes (PyTorch eager, bidirectional through a zero 4D mask), driven by a
      loop written from the samplers' rules (tests/hf/check_generate.py's, in blocks), timed over the first
      --reference-blocks blocks, per step; eager and sdpa attention are both tried, the faster reported;
  (b) dgen, the same sampler, no cache;
  (c) dgen --kv-cache --threshold 0.9 (dual), and --kv-cache-mode prefix beside it;
  batches of 1, 4 and 8 prompts under (c).

Each dgen figure is the median of --runs runs, each alone (dgen's own clock: the sampling, not the load).
Usage (the torch wheel's Python, which has transformers):
  python bench/llada_dream_speed.py --dgen build/dgen --work /tmp/ld_speed [--shapes llada,dream] [--runs 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "hf"))
import diffusion_lms  # noqa: E402

LENGTH, BLOCK, STEPS, PROMPT = 256, 32, 256, 64
# The shapes: LLaDA-shaped (MHA, SwiGLU 2,304, 126,464 ids, theta 5e5) and Dream-shaped (GQA 12/2,
# q/k/v biases, d_ff 4,096, 151,936 ids, theta 1e6, shifted).
SHAPES = {
    "llada": dict(family="llada", vocab=126464, sampler="llada", flags=["--remasking", "low_confidence"],
                  write=lambda out, work, extra: diffusion_lms.write_llada(
                      out, work, seed=31, d_model=768, n_heads=12, n_kv_heads=12, n_layers=12, mlp_hidden_size=2304,
                      tied=False, mask_wins=None, extra_rows=extra, std=0.02, max_len=512, rope_theta=5e5)),
    "dream": dict(family="dream", vocab=151936, sampler="dream", flags=["--alg", "entropy", "--top-p", "1"],
                  write=lambda out, work, extra: diffusion_lms.write_dream(
                      out, work, seed=32, hidden_size=768, heads=12, kv_heads=2, layers=12, intermediate=4096,
                      tied=False, mask_wins=None, extra_rows=extra, std=0.02, max_len=512, rope_theta=1e6)),
}
WORDS = ("the old man and the sea went out to fish in the gulf stream for eighty four days without a catch "
         "and the boy had been with him for forty days").split()


def folder(work, name):
    """The shape's folder under work, written once."""
    path = os.path.join(work, name)
    if os.path.exists(os.path.join(path, "model.safetensors")):
        return path
    spec = SHAPES[name]
    tok, _, _ = diffusion_lms.tokenizer_folder(os.path.join(work, "_probe_" + name), work, spec["family"])
    spec["write"](path, work, spec["vocab"] - len(tok))
    return path


def prompt_text(path, n, offset=0):
    """The shortest start of WORDS (rotated by offset) whose encoding by the folder's tokenizer is n ids long."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(path)
    text = " ".join(WORDS[(offset + i) % len(WORDS)] for i in range(4 * n))
    for end in range(1, len(text) + 1):
        ids = tok(text[:end].rstrip())["input_ids"]
        if len(ids) == n:
            return text[:end].rstrip()
        if len(ids) > n:
            break
    raise SystemExit(f"no start of the word list is {n} ids long for {path}")


def reference_steps(model, shift, path, text, blocks, probe=0):
    """(a): ms per step of the reference loop over the first `blocks` blocks (greedy, blocks of BLOCK), or over
    its first `probe` steps when probe > 0."""
    from transformers import AutoTokenizer
    with open(os.path.join(path, "config.json")) as f:
        mask = json.load(f)["mask_token_id"]
    x = AutoTokenizer.from_pretrained(path)(text)["input_ids"] + [mask] * LENGTH
    P, per_block = len(x) - LENGTH, STEPS // (LENGTH // BLOCK)
    t = torch.linspace(1, 1e-3, per_block + 1)
    times = []
    for b in range(blocks):
        begin, end = P + b * BLOCK, P + (b + 1) * BLOCK
        for i in range(per_block):
            start = time.perf_counter()
            logits = diffusion_lms.logits_of(model, shift, x)
            masked = [p for p in range(begin, end) if x[p] == mask]
            if shift:  # Dream: entropy within the block; int(n (1 - t[i+1] / t[i])) over the block's own steps
                probs = torch.softmax(logits[masked], -1)
                confidence = (probs * torch.log(probs + 1e-10)).sum(-1)
                k = len(masked) if i == per_block - 1 else int(torch.tensor(float(len(masked))) * (1 - t[i + 1] / t[i]))
                x0 = probs.argmax(-1)
            else:  # LLaDA: float64 softmax at the argmax; S = N, so one a step
                x0 = logits[masked].argmax(-1)
                confidence = torch.softmax(logits[masked].double(), -1).gather(-1, x0[:, None])[:, 0]
                k = 1
            for j in torch.argsort(confidence, descending=True)[:k].tolist():
                x[masked[j]] = int(x0[j])
            times.append(time.perf_counter() - start)
            if probe and len(times) == probe:
                return 1e3 * statistics.median(times)
    return 1e3 * sum(times) / len(times)


def dgen(args, path, spec, extra, prompts):
    """One dgen run: its jsonl rows."""
    cmd = [args.dgen, "--checkpoint", path, "--device", "cpu", "--threads", "2", "--format", "jsonl",
           "--sampler", spec["sampler"], "--steps", str(STEPS), "--length", str(LENGTH), "--block-length",
           str(BLOCK), "--temperature", "0", *spec["flags"], *extra]
    if len(prompts) == 1:
        cmd += ["--prefix", prompts[0]]
    else:
        file = os.path.join(args.work, "prompts.txt")
        with open(file, "w") as f:
            f.write("\n".join(prompts) + "\n")
        cmd += ["--prompts", file]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def timed(args, path, spec, extra, prompts):
    """Median over --runs of (seconds, steps, rows): the run of median seconds."""
    runs = sorted((dgen(args, path, spec, extra, prompts) for _ in range(args.runs)), key=lambda r: r[0]["seconds"])
    rows = runs[len(runs) // 2]
    return rows[0]["seconds"], rows[0]["steps"], rows


def agreement(a, b):
    """Share of equal ids, and the first position that differs (None: none)."""
    same = sum(x == y for x, y in zip(a, b)) / len(a)
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
    return same, first


def shape_figures(args, name):
    spec = SHAPES[name]
    path = folder(args.work, name)
    text = prompt_text(path, PROMPT)
    result = {"shape": name}
    torch.set_num_threads(2)
    model, shift = diffusion_lms.reference_model(path)
    probes = {}
    for attention in ("eager", "sdpa"):  # transformers reads it at each call
        model.config._attn_implementation = attention
        probes[attention] = reference_steps(model, shift, path, text, 1, probe=4)
    best = min(probes, key=probes.get)
    model.config._attn_implementation = best
    result.update(a_attention=best, a_probe_ms=probes,
                  a_ms_per_step=reference_steps(model, shift, path, text, args.reference_blocks))
    del model
    seconds, steps, rows = timed(args, path, spec, [], [text])
    assert len(rows[0]["prompt_ids"]) == PROMPT, len(rows[0]["prompt_ids"])
    result.update(b_ms_per_step=1e3 * seconds / steps, b_tokens_per_s=LENGTH / seconds, b_steps=steps)
    plain = rows[0]["gen_ids"]
    for mode in ("dual", "prefix"):
        seconds, steps, rows = timed(args, path, spec, ["--kv-cache", "--kv-cache-mode", mode, "--threshold", "0.9"],
                                     [text])
        same, first = agreement(rows[0]["gen_ids"], plain)
        result[f"c_{mode}"] = dict(ms_per_step=1e3 * seconds / steps, tokens_per_s=LENGTH / seconds,
                                   tokens_per_step=LENGTH / steps, agreement=same, first_difference=first)
    for batch in args.batches:
        prompts = [prompt_text(path, PROMPT, offset=3 * i) for i in range(batch)]
        seconds, _, rows = timed(args, path, spec, ["--kv-cache", "--threshold", "0.9"], prompts)
        result[f"c_batch_{batch}_tokens_per_s"] = LENGTH * len(rows) / seconds
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dgen", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--shapes", default="llada,dream")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--reference-blocks", type=int, default=2)
    ap.add_argument("--batches", default="1,4,8")
    args = ap.parse_args()
    args.batches = [int(b) for b in args.batches.split(",") if b]
    os.makedirs(args.work, exist_ok=True)
    print(f"# torch {torch.__version__}, 2 threads; dgen {args.dgen}; medians of {args.runs} runs", flush=True)
    for name in args.shapes.split(","):
        print(json.dumps(shape_figures(args, name)), flush=True)


if __name__ == "__main__":
    main()
