#!/usr/bin/env python3
"""Before/after: runs the same minidl benchmark program from two builds alternately (A B, then B A, ...)
and prints the median of every row for each build and the ratio after / before, as a Markdown table.
For a change that must not be slower, measured in one sitting on one machine.

    /usr/bin/python3 tools/bench/compare_builds.py --before OLD/tools/minidl_bench_models \
        --after build/cpu/tools/minidl_bench_models --rounds 9 -- --threads 2 --models resnet20

Rows it reads: minidl_bench_models' "<model> <shape> batch <n>: <x> img/s" (higher is better) and
minidl_bench_sgd's "<model> <dtype> values ... <t> ms" (lower is better). Everything after `--` is passed
to both programs.
"""
import argparse
import re
import statistics
import subprocess

MODEL_ROW = re.compile(r"^\s+(\w+)\s+\d+x\d+x\d+\s+batch \d+:\s+([\d.]+) img/s", re.M)
SGD_ROW = re.compile(r"^\s+(resnet\d+ \w+)\s+values\s+\d+\s+\d+\s+([\d.]+) ms", re.M)


def rows(output):
    """{row name: (value, unit)} of one run."""
    found = {m.group(1): (float(m.group(2)), "img/s") for m in MODEL_ROW.finditer(output)}
    found.update({m.group(1): (float(m.group(2)), "ms") for m in SGD_ROW.finditer(output)})
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    extra = a.args[1:] if a.args[:1] == ["--"] else a.args
    values, units = {}, {}
    for r in range(a.rounds):
        order = [("before", a.before), ("after", a.after)]
        for name, program in order if r % 2 == 0 else reversed(order):
            out = subprocess.run([program] + extra, capture_output=True, text=True, check=True).stdout
            for row, (v, unit) in rows(out).items():
                values.setdefault((row, name), []).append(v)
                units[row] = unit
    print(f"| median of {a.rounds} alternating runs | before | after | after / before |")
    print("|---|---|---|---|")
    for row, unit in units.items():
        b, f = values[(row, "before")], values[(row, "after")]
        better = "higher is better" if unit == "img/s" else "lower is better"
        print(f"| {row} ({unit}, {better}) | {statistics.median(b):.4g} [{min(b):.4g}-{max(b):.4g}] "
              f"| {statistics.median(f):.4g} [{min(f):.4g}-{max(f):.4g}] "
              f"| {statistics.median(f) / statistics.median(b):.3f} |")


if __name__ == "__main__":
    main()
