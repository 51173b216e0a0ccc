#!/usr/bin/env bash
# The table an edge user needs (issue 25): SmolLM2-135M dense at f32, Q8_0 and Q4_K_M beside the
# members of a compress family built for the quantized runtime (--env ...,dtype=q8_0), each with
# its measured decode tokens/s and wikitext-2 perplexity, side by side on this machine.
#   bench/quant_table_smollm2.sh [FAMILY_DIR] [EXTRA.zlm...]
# FAMILY_DIR (default $BENCH_DIR/smollm2-decode-q8_0, made by `bench/compress_smollm2.sh decode
# 1.25,1.5,2 "" q8_0`): its *.zlm members. EXTRA: more models for the table, e.g. distilled members
# quantized with `zip quantize M.zlm -o M-q8_0.zlm --type q8_0`.
# Speed: `zip bench --prompt PROMPT --gen GEN --reps REPS --warmup 1 -t THREADS`, every model once per
# round, ROUNDS rounds (default 3; 0 keeps the recorded runs, e.g. to add perplexities), the median
# of the rounds' medians; the f32 dense model is the 1.00× of the speedup column. Perplexity: `zip
# eval --ppl` on the first PPL_TOKENS (65,536) tokens in windows of 512 every 512 (--stride 512: the
# protocol of `zip compress --eval`, so a member's figure is its report's). Never CI; nothing else
# may run meanwhile.
set -euo pipefail
source "$(dirname "$0")/common.sh"
FAMILY=${1:-$BENCH_DIR/smollm2-decode-q8_0}; shift || true
ROUNDS=${ROUNDS:-3} REPS=${REPS:-5} PROMPT=${PROMPT:-128} GEN=${GEN:-64} THREADS=${THREADS:-2}
PPL_TOKENS=${PPL_TOKENS:-65536} PPL_TEXT=${PPL_TEXT:-$SHARED/data/wikitext-2-raw/wiki.test.raw}
[ -d "$FAMILY" ] || { echo "quant_table_smollm2: no family folder $FAMILY (bench/compress_smollm2.sh decode 1.25,1.5,2 \"\" q8_0)" >&2; exit 2; }
OUT="$BENCH_DIR/quant-table"
mkdir -p "$OUT"
F32=$(model_zlm smollm2-135m)
dense_q() {  # TYPE: the dense model quantized by zip, made once
  local f="$OUT/smollm2-135m-$1.zlm"
  [ -f "$f" ] || "$ZIP" quantize "$F32" -o "$f" --type "$1" >&2
  echo "$f"
}
MODELS=("$F32" "$(dense_q q8_0)" "$(dense_q q4_k_m)")
for m in "$FAMILY"/*.zlm "$@"; do MODELS+=("$m"); done

[ "$ROUNDS" -gt 0 ] && : > "$OUT/runs.jsonl"
for r in $(seq "$ROUNDS"); do
  for m in "${MODELS[@]}"; do
    tps=$("$ZIP" bench "$m" --prompt "$PROMPT" --gen "$GEN" --reps "$REPS" --warmup 1 -t "$THREADS" --json |
      python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["results"][0]["decode_tps"]["median"], j["weights"], j["weight_bytes"])')
    read -r t w b <<<"$tps"
    echo "{\"model\": \"$m\", \"round\": $r, \"decode_tps\": $t, \"weights\": \"$w\", \"bytes\": $b}" >> "$OUT/runs.jsonl"
    echo "round $r: $(basename "$m") $t tok/s" >&2
  done
done
for m in "${MODELS[@]}"; do
  key="$OUT/$(echo "$m" | tr '/' '_').s512.ppl"
  [ -f "$key" ] || "$ZIP" eval "$m" --ppl "$PPL_TEXT" --ctx 512 --stride 512 --max-tokens "$PPL_TOKENS" -t "$THREADS" --json 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["ppl"])' > "$key"
done
python3 - "$OUT" "${MODELS[@]}" <<'PY'
import json, os, statistics, sys
out, models = sys.argv[1], sys.argv[2:]
runs = [json.loads(l) for l in open(f"{out}/runs.jsonl")]
tps = {m: statistics.median(r["decode_tps"] for r in runs if r["model"] == m) for m in models}
info = {r["model"]: r for r in runs}
ppl = {m: float(open(f"{out}/{m.replace('/', '_')}.s512.ppl").read()) for m in models}
base = tps[models[0]]
print("| model | weights | MiB | decode tok/s | vs dense f32 | wikitext-2 ppl |")
print("|---|---|---|---|---|---|")
for m in models:
    print(f"| {os.path.basename(os.path.dirname(m))}/{os.path.basename(m)} | {info[m]['weights']} | {info[m]['bytes'] / 2**20:.1f} "
          f"| {tps[m]:.1f} | {tps[m] / base:.2f}× | {ppl[m]:.2f} |")
PY
