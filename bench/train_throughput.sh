#!/usr/bin/env bash
# Training and distillation throughput (docs/BENCHMARKS.md, "Training"; docs/TRAINING.md,
# "zip bench --train").
#
# 1. The train-step micro-benchmark of the test suite (stories260K shape, B = 16, T = 128,
#    forward + backward + AdamW; needs build/zip_tests, skipped without it).
# 2. One table, OLD and NEW binaries side by side in one run (each configuration OLD and NEW back to
#    back, the order alternating from row to row, so both see the same machine load):
#      kd-dense   KD of SmolLM2-135M into itself (teacher = student = the dense model)
#      kd-sliced  KD of SmolLM2-135M into a sliced student: every FFN halved (first 768 of 1536
#                 neurons), one of the 3 KV heads dropped per layer (6 of 9 query heads kept);
#                 85.9 M parameters, made here with `zip slice`
#      train15m   `zip train` of the ~15M Llama shape: dim 288, 6 layers, 6 heads, head_dim 48,
#                 FFN 768, the Llama 2 32k tokenizer, tied
#    KD at B x T = 8x256 and 16x128, -t 1 and -t 2; train15m at 8x128. A binary with
#    `zip bench --train` is timed with it (--json); an older one by running `zip distill` /
#    `zip train` with --log and taking the median of the JSONL tokens_per_s after the warm-up
#    steps. Both time the same windows of the same data (KD: Jane Austen's novels from the shared
#    prose tokenized with SmolLM2; train15m: the TinyStories subset), KL at tau 1. Peak RSS is
#    the process's maximum resident set (/usr/bin/time) for both.
#
#   QUICK=1 bench/train_throughput.sh      kd-dense and kd-sliced at 8x256 -t 2, 1 warm-up + 1
#                                          timed step; train15m -t 2 (~10 min with today's binary)
#   bench/train_throughput.sh [THREADS] [STEPS]   every configuration, 1 warm-up + 2 timed steps
#   COMPARE=precision bench/train_throughput.sh   NEW at --precision f32 (the "old" columns) against
#                                          NEW at --precision bf16, same rows; MFU also against the
#                                          measured bf16 peak
# REPEAT=N runs each row's pair N times (the order alternating) and the table shows the medians.
# Variables: OLD (default /tmp/zip_today; empty: NEW only), NEW (default $ZIP = build/zip),
# WARMUP, STEPS (timed), THREADS ("1 2"), SHAPES ("8x256 16x128"), STUDENTS ("dense sliced");
# the positional THREADS and STEPS of the older version of this script still work.
# Data and models: $ZIP_SHARED, $ZIP_MODELS (bench/common.sh). Outputs in $BENCH_DIR/tp-*.
set -euo pipefail
source "$(dirname "$0")/common.sh"
QUICK=${QUICK:-0}
COMPARE=${COMPARE:-binaries}
REPEAT=${REPEAT:-1}
[ $# -ge 1 ] && THREADS=$1
[ $# -ge 2 ] && STEPS=$2
NEW=${NEW:-$ZIP}
OLD=${OLD-/tmp/zip_today}
[ "$COMPARE" = precision ] && OLD=$NEW
[ -n "$OLD" ] && [ ! -x "$OLD" ] && { echo "train_throughput: OLD=$OLD is not an executable; running NEW only" >&2; OLD=; }
if [ "$QUICK" = 1 ]; then
  WARMUP=${WARMUP:-1}; STEPS=${STEPS:-1}; THREADS=${THREADS:-2}; SHAPES=${SHAPES:-8x256}
else
  WARMUP=${WARMUP:-1}; STEPS=${STEPS:-2}; THREADS=${THREADS:-"1 2"}; SHAPES=${SHAPES:-"8x256 16x128"}
fi
STUDENTS=${STUDENTS:-"dense sliced"}
TRAIN_STEPS=$((WARMUP + STEPS + 2))  # train15m steps are cheap: two more timed steps
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "train_throughput: needs /usr/bin/time (GNU time) for peak RSS" >&2; exit 1; }

ZIP_TESTS=${ZIP_TESTS:-build/zip_tests}
if [ -x "$ZIP_TESTS" ]; then "$ZIP_TESTS" -tc='train: stories260K step throughput' --no-skip
else echo "train_throughput: $ZIP_TESTS not built, step micro-benchmark skipped" >&2; fi

# ---- inputs ----------------------------------------------------------------------------------------
SMOL=$(model_zlm smollm2-135m)
SLICED="$BENCH_DIR/tp-smol-sliced.zlm"
if [ ! -f "$SLICED" ]; then
  python3 -c 'import json, sys
json.dump({str(l): {"kv_heads": [0, 1], "ffn_neurons": list(range(768))} for l in range(30)}, open(sys.argv[1], "w"))' \
    "$BENCH_DIR/tp-slice.json"
  "$NEW" slice "$SMOL" --spec "$BENCH_DIR/tp-slice.json" -o "$SLICED" >&2
fi
KD_DATA="$BENCH_DIR/tp-prose-smol.bin"
[ -f "$KD_DATA" ] || "$NEW" tokenize "$SMOL" "$SHARED"/data/prose/austen/*.txt -o "$KD_DATA" >&2
TOK="$SHARED/models/llama2-tokenizer-32k/tokenizer.model"
TS_DATA="$BENCH_DIR/ts32k.bin"
[ -f "$TS_DATA" ] || "$NEW" tokenize --tokenizer "$TOK" "$SHARED/data/tinystories/TinyStories-valid-subset.txt" --lines -o "$TS_DATA" >&2
CFG="$BENCH_DIR/cfg15m.json"
cat >"$CFG" <<'JSON'
{"arch": "llama", "dim": 288, "max_seq_len": 256, "head_dim": 48, "n_layers": 6, "n_heads": 6, "n_kv_heads": 6,
 "ffn_dim": 768, "tied_embeddings": true, "norm_eps": 1e-5, "rope_theta": 10000}
JSON

# ---- one measurement: prints "TOKENS_PER_S MFU RSS_BYTES PEAK_FLOPS MFU_BF16 PEAK_BF16" ("-": unknown) -----
has_bench_train() { "$1" bench --train --help >/dev/null 2>&1; }
# measure BIN KIND(kd|train) STUDENT B T THREADS [PRECISION]
measure() {
  local bin=$1 kind=$2 student=$3 b=$4 t=$5 thr=$6 prec=${7:-} tag out rss
  local pflag=(); [ -n "$prec" ] && pflag=(--precision "$prec")
  tag="$BENCH_DIR/tp-$(basename "$bin")-$kind-$(basename "$student" .zlm)-${b}x$t-t$thr${prec:+-$prec}"
  rss="$tag.rss"
  if has_bench_train "$bin"; then
    local what
    if [ "$kind" = kd ]; then what=(--teacher "$SMOL" --student "$student" --data "$KD_DATA")
    else what=(--config "$CFG" --tokenizer "$TOK" --data "$TS_DATA"); fi
    local steps=$STEPS; [ "$kind" = train ] && steps=$((STEPS + 2))
    "$TIME" -f %M -o "$rss" "$bin" bench --train "${what[@]}" --batch "$b" --seq "$t" -t "$thr" \
      --warmup "$WARMUP" --steps "$steps" "${pflag[@]}" --json >"$tag.json"
    python3 - "$tag.json" "$rss" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); rss = int(open(sys.argv[2]).read().split()[-1]) * 1024
bf = j["peak"].get("bf16", 0) or 0
print(j["tokens_per_s"]["median"], j["mfu"], rss, j["peak"]["f32"], j.get("mfu_bf16", "-") if bf else "-", bf or "-")
PY
  else
    local steps=$((WARMUP + STEPS)) cmd
    if [ "$kind" = kd ]; then cmd=(distill --teacher "$SMOL" --student "$student" --data "$KD_DATA")
    else cmd=(train --config "$CFG" --tokenizer "$TOK" --data "$TS_DATA"); steps=$TRAIN_STEPS; fi
    "$TIME" -f %M -o "$rss" "$bin" "${cmd[@]}" -o "$tag.zlm" --steps "$steps" --batch "$b" --seq "$t" -t "$thr" \
      --eval-every 0 --log "$tag.log.jsonl" 2>/dev/null >/dev/null
    rm -f "$tag.zlm"
    python3 - "$tag.log.jsonl" "$rss" "$WARMUP" <<'PY'
import json, statistics, sys
log = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
tps = [l["tokens_per_s"] for l in log if l["step"] > int(sys.argv[3])]
rss = int(open(sys.argv[2]).read().split()[-1]) * 1024
print(statistics.median(tps), "-", rss, "-", "-", "-")
PY
  fi
}

# ---- the table -----------------------------------------------------------------------------------
echo "train_throughput: $(date -u +%FT%TZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$COMPARE" = precision ]; then echo "$NEW --precision f32 (old columns) vs bf16 (new columns)"
else echo "OLD=${OLD:-none} NEW=$NEW"; fi
echo "warm-up $WARMUP, timed $STEPS (KD) / $((STEPS + 2)) (train15m) steps; medians of the timed steps; $REPEAT repeat(s), medians"
echo "peak GF/s: the f32 peak NEW measured (MFU's denominator); MFU bf16: against the measured bf16 peak; RSS: maximum resident set"
ROWS="$BENCH_DIR/tp-rows.txt"; : >"$ROWS"
N_ROWS=0
OLD_P=; NEW_P=
[ "$COMPARE" = precision ] && OLD_P=f32 NEW_P=bf16
row() {  # row NAME KIND STUDENT B T THREADS
  local o="- - - - - -" n r
  for r in $(seq "$REPEAT"); do
    if [ -n "$OLD" ] && [ $((N_ROWS % 2)) = 0 ]; then o=$(measure "$OLD" "$2" "$3" "$4" "$5" "$6" $OLD_P); fi
    n=$(measure "$NEW" "$2" "$3" "$4" "$5" "$6" $NEW_P)
    if [ -n "$OLD" ] && [ $((N_ROWS % 2)) = 1 ]; then o=$(measure "$OLD" "$2" "$3" "$4" "$5" "$6" $OLD_P); fi
    N_ROWS=$((N_ROWS + 1))
    echo "$1 | $o | $n" | tee -a "$ROWS" >&2
  done
}
for thr in $THREADS; do
  for shape in $SHAPES; do
    b=${shape%x*}; t=${shape#*x}
    for s in $STUDENTS; do
      st=$SMOL; [ "$s" = sliced ] && st=$SLICED
      row "kd-$s ${b}x$t -t$thr" kd "$st" "$b" "$t" "$thr"
    done
  done
  row "train15m 8x128 -t$thr" train "$CFG" 8 128 "$thr"
done
python3 - "$ROWS" <<'PY'
import statistics, sys
def med(xs):
    xs = [float(x) for x in xs if x != "-"]
    return statistics.median(xs) if xs else "-"
def f(x, spec):
    return "-" if x == "-" else format(float(x), spec)
pct = lambda x: "-" if x == "-" else f"{100 * float(x):.1f}%"
mib = lambda r: "-" if r == "-" else f"{r / 2**20:.0f}"
rows = {}
for line in open(sys.argv[1]):
    name, o, n = [x.strip() for x in line.split("|")]
    rows.setdefault(name, []).append((o.split(), n.split()))
print(f"{'config':<24} {'old tok/s':>10} {'new tok/s':>10} {'ratio':>6} {'old MFU':>8} {'new MFU':>8} {'new MFU bf16':>12} "
      f"{'peak f32':>8} {'peak bf16':>9} {'old RSS MiB':>11} {'new RSS MiB':>11}")
for name, ms in rows.items():
    o = [med([m[0][i] for m in ms]) for i in range(6)]
    n = [med([m[1][i] for m in ms]) for i in range(6)]
    ratio = "-" if o[0] == "-" else f"{n[0] / o[0]:.2f}x"
    gf = lambda x: "-" if x == "-" else f"{x / 1e9:.1f}"
    print(f"{name:<24} {f(o[0], '.1f'):>10} {f(n[0], '.1f'):>10} {ratio:>6} {pct(o[1]):>8} {pct(n[1]):>8} {pct(n[4]):>12} "
          f"{gf(n[3]):>8} {gf(n[5]):>9} {mib(o[2]):>11} {mib(n[2]):>11}")
PY
