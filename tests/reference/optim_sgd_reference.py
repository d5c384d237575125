#!/usr/bin/env python3
"""torch.optim.SGD (dampening 0) over 5 steps with a changing LR and momentum, for
tests/reference/test_optim_reference.cpp.

Usage: optim_sgd_reference.py OUTDIR

Writes OUTDIR/sgd_<k>.txt, one per setting (Nesterov on/off x weight decay 0 / 0.01). Lines:
  config <nesterov 0|1> <weight_decay>
  lr <5 values>            momentum <5 values>
  init <tensor> <values>   (the f32 starting weights)
  grad <step> <tensor> <values>     result <step> <tensor> <values>  (weights after the step)
Values are f32 numbers written as Python repr of the double they equal (exact round trip).
"""
import os
import sys

import torch

SHAPES = [(7, 5), (13,), (300,)]
LRS = [0.1, 0.05, 0.3, 0.01, 0.2]
MOMENTA = [0.9, 0.95, 0.85, 0.9, 0.8]
SETTINGS = [(False, 0.0), (False, 0.01), (True, 0.0), (True, 0.01)]


def values(t):
    return " ".join(repr(float(v)) for v in t.detach().reshape(-1).tolist())


def main(out):
    for k, (nesterov, wd) in enumerate(SETTINGS):
        gen = torch.Generator().manual_seed(1234 + k)
        params = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in SHAPES]
        opt = torch.optim.SGD(params, lr=LRS[0], momentum=MOMENTA[0], dampening=0,
                              weight_decay=wd, nesterov=nesterov)
        lines = ["config %d %r" % (int(nesterov), wd),
                 "lr " + " ".join(repr(v) for v in LRS),
                 "momentum " + " ".join(repr(v) for v in MOMENTA)]
        for i, p in enumerate(params):
            lines.append("init %d %s" % (i, values(p)))
        for step in range(len(LRS)):
            for group in opt.param_groups:
                group["lr"] = LRS[step]
                group["momentum"] = MOMENTA[step]
            for i, p in enumerate(params):
                p.grad = torch.randn(p.shape, generator=gen)
                lines.append("grad %d %d %s" % (step, i, values(p.grad)))
            opt.step()
            for i, p in enumerate(params):
                lines.append("result %d %d %s" % (step, i, values(p)))
        with open(os.path.join(out, "sgd_%d.txt" % k), "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
