#include "prune/minitron/shape.h"

#include <algorithm>

#include "compress/slice_axes.h"
#include "engine/error.h"

namespace zip::minitron {

UniformShape uniform_shape_of(const ModelConfig& c) {
  ZIP_CHECK(c.n_layers() > 0, "minitron: the model has no layers");
  const LayerShape& s0 = c.layers[0];
  for (const LayerShape& s : c.layers) ZIP_CHECK(s == s0, "minitron: the layers differ in shape (a non-uniform model)");
  ZIP_CHECK(s0.has_attention() && s0.has_ffn(), "minitron: layer 0 lacks a module");
  for (int q : s0.q_per_kv) ZIP_CHECK(q == s0.q_per_kv[0], "minitron: uneven KV groups");
  return {c.n_layers(), s0.n_kv_heads(), s0.q_per_kv[0], s0.ffn_dim, c.dim};
}

SliceSpec uniform_width_spec(const ModelConfig& c, const Importance& imp, int n_kv_heads, int q_per_kv, int ffn_dim) {
  SliceSpec spec;
  for (int l = 0; l < c.n_layers(); l++) {
    const LayerShape& s = c.layers[size_t(l)];
    ZIP_CHECK(imp.heads.at(size_t(l)).size() == size_t(s.n_heads()) && imp.neurons.at(size_t(l)).size() == size_t(s.ffn_dim),
              "minitron: layer {}: importance does not match the model's shape", l);
    LayerSlice ls;
    ls.kv_heads = top_k(imp.kv_groups[size_t(l)], n_kv_heads);
    std::vector<int> q;
    int first = 0;  // first query head of group g (query heads are stored grouped by KV head)
    for (int g = 0; g < s.n_kv_heads(); g++) {
      int n = s.q_per_kv[size_t(g)];
      if (std::binary_search(ls.kv_heads.begin(), ls.kv_heads.end(), g)) {
        ZIP_CHECK(q_per_kv <= n, "minitron: layer {}: keeping {} query heads of a group of {}", l, q_per_kv, n);
        std::vector<double> in_group(imp.heads[size_t(l)].begin() + first, imp.heads[size_t(l)].begin() + first + n);
        for (int h : top_k(in_group, q_per_kv)) q.push_back(first + h);
      }
      first += n;
    }
    ls.q_heads = q;
    ls.ffn_neurons = top_k(imp.neurons[size_t(l)], ffn_dim);
    spec[l] = std::move(ls);
  }
  return spec;
}

std::vector<int> layers_to_keep(const Importance& imp, int keep, DepthScore by) {
  const std::vector<double>& score = by == DepthScore::DropLoss ? imp.drop_loss : imp.block_importance;
  ZIP_CHECK(score.size() == imp.block_importance.size(), "minitron: no layer-drop losses were computed");
  return top_k(score, keep);
}

Model prune_uniform(const Model& m, const Importance& imp, const UniformShape& t, DepthScore by, const WidthHook& after_width) {
  UniformShape dense = uniform_shape_of(m.config);
  ZIP_CHECK(t.n_layers >= 1 && t.n_layers <= dense.n_layers && t.dim >= 1 && t.dim <= dense.dim,
            "minitron: target shape outside the model's");
  const SliceSpec spec = uniform_width_spec(m.config, imp, t.n_kv_heads, t.q_per_kv, t.ffn_dim);
  Model out = slice_model(m, spec);
  if (after_width) after_width(out, spec);
  if (t.dim < dense.dim) out = slice_hidden(out, top_k(imp.channels, t.dim));
  if (t.n_layers < dense.n_layers) out = keep_layers(out, layers_to_keep(imp, t.n_layers, by));
  return out;
}

}  // namespace zip::minitron
