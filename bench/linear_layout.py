#!/usr/bin/env python3
# Why dlm's projections multiply by a kept contiguous W^T at inference (dlm::project in src/model/model.cpp):
# times F.linear(x, W) (ATen passes W transposed to the BLAS) against x @ W^T with W^T contiguous, for
# the layer shapes of the KJV model (d_model 320, MLP 1280) at the row counts generation uses: 1 (an
# AR decode step), 16 and 64 (block passes), 256 and 1024 (whole canvases). The same LibTorch and
# OpenBLAS as the C++ build when run with Debian's python3-torch:
#   OPENBLAS_CORETYPE=COOPERLAKE /usr/bin/python3 bench/linear_layout.py [--threads 2]
# (name the kernel set your CPU runs: Debian's OpenBLAS 0.3.21 falls back to generic ones on newer
# Xeons, which the dlm apps correct by themselves; see dlm/blas.h). Run it alone.
import argparse
import os
import time

import torch
import torch.nn.functional as F


def best_of(f, rounds=5, calls=400):
    """Microseconds per call: the best of `rounds` means of `calls` calls, after a warm-up."""
    best = float("inf")
    for _ in range(rounds):
        for _ in range(30):
            f()
        start = time.perf_counter()
        for _ in range(calls):
            f()
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} threads, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print("| rows | in -> out | F.linear us | x @ Wt us | speed-up |")
    print("|---|---|---|---|---|")
    with torch.no_grad():
        for rows in (1, 16, 64, 256, 1024):
            for fan_in, fan_out in ((320, 960), (320, 320), (320, 1280), (1280, 320)):
                x = torch.randn(rows, fan_in)
                w = torch.randn(fan_out, fan_in)
                wt = w.t().contiguous()
                linear = best_of(lambda: F.linear(x, w))
                kept = best_of(lambda: torch.mm(x, wt))
                print(f"| {rows} | {fan_in} -> {fan_out} | {linear:.0f} | {kept:.0f} | {linear / kept:.2f}x |")


if __name__ == "__main__":
    main()
