#!/usr/bin/env bash
# Zero-shot accuracy of every member of compress families (issues 23, 24): arc_easy, piqa,
# hellaswag, winogrande, the first LIMIT (1,000) items of each ../shared/data/tasks file, and
# the dense SmolLM2-135M once, as docs/BENCHMARKS.md "Zero-shot" scores it (BOS prepended).
#   bench/zeroshot_family.sh DIR|MEMBER.zlm...   (a compress -o folder: its *.zlm members,
#                                                 -failed ones too; or single members, in order)
# One JSON per model and task under DIR/zeroshot/ (a member's folder's) (the dense model's under $BENCH_DIR/zeroshot/):
# a killed run redoes only the unfinished one. About 30 min per model on 2 threads (the
# 2x members about half). Prints a markdown table: acc / acc_norm per member and task.
set -euo pipefail
source "$(dirname "$0")/common.sh"
LIMIT=${LIMIT:-1000}; THREADS=${THREADS:-2}
T="$SHARED/data/tasks"
TASKS=("arc_easy $T/arc_easy.jsonl" "piqa $T/piqa/valid.jsonl" "hellaswag $T/hellaswag_val_full.txt" "winogrande $T/winogrande.jsonl")
[ $# -ge 1 ] || { echo "usage: bench/zeroshot_family.sh DIR|MEMBER.zlm..." >&2; exit 2; }
score() {  # MODEL OUTDIR
  local m=$1 out=$2 name task file
  name=$(basename "$m" .zlm)
  mkdir -p "$out"
  for tf in "${TASKS[@]}"; do
    read -r task file <<<"$tf"
    [ -f "$out/$name.$task.json" ] && continue
    "$ZIP" eval "$m" --task "$task" "$file" --limit "$LIMIT" --json -t "$THREADS" > "$out/$name.$task.json.tmp"
    mv "$out/$name.$task.json.tmp" "$out/$name.$task.json"
    echo "$name $task: $(cat "$out/$name.$task.json")"
  done
}
score "$(model_zlm smollm2-135m)" "$BENCH_DIR/zeroshot"
DIRS=()
for d in "$@"; do
  if [ -f "$d" ]; then score "$d" "$(dirname "$d")/zeroshot"; DIRS+=("$(dirname "$d")"); continue; fi
  for m in "$d"/*.zlm; do score "$m" "$d/zeroshot"; done
  DIRS+=("$d")
done
python3 - "$BENCH_DIR/zeroshot" $(printf '%s\n' "${DIRS[@]}" | awk '!seen[$0]++ {print $0 "/zeroshot"}') <<'PY'
import glob, json, os, sys
tasks = ["arc_easy", "piqa", "hellaswag", "winogrande"]
print("| model | " + " | ".join(f"{t} acc / norm" for t in tasks) + " | mean acc |")
print("|---|" + "---|" * (len(tasks) + 1))
for d in sys.argv[1:]:
    names = sorted({os.path.basename(p)[:-len(".json")].rsplit(".", 1)[0] for p in glob.glob(f"{d}/*.json")})
    for n in names:
        r = {t: json.load(open(f"{d}/{n}.{t}.json")) for t in tasks if os.path.exists(f"{d}/{n}.{t}.json")}
        cells = [f"{r[t]['acc']:.3f} / {r[t]['acc_norm']:.3f}" if t in r else "–" for t in tasks]
        mean = sum(r[t]["acc"] for t in r) / len(r) if len(r) == len(tasks) else float("nan")
        label = n if d == sys.argv[1] else f"{os.path.basename(os.path.dirname(d.rstrip('/')))}/{n}"
        print(f"| {label} | " + " | ".join(cells) + f" | {mean:.3f} |")
PY
