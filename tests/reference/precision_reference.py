#!/usr/bin/env python3
"""Writes PyTorch's rounding of float32 values to bfloat16 and float16 (tests/reference/
test_precision_reference.cpp).

    /usr/bin/python3 tests/reference/precision_reference.py OUTDIR

x.npy: float32 values chosen to hit every case of the conversions: zeros of both signs, infinities,
NaN, the largest and smallest normals and subnormals of each format, values on either side of f16's
overflow threshold (65504 stays, 65520 becomes infinity), exact ties (which go to the even
neighbour) and their neighbours one float32 ulp away, and random bit patterns over the whole float32
range. bf16.npy and f16.npy: x.to(torch.bfloat16 / torch.float16).to(torch.float32), PyTorch 1.13 on
the CPU.

conv_*.npy and linear_*.npy: a convolution (3 -> 5 channels, 3x3, padding 1, with bias) and a linear
layer (20 -> 7) under torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's bf16 mixed precision:
inputs (x, w, b, dy, float32), the output y and the gradients dx, dw, db, each as float32. One
exception: Debian's PyTorch 1.13 (BLAS_INFO=generic) runs the linear layer's backward matrix products
in bf16 with bf16 partial sums (only 50 of its 120 dx values equal an f32-accumulated product of the
same bf16 operands; some are 31 bf16 units apart), not with the f32 accumulation that GPUs and
oneDNN use and minidl emulates. For those two, linear_dx and linear_dw are the float64 product of the
bf16-rounded operands, rounded to bf16 once: what f32 accumulation gives but for sums that land
near a rounding boundary. The convolution's four figures are made the same way (float64 autograd of
F.conv2d over the bf16-rounded x, w, b and dy, each result rounded to bf16 once): its autocast
kernel depends on the CPU. With AVX-512, oneDNN's bf16 convolution accumulates in f32 and matched
minidl to one bf16 unit; on an AVX2-only CPU (AMD EPYC family 25, 2026-12-02) PyTorch 1.13 takes
another path whose y equals the f32-accumulated result in 28% of the values, 0.09 apart at worst.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def main(out):
    special = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1.0, -1.0, 65504.0, 65519.996,
               65520.0, -65520.0, 3.0e38, -3.4e38, 6.1035156e-05, 5.9604645e-08, 2.9802322e-08,
               2.9802326e-08, 1.1754944e-38, 1.0e-45]
    bits = []
    for mantissa in range(0, 1 << 17, 997):  # ties and neighbours of bf16 (16 dropped bits) ...
        base = 0x3F800000 | (mantissa & 0x7F0000)
        bits += [base | 0x8000, base | 0x8001, base | 0x7FFF, base | 0x18000]
    for e in (0x38000000, 0x3F800000, 0x47000000, 0x33800000, 0x34000000):  # ... and of f16 (13)
        for m in range(0, 1 << 23, 1 << 16):
            base = e | m
            bits += [base | 0x1000, base | 0x1001, base | 0x0FFF, base | 0x3000]
    rng = np.random.default_rng(2026)
    bits += list(rng.integers(0, 1 << 32, size=20000, dtype=np.uint64))
    x = np.concatenate([np.array(special, dtype=np.float32),
                        np.array(bits, dtype=np.uint64).astype(np.uint32).view(np.float32)])
    t = torch.from_numpy(x)
    np.save(os.path.join(out, "x.npy"), x)
    np.save(os.path.join(out, "bf16.npy"), t.to(torch.bfloat16).to(torch.float32).numpy())
    np.save(os.path.join(out, "f16.npy"), t.to(torch.float16).to(torch.float32).numpy())

    torch.manual_seed(2026)
    layers = {"conv": ((4, 3, 9, 9), (5, 3, 3, 3), lambda x, w, b: F.conv2d(x, w, b, padding=1)),
              "linear": ((6, 20), (7, 20), F.linear)}
    for name, (xs, ws, op) in layers.items():
        x = torch.randn(xs, requires_grad=True)
        w = (torch.randn(ws) * 0.3).requires_grad_()
        b = torch.randn(ws[0], requires_grad=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = op(x, w, b)
        assert y.dtype == torch.bfloat16
        dy = torch.randn(y.shape)
        y.backward(dy.to(torch.bfloat16))
        dx, dw, db = x.grad, w.grad, b.grad
        bf = lambda t: t.detach().to(torch.bfloat16).double()
        if name == "linear":
            dx = (bf(dy) @ bf(w)).to(torch.bfloat16)
            dw = (bf(dy).t() @ bf(x)).to(torch.bfloat16)
        else:  # every figure from float64 autograd over the bf16-rounded operands
            x64, w64, b64 = (bf(t).requires_grad_() for t in (x, w, b))
            y = op(x64, w64, b64)
            y.backward(bf(dy))
            y, dx, dw, db = (t.to(torch.bfloat16) for t in (y, x64.grad, w64.grad, b64.grad))
        for key, v in {"x": x, "w": w, "b": b, "dy": dy, "y": y, "dx": dx, "dw": dw,
                       "db": db}.items():
            np.save(os.path.join(out, f"{name}_{key}.npy"), v.detach().float().numpy())


if __name__ == "__main__":
    main(sys.argv[1])
