// Hugging Face LlamaForCausalLM: config.json + safetensors. The config is read strictly: any
// setting that would make Hugging Face compute something this engine does not (scaled RoPE,
// biases, sliding windows, other activations, quantized weights, ...) is an error, never
// ignored. Keys HF's Llama code never reads are reported as a warning (they cannot change what
// the checkpoint computes in HF either).
#include <cstdio>
#include <cstring>
#include <set>

#include "engine/error.h"
#include "engine/file_io.h"
#include "models/hf_common.h"
#include "models/import.h"

namespace zip {

using json = nlohmann::json;

namespace {

// Llama keys besides the common ones: those read below, and settings with no effect on the math.
const std::set<std::string> kLlamaKeys = {
    "attention_dropout",
    // Only splits the matmuls into slices whose results are concatenated/summed: same math.
    "pretraining_tp", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "head_dim", "hidden_act", "rms_norm_eps", "rope_theta", "max_position_embeddings",
    "tie_word_embeddings", "rope_scaling", "attention_bias", "mlp_bias", "sliding_window", "use_sliding_window",
    "partial_rotary_factor", "rope_parameters"};

ModelConfig parse_config(const json& cfg, const std::string& path) {
  ZIP_CHECK(hf::detect_class(cfg, path).family == Arch::Llama, "{}: not a Llama checkpoint", path);
  hf::require_neutral(cfg, path,
                      {"rope_scaling", "attention_bias", "mlp_bias", "sliding_window", "use_sliding_window",
                       "partial_rotary_factor", "quantization_config", "is_encoder_decoder", "is_decoder",
                       "pruned_heads", "auto_map"});
  // HF's ACT2FN maps both names to SiLU.
  std::string act = hf::get_string(cfg, "hidden_act", "silu", path);
  ZIP_CHECK(act == "silu" || act == "swish", "{}: hidden_act '{}' is not supported (only silu)", path, act);
  hf::warn_unknown_keys(cfg, kLlamaKeys, path, "Llama");

  ModelConfig c;
  c.arch = Arch::Llama;
  c.dim = hf::get_int(cfg, "hidden_size", 1, 1 << 16, path);
  c.vocab_size = hf::get_int(cfg, "vocab_size", 1, 1 << 22, path);
  c.max_seq_len = hf::get_int(cfg, "max_position_embeddings", 1, 1 << 22, path);
  int layers = hf::get_int(cfg, "num_hidden_layers", 1, 4096, path);
  int heads = hf::get_int(cfg, "num_attention_heads", 1, 4096, path);
  int kv = hf::get_int_or(cfg, "num_key_value_heads", heads, 1, heads, path);
  ZIP_CHECK(heads % kv == 0, "{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", path, heads,
            kv);
  if (cfg.contains("head_dim") && !cfg["head_dim"].is_null()) {
    c.head_dim = hf::get_int(cfg, "head_dim", 1, 1024, path);
  } else {
    ZIP_CHECK(c.dim % heads == 0, "{}: hidden_size {} is not a multiple of num_attention_heads {}", path, c.dim,
              heads);
    c.head_dim = c.dim / heads;
  }
  ZIP_CHECK(c.head_dim % 2 == 0, "{}: head_dim {} must be even for RoPE", path, c.head_dim);
  int ffn = hf::get_int(cfg, "intermediate_size", 1, 1 << 20, path);
  c.norm_eps = float(hf::get_positive(cfg, "rms_norm_eps", 1e-6, path));  // LlamaConfig defaults
  c.rope_theta = float(hf::get_positive(cfg, "rope_theta", 10000.0, path));
  // Newer transformers group RoPE settings as rope_parameters {rope_type, rope_theta, ...}.
  if (cfg.contains("rope_parameters") && !cfg["rope_parameters"].is_null()) {
    const json& rp = cfg["rope_parameters"];
    ZIP_CHECK(rp.is_object(), "{}: 'rope_parameters' must be an object", path);
    for (const auto& [k, v] : rp.items()) {
      bool ok = (k == "rope_type" && v == "default") || k == "rope_theta" ||
                (k == "partial_rotary_factor" && v.is_number() && v.get<double>() == 1.0);
      ZIP_CHECK(ok, "{}: 'rope_parameters' {} is not supported by this engine (only default RoPE)", path, rp.dump());
    }
    c.rope_theta = float(hf::get_positive(rp, "rope_theta", c.rope_theta, path));
  }
  c.tied_embeddings = hf::get_bool(cfg, "tie_word_embeddings", false, path);  // LlamaConfig default
  c.layers.assign(size_t(layers), uniform_layer(heads, kv, ffn));
  validate_config(c);
  return c;
}

// Non-weight buffers some checkpoints carry; the engine recomputes them.
bool is_known_buffer(const std::string& name) { return name.ends_with("rotary_emb.inv_freq"); }

}  // namespace

Tensor hf_rope_rows_to_adjacent(const Tensor& w, int n_heads, int head_dim) {
  ZIP_CHECK(w.ndim() == 2 && head_dim > 0 && head_dim % 2 == 0 && w.dim(0) == int64_t(n_heads) * head_dim,
            "RoPE permutation: weight of shape {} does not hold {} heads of {} rows", w.shape_str(), n_heads,
            head_dim);
  Tensor out = Tensor::zeros(w.dtype, w.shape);
  const size_t row = size_t(w.dim(1)) * dtype_size(w.dtype);
  const auto* src = static_cast<const uint8_t*>(w.data);
  auto* dst = static_cast<uint8_t*>(out.data);
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; h++) {
    size_t base = size_t(h) * size_t(head_dim);
    for (int i = 0; i < half; i++) {
      std::memcpy(dst + (base + 2 * size_t(i)) * row, src + (base + size_t(i)) * row, row);
      std::memcpy(dst + (base + 2 * size_t(i) + 1) * row, src + (base + size_t(i + half)) * row, row);
    }
  }
  return out;
}

Model import_hf_llama(const std::string& dir, const ImportOptions& opt) {
  const std::string cfg_path = dir + "/config.json";
  json cfg = hf::read_json_object(cfg_path);
  Model m;
  m.config = parse_config(cfg, cfg_path);
  const ModelConfig& c = m.config;

  hf::TensorSource src(dir, is_known_buffer);
  auto take = [&](const std::string& name, std::vector<int64_t> shape) { return src.take(name, shape); };
  const int64_t D = c.dim, V = c.vocab_size, hd = c.head_dim;
  m.tensors["tok_embd"] = src.take_embedding("model.embed_tokens.weight", V, D);
  for (int l = 0; l < c.n_layers(); l++) {
    const LayerShape& s = c.layers[size_t(l)];
    const int64_t q = int64_t(s.n_heads()) * hd, kv = int64_t(s.n_kv_heads()) * hd, F = s.ffn_dim;
    const std::string p = fmt::format("model.layers.{}.", l);
    m.tensors[layer_tensor(l, "attn_norm")] = take(p + "input_layernorm.weight", {D});
    m.tensors[layer_tensor(l, "attn_q")] =
        hf_rope_rows_to_adjacent(take(p + "self_attn.q_proj.weight", {q, D}), s.n_heads(), c.head_dim);
    m.tensors[layer_tensor(l, "attn_k")] =
        hf_rope_rows_to_adjacent(take(p + "self_attn.k_proj.weight", {kv, D}), s.n_kv_heads(), c.head_dim);
    m.tensors[layer_tensor(l, "attn_v")] = take(p + "self_attn.v_proj.weight", {kv, D});
    m.tensors[layer_tensor(l, "attn_output")] = take(p + "self_attn.o_proj.weight", {D, q});
    m.tensors[layer_tensor(l, "ffn_norm")] = take(p + "post_attention_layernorm.weight", {D});
    m.tensors[layer_tensor(l, "ffn_gate")] = take(p + "mlp.gate_proj.weight", {F, D});
    m.tensors[layer_tensor(l, "ffn_up")] = take(p + "mlp.up_proj.weight", {F, D});
    m.tensors[layer_tensor(l, "ffn_down")] = take(p + "mlp.down_proj.weight", {D, F});
  }
  m.tensors["output_norm"] = take("model.norm.weight", {D});

  if (!c.tied_embeddings) {
    m.tensors["output"] = take("lm_head.weight", {V, D});
  } else if (src.has("lm_head.weight")) {
    // A tied checkpoint may still store the head; HF would use the embedding. Accept the copy
    // only when it is byte-identical, so no weight is silently dropped.
    const Tensor& e = m.tensors["tok_embd"];
    const Tensor h = take("lm_head.weight", {V, D});
    ZIP_CHECK(h.dtype == e.dtype && std::memcmp(h.data, e.data, e.nbytes()) == 0,
              "{}: tie_word_embeddings is true but lm_head.weight differs from model.embed_tokens.weight", dir);
  }
  src.check_all_used("LlamaForCausalLM with this config.json");

  if (!opt.tokenizer_path.empty()) {
    m.tokenizer = given_tokenizer(opt);
  } else if (file_exists(dir + "/tokenizer.model")) {
    TokenizerData t = load_sentencepiece_model(dir + "/tokenizer.model");
    t.chat_template = load_chat_template(dir);
    m.tokenizer = std::make_shared<const TokenizerData>(std::move(t));
  } else if (file_exists(dir + "/tokenizer.json") && is_supported_hf_tokenizer_json(dir + "/tokenizer.json")) {
    // Byte-level BPE Llamas (SmolLM2, Llama 3) and zip's own HF export.
    m.tokenizer = std::make_shared<const TokenizerData>(load_tokenizer(dir));
  } else if (file_exists(dir + "/tokenizer.json")) {
    std::fprintf(stderr,
                 "warning: %s has a tokenizer.json of a kind not supported and no tokenizer.model; importing without a tokenizer (pass "
                 "--tokenizer FILE)\n",
                 dir.c_str());
  }
  if (m.tokenizer)
    ZIP_CHECK(int64_t(m.tokenizer->pieces.size()) <= V, "tokenizer has {} pieces, more than vocab_size {}",
              m.tokenizer->pieces.size(), V);

  m.provenance = hf::provenance(dir, cfg, "hf-safetensors LlamaForCausalLM", "hf_llama", src);
  return m;
}

}  // namespace zip
