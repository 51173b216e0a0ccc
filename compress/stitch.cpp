#include "compress/stitch.h"

#include <algorithm>

#include "engine/error.h"

namespace zip {

std::pair<int, int> attention_shape(const LayerShape& s, const std::vector<int>& kept) {
  std::vector<int> kv_of_q = s.kv_of_q();
  std::vector<int> kv;
  for (int q : kept) kv.push_back(kv_of_q.at(size_t(q)));
  std::sort(kv.begin(), kv.end());
  kv.erase(std::unique(kv.begin(), kv.end()), kv.end());
  return {int(kept.size()), int(kv.size())};
}

SliceSpec levels_slice(const Model& dense, const std::vector<LayerDb>& db, const std::vector<int>& attn_level,
                       const std::vector<int>& ffn_level) {
  const ModelConfig& c = dense.config;
  ZIP_CHECK(int(db.size()) == c.n_layers() && int(attn_level.size()) == c.n_layers() &&
                int(ffn_level.size()) == c.n_layers(),
            "levels given for {} layers, the model has {}", attn_level.size(), c.n_layers());
  SliceSpec spec;
  for (int l = 0; l < c.n_layers(); l++) {
    const LayerShape& s = c.layers[size_t(l)];
    LayerSlice ls;
    if (s.has_attention()) {
      const std::vector<int>& q = db[size_t(l)].attn.kept.at(size_t(attn_level[size_t(l)]));
      std::vector<int> kv_of_q = s.kv_of_q();
      for (int h : q) ls.kv_heads.push_back(kv_of_q[size_t(h)]);
      std::sort(ls.kv_heads.begin(), ls.kv_heads.end());
      ls.kv_heads.erase(std::unique(ls.kv_heads.begin(), ls.kv_heads.end()), ls.kv_heads.end());
      ls.q_heads = q;
    }
    if (s.has_ffn()) ls.ffn_neurons = db[size_t(l)].ffn.kept.at(size_t(ffn_level[size_t(l)]));
    spec[l] = std::move(ls);
  }
  return spec;
}

Model stitch_model(const Model& dense, const Database& db, const DbOptions& o, const std::vector<LayerDb>& levels,
                   const std::vector<int>& attn_level, const std::vector<int>& ffn_level) {
  Model m = slice_model(dense, levels_slice(dense, levels, attn_level, ffn_level));
  for (int l = 0; l < dense.config.n_layers(); l++) {
    const LayerDb& lv = levels[size_t(l)];
    int a = attn_level[size_t(l)], f = ffn_level[size_t(l)];
    if (m.config.layers[size_t(l)].has_attention() && a > 0)
      m.tensors[layer_tensor(l, "attn_output")] = db.level_weight(dense, o, l, true, lv.attn, a);
    if (m.config.layers[size_t(l)].has_ffn() && f > 0)
      m.tensors[layer_tensor(l, "ffn_down")] = db.level_weight(dense, o, l, false, lv.ffn, f);
  }
  m.validate();
  return m;
}

}  // namespace zip
