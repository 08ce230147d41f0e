#!/usr/bin/env bash
# Apache Spark in local mode, 4 partitions, piping each partition through `corral fetch` with
# RDD.pipe against `corral serve` on loopback; then `corral report --check` over the records
# of every partition: N inputs must give exactly N records, each index once.
#
#   scale/spark.sh [INPUTS] [PARTITIONS]     (defaults: 10000 inputs, 4 partitions)
#
# Installs pyspark (pinned) into scale/.venv on first use; needs Java 17 and Python 3.
# Uses $CORRAL, or builds the release binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
inputs=${1:-10000}
partitions=${2:-4}
pyspark_version=4.3.0

if [ -z "${CORRAL:-}" ]; then
    (cd "$here/.." && cargo build -q --release -p corral-cli)
    target=$(cd "$here/.." && cargo metadata -q --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    CORRAL=$target/release/corral
fi
CORRAL=$(realpath "$CORRAL") # the executors run it from directories of their own
command -v java >/dev/null || { echo "spark.sh: Java is required (Spark runs on the JVM)" >&2; exit 1; }
if ! "$here/.venv/bin/python" -c 'import pyspark' 2>/dev/null; then
    python3 -m venv "$here/.venv"
    "$here/.venv/bin/pip" install -q "pyspark==$pyspark_version"
fi

work=$(mktemp -d)
server=
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
"$CORRAL" serve --port 0 > "$work/serve.out" &
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

# Spark binds to loopback only, as everything here: by default it picks the host's address.
export SPARK_LOCAL_IP=127.0.0.1
start=$(date +%s.%N)
if ! "$here/.venv/bin/python" "$here/spark_fetch.py" "$work/urls.txt" "$CORRAL" "$work/records" \
    "$partitions" > "$work/spark.log" 2>&1; then
    tail -n 40 "$work/spark.log" >&2
    echo "spark.sh: the Spark job failed (its log's end is above)" >&2
    exit 1
fi
end=$(date +%s.%N)
sed -n 's/.*\(spark: .*\)/\1/p' "$work/spark.log"
records=$(cat "$work"/records/part-* | wc -l)
echo "spark.sh: $inputs inputs, $records records, $partitions partitions," \
    "wall time $(echo "$end - $start" | bc) s (JVM start included), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$CORRAL" report --check "$inputs" "$work"/records/part-*
