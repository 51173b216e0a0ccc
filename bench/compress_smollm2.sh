#!/usr/bin/env bash
# The SmolLM2-135M ZipLM family against every baseline (docs/BENCHMARKS.md, "ZipLM decode family"
# and "ZipLM prefill family"): prose calibration at 512 tokens, targets 1.25/1.5/2, wikitext-2
# perplexity of every member in the report.
#   bench/compress_smollm2.sh [PHASE=decode|prefill] [TARGETS=1.25,1.5,2] [BASELINES=uniform,no-update,magnitude] [DTYPE]
# decode: one decode step at 256 cached tokens; prefill: one 128-token prompt; batch 1, 2 threads.
# BASELINES="" runs ZipLM alone. DTYPE (e.g. q8_0): the family for a quantised runtime (--env
# ...,dtype=DTYPE: timed, evaluated and written in that type; docs/COMPRESS.md), in smollm2-PHASE-DTYPE/.
# Model: tools/fetch-models.sh smollm2-135m-instruct (f32).
# Output: $BENCH_DIR/smollm2-PHASE/ (one .zlm per member, report.json/.md/.svg); the OBS
# database and latency table are cached in $BENCH_DIR/db and reused by later runs.
# Nothing else may run on the machine meanwhile (docs/LATENCY.md, "Noise").
set -euo pipefail
source "$(dirname "$0")/common.sh"
PHASE=${1:-decode}; TARGETS=${2:-1.25,1.5,2}; BASELINES=${3-uniform,no-update,magnitude}; DTYPE=${4:-}
case $PHASE in
  decode) CTX=256 ;;
  prefill) CTX=128 ;;
  *) echo "compress_smollm2: PHASE must be decode or prefill" >&2; exit 2 ;;
esac
M=$(model_zlm smollm2-135m)
OUT="$BENCH_DIR/smollm2-$PHASE${DTYPE:+-$DTYPE}"
EXTRA=(); [ -n "$BASELINES" ] && EXTRA=(--baselines "$BASELINES")
time "$ZIP" compress "$M" --calib "$SHARED/data/prose" --calib-len 512 --speedup "$TARGETS" \
  --env "cpu:threads=2,batch=1,ctx=$CTX,phase=$PHASE${DTYPE:+,dtype=$DTYPE}" "${EXTRA[@]}" \
  --eval "$SHARED/data/wikitext-2-raw/wiki.test.raw" --db "$BENCH_DIR/db" --keep-db --allow-miss -o "$OUT"
cat "$OUT/report.md"
