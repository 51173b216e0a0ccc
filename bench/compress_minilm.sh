#!/usr/bin/env bash
# all-MiniLM-L6-v2 ZipLM family against the no-update and magnitude baselines (docs/BENCHMARKS.md,
# "ZipLM MiniLM family"): batch-16 prefill of 128-token sequences, targets 1.5 and 2, whole-sentence
# calibration windows (the default for a model that pools), STS-B dev Spearman in the report.
#   bench/compress_minilm.sh [SEEDS="1 2 3"]
# Model: tools/fetch-models.sh all-minilm-l6-v2 (f32). Output: $BENCH_DIR/minilm-seedS/ per seed
# (members, report.json/.md/.svg); database and latency table cached in $BENCH_DIR/db.
set -euo pipefail
source "$(dirname "$0")/common.sh"
SEEDS=${1:-"1 2 3"}
M=$(model_zlm minilm)
for s in $SEEDS; do
  OUT="$BENCH_DIR/minilm-seed$s"
  time "$ZIP" compress "$M" --calib "$SHARED/data/prose" --calib-sentences --calib-len 64 --calib-samples 1024 \
    --heldout 64 --search-windows 64 --probe-windows 32 --speedup 1.5,2 \
    --env cpu:threads=2,batch=16,ctx=128,phase=prefill --baselines no-update,magnitude \
    --eval "$SHARED/data/tasks/stsb/dev.tsv" --db "$BENCH_DIR/db" --keep-db --allow-miss --seed "$s" -o "$OUT"
  cat "$OUT/report.md"
done
