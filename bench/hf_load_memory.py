"""Peak memory of dgen loading a bf16 LLaDA folder and running one pass over it, against the folder's bytes:
how much beyond the weights a memory-mapped bf16 load costs (docs/huggingface.md). Writes a random LLaDA
folder of the given shape with tests/hf/diffusion_lms.py (the tokenizer is the oracle's tiny one, so the
weights are nearly all in the layers, as in the 8B models), stores it in bf16, then runs
`dgen --dump-logits` on it under /usr/bin/time -v, and the same on a 2-layer folder of width 16 (LibTorch's
own footprint). Prints the folder's bytes, both peaks and the peak less the baseline over the folder's bytes.
Usage: python bench/hf_load_memory.py DGEN WORK_DIR [--d-model 1024 --layers 16 --mlp 2816]"""
import argparse
import os
import re
import subprocess
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "hf"))
import diffusion_lms  # noqa: E402


def bf16_folder(out_dir, work, **shape):
    diffusion_lms.write_llada(out_dir, work, **shape)
    path = os.path.join(out_dir, "model.safetensors")
    tensors = {k: v.to(torch.bfloat16) for k, v in load_file(path).items()}
    save_file(tensors, path, metadata={"format": "pt"})
    return os.path.getsize(path)


def peak_rss_mb(dgen, folder, work):
    cmd = ["/usr/bin/time", "-v", dgen, "--checkpoint", folder, "--device", "cpu", "--prefix", "the cat sat",
           "--dump-logits", os.path.join(work, "l.npy")]
    run = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="2"))
    if run.returncode != 0:
        sys.exit("dgen failed: " + run.stderr[-2000:])
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1)) / 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dgen")
    p.add_argument("work")
    p.add_argument("--d-model", type=int, default=1024)
    p.add_argument("--layers", type=int, default=16)
    p.add_argument("--mlp", type=int, default=2816)
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    big, small = os.path.join(a.work, "big"), os.path.join(a.work, "small")
    size = bf16_folder(big, a.work, d_model=a.d_model, n_heads=a.d_model // 64, n_kv_heads=a.d_model // 64,
                       n_layers=a.layers, mlp_hidden_size=a.mlp)
    bf16_folder(small, a.work)
    base, peak = peak_rss_mb(a.dgen, small, a.work), peak_rss_mb(a.dgen, big, a.work)
    print(f"folder: LLaDA {a.layers} layers x {a.d_model}, MLP {a.mlp}, bf16, {size / 2**20:.0f} MiB")
    print(f"peak RSS of dgen --dump-logits (/usr/bin/time -v): {peak:.0f} MiB; on a width-16 folder {base:.0f} MiB")
    print(f"(peak - baseline) / folder bytes = {(peak - base) / (size / 2**20):.2f}")


if __name__ == "__main__":
    main()
