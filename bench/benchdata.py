"""Loads the figures the other bench/ scripts report: criterion's JSON under target/criterion,
the counting-allocator rows in target/alloc.json, and bench/asyncio_coord.py's JSON."""

import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
# the modes of corral/benches/common/mod.rs, in report order
MODES = ["spawned", "in_place", "limit100", "limit100_spawned"]
MODE_TITLES = {
    "spawned": "spawned tasks (bar: tokio JoinSet)",
    "in_place": "futures polled in place (bar: the fastest in-place peer)",
    "limit100": "at most 100 at once, in place (bar: the fastest peer)",
    "limit100_spawned": "at most 100 at once, each spawned when admitted (bar: the fastest peer)",
}


def is_corral(case):
    return case.startswith("corral")


def criterion(target=TARGET):
    """{mode: {case: {n: median ns per iteration}}} from target/criterion/*/*/*/new."""
    base = os.path.join(target, "criterion")
    out = {}
    if not os.path.isdir(base):
        return out
    for dirpath, _dirs, files in os.walk(base):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            meta = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        mode, case, n = meta["group_id"], meta.get("function_id"), meta.get("value_str")
        if mode not in MODES or case is None or n is None:
            continue
        out.setdefault(mode, {}).setdefault(case, {})[int(n)] = est["median"]["point_estimate"]
    return out


def bar(data, mode, n):
    """(peer name, ns) the mode is compared to at n: JoinSet for spawned, else the fastest peer."""
    cases = data.get(mode, {})
    if mode == "spawned" and n in cases.get("tokio_JoinSet", {}):
        return "tokio_JoinSet", cases["tokio_JoinSet"][n]
    peers = [(t[n], c) for c, t in cases.items() if not is_corral(c) and n in t]
    if not peers:
        return None, None
    ns, name = min(peers)
    return name, ns


def alloc(target=TARGET, path=None):
    """The alloc bench's rows: `path`, or target/alloc.json."""
    path = path or os.path.join(target, "alloc.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


def load_json(path):
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def per_task(ns, n):
    """A time per task, in the unit that reads best."""
    t = ns / n
    if t >= 1000:
        return f"{t / 1000:.2f} µs"
    return f"{t:.0f} ns"
