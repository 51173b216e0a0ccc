# Shared by the bench/ scripts (source it; run the scripts from the repository root).
#   ZIP         the binary (default build/zip; ZIP_BIN is accepted too)
#   ZIP_SHARED  shared data and models (default ../shared)
#   ZIP_MODELS  download cache of tools/fetch-models.sh (default ~/.cache/zip/models)
#   BENCH_DIR   where converted models and outputs go (default build/bench)
ZIP=${ZIP:-${ZIP_BIN:-build/zip}}
SHARED=${ZIP_SHARED:-../shared}
BENCH_DIR=${BENCH_DIR:-build/bench}
mkdir -p "$BENCH_DIR"

# model_zlm NAME [DTYPE]: prints the path of NAME converted to .zlm (f32 unless DTYPE), fetching
# and converting it on first use. NAME: smollm2-135m | minilm | stories260k.
model_zlm() {
  local name=$1 dtype=${2:-f32} out dir
  out="$BENCH_DIR/$name-$dtype.zlm"
  if [ ! -f "$out" ]; then
    case $name in
      smollm2-135m)
        dir=$(bash tools/fetch-models.sh smollm2-135m-instruct) || return 1
        "$ZIP" convert "$dir/SmolLM2-135M-Instruct.Q4_1.gguf" -o "$out" --dtype "$dtype" >&2 ;;
      minilm)
        dir=$(bash tools/fetch-models.sh all-minilm-l6-v2) || return 1
        "$ZIP" convert "$dir" -o "$out" --dtype "$dtype" >&2 ;;
      stories260k)
        "$ZIP" convert "$SHARED/models/stories260K/stories260K.bin" -o "$out" --dtype "$dtype" >&2 ;;
      *) echo "bench: unknown model $name" >&2; return 1 ;;
    esac
  fi
  echo "$out"
}
