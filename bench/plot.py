#!/usr/bin/env python3
"""Plots time per task against N (log-log) for corral and each peer, one panel per mode, from
criterion's output in target/criterion (medians). Needs matplotlib (bench/compare.sh installs
it into bench/.venv).

    bench/.venv/bin/python bench/plot.py [-o bench/coord.png]
"""

import argparse
import sys

import benchdata as bd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", default=f"{bd.ROOT}/bench/coord.png")
    args = ap.parse_args()
    data = bd.criterion()
    if not data:
        sys.exit("no criterion results under target/criterion: run `cargo bench -p tokio-corral --bench coord`")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in bd.MODES if m in data]
    cols = 2 if len(modes) > 1 else 1
    rows = (len(modes) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.8 * cols, 4.6 * rows), squeeze=False)
    for ax in axes.flat[len(modes):]:
        ax.set_visible(False)
    for ax, mode in zip(axes.flat, modes):
        cases = data[mode]
        for case in sorted(cases, key=lambda c: (not bd.is_corral(c), c)):
            ns = sorted(cases[case])
            per = [cases[case][n] / n for n in ns]
            corral = bd.is_corral(case)
            ax.plot(
                ns, per,
                marker="o" if corral else "s",
                linestyle="-" if corral else "--",
                linewidth=2.2 if corral else 1.2,
                label=case,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N tasks")
        ax.set_ylabel("time per task (ns, median)")
        ax.set_title(bd.MODE_TITLES[mode], fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(
        "Time per task against N: corral (solid) and peers (dashed)\n"
        "tokio multi-thread runtime, 2 workers, 2 cores; criterion medians",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
