// Hugging Face BertModel / BertForSequenceClassification: config.json + safetensors. nn.Linear
// weights are already [out, in], so tensors map one to one. Names carry the `bert.` prefix
// (task models) or not (BertModel, sentence-transformers folders); `classifier.*` never does.
// The pooler is imported when the checkpoint has it (BertModel(add_pooling_layer=False) saves
// none); a classifier needs it. Labels come from id2label, ordered by id.
#include <set>

#include "engine/error.h"
#include "models/hf_common.h"
#include "models/import.h"

namespace zip {

using json = nlohmann::json;

namespace {

// BERT keys besides the common ones: those read below, and settings with no effect on inference.
const std::set<std::string> kBertKeys = {
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
    "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "position_embedding_type", "num_labels",
    // Dropout is off at inference.
    "hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"};

ModelConfig parse_config(const json& cfg, const std::string& path) {
  hf::require_neutral(cfg, path,
                      {"position_embedding_type", "is_decoder", "add_cross_attention", "is_encoder_decoder",
                       "pruned_heads", "quantization_config", "auto_map"});
  // HF's "gelu" is the exact (erf) GELU.
  std::string act = hf::get_string(cfg, "hidden_act", "gelu", path);
  ZIP_CHECK(act == "gelu", "{}: hidden_act '{}' is not supported (only gelu, the erf form)", path, act);
  hf::warn_unknown_keys(cfg, kBertKeys, path, "BERT");

  ModelConfig c;
  c.arch = Arch::BERT;
  c.dim = hf::get_int(cfg, "hidden_size", 1, 1 << 16, path);
  c.vocab_size = hf::get_int(cfg, "vocab_size", 1, 1 << 22, path);
  int layers = hf::get_int(cfg, "num_hidden_layers", 1, 4096, path);
  int heads = hf::get_int(cfg, "num_attention_heads", 1, 4096, path);
  int ffn = hf::get_int(cfg, "intermediate_size", 1, 1 << 20, path);
  ZIP_CHECK(c.dim % heads == 0, "{}: hidden_size {} is not a multiple of num_attention_heads {}", path, c.dim, heads);
  c.head_dim = c.dim / heads;
  // BertConfig defaults for the rest.
  c.max_seq_len = hf::get_int_or(cfg, "max_position_embeddings", 512, 1, 1 << 22, path);
  c.n_token_types = hf::get_int_or(cfg, "type_vocab_size", 2, 1, 1024, path);
  c.norm_eps = float(hf::get_positive(cfg, "layer_norm_eps", 1e-12, path));
  c.layers.assign(size_t(layers), uniform_layer(heads, heads, ffn));
  return c;
}

// BertForSequenceClassification classes: id2label {"0": name, ...} in id order; without it,
// num_labels (default 2) classes named LABEL_i, as HF's PretrainedConfig does.
std::vector<std::string> parse_labels(const json& cfg, const std::string& path) {
  int n = hf::get_int_or(cfg, "num_labels", -1, 1, 4096, path);
  std::vector<std::string> labels;
  if (cfg.contains("id2label") && !cfg["id2label"].is_null()) {
    const json& m = cfg["id2label"];
    ZIP_CHECK(m.is_object() && !m.empty() && m.size() <= 4096, "{}: 'id2label' must be a non-empty object", path);
    labels.resize(m.size());
    std::vector<bool> seen(m.size(), false);
    for (const auto& [k, v] : m.items()) {
      size_t id = 0, end = 0;
      bool digits = !k.empty() && k.size() <= 4 && k.find_first_not_of("0123456789") == std::string::npos;
      if (digits) id = std::stoul(k, &end);
      ZIP_CHECK(digits && id < m.size() && !seen[id], "{}: 'id2label' keys must be the ids 0..{}, got '{}'", path,
                m.size() - 1, k);
      ZIP_CHECK(v.is_string(), "{}: 'id2label' entry '{}' must be a string", path, k);
      seen[id] = true;
      labels[id] = v.get<std::string>();
    }
    ZIP_CHECK(n < 0 || size_t(n) == labels.size(), "{}: num_labels {} but id2label lists {} labels", path, n,
              labels.size());
  } else {
    for (int i = 0; i < (n < 0 ? 2 : n); i++) labels.push_back(fmt::format("LABEL_{}", i));
  }
  return labels;
}

}  // namespace

Model import_hf_bert(const std::string& dir, const ImportOptions& opt) {
  const std::string cfg_path = dir + "/config.json";
  json cfg = hf::read_json_object(cfg_path);
  const hf::HfClass cls = hf::detect_class(cfg, cfg_path);
  ZIP_CHECK(cls.family == Arch::BERT, "{}: not a BERT checkpoint", cfg_path);
  Model m;
  m.config = parse_config(cfg, cfg_path);
  ModelConfig& c = m.config;
  const bool classifier = cls.name == "BertForSequenceClassification";
  if (classifier) c.labels = parse_labels(cfg, cfg_path);

  // position_ids is an arange buffer the engine recomputes.
  hf::TensorSource src(dir, [](const std::string& name) {
    return name == "embeddings.position_ids" || name == "bert.embeddings.position_ids";
  });
  const std::string p = src.detect_prefix("bert.", "embeddings.word_embeddings.weight");
  auto take = [&](const std::string& name, std::vector<int64_t> shape) { return src.take(p + name, shape); };
  const int64_t D = c.dim;
  // A linear layer or LayerNorm: weight and bias under the engine's `name` and `name`.bias.
  auto put = [&](const std::string& name, const std::string& hf_name, std::vector<int64_t> shape) {
    m.tensors[name] = take(hf_name + ".weight", shape);
    m.tensors[name + ".bias"] = take(hf_name + ".bias", {shape[0]});
  };
  m.tensors["tok_embd"] = src.take_embedding(p + "embeddings.word_embeddings.weight", c.vocab_size, D);
  m.tensors["pos_embd"] = take("embeddings.position_embeddings.weight", {c.max_seq_len, D});
  m.tensors["type_embd"] = take("embeddings.token_type_embeddings.weight", {c.n_token_types, D});
  put("embd_norm", "embeddings.LayerNorm", {D});
  for (int l = 0; l < c.n_layers(); l++) {
    const int64_t F = c.layers[size_t(l)].ffn_dim;
    const std::string e = fmt::format("encoder.layer.{}.", l);
    auto blk = [&](const char* what) { return layer_tensor(l, what); };
    put(blk("attn_q"), e + "attention.self.query", {D, D});
    put(blk("attn_k"), e + "attention.self.key", {D, D});
    put(blk("attn_v"), e + "attention.self.value", {D, D});
    put(blk("attn_output"), e + "attention.output.dense", {D, D});
    put(blk("attn_out_norm"), e + "attention.output.LayerNorm", {D});
    put(blk("ffn_up"), e + "intermediate.dense", {F, D});
    put(blk("ffn_down"), e + "output.dense", {D, F});
    put(blk("ffn_out_norm"), e + "output.LayerNorm", {D});
  }
  c.pooler = src.has(p + "pooler.dense.weight") || src.has(p + "pooler.dense.bias");
  ZIP_CHECK(c.pooler || !classifier, "{}: {} needs the pooler, but the checkpoint has no '{}pooler.dense.weight'", dir,
            cls.name, p);
  if (c.pooler) put("pooler", "pooler.dense", {D, D});
  if (classifier) {
    m.tensors["classifier"] = src.take("classifier.weight", {int64_t(c.labels.size()), D});
    m.tensors["classifier.bias"] = src.take("classifier.bias", {int64_t(c.labels.size())});
  }
  validate_config(c);
  src.check_all_used(cls.name + " with this config.json");

  m.tokenizer = hf::find_tokenizer(dir, opt, c.vocab_size);
  m.provenance = hf::provenance(dir, cfg, "hf-safetensors " + cls.name, "hf_bert", src);
  return m;
}

}  // namespace zip
