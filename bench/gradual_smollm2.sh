#!/usr/bin/env bash
# Distilled SmolLM2-135M families under one total distillation budget (issue 24):
#   (a) one-shot ZipLM, then each member distilled      (--distill-tokens)
#   (b) gradual ZipLM: each target pruned from the previous distilled member (--gradual)
#   (c) uniform pruning, then each member distilled     (--method uniform --distill-tokens)
#   (m) Minitron (issue 23): importance, uniform shapes, a small search ranked by short KD
#       (16 probed, 3 distilled 32 steps each: 196,608 tokens per target ON TOP of the budget,
#       reported as the search's cost), the winner distilled on the same per-member budget
#   bench/gradual_smollm2.sh [TARGETS=1.25,1.5,2] [TOTAL_TOKENS=524288] [RUNS=a,b,c] (m: opt in)
# Budget: TOTAL_TOKENS shared alike by every family: each of its n members (gradual steps) gets
# TOTAL_TOKENS / n, rounded up to whole steps of 8 × 256 tokens (default: 3 members × 174,763 →
# 86 steps = 176,128 tokens each, 528,384 in all). Data: ../shared/data/prose without inaugural/
# (tokenized once); calibration: the same prose at 512 tokens. Env: decode, 256 cached tokens,
# batch 1, 2 threads. Wikitext-2 perplexity (first 65,536 tokens) of every member before and
# after distillation in each report; zero-shot tasks: zip eval --tasks on the members afterwards.
# PRECISION (default bf16, as bench/distill_smollm2.sh) is --distill-precision. EVAL_TOKENS
# (default 65536) shortens the perplexity text for a quick check; CKPT_EVERY (default 32 steps,
# 65,536 tokens, 1.6 GB written each) sets the checkpoint interval. Hours on 2 CPU
# threads. Resumable: rerunning the same command continues each unfinished family where it
# stopped (compress --resume: kept members, the interrupted distillation's checkpoint).
# Output: $BENCH_DIR/gradual-smollm2/{oneshot,gradual,uniform}/ (members, report.json/.md/.svg).
set -euo pipefail
source "$(dirname "$0")/common.sh"
TARGETS=${1:-1.25,1.5,2}; TOTAL=${2:-524288}; RUNS=${3:-a,b,c}; EVAL_TOKENS=${EVAL_TOKENS:-65536}; CKPT_EVERY=${CKPT_EVERY:-32}; PRECISION=${PRECISION:-bf16}
M=$(model_zlm smollm2-135m)
ROOT="$BENCH_DIR/gradual-smollm2"
mkdir -p "$ROOT"
n=$(echo "$TARGETS" | tr ',' '\n' | grep -c .)
PER=$(( (TOTAL + n - 1) / n ))
DATA="$ROOT/prose-train.bin"
if [ ! -f "$DATA" ]; then
  mapfile -t FILES < <(find "$SHARED/data/prose" -name '*.txt' -not -path '*/inaugural/*' | sort)
  "$ZIP" tokenize "$M" "${FILES[@]}" -o "$DATA"
fi
echo "budget: $TOTAL tokens per family, $PER per member ($n members)"

family() {  # NAME, then the flags that make it
  local name=$1 out="$ROOT/$1"; shift
  local resume=()
  [ -f "$out/run-state.json" ] && grep -q '"complete": false' "$out/run-state.json" && resume=(--resume)
  [ -f "$out/run-state.json" ] && ! grep -q '"complete": false' "$out/run-state.json" && { echo "$name: done"; return 0; }
  time "$ZIP" compress "$M" --calib "$SHARED/data/prose" --calib-len 512 --speedup "$TARGETS" \
    --env cpu:threads=2,batch=1,ctx=256,phase=decode "$@" \
    --distill-tokens "$PER" --distill-data "$DATA" --distill-batch 8 --distill-seq 256 --distill-ckpt-every "$CKPT_EVERY" --distill-precision "$PRECISION" \
    --eval "$SHARED/data/wikitext-2-raw/wiki.test.raw" --eval-tokens "$EVAL_TOKENS" --db "$BENCH_DIR/db" --keep-db --allow-miss -o "$out" "${resume[@]}"
  sed -n '/## Distillation/,/wall time in all/p' "$out/report.md"
}

case ",$RUNS," in *,a,*) family oneshot ;; esac
case ",$RUNS," in *,b,*) family gradual --gradual ;; esac
case ",$RUNS," in *,c,*) family uniform --method uniform ;; esac
case ",$RUNS," in *,m,*) family minitron --method minitron --nas-probe 16 --nas-candidates 3 --nas-steps 32 ;; esac
