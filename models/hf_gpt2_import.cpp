// Hugging Face GPT2LMHeadModel / GPT2Model: config.json + safetensors. GPT-2 stores its linear
// layers as Conv1D, weight [in, out]; they are transposed to the engine's [out, in], and the
// fused c_attn projection is split into Q, K and V along its output dimension (HF splits it the
// same way, then reads each as n_head contiguous heads: the engine's head-major row order).
// Tensor names may carry the `transformer.` prefix (GPT2LMHeadModel) or not (GPT2Model and old
// checkpoints); the causal-mask buffers old checkpoints carry (attn.bias, attn.masked_bias)
// are skipped. The LM head is tied: a stored lm_head.weight must equal wte.
#include <cstring>
#include <set>

#include "engine/error.h"
#include "models/hf_common.h"
#include "models/import.h"

namespace zip {

using json = nlohmann::json;

namespace {

// GPT-2 keys besides the common ones: those read below, and settings with no effect on inference.
const std::set<std::string> kGpt2Keys = {
    "vocab_size", "n_embd", "n_layer", "n_head", "n_positions", "n_ctx", "n_inner", "activation_function",
    "layer_norm_epsilon", "tie_word_embeddings", "hidden_size", "num_hidden_layers", "num_attention_heads",
    "max_position_embeddings", "scale_attn_weights", "scale_attn_by_inverse_layer_idx",
    // Dropout is off at inference.
    "attn_pdrop", "embd_pdrop", "resid_pdrop",
    // Only the precision of the attention scores (upcast to f32, scale before the matmul):
    // the engine computes them in f32 anyway.
    "reorder_and_upcast_attn",
    // GPT2DoubleHeadsModel's multiple-choice head, absent from the LM model.
    "summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels", "summary_first_dropout",
    "n_special", "predict_special_tokens"};

// A size given under its GPT-2 name or HF's generic alias (GPT2Config.attribute_map); both
// present must agree. With neither, `fallback` (another legacy key) or an error.
int get_aliased(const json& cfg, const char* key, const char* alias, int hi, const std::string& path,
                const char* fallback = nullptr) {
  bool has_key = cfg.contains(key) && !cfg[key].is_null(), has_alias = cfg.contains(alias) && !cfg[alias].is_null();
  if (has_key && has_alias) {
    int a = hf::get_int(cfg, key, 1, hi, path), b = hf::get_int(cfg, alias, 1, hi, path);
    ZIP_CHECK(a == b, "{}: '{}' = {} and '{}' = {} disagree", path, key, a, alias, b);
    return a;
  }
  if (has_alias) return hf::get_int(cfg, alias, 1, hi, path);
  if (!has_key && fallback && cfg.contains(fallback) && !cfg[fallback].is_null())
    return hf::get_int(cfg, fallback, 1, hi, path);
  return hf::get_int(cfg, key, 1, hi, path);
}

ModelConfig parse_config(const json& cfg, const std::string& path) {
  ZIP_CHECK(hf::detect_class(cfg, path).family == Arch::GPT2, "{}: not a GPT-2 checkpoint", path);
  hf::require_neutral(cfg, path,
                      {"scale_attn_weights", "scale_attn_by_inverse_layer_idx", "add_cross_attention",
                       "is_encoder_decoder", "pruned_heads", "quantization_config", "auto_map"});
  // HF's "gelu_new" and "gelu_pytorch_tanh" are both the tanh approximation of GELU.
  std::string act = hf::get_string(cfg, "activation_function", "gelu_new", path);
  ZIP_CHECK(act == "gelu_new" || act == "gelu_pytorch_tanh",
            "{}: activation_function '{}' is not supported (only gelu_new / gelu_pytorch_tanh)", path, act);
  hf::warn_unknown_keys(cfg, kGpt2Keys, path, "GPT-2");

  ModelConfig c;
  c.arch = Arch::GPT2;
  c.dim = get_aliased(cfg, "n_embd", "hidden_size", 1 << 16, path);
  int layers = get_aliased(cfg, "n_layer", "num_hidden_layers", 4096, path);
  int heads = get_aliased(cfg, "n_head", "num_attention_heads", 4096, path);
  // n_ctx is the pre-2020 name of the context length.
  c.max_seq_len = get_aliased(cfg, "n_positions", "max_position_embeddings", 1 << 22, path, "n_ctx");
  c.vocab_size = hf::get_int(cfg, "vocab_size", 1, 1 << 22, path);
  ZIP_CHECK(c.dim % heads == 0, "{}: n_embd {} is not a multiple of n_head {}", path, c.dim, heads);
  c.head_dim = c.dim / heads;
  int ffn = hf::get_int_or(cfg, "n_inner", 4 * c.dim, 1, 1 << 20, path);
  c.norm_eps = float(hf::get_positive(cfg, "layer_norm_epsilon", 1e-5, path));
  c.tied_embeddings = hf::get_bool(cfg, "tie_word_embeddings", true, path);
  c.layers.assign(size_t(layers), uniform_layer(heads, heads, ffn));
  validate_config(c);
  return c;
}

// Causal-mask buffers of old checkpoints: a lower-triangular matrix and a large negative constant.
bool is_mask_buffer(const std::string& name) {
  return (name.starts_with("h.") || name.starts_with("transformer.h.")) &&
         (name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias"));
}

}  // namespace

Model import_hf_gpt2(const std::string& dir, const ImportOptions& opt) {
  const std::string cfg_path = dir + "/config.json";
  json cfg = hf::read_json_object(cfg_path);
  const std::string cls = hf::detect_class(cfg, cfg_path).name;
  Model m;
  m.config = parse_config(cfg, cfg_path);
  const ModelConfig& c = m.config;

  hf::TensorSource src(dir, is_mask_buffer);
  const std::string p = src.detect_prefix("transformer.", "wte.weight");
  auto take = [&](const std::string& name, std::vector<int64_t> shape) { return src.take(p + name, shape); };
  // Conv1D: stored [in, out], returned [out, in].
  auto conv1d = [&](const std::string& name, int64_t in, int64_t out) {
    return hf::transpose_2d(take(name, {in, out}));
  };
  const int64_t D = c.dim, V = c.vocab_size;
  m.tensors["tok_embd"] = src.take_embedding(p + "wte.weight", V, D);
  m.tensors["pos_embd"] = take("wpe.weight", {c.max_seq_len, D});
  for (int l = 0; l < c.n_layers(); l++) {
    const int64_t F = c.layers[size_t(l)].ffn_dim;
    const std::string h = fmt::format("h.{}.", l);
    auto put = [&](const char* what, Tensor t) { m.tensors[layer_tensor(l, what)] = std::move(t); };
    put("attn_norm", take(h + "ln_1.weight", {D}));
    put("attn_norm.bias", take(h + "ln_1.bias", {D}));
    // c_attn's output columns are [q | k | v]; after the transpose they are row blocks.
    Tensor qkv = conv1d(h + "attn.c_attn.weight", D, 3 * D);
    Tensor qkv_b = take(h + "attn.c_attn.bias", {3 * D});
    const char* names[3] = {"attn_q", "attn_k", "attn_v"};
    for (int i = 0; i < 3; i++) {
      put(names[i], hf::slice_rows(qkv, i * D, D));
      m.tensors[layer_tensor(l, names[i]) + ".bias"] = hf::slice_rows(qkv_b, i * D, D);
    }
    put("attn_output", conv1d(h + "attn.c_proj.weight", D, D));
    put("attn_output.bias", take(h + "attn.c_proj.bias", {D}));
    put("ffn_norm", take(h + "ln_2.weight", {D}));
    put("ffn_norm.bias", take(h + "ln_2.bias", {D}));
    put("ffn_up", conv1d(h + "mlp.c_fc.weight", D, F));
    put("ffn_up.bias", take(h + "mlp.c_fc.bias", {F}));
    put("ffn_down", conv1d(h + "mlp.c_proj.weight", F, D));
    put("ffn_down.bias", take(h + "mlp.c_proj.bias", {D}));
  }
  m.tensors["output_norm"] = take("ln_f.weight", {D});
  m.tensors["output_norm.bias"] = take("ln_f.bias", {D});

  // The head is never prefixed. Tied (HF's default): a stored copy must be byte-identical to
  // wte, so no weight is silently dropped; untied: it is the output matrix.
  if (!c.tied_embeddings) {
    ZIP_CHECK(cls == "GPT2LMHeadModel", "{}: tie_word_embeddings is false but {} has no LM head", cfg_path, cls);
    m.tensors["output"] = src.take("lm_head.weight", {V, D});
  } else if (src.has("lm_head.weight")) {
    const Tensor& e = m.tensors["tok_embd"];
    const Tensor hd = src.take("lm_head.weight", {V, D});
    ZIP_CHECK(hd.dtype == e.dtype && std::memcmp(hd.data, e.data, e.nbytes()) == 0,
              "{}: tie_word_embeddings is true but lm_head.weight differs from {}wte.weight", dir, p);
  }
  src.check_all_used(cls + " with this config.json");

  m.tokenizer = hf::find_tokenizer(dir, opt, c.vocab_size);
  m.provenance = hf::provenance(dir, cfg, "hf-safetensors " + cls, "hf_gpt2", src);
  return m;
}

}  // namespace zip
