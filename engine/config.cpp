#include "engine/config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace zip {

using json = nlohmann::json;

//                 arch        name     causal rms    act                   rope   biases post   types  embd_n final_n
static const ArchInfo kArchs[] = {
    {Arch::Llama, "llama", true, true, Activation::SwiGLU, true, false, false, false, false, true},
    {Arch::GPT2, "gpt2", true, false, Activation::GeluTanh, false, true, false, false, false, true},
    {Arch::BERT, "bert", false, false, Activation::GeluErf, false, true, true, true, true, false},
};

const ArchInfo& arch_info(Arch a) {
  for (auto& i : kArchs)
    if (i.arch == a) return i;
  fail("unknown architecture id {}", int(a));
}

Arch parse_arch(const std::string& name) {
  for (auto& i : kArchs)
    if (name == i.name) return i.arch;
  fail("unknown architecture '{}' (supported: llama, gpt2, bert)", name);
}

int LayerShape::n_heads() const {
  int n = 0;
  for (int q : q_per_kv) n += q;
  return n;
}

std::vector<int> LayerShape::kv_of_q() const {
  std::vector<int> out;
  for (int g = 0; g < int(q_per_kv.size()); g++)
    for (int i = 0; i < q_per_kv[size_t(g)]; i++) out.push_back(g);
  return out;
}

LayerShape uniform_layer(int n_heads, int n_kv_heads, int ffn_dim) {
  ZIP_CHECK(n_kv_heads > 0 && n_heads % n_kv_heads == 0, "n_heads {} is not a multiple of n_kv_heads {}", n_heads,
            n_kv_heads);
  LayerShape s;
  s.q_per_kv.assign(size_t(n_kv_heads), n_heads / n_kv_heads);
  s.ffn_dim = ffn_dim;
  return s;
}

void validate_config(const ModelConfig& c) {
  ZIP_CHECK(c.dim > 0 && c.dim <= (1 << 16), "config: dim {} out of range (1..65536)", c.dim);
  ZIP_CHECK(c.vocab_size > 0 && c.vocab_size <= (1 << 22), "config: vocab_size {} out of range", c.vocab_size);
  ZIP_CHECK(c.max_seq_len > 0 && c.max_seq_len <= (1 << 22), "config: max_seq_len {} out of range", c.max_seq_len);
  ZIP_CHECK(c.head_dim > 0 && c.head_dim <= 1024, "config: head_dim {} out of range (1..1024)", c.head_dim);
  if (c.info().rope) ZIP_CHECK(c.head_dim % 2 == 0, "config: head_dim {} must be even for RoPE", c.head_dim);
  ZIP_CHECK(std::isfinite(c.norm_eps) && c.norm_eps > 0, "config: norm_eps must be positive");
  ZIP_CHECK(std::isfinite(c.rope_theta) && c.rope_theta > 0, "config: rope_theta must be positive");
  ZIP_CHECK(c.n_layers() <= 4096, "config: {} layers is too many", c.n_layers());
  for (int l = 0; l < c.n_layers(); l++) {
    const LayerShape& s = c.layers[size_t(l)];
    ZIP_CHECK(s.q_per_kv.size() <= 1024, "config: layer {} has too many KV heads", l);
    for (int q : s.q_per_kv)
      ZIP_CHECK(q >= 1 && q <= 1024, "config: layer {}: a KV head must be read by 1..1024 query heads, got {}", l, q);
    ZIP_CHECK(s.n_heads() <= 4096, "config: layer {} has too many query heads", l);
    ZIP_CHECK(s.ffn_dim >= 0 && s.ffn_dim <= (1 << 20), "config: layer {}: ffn_dim {} out of range", l, s.ffn_dim);
  }
  const ArchInfo& a = c.info();
  ZIP_CHECK(a.token_types ? (c.n_token_types >= 1 && c.n_token_types <= 1024) : c.n_token_types == 0,
            "config: n_token_types {} invalid for {}", c.n_token_types, a.name);
  ZIP_CHECK(!a.causal || (!c.pooler && c.labels.empty() && c.pooling.empty()),
            "config: pooler, labels and pooling are encoder features");
  ZIP_CHECK(a.causal || !c.tied_embeddings, "config: an encoder has no LM head to tie");
  ZIP_CHECK(c.labels.empty() || c.pooler, "config: a classifier needs the pooler");
  ZIP_CHECK(c.labels.size() <= 4096, "config: too many labels");
  ZIP_CHECK(c.pooling.empty() || c.pooling == "mean" || c.pooling == "cls", "config: pooling must be mean or cls");
}

json config_to_json(const ModelConfig& c) {
  json layers = json::array();
  for (auto& l : c.layers) layers.push_back({{"q_per_kv", l.q_per_kv}, {"ffn_dim", l.ffn_dim}});
  json j = {{"arch", c.info().name},
            {"dim", c.dim},
            {"vocab_size", c.vocab_size},
            {"max_seq_len", c.max_seq_len},
            {"head_dim", c.head_dim},
            {"norm_eps", c.norm_eps},
            {"tied_embeddings", c.tied_embeddings},
            {"layers", layers}};
  if (c.info().rope) j["rope_theta"] = c.rope_theta;
  if (c.info().token_types) j["n_token_types"] = c.n_token_types;
  if (!c.info().causal) {
    j["pooler"] = c.pooler;
    j["labels"] = c.labels;
    j["pooling"] = c.pooling;
    j["normalize"] = c.normalize;
  }
  return j;
}

template <typename T>
static T get_field(const json& j, const char* key) {
  ZIP_CHECK(j.contains(key), "config: missing field '{}'", key);
  const json& v = j.at(key);
  if constexpr (std::is_same_v<T, bool>) {
    ZIP_CHECK(v.is_boolean(), "config: field '{}' must be a boolean", key);
  } else if constexpr (std::is_integral_v<T>) {
    ZIP_CHECK(v.is_number_integer(), "config: field '{}' must be an integer", key);
    ZIP_CHECK(v.get<int64_t>() >= -(int64_t(1) << 31) && v.get<int64_t>() < (int64_t(1) << 31),
              "config: field '{}' out of range", key);
  } else if constexpr (std::is_floating_point_v<T>) {
    ZIP_CHECK(v.is_number(), "config: field '{}' must be a number", key);
  } else {
    ZIP_CHECK(v.is_string(), "config: field '{}' must be a string", key);
  }
  return v.get<T>();
}

ModelConfig config_from_json(const json& j) {
  ZIP_CHECK(j.is_object(), "config: expected a JSON object");
  static const char* known[] = {"arch",     "dim",     "vocab_size", "max_seq_len",   "head_dim", "norm_eps",
                                "rope_theta", "tied_embeddings", "layers", "n_layers", "n_heads",  "n_kv_heads",
                                "ffn_dim",  "n_token_types", "pooler", "labels", "pooling", "normalize"};
  for (auto& [k, v] : j.items()) {
    bool ok = false;
    for (auto* n : known) ok |= (k == n);
    ZIP_CHECK(ok, "config: unknown field '{}'", k);
  }
  ModelConfig c;
  c.arch = parse_arch(get_field<std::string>(j, "arch"));
  c.dim = get_field<int>(j, "dim");
  c.vocab_size = get_field<int>(j, "vocab_size");
  c.max_seq_len = get_field<int>(j, "max_seq_len");
  c.head_dim = get_field<int>(j, "head_dim");
  c.norm_eps = float(get_field<double>(j, "norm_eps"));
  if (c.info().rope) c.rope_theta = float(get_field<double>(j, "rope_theta"));
  c.tied_embeddings = get_field<bool>(j, "tied_embeddings");
  if (c.info().token_types) c.n_token_types = get_field<int>(j, "n_token_types");
  if (!c.info().causal) {
    c.pooler = get_field<bool>(j, "pooler");
    c.pooling = get_field<std::string>(j, "pooling");
    c.normalize = get_field<bool>(j, "normalize");
    ZIP_CHECK(j.contains("labels") && j.at("labels").is_array() && j.at("labels").size() <= 4096,
              "config: 'labels' must be an array of strings");
    for (auto& v : j.at("labels")) {
      ZIP_CHECK(v.is_string(), "config: 'labels' must be an array of strings");
      c.labels.push_back(v.get<std::string>());
    }
  }
  if (j.contains("layers")) {
    const json& ls = j.at("layers");
    ZIP_CHECK(ls.is_array() && ls.size() <= 4096, "config: 'layers' must be an array of at most 4096 layers");
    for (size_t l = 0; l < ls.size(); l++) {
      const json& lj = ls[l];
      ZIP_CHECK(lj.is_object(), "config: layer {} must be an object", l);
      LayerShape s;
      s.ffn_dim = get_field<int>(lj, "ffn_dim");
      ZIP_CHECK(lj.contains("q_per_kv") && lj.at("q_per_kv").is_array() && lj.at("q_per_kv").size() <= 1024,
                "config: layer {}: 'q_per_kv' must be an array", l);
      for (auto& q : lj.at("q_per_kv")) {
        ZIP_CHECK(q.is_number_integer(), "config: layer {}: 'q_per_kv' entries must be integers", l);
        int64_t v = q.get<int64_t>();
        ZIP_CHECK(v >= 1 && v <= 1024, "config: layer {}: q_per_kv entry {} out of range", l, v);
        s.q_per_kv.push_back(int(v));
      }
      c.layers.push_back(std::move(s));
    }
  } else {
    int n_layers = get_field<int>(j, "n_layers");
    int n_heads = get_field<int>(j, "n_heads");
    int n_kv = j.contains("n_kv_heads") ? get_field<int>(j, "n_kv_heads") : n_heads;
    int ffn = get_field<int>(j, "ffn_dim");
    ZIP_CHECK(n_layers >= 0 && n_layers <= 4096, "config: n_layers {} out of range", n_layers);
    ZIP_CHECK(n_heads > 0 && n_kv > 0 && n_heads <= 4096, "config: head counts must be positive");
    c.layers.assign(size_t(n_layers), uniform_layer(n_heads, n_kv, ffn));
  }
  validate_config(c);
  return c;
}

}  // namespace zip
