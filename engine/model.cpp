#include "engine/model.h"

#include "engine/error.h"

namespace zip {

std::string layer_tensor(int layer, const char* what) { return fmt::format("blk.{}.{}", layer, what); }

std::vector<TensorSpec> expected_tensors(const ModelConfig& c) {
  const ArchInfo& a = c.info();
  int64_t d = c.dim, v = c.vocab_size, hd = c.head_dim;
  std::vector<TensorSpec> out;
  out.push_back({"tok_embd", {v, d}});
  for (int l = 0; l < c.n_layers(); l++) {
    const LayerShape& s = c.layers[size_t(l)];
    if (s.has_attention()) {
      int64_t q = s.n_heads() * hd, kv = s.n_kv_heads() * hd;
      out.push_back({layer_tensor(l, "attn_norm"), {d}});
      out.push_back({layer_tensor(l, "attn_q"), {q, d}});
      out.push_back({layer_tensor(l, "attn_k"), {kv, d}});
      out.push_back({layer_tensor(l, "attn_v"), {kv, d}});
      out.push_back({layer_tensor(l, "attn_output"), {d, q}});
    }
    if (s.has_ffn()) {
      int64_t f = s.ffn_dim;
      out.push_back({layer_tensor(l, "ffn_norm"), {d}});
      if (a.gated_ffn) out.push_back({layer_tensor(l, "ffn_gate"), {f, d}});
      out.push_back({layer_tensor(l, "ffn_up"), {f, d}});
      out.push_back({layer_tensor(l, "ffn_down"), {d, f}});
    }
  }
  out.push_back({"output_norm", {d}});
  if (!c.tied_embeddings) out.push_back({"output", {v, d}});
  return out;
}

const Tensor* Model::find(const std::string& name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

const Tensor& Model::get(const std::string& name) const {
  const Tensor* t = find(name);
  ZIP_CHECK(t, "model has no tensor '{}'", name);
  return *t;
}

void Model::validate() const {
  validate_config(config);
  auto specs = expected_tensors(config);
  for (auto& s : specs) {
    const Tensor* t = find(s.name);
    ZIP_CHECK(t, "missing tensor '{}'", s.name);
    ZIP_CHECK(t->shape == s.shape, "tensor '{}' has shape {}, the config implies {}", s.name, t->shape_str(),
              shape_to_string(s.shape));
    ZIP_CHECK(is_float(t->dtype), "tensor '{}' has dtype {}, expected a float type", s.name, dtype_name(t->dtype));
    ZIP_CHECK(t->data != nullptr, "tensor '{}' has no data", s.name);
  }
  ZIP_CHECK(tensors.size() == specs.size(), "model has {} tensors, the config implies {}", tensors.size(),
            specs.size());
  if (tokenizer)
    ZIP_CHECK(int(tokenizer->pieces.size()) <= config.vocab_size,
              "tokenizer has {} pieces but the model's vocabulary is {}", tokenizer->pieces.size(),
              config.vocab_size);
}

static bool is_norm(const std::string& name) { return name.find("norm") != std::string::npos; }

void Model::convert_weights(DType dtype) {
  ZIP_CHECK(is_float(dtype), "weights must be f32, f16 or bf16");
  for (auto& [name, t] : tensors) {
    DType want = is_norm(name) ? DType::F32 : dtype;
    if (t.dtype != want) t = t.converted(want);
  }
}

}  // namespace zip
