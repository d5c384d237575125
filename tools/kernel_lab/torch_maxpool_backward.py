#!/usr/bin/env python3
"""PyTorch's CPU max-pool backward on the shapes of minidl_lab_maxpool_backward, for ratios.

    /usr/bin/python3 tools/kernel_lab/torch_maxpool_backward.py --threads 2 --runs 15

Times aten's max_pool2d_with_indices_backward alone (the kernel behind MaxPool2d's backward: dx
from dy and the forward's indices), f32, median of --runs calls after one warm-up, the same byte
count as the lab (dy and indices read once, dx written once; PyTorch's indices are int64, so it
moves more bytes than minidl for the same work: GB/s uses minidl's count, to compare times).
Run it right after the lab program, on the same threads, so both see the same machine load.
"""
import argparse
import statistics
import time

import torch

# name, N, C, H, W, kernel, stride, pad: as kTimed in tools/kernel_lab/maxpool_backward.cpp
SHAPES = [("lenet pool1", 128, 20, 24, 24, 2, 2, 0),
          ("lenet pool2", 128, 50, 8, 8, 2, 2, 0),
          ("resnet stem pool", 8, 64, 112, 112, 3, 2, 1)]


def median_ms(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0, help="0: PyTorch's default")
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"PyTorch {torch.__version__} max-pool backward, f32, {torch.get_num_threads()} threads, "
          f"median of {args.runs} runs")
    backward = torch.ops.aten.max_pool2d_with_indices_backward
    gen = torch.Generator().manual_seed(1)
    for name, n, c, h, w, k, s, p in SHAPES:
        for layout, fmt in (("nchw", torch.contiguous_format), ("nhwc", torch.channels_last)):
            x = (torch.rand(n, c, h, w, generator=gen) * 2 - 1).contiguous(memory_format=fmt)
            y, idx = torch.nn.functional.max_pool2d(x, k, s, p, return_indices=True)
            dy = (torch.rand(y.shape, generator=gen) * 2 - 1).contiguous(memory_format=fmt)
            ms = median_ms(lambda: backward(dy, x, [k, k], [s, s], [p, p], [1, 1], False, idx),
                           args.runs)
            nbytes = 4 * (2 * dy.numel() + x.numel())  # dy (f32) + indices (as i32) + dx (f32)
            print(f"{name:17s} {n}x{c}x{h}x{w} k{k}/s{s}/p{p}  {layout}  torch {ms:9.3f} ms "
                  f"{nbytes / ms / 1e6:8.2f} GB/s")


if __name__ == "__main__":
    main()
