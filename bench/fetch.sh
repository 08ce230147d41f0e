#!/usr/bin/env bash
# The command's benchmark: `corral fetch` against oha, a Python aiohttp script and curl, all
# against `corral serve` on loopback (client and server share the machine's cores).
#
#  1. 20,000 GETs of /get at concurrency 100 through each client; the clients alternate within
#     each of RUNS rounds; median wall time, requests/s, ratio to corral.
#  2. 1,000 GETs of /delay/0.1 at concurrency 100 (ideal: 1.0 s) through corral, oha, aiohttp.
#  3. Peak RSS (/usr/bin/time -v) of `corral fetch` streaming 10,000 and 1,000,000 input lines.
#
#   bench/fetch.sh [--runs 5] [--requests 20000] [--lines 1000000] [--skip-rss]
#
# Environment: CORRAL_BIN=path uses that binary instead of building corral-cli (release).
# Needs: cargo, python3, curl, /usr/bin/time. Installs oha into bench/.tools (once) and aiohttp
# into bench/.venv. Writes bench/out/fetch/*, and the tables to bench/out/fetch.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/bench/out/fetch"
VENV="$ROOT/bench/.venv"
OHA="$ROOT/bench/.tools/bin/oha"
RUNS=5 REQUESTS=20000 LINES=1000000 SKIP_RSS=0 CONC=100
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift ;;
    --requests) REQUESTS="$2"; shift ;;
    --lines) LINES="$2"; shift ;;
    --skip-rss) SKIP_RSS=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "fetch.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
die() { echo "fetch.sh: $*" >&2; exit 1; }
for tool in python3 curl /usr/bin/time; do
  command -v "$tool" >/dev/null || die "needs $tool"
done
mkdir -p "$OUT"

# ---- tools ----
if [ -n "${CORRAL_BIN:-}" ]; then
  CORRAL="$CORRAL_BIN"
else
  echo "== cargo build --release -p corral-cli" >&2
  cargo build --release -p corral-cli >&2
  CORRAL="${CARGO_TARGET_DIR:-$ROOT/target}/release/corral"
fi
[ -x "$CORRAL" ] || die "no corral binary at $CORRAL"
if [ ! -x "$OHA" ]; then
  echo "== cargo install oha --locked --root bench/.tools (a long build, done once)" >&2
  cargo install oha --locked --root "$ROOT/bench/.tools" >&2
fi
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import aiohttp' 2>/dev/null \
  || "$VENV/bin/pip" install -q --disable-pip-version-check aiohttp uvloop >&2

# ---- the corral flags this script relies on: a usage error (exit 2) means one is missing ----
# (One line that is not a URL: its record is an invalid_input and the exit 1; an empty input
# would itself be a usage error.)
echo "not-a-url" > "$OUT/flagcheck.txt"
set +e
"$CORRAL" fetch -c 1 -i "$OUT/flagcheck.txt" --output jsonl -q > /dev/null 2> "$OUT/flagcheck.err"
rc=$?
set -e
if [ "$rc" = 2 ]; then
  cat "$OUT/flagcheck.err" >&2
  die "'corral fetch -c N -i FILE --output jsonl -q' is a usage error for $CORRAL: this binary lacks a flag the benchmark needs"
fi

# ---- the server: started once, killed by its PID on any exit ----
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$CORRAL" serve --port 0 > "$OUT/serve.log" 2>&1 &
SERVER_PID=$!
BASE=""
for _ in $(seq 1 100); do # at most 10 s
  BASE="$(grep -m1 -o 'listening on http://[^ ]*' "$OUT/serve.log" 2>/dev/null | sed 's/^listening on //' || true)"
  [ -n "$BASE" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT/serve.log" >&2; die "'corral serve --port 0' exited; does this binary have 'serve --port'?"; }
  sleep 0.1
done
[ -n "$BASE" ] || die "'corral serve --port 0' printed no 'listening on http://HOST:PORT' within 10 s"
BASE="${BASE%/}"
echo "== server $BASE (pid $SERVER_PID); load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
curl -sf "$BASE/get" > /dev/null || die "GET $BASE/get failed"

# ---- inputs ----
urls() { # urls PATH COUNT FILE
  python3 -c 'import sys; u=sys.argv[1]; sys.stdout.write((u + "\n") * int(sys.argv[2]))' "$BASE$1" "$2" > "$3"
}
urls /get "$REQUESTS" "$OUT/get.txt"
python3 -c 'import sys; u=sys.argv[1]; n=int(sys.argv[2])
for _ in range(n): print(f"url = \"{u}\"\noutput = \"/dev/null\"")' "$BASE/get" "$REQUESTS" > "$OUT/get.curl"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b - a }'; }
# Each client: run once over the input, check every request succeeded, print the wall seconds.
run_corral() { # FILE COUNT
  local t0 t1 ok
  t0=$(now)
  "$CORRAL" fetch -c "$CONC" -i "$1" --output jsonl -q > "$OUT/corral.jsonl" 2> "$OUT/corral.err" || true
  t1=$(now)
  ok=$(grep -c '"ok": *true' "$OUT/corral.jsonl" || true)
  [ "$ok" = "$2" ] || die "corral fetch: $ok of $2 ok (see $OUT/corral.jsonl, $OUT/corral.err)"
  elapsed "$t0" "$t1"
}
run_oha() { # URL COUNT
  local t0 t1 ok
  t0=$(now)
  "$OHA" -n "$2" -c "$CONC" --no-tui --output-format json "$1" > "$OUT/oha.json"
  t1=$(now)
  ok=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["statusCodeDistribution"].get("200", 0))' "$OUT/oha.json")
  [ "$ok" = "$2" ] || die "oha: $ok of $2 returned 200 (see $OUT/oha.json)"
  elapsed "$t0" "$t1"
}
run_aiohttp() { # FILE COUNT
  local t0 t1
  t0=$(now)
  "$VENV/bin/python" bench/aiohttp_fetch.py "$1" -c "$CONC" 2> "$OUT/aiohttp.err" \
    || die "aiohttp: not every request succeeded ($(cat "$OUT/aiohttp.err"))"
  t1=$(now)
  elapsed "$t0" "$t1"
}
run_curl() { # CONFIG COUNT
  local t0 t1 ok
  t0=$(now)
  curl -s --parallel --parallel-max "$CONC" -K "$1" -w '%{http_code}\n' > "$OUT/curl.codes" || true
  t1=$(now)
  ok=$(grep -c '^200$' "$OUT/curl.codes" || true)
  [ "$ok" = "$2" ] || die "curl: $ok of $2 returned 200"
  elapsed "$t0" "$t1"
}

# ---- 1. throughput: rounds, the clients alternating (the start rotates each round) ----
CLIENTS=(corral oha aiohttp curl)
RUNS_TSV="$OUT/throughput.tsv"
printf 'client\tround\tseconds\tload1\n' > "$RUNS_TSV"
for round in $(seq 1 "$RUNS"); do
  for k in 0 1 2 3; do
    client="${CLIENTS[$(( (k + round - 1) % 4 ))]}"
    load1=$(cut -d' ' -f1 /proc/loadavg)
    case "$client" in
      corral) s=$(run_corral "$OUT/get.txt" "$REQUESTS") ;;
      oha) s=$(run_oha "$BASE/get" "$REQUESTS") ;;
      aiohttp) s=$(run_aiohttp "$OUT/get.txt" "$REQUESTS") ;;
      curl) s=$(run_curl "$OUT/get.curl" "$REQUESTS") ;;
    esac
    printf '%s\t%s\t%s\t%s\n' "$client" "$round" "$s" "$load1" >> "$RUNS_TSV"
    printf '  round %s %-8s %6.3f s (load %s)\n' "$round" "$client" "$s" "$load1" >&2
  done
done

# ---- 2. latency-bound: 1,000 x /delay/0.1 at -c 100, ideal 1.0 s ----
DELAY_N=1000
urls /delay/0.1 "$DELAY_N" "$OUT/delay.txt"
DELAY_TSV="$OUT/delay.tsv"
printf 'client\tround\tseconds\tload1\n' > "$DELAY_TSV"
DCLIENTS=(corral oha aiohttp)
for round in 1 2 3; do
  for k in 0 1 2; do
    client="${DCLIENTS[$(( (k + round - 1) % 3 ))]}"
    load1=$(cut -d' ' -f1 /proc/loadavg)
    case "$client" in
      corral) s=$(run_corral "$OUT/delay.txt" "$DELAY_N") ;;
      oha) s=$(run_oha "$BASE/delay/0.1" "$DELAY_N") ;;
      aiohttp) s=$(run_aiohttp "$OUT/delay.txt" "$DELAY_N") ;;
    esac
    printf '%s\t%s\t%s\t%s\n' "$client" "$round" "$s" "$load1" >> "$DELAY_TSV"
    printf '  delay round %s %-8s %6.3f s\n' "$round" "$client" "$s" >&2
  done
done

# ---- 3. peak RSS of corral fetch streaming many input lines ----
RSS_TSV="$OUT/rss.tsv"
printf 'lines\tmax_rss_kb\tseconds\tok\n' > "$RSS_TSV"
if [ "$SKIP_RSS" = 0 ]; then
  for lines in 10000 "$LINES"; do
    urls /get "$lines" "$OUT/lines.txt"
    echo "== corral fetch over $lines lines under /usr/bin/time -v" >&2
    t0=$(now)
    timeout 1800 /usr/bin/time -v "$CORRAL" fetch -c "$CONC" -i "$OUT/lines.txt" --output jsonl -q \
      2> "$OUT/rss-$lines.time" | grep -c '"ok": *true' > "$OUT/rss-$lines.ok" || true
    t1=$(now)
    kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$OUT/rss-$lines.time")
    [ -n "$kb" ] || die "no RSS figure (see $OUT/rss-$lines.time)"
    printf '%s\t%s\t%s\t%s\n' "$lines" "$kb" "$(elapsed "$t0" "$t1")" "$(cat "$OUT/rss-$lines.ok")" >> "$RSS_TSV"
  done
  rm -f "$OUT/lines.txt"
fi

# ---- tables ----
python3 - "$RUNS_TSV" "$DELAY_TSV" "$RSS_TSV" "$REQUESTS" "$CONC" "$(nproc)" <<'PY' | tee "$ROOT/bench/out/fetch.md"
import csv, statistics, sys
runs, delay, rss, n, conc, nproc = sys.argv[1:]
n = int(n)
def medians(path):
    by = {}
    for r in csv.DictReader(open(path), delimiter="\t"):
        by.setdefault(r["client"], []).append(float(r["seconds"]))
    return {c: (statistics.median(v), len(v)) for c, v in by.items()}
m = medians(runs)
base = n / m["corral"][0]
print(f"### {n:,} GETs of /get at concurrency {conc} (median of {m['corral'][1]} alternating runs; client and server share {nproc} cores)\n")
print("| client | median time | requests/s | ratio to corral (req/s) |")
print("|---|---|---|---|")
for c, (t, k) in m.items():
    print(f"| {c} | {t:.3f} s | {n / t:,.0f} | {n / t / base:.2f}× |")
d = medians(delay)
print(f"\n### 1,000 GETs of /delay/0.1 at concurrency {conc} (ideal 1.0 s; median of {d['corral'][1]} runs)\n")
print("| client | median time | over the ideal |")
print("|---|---|---|")
for c, (t, k) in d.items():
    print(f"| {c} | {t:.3f} s | +{(t - 1.0) * 1000:.0f} ms |")
rows = list(csv.DictReader(open(rss), delimiter="\t"))
if rows:
    print("\n### Peak RSS of `corral fetch` streaming its input\n")
    print("| input lines | peak RSS | time | ok records |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {int(r['lines']):,} | {int(r['max_rss_kb']) / 1024:.1f} MiB | {float(r['seconds']):.1f} s | {int(r['ok']):,} |")
PY
