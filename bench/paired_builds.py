#!/usr/bin/env python3
"""Two builds of the paired bench, side by side: every corral case run by the old binary and the
new one alternately (old-new, then new-old, ...), one process per run, and the median of the
per-round ratios new/old. This is how a change is checked against "every case within 5% of its
ratio before the change": the same case, the same machine, interleaved in one run.

    bench/paired_builds.py OLD_PAIRED_BIN NEW_PAIRED_BIN [--n 100000] [--rounds 10]
                           [--filter SUBSTR] [--json FILE]

Build each binary with `cargo bench -p tokio-corral --bench paired --no-run` at its commit (a
worktree each, with their own CARGO_TARGET_DIR) and pass the printed executables.
"""
import argparse
import json
import statistics
import subprocess
import sys


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def once(binary, case, n):
    out = subprocess.run([binary, "--case", case, "--n", str(n), "--once"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--filter", default="")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.n <= 0 or a.rounds <= 0:
        sys.exit("paired_builds.py: --n and --rounds must be positive")
    cases = subprocess.run([a.new, "--list"], check=True, capture_output=True,
                           text=True).stdout.split()
    cases = [c for c in cases if "/corral_" in c and a.filter in c]
    rows = []
    print(f"load before: {load()}; N = {a.n}, {a.rounds} rounds per case")
    print("| case | new ÷ old (median) | IQR | old | new | load before → after |")
    print("|---|---|---|---|---|---|")
    for case in cases:
        before = load()
        ratios, olds, news = [], [], []
        for r in range(a.rounds):
            if r % 2 == 0:
                o = once(a.old, case, a.n)
                w = once(a.new, case, a.n)
            else:
                w = once(a.new, case, a.n)
                o = once(a.old, case, a.n)
            olds.append(o)
            news.append(w)
            ratios.append(w / o)
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        row = {
            "case": case,
            "ratio": statistics.median(ratios),
            "iqr": [q[0], q[2]],
            "old_ns_per_task": statistics.median(olds) / a.n * 1e9,
            "new_ns_per_task": statistics.median(news) / a.n * 1e9,
            "load": [before, load()],
        }
        rows.append(row)
        print(f"| {case} | {row['ratio']:.3f}× | {q[0]:.3f}–{q[2]:.3f} | "
              f"{row['old_ns_per_task']:.0f} ns | {row['new_ns_per_task']:.0f} ns | "
              f"{before} → {row['load'][1]} |", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
