#!/usr/bin/env bash
# Training throughput (docs/BENCHMARKS.md, "Training"): first the train-step micro-benchmark of
# the test suite (stories260K shape, B = 16, T = 128, forward + backward + AdamW; needs
# build/zip_tests, skipped without it), then `zip train` on a ~15M-parameter Llama shape: dim 288,
# 6 layers, 6 heads, head_dim 48, FFN 768, the Llama 2 32k tokenizer, tied; batch 8 x 128, 4 steps on the TinyStories subset, for each thread count.
#   bench/train_throughput.sh [THREADS="1 2"] [STEPS=4]
# Data and tokenizer: $ZIP_SHARED (models/llama2-tokenizer-32k, data/tinystories). Output: the
# per-step tokens/s and loss of each run on stdout, logs in $BENCH_DIR/train15m-tT.log.jsonl.
set -euo pipefail
source "$(dirname "$0")/common.sh"
THREADS=${1:-"1 2"}; STEPS=${2:-4}
ZIP_TESTS=${ZIP_TESTS:-build/zip_tests}
if [ -x "$ZIP_TESTS" ]; then "$ZIP_TESTS" -tc='train: stories260K step throughput' --no-skip
else echo "train_throughput: $ZIP_TESTS not built, step micro-benchmark skipped" >&2; fi
TOK="$SHARED/models/llama2-tokenizer-32k/tokenizer.model"
DATA="$BENCH_DIR/ts32k.bin"
[ -f "$DATA" ] || "$ZIP" tokenize --tokenizer "$TOK" "$SHARED/data/tinystories/TinyStories-valid-subset.txt" --lines -o "$DATA"
cat >"$BENCH_DIR/cfg15m.json" <<'JSON'
{"arch": "llama", "dim": 288, "max_seq_len": 256, "head_dim": 48, "n_layers": 6, "n_heads": 6, "n_kv_heads": 6,
 "ffn_dim": 768, "tied_embeddings": true, "norm_eps": 1e-5, "rope_theta": 10000}
JSON
for t in $THREADS; do
  LOG="$BENCH_DIR/train15m-t$t.log.jsonl"
  "$ZIP" train --config "$BENCH_DIR/cfg15m.json" --tokenizer "$TOK" --data "$DATA" -o "$BENCH_DIR/train15m.zlm" \
    --steps "$STEPS" --batch 8 --seq 128 --seed 1 -t "$t" --log "$LOG" 2>/dev/null
  python3 - "$LOG" "$t" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
print(f"threads {sys.argv[2]}: tokens/s " + ", ".join(f"{l['tokens_per_s']:.0f}" for l in log)
      + "; loss " + " -> ".join(f"{l['loss']:.4f}" for l in (log[0], log[-1])))
PY
done
