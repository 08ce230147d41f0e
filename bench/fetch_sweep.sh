#!/usr/bin/env bash
# corral fetch against oha at several concurrencies, paired: for each concurrency and round,
# corral then oha (alternating who goes first each round), on one `corral serve` on loopback.
# Reports, per concurrency, the median requests/s and CPU per request (user + sys, from
# /usr/bin/time) of each, and the median of the paired ratios corral ÷ oha.
#
#   bench/fetch_sweep.sh [REQUESTS] [ROUNDS] [CONCURRENCIES]   (defaults: 20000 5 "10 100 1000")
#
# Environment: CORRAL_BIN (default: target/release/corral), OHA_BIN (default:
# bench/.tools/bin/oha, installed by bench/fetch.sh). Client and server share the machine.
set -euo pipefail
ulimit -n "$(ulimit -Hn)" # -c 1000 needs more descriptors than the usual soft limit
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
requests=${1:-20000} rounds=${2:-5} concs=${3:-"10 100 1000"}
corral=${CORRAL_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/corral}
oha=${OHA_BIN:-$ROOT/bench/.tools/bin/oha}
[ -x "$corral" ] || { echo "fetch_sweep.sh: no corral at $corral" >&2; exit 1; }
[ -x "$oha" ] || { echo "fetch_sweep.sh: no oha at $oha (bench/fetch.sh installs it)" >&2; exit 1; }
work=$(mktemp -d)
server=
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
"$corral" serve --port 0 > "$work/serve.out" 2>&1 &
server=$!
until grep -q listening "$work/serve.out" 2>/dev/null; do sleep 0.05; done
url="$(sed -n 's/^listening on //p' "$work/serve.out")/get"
for ((i = 0; i < requests; i++)); do echo "$url"; done > "$work/urls.txt"

# One run: prints "wall user sys" (seconds); fails if not every request got a 200.
run_corral() {
    /usr/bin/time -f '%e %U %S' -o "$work/t" "$corral" fetch -q -c "$1" -i "$work/urls.txt" \
        -o jsonl > "$work/out.jsonl"
    [ "$(grep -c '"status":200' "$work/out.jsonl")" = "$requests" ] || { echo "corral: not all 200" >&2; exit 1; }
    cat "$work/t"
}
run_oha() {
    /usr/bin/time -f '%e %U %S' -o "$work/t" "$oha" -n "$requests" -c "$1" --no-tui \
        --output-format json "$url" > "$work/oha.json"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d["statusCodeDistribution"]; sys.exit(0 if c.get("200",0)==int(sys.argv[2]) else 1)' \
        "$work/oha.json" "$requests" || { echo "oha: not all 200" >&2; exit 1; }
    cat "$work/t"
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
: > "$work/runs"
for c in $concs; do
    for ((r = 0; r < rounds; r++)); do
        if ((r % 2 == 0)); then order="corral oha"; else order="oha corral"; fi
        for who in $order; do
            echo "$c $r $who $(run_"$who" "$c")" >> "$work/runs"
        done
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$work/runs" "$requests" <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
n = int(sys.argv[2])
print("| -c | corral req/s | oha req/s | corral ÷ oha req/s (median of pairs) | corral CPU/req | oha CPU/req | corral ÷ oha CPU (median of pairs) |")
print("|---|---|---|---|---|---|---|")
for c in dict.fromkeys(r[0] for r in rows):
    by = {w: {int(r[1]): r for r in rows if r[0] == c and r[2] == w} for w in ("corral", "oha")}
    rounds = sorted(by["corral"])
    rps = lambda r: n / float(r[3])
    cpu = lambda r: (float(r[4]) + float(r[5])) / n * 1e6
    ratio = st.median(rps(by["corral"][k]) / rps(by["oha"][k]) for k in rounds)
    cratio = st.median(cpu(by["corral"][k]) / cpu(by["oha"][k]) for k in rounds)
    med = lambda w, f: st.median(f(by[w][k]) for k in rounds)
    print(f"| {c} | {med('corral', rps):,.0f} | {med('oha', rps):,.0f} | {ratio:.2f} | "
          f"{med('corral', cpu):.0f} µs | {med('oha', cpu):.0f} µs | {cratio:.2f} |")
PY
