#!/usr/bin/env bash
# One-call check of the CUDA backend on a machine with a GPU (fits a 10-minute command budget):
#   build      build-cuda/zip, zip_tests and embed for this GPU's architecture (sm_90 unless detected),
#   tests      the CUDA test cases (every "cuda: ..." case; they compare each op with the reference),
#   cli        the CUDA path end to end through the command line on stories260K (a small real model):
#              `zip run --device cuda` (greedy text vs --device cpu), `zip eval --device cuda`
#              (perplexity vs --device cpu), `zip bench --device cuda`, the public API (build-cuda/embed
#              ... cuda), and a bad device index (cuda:99: one line, exit 1),
#   clibench   `zip bench --device cuda` vs `--device cpu` on a GPT-2-small-shaped Llama (134M
#              parameters, f32, 32k vocabulary; random weights from one `zip train` step), batches 1 and 8,
#   memcheck   compute-sanitizer memcheck over the CUDA tests,
#   racecheck  compute-sanitizer racecheck over the tests of the shared-memory kernels
#              (norms, softmax, attention),
# then print a summary with the figures (tok/s, perplexities) and exit non-zero if any step failed.
#
# Usage (from the repository root):  bash bench/gpu_check.sh
# Environment: STEPS (default "build tests cli clibench"; the sanitizers in a second call that reuses
# build-cuda: STEPS="memcheck racecheck"; "all" = every step), JOBS (make -j, default nproc),
# CUDA_HOME, ZIP_SHARED (shared data: models and texts), T_BUILD/T_TEST/T_CLI/T_CLIBENCH/T_MEMCHECK/
# T_RACECHECK (per-step time limits in seconds; the defaults of each call add up to under 10
# minutes). The logs are also copied to $OUT when it is set (the device runner's output folder).
set -u
cd "$(dirname "$0")/.."

CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export PATH="$CUDA_HOME/bin:$PATH"
JOBS=${JOBS:-$(nproc)}
T_BUILD=${T_BUILD:-240}
T_TEST=${T_TEST:-60}
T_CLI=${T_CLI:-90}
T_CLIBENCH=${T_CLIBENCH:-150}
T_MEMCHECK=${T_MEMCHECK:-150}
T_RACECHECK=${T_RACECHECK:-120}
LOG=${LOG:-build-cuda/gpu_check}
# The tests look for models in $ZIP_SHARED, else ../shared; a device copy may carry ./shared.
if [ -z "${ZIP_SHARED:-}" ] && [ ! -d ../shared ] && [ -d shared ]; then export ZIP_SHARED=$PWD/shared; fi
SHARED=${ZIP_SHARED:-$(cd .. && pwd)/shared}
mkdir -p "$LOG"

summary=()
failed=0
# step NAME LIMIT COMMAND...: runs COMMAND under a time limit, logs to $LOG/NAME.log.
step() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$LOG/$name.log" 2>&1
  local rc=$? dt=$((SECONDS - t0))
  local verdict=PASS
  if [ $rc -eq 124 ]; then verdict="TIMEOUT (${limit}s)"; failed=1
  elif [ $rc -ne 0 ]; then verdict="FAIL (exit $rc)"; failed=1; fi
  summary+=("$(printf '%-10s %-18s %4ss  %s' "$name" "$verdict" "$dt" "$LOG/$name.log")")
  echo "== $name: $verdict in ${dt}s"
  tail -n 15 "$LOG/$name.log"
  return $rc
}

echo "== GPU"
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>&1 || true
nvcc --version | tail -n 2

cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .')
case "$cc" in ''|*[!0-9]*) cc=90 ;; esac
ARCH="-gencode=arch=compute_${cc},code=sm_${cc}"
echo "== building for $ARCH"

STEPS=${STEPS:-build tests cli clibench}
[ "$STEPS" = all ] && STEPS="build tests cli clibench memcheck racecheck"
want() { case " $STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if want build; then
  step build "$T_BUILD" make -j"$JOBS" CUDA=1 BUILD=build-cuda CUDA_ARCH="$ARCH" build-cuda/zip build-cuda/zip_tests \
    build-cuda/embed
fi

# ---- the CUDA path through the command line ----------------------------------------------------
# Each check prints "FIGURE name: value" lines (collected into the summary) and exits non-zero on a
# mismatch. They run under `timeout` in a child bash, hence the exported functions and variables.
export Z=build-cuda/zip EMBED=build-cuda/embed MODELS=$LOG/models SHARED
export TEXT="$SHARED/data/tinystories/TinyStories-valid-subset.txt"

# figure NAME VALUE: one line the summary quotes.
figure() { echo "FIGURE $1: $2"; }
# bench_row FILE BATCH: "prefill decode" medians from the `zip bench` table row of BATCH
# (columns: batch, prefill median, [min-max], decode median, [min-max]).
bench_row() { awk -v b="$2" '$1 == b { print $2, $4 }' "$1"; }

cli_checks() {
  set -eo pipefail
  mkdir -p "$MODELS"
  local s=$MODELS/stories260K.zlm
  $Z convert "$SHARED/models/stories260K/stories260K.bin" -o "$s" >/dev/null
  # Greedy text: the GPU must pick the same 64 tokens as the CPU.
  local dev
  for dev in cpu cuda; do
    $Z run "$s" -n 64 --temp 0 -t 4 --device $dev >"$MODELS/run_$dev.txt" 2>"$MODELS/run_$dev.err" ||
      { cat "$MODELS/run_$dev.err"; exit 1; }
  done
  tail -n 1 "$MODELS/run_cpu.err"; tail -n 1 "$MODELS/run_cuda.err"
  grep -q "| cuda:0" "$MODELS/run_cuda.err" || { echo "zip run --device cuda did not name the cuda backend"; exit 1; }
  if cmp -s "$MODELS/run_cpu.txt" "$MODELS/run_cuda.txt"; then figure "run greedy 64 tokens cuda == cpu" yes
  else figure "run greedy 64 tokens cuda == cpu" NO; diff "$MODELS/run_cpu.txt" "$MODELS/run_cuda.txt" || true; exit 1; fi
  figure "run decode tok/s cuda" "$(sed -n 's/.*generated: [0-9]* tokens, \([0-9.]*\) tok\/s.*/\1/p' "$MODELS/run_cuda.err")"
  # Perplexity on TinyStories (stream protocol, ctx 256): the devices agree to 1e-4 relative.
  local pc pg
  pc=$($Z eval "$s" --ppl "$TEXT" --ctx 256 --json -t 4 --device cpu | sed -n 's/.*"ppl":\([0-9.e+-]*\).*/\1/p')
  pg=$($Z eval "$s" --ppl "$TEXT" --ctx 256 --json -v --device cuda | sed -n 's/.*"ppl":\([0-9.e+-]*\).*/\1/p')
  figure "eval ppl cpu" "$pc"; figure "eval ppl cuda" "$pg"
  awk -v a="$pc" -v b="$pg" 'BEGIN { d = (a > b ? a - b : b - a) / a; printf "FIGURE eval ppl relative difference: %.2e\n", d; exit !(a > 0 && d <= 1e-4) }'
  $Z bench "$s" --device cuda --batch 1,8 --prompt 128 --gen 32 --reps 3 | tee "$MODELS/bench_small_cuda.txt"
  grep -q "| cuda:0 |" "$MODELS/bench_small_cuda.txt"
  # The public API (LoadOptions::device) on the GPU.
  "$EMBED" "$s" "Once upon a time" cuda | tee "$MODELS/embed_cuda.txt"
  grep -q "(device cuda)" "$MODELS/embed_cuda.txt"
  # A device that does not exist: one line, exit 1.
  local rc=0
  $Z run "$s" --device cuda:99 -n 1 >/dev/null 2>"$MODELS/cuda99.err" || rc=$?
  cat "$MODELS/cuda99.err"
  [ "$rc" -eq 1 ] && [ "$(wc -l <"$MODELS/cuda99.err")" -eq 1 ] && grep -q "does not exist" "$MODELS/cuda99.err"
}

clibench_checks() {
  set -eo pipefail
  mkdir -p "$MODELS"
  local tok="$SHARED/models/llama2-tokenizer-32k/tokenizer.bin" big=$MODELS/llama134M.zlm
  cat >"$MODELS/llama134M.json" <<'JSON'
{"arch": "llama", "dim": 768, "max_seq_len": 1024, "head_dim": 64, "n_layers": 12, "n_heads": 12,
 "n_kv_heads": 12, "ffn_dim": 2048, "tied_embeddings": false, "norm_eps": 1e-5, "rope_theta": 10000}
JSON
  $Z tokenize --tokenizer "$tok" "$TEXT" --lines -o "$MODELS/tok32k.bin" >/dev/null
  # One tiny training step: a .zlm of the right shape (random weights; throughput does not care).
  $Z train --config "$MODELS/llama134M.json" --tokenizer "$tok" --data "$MODELS/tok32k.bin" -o "$big" \
    --steps 1 --batch 1 --seq 8 --eval-every 0 --log "$MODELS/train.log.jsonl" >/dev/null 2>&1
  local dev
  for dev in cuda cpu; do
    $Z bench "$big" --device "$dev" --batch 1,8 --prompt 128 --gen 32 --reps 3 | tee "$MODELS/bench_$dev.txt"
    for b in 1 8; do
      read -r pre dec < <(bench_row "$MODELS/bench_$dev.txt" "$b")
      figure "bench llama134M f32 $dev batch $b prefill tok/s" "$pre"
      figure "bench llama134M f32 $dev batch $b decode tok/s" "$dec"
    done
  done
  grep -q "| cuda:0 |" "$MODELS/bench_cuda.txt"
}
export -f figure bench_row cli_checks clibench_checks

SAN=$(command -v compute-sanitizer || echo "$CUDA_HOME/bin/compute-sanitizer")
# memcheck leaves out the big matmul grid (hundreds of cuBLASLt calls, slow under the tool; the
# large-matmul case still covers the conversion kernel); racecheck covers the shared-memory kernels.
MEMCHECK_EXCLUDE='cuda: matmul matches*'
RACECHECK_TESTS='cuda: rmsnorm*,cuda: activations*,cuda: kv_store*'
if [ -x build-cuda/zip_tests ]; then
  want tests && step tests "$T_TEST" build-cuda/zip_tests -tc='cuda*'
  # Skips would mean no GPU was seen: make that loud.
  if want tests && grep -q "skipped: no CUDA GPU" "$LOG/tests.log" 2>/dev/null; then
    summary+=("tests      SKIPPED            the tests saw no usable GPU (see tests.log)")
    failed=1
  fi
elif want tests || want memcheck || want racecheck; then
  summary+=("tests      NOT RUN            build-cuda/zip_tests missing")
  failed=1
fi

if [ -x build-cuda/zip ]; then
  want cli && step cli "$T_CLI" bash -c cli_checks
  want clibench && step clibench "$T_CLIBENCH" bash -c clibench_checks
elif want cli || want clibench; then
  summary+=("cli        NOT RUN            build-cuda/zip missing")
  failed=1
fi

if [ -x build-cuda/zip_tests ] && { want memcheck || want racecheck; }; then
  if [ -x "$SAN" ]; then
    want memcheck && step memcheck "$T_MEMCHECK" "$SAN" --tool memcheck --leak-check full --error-exitcode 99 \
      build-cuda/zip_tests -tc='cuda*' -tce="$MEMCHECK_EXCLUDE"
    want racecheck && step racecheck "$T_RACECHECK" "$SAN" --tool racecheck --error-exitcode 99 \
      build-cuda/zip_tests -tc="$RACECHECK_TESTS"
  else
    summary+=("sanitizer  MISSING            $SAN not found")
    failed=1
  fi
fi

echo
echo "================ gpu_check summary ================"
printf '%s\n' "${summary[@]}"
grep -h "test cases:" "$LOG"/tests.log 2>/dev/null | tail -n 1
grep -h "^FIGURE " "$LOG"/cli.log "$LOG"/clibench.log 2>/dev/null | sed 's/^FIGURE //'
grep -h "ERROR SUMMARY\|RACECHECK SUMMARY" "$LOG"/memcheck.log "$LOG"/racecheck.log 2>/dev/null
grep -h "fallback GEMM" "$LOG"/tests.log 2>/dev/null | sort -u | head -n 5
[ -n "${OUT:-}" ] && [ -d "$OUT" ] && cp -r "$LOG" "$OUT/" 2>/dev/null
[ $failed -eq 0 ] && echo "ALL PASSED" || echo "SOMETHING FAILED"
exit $failed
