#include "engine/model.h"

#include "engine/error.h"

namespace zip {

std::string layer_tensor(int layer, const char* what) { return fmt::format("blk.{}.{}", layer, what); }

std::vector<TensorSpec> expected_tensors(const ModelConfig& c) {
  const ArchInfo& a = c.info();
  int64_t d = c.dim, v = c.vocab_size, hd = c.head_dim;
  std::vector<TensorSpec> out;
  auto add = [&](std::string name, std::vector<int64_t> shape) { out.push_back({std::move(name), std::move(shape)}); };
  // A weight, and its bias when the family has biases.
  auto linear = [&](const std::string& name, int64_t rows, int64_t cols) {
    add(name, {rows, cols});
    if (a.biases) add(name + ".bias", {rows});
  };
  auto norm = [&](const std::string& name) {
    add(name, {d});
    if (!a.rms_norm) add(name + ".bias", {d});
  };
  add("tok_embd", {v, d});
  if (!a.rope) add("pos_embd", {int64_t(c.max_seq_len), d});
  if (a.token_types) add("type_embd", {int64_t(c.n_token_types), d});
  if (a.embd_norm) norm("embd_norm");
  for (int l = 0; l < c.n_layers(); l++) {
    const LayerShape& s = c.layers[size_t(l)];
    auto name = [&](const char* w) { return layer_tensor(l, w); };
    if (s.has_attention()) {
      int64_t q = s.n_heads() * hd, kv = s.n_kv_heads() * hd;
      if (!a.post_norm) norm(name("attn_norm"));
      linear(name("attn_q"), q, d);
      linear(name("attn_k"), kv, d);
      linear(name("attn_v"), kv, d);
      add(name("attn_output"), {d, q});
    }
    // A removed module keeps its output bias (a constant added to the residual stream) and,
    // in post-norm blocks, the LayerNorm after it.
    if (a.biases) add(name("attn_output") + ".bias", {d});
    if (a.post_norm) norm(name("attn_out_norm"));
    if (s.has_ffn()) {
      int64_t f = s.ffn_dim;
      if (!a.post_norm) norm(name("ffn_norm"));
      if (a.gated_ffn()) linear(name("ffn_gate"), f, d);
      linear(name("ffn_up"), f, d);
      add(name("ffn_down"), {d, f});
    }
    if (a.biases) add(name("ffn_down") + ".bias", {d});
    if (a.post_norm) norm(name("ffn_out_norm"));
  }
  if (a.final_norm) norm("output_norm");
  if (a.causal && !c.tied_embeddings) add("output", {v, d});
  if (c.pooler) linear("pooler", d, d);
  if (!c.labels.empty()) linear("classifier", int64_t(c.labels.size()), d);
  return out;
}

int64_t ModelConfig::n_params() const {
  int64_t n = 0;
  for (auto& t : expected_tensors(*this)) n += shape_numel(t.shape);
  return n;
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
    ZIP_CHECK(is_float(t->dtype) || (is_quantized(t->dtype) && t->ndim() == 2),
              "tensor '{}' has dtype {}, expected a float type{}", s.name, dtype_name(t->dtype),
              t->ndim() == 2 ? " or a block type" : "");
    ZIP_CHECK(t->data != nullptr, "tensor '{}' has no data", s.name);
  }
  ZIP_CHECK(tensors.size() == specs.size(), "model has {} tensors, the config implies {}", tensors.size(),
            specs.size());
  if (tokenizer)
    ZIP_CHECK(int(tokenizer->pieces.size()) <= config.vocab_size,
              "tokenizer has {} pieces but the model's vocabulary is {}", tokenizer->pieces.size(),
              config.vocab_size);
}

void Model::convert_weights(DType dtype) {
  ZIP_CHECK(is_float(dtype), "weights must be f32, f16 or bf16");
  for (auto& [name, t] : tensors) {
    DType want = t.ndim() == 1 ? DType::F32 : dtype;  // norms and biases stay f32
    if (t.dtype != want) t = t.converted(want);
  }
}

}  // namespace zip
