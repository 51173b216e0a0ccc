#!/usr/bin/env bash
# Decode throughput of `zip run` (tokens/s of the generation phase, as printed by zip run),
# median and min-max of REPS runs, for each thread count.
#   bench/decode.sh [MODEL.zlm] [N_TOKENS=200] [REPS=5] [THREADS="1 2"]
# MODEL defaults to stories260K (../shared), converted into $BENCH_DIR (bench/common.sh).
# Output: one summary line per thread count on stdout.
set -euo pipefail
source "$(dirname "$0")/common.sh"
MODEL=${1:-}; N=${2:-200}; REPS=${3:-5}; THREADS=${4:-"1 2"}
[ -n "$MODEL" ] || MODEL=$(model_zlm stories260k)
for t in $THREADS; do
  vals=()
  for ((i = 0; i < REPS; i++)); do
    v=$("$ZIP" run "$MODEL" -n "$N" --temp 0 -t "$t" 2>&1 >/dev/null | sed -n 's/.*generated: [0-9]* tokens, \([0-9.]*\) tok\/s.*/\1/p')
    vals+=("$v")
  done
  printf '%s\n' "${vals[@]}" | sort -g | awk -v t="$t" -v n="$N" '{a[NR]=$1} END {
    printf "threads %s: decode %d tokens: median %.0f tok/s (min %.0f, max %.0f, %d runs)\n", t, n, a[int((NR+1)/2)], a[1], a[NR], NR }'
done
