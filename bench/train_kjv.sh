#!/usr/bin/env bash
# Trains a stories260K-shaped model (5 layers, dim 64, 8 heads / 4 KV, SwiGLU 172, vocab 512)
# from scratch on the King James Bible, tokenised with stories260K's tokenizer (one verse per
# document, the last 5 % held out), 2000 steps of batch 16 x 128. Reports the initial training
# loss (random init: about ln 512 = 6.24) and the final validation loss (target <= 3.0 nats/token).
# Usage: bench/train_kjv.sh [THREADS]   (run from the repository root; needs build/zip)
set -euo pipefail
ZIP=${ZIP_BIN:-build/zip}
SHARED=${ZIP_SHARED:-../shared}
THREADS=${1:-$(nproc)}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

"$ZIP" convert "$SHARED/models/stories260K/stories260K.bin" -o "$W/stories.zlm" >/dev/null
"$ZIP" tokenize "$W/stories.zlm" "$SHARED/data/bible-kjv/kjv_plain.txt" --lines --val-fraction 0.05 -o "$W/kjv.bin"
cat >"$W/cfg.json" <<'JSON'
{"arch": "llama", "dim": 64, "max_seq_len": 512, "head_dim": 8, "n_layers": 5, "n_heads": 8, "n_kv_heads": 4,
 "ffn_dim": 172, "tied_embeddings": true, "norm_eps": 1e-5, "rope_theta": 10000}
JSON
"$ZIP" train --config "$W/cfg.json" --tokenizer "$W/stories.zlm" --data "$W/kjv.bin" --val "$W/kjv.val.bin" \
  -o "$W/kjv.zlm" --steps 2000 --batch 16 --seq 128 --lr 5e-3 --warmup 100 --wd 0.1 --eval-every 500 \
  --eval-batches 16 --seed 1 -t "$THREADS" --log "$W/kjv.log.jsonl"
python3 - "$W/kjv.log.jsonl" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
val = [(l["step"], l["val_loss"]) for l in log if "val_loss" in l]
tps = sorted(l["tokens_per_s"] for l in log)[len(log) // 2]
print(f"initial train loss {log[0]['loss']:.4f} (ln 512 = 6.2383)")
print("validation loss: " + ", ".join(f"step {s}: {v:.4f}" for s, v in val))
print(f"final validation loss {val[-1][1]:.4f} nats/token (target <= 3.0); median {tps:.0f} tokens/s")
PY
# Keep the curve: KJV_PLOT=docs/kjv_loss.svg bench/train_kjv.sh
if [ -n "${KJV_PLOT:-}" ]; then
  python3 "$(dirname "$0")/../tools/plot_loss.py" "$W/kjv.log.jsonl" "$KJV_PLOT" \
    "stories260K shape trained from scratch on KJV (batch 16 x 128, 2000 steps)"
  echo "plot: $KJV_PLOT"
fi
