#!/usr/bin/env python3
"""corral against asyncio, paired run by run in separate processes.

For each pair of a corral case and its asyncio counterpart, and each event loop, runs the two
alternately `--rounds` times (corral first in even rounds, asyncio first in odd ones), each run
in a fresh process: corral's `paired --case ID --once` bench binary and
`asyncio_coord.py --case NAME`. Each process does `--warmup` untimed runs, then one timed run,
and reports only the run's own time (not the process start-up). Each round gives one speed-up,
asyncio's time divided by corral's; this prints the median speed-up with its interquartile
range, the median times, and the load average before and after each pair.

    bench/paired_asyncio.py --bin PATH [--n 100000] [--rounds 10] [--warmup 1]
                            [--loops asyncio,uvloop] [--filter SUBSTR] [--json FILE]

bench/paired.sh finds the binary (`cargo bench -p tokio-corral --bench paired --no-run`) and runs this.

Spawned corral cases are paired with asyncio's Task cases (create_task, then gather, wait,
as_completed; TaskGroup): like for like. In-place corral cases poll their futures in the
caller's task; asyncio has no such form (gather and as_completed wrap each coroutine in a
Task), so those pairs are against coroutines handed to gather directly and are labelled
"different work".
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LIKE = "like for like"
DIFFERENT = "different work"

# (corral case id, asyncio case, comparison, note)
PAIRS = [
    ("spawned/corral_gather", "gather_tasks", LIKE, ""),
    ("spawned/corral_gather_settled", "gather_tasks_settled", LIKE, ""),
    ("spawned/corral_wait", "wait", LIKE, ""),
    ("spawned/corral_as_completed", "as_completed_tasks", LIKE, ""),
    ("spawned/corral_taskgroup", "taskgroup", LIKE, ""),
    ("limit100_spawned/corral_gather_limit", "gather_semaphore100", LIKE,
     "asyncio's idiom creates all N tasks up front and a semaphore admits 100; corral spawns each when admitted"),
    ("in_place/corral_gather", "gather", DIFFERENT, ""),
    ("in_place/corral_gather_settled", "gather_settled", DIFFERENT, ""),
    ("in_place/corral_as_completed", "as_completed", DIFFERENT, ""),
    ("limit100/corral_gather_limit", "gather_semaphore100", DIFFERENT, ""),
]


def loadavg():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def quantile(values, q):
    """The q-quantile, interpolated linearly between neighbours (as corral/benches/paired.rs)."""
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def per_task(seconds, n):
    ns = seconds * 1e9 / n
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"


def last_json_line(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"paired_asyncio.py: {' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_corral(args, case):
    cmd = [args.bin, "--case", case, "--n", str(args.n), "--warmup", str(args.warmup), "--once"]
    return last_json_line(cmd)["seconds"]


def run_asyncio(args, loop, case):
    cmd = [args.python, os.path.join(HERE, "asyncio_coord.py"), "--case", case, "--loop", loop,
           "--n", str(args.n), "--warmup", str(args.warmup), "--times", "1"]
    return last_json_line(cmd)["times_s"][0]


def has_uvloop(python):
    return subprocess.run([python, "-c", "import uvloop"], capture_output=True).returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="the paired bench binary (target/release/deps/paired-HASH)")
    ap.add_argument("--python", default=sys.executable, help="the interpreter for asyncio_coord.py")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs in each process before the timed one")
    ap.add_argument("--loops", help="comma-separated subset of asyncio,uvloop (default: both if uvloop imports)")
    ap.add_argument("--filter", default="", help="keep the pairs whose 'CORRAL_ID vs ASYNCIO_CASE' contains this")
    ap.add_argument("--json", help="also write every pair's figures and per-round times here")
    args = ap.parse_args()
    if args.n < 1 or args.rounds < 1:
        sys.exit("paired_asyncio.py: --n and --rounds must be at least 1")
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"paired_asyncio.py: {args.bin} is not an executable: build it with "
                 "`cargo bench -p tokio-corral --bench paired --no-run` (bench/paired.sh does)")
    loops = args.loops.split(",") if args.loops else ["asyncio"] + (["uvloop"] if has_uvloop(args.python) else [])
    if "uvloop" in loops and not has_uvloop(args.python):
        sys.exit(f"paired_asyncio.py: {args.python} cannot import uvloop: pip install uvloop, or --loops asyncio")
    pairs = [p for p in PAIRS if args.filter in f"{p[0]} vs {p[1]}"]
    if not pairs:
        sys.exit(f"paired_asyncio.py: no pair matches --filter {args.filter!r}")
    python = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                            capture_output=True, text=True).stdout.strip()

    result = {"kind": "asyncio", "n": args.n, "rounds": args.rounds, "warmup": args.warmup,
              "python": python, "loops": loops, "nproc": os.cpu_count(), "unix_time": int(time.time()),
              "loadavg_before": loadavg(), "pairs": []}
    print(f"paired against Python {python} asyncio: N = {args.n:,}, {args.rounds} rounds per pair "
          f"(corral first in even rounds), one process per run, {args.warmup} untimed run(s) first "
          f"in each; load average before {result['loadavg_before']}\n")
    print("| corral | asyncio | loop | comparison | median speed-up (asyncio ÷ corral) | IQR "
          "| corral median | asyncio median | load before → after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for corral, py_case, comparison, note in pairs:
        for loop in loops:
            before = loadavg()
            corral_s, py_s = [], []
            for r in range(args.rounds):
                if r % 2 == 0:
                    corral_s.append(run_corral(args, corral))
                    py_s.append(run_asyncio(args, loop, py_case))
                else:
                    py_s.append(run_asyncio(args, loop, py_case))
                    corral_s.append(run_corral(args, corral))
            after = loadavg()
            speedups = [p / c for p, c in zip(py_s, corral_s)]
            row = {
                "corral": corral, "asyncio": py_case, "loop": loop, "comparison": comparison, "note": note,
                "speedup_median": quantile(speedups, 0.5), "speedup_q1": quantile(speedups, 0.25),
                "speedup_q3": quantile(speedups, 0.75), "corral_median_s": quantile(corral_s, 0.5),
                "asyncio_median_s": quantile(py_s, 0.5), "loadavg_before": before, "loadavg_after": after,
                "speedups": speedups, "corral_s": corral_s, "asyncio_s": py_s,
            }
            result["pairs"].append(row)
            print(f"| {corral} | {py_case} | {loop} | {comparison} | {row['speedup_median']:.1f}× "
                  f"| {row['speedup_q1']:.1f}–{row['speedup_q3']:.1f} | {per_task(row['corral_median_s'], args.n)} "
                  f"| {per_task(row['asyncio_median_s'], args.n)} | {before} → {after} |", flush=True)
    result["loadavg_after"] = loadavg()
    print(f"\nload average after {result['loadavg_after']}", flush=True)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
