#!/usr/bin/env python3
"""Runs minidl_bench_models and tools/bench/torch_models.py alternately (3 rounds by default) and prints
the median img/s of every network (each round's figure is itself a median of --runs timed iterations;
the range over the rounds in brackets) and the minidl / PyTorch ratio of the medians, as a Markdown table.

    /usr/bin/python3 tools/bench/compare_models.py --bench build/release/tools/minidl_bench_models \
        [--device cpu|cuda] [--threads 2] [--rounds 3] [--models lenet,resnet20,resnet56] [--batch 128] \
        [--profile] [--wait-idle 600] [--memory-format contiguous|channels_last]

Models: lenet, resnet20, resnet56, resnet50 (3x224x224, 1000 classes), wrn28_10 (torch_models.py's NETS).

Both programs run with the same thread count (MINIDL_NUM_THREADS, OPENBLAS_NUM_THREADS and
torch.set_num_threads). --profile runs each once more with its per-layer breakdown and prints a second
table: forward + backward milliseconds per layer type, and per distinct layer, side by side.

On a shared machine, --wait-idle waits before each program for a quiet moment, and the script prints how
many cores other processes kept busy while the programs ran (from /proc/stat and the children's own CPU
time): PyTorch's OpenMP threads lose far more than minidl's pool when a core is taken.
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROW = re.compile(r"^  (\S+)\s+(\d+x\d+x\d+)\s+batch (\d+):\s+([\d.]+) img/s", re.M)
LAYER = re.compile(r"^  layer (.+?)\s+x(\d+)\s+fwd\s+(-?[\d.]+) ms\s+bwd\s+(-?[\d.]+) ms", re.M)
PROFILE = re.compile(r"^profile (\S+)", re.M)
TOTAL = re.compile(r"total of the parts ([\d.]+) ms; whole iteration ([\d.]+) ms; rest (-?[\d.]+) ms")


def cpu_jiffies():
    """(busy, total) CPU time of the whole machine from /proc/stat, in clock ticks (None off Linux)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except OSError:
        return None
    return sum(v) - v[3] - v[4], sum(v)  # idle and iowait are not busy


def wait_idle(limit_s):
    """Waits (at most limit_s) until the machine's CPUs are < 10% busy over a 3-second window."""
    deadline = time.time() + limit_s
    while time.time() < deadline:
        a = cpu_jiffies()
        time.sleep(3)
        b = cpu_jiffies()
        if a is None or (b[0] - a[0]) < 0.1 * (b[1] - a[1]):
            return


def run(cmd, env, others):
    """Runs cmd and returns its stdout; appends to `others` the mean number of cores that other
    processes kept busy meanwhile (machine busy time minus the child's own CPU time, over wall time)."""
    j0, r0, t0 = cpu_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    j1, r1, t1 = cpu_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    if p.returncode != 0:
        sys.exit(f"compare_models.py: {' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    if j0 is not None:
        own = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
        busy = (j1[0] - j0[0]) / os.sysconf("SC_CLK_TCK")
        others.append(max(0.0, busy - own) / (t1 - t0))
    return p.stdout


def rates(text):
    return {name: (shape, int(batch), float(v)) for name, shape, batch, v in ROW.findall(text)}


def cell(values):
    """The median, and the range over the rounds in brackets when there are several."""
    med = f"{statistics.median(values):.1f}"
    return med if len(values) < 2 else f"{med} [{min(values):.0f}-{max(values):.0f}]"


def profiles(text):
    """{network: {layer key: (count, fwd ms, bwd ms)}} from --profile output."""
    out = {}
    parts = PROFILE.split(text)
    for name, body in zip(parts[1::2], parts[2::2]):
        out[name] = {k.strip(): (int(c), float(f), float(b)) for k, c, f, b in LAYER.findall(body)}
        total = TOTAL.search(body)
        if total:
            out[name]["total"] = tuple(float(v) for v in total.groups())
    return out


def print_profiles(mine, theirs):
    for net in mine:
        m, t = mine[net], theirs.get(net, {})
        print(f"\n| {net}: ms per iteration | count | minidl fwd | minidl bwd | PyTorch fwd | "
              f"PyTorch bwd | minidl / PyTorch (fwd + bwd) |")
        print("|---|---|---|---|---|---|---|")
        types = [k for k in m if k.startswith("type ")]
        layers = [k for k in m if not k.startswith("type ") and k != "total"]
        for k in types + layers:
            c, mf, mb = m[k]
            tc, tf, tb = t.get(k, (0, float("nan"), float("nan")))
            ratio = (mf + mb) / (tf + tb) if tf + tb > 0 else float("nan")
            name = f"**{k[5:]}**" if k.startswith("type ") else k
            print(f"| {name} | {c} | {mf:.2f} | {mb:.2f} | {tf:.2f} | {tb:.2f} | {ratio:.2f} |")
        if "total" in m and "total" in t:
            print(f"\n{net}: sum of the parts {m['total'][0]:.1f} ms, whole iteration {m['total'][1]:.1f} ms "
                  f"(minidl); {t['total'][0]:.1f} ms, {t['total'][1]:.1f} ms (PyTorch)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="path to minidl_bench_models")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", default="lenet,resnet20,resnet56")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--runs", type=int, default=10, help="timed runs per network in each program")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--memory-format", default="contiguous", choices=["contiguous", "channels_last"],
                    help="both programs' layout of the activations")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before each program, wait up to SECONDS for the CPUs to be < 10%% busy")
    args = ap.parse_args()
    common = ["--models", args.models, "--device", args.device, "--runs", str(args.runs),
              "--batch", str(args.batch), "--memory-format", args.memory_format]
    env = dict(os.environ)
    if args.device == "cpu":
        common += ["--threads", str(args.threads)]
        env.update(MINIDL_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
                   OMP_NUM_THREADS=str(args.threads))
    mine_cmd = [args.bench] + common
    theirs_cmd = [sys.executable, os.path.join(HERE, "torch_models.py")] + common
    runs_m, runs_t, others = [], [], []
    for _ in range(args.rounds):
        for cmd, runs in ((mine_cmd, runs_m), (theirs_cmd, runs_t)):
            wait_idle(args.wait_idle)
            runs.append(rates(run(cmd, env, others)))
    where = f"{args.device}, {args.threads} threads" if args.device == "cpu" else args.device
    print(f"| {where}, median of {args.rounds} alternating runs | input | minidl img/s | "
          f"PyTorch img/s | minidl / PyTorch |")
    print("|---|---|---|---|---|")
    for name in args.models.split(","):
        shape, batch, _ = runs_m[0][name]
        m = [r[name][2] for r in runs_m]
        t = [r[name][2] for r in runs_t]
        ratio = statistics.median(m) / statistics.median(t)
        print(f"| {name}, batch {batch} | {shape} | {cell(m)} | {cell(t)} | {ratio:.2f} |")
    # On a shared machine other processes slow both libraries (PyTorch's OpenMP threads far more).
    if others:
        print(f"\nother processes kept {statistics.mean(others):.2f} cores busy on average during the "
              f"timed programs (at most {max(others):.2f} during one)")
    if args.profile:
        wait_idle(args.wait_idle)
        mine = profiles(run(mine_cmd + ["--profile", "--runs", "3"], env, others))
        wait_idle(args.wait_idle)
        theirs = profiles(run(theirs_cmd + ["--profile", "--runs", "3"], env, others))
        if len(others) >= 2:
            busy = others[-2:]
            print(f"(profiles: other processes kept {busy[0]:.2f} and {busy[1]:.2f} cores busy"
                  + ("; disturbed, rerun for figures to rely on)" if max(busy) > 0.25 else ")"))
        print_profiles(mine, theirs)


if __name__ == "__main__":
    main()
