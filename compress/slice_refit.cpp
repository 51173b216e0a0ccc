#include "compress/slice_refit.h"

#include <algorithm>

#include "base/thread_pool.h"
#include "compress/run.h"
#include "engine/error.h"
#include "prune/ziplm/database.h"
#include "prune/ziplm/refit.h"

namespace zip {

std::vector<LayerStats> dense_projection_hessians(CompressRun& r) {
  const int L = r.dense.config.n_layers();
  const Database db(r.db_root, r.model_hash, r.calib.key);
  std::vector<LayerStats> out;
  if (db.has_stats(L)) {
    for (int l = 0; l < L; l++) {
      out.push_back(db.load_stats(l));
      r.progress("OBS refit: Hessians", l + 1, L);
    }
  } else {
    out = collect_layer_stats(r.dense, r.calib, r.opt.threads, [&r](int d, int t) { r.progress("OBS refit: calibration", d, t); });
    for (int l = 0; l < L; l++) db.save_stats(l, out[size_t(l)]);
  }
  for (LayerStats& s : out) s.g_attn = {}, s.g_ffn = {}, s.gt_attn = {}, s.gt_ffn = {};
  return out;
}

namespace {

// The query heads a layer slice keeps (explicit, or every head of the kept KV groups).
std::vector<int> kept_query_heads(const LayerShape& s, const LayerSlice& ls) {
  if (ls.q_heads) return *ls.q_heads;
  std::vector<int> q;
  const std::vector<int> kv_of_q = s.kv_of_q();
  for (int h = 0; h < s.n_heads(); h++)
    if (std::binary_search(ls.kv_heads.begin(), ls.kv_heads.end(), kv_of_q[size_t(h)])) q.push_back(h);
  return q;
}

Tensor refit(const Tensor& w, int group, const std::vector<double>& h, int h_cols, const std::vector<int>& kept,
             double damp, ThreadPool& pool) {
  const int rows = int(w.dim(0)), cols = int(w.dim(1));
  ZIP_CHECK(h_cols == cols && h.size() == size_t(cols) * size_t(cols),
            "OBS refit: the calibration statistics have {} columns, the projection {}", h_cols, cols);
  const std::vector<float> W = w.to_floats();
  std::vector<float> v = ridge_refit(W.data(), rows, cols, group, h.data(), kept, damp, &pool);
  return Tensor::from_floats(v, {rows, int64_t(kept.size()) * group}, is_float(w.dtype) ? w.dtype : DType::F32);
}

}  // namespace

void refit_output_projections(const Model& dense, const SliceSpec& spec, const std::vector<LayerStats>& h,
                              double damp, int threads, Model& sliced) {
  ZIP_CHECK(h.size() == size_t(dense.config.n_layers()), "OBS refit: statistics for {} layers, the model has {}",
            h.size(), dense.config.n_layers());
  ThreadPool pool(std::max(1, threads));
  const int hd = dense.config.head_dim;
  for (const auto& [l, ls] : spec) {
    const LayerShape& s = dense.config.layers[size_t(l)];
    const LayerStats& st = h[size_t(l)];
    const std::string wo = layer_tensor(l, "attn_output"), w2 = layer_tensor(l, "ffn_down");
    const std::vector<int> q = s.has_attention() ? kept_query_heads(s, ls) : std::vector<int>{};
    if (!q.empty() && sliced.find(wo)) sliced.tensors[wo] = refit(dense.get(wo), hd, st.h_attn, st.attn_cols, q, damp, pool);
    if (s.has_ffn() && !ls.ffn_neurons.empty() && sliced.find(w2))
      sliced.tensors[w2] = refit(dense.get(w2), 1, st.h_ffn, st.ffn_cols, ls.ffn_neurons, damp, pool);
  }
}

}  // namespace zip
