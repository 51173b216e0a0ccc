#!/usr/bin/env bash
# zip export checked against the runtimes it exports to (not CI; run from the repository root).
#
# Models: SmolLM2-135M dense (f32), a uniform `zip slice` of it (6 of 9 query heads, 2 per KV
# head, in every layer: head_dim 64 ≠ 576/6, so GGUF needs attention.key_length) and a per-layer member ($MEMBER: a ZipLM member, default the lead's
# smollm2-decode/ziplm-1.50x.zlm; when absent a hand-made per-layer slice (FFN 1152 in every third
# layer) with uneven query
# groups, an FFN-free layer with attention, attention-free layers (the first among them) and an
# FFN-free last layer).
#   GGUF → llama.cpp: llama-perplexity on wikitext-2 (or, when only the library is built, the same
#     loop over libllama: bench/export_llamacpp.cpp) vs `zip eval --ppl` on the same windows, and
#     greedy 32-token continuations of three prompts (libllama argmax, as examples/simple, vs
#     `zip run --raw --temp 0`). llama.cpp runs with an f32 KV cache (-ctk f32 -ctv f32), as zip.
#   HF   → transformers: all-position logits of three prompts vs zip's (bench/export_logits.cpp),
#     on the same token ids (and whether the exported tokenizer.json gives those ids).
#
# Perplexity protocol (aligned exactly): llama-perplexity --ppl-stride S --chunks K with windows of
# C tokens (it widens -c by S/2, so it is given -c C-S/2; C a multiple of 256) scores,
# in window i = [iS, iS+C), the last S positions (predicting tokens iS+C-S+1 .. iS+C), no BOS
# (SmolLM2 adds none). zip eval --ppl --ctx C --stride S --max-tokens (K-1)S+C scores the same
# positions from the same window starts, plus positions 1..C-S-1 of the first window; those are
# exactly what a second run --ctx C-S --stride C-S --max-tokens C-S scores, so
#   zip's NLL on llama.cpp's positions = (n_A·nll_A - n_B·nll_B) / (n_A - n_B),  n_A - n_B = K·S.
#
# Environment: LLAMA_BIN (default /tmp/llamacpp_build/bin), LLAMA_SRC / LLAMA_BUILD (llama.cpp's
# source and build folders; built here from the llama-cpp-python sdist when absent), EXPORT_VENV (default /tmp/exportvenv: gguf,
# numpy, transformers, torch), CTX (512), STRIDE (256), CHUNKS (4; FULL=1: every window of the
# file), MEMBER, DENSE (default the lead's f32 .zlm, copied), THREADS (2), CHECKS ("gguf hf": which
# halves to run; "ppl": only the GGUF perplexity).
set -euo pipefail
source bench/common.sh
OUT=$BENCH_DIR/export
mkdir -p "$OUT"
LLAMA_BIN=${LLAMA_BIN:-/tmp/llamacpp_build/bin}
VENV=${EXPORT_VENV:-/tmp/exportvenv}
CTX=${CTX:-512}
STRIDE=${STRIDE:-256}
CHUNKS=${CHUNKS:-4}
THREADS=${THREADS:-2}
CHECKS=${CHECKS:-gguf hf}
WIKI=$SHARED/data/wikitext-2-raw/wiki.test.raw
PROMPTS=("The capital of France is" "Once upon a time, there was a little" "def fibonacci(n):")
RESULTS=$OUT/results.md

log() { echo "export_check: $*" >&2; }

# llama.cpp: the library (libllama + ggml, for bench/export_llamacpp.cpp) and, when built,
# llama-perplexity. LLAMA_SRC/LLAMA_BUILD default to the sdist already unpacked in /tmp; without
# them the sdist is downloaded and built here.
ensure_llama() {
  LLAMA_SRC=${LLAMA_SRC:-/tmp/llamacpp_src/llama_cpp_python-0.3.36/vendor/llama.cpp}
  LLAMA_BUILD=${LLAMA_BUILD:-$(dirname "$LLAMA_BIN")}
  if [ ! -f "$LLAMA_BUILD/src/libllama.a" ]; then
    if [ ! -d "$LLAMA_SRC" ]; then
      log "downloading the llama-cpp-python sdist (vendor/llama.cpp)"
      "$VENV/bin/pip" download llama-cpp-python --no-binary :all: --no-deps -d "$OUT/sdist" -q
      tar -xzf "$OUT"/sdist/llama_cpp_python-*.tar.gz -C "$OUT/sdist"
      LLAMA_SRC=$(ls -d "$OUT"/sdist/llama_cpp_python-*/vendor/llama.cpp | head -1)
    fi
    LLAMA_BUILD=$OUT/llamacpp_build
    LLAMA_BIN=$LLAMA_BUILD/bin
    log "building llama.cpp in $LLAMA_BUILD"
    cmake -S "$LLAMA_SRC" -B "$LLAMA_BUILD" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF >/dev/null
    cmake --build "$LLAMA_BUILD" -j"$THREADS" --target llama-perplexity >/dev/null
  fi
  g++ -std=c++17 -O2 -I"$LLAMA_SRC/include" -I"$LLAMA_SRC/ggml/include" bench/export_llamacpp.cpp \
    "$LLAMA_BUILD/src/libllama.a" "$LLAMA_BUILD/ggml/src/libggml.a" "$LLAMA_BUILD/ggml/src/libggml-cpu.a" \
    "$LLAMA_BUILD/ggml/src/libggml-base.a" -fopenmp -lpthread -ldl -o "$OUT/export_llamacpp"
}

ensure_venv() {
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q gguf numpy transformers safetensors
  if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    "$VENV/bin/pip" install -q torch --index-url https://download.pytorch.org/whl/cpu 2>/dev/null ||
      "$VENV/bin/pip" install -q torch || true
  fi
  "$VENV/bin/python" -c "import torch" 2>/dev/null || { log "torch cannot be installed: HF checks skipped"; return 1; }
}

# Hand-made slices of SmolLM2-135M (9 query heads in 3 KV groups of 3, FFN 1536, 30 layers).
write_specs() {
  python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
uni = {str(l): {"kv_heads": [0, 1, 2], "q_heads": [0, 1, 3, 4, 6, 7], "ffn_neurons": list(range(1536))}
       for l in range(30)}
json.dump(uni, open(f"{out}/uniform.json", "w"))
per = {str(l): {"kv_heads": [0, 1, 2], "ffn_neurons": list(range(1536 if l % 3 else 1152))} for l in range(30)}
per["3"] = {"kv_heads": [0, 1, 2], "q_heads": [0, 1, 2, 3, 6], "ffn_neurons": list(range(1536))}  # groups 3,1,1
per["5"]["ffn_neurons"] = []   # attention, no FFN
per["7"]["kv_heads"] = []      # FFN, no attention
per["0"]["kv_heads"] = []      # no attention in the first layer (llama.cpp reads head_dim from it)
per["29"]["ffn_neurons"] = []  # last layer without FFN
json.dump(per, open(f"{out}/perlayer.json", "w"))
PY
}

zip_nll_sum() {  # MODEL CTX STRIDE MAX_TOKENS → "n nll"
  "$ZIP" eval "$1" --ppl "$WIKI" --ctx "$2" --stride "$3" --max-tokens "$4" -t "$THREADS" --json 2>/dev/null |
    python3 -c "import json,sys; j=json.load(sys.stdin); print(j['tokens'], j['nll'])"
}

check_ppl() {  # NAME MODEL.zlm FILE.gguf
  local k=$CHUNKS lout llama_ppl tool
  lout=$OUT/$1.llama-ppl.txt
  if [ "${FULL:-0}" = 1 ]; then  # every full window of the file, as llama-perplexity counts them
    local n
    n=$("$ZIP" tokenize "$2" "$WIKI" 2>/dev/null | wc -w)
    k=$(((n - CTX + STRIDE - 1) / STRIDE))  # llama-perplexity's n_chunk_max
  fi
  if [ -x "$LLAMA_BIN/llama-perplexity" ]; then
    # With --ppl-stride, llama-perplexity widens the context by S/2 (and rounds it up to a multiple
    # of 256): -c CTX-S/2 makes its window exactly CTX (CTX a multiple of 256); checked in its log.
    tool=llama-perplexity
    "$LLAMA_BIN/llama-perplexity" -m "$3" -f "$WIKI" -c $((CTX - STRIDE / 2)) -b "$CTX" -ub "$CTX" \
      --ppl-stride "$STRIDE" -ctk f32 -ctv f32 --chunks "$k" -t "$THREADS" >"$lout" 2>&1
    grep -q "Calculation chunk = $CTX\$" "$lout" || { log "llama-perplexity did not use windows of $CTX"; return 1; }
    llama_ppl=$(grep -o '\[[0-9]*\][0-9.]*' "$lout" | tail -1 | sed 's/.*\]//')
  else
    tool="libllama (perplexity_v2 loop)"
    "$OUT/export_llamacpp" ppl "$3" "$WIKI" "$CTX" "$STRIDE" "$k" >"$lout"
    llama_ppl=$(python3 -c "import math,sys; n,l=open(sys.argv[1]).read().split(); print(math.exp(float(l)))" "$lout")
  fi
  read -r na nlla < <(zip_nll_sum "$2" "$CTX" "$STRIDE" $(((k - 1) * STRIDE + CTX)))
  read -r nb nllb < <(zip_nll_sum "$2" $((CTX - STRIDE)) $((CTX - STRIDE)) $((CTX - STRIDE)))
  python3 - "$1" "$llama_ppl" "$na" "$nlla" "$nb" "$nllb" "$k" "$tool" <<'PY' | tee -a "$RESULTS"
import math, sys
name, lp, na, a, nb, b, k, tool = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), sys.argv[8]
n = na - nb
zp = math.exp((na * a - nb * b) / n)
d = abs(zp - lp) / lp
print(f"| {name} | perplexity, {k} windows, {n} tokens | {tool} {lp:.4f} | zip {zp:.4f} | {100*d:.4f} % | {'PASS' if d < 1e-3 else 'FAIL'} |")
PY
}

check_greedy() {  # NAME MODEL.zlm FILE.gguf
  local same=0 i=0
  for p in "${PROMPTS[@]}"; do
    "$OUT/export_llamacpp" gen "$3" 32 "$p" >"$OUT/$1.llama-gen$i.txt" 2>/dev/null || true
    "$ZIP" run "$2" --raw -p "$p" -n 32 --temp 0 -t "$THREADS" 2>/dev/null >"$OUT/$1.zip-gen$i.txt"
    if python3 -c "import sys; a,b=(open(f).read().strip() for f in sys.argv[1:]); sys.exit(a!=b)" \
      "$OUT/$1.llama-gen$i.txt" "$OUT/$1.zip-gen$i.txt"; then same=$((same + 1)); fi
    i=$((i + 1))
  done
  echo "| $1 | greedy 32 tokens, 3 prompts | libllama greedy | zip run --temp 0 | $same/3 identical | $([ $same = 3 ] && echo PASS || echo FAIL) |" | tee -a "$RESULTS"
}

check_hf() {  # NAME MODEL.zlm DIR
  local i=0
  for p in "${PROMPTS[@]}"; do "$OUT/export_logits" "$2" "$p" "$OUT/$1.p$i"; i=$((i + 1)); done
  "$VENV/bin/python" - "$1" "$3" "$OUT" <<'PY' | tee -a "$RESULTS"
import json, sys
import numpy as np, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
name, d, out = sys.argv[1:]
model = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
tok = AutoTokenizer.from_pretrained(d)
worst, same_ids = 0.0, 0
prompts = ["The capital of France is", "Once upon a time, there was a little", "def fibonacci(n):"]
for i, p in enumerate(prompts):
    ids = json.load(open(f"{out}/{name}.p{i}.ids.json"))
    same_ids += tok(p)["input_ids"] == ids
    ref = np.fromfile(f"{out}/{name}.p{i}.logits.f32", dtype=np.float32).reshape(len(ids), -1)
    with torch.no_grad():
        got = model(torch.tensor([ids])).logits[0].numpy()
    worst = max(worst, float(np.abs(got - ref).max() / np.abs(ref).max()))
print(f"| {name} | HF logits, 3 prompts (tokenizer ids equal: {same_ids}/3) | transformers | zip | max rel {worst:.2e} | {'PASS' if worst <= 1e-4 else 'FAIL'} |")
PY
}

main() {
  have_torch=1
  ensure_venv || have_torch=0
  case " $CHECKS " in *" gguf "* | *" ppl "*) ensure_llama ;; esac
  write_specs
  g++ -std=c++20 -O2 -I. -Iinclude bench/export_logits.cpp build/libzip.a -lfmt -lutf8proc -pthread -o "$OUT/export_logits"
  local dense=$OUT/smollm2-135m-f32.zlm member=${MEMBER:-/work/main/build/bench/smollm2-decode/ziplm-1.50x.zlm}
  [ -f "$dense" ] || cp "${DENSE:-/work/main/build/bench/smollm2-135m-f32.zlm}" "$dense"
  "$ZIP" slice "$dense" --spec "$OUT/uniform.json" -o "$OUT/uniform.zlm" 2>/dev/null
  if [ -f "$member" ]; then cp "$member" "$OUT/perlayer.zlm"; else
    log "no ZipLM member at $member: using the hand-made per-layer slice"
    "$ZIP" slice "$dense" --spec "$OUT/perlayer.json" -o "$OUT/perlayer.zlm" 2>/dev/null
  fi
  echo "| model | check | reference | zip | difference | result |" >"$RESULTS"
  echo "|---|---|---|---|---|---|" >>"$RESULTS"
  for name in dense uniform perlayer; do
    local zlm=$OUT/$name.zlm
    [ $name = dense ] && zlm=$dense
    if [[ " $CHECKS " == *" gguf "* || " $CHECKS " == *" ppl "* ]]; then
      "$ZIP" export "$zlm" --to gguf -o "$OUT/$name.gguf" 2>"$OUT/$name.export-gguf.log"
      log "$name: $(tail -1 "$OUT/$name.export-gguf.log")"
      check_ppl $name "$zlm" "$OUT/$name.gguf"
      [[ " $CHECKS " == *" gguf "* ]] && check_greedy $name "$zlm" "$OUT/$name.gguf"
    fi
    [[ " $CHECKS " == *" hf "* ]] || continue
    if "$ZIP" export "$zlm" --to hf -o "$OUT/$name-hf" 2>"$OUT/$name.export-hf.log"; then
      if [ $have_torch = 1 ]; then check_hf $name "$zlm" "$OUT/$name-hf"; fi
    else
      echo "| $name | HF export | - | - | refused: $(tail -1 "$OUT/$name.export-hf.log" | cut -c1-80)… | - |" | tee -a "$RESULTS"
    fi
  done
}

main "$@"
