#!/usr/bin/env bash
# corral fetch against oha (and curl --parallel and aiohttp) at several concurrencies, paired:
# for each concurrency and round every client runs once, the order rotating each round, on one
# `corral serve` on loopback. Reports, per concurrency, the median requests/s and CPU per
# request (user + sys, from /usr/bin/time) of each client, and the median of the paired ratios
# to corral. Writes every run to bench/out/fetch_sweep.tsv (bench/plot_sweep.py charts it).
#
#   bench/fetch_sweep.sh [REQUESTS] [ROUNDS] [CONCURRENCIES]   (defaults: 20000 5 "10 100 1000")
#
# Environment: CORRAL_BIN (default: target/release/corral), OHA_BIN (default:
# bench/.tools/bin/oha, installed by bench/fetch.sh), CLIENTS (default "corral oha curl
# aiohttp"; aiohttp from bench/.venv, which bench/fetch.sh makes; "base" is a second corral
# binary, BASE_BIN, run the same way: a build to compare against). Client and server share the
# machine.
set -euo pipefail
ulimit -n "$(ulimit -Hn)" # -c 1000 needs more descriptors than the usual soft limit
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
requests=${1:-20000} rounds=${2:-5} concs=${3:-"10 100 1000"}
corral=${CORRAL_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/corral}
oha=${OHA_BIN:-$ROOT/bench/.tools/bin/oha}
read -r -a clients <<< "${CLIENTS:-corral oha curl aiohttp}"
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
python3 -c 'import sys
for _ in range(int(sys.argv[2])): print(f"url = \"{sys.argv[1]}\"\noutput = \"/dev/null\"")' "$url" "$requests" \
    > "$work/curl.cfg"

# One run: prints "wall user sys" (seconds); fails if not every request got a 200.
run_corral() {
    /usr/bin/time -f '%e %U %S' -o "$work/t" "$corral" fetch -q -c "$1" -i "$work/urls.txt" \
        -o jsonl > "$work/out.jsonl"
    [ "$(grep -c '"status":200' "$work/out.jsonl")" = "$requests" ] || { echo "corral: not all 200" >&2; exit 1; }
    cat "$work/t"
}
run_base() { corral=$BASE_BIN run_corral "$@"; }
run_oha() {
    /usr/bin/time -f '%e %U %S' -o "$work/t" "$oha" -n "$requests" -c "$1" --no-tui \
        --output-format json "$url" > "$work/oha.json"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d["statusCodeDistribution"]; sys.exit(0 if c.get("200",0)==int(sys.argv[2]) else 1)' \
        "$work/oha.json" "$requests" || { echo "oha: not all 200" >&2; exit 1; }
    cat "$work/t"
}
run_curl() {
    /usr/bin/time -f '%e %U %S' -o "$work/t" curl -s --parallel --parallel-max "$1" \
        -K "$work/curl.cfg" -w '%{http_code}\n' > "$work/curl.codes" 2> /dev/null || true
    [ "$(grep -c '^200$' "$work/curl.codes")" = "$requests" ] || { echo "curl: not all 200" >&2; exit 1; }
    cat "$work/t"
}
run_aiohttp() {
    /usr/bin/time -f '%e %U %S' -o "$work/t" "$ROOT/bench/.venv/bin/python" \
        "$ROOT/bench/aiohttp_fetch.py" "$work/urls.txt" -c "$1" 2> /dev/null \
        || { echo "aiohttp: not all 200" >&2; exit 1; }
    cat "$work/t"
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
mkdir -p "$ROOT/bench/out"
tsv="$ROOT/bench/out/fetch_sweep.tsv"
printf 'concurrency\tround\tclient\twall_s\tuser_s\tsys_s\n' > "$tsv"
for c in $concs; do
    for ((r = 0; r < rounds; r++)); do
        for ((i = 0; i < ${#clients[@]}; i++)); do
            who=${clients[$(((i + r) % ${#clients[@]}))]}
            read -r wall user sys < <(run_"$who" "$c")
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$r" "$who" "$wall" "$user" "$sys" >> "$tsv"
        done
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$tsv" "$requests" <<'PY'
import csv, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
n = int(sys.argv[2])
rps = lambda r: n / float(r["wall_s"])
cpu = lambda r: (float(r["user_s"]) + float(r["sys_s"])) / n * 1e6
print("| -c | client | req/s | req/s ÷ corral (median of pairs) | CPU/req | CPU ÷ corral (median of pairs) |")
print("|---|---|---|---|---|---|")
for c in dict.fromkeys(r["concurrency"] for r in rows):
    by = {}
    for r in rows:
        if r["concurrency"] == c:
            by.setdefault(r["client"], {})[r["round"]] = r
    base = by["corral"]
    for who, runs in by.items():
        ks = sorted(runs)
        ratio = st.median(rps(runs[k]) / rps(base[k]) for k in ks)
        cratio = st.median(cpu(runs[k]) / cpu(base[k]) for k in ks)
        print(f"| {c} | {who} | {st.median(rps(runs[k]) for k in ks):,.0f} | {ratio:.2f} | "
              f"{st.median(cpu(runs[k]) for k in ks):.0f} µs | {cratio:.2f} |")
PY
