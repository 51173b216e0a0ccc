#!/usr/bin/env bash
# make demo: convert the shared stories260K model, inspect it, and generate a story.
set -euo pipefail
ZIP=${1:-build/zip}
SHARED=${ZIP_SHARED:-../shared}
SRC="$SHARED/models/stories260K/stories260K.bin"
OUT=${ZIP_DEMO_DIR:-build/demo}
[ -f "$SRC" ] || { echo "demo: $SRC not found (set ZIP_SHARED to the shared data folder)" >&2; exit 1; }
mkdir -p "$OUT"

echo "== zip convert $SRC -o $OUT/stories260K.zlm"
"$ZIP" convert "$SRC" -o "$OUT/stories260K.zlm"
echo
echo "== zip inspect $OUT/stories260K.zlm --verify"
"$ZIP" inspect "$OUT/stories260K.zlm" --verify
echo
echo "== zip run $OUT/stories260K.zlm -p 'Once upon a time' -n 200 --temp 0.8 --seed 7"
"$ZIP" run "$OUT/stories260K.zlm" -p "Once upon a time" -n 200 --temp 0.8 --seed 7
echo
