#!/usr/bin/env bash
# Quantized runtime vs llama.cpp (issue 25): SmolLM2-135M at Q8_0, Q4_0 (and Q4_K_M once zip
# imports GGUF blocks), decode and prefill tokens/s at -t 1 and -t 2, the two engines alternated
# run by run on the same machine, medians reported side by side. Never CI.
#
#   bash bench/quant_vs_llamacpp.sh            (from the repository root; outputs in $BENCH_DIR/quant)
#
#   LLAMA_BIN  directory with llama-bench and llama-quantize (default /tmp/llamacpp_build/bin);
#              when missing, llama.cpp is built from the source the PyPI sdist of llama-cpp-python
#              vendors (pip download, cmake) into $BENCH_DIR/quant/llama.cpp-build
#   ROUNDS     alternations of the two engines (default 3); each run is `-r REPS` repetitions
#   REPS       repetitions per run (default 5), PROMPT (128), GEN (64), THREADS ("1 2"), TYPES ("q8_0 q4_0")
#
# Settings that match: llama-bench -p PROMPT -n GEN -r REPS -t T (prompt processing of PROMPT tokens
# and generation of GEN tokens, separately) and zip bench --prompt PROMPT --gen GEN --reps REPS -t T
# --warmup 1 (prefill of PROMPT tokens; GEN decode steps after it). Weights: llama.cpp runs the
# GGUF made by llama-quantize from an F32 GGUF of the same model; zip runs the F32 .zlm of that GGUF
# with `--quantize TYPE` (its reference quantisers are bit-identical to ggml's for Q8_0/Q4_0), so
# the matmul weights are the same; llama.cpp's Q4_0 keeps the tied embedding/output at a higher
# type (the script prints both weight sizes).
set -euo pipefail
source "$(dirname "$0")/common.sh"
OUT="$BENCH_DIR/quant"
mkdir -p "$OUT"
ROUNDS=${ROUNDS:-3} REPS=${REPS:-5} PROMPT=${PROMPT:-128} GEN=${GEN:-64}
THREADS=${THREADS:-"1 2"} TYPES=${TYPES:-"q8_0 q4_0"}
LLAMA_BIN=${LLAMA_BIN:-/tmp/llamacpp_build/bin}

build_llamacpp() {
  local src="$OUT/llama-cpp-python-src" bld="$OUT/llama.cpp-build"
  mkdir -p "$src"
  if [ ! -d "$src/vendor" ]; then
    pip download llama-cpp-python --no-binary :all: --no-deps -d "$src" >&2
    tar -xzf "$src"/llama_cpp_python-*.tar.gz -C "$src" --strip-components=1
  fi
  cmake -S "$src/vendor/llama.cpp" -B "$bld" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF >&2
  cmake --build "$bld" -j2 --target llama-bench llama-quantize llama-perplexity >&2
  LLAMA_BIN="$bld/bin"
}
[ -x "$LLAMA_BIN/llama-bench" ] && [ -x "$LLAMA_BIN/llama-quantize" ] || build_llamacpp

# Models: the Q4_1 GGUF (the only one published) → F32 GGUF → each type; the F32 GGUF → .zlm.
src_dir=$(bash tools/fetch-models.sh smollm2-135m-instruct)
src="$src_dir/SmolLM2-135M-Instruct.Q4_1.gguf"
f32_gguf="$OUT/smollm2-135m-F32.gguf"
[ -f "$f32_gguf" ] || "$LLAMA_BIN/llama-quantize" --allow-requantize "$src" "$f32_gguf" F32 >&2
gguf_of() { echo "$OUT/smollm2-135m-${1^^}.gguf"; }
for t in $TYPES; do
  g=$(gguf_of "$t")
  [ -f "$g" ] || "$LLAMA_BIN/llama-quantize" "$f32_gguf" "$g" "${t^^}" >&2
done
zlm="$OUT/smollm2-135m-f32.zlm"
[ -f "$zlm" ] || "$ZIP" convert "$f32_gguf" -o "$zlm" >&2

# One run of each engine; results appended as JSON lines.
runs="$OUT/runs.jsonl"
: > "$runs"
llama_run() {  # TYPE T
  "$LLAMA_BIN/llama-bench" -m "$(gguf_of "$1")" -p "$PROMPT" -n "$GEN" -r "$REPS" -t "$2" -o json 2>/dev/null |
    python3 -c '
import json, statistics, sys
t, th = sys.argv[1], int(sys.argv[2])
for r in json.load(sys.stdin):
    kind = "prefill" if r["n_prompt"] > 0 else "decode"
    print(json.dumps({"engine": "llama.cpp", "type": t, "threads": th, "kind": kind,
                      "tps": statistics.median(r["samples_ts"]), "bytes": r["model_size"]}))' "$1" "$2" >> "$runs"
}
zip_run() {  # TYPE T
  "$ZIP" bench "$zlm" --quantize "$1" -t "$2" --prompt "$PROMPT" --gen "$GEN" --reps "$REPS" --warmup 1 --json |
    python3 -c '
import json, sys
t, th = sys.argv[1], int(sys.argv[2])
r = json.load(sys.stdin)
for kind in ("prefill", "decode"):
    print(json.dumps({"engine": "zip", "type": t, "threads": th, "kind": kind,
                      "tps": r["results"][0][kind + "_tps"]["median"], "bytes": r.get("weight_bytes", 0)}))' "$1" "$2" >> "$runs"
}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
  for t in $TYPES; do
    for th in $THREADS; do
      if [ $((round % 2)) = 1 ]; then llama_run "$t" "$th"; zip_run "$t" "$th"; else zip_run "$t" "$th"; llama_run "$t" "$th"; fi
    done
  done
  echo "round $round done, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done

# The table: median over rounds of each run's median.
python3 - "$runs" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = sorted({(r["type"], r["threads"], r["kind"]) for r in rows}, key=lambda k: (k[0], k[1], k[2] != "prefill"))
print(f"{'type':6} {'t':>2} {'phase':8} {'llama.cpp tok/s':>16} {'zip tok/s':>10} {'zip/llama':>9}   weight MiB (llama, zip)")
for k in keys:
    sel = lambda e: [r for r in rows if (r["type"], r["threads"], r["kind"]) == k and r["engine"] == e]
    l, z = sel("llama.cpp"), sel("zip")
    lt, zt = statistics.median(r["tps"] for r in l), statistics.median(r["tps"] for r in z)
    print(f"{k[0]:6} {k[1]:>2} {k[2]:8} {lt:16.1f} {zt:10.1f} {zt / lt:9.2f}   {l[0]['bytes'] / 2**20:.1f}, {z[0]['bytes'] / 2**20:.1f}")
PY
