#!/usr/bin/env python3
"""From `minidl_train sweep` directories to a paper table: per row of the grid, minidl's final test accuracy
(mean ± sample std over the repeats that finished, n of all), its best, the mean wall time, and the paper's
number beside it (tools/paper/paper_values.json); optionally a plot of test accuracy against epochs, one curve
per row (the mean over its repeats), as the paper's figures compare 1cycle with the step baselines.

    /usr/bin/python3 tools/paper/report.py sweeps/t1_r56 --paper table1_resnet56 --plot t1_r56.png
    /usr/bin/python3 tools/paper/report.py sweeps/table2_fashion --paper table2_mnist_lenet   # MNIST's, for reference

Input: DIR/results.csv (columns id, row, the axes, repeat, seed, status, exit_code, iterations, final_test_acc,
best_test_acc, final_test_loss, best_test_loss, wall_s) and each run's DIR/runs/<id>/metrics.csv. Several
directories are read as one table (a grid run in several places, e.g. one sweep per machine).
"""
import argparse
import csv
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def fail(msg):
    sys.exit(f"report: {msg}")


def read_results(sweep):
    path = os.path.join(sweep, "results.csv")
    if not os.path.exists(path):
        fail(f"{path}: no such file (is {sweep} a minidl_train sweep directory? `minidl_train sweep gather "
             f"{sweep}` writes it from the runs)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["_dir"] = sweep
    return rows


def mean_std(values):
    """Mean and sample standard deviation (n - 1; None below two values)."""
    if not values:
        return None, None
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, None
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def cell(values, scale=100.0, decimals=2):
    m, s = mean_std(values)
    if m is None:
        return "–"
    if s is None:
        return f"{scale * m:.{decimals}f}"
    return f"{scale * m:.{decimals}f} ± {scale * s:.{decimals}f}"


def config_name(r, axes):
    parts = [r["row"]] if r.get("row") else []
    parts += [f"{a}={r[a]}" for a in axes]
    return ", ".join(parts) or "(base)"


def test_curve(run_dir):
    """(epochs, test accuracies) of one run's evaluations."""
    path = os.path.join(run_dir, "metrics.csv")
    xs, ys = [], []
    if not os.path.exists(path):
        return xs, ys
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("test_acc"):
                xs.append(float(row["epoch"]))
                ys.append(float(row["test_acc"]))
    return xs, ys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweeps", nargs="+", help="sweep directories (minidl_train sweep --out DIR)")
    ap.add_argument("--paper", help="the grid's key in paper_values.json (e.g. table2_mnist_lenet)")
    ap.add_argument("--paper-values", default=os.path.join(HERE, "paper_values.json"))
    ap.add_argument("--plot", help="write test accuracy against epochs to this PNG")
    ap.add_argument("--title", default="")
    a = ap.parse_args()

    results = [r for s in a.sweeps for r in read_results(s)]
    if not results:
        fail("no runs in " + ", ".join(a.sweeps))
    fixed = {"id", "row", "repeat", "seed", "status", "exit_code", "iterations", "final_test_acc",
             "best_test_acc", "final_test_loss", "best_test_loss", "wall_s", "_dir"}
    axes = [k for k in results[0] if k not in fixed]
    paper = {}
    if a.paper:
        with open(a.paper_values) as f:
            values = json.load(f)
        if a.paper not in values:
            fail(f"--paper {a.paper}: not in {a.paper_values} (known: "
                 + ", ".join(k for k in values if not k.startswith("_")) + ")")
        paper = values[a.paper]

    groups = {}  # configuration -> its runs, in the grid's order
    for r in results:
        groups.setdefault(config_name(r, axes), []).append(r)

    head = f"| configuration | minidl final test acc % | best % | n | time per run | paper{' (' + a.paper + ')' if a.paper else ''} % |"
    print(head)
    print("|---|---|---|---|---|---|")
    for name, runs in groups.items():
        done = [r for r in runs if r["status"] == "done" and r["final_test_acc"]]
        final = [float(r["final_test_acc"]) for r in done]
        best = [float(r["best_test_acc"]) for r in done if r["best_test_acc"]]
        wall, _ = mean_std([float(r["wall_s"]) for r in done if r["wall_s"]])
        failed = sum(1 for r in runs if r["status"] == "failed")
        n = f"{len(done)} of {len(runs)}" + (f" ({failed} failed)" if failed else "")
        time = f"{wall / 60:.1f} min" if wall else "–"
        print(f"| {name} | {cell(final)} | {cell(best)} | {n} | {time} | {paper.get(runs[0].get('row', ''), '')} |")

    if a.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 5))
        for name, runs in groups.items():
            curves = [test_curve(os.path.join(r["_dir"], "runs", r["id"])) for r in runs
                      if r["status"] == "done"]
            curves = [c for c in curves if c[0]]
            if not curves:
                continue
            length = min(len(c[0]) for c in curves)  # the evaluations every repeat reached
            xs = curves[0][0][:length]
            ys = [100.0 * sum(c[1][i] for c in curves) / len(curves) for i in range(length)]
            ax.plot(xs, ys, label=f"{name} (n={len(curves)})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy % (mean over repeats)")
        ax.set_title(a.title or ", ".join(os.path.basename(os.path.normpath(s)) for s in a.sweeps))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        lo = [line.get_ydata() for line in ax.get_lines()]
        if lo:  # the end of training matters: start the axis where the slowest curve is half way up
            top = max(max(y) for y in lo)
            ax.set_ylim(max(0, min(y[len(y) // 2] for y in lo) - 2), min(100, top + 0.5))
        fig.tight_layout()
        fig.savefig(a.plot, dpi=110)
        print(f"\nplot: {a.plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
