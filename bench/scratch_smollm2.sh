#!/usr/bin/env bash
# Baseline (d) of issue 23: each compressed member's architecture trained FROM SCRATCH (random
# init, cross-entropy, no teacher) on the same token budget its distillation had, to show what
# the pruned weights and the teacher are worth. bench/gradual_smollm2.sh's corpus (prose without
# inaugural/), batches of 8 x 256, bf16 matrix products, AdamW at zip train's defaults (peak lr
# 1e-3, cosine to 1e-4) plus 5 % warm-up.
#   bench/scratch_smollm2.sh FAMILY_DIR [TOKENS=176128]
# FAMILY_DIR: a compress -o folder (e.g. $BENCH_DIR/gradual-smollm2/minitron); every member
# (*.zlm, not -failed) gets DIR/scratch/<member>.zlm and its wikitext-2 perplexity (first 65,536
# tokens, stream, ctx 512, stride 512: compress --eval's protocol). Resumable: a finished member
# is skipped, a killed training continues from its checkpoint (every 16 steps).
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -ge 1 ] || { echo "usage: bench/scratch_smollm2.sh FAMILY_DIR [TOKENS]" >&2; exit 2; }
DIR=$1; TOKENS=${2:-176128}; THREADS=${THREADS:-2}
M=$(model_zlm smollm2-135m)
DATA="$BENCH_DIR/gradual-smollm2/prose-train.bin"
if [ ! -f "$DATA" ]; then
  mapfile -t FILES < <(find "$SHARED/data/prose" -name '*.txt' -not -path '*/inaugural/*' | sort)
  "$ZIP" tokenize "$M" "${FILES[@]}" -o "$DATA"
fi
STEPS=$(( (TOKENS + 2047) / 2048 ))
mkdir -p "$DIR/scratch"
for m in "$DIR"/*.zlm; do
  case $m in *-failed.zlm) continue ;; esac
  name=$(basename "$m" .zlm); out="$DIR/scratch/$name.zlm"
  if [ ! -f "$out" ]; then
    "$ZIP" inspect "$m" --json | python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)['config']))" > "$DIR/scratch/$name.config.json"
    resume=(); [ -d "$DIR/scratch/$name.ckpt" ] && resume=(--resume "$DIR/scratch/$name.ckpt")
    "$ZIP" train --config "$DIR/scratch/$name.config.json" --tokenizer "$M" --data "$DATA" --steps "$STEPS" \
      --batch 8 --seq 256 --warmup $(( STEPS / 20 )) --precision bf16 --ckpt-every 16 --ckpt "$DIR/scratch/$name.ckpt" \
      --eval-every 1000000 -t "$THREADS" -o "$out" "${resume[@]}"
  fi
  echo "$name from scratch ($((STEPS * 2048)) tokens): $("$ZIP" eval "$out" --ppl "$SHARED/data/wikitext-2-raw/wiki.test.raw" --ctx 512 --stride 512 --max-tokens 65536 -t "$THREADS" 2>/dev/null | grep -o "perplexity [0-9.]*")"
done
