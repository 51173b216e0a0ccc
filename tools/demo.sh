#!/usr/bin/env bash
# make demo: the compression demo. Fetches SmolLM2-135M (tools/fetch-models.sh), converts it,
# compresses it to a 1.5x / 2x family for this machine's CPU (ZipLM: calibration, OBS database,
# latency table measured in place, search, re-measurement), prints the report table and one
# greedy sample from the dense model and from each member. Without network access it falls back
# to the shared stories260K model, so the demo always runs.
set -euo pipefail
ZIP=${1:-build/zip}
SHARED=${ZIP_SHARED:-../shared}
OUT=${ZIP_DEMO_DIR:-build/demo}
THREADS=${ZIP_DEMO_THREADS:-$(nproc)}
mkdir -p "$OUT"

if DIR=$(bash tools/fetch-models.sh smollm2-135m-instruct); then
  MODEL="$OUT/smollm2-135m.zlm"
  [ -f "$MODEL" ] || "$ZIP" convert "$DIR/SmolLM2-135M-Instruct.Q4_1.gguf" -o "$MODEL"
  CALIB=(--calib "$SHARED/data/prose" --calib-samples 48 --calib-len 256 --heldout 8 --search-windows 4 --probe-windows 2
         --evaluations 12 --env "cpu:threads=$THREADS,batch=1,ctx=256,phase=decode")
  PROMPT="The best way to learn a new language is"
else
  echo "demo: SmolLM2 unavailable (no network?): compressing the shared stories260K model instead" >&2
  MODEL="$OUT/stories260K.zlm"
  "$ZIP" convert "$SHARED/models/stories260K/stories260K.bin" -o "$MODEL"
  CALIB=(--calib "$SHARED/data/tinystories" --calib-samples 24 --calib-len 64 --heldout 8
         --env "cpu:threads=1,batch=1,ctx=64,phase=decode")
  PROMPT="Once upon a time"
fi

echo "== zip compress $MODEL --speedup 1.5,2 (ZipLM, this machine's CPU)"
"$ZIP" compress "$MODEL" "${CALIB[@]}" --speedup 1.5,2 --db "$OUT/db" -o "$OUT/family"
echo
echo "== report: $OUT/family/report.md, plot: $OUT/family/report.svg"
echo
echo "== greedy samples: \"$PROMPT\""
for M in "$MODEL" "$OUT"/family/ziplm-*.zlm; do
  echo "-- $(basename "$M")"
  "$ZIP" run "$M" -p "$PROMPT" -n 40 --temp 0 2>/dev/null
  echo
done
