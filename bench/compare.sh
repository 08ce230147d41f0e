#!/usr/bin/env bash
# Runs the library benchmark on both sides and prints one table of ratios:
#   Rust: cargo bench -p tokio-corral --bench coord (criterion) and --bench alloc (bytes per task);
#   Python: bench/asyncio_coord.py on the default loop and on uvloop.
# Installs what it needs into bench/.venv (uvloop, aiohttp, matplotlib), then writes
# bench/out/{asyncio.json,rust_meta.json,report.md} and the plot bench/coord.png.
#
#   bench/compare.sh [--skip-rust] [--skip-python] [CRITERION_FILTER]
#
# Its ratios are of medians taken minutes apart: the ratios to quote come from bench/paired.sh.
#
# --skip-rust reuses the criterion results already in target/criterion.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/bench/.venv"
OUT="$ROOT/bench/out"
SKIP_RUST=0 SKIP_PY=0 FILTER=""
for a in "$@"; do
  case "$a" in
    --skip-rust) SKIP_RUST=1 ;;
    --skip-python) SKIP_PY=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "compare.sh: unknown flag $a" >&2; exit 2 ;;
    *) FILTER="$a" ;;
  esac
done
mkdir -p "$OUT"

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV" >&2
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import uvloop, aiohttp, matplotlib' 2>/dev/null; then
  echo "== pip install uvloop aiohttp matplotlib" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check uvloop aiohttp matplotlib
fi

load() { cut -d' ' -f1-3 /proc/loadavg; }

if [ "$SKIP_RUST" = 0 ]; then
  echo "== cargo bench -p tokio-corral --bench coord (load before: $(load))" >&2
  before="$(load)"
  cargo bench -p tokio-corral --bench coord -- ${FILTER:+"$FILTER"}
  after="$(load)"
  echo "== cargo bench -p tokio-corral --bench alloc" >&2
  cargo bench -p tokio-corral --bench alloc -- ${FILTER:+"$FILTER"}
  printf '{"nproc": %s, "loadavg_before": "%s", "loadavg_after": "%s", "date": "%s"}\n' \
    "$(nproc)" "$before" "$after" "$(date -u +%FT%TZ)" > "$OUT/rust_meta.json"
fi

if [ "$SKIP_PY" = 0 ]; then
  echo "== bench/asyncio_coord.py (load before: $(load))" >&2
  "$VENV/bin/python" bench/asyncio_coord.py --rss --json "$OUT/asyncio.json"
fi

"$VENV/bin/python" bench/plot.py -o "$ROOT/bench/coord.png" >&2
"$VENV/bin/python" bench/report.py --asyncio "$OUT/asyncio.json" --meta "$OUT/rust_meta.json" | tee "$OUT/report.md"
