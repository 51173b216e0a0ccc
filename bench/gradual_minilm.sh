#!/usr/bin/env bash
# Distilled all-MiniLM-L6-v2 families (issue 24), in the env of bench/compress_minilm.sh (batch-16
# prefill of 128-token sequences, whole-sentence calibration windows, STS-B dev Spearman):
#   (a) one-shot ZipLM 1.5 and 2, then each member distilled  (--distill-tokens; the report's
#       "before" column is the plain one-shot member)
#   (b) gradual ZipLM 1.5 -> 2: the 2x member pruned from the distilled 1.5x member (--gradual)
#   bench/gradual_minilm.sh [TOKENS_PER_MEMBER=65536] [RUNS=a,b] [SEED=1]
# Every member of both families is distilled on the same TOKENS_PER_MEMBER (rounded up to whole
# steps of 8 x 64 tokens: 65,536 = 128 steps), from the dense model, on the calibration windows
# minus the held-out ones (1,024 sentences, ~32k tokens: 65,536 tokens are two passes). Loss: the
# encoder form of docs/METHODS.md 2.8 (cosine of the last layer's token outputs + alpha * per-layer
# cosine). Resumable: rerunning continues an unfinished family (compress --resume).
# Output: $BENCH_DIR/gradual-minilm/{oneshot,gradual}/ (members, report.json/.md/.svg).
set -euo pipefail
source "$(dirname "$0")/common.sh"
PER=${1:-65536}; RUNS=${2:-a,b}; SEED=${3:-1}
M=$(model_zlm minilm)
ROOT="$BENCH_DIR/gradual-minilm"
mkdir -p "$ROOT"

family() {  # NAME, then the flags that make it
  local name=$1 out="$ROOT/$1"; shift
  local resume=()
  [ -f "$out/run-state.json" ] && grep -q '"complete": false' "$out/run-state.json" && resume=(--resume)
  [ -f "$out/run-state.json" ] && ! grep -q '"complete": false' "$out/run-state.json" && { echo "$name: done"; return 0; }
  time "$ZIP" compress "$M" --calib "$SHARED/data/prose" --calib-sentences --calib-len 64 --calib-samples 1024 \
    --heldout 64 --search-windows 64 --probe-windows 32 --speedup 1.5,2 \
    --env cpu:threads=2,batch=16,ctx=128,phase=prefill "$@" \
    --distill-tokens "$PER" --distill-batch 8 --distill-ckpt-every 32 \
    --eval "$SHARED/data/tasks/stsb/dev.tsv" --db "$BENCH_DIR/db" --keep-db --allow-miss --seed "$SEED" -o "$out" "${resume[@]}"
  sed -n '/## Distillation/,/wall time in all/p' "$out/report.md"
}

case ",$RUNS," in *,a,*) family oneshot ;; esac
case ",$RUNS," in *,b,*) family gradual --gradual ;; esac
