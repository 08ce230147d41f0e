#!/usr/bin/env bash
# N shards of one input under GNU parallel, against `corral serve` on loopback, then
# `corral report --check`: every input must have exactly one record across the shards.
#
#   examples/parallel/shards.sh [INPUTS] [SHARDS]     (defaults: 20000 inputs, 4 shards)
#
# Uses target/release/corral (cargo build --release), or $CORRAL.
set -euo pipefail
inputs=${1:-20000}
shards=${2:-4}
corral=${CORRAL:-$(dirname "$0")/../../target/release/corral}
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

"$corral" serve --port 0 > "$work/serve.out" &
server=$!
until grep -q listening "$work/serve.out" 2>/dev/null; do sleep 0.05; done
base=$(sed -n 's/^listening on //p' "$work/serve.out")

# A mix: fast answers, slow ones, failures.
for ((i = 0; i < inputs; i++)); do
  case $((i % 10)) in
    0) echo "$base/delay/0.05?i=$i" ;;
    1) echo "$base/status/500?i=$i" ;;
    *) echo "$base/get?i=$i" ;;
  esac
done > "$work/urls.txt"

start=$(date +%s.%N)
# Shard numbers 0..N-1 as arguments: GNU parallel's {%} and {#} count from 1, and {%} (the
# job slot) is reused as jobs end.
seq 0 $((shards - 1)) | parallel -j"$shards" \
  "'$corral' fetch -q -c 50 -i '$work/urls.txt' --shard {}/$shards -o jsonl > '$work/shard-{}.jsonl' || [ \$? -eq 1 ]"
end=$(date +%s.%N)
echo "$inputs inputs, $shards shards under GNU parallel: $(echo "$end - $start" | bc) s"
"$corral" report --check "$inputs" "$work"/shard-*.jsonl
