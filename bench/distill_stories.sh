#!/usr/bin/env bash
# Distils stories260K into its sliced student (../shared/golden/stories260K-sliced "slice":
# fewer heads and FFN neurons) for 1000 steps on tokens sampled from the teacher (--synthetic),
# then reports, before and after: the student's KL to the teacher and its perplexity on the
# held-out TinyStories subset (zip eval --ppl --lines --ref).
# Usage: bench/distill_stories.sh [THREADS]   (run from the repository root; needs build/zip)
set -euo pipefail
ZIP=${ZIP_BIN:-build/zip}
SHARED=${ZIP_SHARED:-../shared}
THREADS=${1:-$(nproc)}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
TEXT="$SHARED/data/tinystories/TinyStories-valid-subset.txt"

"$ZIP" convert "$SHARED/models/stories260K/stories260K.bin" -o "$W/teacher.zlm" >/dev/null
"$ZIP" slice "$W/teacher.zlm" --spec "$SHARED/golden/stories260K-sliced/index.json" -o "$W/student.zlm" >/dev/null
echo "teacher:"
"$ZIP" eval "$W/teacher.zlm" --ppl "$TEXT" --lines -t "$THREADS"
echo "sliced student, before distillation:"
"$ZIP" eval "$W/student.zlm" --ppl "$TEXT" --lines --ref "$W/teacher.zlm" -t "$THREADS"
"$ZIP" distill --teacher "$W/teacher.zlm" --student "$W/student.zlm" --synthetic 200000 -o "$W/distilled.zlm" \
  --steps 1000 --batch 8 --seq 128 --lr 2e-3 --warmup 50 --wd 0 --seed 1 -t "$THREADS" --log "$W/d.log.jsonl"
echo "sliced student, after 1000 distillation steps:"
"$ZIP" eval "$W/distilled.zlm" --ppl "$TEXT" --lines --ref "$W/teacher.zlm" -t "$THREADS"
