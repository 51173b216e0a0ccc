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

SliceSpec levels_slice(const Model& dense, const Ranking& r, const std::vector<int>& levels) {
  const ModelConfig& c = dense.config;
  ZIP_CHECK(int(levels.size()) == module_count(c.n_layers()), "levels given for {} modules, the model has {}",
            levels.size(), module_count(c.n_layers()));
  SliceSpec spec;
  for (int l = 0; l < c.n_layers(); l++) {
    const LayerShape& s = c.layers[size_t(l)];
    const ModuleId attn{l, ModuleKind::Attention}, ffn{l, ModuleKind::Ffn};
    LayerSlice ls;
    if (s.has_attention()) {
      const std::vector<int>& q = r.levels(attn).kept.at(size_t(levels[size_t(module_index(attn))]));
      std::vector<int> kv_of_q = s.kv_of_q();
      for (int h : q) ls.kv_heads.push_back(kv_of_q[size_t(h)]);
      std::sort(ls.kv_heads.begin(), ls.kv_heads.end());
      ls.kv_heads.erase(std::unique(ls.kv_heads.begin(), ls.kv_heads.end()), ls.kv_heads.end());
      ls.q_heads = q;
    }
    if (s.has_ffn()) ls.ffn_neurons = r.levels(ffn).kept.at(size_t(levels[size_t(module_index(ffn))]));
    spec[l] = std::move(ls);
  }
  return spec;
}

Model stitch_model(const Model& dense, const Ranking& r, const std::vector<int>& levels) {
  Model m = slice_model(dense, levels_slice(dense, r, levels));
  for (int i = 0; i < int(levels.size()); i++) {
    const ModuleId id = module_at(i);
    const LayerShape& s = m.config.layers[size_t(id.layer)];
    if (!(id.kind == ModuleKind::Attention ? s.has_attention() : s.has_ffn())) continue;
    if (std::optional<Tensor> w = r.output_weight(dense, id, levels[size_t(i)]))
      m.tensors[layer_tensor(id.layer, id.kind == ModuleKind::Attention ? "attn_output" : "ffn_down")] = std::move(*w);
  }
  m.validate();
  return m;
}

}  // namespace zip
