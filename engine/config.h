// Model architecture: the family (a table of features) plus global hyperparameters and, for
// every layer, its own shape. Nothing may derive a per-layer dimension from a global one: after
// pruning, layers differ in heads, KV groups and FFN width, and modules can be absent.
// The same JSON schema is the `config` of the .zlm header and the training config.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace zip {

enum class Arch { Llama, GPT2, BERT };
enum class Activation { SwiGLU, GeluTanh, GeluErf };

// What distinguishes the families; the forward pass branches on these flags, never on names.
struct ArchInfo {
  Arch arch;
  const char* name;     // "llama", "gpt2", "bert"
  bool causal;          // decoder (causal mask, KV cache, LM head) or encoder
  bool rms_norm;        // RMSNorm (else LayerNorm with bias)
  Activation act;       // SwiGLU (gate, up, down) or a 2-layer GELU MLP (up, down)
  bool rope;            // rotary positions (else a learned position table)
  bool biases;          // linear layers carry biases
  bool post_norm;       // BERT: LayerNorm after each residual add (else pre-norm blocks)
  bool token_types;     // token-type embeddings (BERT)
  bool embd_norm;       // LayerNorm on the embeddings (BERT)
  bool final_norm;      // a norm after the last block (pre-norm families)
  bool gated_ffn() const { return act == Activation::SwiGLU; }
};
const ArchInfo& arch_info(Arch a);
Arch parse_arch(const std::string& name);  // throws on an unknown family

struct LayerShape {
  // One entry per KV head this layer keeps: how many query heads read it. Query heads are
  // stored grouped by KV head, in this order. Empty = attention module removed.
  std::vector<int> q_per_kv;
  int ffn_dim = 0;  // 0 = FFN module removed

  bool has_attention() const { return !q_per_kv.empty(); }
  bool has_ffn() const { return ffn_dim > 0; }
  int n_kv_heads() const { return int(q_per_kv.size()); }
  int n_heads() const;
  // KV head read by each query head, size n_heads().
  std::vector<int> kv_of_q() const;
  bool operator==(const LayerShape&) const = default;
};

struct ModelConfig {
  Arch arch = Arch::Llama;
  int dim = 0;          // hidden size (residual stream width)
  int vocab_size = 0;
  int max_seq_len = 0;  // context length
  int head_dim = 0;     // independent of dim
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;   // RoPE families only
  bool tied_embeddings = false;  // decoders: LM head shares the token embedding
  std::vector<LayerShape> layers;
  // Encoder (BERT) extras.
  int n_token_types = 0;            // token-type vocabulary (BERT: 2)
  bool pooler = false;              // tanh(W·h[CLS] + b) pooler
  std::vector<std::string> labels;  // classifier classes on the pooled output (empty: none)
  std::string pooling;              // sentence embedding: "" (none), "mean" or "cls"
  bool normalize = false;           // L2-normalise sentence embeddings

  int n_layers() const { return int(layers.size()); }
  const ArchInfo& info() const { return arch_info(arch); }
  int64_t n_params() const;  // number of weights the config implies (all expected tensors)
  bool operator==(const ModelConfig&) const = default;
};

// Throws zip::Error describing the first violated constraint (sizes positive and bounded, ...).
void validate_config(const ModelConfig& c);

// JSON schema (docs/FORMAT.md). `layers` is a list of {"q_per_kv": [...], "ffn_dim": N}; a
// config may instead give uniform "n_layers", "n_heads", "n_kv_heads", "ffn_dim".
nlohmann::json config_to_json(const ModelConfig& c);
ModelConfig config_from_json(const nlohmann::json& j);  // validates

// A uniform (unpruned) layer shape.
LayerShape uniform_layer(int n_heads, int n_kv_heads, int ffn_dim);

}  // namespace zip
