#!/usr/bin/env bash
# One-call check of the CUDA backend on a machine with a GPU (fits a 10-minute command budget):
#   1. build build-cuda/zip_tests for this GPU's architecture (sm_90 unless detected otherwise),
#   2. run the CUDA tests (every "cuda: ..." case; they compare each op with the reference),
#   3. compute-sanitizer memcheck over the same tests,
#   4. compute-sanitizer racecheck over the tests of the shared-memory kernels
#      (norms, softmax, attention),
# then print a summary and exit non-zero if any step failed.
#
# Usage (from the repository root):  bash bench/gpu_check.sh
# Environment: STEPS (default "build tests memcheck racecheck"; e.g. STEPS="memcheck racecheck"
# in a second call reuses build-cuda), JOBS (make -j, default nproc), CUDA_HOME,
# ZIP_SHARED (shared data for tests that load models), T_BUILD/T_TEST/T_MEMCHECK/T_RACECHECK
# (per-step time limits in seconds; the defaults add up to under 10 minutes). The logs are also
# copied to $OUT when it is set (the device runner's output folder).
set -u
cd "$(dirname "$0")/.."

CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export PATH="$CUDA_HOME/bin:$PATH"
JOBS=${JOBS:-$(nproc)}
T_BUILD=${T_BUILD:-240}
T_TEST=${T_TEST:-60}
T_MEMCHECK=${T_MEMCHECK:-150}
T_RACECHECK=${T_RACECHECK:-120}
LOG=${LOG:-build-cuda/gpu_check}
# The tests look for models in $ZIP_SHARED, else ../shared; a device copy may carry ./shared.
if [ -z "${ZIP_SHARED:-}" ] && [ ! -d ../shared ] && [ -d shared ]; then export ZIP_SHARED=$PWD/shared; fi
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

STEPS=${STEPS:-build tests memcheck racecheck}
want() { case " $STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if want build; then
  step build "$T_BUILD" make -j"$JOBS" CUDA=1 BUILD=build-cuda CUDA_ARCH="$ARCH" build-cuda/zip build-cuda/zip_tests
fi

SAN=$(command -v compute-sanitizer || echo "$CUDA_HOME/bin/compute-sanitizer")
# memcheck leaves out the big matmul grid (hundreds of cuBLASLt calls, slow under the tool; the
# large-matmul case still covers the conversion kernel); racecheck covers the shared-memory kernels.
MEMCHECK_EXCLUDE='cuda: matmul matches*'
RACECHECK_TESTS='cuda: rmsnorm*,cuda: activations*,cuda: kv_store*'
if [ -x build-cuda/zip_tests ]; then
  want tests && step tests "$T_TEST" build-cuda/zip_tests -tc='cuda*'
  if [ -x "$SAN" ]; then
    want memcheck && step memcheck "$T_MEMCHECK" "$SAN" --tool memcheck --leak-check full --error-exitcode 99 \
      build-cuda/zip_tests -tc='cuda*' -tce="$MEMCHECK_EXCLUDE"
    want racecheck && step racecheck "$T_RACECHECK" "$SAN" --tool racecheck --error-exitcode 99 \
      build-cuda/zip_tests -tc="$RACECHECK_TESTS"
  else
    summary+=("sanitizer  MISSING            $SAN not found")
    failed=1
  fi
  # Skips would mean no GPU was seen: make that loud.
  if want tests && grep -q "skipped: no CUDA GPU" "$LOG/tests.log" 2>/dev/null; then
    summary+=("tests      SKIPPED            the tests saw no usable GPU (see tests.log)")
    failed=1
  fi
else
  summary+=("tests      NOT RUN            build-cuda/zip_tests missing")
  failed=1
fi

echo
echo "================ gpu_check summary ================"
printf '%s\n' "${summary[@]}"
grep -h "test cases:" "$LOG"/tests.log 2>/dev/null | tail -n 1
grep -h "ERROR SUMMARY\|RACECHECK SUMMARY" "$LOG"/memcheck.log "$LOG"/racecheck.log 2>/dev/null
grep -h "fallback GEMM" "$LOG"/tests.log 2>/dev/null | sort -u | head -n 5
[ -n "${OUT:-}" ] && [ -d "$OUT" ] && cp -r "$LOG" "$OUT/" 2>/dev/null
[ $failed -eq 0 ] && echo "ALL PASSED" || echo "SOMETHING FAILED"
exit $failed
