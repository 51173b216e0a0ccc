#include "compress/slice.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "engine/error.h"

namespace zip {

using json = nlohmann::json;

static std::vector<int> index_list(const json& j, const char* key, int layer, int limit) {
  ZIP_CHECK(j.at(key).is_array(), "slice: layer {}: '{}' must be an array", layer, key);
  std::vector<int> out;
  for (auto& v : j.at(key)) {
    ZIP_CHECK(v.is_number_integer(), "slice: layer {}: '{}' must hold integers", layer, key);
    int64_t i = v.get<int64_t>();
    ZIP_CHECK(i >= 0 && i < limit, "slice: layer {}: {} index {} out of range (0..{})", layer, key, i, limit - 1);
    ZIP_CHECK(out.empty() || i > out.back(), "slice: layer {}: '{}' must be ascending without duplicates", layer, key);
    out.push_back(int(i));
  }
  return out;
}

SliceSpec parse_slice_spec(const json& j, const ModelConfig& c) {
  ZIP_CHECK(j.is_object(), "slice: expected an object mapping layer numbers to index lists");
  SliceSpec spec;
  for (auto& [key, lj] : j.items()) {
    size_t used = 0;
    int l = -1;
    try {
      l = std::stoi(key, &used);
    } catch (...) {
    }
    ZIP_CHECK(used == key.size() && l >= 0 && l < c.n_layers(), "slice: '{}' is not a layer of this model (0..{})",
              key, c.n_layers() - 1);
    ZIP_CHECK(lj.is_object(), "slice: layer {} must be an object", l);
    for (auto& [k, v] : lj.items())
      ZIP_CHECK(k == "kv_heads" || k == "q_heads" || k == "ffn_neurons", "slice: layer {}: unknown field '{}'", l, k);
    ZIP_CHECK(lj.contains("kv_heads") && lj.contains("ffn_neurons"), "slice: layer {} needs kv_heads and ffn_neurons",
              l);
    const LayerShape& s = c.layers[size_t(l)];
    LayerSlice ls;
    ls.kv_heads = index_list(lj, "kv_heads", l, s.n_kv_heads());
    ls.ffn_neurons = index_list(lj, "ffn_neurons", l, s.ffn_dim);
    std::vector<int> kv_of_q = s.kv_of_q();
    if (lj.contains("q_heads")) {
      ls.q_heads = index_list(lj, "q_heads", l, s.n_heads());
      std::vector<int> per_group(size_t(s.n_kv_heads()), 0);
      for (int q : *ls.q_heads) {
        int g = kv_of_q[size_t(q)];
        ZIP_CHECK(std::binary_search(ls.kv_heads.begin(), ls.kv_heads.end(), g),
                  "slice: layer {}: query head {} reads KV head {}, which is not kept", l, q, g);
        per_group[size_t(g)]++;
      }
      for (int g : ls.kv_heads)
        ZIP_CHECK(per_group[size_t(g)] > 0, "slice: layer {}: KV head {} is kept but none of its query heads", l, g);
    }
    spec[l] = std::move(ls);
  }
  return spec;
}

json slice_spec_to_json(const SliceSpec& s) {
  json j = json::object();
  for (auto& [l, ls] : s) {
    json lj = {{"kv_heads", ls.kv_heads}, {"ffn_neurons", ls.ffn_neurons}};
    if (ls.q_heads) lj["q_heads"] = *ls.q_heads;
    j[std::to_string(l)] = lj;
  }
  return j;
}

Tensor take_rows(const Tensor& t, const std::vector<int>& rows, int block) {
  ZIP_CHECK(t.ndim() == 2 || t.ndim() == 1, "take_rows: expected a 1-D or 2-D tensor");
  size_t row_bytes = (t.ndim() == 2 ? size_t(t.dim(1)) : 1) * dtype_size(t.dtype) * size_t(block);
  std::vector<int64_t> shape = t.shape;
  shape[0] = int64_t(rows.size()) * block;
  Tensor out = Tensor::zeros(t.dtype, shape);
  for (size_t i = 0; i < rows.size(); i++)
    std::memcpy(static_cast<char*>(out.data) + i * row_bytes,
                static_cast<const char*>(t.data) + size_t(rows[i]) * row_bytes, row_bytes);
  return out;
}

Tensor take_cols(const Tensor& t, const std::vector<int>& cols, int block) {
  ZIP_CHECK(t.ndim() == 2, "take_cols: expected a 2-D tensor");
  size_t es = dtype_size(t.dtype), in_cols = size_t(t.dim(1)), out_cols = cols.size() * size_t(block);
  Tensor out = Tensor::zeros(t.dtype, {t.dim(0), int64_t(out_cols)});
  for (int64_t r = 0; r < t.dim(0); r++) {
    const char* src = static_cast<const char*>(t.data) + size_t(r) * in_cols * es;
    char* dst = static_cast<char*>(out.data) + size_t(r) * out_cols * es;
    for (size_t i = 0; i < cols.size(); i++)
      std::memcpy(dst + i * size_t(block) * es, src + size_t(cols[i]) * size_t(block) * es, size_t(block) * es);
  }
  return out;
}

Model slice_model(const Model& m, const SliceSpec& spec) {
  Model out;
  out.config = m.config;
  out.tokenizer = m.tokenizer;
  out.provenance = m.provenance;
  out.tensors = m.tensors;  // shares storage; sliced layers get fresh tensors below
  int hd = m.config.head_dim;
  for (auto& entry : spec) {
    const int l = entry.first;  // a plain variable: lambdas below capture it (clang rejects bindings)
    const LayerSlice& ls = entry.second;
    const LayerShape& s = m.config.layers[size_t(l)];
    LayerShape ns;
    std::vector<int> kv_of_q = s.kv_of_q(), q_keep;
    if (ls.q_heads) {
      q_keep = *ls.q_heads;
    } else {
      for (int q = 0; q < s.n_heads(); q++)
        if (std::binary_search(ls.kv_heads.begin(), ls.kv_heads.end(), kv_of_q[size_t(q)])) q_keep.push_back(q);
    }
    for (int g : ls.kv_heads) {
      int n = 0;
      for (int q : q_keep) n += kv_of_q[size_t(q)] == g;
      ns.q_per_kv.push_back(n);
    }
    ns.ffn_dim = int(ls.ffn_neurons.size());
    auto name = [&](const char* w) { return layer_tensor(l, w); };
    // Rows of a weight and of its bias, if it has one.
    auto keep_rows = [&](const char* w, const std::vector<int>& idx, int block) {
      out.tensors[name(w)] = take_rows(m.get(name(w)), idx, block);
      if (const Tensor* b = m.find(name(w) + ".bias")) out.tensors[name(w) + ".bias"] = take_rows(*b, idx, block);
    };
    // Drops a weight (and its bias / norm shift); output biases and post-norms are not passed here.
    auto drop = [&](const char* w) {
      out.tensors.erase(name(w));
      out.tensors.erase(name(w) + ".bias");
    };
    if (s.has_attention()) {
      if (ns.has_attention()) {
        keep_rows("attn_q", q_keep, hd);
        keep_rows("attn_k", ls.kv_heads, hd);
        keep_rows("attn_v", ls.kv_heads, hd);
        out.tensors[name("attn_output")] = take_cols(m.get(name("attn_output")), q_keep, hd);
      } else {
        for (const char* w : {"attn_norm", "attn_q", "attn_k", "attn_v"}) drop(w);
        out.tensors.erase(name("attn_output"));  // its bias stays
      }
    }
    if (s.has_ffn()) {
      if (ns.has_ffn()) {
        for (const char* w : {"ffn_gate", "ffn_up"})
          if (m.find(name(w))) keep_rows(w, ls.ffn_neurons, 1);
        out.tensors[name("ffn_down")] = take_cols(m.get(name("ffn_down")), ls.ffn_neurons);
      } else {
        for (const char* w : {"ffn_norm", "ffn_gate", "ffn_up"}) drop(w);
        out.tensors.erase(name("ffn_down"));  // its bias stays
      }
    }
    out.config.layers[size_t(l)] = ns;
  }
  out.validate();
  return out;
}

}  // namespace zip
