#!/usr/bin/env python3
"""Plots an LR range test written by `minidl_train range-test`: loss (and test accuracy, for Smith's linear
sweep) against the learning rate, with the suggested max and min LR marked.

    /usr/bin/python3 tools/plot_range_test.py runs/range-test        # writes runs/range-test/range_test.png

Input: DIR/range_test.csv (columns repeat, seed, lr, iteration, train_loss, smoothed_loss, test_loss, test_acc,
smoothed_test_loss; empty cells where not measured) and DIR/range_test.json ({"mode", "suggested_max_lr",
"suggested_min_lr", "flat_from", "edge", "edge_fraction", "margin", "rule", "spread", "curve"}). With several repeats, each is drawn
thin and the mean curve the rule read thick.
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


def finite(values):
    return [v for v in values if v == v and abs(v) != float("inf")]


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
    repeats = sorted({r.get("repeat", "0") for r in rows}, key=int)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    ax2 = None
    shown = []
    for k, rep in enumerate(repeats):
        mine = [r for r in rows if r.get("repeat", "0") == rep]
        first = k == 0
        for name, style, color, label, alpha in (
                ("train_loss", "-", "tab:gray", "train loss", 0.3),
                ("smoothed_loss", "-", "tab:orange", "smoothed train loss", 0.8),
                ("test_loss", "o", "tab:blue", "test loss", 0.5),
                ("smoothed_test_loss", "-", "tab:blue", "smoothed test loss", 0.9)):
            pts = column(mine, name)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, ms=3, lw=1, color=color,
                        alpha=alpha, label=label if first else None)
                shown += finite([p[1] for p in pts])
        acc = column(mine, "test_acc")
        if acc:
            ax2 = ax2 or ax.twinx()
            ax2.plot([p[0] for p in acc], [100 * p[1] for p in acc], "s-", ms=2, lw=0.8, color="tab:green",
                     alpha=0.6, label="test accuracy" if first else None)
    curve = info.get("curve") or {}
    if len(repeats) > 1 and curve.get("lr"):
        pts = [(x, y) for x, y in zip(curve["lr"], curve["smoothed_test_loss"]) if y is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", lw=2.5, color="navy",
                label=f"mean of {len(repeats)} repeats (the rule reads this)")
    if shown:
        # A diverging end would flatten everything else: cap the axis near the 90th percentile.
        shown.sort()
        ax.set_ylim(0, 1.5 * shown[int(0.9 * (len(shown) - 1))])
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    if exponential:
        ax.set_xscale("log")
    if ax2:
        ax2.set_ylabel("test accuracy (%)", color="tab:green")
    for key, color in (("suggested_max_lr", "tab:red"), ("suggested_min_lr", "tab:purple")):
        if info.get(key):
            ax.axvline(info[key], color=color, ls="--", lw=1.2, label=f"{key.split('_')[1]} LR {info[key]:.3g}")
    edge = info.get("edge") or info.get("suggested_max_lr")  # files from before the edge fraction: max = edge
    if info.get("flat_from") and edge:
        ax.axvspan(info["flat_from"], edge, color="tab:red", alpha=0.08,
                   label=f"scanned: from within {100 * info.get('margin', 0):.0f}% of the minimum to the first rise")
    if info.get("edge") and info.get("edge") != info.get("suggested_max_lr"):
        ax.axvline(info["edge"], color="tab:red", ls=":", lw=1.2, label=f"edge {info['edge']:.3g} (the first rise)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    title = f"LR range test ({'exponential, fastai' if exponential else 'linear, Smith'})"
    spread = info.get("spread") or {}
    if spread.get("n", 0) > 1:
        title += f": {spread['n']} repeats, max LR each {spread['min']:.3g}..{spread['max']:.3g}"
    if info.get("rule"):
        title += f"\n{info['rule']}"
    ax.set_title(title, fontsize=9, wrap=True)
    fig.tight_layout()
    out = args.out or os.path.join(args.dir, "range_test.png")
    fig.savefig(out, dpi=110)
    print(f"plot_range_test: wrote {out}")


if __name__ == "__main__":
    main()
