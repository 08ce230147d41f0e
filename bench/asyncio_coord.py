#!/usr/bin/env python3
"""The asyncio side of corral's library benchmark.

Runs the same work as corral/benches/coord.rs: N trivial tasks (each yields once with
`await asyncio.sleep(0)`, then returns its index), coordinated by gather (of coroutines, and of
tasks from create_task, each also with return_exceptions=True), wait(ALL_COMPLETED),
as_completed (drained; of coroutines, and of tasks), TaskGroup, and gather under a
Semaphore(100), on the default event loop and on uvloop (when installed). Prints one line per
measurement and, with --json, writes the medians (seconds per run) for bench/report.py.

    python bench/asyncio_coord.py [--sizes 1000,10000,100000] [--repeat 5] [--json FILE] [--rss]
    python bench/asyncio_coord.py --case NAME --n N [--loop asyncio] [--warmup 1] [--times 1]

--rss also runs each case once at the largest N in a fresh interpreter and records its peak RSS.
--case runs one case in this process, --warmup untimed runs then --times timed ones, all in one
event loop, and prints one JSON line with the per-run times: bench/paired_asyncio.py alternates
it with corral's `paired --once` to pair the two sides run by run.

Note that asyncio.gather and asyncio.as_completed wrap each coroutine they are given in a Task,
so the coroutine cases spawn a task per input too: they are like for like with corral's
spawned cases, and different work from corral's in-place ones (no task per input).
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

LIMIT = 100


async def work(i):
    await asyncio.sleep(0)
    return i


async def case_gather(n):
    return sum(await asyncio.gather(*(work(i) for i in range(n))))


async def case_gather_tasks(n):
    tasks = [asyncio.create_task(work(i)) for i in range(n)]
    return sum(await asyncio.gather(*tasks))


async def case_gather_settled(n):
    return sum(await asyncio.gather(*(work(i) for i in range(n)), return_exceptions=True))


async def case_gather_tasks_settled(n):
    tasks = [asyncio.create_task(work(i)) for i in range(n)]
    return sum(await asyncio.gather(*tasks, return_exceptions=True))


async def case_wait(n):
    tasks = [asyncio.create_task(work(i)) for i in range(n)]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.ALL_COMPLETED)
    assert not pending
    return sum(t.result() for t in done)


async def case_as_completed(n):
    total = 0
    for fut in asyncio.as_completed([work(i) for i in range(n)]):
        total += await fut
    return total


async def case_as_completed_tasks(n):
    total = 0
    for fut in asyncio.as_completed([asyncio.create_task(work(i)) for i in range(n)]):
        total += await fut
    return total


async def case_taskgroup(n):
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(work(i)) for i in range(n)]
    return sum(t.result() for t in tasks)


async def case_gather_semaphore(n):
    sem = asyncio.Semaphore(LIMIT)

    async def limited(i):
        async with sem:
            return await work(i)

    return sum(await asyncio.gather(*(limited(i) for i in range(n))))


CASES = {
    "gather": case_gather,
    "gather_tasks": case_gather_tasks,
    "gather_settled": case_gather_settled,
    "gather_tasks_settled": case_gather_tasks_settled,
    "wait": case_wait,
    "as_completed": case_as_completed,
    "as_completed_tasks": case_as_completed_tasks,
    "taskgroup": case_taskgroup,
    "gather_semaphore100": case_gather_semaphore,
}


def loop_factory(name):
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def available_loops():
    loops = ["asyncio"]
    try:
        import uvloop  # noqa: F401

        loops.append("uvloop")
    except ImportError:
        print("uvloop not installed: default loop only", file=sys.stderr)
    return loops


def run_times(loop_name, case, n, repeat, warmup=0):
    """Wall times of `repeat` runs of `case` over n tasks after `warmup` untimed ones, all in one
    event loop."""

    async def runs():
        times = []
        for k in range(warmup + repeat):
            t0 = time.perf_counter()
            total = await case(n)
            if k >= warmup:
                times.append(time.perf_counter() - t0)
            assert total == n * (n - 1) // 2, (case.__name__, n, total)
        return times

    with asyncio.Runner(loop_factory=loop_factory(loop_name)) as runner:
        return runner.run(runs())


def measure(loop_name, case, n, repeat):
    """Median wall time of `repeat` runs of `case` over n tasks, all in one event loop."""
    return statistics.median(run_times(loop_name, case, n, repeat))


def loadavg():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_case(loop_name, case_name, n, times, warmup):
    """--case: one case in this process, its per-run times printed as one JSON line."""
    if case_name not in CASES:
        sys.exit(f"asyncio_coord.py: no case {case_name!r}; the cases are {', '.join(CASES)}")
    if loop_name != "asyncio" and loop_name not in available_loops():
        sys.exit(f"asyncio_coord.py: loop {loop_name!r} is not available (pip install uvloop?)")
    before = loadavg()
    t = run_times(loop_name, CASES[case_name], n, times, warmup)
    line = {"case": case_name, "loop": loop_name, "n": n, "warmup": warmup, "times_s": t,
            "python": sys.version.split()[0], "loadavg_before": before, "loadavg_after": loadavg()}
    print(json.dumps(line), flush=True)


def one(loop_name, case_name, n):
    """Child mode: run one case once and print the peak RSS in bytes."""
    measure(loop_name, CASES[case_name], n, 1)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec
    with open("/proc/self/status") as f:
        hwm = next(line for line in f if line.startswith("VmHWM:"))
    print(int(hwm.split()[1]) * 1024)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json")
    ap.add_argument("--rss", action="store_true")
    ap.add_argument("--loops", help="comma-separated subset of asyncio,uvloop")
    ap.add_argument("--case", help="run this one case (see --n, --loop, --warmup, --times)")
    ap.add_argument("--n", type=int, default=100_000, help="tasks per run, with --case")
    ap.add_argument("--loop", default="asyncio", help="asyncio or uvloop, with --case")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first, with --case")
    ap.add_argument("--times", type=int, default=1, help="timed runs, with --case")
    ap.add_argument("--one", nargs=3, metavar=("LOOP", "CASE", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        run_case(args.loop, args.case, args.n, args.times, args.warmup)
        return
    if args.one:
        one(args.one[0], args.one[1], int(args.one[2]))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    loops = available_loops()
    if args.loops:
        loops = [l for l in loops if l in args.loops.split(",")]
    result = {
        "python": sys.version.split()[0],
        "loadavg": os.getloadavg(),
        "median_s": {},
        "rss_bytes": {},
    }
    for loop_name in loops:
        for case_name, case in CASES.items():
            for n in sizes:
                t = measure(loop_name, case, n, args.repeat)
                result["median_s"].setdefault(loop_name, {}).setdefault(case_name, {})[str(n)] = t
                print(f"{loop_name:8} {case_name:20} N={n:<7} {t:9.4f} s  {t / n * 1e9:8.0f} ns/task", flush=True)
            if args.rss:
                n = max(sizes)
                out = subprocess.run(
                    [sys.executable, __file__, "--one", loop_name, case_name, str(n)],
                    check=True, capture_output=True, text=True,
                ).stdout
                rss = int(out.split()[-1])
                result["rss_bytes"].setdefault(loop_name, {})[case_name] = {str(n): rss}
                print(f"{loop_name:8} {case_name:20} N={n:<7} peak RSS {rss / 1e6:.1f} MB", flush=True)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
