#!/usr/bin/env bash
# Quantized runtime vs llama.cpp (issue 25): SmolLM2-135M at Q8_0 and Q4_0, decode and prefill
# tokens/s at -t 1 and -t 2, the two engines alternated run by run on the same machine, medians
# side by side. Never CI.
#
#   bash bench/quant_vs_llamacpp.sh            (from the repository root; outputs in $BENCH_DIR/quant)
#
#   LLAMA_SRC  llama.cpp source (default: the one the PyPI sdist of llama-cpp-python vendors,
#              fetched with `pip download llama-cpp-python --no-binary :all: --no-deps`)
#   LLAMA_LIB  a CMake build folder of it with libllama.a (default: built here, target `llama` only)
#   ROUNDS     alternations of the two engines (default 3); each run is REPS repetitions
#   REPS (5), PROMPT (128), GEN (64), THREADS ("1 2"), TYPES ("q8_0 q4_0")
#
# llama.cpp runs through bench/llamacpp_bench.cpp (llama-bench's measurement through llama.h,
# which needs only libllama): PROMPT-token prefill and GEN single-token decodes, REPS timed runs
# after a warm-up, median. zip: zip bench --prompt PROMPT --gen GEN --reps REPS --warmup 1 -t T.
# Weights: the Q4_1 GGUF (the only one published) → F32 GGUF → Q8_0 / Q4_0 GGUFs with
# llama_model_quantize; zip runs the F32 GGUF converted to .zlm with --quantize TYPE (its reference
# quantisers are bit-identical to ggml's), and for Q4_0 --quantize-output q8_0, the type llama.cpp
# gives the tied embedding/output of this model (576-wide rows: no K-quant); the table prints both
# weight sizes. Q4_K_M is left out: on this model llama.cpp falls back to Q5_0/Q8_0 for the 576-wide
# rows, and zip has no Q5_0.
set -euo pipefail
source "$(dirname "$0")/common.sh"
OUT="$BENCH_DIR/quant"
mkdir -p "$OUT"
ROUNDS=${ROUNDS:-3} REPS=${REPS:-5} PROMPT=${PROMPT:-128} GEN=${GEN:-64}
THREADS=${THREADS:-"1 2"} TYPES=${TYPES:-"q8_0 q4_0"}

if [ -z "${LLAMA_SRC:-}" ]; then
  LLAMA_SRC="$OUT/llama-cpp-python/vendor/llama.cpp"
  if [ ! -d "$LLAMA_SRC" ]; then
    pip download llama-cpp-python --no-binary :all: --no-deps -d "$OUT" >&2
    mkdir -p "$OUT/llama-cpp-python"
    tar -xzf "$OUT"/llama_cpp_python-*.tar.gz -C "$OUT/llama-cpp-python" --strip-components=1
  fi
fi
if [ -z "${LLAMA_LIB:-}" ]; then
  LLAMA_LIB="$OUT/llama.cpp-build"
  if [ ! -f "$LLAMA_LIB/src/libllama.a" ]; then
    cmake -S "$LLAMA_SRC" -B "$LLAMA_LIB" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
      -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF >&2
    cmake --build "$LLAMA_LIB" -j2 --target llama >&2
  fi
fi
LB="$OUT/llamacpp_bench"
g++ -std=c++17 -O2 -I"$LLAMA_SRC/include" -I"$LLAMA_SRC/ggml/include" bench/llamacpp_bench.cpp \
  "$LLAMA_LIB/src/libllama.a" "$LLAMA_LIB/ggml/src/libggml.a" "$LLAMA_LIB/ggml/src/libggml-cpu.a" \
  "$LLAMA_LIB/ggml/src/libggml-base.a" -fopenmp -pthread -ldl -o "$LB"

src_dir=$(bash tools/fetch-models.sh smollm2-135m-instruct)
f32_gguf="$OUT/smollm2-135m-F32.gguf"
[ -f "$f32_gguf" ] || "$LB" quantize "$src_dir/SmolLM2-135M-Instruct.Q4_1.gguf" "$f32_gguf" 0
gguf_of() { echo "$OUT/smollm2-135m-${1^^}.gguf"; }
ftype_of() { case $1 in q8_0) echo 7 ;; q4_0) echo 2 ;; *) echo "bench: no llama ftype for $1" >&2; exit 2 ;; esac; }
zip_flags_of() { case $1 in q4_0) echo "--quantize q4_0 --quantize-output q8_0" ;; *) echo "--quantize $1" ;; esac; }
for t in $TYPES; do
  [ -f "$(gguf_of "$t")" ] || "$LB" quantize "$f32_gguf" "$(gguf_of "$t")" "$(ftype_of "$t")"
done
zlm="$OUT/smollm2-135m-f32.zlm"
[ -f "$zlm" ] || "$ZIP" convert "$f32_gguf" -o "$zlm" >&2

# One run of each engine; results appended as JSON lines.
runs="$OUT/runs.jsonl"
: > "$runs"
llama_run() {  # TYPE T
  "$LB" "$(gguf_of "$1")" "$PROMPT" "$GEN" "$REPS" "$2" | python3 -c '
import json, sys
t, th = sys.argv[1], int(sys.argv[2])
r = json.load(sys.stdin)
for kind in ("prefill", "decode"):
    print(json.dumps({"engine": "llama.cpp", "type": t, "threads": th, "kind": kind,
                      "tps": r[kind + "_tps"], "bytes": r["model_size"]}))' "$1" "$2" >> "$runs"
}
zip_run() {  # TYPE T
  # shellcheck disable=SC2046
  "$ZIP" bench "$zlm" $(zip_flags_of "$1") -t "$2" --prompt "$PROMPT" --gen "$GEN" --reps "$REPS" --warmup 1 --json |
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
