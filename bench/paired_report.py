#!/usr/bin/env python3
"""Prints the paired tables of BENCHMARKS.md (markdown) from bench/paired.sh's output:
bench/out/paired_peers.json (corral/benches/paired.rs), bench/out/paired_asyncio.json
(bench/paired_asyncio.py) and bench/out/alloc.json (corral/benches/alloc.rs).

    python bench/paired_report.py [--out bench/out] [--baseline DIR]

--baseline DIR: a copy of an earlier bench/out (e.g. `cp -r bench/out bench/out.before`); each
pair's ratio is then checked against its ratio there (the issue's "within 5 % of its previous
ratio or better").

Every ratio is a median of per-round ratios: the two sides ran back to back, in alternating
order, under the same load.
"""

import argparse
import datetime
import os
import sys

sys.dont_write_bytecode = True  # no bench/__pycache__ from importing report.py
import benchdata as bd  # noqa: E402
from report import alloc_bar, alloc_table  # noqa: E402

GOAL_N = 100_000
TASKGROUP_TIME = 1.10  # TaskGroup within 1.1x of JoinSet
DRIFT = 1.05  # every other ratio within 5 % of its previous value, or better


def when(data):
    t = data.get("unix_time")
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ") if t else "?"


def load(p):
    return f"{p['loadavg_before']} → {p['loadavg_after']}"


def peers_key(p):
    return (p["mode"], p["a"])


def asyncio_key(p):
    return (p["corral"], p["asyncio"], p["loop"])


def peers_tables(peers):
    n = peers["n"]
    print(f"### corral against its bar, paired (N = {n:,}; lower is better)\n")
    print(f"Run of {when(peers)}: rounds per pair: {peers['rounds']}, A and B alternating which goes "
          f"first; load average {peers['loadavg_before']} before, {peers['loadavg_after']} after.\n")
    print("| mode | case | bar | median ratio case ÷ bar | IQR | case per task | bar per task | load average before → after |")
    print("|---|---|---|---|---|---|---|---|")
    order = {m: i for i, m in enumerate(bd.MODES)}
    rows = sorted(peers["pairs"], key=lambda p: (not p["corral"], order.get(p["mode"], 99), p["b"], p["a"]))
    not_fastest = []
    for p in rows:
        name = f"**{p['a']}**" if p["corral"] else p["a"]
        print(f"| {p['mode']} | {name} | {p['b']} | {p['ratio_median']:.3f}× | {p['ratio_q1']:.3f}–{p['ratio_q3']:.3f} "
              f"| {bd.per_task(p['a_median_s'] * 1e9, n)} | {bd.per_task(p['b_median_s'] * 1e9, n)} "
              f"| {p['loadavg_before']} → {p['loadavg_after']} |")
        if not p["corral"] and p["ratio_median"] < 1:
            not_fastest.append(f"{p['mode']}/{p['a']} ({p['ratio_median']:.3f}× {p['b']})")
    print()
    if not_fastest:
        print("**The bar is not the fastest peer** here: " + ", ".join(not_fastest) + ".\n")


def asyncio_tables(py):
    n = py["n"]
    print(f"### corral against Python {py['python']} asyncio, paired (N = {n:,}; speed-up = asyncio ÷ corral)\n")
    print(f"Run of {when(py)}: rounds per pair: {py['rounds']}, each run in its own process after "
          f"{py['warmup']} untimed run(s), corral and asyncio alternating which goes first; load average "
          f"{py['loadavg_before']} before, {py['loadavg_after']} after.\n")
    for comparison, title in (("like for like", "Like for like: every input runs as a task on both sides"),
                              ("different work", "Different work: corral polls in place, asyncio makes a Task per coroutine")):
        rows = [p for p in py["pairs"] if p["comparison"] == comparison]
        if not rows:
            continue
        print(f"**{title}**\n")
        print("| corral | asyncio | loop | median speed-up | IQR | corral per task | asyncio per task | load average before → after |")
        print("|---|---|---|---|---|---|---|---|")
        for p in rows:
            print(f"| {p['corral']} | {p['asyncio']} | {p['loop']} | {p['speedup_median']:.1f}× "
                  f"| {p['speedup_q1']:.1f}–{p['speedup_q3']:.1f} | {bd.per_task(p['corral_median_s'] * 1e9, n)} "
                  f"| {bd.per_task(p['asyncio_median_s'] * 1e9, n)} | {p['loadavg_before']} → {p['loadavg_after']} |")
        notes = sorted({p["note"] for p in rows if p.get("note")})
        for note in notes:
            print(f"\n- {note}")
        print()


def by_key(data, key):
    """An earlier run's pairs by key, if it was taken at GOAL_N."""
    if not data or data.get("n") != GOAL_N:
        return {}
    return {key(p): p for p in data["pairs"]}


def goals(peers, py, rows, base_peers, base_py):
    """The issue's goals at N = GOAL_N: (goal, case, figure, load average, met: True/False/None)."""
    out = []
    if peers and peers["n"] == GOAL_N:
        for p in peers["pairs"]:
            if p["mode"] == "spawned" and p["a"] == "corral_taskgroup":
                r = p["ratio_median"]
                out.append((f"time within {TASKGROUP_TIME}× of {p['b']}", "spawned/corral_taskgroup",
                            f"{r:.3f}× (IQR {p['ratio_q1']:.3f}–{p['ratio_q3']:.3f})", load(p), r <= TASKGROUP_TIME))
    for r in rows:
        if r["mode"] == "spawned" and r["case"] == "corral_taskgroup" and r["n"] == GOAL_N:
            bar, ref = alloc_bar(rows, r["mode"], GOAL_N, r["case"])
            if ref:
                b = r["bytes"] / GOAL_N
                out.append((f"bytes per child ≤ {bar}'s", "spawned/corral_taskgroup", f"{b:.0f} B against {ref:.0f} B",
                            "(counted, not timed)", b <= ref))
    # every other pair: within 5 % of its ratio in the baseline, or better
    if peers and peers["n"] == GOAL_N:
        before = by_key(base_peers, peers_key)
        for p in peers["pairs"]:
            if not p["corral"] or (p["mode"], p["a"]) == ("spawned", "corral_taskgroup"):
                continue
            old = before.get(peers_key(p))
            fig = f"{p['ratio_median']:.3f}× {p['b']}"
            if old is None or old["b"] != p["b"]:
                out.append(("within 5 % of the previous ratio", f"{p['mode']}/{p['a']}", fig + ", no baseline", load(p), None))
            else:
                out.append(("within 5 % of the previous ratio", f"{p['mode']}/{p['a']}",
                            fig + f", was {old['ratio_median']:.3f}× (load {load(old)})", load(p),
                            p["ratio_median"] <= old["ratio_median"] * DRIFT))
    if py and py["n"] == GOAL_N:
        before = by_key(base_py, asyncio_key)
        for p in py["pairs"]:
            old = before.get(asyncio_key(p))
            case = f"{p['corral']} vs {p['asyncio']} ({p['loop']})"
            fig = f"{p['speedup_median']:.1f}× faster"
            if old is None:
                out.append(("within 5 % of the previous speed-up", case, fig + ", no baseline", load(p), None))
            else:
                out.append(("within 5 % of the previous speed-up", case,
                            fig + f", was {old['speedup_median']:.1f}× (load {load(old)})", load(p),
                            p["speedup_median"] >= old["speedup_median"] / DRIFT))
    if not out:
        print(f"(no goal figures: the goals are checked at N = {GOAL_N:,})\n")
        return
    print(f"### Goals at N = {GOAL_N:,}\n")
    print("| goal | case | figure | load average before → after | met |\n|---|---|---|---|---|")
    for goal, case, fig, loadavg, ok in out:
        met = "—" if ok is None else ("yes" if ok else "**no**")
        print(f"| {goal} | {case} | {fig} | {loadavg} | {met} |")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=f"{bd.ROOT}/bench/out", help="where bench/paired.sh wrote its JSON")
    ap.add_argument("--baseline", help="an earlier copy of --out to check each ratio against")
    args = ap.parse_args()

    def load(d, name):
        return bd.load_json(os.path.join(d, name)) if d else None

    peers, py = load(args.out, "paired_peers.json"), load(args.out, "paired_asyncio.json")
    rows = bd.alloc(path=os.path.join(args.out, "alloc.json")) if args.out else []
    meta = load(args.out, "paired_meta.json")
    if meta:
        print(f"Library at {meta.get('commit', '?')}, {meta.get('nproc', '?')} cores, run started {meta.get('date', '?')}.\n")
    goals(peers, py, rows, load(args.baseline, "paired_peers.json"), load(args.baseline, "paired_asyncio.json"))
    if peers:
        peers_tables(peers)
    if py:
        asyncio_tables(py)
    if rows:
        alloc_table(rows)
    if not (peers or py or rows):
        print(f"(nothing in {args.out}: run bench/paired.sh)")


if __name__ == "__main__":
    main()
