// Exporters behind `zip export`: a Model written in a format other tools serve, the inverse of
// the importers (models/import.h), so that `zip convert` of an exported file gives the model back
// tensor for tensor.
//
// GGUF (llama.cpp): uniform Llama-family models as `llama`, per-layer shapes as `deci` with
// per-layer head_count / head_count_kv / feed_forward_length arrays. Where llama.cpp's `deci`
// graph cannot run a layer as it is, the file is padded so that it computes exactly the same:
//   - a layer with attention and no FFN (llama.cpp drops its attention output) and a last layer
//     with no FFN (llama.cpp aborts) get a zero FFN of width 1 (f32, ffn_norm of ones): it adds
//     exactly 0 to the residual stream; cost 3·dim + dim weights per such layer;
//   - an attention-free first layer (llama.cpp reads head_dim and whether the model has attention
//     from layer 0) gets one zero attention head; cost 4·head_dim·dim + dim weights;
//   - a layer whose query groups per KV head are uneven (ggml assumes n_head / n_kv per group)
//     gets zero query heads up to the largest group: zero q rows and zero attn_output columns,
//     so the extra heads contribute exactly 0; cost 2·head_dim·dim weights and one head's
//     attention per padded head.
// The true shapes are kept in the metadata key `zip.layer_shapes` (JSON); the GGUF importer
// removes the padding again after checking that it is all zeros.
// Weights are written in their own type (F32/F16/BF16, the GGUF-identical block types as bytes).
#pragma once
#include <string>
#include <vector>

#include "engine/model.h"

namespace zip {

struct ExportResult {
  std::string arch;                 // "llama", "deci", "LlamaForCausalLM", ...
  std::vector<std::string> notes;   // what was padded, converted or needs care (one line each)
  int64_t padded_params = 0;        // weights added by padding (GGUF deci)
};

// Writes `m` as GGUF v3 to `path` (atomically). Throws zip::Error for what cannot be expressed.
ExportResult export_gguf(const Model& m, const std::string& path);

// Writes `m` as a Hugging Face folder `dir` (created if needed): config.json, model.safetensors,
// and the tokenizer files when the model has a tokenizer (docs/MODELS.md says which).
ExportResult export_hf(const Model& m, const std::string& dir);

}  // namespace zip
