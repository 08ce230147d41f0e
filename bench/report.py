#!/usr/bin/env python3
"""Prints the tables of BENCHMARKS.md (markdown) from the measurements on disk:
criterion's JSON (target/criterion), target/alloc.json, and the asyncio JSON.

    python bench/report.py [--asyncio bench/out/asyncio.json] [--meta bench/out/rust_meta.json]

Every ratio here is of medians taken in the same run (one `cargo bench`, one asyncio_coord.py),
minutes apart: the paired ratios (bench/paired.sh, bench/paired_report.py) are the ones to
quote; these tables give time per task across N.
"""

import argparse

import benchdata as bd

# asyncio case -> (corral spawned case, mode), (corral in-place case, mode)
ASYNCIO_MAP = {
    "gather": (("corral_gather", "spawned"), ("corral_gather", "in_place")),
    "wait": (("corral_wait", "spawned"), ("corral_wait", "in_place")),
    "as_completed": (("corral_as_completed", "spawned"), ("corral_as_completed", "in_place")),
    "taskgroup": (("corral_taskgroup", "spawned"), (None, None)),
    "gather_semaphore100": (("corral_gather_limit", "limit100_spawned"), ("corral_gather_limit", "limit100")),
}


def library(data):
    sizes = sorted({n for m in data.values() for t in m.values() for n in t})
    print("### Time per task, and the ratio to the bar (median of one run; lower is better)\n")
    for mode in bd.MODES:
        cases = data.get(mode)
        if not cases:
            continue
        print(f"**{mode}**: {bd.MODE_TITLES[mode]}\n")
        print("| case | " + " | ".join(f"N = {n:,}" for n in sizes) + " |")
        print("|---|" + "---|" * len(sizes))
        order = sorted(cases, key=lambda c: (bd.is_corral(c), c))
        for case in order:
            cells = []
            for n in sizes:
                ns = cases[case].get(n)
                if ns is None:
                    cells.append("—")
                    continue
                _, bar_ns = bd.bar(data, mode, n)
                ratio = f" ({ns / bar_ns:.2f}×)" if bar_ns else ""
                cells.append(bd.per_task(ns, n) + ratio)
            name = f"**{case}**" if bd.is_corral(case) else case
            print(f"| {name} | " + " | ".join(cells) + " |")
        print()


def asyncio_table(data, py):
    med = py["median_s"]
    loops = list(med)
    sizes = sorted({int(n) for l in med.values() for c in l.values() for n in c})
    print(f"### Against Python {py.get('python', '')} asyncio (time per task; speed-up = asyncio ÷ Rust)\n")
    head = "| case | N | " + " | ".join(loops) + " | corral spawned | corral in place | speed-up spawned | speed-up in place |"
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    rows = list(ASYNCIO_MAP.items())
    for py_case, (sp, ip) in rows:
        for n in sizes:
            py_s = {l: med[l].get(py_case, {}).get(str(n)) for l in loops}
            if py_s[loops[0]] is None:
                continue
            py_ns = py_s[loops[0]] * 1e9
            cells = [bd.per_task(py_s[l] * 1e9, n) if py_s[l] else "—" for l in loops]
            rust = []
            for case, mode in (sp, ip):
                ns = data.get(mode, {}).get(case, {}).get(n) if case else None
                rust.append(ns)
            cells += [bd.per_task(ns, n) if ns else "—" for ns in rust]
            cells += [f"{py_ns / ns:.1f}×" if ns else "—" for ns in rust]
            print(f"| {py_case} | {n:,} | " + " | ".join(cells) + " |")
    # the peers against asyncio gather, for reference
    print()
    print("Peers against asyncio `gather` (same run):\n")
    print("| N | asyncio gather | tokio JoinSet | speed-up | fastest in-place peer | speed-up |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        g = med[loops[0]].get("gather", {}).get(str(n))
        if g is None:
            continue
        g_ns = g * 1e9
        js = data.get("spawned", {}).get("tokio_JoinSet", {}).get(n)
        name, ip = bd.bar(data, "in_place", n)
        print(
            f"| {n:,} | {bd.per_task(g_ns, n)} | "
            + (f"{bd.per_task(js, n)} | {g_ns / js:.1f}× | " if js else "— | — | ")
            + (f"{name} {bd.per_task(ip, n)} | {g_ns / ip:.1f}× |" if ip else "— | — |")
        )
    rss = py.get("rss_bytes") or {}
    if rss:
        print("\nPeak RSS of one asyncio run (fresh interpreter):\n")
        print("| loop | case | N | peak RSS |\n|---|---|---|---|")
        for l, cases in rss.items():
            for c, by_n in cases.items():
                for n, b in by_n.items():
                    print(f"| {l} | {c} | {int(n):,} | {b / 1e6:.1f} MB |")
    print()


def alloc_bar(rows, mode, n, case=None):
    """(name, bytes per task) of the bar a case is weighed against: the `bar` alloc.json gives
    it (corral/benches/common/mod.rs: JoinSet for TaskGroup, Vec<JoinHandle> for the other
    spawned cases); for an alloc.json from before that field, JoinSet for spawned, else the
    leanest peer."""
    peers = {r["case"]: r["bytes"] / n for r in rows if r["mode"] == mode and r["n"] == n and not bd.is_corral(r["case"])}
    given = next((r.get("bar") for r in rows if r["mode"] == mode and r["case"] == case and "bar" in r), "old")
    if given != "old":
        return (given, peers[given]) if given in peers else (None, None)
    if mode == "spawned" and "tokio_JoinSet" in peers:
        return "tokio_JoinSet", peers["tokio_JoinSet"]
    if not peers:
        return None, None
    name = min(peers, key=peers.get)
    return name, peers[name]


def alloc_order(rows):
    """Sort key that puts each bar first and the cases weighed against it right after it."""
    bars = {(r["mode"], r.get("bar")) for r in rows if bd.is_corral(r["case"])}
    modes = {m: i for i, m in enumerate(bd.MODES)}

    def key(r):
        own_bar = (r["mode"], r["case"]) in bars
        group = r["case"] if own_bar else (r.get("bar") or r["case"])
        return (modes.get(r["mode"], 99), group, not own_bar, not bd.is_corral(r["case"]), r["case"], r["n"])

    return key


def alloc_table(rows):
    print("### Memory per task (counting global allocator, one run per child process)\n")
    print("Bytes allocated per task over the whole run, and the ratio to the case's bar, which is listed")
    print("just above it: JoinSet for TaskGroup, `Vec<JoinHandle>` (tokio_JoinHandle_vec) for the other")
    print("spawned cases, else the mode's fastest peer; allocator calls per task, the peak of live heap")
    print("per task, and the child process's peak RSS (VmHWM, runtime and binary included).\n")
    print("| mode | case | N | bar | bytes/task | ÷ bar | allocs/task | peak heap/task | process peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=alloc_order(rows)):
        n = r["n"]
        b = r["bytes"] / n
        bar, ref = alloc_bar(rows, r["mode"], n, r["case"])
        ratio = f"{b / ref:.2f}×" if ref and bar != r["case"] else "—"
        name = f"**{r['case']}**" if bd.is_corral(r["case"]) else r["case"]
        print(
            f"| {r['mode']} | {name} | {n:,} | {bar if bar and bar != r['case'] else '—'} | {b:.0f} | {ratio} | "
            f"{r['allocs'] / n:.2f} | {r['peak'] / n:.0f} | {r['hwm'] / 1e6:.1f} MB |"
        )
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--asyncio", default=f"{bd.ROOT}/bench/out/asyncio.json")
    ap.add_argument("--meta", default=f"{bd.ROOT}/bench/out/rust_meta.json")
    ap.add_argument("--alloc", help="the alloc bench's rows (default: target/alloc.json)")
    args = ap.parse_args()
    meta = bd.load_json(args.meta)
    if meta:
        print(f"Rust run: {meta}\n")
    data = bd.criterion()
    py = bd.load_json(args.asyncio)
    rows = bd.alloc(path=args.alloc)
    print("(The goals are judged from the paired ratios: bench/paired_report.py.)\n")
    if data:
        library(data)
    else:
        print("(no criterion results: run `cargo bench -p tokio-corral --bench coord`)\n")
    if py:
        print(f"asyncio run: load average {py.get('loadavg')}\n")
        asyncio_table(data, py)
    if rows:
        alloc_table(rows)


if __name__ == "__main__":
    main()
