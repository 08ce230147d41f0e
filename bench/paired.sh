#!/usr/bin/env bash
# The paired measurement: every comparison side by side in one run, quoted as the median of
# per-round ratios, with the load average next to each figure.
#   1. corral against its bar peer (corral/benches/paired.rs: A B / B A rounds in one process);
#   2. corral against asyncio (bench/paired_asyncio.py: one process per run, alternating);
#   3. bytes per task (corral/benches/alloc.rs: each corral case next to its bar);
#   4. the tables of BENCHMARKS.md (bench/paired_report.py).
# Writes OUT/{paired_meta,paired_peers,paired_asyncio,alloc}.json and OUT/paired_report.md.
#
#   bench/paired.sh [--n 100000] [--rounds 30] [--py-rounds 10] [--warmup 1] [--filter SUBSTR]
#                   [--loops asyncio,uvloop] [--python PATH] [--out bench/out] [--baseline DIR]
#                   [--skip-peers] [--skip-asyncio] [--skip-alloc]
#
# --filter applies to both kinds of pair ('MODE/CASE vs PEER'; 'MODE/CASE vs ASYNCIO_CASE').
# --python defaults to bench/.venv/bin/python, which is created with uvloop when missing.
# --baseline DIR: an earlier OUT to check each ratio against (cp -r bench/out bench/out.before).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N=100000 ROUNDS=30 PY_ROUNDS=10 WARMUP=1 FILTER="" LOOPS="" PYTHON="" OUT="$ROOT/bench/out" BASELINE=""
SKIP_PEERS=0 SKIP_PY=0 SKIP_ALLOC=0
while [ $# -gt 0 ]; do
  case "$1" in
    --n|--rounds|--py-rounds|--warmup|--filter|--loops|--python|--out|--baseline)
      [ $# -ge 2 ] || { echo "paired.sh: $1 needs a value" >&2; exit 2; } ;;
  esac
  case "$1" in
    --n) N="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --py-rounds) PY_ROUNDS="$2"; shift ;;
    --warmup) WARMUP="$2"; shift ;;
    --filter) FILTER="$2"; shift ;;
    --loops) LOOPS="$2"; shift ;;
    --python) PYTHON="$2"; shift ;;
    --out) OUT="$(mkdir -p "$2" && cd "$2" && pwd)"; shift ;;
    --baseline) BASELINE="$(cd "$2" && pwd)"; shift ;;
    --skip-peers) SKIP_PEERS=1 ;;
    --skip-asyncio) SKIP_PY=1 ;;
    --skip-alloc) SKIP_ALLOC=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "paired.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT"
cd "$ROOT"
load() { cut -d' ' -f1-3 /proc/loadavg; }

if [ -z "$PYTHON" ]; then
  PYTHON="$ROOT/bench/.venv/bin/python"
  if [ ! -x "$PYTHON" ]; then
    echo "== creating bench/.venv with uvloop" >&2
    python3 -m venv "$ROOT/bench/.venv"
    "$ROOT/bench/.venv/bin/pip" install -q --disable-pip-version-check uvloop
  fi
fi

echo "== building the paired and alloc benches (load: $(load))" >&2
BINS="$(cargo bench -p tokio-corral --bench paired --bench alloc --no-run --message-format=json \
  | "$PYTHON" -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["bench"]:
        print(m["target"]["name"], m["executable"])')"
PAIRED="$(awk '$1 == "paired" {print $2}' <<<"$BINS")"
ALLOC="$(awk '$1 == "alloc" {print $2}' <<<"$BINS")"

commit="$(git rev-parse --short HEAD)"
git diff --quiet HEAD -- corral || commit="$commit (with uncommitted changes in corral/)"
printf '{"commit": "%s", "date": "%s", "nproc": %s, "loadavg": "%s"}\n' \
  "$commit" "$(date -u +%FT%TZ)" "$(nproc)" "$(load)" > "$OUT/paired_meta.json"

if [ "$SKIP_PEERS" = 0 ]; then
  echo "== corral against its bar: N = $N, $ROUNDS rounds (load: $(load))" >&2
  "$PAIRED" --n "$N" --rounds "$ROUNDS" ${FILTER:+--filter "$FILTER"} --json "$OUT/paired_peers.json"
fi
if [ "$SKIP_PY" = 0 ]; then
  echo "== corral against asyncio: N = $N, $PY_ROUNDS rounds (load: $(load))" >&2
  "$PYTHON" bench/paired_asyncio.py --bin "$PAIRED" --python "$PYTHON" --n "$N" --rounds "$PY_ROUNDS" \
    --warmup "$WARMUP" ${LOOPS:+--loops "$LOOPS"} ${FILTER:+--filter "$FILTER"} --json "$OUT/paired_asyncio.json"
fi
if [ "$SKIP_ALLOC" = 0 ]; then
  echo "== bytes per task (N = 10,000 and 100,000) (load: $(load))" >&2
  # the alloc bench filters on MODE/NAME: a pair filter like 'taskgroup' carries over
  "$ALLOC" ${FILTER:+"${FILTER%% vs *}"} --json "$OUT/alloc.json"
fi
"$PYTHON" bench/paired_report.py --out "$OUT" ${BASELINE:+--baseline "$BASELINE"} | tee "$OUT/paired_report.md"
