#!/usr/bin/env bash
# make demo: what zip does, end to end, with every number measured here. Builds zip in parallel,
# fetches SmolLM2-135M-Instruct (tools/fetch-models.sh), converts it, compresses it to a 1.5x / 2x
# family for this machine's CPU running Q8_0 weights (ZipLM one-shot: calibration, OBS in float,
# latency table measured in place on Q8_0 weights, search, members quantised and re-measured),
# then prints one table for the dense model (f32 and Q8_0) and every member:
# decode tokens/s and speedup measured by this script, wikitext-2 perplexity on a held-out slice,
# file size, and an answer generated through the chat template. Without network access it falls
# back to the shared stories260K model (no chat template; TinyStories perplexity).
#   ZIP_DEMO_DIR (default build/demo), ZIP_DEMO_THREADS (default: zip's own, the physical cores).
set -euo pipefail
ZIP=${1:-build/zip}
SHARED=${ZIP_SHARED:-../shared}
OUT=${ZIP_DEMO_DIR:-build/demo}
T0=$(date +%s)

echo "== build (make -j$(nproc))"
make -s -j"$(nproc)" "$ZIP"
"$ZIP" --version | head -1
THREADS=${ZIP_DEMO_THREADS:-}
TOPT=(); [ -n "$THREADS" ] && TOPT=(-t "$THREADS")
mkdir -p "$OUT"

QUESTION="What is the capital of France?"
if DIR=$(bash tools/fetch-models.sh smollm2-135m-instruct); then
  MODEL="$OUT/smollm2-135m.zlm"
  [ -f "$MODEL" ] || "$ZIP" convert "$DIR/SmolLM2-135M-Instruct.Q4_1.gguf" -o "$MODEL" --dtype f32
  ENV_THREADS=${THREADS:-2}
  CALIB=(--calib "$SHARED/data/prose" --calib-samples 32 --calib-len 256 --heldout 8 --search-windows 4
         --probe-windows 2 --evaluations 8 --env "cpu:threads=$ENV_THREADS,batch=1,ctx=256,phase=decode,dtype=q8_0")
  # What a user would run instead of a compressed member: the dense model quantised.
  QUANT="$OUT/smollm2-135m-q8_0.zlm"
  [ -f "$QUANT" ] || "$ZIP" quantize "$MODEL" -o "$QUANT" --type q8_0
  PPL_FILE="$SHARED/data/wikitext-2-raw/wiki.test.raw"
  PPL_NAME="wikitext-2 test, first 2,048 tokens (ctx 512, stride 256)"
  CHAT=1
else
  echo "demo: SmolLM2 unavailable (no network?): compressing the shared stories260K model instead" >&2
  MODEL="$OUT/stories260K.zlm"
  "$ZIP" convert "$SHARED/models/stories260K/stories260K.bin" -o "$MODEL"
  CALIB=(--calib "$SHARED/data/tinystories" --calib-samples 24 --calib-len 64 --heldout 8
         --env "cpu:threads=1,batch=1,ctx=64,phase=decode")
  PPL_FILE="$SHARED/data/tinystories/TinyStories-valid-subset.txt"
  PPL_NAME="TinyStories valid subset, first 2,048 tokens (ctx 256, stride 128)"
  CHAT=0
  QUANT=
fi

echo
echo "== zip compress $MODEL --speedup 1.5,2 (ZipLM one-shot, this machine's CPU${QUANT:+, Q8_0 weights})"
KEEP=(); [[ $("$ZIP" compress --help) == *--keep-db* ]] || KEEP=(--db "$OUT/db")
"$ZIP" compress "$MODEL" "${CALIB[@]}" --speedup 1.5,2 "${KEEP[@]}" -o "$OUT/family" || echo "demo: compress exited $?"

# The sample: through the chat template. A zip whose `run -p` applies the model's template
# (it has --raw) gets the plain question; an older one gets SmolLM2's ChatML typed out.
sample() {
  if [ "$CHAT" = 0 ]; then
    "$ZIP" run "$1" -p "Once upon a time" -n 40 --temp 0 "${TOPT[@]}" 2>/dev/null
  elif [[ $("$ZIP" run --help) == *--raw* ]]; then
    "$ZIP" run "$1" -p "$QUESTION" -n 40 --temp 0 "${TOPT[@]}" 2>/dev/null
  else
    "$ZIP" run "$1" --special -n 40 --temp 0 "${TOPT[@]}" 2>/dev/null \
      -p $'<|im_start|>user\n'"$QUESTION"$'<|im_end|>\n<|im_start|>assistant\n' | sed -n '/^<|im_start|>assistant$/,$p' | tail -n +2
  fi
}
decode_tps() {  # median decode tokens/s at batch 1 (bench's table: batch, prefill, [range], decode, [range])
  "$ZIP" bench "$1" --prompt 32 --gen 32 --reps 3 "${TOPT[@]}" | awk '$1 == "1" { print $4 }'
}
ppl() {
  local ctx=512; [ "$CHAT" = 0 ] && ctx=256
  "$ZIP" eval "$1" --ppl "$PPL_FILE" --ctx $ctx --max-tokens 2048 --json "${TOPT[@]}" 2>/dev/null |
    sed -n 's/.*"ppl":\([0-9.e+-]*\).*/\1/p' | awk '{ printf "%.1f", $1 }'
}

MODELS=("$MODEL"); [ -n "$QUANT" ] && MODELS+=("$QUANT"); for m in "$OUT"/family/*.zlm; do [ -f "$m" ] && MODELS+=("$m"); done
echo
echo "== measured here: decode tokens/s (batch 1, bench median of 3), speedup = tokens/s / dense f32 tokens/s,"
echo "   perplexity on $PPL_NAME, file size"
printf '%-24s %10s %9s %12s %10s\n' model "decode t/s" speedup perplexity "size (MB)"
DENSE_TPS=
declare -A SAMPLE
for m in "${MODELS[@]}"; do
  tps=$(decode_tps "$m"); [ -z "$DENSE_TPS" ] && DENSE_TPS=$tps
  speed=$(awk -v a="$tps" -v b="$DENSE_TPS" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')
  size=$(awk -v s="$(stat -c %s "$m")" 'BEGIN { printf "%.0f", s / 1e6 }')
  printf '%-24s %10s %9s %12s %10s\n' "$(basename "$m")" "$tps" "$speed" "$(ppl "$m")" "$size"
  SAMPLE[$m]=$(sample "$m")
done
echo
[ -n "$QUANT" ] && echo "The members run Q8_0 weights: compress timed, evaluated and wrote them so, and guarantees their" &&
  echo "speedup against the dense Q8_0 model (the row a llama.cpp user would compare with)."
echo "The members are one-shot: pruned and weight-corrected (OBS) but not retrained. Their"
echo "perplexity shows what distillation has to recover: zip compress --distill-tokens N distils each"
echo "member from the dense model (--gradual: ZipLM's prune <-> distill chain; --method minitron: Minitron"
echo "with its architecture search). Hours of CPU for a useful token budget, so not in this demo."
echo "The speedup compress measured for each member is in $OUT/family/report.md and in its table"
echo "above; the column here is this script's own quick re-measurement (3 runs of 32 tokens; on a"
echo "busy machine it varies run to run)."
echo
if [ "$CHAT" = 1 ]; then echo "== answers, greedy, through the chat template: \"$QUESTION\""; else echo "== greedy samples"; fi
for m in "${MODELS[@]}"; do
  echo "-- $(basename "$m")"
  echo "${SAMPLE[$m]}"
done

# The OBS database is a cache of GBs; compress removes its own unless told --keep-db.
[ ${#KEEP[@]} -gt 0 ] && rm -rf "$OUT/db"
echo
echo "== demo done in $(( $(date +%s) - T0 )) s (build included); outputs in $OUT"
