#!/usr/bin/env python3
"""Charts bench/out/fetch_sweep.tsv (from bench/fetch_sweep.sh): requests per second and CPU per
request against concurrency, one line per client (medians of the rounds). Needs matplotlib
(in bench/.venv).

    bench/.venv/bin/python bench/plot_sweep.py [REQUESTS] [-o bench/fetch_sweep.png]
"""

import argparse
import csv
import statistics as st
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("requests", type=int, nargs="?", default=20000)
    ap.add_argument("-i", "--input", default=ROOT / "bench/out/fetch_sweep.tsv")
    ap.add_argument("-o", "--output", default=ROOT / "bench/fetch_sweep.png")
    ap.add_argument("--base-label", default="corral before",
                    help="the legend's name for fetch_sweep.sh's 'base' client (BASE_BIN)")
    args = ap.parse_args()
    rows = list(csv.DictReader(open(args.input), delimiter="\t"))
    n = args.requests
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for client in dict.fromkeys(r["client"] for r in rows):
        mine = [r for r in rows if r["client"] == client]
        concs = sorted({int(r["concurrency"]) for r in mine})
        at = lambda c: [r for r in mine if int(r["concurrency"]) == c]
        rps = [st.median(n / float(r["wall_s"]) for r in at(c)) for c in concs]
        cpu = [
            st.median((float(r["user_s"]) + float(r["sys_s"])) / n * 1e6 for r in at(c))
            for c in concs
        ]
        style = dict(marker="o", linewidth=2.5 if client == "corral" else 1.5)
        colors = {"corral": "tab:blue", "base": "tab:blue", "oha": "tab:red",
                  "curl": "tab:orange", "aiohttp": "tab:green"}
        if client in colors:
            style.update(color=colors[client])
        if client == "base":
            style.update(linestyle="--", alpha=0.6)
        label = args.base_label if client == "base" else client
        left.plot(concs, rps, label=label, **style)
        right.plot(concs, cpu, label=label, **style)
    for ax, title in ((left, "requests per second"), (right, "CPU per request (µs, user + sys)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("concurrency (-c)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    left.legend()
    fig.suptitle(f"{n:,} GETs of /get against corral serve on loopback (medians of the rounds)")
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
