#!/usr/bin/env python3
"""PyTorch's own schedulers, step by step, for tests/reference/test_optim_reference.cpp.

Usage: optim_schedules_reference.py OUTDIR

Writes OUTDIR/schedule_<k>.csv for several OneCycleLR settings (two and three phases, cos and
linear, different div factors and pct_start, momentum cycling) and CyclicLR settings (triangular,
triangular2, exp_range). Line 1 is "# lr: <minidl spec>" and line 2 "# momentum: <minidl spec>"
(the same schedule in minidl's flag grammar); then "step,lr,momentum" rows, the values as Python
repr (shortest round-trip doubles) read from the optimizer's param_group after each step.
"""
import os
import sys
import warnings

import torch
from torch.optim.lr_scheduler import CyclicLR, OneCycleLR

ONECYCLE = [
    # max_lr, total_steps, pct_start, anneal, div, final_div, three_phase, base_mom, max_mom
    (0.8, 9277, 0.3, "cos", 25.0, 1e4, False, 0.85, 0.95),
    (1.0, 1000, 0.25, "linear", 10.0, 100.0, False, 0.8, 0.95),
    (3.0, 2000, 0.45, "cos", 12.0, 1e3, True, 0.85, 0.9),
    (0.1, 777, 0.4, "linear", 25.0, 1e4, True, 0.85, 0.95),
    (0.5, 10, 0.35, "cos", 5.0, 50.0, False, 0.9, 0.99),
]
CYCLIC = [
    # base_lr, max_lr, step_size, mode, gamma, steps
    (0.001, 0.006, 2000, "triangular", 1.0, 10000),
    (0.001, 0.006, 500, "triangular2", 1.0, 4000),
    (0.0, 3.0, 700, "exp_range", 0.9995, 3000),
]


def write(path, lr_spec, momentum_spec, rows):
    with open(path, "w") as f:
        f.write("# lr: %s\n# momentum: %s\nstep,lr,momentum\n" % (lr_spec, momentum_spec))
        for step, lr, mom in rows:
            f.write("%d,%r,%r\n" % (step, lr, mom))


def run(optimizer, scheduler, steps):
    rows = []
    for step in range(steps):
        group = optimizer.param_groups[0]
        rows.append((step, float(group["lr"]), float(group["momentum"])))
        optimizer.step()
        scheduler.step()
    return rows


def main(out):
    warnings.simplefilter("ignore")
    k = 0
    for max_lr, total, pct, anneal, div, final_div, three, base_m, max_m in ONECYCLE:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
        sched = OneCycleLR(opt, max_lr=max_lr, total_steps=total, pct_start=pct,
                           anneal_strategy=anneal, div_factor=div, final_div_factor=final_div,
                           three_phase=three, base_momentum=base_m, max_momentum=max_m)
        common = "total_steps=%d,pct_start=%r,anneal_strategy=%s,three_phase=%s" % (
            total, pct, anneal, "true" if three else "false")
        lr_spec = "onecycle-torch:max_lr=%r,%s,div_factor=%r,final_div_factor=%r" % (
            max_lr, common, div, final_div)
        mom_spec = "onecycle-torch-momentum:base_momentum=%r,max_momentum=%r,%s" % (
            base_m, max_m, common)
        write(os.path.join(out, "schedule_%d.csv" % k), lr_spec, mom_spec, run(opt, sched, total))
        k += 1
    names = {"triangular": "triangular", "triangular2": "triangular2", "exp_range": "exp-range"}
    for base, max_lr, ss, mode, gamma, steps in CYCLIC:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
        sched = CyclicLR(opt, base_lr=base, max_lr=max_lr, step_size_up=ss, mode=mode,
                         gamma=gamma, cycle_momentum=False)
        lr_spec = "%s:base=%r,max=%r,ss=%d" % (names[mode], base, max_lr, ss)
        if mode == "exp_range":
            lr_spec += ",gamma=%r" % gamma
        write(os.path.join(out, "schedule_%d.csv" % k), lr_spec, "fixed:value=0.9",
              run(opt, sched, steps))
        k += 1


if __name__ == "__main__":
    main(sys.argv[1])
