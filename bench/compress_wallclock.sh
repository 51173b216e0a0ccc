#!/usr/bin/env bash
# Wall-clock of the ZipLM SmolLM2-135M decode family from nothing cached (docs/BENCHMARKS.md,
# "Wall-clock"): calibration, OBS database, latency table, probes, three searches, re-measurement.
# No --eval, no baselines. Then scores the members as the compress report does (wikitext-2,
# stream, ctx 512, stride 512, first 65,536 tokens).
#   bench/compress_wallclock.sh [TARGETS=1.25,1.5,2]
# Model: tools/fetch-models.sh smollm2-135m-instruct (f32). Output: $BENCH_DIR/wallclock/ (members,
# report), $BENCH_DIR/wallclock.time (GNU time -v when available), perplexities on stdout.
set -euo pipefail
source "$(dirname "$0")/common.sh"
TARGETS=${1:-1.25,1.5,2}
M=$(model_zlm smollm2-135m)
OUT="$BENCH_DIR/wallclock"; DB="$BENCH_DIR/wallclock-db"
rm -rf "$OUT" "$DB"
TIME=(); [ -x /usr/bin/time ] && TIME=(/usr/bin/time -v -o "$BENCH_DIR/wallclock.time")
start=$(date +%s)
"${TIME[@]}" "$ZIP" compress "$M" --calib "$SHARED/data/prose" --calib-len 512 --speedup "$TARGETS" \
  --env cpu:threads=2,batch=1,ctx=256,phase=decode --db "$DB" --allow-miss -o "$OUT"
echo "wall-clock: $(( $(date +%s) - start )) s"
for m in "$OUT"/ziplm-*.zlm; do
  echo "== $(basename "$m")"
  "$ZIP" eval "$m" --ppl "$SHARED/data/wikitext-2-raw/wiki.test.raw" --ctx 512 --stride 512 --max-tokens 65536 -t 2
done
