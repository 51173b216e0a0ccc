// Removing the GGUF exporter's padding; see gguf_unpad.h.
#include "models/gguf_unpad.h"

#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace zip {

namespace {

bool all_zero(const Tensor& t) {
  const Tensor f = t.converted(DType::F32);
  const float* p = f.ptr<float>();
  for (int64_t i = 0; i < f.numel(); i++)
    if (p[i] != 0.0f) return false;
  return true;
}

// Drops the padding FFN of layer l (true width 0) after checking ffn_down is zero: with a zero
// down projection the module adds exactly 0 whatever the other weights are.
void drop_ffn(Model& m, int l, const std::string& path) {
  ZIP_CHECK(all_zero(m.get(layer_tensor(l, "ffn_down"))),
            "{}: zip.layer_shapes says layer {} has no FFN, but its ffn_down is not zero", path, l);
  for (const char* w : {"ffn_norm", "ffn_gate", "ffn_up", "ffn_down"}) m.tensors.erase(layer_tensor(l, w));
}

// Drops the padding attention of an attention-free layer after checking attn_output is zero.
void drop_attention(Model& m, int l, const std::string& path) {
  ZIP_CHECK(all_zero(m.get(layer_tensor(l, "attn_output"))),
            "{}: zip.layer_shapes says layer {} has no attention, but its attn_output is not zero", path, l);
  for (const char* w : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output"}) m.tensors.erase(layer_tensor(l, w));
}

// Keeps the first q_per_kv[k] of the `group` query heads stored for KV head k (q rows and
// attn_output columns), after checking the dropped heads' attn_output columns are zero.
void drop_heads(Model& m, int l, const LayerShape& want, int group, int hd, const std::string& path) {
  const std::string qn = layer_tensor(l, "attn_q"), on = layer_tensor(l, "attn_output");
  const DType qt = m.get(qn).dtype, ot = m.get(on).dtype;
  const Tensor q = m.get(qn).converted(DType::F32), o = m.get(on).converted(DType::F32);
  const int64_t D = q.dim(1), rows = o.dim(0), n_file = q.dim(0) / hd, n_keep = want.n_heads();
  Tensor nq = Tensor::zeros(DType::F32, {n_keep * hd, D}), no = Tensor::zeros(DType::F32, {rows, n_keep * hd});
  std::vector<bool> kept(size_t(n_file), false);
  int64_t dst = 0;
  for (int k = 0; k < want.n_kv_heads(); k++)
    for (int j = 0; j < want.q_per_kv[size_t(k)]; j++, dst++) {
      const int64_t src = int64_t(k) * group + j;
      kept[size_t(src)] = true;
      std::copy_n(q.ptr<float>() + src * hd * D, hd * D, nq.ptr<float>() + dst * hd * D);
      for (int64_t r = 0; r < rows; r++)
        std::copy_n(o.ptr<float>() + r * n_file * hd + src * hd, hd, no.ptr<float>() + r * n_keep * hd + dst * hd);
    }
  for (int64_t h = 0; h < n_file; h++) {
    if (kept[size_t(h)]) continue;
    for (int64_t r = 0; r < rows; r++)
      for (int64_t i = 0; i < hd; i++)
        ZIP_CHECK(o.ptr<float>()[r * n_file * hd + h * hd + i] == 0.0f,
                  "{}: layer {}: query head {} is padding by zip.layer_shapes but its attn_output is not zero", path,
                  l, h);
  }
  m.tensors[qn] = nq.converted(qt);
  m.tensors[on] = no.converted(ot);
}

}  // namespace

void remove_gguf_export_padding(Model& m, const std::string& shapes_json, const std::string& path) {
  ModelConfig want = m.config;
  try {
    nlohmann::json j = config_to_json(m.config);
    j["layers"] = nlohmann::json::parse(shapes_json);
    want = config_from_json(j);
  } catch (const std::exception& e) {
    fail("{}: invalid zip.layer_shapes: {}", path, printable(e.what()));
  }
  ZIP_CHECK(want.n_layers() == m.config.n_layers(), "{}: zip.layer_shapes has {} layers, the file {}", path,
            want.n_layers(), m.config.n_layers());
  for (int l = 0; l < want.n_layers(); l++) {
    const LayerShape &have = m.config.layers[size_t(l)], &w = want.layers[size_t(l)];
    if (w.ffn_dim != have.ffn_dim) {
      ZIP_CHECK(w.ffn_dim == 0, "{}: layer {}: zip.layer_shapes ffn_dim {} but the file has {}", path, l, w.ffn_dim,
                have.ffn_dim);
      drop_ffn(m, l, path);
    }
    if (w.q_per_kv == have.q_per_kv) continue;
    if (!w.has_attention()) {
      drop_attention(m, l, path);
      continue;
    }
    const int group = have.has_attention() ? have.q_per_kv[0] : 0;
    bool fits = w.n_kv_heads() == have.n_kv_heads();
    for (int g : w.q_per_kv) fits = fits && g <= group;
    ZIP_CHECK(fits, "{}: layer {}: zip.layer_shapes query groups do not fit the file's {} KV heads of {}", path, l,
              have.n_kv_heads(), group);
    drop_heads(m, l, w, group, m.config.head_dim, path);
  }
  m.config = want;
}

}  // namespace zip
