#!/usr/bin/env bash
# Instruction counts of every corral case for two builds of the paired bench, side by side:
#   bench/callgrind_builds.sh OLD_PAIRED_BIN NEW_PAIRED_BIN [N]
# Each case runs once per build under `valgrind --tool=callgrind` (both builds at once), and
# one line per case gives old, new and new/old. Counts do not depend on the machine's load,
# but a case on the 2-worker runtime still moves by a few percent from run to run (which
# worker runs what varies); run it twice before trusting a spawned case's figure.
set -euo pipefail
old=$1 new=$2 n=${3:-10000}
command -v valgrind >/dev/null || { echo "valgrind is required" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count() { grep -o 'Collected : [0-9]*' "$1" | awk '{print $3}'; }
printf '| case | old | new | new ÷ old |\n|---|---|---|---|\n'
for c in $("$new" --list | grep '/corral_'); do
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$old" --case "$c" --n "$n" \
        --warmup 0 --once >/dev/null 2>"$tmp/old" &
    a=$!
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$new" --case "$c" --n "$n" \
        --warmup 0 --once >/dev/null 2>"$tmp/new" &
    b=$!
    wait "$a" "$b"
    o=$(count "$tmp/old") w=$(count "$tmp/new")
    printf '| %s | %s | %s | %s |\n' "$c" "$o" "$w" "$(awk -v o="$o" -v w="$w" 'BEGIN{printf "%.3f", w/o}')"
done
