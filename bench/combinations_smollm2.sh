#!/usr/bin/env bash
# The combinations of ZipLM and Minitron on SmolLM2-135M (issue 23 item 6, docs/METHODS.md §5.1),
# one-shot (no distillation), prose calibration at 512 tokens:
#   (1) ZipLM's search over three level rankings on one latency table: OBS order + update
#       (ziplm), Minitron importance order + OBS update (importance), importance order without
#       update (importance-no-update); targets 1.5 and 2, decode env; wikitext-2 perplexity.
#   (2) Minitron's uniform candidates for a budget of half the parameters, sliced from
#       importance, with and without ZipLM's OBS update of W_O / W_2 (--obs-update): held-out
#       KL of every probed candidate, the best written and evaluated.
#   bench/combinations_smollm2.sh [TARGETS=1.5,2] [PARAMS=0.5] [PROBES=16] [PARTS=search,minitron]
# Part (1) times a latency table and re-measures members: nothing else may run meanwhile
# (docs/LATENCY.md, "Noise"); part (2) times nothing.
# Output: $BENCH_DIR/combinations-smollm2/{ziplm-search,minitron,minitron-obs}/ (report.json/.md);
# the OBS database (levels and statistics) and latency table are cached in $BENCH_DIR/db.
set -euo pipefail
source "$(dirname "$0")/common.sh"
TARGETS=${1:-1.5,2}; PARAMS=${2:-0.5}; PROBES=${3:-16}; PARTS=${4:-search,minitron}
M=$(model_zlm smollm2-135m)
ROOT="$BENCH_DIR/combinations-smollm2"
mkdir -p "$ROOT"
CAL=(--calib "$SHARED/data/prose" --calib-len 512 --db "$BENCH_DIR/db" --keep-db)
EVAL=(--eval "$SHARED/data/wikitext-2-raw/wiki.test.raw" --eval-tokens 65536)
if [[ ",$PARTS," == *,search,* && ! -f "$ROOT/ziplm-search/report.json" ]]; then
  time "$ZIP" compress "$M" "${CAL[@]}" --speedup "$TARGETS" --env cpu:threads=2,batch=1,ctx=256,phase=decode \
    --method ziplm --baselines importance,importance-no-update "${EVAL[@]}" --allow-miss -o "$ROOT/ziplm-search"
fi
for v in minitron minitron-obs; do
  [[ ",$PARTS," == *,minitron,* ]] || break
  [ -f "$ROOT/$v/report.json" ] && continue
  flag=(); [ $v = minitron-obs ] && flag=(--obs-update)
  time "$ZIP" compress "$M" "${CAL[@]}" --method minitron --params "$PARAMS" --nas-probe "$PROBES" --nas-steps 0 \
    "${flag[@]}" "${EVAL[@]}" -o "$ROOT/$v"
done
python3 - "$ROOT" <<'PY'
import json, sys
root = sys.argv[1]
import os
if os.path.exists(f"{root}/ziplm-search/report.json"):
    r = json.load(open(f"{root}/ziplm-search/report.json"))
    print("| method | target | measured | wikitext-2 ppl |\n|---|---|---|---|")
    for m in r["members"]:
        print(f"| {m['method']} | {m['target']:.2f}x | {m.get('measured_speedup', 0):.3f}x | {m.get('ppl') or float('nan'):.2f} |")
if not os.path.exists(f"{root}/minitron-obs/report.json"):
    sys.exit(0)
a = {json.dumps(c["shape"], sort_keys=True): c["oneshot_kl"] for c in json.load(open(f"{root}/minitron/report.json"))["members"][0]["candidates"]}
b = {json.dumps(c["shape"], sort_keys=True): c["oneshot_kl"] for c in json.load(open(f"{root}/minitron-obs/report.json"))["members"][0]["candidates"]}
print("\n| candidate shape | one-shot KL | with --obs-update |\n|---|---|---|")
for k in sorted(a, key=a.get):
    print(f"| {k} | {a[k]:.4f} | {b.get(k, float('nan')):.4f} |")
PY
