#!/usr/bin/env python3
"""Runs minidl_bench_kernels and tools/bench/torch_kernels.py alternately (3 rounds by default) and prints
the median of every row and the minidl / PyTorch ratio, as a Markdown table.

    /usr/bin/python3 tools/bench/compare_kernels.py --bench build/release/tools/minidl_bench_kernels \
        [--device cpu|cuda] [--threads 2] [--rounds 3]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = ["copy", "fill", "scale  (z = a x)", "add    (z = x + y)", "axpy   (y += a x)", "relu_forward",
        "relu_backward", "cast f32 -> bf16", "sum (all elements)"]


def parse(text):
    gemm = {int(n): float(v) for n, v in re.findall(r"^\s+(\d+):\s+([\d.]+) [GT]FLOP/s", text, re.M)}
    rows = {k.strip(): float(v) for k, v in re.findall(r"^  (\S.*?)\s{2,}\s*([\d.]+) GB/s", text, re.M)}
    return gemm, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="path to minidl_bench_kernels")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    ours = [sys.executable, os.path.join(HERE, "torch_kernels.py"), "--device", args.device]
    if args.device == "cpu":
        ours += ["--threads", str(args.threads)]
    mine_cmd = [args.bench, "--cpu-only" if args.device == "cpu" else "--gpu-only"]
    env = dict(os.environ, MINIDL_NUM_THREADS=str(args.threads))
    runs_m, runs_t = [], []
    for _ in range(args.rounds):
        runs_m.append(parse(subprocess.run(mine_cmd, env=env, check=True, capture_output=True, text=True).stdout))
        runs_t.append(parse(subprocess.run(ours, check=True, capture_output=True, text=True).stdout))
    unit = "TFLOP/s" if args.device == "cuda" else "GFLOP/s"
    print(f"| {args.device}, median of {args.rounds} alternating runs | minidl | PyTorch | minidl / PyTorch |")
    print("|---|---|---|---|")
    for n in sorted(runs_m[0][0]):
        m = statistics.median(r[0][n] for r in runs_m)
        t = statistics.median(r[0][n] for r in runs_t)
        print(f"| GEMM {n}x{n}x{n} | {m:.1f} {unit} | {t:.1f} {unit} | {m / t:.2f} |")
    for k in ROWS:
        m = statistics.median(r[1][k] for r in runs_m)
        t = statistics.median(r[1][k] for r in runs_t)
        print(f"| {k.split('  ')[0] if '  ' in k else k} | {m:.1f} GB/s | {t:.1f} GB/s | {m / t:.2f} |")
    ref = "memcpy (1 thread)" if args.device == "cpu" else "device-to-device copy"
    print(f"| {ref} (reference) | {statistics.median(r[1][ref] for r in runs_m):.1f} GB/s | | |")


if __name__ == "__main__":
    main()
