"""Reads a run's TensorBoard events with TensorBoard's own reader and compares them with the CSV
that minidl wrote beside them (tests/reference/test_tensorboard_reference.cpp).

  tensorboard_reference.py train RUN       RUN/tensorboard against RUN/metrics.csv
  tensorboard_reference.py range-test OUT  OUT/tensorboard against OUT/range_test.csv

Every CSV cell must be an event at that step with the same value (events hold float32; the CSV 6 to
8 significant digits), every event a CSV cell, one event per tag and step (after a resume TensorBoard
must have purged the events logged past the checkpoint), and the reader must have seen no corrupt
record (it checks each record's CRC32C). Exits 1 with the first difference."""
import csv
import glob
import math
import sys

from tensorboard.backend.event_processing import event_accumulator

TRAIN_TAGS = {  # metrics.csv column -> tag (optim/metrics.cpp, tensorboard_scalars)
    "train_loss": "train/loss", "train_acc": "train/acc", "test_loss": "test/loss",
    "test_acc": "test/acc", "test_top5": "test/top5", "lr": "lr", "momentum": "momentum",
    "epoch": "epoch", "img_per_s": "img_per_s",
}
RANGE_TAGS = {  # range_test.csv column -> tag suffix (tools/train/verb_range_test.cpp)
    "lr": "lr", "train_loss": "loss", "smoothed_loss": "smoothed_loss", "test_loss": "test_loss",
    "test_acc": "test_acc", "smoothed_test_loss": "smoothed_test_loss",
}


def fail(msg):
    print("tensorboard_reference: " + msg)
    sys.exit(1)


def load(folder):
    files = glob.glob(folder + "/events.out.tfevents.*")
    if not files:
        fail("no event file in " + folder)
    ea = event_accumulator.EventAccumulator(folder, size_guidance={event_accumulator.SCALARS: 0})
    ea.Reload()
    scalars = {}
    for tag in ea.Tags()["scalars"]:
        events = ea.Scalars(tag)
        scalars[tag] = {e.step: e.value for e in events}
        if len(scalars[tag]) != len(events):  # a resumed run's stale events, not purged
            fail("%s: %d events at %d steps" % (tag, len(events), len(scalars[tag])))
    return scalars


def expected_cells(rows, columns, step_of, tag_of):
    want = {}
    for row in rows:
        step = step_of(row)
        for col in columns:
            cell = row.get(col, "")
            if cell == "" or math.isnan(float(cell)):
                continue
            want.setdefault(tag_of(row, col), {})[step] = (float(cell), cell_tolerance(cell))
    return want


def cell_tolerance(cell):
    """What the CSV's rounding allows: half a unit of its last printed digit (img/s is printed with
    one decimal), and float32's 6-7 digits otherwise."""
    v = float(cell)
    mantissa = cell.lower().split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exponent = int(cell.lower().split("e")[1]) if "e" in cell.lower() else 0
    return max(1e-5 * max(1.0, abs(v)), 0.5 * 10.0 ** (exponent - decimals) * 1.0001)


def compare(want, got):
    if set(want) != set(got):
        fail("tags differ: csv %s, events %s" % (sorted(want), sorted(got)))
    n = 0
    for tag, by_step in want.items():
        if set(by_step) != set(got[tag]):
            fail("%s: steps differ: csv %s, events %s" % (tag, sorted(by_step), sorted(got[tag])))
        for step, (v, tol) in by_step.items():
            e = got[tag][step]
            if abs(e - v) > tol:
                fail("%s at step %d: csv %r, event %r" % (tag, step, v, e))
            n += 1
    print("tensorboard_reference: %d values in %d tags equal the csv" % (n, len(want)))


def main():
    mode, folder = sys.argv[1], sys.argv[2]
    if mode == "train":
        rows = list(csv.DictReader(open(folder + "/metrics.csv")))
        want = expected_cells(rows, TRAIN_TAGS, lambda r: int(r["iteration"]),
                              lambda r, c: TRAIN_TAGS[c])
    elif mode == "range-test":
        rows = list(csv.DictReader(open(folder + "/range_test.csv")))
        seeds = sorted({r["seed"] for r in rows})
        prefix = (lambda r: "range_test/") if len(seeds) == 1 else \
            (lambda r: "range_test/seed_%s/" % r["seed"])
        want = expected_cells(rows, RANGE_TAGS, lambda r: int(r["iteration"]),
                              lambda r, c: prefix(r) + RANGE_TAGS[c])
    else:
        fail("unknown mode " + mode)
    if not rows:
        fail("the csv has no rows")
    compare(want, load(folder + "/tensorboard"))


if __name__ == "__main__":
    main()
