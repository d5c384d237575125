#!/usr/bin/env python3
"""PyTorch's figures for the rows of minidl_bench_kernels, for a side-by-side comparison.

    /usr/bin/python3 tools/bench/torch_kernels.py --device cpu --threads 2
    python3 tools/bench/torch_kernels.py --device cuda        # on a GPU machine

Same sizes, same byte counting (bytes read + written once each), f32 GEMM without TF32.
"""
import argparse
import statistics
import time

import torch


def time_cpu(fn, budget=0.4):
    fn()
    runs = []
    start = time.perf_counter()
    while len(runs) < 5 or (time.perf_counter() - start < budget and len(runs) < 200):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def time_gpu(fn, reps=50):
    fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(reps):
        fn()
    b.record()
    b.synchronize()
    return a.elapsed_time(b) / 1000.0 / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    dev = torch.device(args.device)
    gpu = dev.type == "cuda"
    if args.threads:
        torch.set_num_threads(args.threads)
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = False
    timer = time_gpu if gpu else time_cpu
    print(f"PyTorch {torch.__version__} kernel benchmark on {dev}"
          + ("" if gpu else f" ({torch.get_num_threads()} threads)"))

    print("GEMM (f32, C = A B, square)")
    sizes = [256, 512, 1024, 2048] + ([4096, 8192] if gpu else [])
    for n in sizes:
        a = torch.rand(n, n, device=dev) * 2 - 1
        b = torch.rand(n, n, device=dev) * 2 - 1
        c = torch.empty(n, n, device=dev)
        s = timer(lambda: torch.mm(a, b, out=c))
        flops = 2.0 * n ** 3 / s
        if gpu:
            print(f"  {n:5d}: {flops / 1e12:8.2f} TFLOP/s  ({s * 1e3:.3f} ms)")
        else:
            print(f"  {n:5d}: {flops / 1e9:8.1f} GFLOP/s  ({s * 1e3:.2f} ms)")

    n = (1 << 26) if gpu else (1 << 24)
    x = torch.rand(n, device=dev) * 2 - 1
    y = torch.rand(n, device=dev) * 2 - 1
    z = torch.empty(n, device=dev)
    h = torch.empty(n, device=dev, dtype=torch.bfloat16)
    nb = 4.0 * n
    rows = [
        ("copy", 2 * nb, lambda: z.copy_(x)),
        ("fill", nb, lambda: z.fill_(1.0)),
        ("scale  (z = a x)", 2 * nb, lambda: torch.mul(x, 2.0, out=z)),
        ("add    (z = x + y)", 3 * nb, lambda: torch.add(x, y, out=z)),
        ("axpy   (y += a x)", 3 * nb, lambda: y.add_(x, alpha=0.5)),
        ("relu_forward", 2 * nb, lambda: torch.clamp_min(x, 0.0, out=z)),
        ("relu_backward", 3 * nb, lambda: torch.ops.aten.threshold_backward(y, x, 0.0)),
        ("cast f32 -> bf16", 1.5 * nb, lambda: h.copy_(x)),
        ("sum (all elements)", nb, lambda: x.sum()),
    ]
    print(f"Element-wise, {n} f32 elements (GB/s = bytes read + written / time)")
    for name, nbytes, fn in rows:
        s = timer(fn)
        print(f"  {name:<24} {nbytes / s / 1e9:8.1f} GB/s")


if __name__ == "__main__":
    main()
