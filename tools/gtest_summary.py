#!/usr/bin/env python3
"""One GoogleTest run, counted once: tools/gtest_summary.py RESULT.json RUN.log

Prints tab-separated lines for tools/gpu_check.sh:
    counts  PASSED  FAILED  SKIPPED  SOURCE      SOURCE: json, or log when the JSON is missing (a crash,
                                                 a timeout: gtest writes it at exit)
    failed  Suite.Name  WHY                      WHY: the first line of the failure's message
    skipped COUNT  REASON                        one line per distinct skip message
    unfinished  Suite.Name                       the test that was running when the process ended (a crash,
                                                 a timeout), counted in none of the three

The counts come from --gtest_output=json (each test once; the console lists failed and skipped tests
twice). GoogleTest 1.12 records no skip message in the JSON, so the messages come from the log: the
lines between "<file>:<line>: Skipped" and "[  SKIPPED ] Suite.Name".
"""
import collections
import json
import re
import sys

RUN = re.compile(r"^\[ RUN      \] (\S+)")
END = re.compile(r"^\[ +(OK|FAILED|SKIPPED) +\] (\S+) \(")  # the per-test line (with its time)


def one_line(text):
    return " ".join(text.split())[:300]


def from_log(lines):
    """(passed, failed {name: why}, skipped {name: message}, unfinished name or None) from the console
    output."""
    passed, failed, skipped = [], {}, {}
    current, body = None, []
    for line in lines:
        m = RUN.match(line)
        if m:
            current, body = m.group(1), []
            continue
        m = END.match(line)
        if m and m.group(2) == current:
            kind = m.group(1)
            if kind == "OK":
                passed.append(current)
            elif kind == "FAILED":
                why = body
                for i, b in enumerate(body):
                    if b.rstrip().endswith(": Failure"):
                        why = body[i + 1:]
                        break
                failed[current] = next((one_line(b) for b in why if b.strip()), "")
            else:
                msg = body
                for i, b in enumerate(body):
                    if b.rstrip().endswith(": Skipped"):
                        msg = body[i + 1:]
                skipped[current] = one_line(" ".join(msg)) or "(no message)"
            current = None
            continue
        if current is not None:
            body.append(line)
    return passed, failed, skipped, current


def main():
    json_path, log_path = sys.argv[1], sys.argv[2]
    try:
        with open(log_path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    log_passed, log_failed, log_skipped, unfinished = from_log(lines)
    try:
        with open(json_path) as f:
            doc = json.load(f)
        passed, failed, skipped = 0, {}, []
        for suite in doc.get("testsuites", []):
            for t in suite.get("testsuite", []):
                name = f"{t.get('classname', suite.get('name'))}.{t['name']}"
                if t.get("status") != "RUN":
                    continue  # disabled, or filtered out
                if t.get("failures"):
                    failed[name] = one_line(t["failures"][0].get("failure", "").split("\n", 1)[-1])
                elif t.get("result") == "SKIPPED":
                    skipped.append(name)
                else:
                    passed += 1
        source = "json"
    except (OSError, ValueError, KeyError):
        passed, failed, skipped, source = len(log_passed), log_failed, list(log_skipped), "log"
    print(f"counts\t{passed}\t{len(failed)}\t{len(skipped)}\t{source}")
    for name, why in failed.items():
        print(f"failed\t{name}\t{why}")
    reasons = collections.Counter(log_skipped.get(name, "(no message in the log)") for name in skipped)
    for reason, count in reasons.most_common():
        print(f"skipped\t{count}\t{reason}")
    if unfinished and source == "log":
        print(f"unfinished\t{unfinished}")


if __name__ == "__main__":
    main()
