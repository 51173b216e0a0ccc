// Model: a config, the weight tensors under canonical names, an optional tokenizer and
// provenance metadata. The tensor-name table below is the single place that says which
// tensors an architecture has and what shape each must be (llama.cpp-style).
#pragma once
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/tensor.h"
#include "engine/tokenizer/tokenizer.h"

namespace zip {

// Canonical tensor names (GGUF-like; expected_tensors() is the authoritative list):
//   tok_embd [vocab, dim]   pos_embd [max_seq_len, dim] (learned positions)   type_embd [types, dim]
//   embd_norm [dim] (BERT)  output_norm [dim] (pre-norm families)   output [vocab, dim] (untied)
//   blk.L.attn_norm [dim]   blk.L.attn_q [n_heads*hd, dim]   blk.L.attn_k / attn_v [n_kv*hd, dim]
//   blk.L.attn_output [dim, n_heads*hd]   blk.L.attn_out_norm [dim] (post-norm)
//   blk.L.ffn_norm [dim]    blk.L.ffn_gate / ffn_up [ffn, dim]   blk.L.ffn_down [dim, ffn]
//   blk.L.ffn_out_norm [dim] (post-norm)   pooler [dim, dim]   classifier [labels, dim]
// Biases and LayerNorm shifts are the weight's name + ".bias" (1-D). Weights are
// [out_features, in_features]. Query-head rows are grouped by KV head (LayerShape::q_per_kv
// order). RoPE rotates adjacent pairs (x[2i], x[2i+1]) of each head: the llama2.c/GGUF layout;
// importers convert to it. A removed module keeps its output bias and, in post-norm blocks, the
// LayerNorm after it.
std::string layer_tensor(int layer, const char* what);  // "blk.3.attn_q"

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};
// Every weight tensor the config implies, in file order.
std::vector<TensorSpec> expected_tensors(const ModelConfig& c);

struct Model {
  ModelConfig config;
  std::map<std::string, Tensor> tensors;
  std::shared_ptr<const TokenizerData> tokenizer;  // null if the model has none
  nlohmann::json provenance = nlohmann::json::object();  // source, parent hash, recipe, ...

  const Tensor& get(const std::string& name) const;
  const Tensor* find(const std::string& name) const;
  // Checks that the tensors are exactly the expected set, with expected shapes and float dtypes.
  void validate() const;
  // Converts every 2-D weight to `dtype` (1-D norms and biases stay f32).
  void convert_weights(DType dtype);
};

}  // namespace zip
