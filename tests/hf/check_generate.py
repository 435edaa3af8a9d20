"""The generation oracle of dgen's --sampler llada and dream: dgen's gen_ids (--format jsonl) against a short loop
written here from the samplers' rules (docs/usage.md, issue 31), over the reference logits of tiny LLaDA and
Dream folders (diffusion_lms.py: transformers' Llama and Qwen2, bidirectional, Dream shifted).

At every step the loop asserts that the argmax is clear (top-1 minus top-2 logit >= 1e-3 at every masked
position) and that the cut between the revealed and the kept positions is clear (confidence gap >= 1e-4
relative, or a threshold's distance from every confidence), so that float rounding cannot decide a token:
a fixture breaking it is a bad fixture. One fixture's mask id wins the argmax somewhere (the rule "the mask id
is included") and the case that uses it asserts that it did; the others never let it win.

Usage: check_generate.py --dgen DGEN --fixtures DIR (holding diffusion_lms.py's FIXTURES)
"""
import argparse
import json
import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import diffusion_lms  # noqa: E402

# The prompt of each fixture, chosen so that every step's argmaxes and cuts are clear (see above).
PROMPTS = {"llada_mha": "the cat sat on the mat", "llada_gqa": "the sun is hot today", "dream": "the old man and the sea",
           "dream_tied": "the old man and the sea"}
LOGIT_GAP, CUT_GAP = 1e-3, 1e-4


class Model:
    """A fixture folder's reference model, its tokenizer's prompt ids and its mask id."""

    def __init__(self, folder, text):
        from transformers import AutoTokenizer
        self.folder, self.text = folder, text
        self.model, self.shift = diffusion_lms.reference_model(folder)
        with open(os.path.join(folder, "config.json")) as f:
            self.mask = json.load(f)["mask_token_id"]
        self.prompt = AutoTokenizer.from_pretrained(folder)(text)["input_ids"]
        self.mask_won = False
        self.mask_placed = False  # a step revealed the mask id itself (it stays masked and competes again)

    def place(self, x, p, token):
        x[p] = int(token)
        self.mask_placed |= x[p] == self.mask

    def logits(self, x):
        return diffusion_lms.logits_of(self.model, self.shift, x)

    def check_argmax(self, logits, positions, where):
        """Clear argmaxes at `positions`; notes whether the mask id won at any of them."""
        for p in positions:
            top = torch.topk(logits[p], 2).values
            gap = (top[0] - top[1]).item()
            assert gap >= LOGIT_GAP, f"{where}: position {p}: top-1/top-2 logit gap {gap:.2e} < {LOGIT_GAP} (bad fixture)"
            self.mask_won |= int(logits[p].argmax()) == self.mask


def check_cut(confidence, order, k, where):
    """The k-th and (k+1)-th confidences of `order` (descending) apart by CUT_GAP relative."""
    if 0 < k < len(order):
        a, b = float(confidence[order[k - 1]]), float(confidence[order[k]])
        gap = abs(a - b) / max(abs(a), abs(b), 1e-30)
        assert gap >= CUT_GAP, f"{where}: confidence gap {gap:.2e} at the cut (k={k}) < {CUT_GAP} (bad fixture)"


def threshold_picks(order, probability, threshold, where):
    """The first of `order` and every later one whose probability reaches the threshold, each clear of it by
    CUT_GAP (relative)."""
    for j in order:
        gap = abs(float(probability[j]) - threshold) / threshold
        assert gap >= CUT_GAP, f"{where}: probability {float(probability[j])} at the threshold (bad fixture)"
    return order[:1] + [j for j in order[1:] if float(probability[j]) >= threshold]


def llada(m, steps, length, block, cfg=0.0, threshold=None, remasking="low_confidence", seed=None):
    """LLaDA's rules: blocks of `block` left to right in steps // (length // block) steps each; a step reveals
    the scheduled count (or all at or above the threshold, at least one) of the masked positions before the
    block's end by confidence (float64 softmax at the argmax) or by a uniform draw."""
    x = list(m.prompt) + [m.mask] * length
    P, L = len(m.prompt), len(x)
    given = [t != m.mask for t in x]
    blocks = length // block
    per_block = steps // blocks
    if seed is not None:
        torch.manual_seed(seed)
    for b in range(blocks):
        end = P + (b + 1) * block
        n = sum(t == m.mask for t in x[P + b * block:end])
        counts = [n // per_block + (1 if i < n % per_block else 0) for i in range(per_block)]
        i = 0
        while (i < per_block) if threshold is None else any(t == m.mask for t in x[P + b * block:end]):
            where = f"llada block {b} step {i}"
            logits = m.logits(x)
            if cfg > 0:
                u = m.logits([m.mask if g else t for t, g in zip(x, given)])
                logits = u + (cfg + 1) * (logits - u)
            x0 = logits.argmax(-1)
            if remasking == "random":
                confidence = torch.rand(L).double()
            else:
                confidence = torch.softmax(logits.double(), -1).gather(-1, x0[:, None])[:, 0]
            candidates = [p for p in range(end) if x[p] == m.mask]
            m.check_argmax(logits, candidates, where)
            order = sorted(candidates, key=lambda p: -float(confidence[p]))
            if threshold is not None:
                picks = threshold_picks(order, confidence, threshold, where)
            else:
                check_cut(confidence, order, counts[i], where)
                picks = order[:counts[i]]
            for p in picks:
                m.place(x, p, x0[p])
            i += 1
    return x[P:]


def top_p_probs(logits, top_p):
    """softmax after keeping the likeliest tokens until their cumulative probability passes top_p."""
    if top_p is not None and top_p < 1:
        values, index = torch.sort(logits, descending=True)
        cumulative = torch.softmax(values, -1).cumsum(-1)
        drop = cumulative > top_p
        drop[..., 1:] = drop[..., :-1].clone()
        drop[..., 0] = False
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(-1, index, drop), torch.finfo(logits.dtype).min)
    return torch.softmax(logits, -1)


def dream(m, steps, length, alg, eps=1e-3, top_p=0.95, seed=None, block=None, threshold=None):
    """Dream's rules at temperature 0: timesteps linspace(1, eps, steps + 1) in float32; at step i the masked
    positions' argmax, and int(n (1 - t[i+1] / t[i])) of them (all at the last step) revealed by confidence, or
    (origin) each by a uniform draw below 1 - t[i+1] / t[i]. With `block`: blocks left to right, each over its own
    steps // blocks timesteps, counting its own masked positions; with `threshold`: the first in confidence order
    and every one whose token's probability reaches it, until the block is full."""
    x = list(m.prompt) + [m.mask] * length
    P = len(m.prompt)
    blocks = length // block if block else 1
    per_block = steps // blocks
    t = torch.linspace(1, eps, per_block + 1)
    if seed is not None:
        torch.manual_seed(seed)
    for b in range(blocks):
        lo, hi = (P + b * block, P + (b + 1) * block) if block else (0, len(x))
        i = 0
        while (i < per_block) if threshold is None else any(x[p] == m.mask for p in range(lo, hi)):
            dream_step(m, x, [p for p in range(lo, hi) if x[p] == m.mask], t, i, per_block, alg, top_p, threshold)
            i += 1
    return x[P:]


def dream_step(m, x, masked, t, i, steps, alg, top_p, threshold):
    """One of dream()'s steps over the candidates `masked`."""
    where = f"dream {alg} step {i}"
    logits = m.logits(x)
    m.check_argmax(logits, masked, where)
    last = i == steps - 1
    share = torch.tensor(1.0) if last else 1 - t[i + 1] / t[i]
    if alg == "origin":
        reveal = torch.rand(len(masked)) < share
        chosen = [p for p, r in zip(masked, reveal.tolist()) if r]
        x0 = top_p_probs(logits[chosen], top_p).argmax(-1) if chosen else []
        for p, token in zip(chosen, list(x0)):
            m.place(x, p, token)
        return
    probs = top_p_probs(logits[masked], top_p)
    x0 = probs.argmax(-1)
    chosen_p = probs.gather(-1, x0[:, None])[:, 0]
    if alg == "maskgit_plus":
        confidence = chosen_p
    elif alg == "topk_margin":
        top = torch.sort(probs, -1, descending=True).values
        confidence = top[:, 0] - top[:, 1]
    else:
        confidence = (probs * torch.log(probs + 1e-10)).sum(-1)
    n = len(masked)
    order = sorted(range(n), key=lambda j: -float(confidence[j]))
    if threshold is not None:
        picks = threshold_picks(order, chosen_p, threshold, where)
    else:
        k = n if last else int(torch.tensor(float(n)) * share)
        check_cut(confidence, order, k, where)
        picks = order[:k]
    for j in picks:
        m.place(x, masked[j], x0[j])


def dgen_ids(dgen, m, flags):
    out = subprocess.run([dgen, "--checkpoint", m.folder, "--device", "cpu", "--prefix", m.text, "--format", "jsonl",
                          *flags], check=True, capture_output=True, text=True).stdout
    row = json.loads(out.strip().splitlines()[-1])
    return row["prompt_ids"], row["gen_ids"]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--dgen", required=True)
    ap.add_argument("--fixtures", required=True)
    args = ap.parse_args(argv)
    models = {}

    def model(name):
        if name not in models:
            models[name] = Model(os.path.join(args.fixtures, name), PROMPTS[name])
        return models[name]

    # (fixture, dgen's flags, the oracle's loop, whether the mask id must have won somewhere)
    cases = [
        ("llada_mha", "--steps 16 --length 32 --block-length 8 --temperature 0",
         lambda m: llada(m, 16, 32, 8), False),
        ("llada_mha", "--steps 16 --length 32 --block-length 8 --temperature 0 --cfg-scale 1",
         lambda m: llada(m, 16, 32, 8, cfg=1.0), False),
        ("llada_mha", "--steps 16 --length 32 --block-length 8 --temperature 0 --threshold 0.9",
         lambda m: llada(m, 16, 32, 8, threshold=0.9), False),
        ("llada_mha", "--steps 16 --length 32 --block-length 8 --temperature 0 --remasking random --rng torch --seed 7",
         lambda m: llada(m, 16, 32, 8, remasking="random", seed=7), False),
        ("llada_gqa", "--steps 12 --length 30 --block-length 10 --temperature 0",
         lambda m: llada(m, 12, 30, 10), True),
    ]
    for alg in ("maskgit_plus", "topk_margin", "entropy"):
        cases.append(("dream", f"--steps 32 --length 32 --temperature 0 --alg {alg}",
                      lambda m, alg=alg: dream(m, 32, 32, alg), False))
    cases += [
        ("dream", "--steps 32 --length 32 --temperature 0 --alg origin --rng torch --seed 7",
         lambda m: dream(m, 32, 32, "origin", seed=7), False),
        ("dream_tied", "--steps 20 --length 32 --temperature 0", lambda m: dream(m, 20, 32, "entropy"), True),
        ("dream", "--steps 32 --length 32 --block-length 16 --temperature 0 --alg topk_margin",
         lambda m: dream(m, 32, 32, "topk_margin", block=16), False),
        ("dream", "--steps 32 --length 32 --block-length 8 --temperature 0 --alg entropy --threshold 0.5",
         lambda m: dream(m, 32, 32, "entropy", block=8, threshold=0.5), False),
    ]
    failed = 0
    for name, flags, loop, mask_wins in cases:
        m = model(name)
        m.mask_won = m.mask_placed = False
        expected = loop(m)
        prompt_ids, got = dgen_ids(args.dgen, m, flags.split())
        same = prompt_ids == m.prompt and got == expected
        if mask_wins and not m.mask_placed:
            print(f"{name} {flags}: no step revealed the mask id (bad fixture for 'mask id included')")
            same = False
        elif not mask_wins and m.mask_won:
            print(f"{name} {flags}: the mask id won the argmax in a fixture meant to never let it")
            same = False
        print(f"{'ok  ' if same else 'FAIL'} {name} {flags}: {sum(a == b for a, b in zip(got, expected))}/{len(expected)}"
              f" ids equal{' (the mask id was revealed)' if m.mask_placed else ''}")
        if not same:
            print(f"     dgen   {got}\n     oracle {expected}")
            failed += 1
    if failed:
        sys.exit(f"check_generate: {failed} of {len(cases)} cases differ")
    print(f"check_generate: all {len(cases)} cases equal")


if __name__ == "__main__":
    main()
