#!/usr/bin/env bash
# Minitron on all-MiniLM-L6-v2 (issue 23, the encoder line): --method minitron --speedup 1.5 with
# KD on prose, STS-B dev Spearman beside ZipLM's (bench/gradual_minilm.sh, bench/compress_minilm.sh)
# and the dense model's. Env and calibration exactly as those scripts: batch-16 prefill of
# 128-token sequences on 2 threads, whole-sentence calibration windows of 64 tokens (1,024
# samples, 64 held out, 64 search windows), the latency table cached in $BENCH_DIR/db.
#   bench/minitron_minilm.sh [TOKENS_PER_MEMBER=65536] [NAS_STEPS=32] [SEED=1] [TARGETS=1.5]
# The member is distilled on TOKENS_PER_MEMBER (whole steps of 8 x 64 tokens: 65,536 = 128 steps),
# pruned afresh from the dense model, as gradual_minilm.sh's members are, on the calibration
# windows minus the held-out ones: the same data and budget, so the Spearman figures sit side by
# side. The search before it distils its 4 finalists NAS_STEPS steps each (default 32: the four
# short runs together cost the member's budget; the paper finds rankings settle early). Hidden
# size kept (encoders: docs/COMPRESS.md); loss: the encoder form of docs/METHODS.md 2.8 / 3.5.
# Resumable: rerunning continues an unfinished run (compress --resume).
# Output: $BENCH_DIR/minitron-minilm/ (member, report.json/.md/.svg with the candidate table).
set -euo pipefail
source "$(dirname "$0")/common.sh"
PER=${1:-65536}; NAS_STEPS=${2:-32}; SEED=${3:-1}; TARGETS=${4:-1.5}
M=$(model_zlm minilm)
OUT="$BENCH_DIR/minitron-minilm"
resume=()
if [ -f "$OUT/run-state.json" ]; then
  if grep -q '"complete": false' "$OUT/run-state.json"; then resume=(--resume); else echo "minitron-minilm: done"; cat "$OUT/report.md"; exit 0; fi
fi
time "$ZIP" compress "$M" --method minitron --calib "$SHARED/data/prose" --calib-sentences --calib-len 64 --calib-samples 1024 \
  --heldout 64 --search-windows 64 --speedup "$TARGETS" \
  --env cpu:threads=2,batch=16,ctx=128,phase=prefill \
  --nas-probe 32 --nas-candidates 4 --nas-steps "$NAS_STEPS" \
  --distill-tokens "$PER" --distill-batch 8 \
  --eval "$SHARED/data/tasks/stsb/dev.tsv" --db "$BENCH_DIR/db" --keep-db --allow-miss --seed "$SEED" -o "$OUT" "${resume[@]}"
cat "$OUT/report.md"
