// Hugging Face LlamaForCausalLM: config.json + safetensors. The config is read strictly: any
// setting that would make Hugging Face compute something this engine does not (scaled RoPE,
// biases, sliding windows, other activations, quantized weights, ...) is an error, never
// ignored. Keys HF's Llama code never reads are reported as a warning (they cannot change what
// the checkpoint computes in HF either).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

#include "engine/error.h"
#include "engine/file_io.h"
#include "models/import.h"
#include "models/safetensors.h"

namespace zip {

using json = nlohmann::json;

namespace {

// Keys that do not affect the forward pass: bookkeeping, generation defaults, training-only
// settings, token ids, and those handled below.
const std::set<std::string> kHarmlessKeys = {
    "_name_or_path", "architectures", "model_type", "transformers_version", "torch_dtype", "dtype", "use_cache",
    "initializer_range", "attention_dropout", "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id",
    "decoder_start_token_id", "use_bfloat16", "return_dict", "output_hidden_states", "output_attentions",
    "torchscript", "tf_legacy_loss", "chunk_size_feed_forward", "add_cross_attention", "tie_encoder_decoder",
    "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty",
    "temperature", "top_k", "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
    "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "finetuning_task", "id2label",
    "label2id", "tokenizer_class", "prefix", "task_specific_params", "problem_type", "cross_attention_hidden_size",
    // Only splits the matmuls into slices whose results are concatenated/summed: same math.
    "pretraining_tp",
    // Read below.
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "head_dim", "hidden_act", "rms_norm_eps", "rope_theta", "max_position_embeddings",
    "tie_word_embeddings", "rope_scaling", "attention_bias", "mlp_bias", "sliding_window", "use_sliding_window",
    "partial_rotary_factor", "quantization_config", "is_encoder_decoder", "is_decoder", "pruned_heads", "auto_map",
    "rope_parameters"};

// Keys that change the computation unless they hold their neutral value.
bool is_neutral(const std::string& key, const json& v) {
  if (v.is_null()) return true;
  if (key == "rope_scaling") {
    // {"rope_type": "default"} is plain RoPE; anything else (linear, dynamic, yarn, llama3, ...) is not.
    if (!v.is_object()) return false;
    for (const auto& [k, x] : v.items())
      if (!((k == "rope_type" || k == "type") && x == "default")) return false;
    return true;
  }
  if (key == "attention_bias" || key == "mlp_bias" || key == "use_sliding_window" || key == "is_encoder_decoder" ||
      key == "is_decoder")
    return v.is_boolean() && !v.get<bool>();
  if (key == "sliding_window" || key == "quantization_config") return false;  // non-null = on
  if (key == "partial_rotary_factor") return v.is_number() && v.get<double>() == 1.0;
  if (key == "pruned_heads") return v.is_object() && v.empty();
  if (key == "auto_map") return false;  // custom modeling code: its math is unknown
  return true;
}

const char* const kMathKeys[] = {"rope_scaling",       "attention_bias", "mlp_bias",    "sliding_window",
                                 "use_sliding_window", "partial_rotary_factor",          "quantization_config",
                                 "is_encoder_decoder", "is_decoder",     "pruned_heads", "auto_map"};

int get_int(const json& cfg, const char* key, int lo, int hi, const std::string& path) {
  ZIP_CHECK(cfg.contains(key), "{}: missing '{}'", path, key);
  const json& v = cfg[key];
  ZIP_CHECK(v.is_number_integer(), "{}: '{}' must be an integer, got {}", path, key, v.dump());
  int64_t x = v.get<int64_t>();
  ZIP_CHECK(x >= lo && x <= hi, "{}: '{}' = {} out of range {}..{}", path, key, x, lo, hi);
  return int(x);
}

double get_num(const json& cfg, const char* key, double dflt, const std::string& path) {
  if (!cfg.contains(key) || cfg[key].is_null()) return dflt;
  ZIP_CHECK(cfg[key].is_number(), "{}: '{}' must be a number, got {}", path, key, cfg[key].dump());
  double x = cfg[key].get<double>();
  ZIP_CHECK(std::isfinite(x) && x > 0, "{}: '{}' must be positive, got {}", path, key, x);
  return x;
}

void check_architecture(const json& cfg, const std::string& path) {
  bool any = false;
  if (cfg.contains("architectures") && !cfg["architectures"].is_null()) {
    const json& a = cfg["architectures"];
    ZIP_CHECK(a.is_array() && a.size() == 1 && a[0].is_string(), "{}: 'architectures' must list one class, got {}",
              path, a.dump());
    std::string name = a[0].get<std::string>();
    ZIP_CHECK(name == "LlamaForCausalLM", "{}: unsupported architecture '{}' (supported: LlamaForCausalLM)", path,
              name);
    any = true;
  }
  if (cfg.contains("model_type")) {
    const json& t = cfg["model_type"];
    std::string name = t.is_string() ? t.get<std::string>() : t.dump();
    ZIP_CHECK(name == "llama", "{}: unsupported architecture (model_type '{}'; supported: llama)", path, name);
    any = true;
  }
  ZIP_CHECK(any, "{}: unsupported architecture: neither 'architectures' nor 'model_type' is given", path);
}

ModelConfig parse_config(const json& cfg, const std::string& path) {
  ZIP_CHECK(cfg.is_object(), "{}: expected a JSON object", path);
  check_architecture(cfg, path);
  for (const char* key : kMathKeys)
    if (cfg.contains(key))
      ZIP_CHECK(is_neutral(key, cfg[key]), "{}: '{}' = {} is not supported by this engine", path, key,
                cfg[key].dump());
  std::string act = "silu";
  if (cfg.contains("hidden_act")) {
    ZIP_CHECK(cfg["hidden_act"].is_string(), "{}: 'hidden_act' must be a string", path);
    act = cfg["hidden_act"].get<std::string>();
  }
  // HF's ACT2FN maps both names to SiLU.
  ZIP_CHECK(act == "silu" || act == "swish", "{}: hidden_act '{}' is not supported (only silu)", path, act);

  std::vector<std::string> unknown;
  for (const auto& [k, v] : cfg.items())
    if (!kHarmlessKeys.count(k)) unknown.push_back(k);
  if (!unknown.empty()) {
    std::string list;
    for (auto& k : unknown) list += (list.empty() ? "" : ", ") + k;
    std::fprintf(stderr, "warning: %s: ignoring keys Hugging Face's Llama does not read: %s\n", path.c_str(),
                 list.c_str());
  }

  ModelConfig c;
  c.arch = Arch::Llama;
  c.dim = get_int(cfg, "hidden_size", 1, 1 << 16, path);
  c.vocab_size = get_int(cfg, "vocab_size", 1, 1 << 22, path);
  c.max_seq_len = get_int(cfg, "max_position_embeddings", 1, 1 << 22, path);
  int layers = get_int(cfg, "num_hidden_layers", 1, 4096, path);
  int heads = get_int(cfg, "num_attention_heads", 1, 4096, path);
  int kv = heads;
  if (cfg.contains("num_key_value_heads") && !cfg["num_key_value_heads"].is_null())
    kv = get_int(cfg, "num_key_value_heads", 1, heads, path);
  ZIP_CHECK(heads % kv == 0, "{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", path, heads,
            kv);
  if (cfg.contains("head_dim") && !cfg["head_dim"].is_null()) {
    c.head_dim = get_int(cfg, "head_dim", 1, 1024, path);
  } else {
    ZIP_CHECK(c.dim % heads == 0, "{}: hidden_size {} is not a multiple of num_attention_heads {}", path, c.dim,
              heads);
    c.head_dim = c.dim / heads;
  }
  ZIP_CHECK(c.head_dim % 2 == 0, "{}: head_dim {} must be even for RoPE", path, c.head_dim);
  int ffn = get_int(cfg, "intermediate_size", 1, 1 << 20, path);
  c.norm_eps = float(get_num(cfg, "rms_norm_eps", 1e-6, path));  // LlamaConfig defaults
  c.rope_theta = float(get_num(cfg, "rope_theta", 10000.0, path));
  // Newer transformers group RoPE settings as rope_parameters {rope_type, rope_theta, ...}.
  if (cfg.contains("rope_parameters") && !cfg["rope_parameters"].is_null()) {
    const json& rp = cfg["rope_parameters"];
    ZIP_CHECK(rp.is_object(), "{}: 'rope_parameters' must be an object", path);
    for (const auto& [k, v] : rp.items()) {
      bool ok = (k == "rope_type" && v == "default") || k == "rope_theta" ||
                (k == "partial_rotary_factor" && v.is_number() && v.get<double>() == 1.0);
      ZIP_CHECK(ok, "{}: 'rope_parameters' {} is not supported by this engine (only default RoPE)", path, rp.dump());
    }
    c.rope_theta = float(get_num(rp, "rope_theta", c.rope_theta, path));
  }
  c.tied_embeddings = false;  // LlamaConfig default
  if (cfg.contains("tie_word_embeddings") && !cfg["tie_word_embeddings"].is_null()) {
    ZIP_CHECK(cfg["tie_word_embeddings"].is_boolean(), "{}: 'tie_word_embeddings' must be a boolean", path);
    c.tied_embeddings = cfg["tie_word_embeddings"].get<bool>();
  }
  c.layers.assign(size_t(layers), uniform_layer(heads, kv, ffn));
  validate_config(c);
  return c;
}

// Non-weight buffers some checkpoints carry; the engine recomputes them.
bool is_known_buffer(const std::string& name) { return name.ends_with("rotary_emb.inv_freq"); }

std::string dtype_summary(const std::map<std::string, Tensor>& ts) {
  std::set<std::string> names;
  for (const auto& [n, t] : ts) names.insert(dtype_name(t.dtype));
  std::string s;
  for (auto& n : names) s += (s.empty() ? "" : "+") + n;
  return s;
}

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
  json cfg = json::parse(read_file(cfg_path), nullptr, /*allow_exceptions=*/false);
  ZIP_CHECK(!cfg.is_discarded(), "{}: invalid JSON", cfg_path);
  Model m;
  m.config = parse_config(cfg, cfg_path);
  const ModelConfig& c = m.config;

  std::map<std::string, Tensor> src = load_safetensors_dir(dir);
  std::set<std::string> used;
  // Takes `name`, checks its shape; the tensor stays a view (converted later as a whole).
  auto take = [&](const std::string& name, std::vector<int64_t> shape) -> Tensor {
    auto it = src.find(name);
    ZIP_CHECK(it != src.end(), "{}: missing tensor '{}'", dir, name);
    ZIP_CHECK(it->second.shape == shape, "{}: tensor '{}' has shape {}, config.json implies {}", dir, name,
              it->second.shape_str(), shape_to_string(shape));
    used.insert(name);
    return it->second;
  };

  const int64_t D = c.dim, V = c.vocab_size, hd = c.head_dim;
  m.tensors["tok_embd"] = take("model.embed_tokens.weight", {V, D});
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
  } else if (src.count("lm_head.weight")) {
    // A tied checkpoint may still store the head; HF would use the embedding. Accept the copy
    // only when it is byte-identical, so no weight is silently dropped.
    const Tensor& e = m.tensors["tok_embd"];
    const Tensor& h = take("lm_head.weight", {V, D});
    ZIP_CHECK(h.dtype == e.dtype && std::memcmp(h.data, e.data, e.nbytes()) == 0,
              "{}: tie_word_embeddings is true but lm_head.weight differs from model.embed_tokens.weight", dir);
  }
  for (const auto& [name, t] : src)
    ZIP_CHECK(used.count(name) || is_known_buffer(name), "{}: unexpected tensor '{}' {} (not part of {})", dir,
              name, t.shape_str(), "LlamaForCausalLM with this config.json");

  if (!opt.tokenizer_path.empty()) {
    m.tokenizer = std::make_shared<const TokenizerData>(load_tokenizer(opt.tokenizer_path));
  } else if (file_exists(dir + "/tokenizer.model")) {
    m.tokenizer = std::make_shared<const TokenizerData>(load_sentencepiece_model(dir + "/tokenizer.model"));
  } else if (file_exists(dir + "/tokenizer.json")) {
    std::fprintf(stderr,
                 "warning: %s has tokenizer.json but no tokenizer.model; importing without a tokenizer (pass "
                 "--tokenizer FILE)\n",
                 dir.c_str());
  }
  if (m.tokenizer)
    ZIP_CHECK(int64_t(m.tokenizer->pieces.size()) <= V, "tokenizer has {} pieces, more than vocab_size {}",
              m.tokenizer->pieces.size(), V);

  m.provenance = {{"source", dir}, {"source_format", "hf-safetensors LlamaForCausalLM"},
                  {"source_dtype", dtype_summary(src)}, {"importer", "hf_llama"}};
  if (cfg.contains("_name_or_path") && cfg["_name_or_path"].is_string())
    m.provenance["source_name"] = cfg["_name_or_path"];
  return m;
}

}  // namespace zip
