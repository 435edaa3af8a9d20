#!/usr/bin/env python3
# Time of one Gloo all-reduce (sum) on loopback between 2 processes, for the gradient sizes of the
# data-parallel presets: what bench/data_parallel.sh's step times spend communicating. Uses Debian's
# python3-torch 1.13, the same Gloo that Debian's LibTorch links.
#   /usr/bin/python3 bench/allreduce_gloo.py [MB ...]      (default 3.2 and 42.6)
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def worker(rank, sizes, port):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    for mb in sizes:
        t = torch.ones(int(mb * 1e6 / 4))
        for _ in range(3):
            dist.all_reduce(t)
        dist.barrier()
        start = time.perf_counter()
        n = 10
        for _ in range(n):
            dist.all_reduce(t)
        ms = (time.perf_counter() - start) / n * 1000
        if rank == 0:
            print(f"{mb:.1f} MB: {ms:.1f} ms per all-reduce, {mb / ms:.2f} GB/s of gradient", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    sizes = [float(x) for x in sys.argv[1:]] or [3.2, 42.6]
    mp.spawn(worker, args=(sizes, 29000 + os.getpid() % 1000), nprocs=2)
