#!/usr/bin/env bash
# Recovery by distillation (issue 22's demonstration, docs/BENCHMARKS.md "Distillation recovers a
# pruned SmolLM2"): a SmolLM2-135M member distilled from the dense model on prose, wikitext-2
# perplexity (stream, ctx 512, stride 512, first 65,536 tokens) before and after, and the wall time.
#   bench/distill_smollm2.sh MEMBER.zlm [STEPS=256] [THREADS=2] [PRECISION=bf16]
# Data: ../shared/data/prose without inaugural/ (held out: the validation set of the run);
# B×T = 8×256 = 2,048 tokens per step (256 steps = 524,288 tokens). Checkpoints every 16 steps:
# rerunning the same command after a kill resumes (distill --resume).
# Output: $BENCH_DIR/kd-<member>/ (distilled.zlm, log.jsonl, eval-before.txt, eval-after.txt).
set -euo pipefail
source "$(dirname "$0")/common.sh"
MEMBER=${1:?usage: bench/distill_smollm2.sh MEMBER.zlm [STEPS] [THREADS] [PRECISION]}
STEPS=${2:-256}; THREADS=${3:-2}; PRECISION=${4:-bf16}
DENSE=$(model_zlm smollm2-135m)
OUT="$BENCH_DIR/kd-$(basename "$MEMBER" .zlm)"
mkdir -p "$OUT"
WIKI="$SHARED/data/wikitext-2-raw/wiki.test.raw"
ppl() { "$ZIP" eval "$1" --ppl "$WIKI" --ctx 512 --stride 512 --max-tokens 65536 -t "$THREADS"; }

if [ ! -f "$OUT/train.bin" ]; then
  mapfile -t FILES < <(find "$SHARED/data/prose" -name '*.txt' -not -path '*/inaugural/*' | sort)
  "$ZIP" tokenize "$DENSE" "${FILES[@]}" -o "$OUT/train.bin"
  "$ZIP" tokenize "$DENSE" "$SHARED"/data/prose/inaugural/*.txt -o "$OUT/val.bin"
fi
[ -f "$OUT/eval-before.txt" ] || ppl "$MEMBER" | tee "$OUT/eval-before.txt"

RESUME=(); [ -d "$OUT/distilled.zlm.ckpt" ] && RESUME=(--resume "$OUT/distilled.zlm.ckpt")
start=$(date +%s)
"$ZIP" distill --teacher "$DENSE" --student "$MEMBER" --data "$OUT/train.bin" --val "$OUT/val.bin" \
  -o "$OUT/distilled.zlm" --steps "$STEPS" --batch 8 --seq 256 --lr 3e-4 --min-lr 3e-5 --warmup 16 \
  --wd 0 --clip 1 --seed 1 --eval-every 64 --eval-batches 8 --ckpt-every 16 --log "$OUT/log.jsonl" \
  --precision "$PRECISION" -t "$THREADS" "${RESUME[@]}"
echo "distillation wall time (this invocation): $(( $(date +%s) - start )) s"
ppl "$OUT/distilled.zlm" | tee "$OUT/eval-after.txt"
