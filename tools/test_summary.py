#!/usr/bin/env python3
"""Sum up test results from meson's testlog.json files.

Every test program prints its own counts ("N passed, M failed" for the C
unit tests, pytest's "N passed, M failed, K skipped in Xs" for the Python
suites); this adds them up per suite and prints one closing line
"N passed, M failed".  A test program that died without printing counts
is one failure.
"""
import json
import os
import re
import sys

COUNT = re.compile(r"(\d+) (passed|failed|error|errors|skipped|xfailed|xpassed)\b")


def counts_of(stdout):
    """Counts from the last line of the output that carries any."""
    for line in reversed(stdout.splitlines()):
        found = COUNT.findall(line)
        if found:
            c = {}
            for n, word in found:
                key = {"error": "failed", "errors": "failed", "xpassed": "failed",
                       "xfailed": "skipped"}.get(word, word)
                c[key] = c.get(key, 0) + int(n)
            return c
    return None


def main(dirs):
    total = {"passed": 0, "failed": 0, "skipped": 0}
    for d in dirs:
        path = os.path.join(d, "meson-logs", "testlog.json")
        if not os.path.exists(path):
            continue
        for line in open(path):
            t = json.loads(line)
            c = counts_of(t.get("stdout", "") or "")
            ok = t.get("result") == "OK"
            if c is None:
                c = {"passed": 1} if ok else {"failed": 1}
            elif not ok and not c.get("failed"):
                c["failed"] = c.get("failed", 0) + 1   # crashed after printing
            for k in total:
                total[k] += c.get(k, 0)
            print(f"{d:>10} {t['name']:<12} {t.get('result'):<8} "
                  f"{c.get('passed', 0)} passed, {c.get('failed', 0)} failed"
                  + (f", {c['skipped']} skipped" if c.get("skipped") else ""))
    line = f"{total['passed']} passed, {total['failed']} failed"
    if total["skipped"]:
        line += f", {total['skipped']} skipped"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["build"]))
