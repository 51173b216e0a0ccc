#!/usr/bin/env bash
# Quantized runtime vs llama.cpp (issue 25): SmolLM2-135M at Q8_0, Q4_0 and Q4_K_M, decode and
# prefill tokens/s at -t 1 and -t 2, the two engines alternated run by run on the same machine,
# medians side by side; with PPL=1 also perplexity per type. Never CI.
#
#   bash bench/quant_vs_llamacpp.sh            (from the repository root; outputs in $BENCH_DIR/quant)
#
#   LLAMA_SRC  llama.cpp source (default: the one the PyPI sdist of llama-cpp-python vendors,
#              fetched with `pip download llama-cpp-python --no-binary :all: --no-deps`)
#   LLAMA_LIB  a CMake build folder of it with libllama.a (default: built here, target `llama` only)
#   ROUNDS     alternations of the two engines (default 3); each run is REPS repetitions
#   REPS (5), PROMPT (128), GEN (64), THREADS ("1 2"), TYPES ("q8_0 q4_0 q4_k_m")
#   PPL=1      also perplexity (slow: minutes per model): zip on the quantized model with one 8-bit
#              term per activation (the default, llama.cpp's arithmetic) and with two
#              (`--act-terms 2`), zip on the same weights dequantised to f32 (`zip quantize --type
#              f32`); llama.cpp's llama-perplexity on the same GGUF and on those dequantised
#              weights exported to an F32 GGUF (`zip export`), so each engine's gap from its own
#              activation quantisation stands beside the other's. One term differs from f32 by
#              the 8-bit activation blocks' error (32 elements; 256 against K-quants, as
#              llama.cpp's Q8_0 / Q8_K); two terms should not differ (kernel correctness).
#   PPL_TEXT (wikitext-2 test), PPL_TOKENS (65536), PPL_CTX (512), PPL_THREADS (the last of THREADS),
#   LLAMA_PERPLEXITY (default: $LLAMA_LIB/bin/llama-perplexity, built here when missing)
#
# llama.cpp runs through bench/llamacpp_bench.cpp (llama-bench's measurement through llama.h,
# which needs only libllama): PROMPT-token prefill and GEN single-token decodes, REPS timed runs
# after a warm-up, median. zip: zip bench --prompt PROMPT --gen GEN --reps REPS --warmup 1 -t T.
# Weights: the Q4_1 GGUF (the only one published) → F32 GGUF → Q8_0 / Q4_0 / Q4_K_M GGUFs with
# llama_model_quantize (no importance matrix); zip quantises the F32 GGUF converted to .zlm with
# `zip quantize --type TYPE` (its reference quantisers are ggml's bit for bit, and its mixes
# llama.cpp's per-tensor rule: Q4_0's tied embedding/output Q8_0, Q4_K_M's 576-wide rows Q5_0 /
# Q8_0). For Q4_K_M the script checks that the two files hold the same type per tensor and the
# same bytes (llama.cpp's GGUF converted to .zlm, which keeps blocks, against zip's), and prints it.
# Perplexity protocols differ: zip's stream protocol (windows of PPL_CTX every PPL_CTX/2, every
# token scored once) and llama-perplexity's (chunks of PPL_CTX, the second half of each scored),
# both on the first PPL_TOKENS tokens; compare zip with zip, llama.cpp with llama.cpp.
set -euo pipefail
source "$(dirname "$0")/common.sh"
OUT="$BENCH_DIR/quant"
mkdir -p "$OUT"
ROUNDS=${ROUNDS:-3} REPS=${REPS:-5} PROMPT=${PROMPT:-128} GEN=${GEN:-64}
THREADS=${THREADS:-"1 2"} TYPES=${TYPES:-"q8_0 q4_0 q4_k_m"}
PPL=${PPL:-0} PPL_TEXT=${PPL_TEXT:-$SHARED/data/wikitext-2-raw/wiki.test.raw} PPL_TOKENS=${PPL_TOKENS:-65536}
PPL_CTX=${PPL_CTX:-512} PPL_THREADS=${PPL_THREADS:-${THREADS##* }}

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
ftype_of() {
  case $1 in q8_0) echo 7 ;; q4_0) echo 2 ;; q4_k_m) echo 15 ;; *) echo "bench: no llama ftype for $1" >&2; exit 2 ;; esac
}
for t in $TYPES; do
  [ -f "$(gguf_of "$t")" ] || "$LB" quantize "$f32_gguf" "$(gguf_of "$t")" "$(ftype_of "$t")"
done
zlm="$OUT/smollm2-135m-f32.zlm"
[ -f "$zlm" ] || "$ZIP" convert "$f32_gguf" -o "$zlm" >&2
zlm_of() { echo "$OUT/smollm2-135m-zip-$1.zlm"; }
for t in $TYPES; do
  [ -f "$(zlm_of "$t")" ] || "$ZIP" quantize "$zlm" -o "$(zlm_of "$t")" --type "$t" >&2
done

# Same types and bytes as llama.cpp's file: its GGUF converted to .zlm keeps the blocks; the data
# section (the file's tail, tensors in canonical order) then matches byte for byte when every
# tensor does.
same_as_llama() {  # TYPE
  local theirs="$OUT/smollm2-135m-llama-$1.zlm"
  [ -f "$theirs" ] || "$ZIP" convert "$(gguf_of "$1")" -o "$theirs" >&2
  python3 - "$1" "$theirs" "$(zlm_of "$1")" "$ZIP" <<'PY'
import json, subprocess, sys
t, theirs, ours, zipbin = sys.argv[1:5]
def index(path):
    return json.loads(subprocess.run([zipbin, "inspect", path, "--json", "--tensors"], check=True,
                                     capture_output=True, text=True).stdout)["tensors"]
a, b = index(theirs), index(ours)
ta, tb = {x["name"]: x["dtype"] for x in a}, {x["name"]: x["dtype"] for x in b}
same = sum(1 for n in ta if tb.get(n) == ta[n])
differ = [f"{n} ({ta[n]} vs {tb.get(n)})" for n in ta if tb.get(n) != ta[n]]
def data(path, idx):
    n = max(x["offset"] + x["bytes"] for x in idx)
    with open(path, "rb") as f:
        f.seek(-n, 2)
        return f.read()
identical = len(ta) == len(tb) and not differ and data(theirs, a) == data(ours, b)
kinds = {}
for d in ta.values(): kinds[d] = kinds.get(d, 0) + 1
print(f"{t}: {same} of {len(ta)} tensors the type llama.cpp gives ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}); "
      f"bytes identical: {'yes' if identical else 'no'}" + (f"; differ: {', '.join(differ[:5])}" if differ else ""))
PY
}
for t in $TYPES; do if [ "$t" = q4_k_m ]; then same_as_llama "$t"; fi; done

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
  "$ZIP" bench "$(zlm_of "$1")" -t "$2" --prompt "$PROMPT" --gen "$GEN" --reps "$REPS" --warmup 1 --json |
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

[ "$PPL" = 1 ] || exit 0
# Perplexity: zip on the quantized model and on its weights dequantised to f32, llama.cpp on the GGUF.
LLAMA_PERPLEXITY=${LLAMA_PERPLEXITY:-$LLAMA_LIB/bin/llama-perplexity}
[ -x "$LLAMA_PERPLEXITY" ] || cmake --build "$LLAMA_LIB" -j2 --target llama-perplexity >&2
zip_ppl() {  # MODEL.zlm [FLAGS]
  "$ZIP" eval "$1" --ppl "$PPL_TEXT" --ctx "$PPL_CTX" --max-tokens "$PPL_TOKENS" -t "$PPL_THREADS" --json "${@:2}" 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["ppl"])'
}
llama_ppl() {  # GGUF
  "$LLAMA_PERPLEXITY" -m "$1" -f "$PPL_TEXT" -c "$PPL_CTX" --chunks $((PPL_TOKENS / PPL_CTX)) -t "$PPL_THREADS" 2>&1 |
    sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p'
}
echo
printf '%-7s %11s %11s %11s %8s %8s %11s %11s %8s   (zip: stream protocol; llama.cpp: its own, see the header)\n' \
  type "zip 1 term" "zip 2 terms" "zip f32" "1 vs f32" "2 vs f32" "llama.cpp" "llama f32" "gap"
for t in $TYPES; do
  deq="$OUT/smollm2-135m-zip-$t-deq-f32.zlm" deq_gguf="$OUT/smollm2-135m-zip-$t-deq-f32.gguf"
  [ -f "$deq" ] || "$ZIP" quantize "$(zlm_of "$t")" -o "$deq" --type f32 >&2
  [ -f "$deq_gguf" ] || "$ZIP" export "$deq" --to gguf -o "$deq_gguf" >&2
  z1=$(zip_ppl "$(zlm_of "$t")") z2=$(zip_ppl "$(zlm_of "$t")" --act-terms 2) zf=$(zip_ppl "$deq")
  lq=$(llama_ppl "$(gguf_of "$t")") lf=$(llama_ppl "$deq_gguf")
  python3 -c 'import sys
t, z1, z2, zf, lq, lf = sys.argv[1:]
gap = lambda a, b: f"{100 * (float(a) / float(b) - 1):+7.3f}%" if a and b else "n/a"
lqs, lfs = lq or "n/a", lf or "n/a"
print(f"{t:7} {float(z1):11.4f} {float(z2):11.4f} {float(zf):11.4f} {gap(z1, zf):>8} {gap(z2, zf):>8} {lqs:>11} {lfs:>11} {gap(lq, lf):>8}")' \
    "$t" "$z1" "$z2" "$zf" "$lq" "$lf"
done
