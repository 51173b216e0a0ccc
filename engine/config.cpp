#include "engine/config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace zip {

using json = nlohmann::json;

static const ArchInfo kArchs[] = {
    {Arch::Llama, "llama", /*causal*/ true, /*rms*/ true, /*gated*/ true, /*rope*/ true, /*biases*/ false},
};

const ArchInfo& arch_info(Arch a) {
  for (auto& i : kArchs)
    if (i.arch == a) return i;
  fail("unknown architecture id {}", int(a));
}

Arch parse_arch(const std::string& name) {
  for (auto& i : kArchs)
    if (name == i.name) return i.arch;
  fail("unknown architecture '{}' (supported: llama)", name);
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

int64_t ModelConfig::n_params() const {
  const ArchInfo& a = info();
  int64_t d = dim, p = int64_t(vocab_size) * d;  // token embedding
  if (!tied_embeddings) p += int64_t(vocab_size) * d;
  p += d;  // final norm
  for (auto& l : layers) {
    if (l.has_attention()) {
      int64_t q = int64_t(l.n_heads()) * head_dim, kv = int64_t(l.n_kv_heads()) * head_dim;
      p += d + q * d + 2 * kv * d + d * q;
    }
    if (l.has_ffn()) p += d + int64_t(a.gated_ffn ? 3 : 2) * l.ffn_dim * d;
  }
  return p;
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
}

json config_to_json(const ModelConfig& c) {
  json layers = json::array();
  for (auto& l : c.layers) layers.push_back({{"q_per_kv", l.q_per_kv}, {"ffn_dim", l.ffn_dim}});
  return {{"arch", c.info().name},
          {"dim", c.dim},
          {"vocab_size", c.vocab_size},
          {"max_seq_len", c.max_seq_len},
          {"head_dim", c.head_dim},
          {"norm_eps", c.norm_eps},
          {"rope_theta", c.rope_theta},
          {"tied_embeddings", c.tied_embeddings},
          {"layers", layers}};
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
  static const char* known[] = {"arch", "dim", "vocab_size", "max_seq_len", "head_dim", "norm_eps", "rope_theta",
                                "tied_embeddings", "layers", "n_layers", "n_heads", "n_kv_heads", "ffn_dim"};
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
