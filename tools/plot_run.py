#!/usr/bin/env python3
"""Plots a minidl_train run directory: loss and accuracy (train and test) against the iteration, with the
learning rate and momentum below, as Smith's paper reads them (test loss first).

    /usr/bin/python3 tools/plot_run.py runs/fashion-1cycle            # writes runs/fashion-1cycle/curves.png
    /usr/bin/python3 tools/plot_run.py runs/a runs/b --out compare.png  # several runs on one figure

Input: RUN/metrics.csv with columns iteration, epoch, lr, momentum, train_loss, train_acc, test_loss,
test_acc, test_top5, img_per_s, elapsed_s (empty cells where a value was not measured at that row).
"""
import argparse
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics(run):
    path = os.path.join(run, "metrics.csv")
    if not os.path.exists(path):
        sys.exit(f"plot_run: {path}: no such file (is {run} a minidl_train run directory?)")
    cols = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for k, v in row.items():
                cols.setdefault(k, []).append(float(v) if v not in ("", None) else None)
    if "iteration" not in cols:
        sys.exit(f"plot_run: {path}: no 'iteration' column")
    return cols


def series(cols, name):
    xs, ys = [], []
    for x, y in zip(cols["iteration"], cols.get(name, [])):
        if y is not None:
            xs.append(x)
            ys.append(y)
    return xs, ys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", help="PNG to write (default: RUN/curves.png of the first run)")
    args = ap.parse_args()
    fig, axes = plt.subplots(3, 1, figsize=(9, 10), sharex=True, gridspec_kw={"height_ratios": [3, 3, 2]})
    ax_loss, ax_acc, ax_lr = axes
    for run in args.runs:
        cols = read_metrics(run)
        name = os.path.basename(os.path.normpath(run))
        for metric, style in (("train_loss", "-"), ("test_loss", "o-")):
            xs, ys = series(cols, metric)
            if xs:
                ax_loss.plot(xs, ys, style, ms=3, lw=1, label=f"{name} {metric.split('_')[0]}")
        for metric, style in (("train_acc", "-"), ("test_acc", "o-")):
            xs, ys = series(cols, metric)
            if xs:
                ax_acc.plot(xs, [100 * y for y in ys], style, ms=3, lw=1, label=f"{name} {metric.split('_')[0]}")
        xs, ys = series(cols, "lr")
        ax_lr.plot(xs, ys, lw=1.2, label=f"{name} lr")
        xs, ms = series(cols, "momentum")
        if xs:
            ax_m = ax_lr.twinx() if not hasattr(ax_lr, "_minidl_m") else ax_lr._minidl_m
            ax_lr._minidl_m = ax_m
            ax_m.plot(xs, ms, "--", lw=1, color="tab:red", label=f"{name} momentum")
            ax_m.set_ylabel("momentum", color="tab:red")
    ax_loss.set_ylabel("loss")
    ax_loss.legend(fontsize=8)
    ax_loss.grid(alpha=0.3)
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.legend(fontsize=8)
    ax_acc.grid(alpha=0.3)
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("iteration")
    ax_lr.grid(alpha=0.3)
    fig.suptitle(", ".join(os.path.basename(os.path.normpath(r)) for r in args.runs))
    fig.tight_layout()
    out = args.out or os.path.join(args.runs[0], "curves.png")
    fig.savefig(out, dpi=110)
    print(f"plot_run: wrote {out}")


if __name__ == "__main__":
    main()
