#!/usr/bin/env python3
"""Plots an LR range test written by `minidl_train range-test`: loss (and test accuracy, for Smith's linear
sweep) against the learning rate, with the suggested max and min LR marked.

    /usr/bin/python3 tools/plot_range_test.py runs/range-test        # writes runs/range-test/range_test.png

Input: DIR/range_test.csv (columns lr, iteration, train_loss, smoothed_loss, test_loss, test_acc; empty
cells where not measured) and DIR/range_test.json ({"mode", "suggested_max_lr", "suggested_min_lr", "rule"}).
"""
import argparse
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def column(rows, name):
    return [(float(r["lr"]), float(r[name])) for r in rows if r.get(name) not in ("", None)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--out")
    args = ap.parse_args()
    csv_path = os.path.join(args.dir, "range_test.csv")
    if not os.path.exists(csv_path):
        sys.exit(f"plot_range_test: {csv_path}: no such file")
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    info = {}
    json_path = os.path.join(args.dir, "range_test.json")
    if os.path.exists(json_path):
        with open(json_path) as f:
            info = json.load(f)
    exponential = info.get("mode") == "exp"
    fig, ax = plt.subplots(figsize=(9, 5.5))
    shown = []
    for name, style, color, label in (("train_loss", "-", "tab:gray", "train loss"),
                                      ("smoothed_loss", "-", "tab:orange", "smoothed train loss"),
                                      ("test_loss", "o-", "tab:blue", "test loss")):
        pts = column(rows, name)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, ms=3, lw=1, color=color,
                    alpha=0.4 if name == "train_loss" else 1.0, label=label)
            shown += [p[1] for p in pts if p[1] == p[1] and abs(p[1]) != float("inf")]
    if shown:
        # A diverging end would flatten everything else: cap the axis near the 90th percentile.
        shown.sort()
        ax.set_ylim(0, 1.5 * shown[int(0.9 * (len(shown) - 1))])
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    if exponential:
        ax.set_xscale("log")
    acc = column(rows, "test_acc")
    if acc:
        ax2 = ax.twinx()
        ax2.plot([p[0] for p in acc], [100 * p[1] for p in acc], "s-", ms=3, lw=1, color="tab:green",
                 label="test accuracy")
        ax2.set_ylabel("test accuracy (%)", color="tab:green")
    for key, color in (("suggested_max_lr", "tab:red"), ("suggested_min_lr", "tab:purple")):
        if info.get(key):
            ax.axvline(info[key], color=color, ls="--", lw=1.2, label=f"{key.split('_')[1]} LR {info[key]:.3g}")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    title = f"LR range test ({'exponential, fastai' if exponential else 'linear, Smith'})"
    if info.get("rule"):
        title += f"\n{info['rule']}"
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    out = args.out or os.path.join(args.dir, "range_test.png")
    fig.savefig(out, dpi=110)
    print(f"plot_range_test: wrote {out}")


if __name__ == "__main__":
    main()
