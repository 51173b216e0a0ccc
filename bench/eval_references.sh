#!/usr/bin/env bash
# Accuracy against reference figures (docs/BENCHMARKS.md, "Evaluation"): SmolLM2-135M-Instruct
# wikitext-2 perplexity (stream, ctx 512, stride 512, first 65,536 tokens) and zero-shot tasks
# (first 1,000 items each), all-MiniLM-L6-v2 STS-B dev Spearman.
#   bench/eval_references.sh [THREADS=2] [LIMIT=1000] [WHAT="ppl tasks stsb"]
# Models: tools/fetch-models.sh (smollm2-135m-instruct, all-minilm-l6-v2), converted to f32 into
# $BENCH_DIR. Data: $ZIP_SHARED/data. Output: one JSON result per line in
# $BENCH_DIR/eval_references.jsonl (each preceded by a {"bench": NAME} line).
set -euo pipefail
source "$(dirname "$0")/common.sh"
THREADS=${1:-2}; LIMIT=${2:-1000}; WHAT=${3:-"ppl tasks stsb"}
D="$SHARED/data"; T="$D/tasks"
LOG="$BENCH_DIR/eval_references.jsonl"; : >"$LOG"
run() {  # run NAME ARGS...: prints the result and appends it to the log
  local name=$1; shift
  echo "== $name"; echo "{\"bench\": \"$name\"}" >>"$LOG"
  "$ZIP" eval "$@" -t "$THREADS" --json | tee -a "$LOG"
}
for w in $WHAT; do
  case $w in
    ppl)
      S=$(model_zlm smollm2-135m)
      run wikitext2 "$S" --ppl "$D/wikitext-2-raw/wiki.test.raw" --ctx 512 --stride 512 --max-tokens 65536 ;;
    tasks)
      S=$(model_zlm smollm2-135m)
      run arc_easy   "$S" --task arc_easy "$T/arc_easy.jsonl" --limit "$LIMIT"
      run openbookqa "$S" --task openbookqa "$T/openbook_qa.jsonl" --limit "$LIMIT"
      run winogrande "$S" --task winogrande "$T/winogrande.jsonl" --limit "$LIMIT"
      run piqa       "$S" --task piqa "$T/piqa/valid.jsonl" --limit "$LIMIT"
      run lambada    "$S" --task lambada "$T/lambada_openai.jsonl" --limit "$LIMIT"
      run hellaswag  "$S" --task hellaswag "$T/hellaswag_val_full.txt" --limit "$LIMIT" ;;
    stsb)
      E=$(model_zlm minilm)
      run stsb "$E" --task stsb "$T/stsb/dev.tsv" ;;
    *) echo "eval_references: unknown part $w (ppl, tasks, stsb)" >&2; exit 2 ;;
  esac
done
echo "json: $LOG"
