#!/usr/bin/env bash
# Prefill and decode throughput of SmolLM2-135M-Instruct with `zip bench` (docs/BENCHMARKS.md,
# "Inference speed"): f32 and bf16 weights, batch 1 and 4, prompt 128, 32 generated tokens,
# 3 timed repetitions after 1 warm-up, for each thread count.
#   bench/inference_smollm2.sh [THREADS="1 2"] [REPS=3]
# Model: tools/fetch-models.sh smollm2-135m-instruct, converted into $BENCH_DIR (bench/common.sh).
# Output: one JSON line per (dtype, threads) in $BENCH_DIR/inference_smollm2.jsonl, and the
# human-readable table on stdout.
set -euo pipefail
source "$(dirname "$0")/common.sh"
THREADS=${1:-"1 2"}; REPS=${2:-3}
LOG="$BENCH_DIR/inference_smollm2.jsonl"; : >"$LOG"
for dtype in f32 bf16; do
  M=$(model_zlm smollm2-135m "$dtype")
  for t in $THREADS; do
    echo "== $dtype, $t threads"
    "$ZIP" bench "$M" --batch 1,4 --prompt 128 --gen 32 --reps "$REPS" --warmup 1 -t "$t"
    "$ZIP" bench "$M" --batch 1,4 --prompt 128 --gen 32 --reps "$REPS" --warmup 1 -t "$t" --json >>"$LOG"
  done
done
echo "json: $LOG"
