#include "engine/encoder.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace zip {

std::vector<float> mean_pool(const float* h, int n, int dim) {
  std::vector<double> acc(size_t(dim), 0.0);
  for (int t = 0; t < n; t++)
    for (int i = 0; i < dim; i++) acc[size_t(i)] += h[size_t(t) * dim + i];
  std::vector<float> out(static_cast<size_t>(dim));
  for (int i = 0; i < dim; i++) out[size_t(i)] = float(acc[size_t(i)] / n);
  return out;
}

void l2_normalize(std::vector<float>& v) {
  double ss = 0;
  for (float x : v) ss += double(x) * x;
  double inv = 1.0 / std::max(std::sqrt(ss), 1e-12);  // sentence-transformers' F.normalize eps
  for (float& x : v) x = float(x * inv);
}

std::vector<float> softmax_probs(const std::vector<float>& logits) {
  std::vector<float> p(logits.size());
  if (logits.empty()) return p;
  double mx = *std::max_element(logits.begin(), logits.end()), sum = 0;
  for (size_t i = 0; i < p.size(); i++) sum += (p[i] = float(std::exp(logits[i] - mx)));
  for (float& x : p) x = float(x / sum);
  return p;
}

EncoderOutput run_encoder(InferenceContext& ctx, const std::vector<int>& ids, const std::vector<int>& types) {
  const Model& m = ctx.model();
  const ModelConfig& c = m.config;
  ZIP_CHECK(types.empty() || types.size() == ids.size(), "token types: {} for {} tokens", types.size(), ids.size());
  EncoderOutput out;
  out.n_tokens = int(ids.size());
  int D = c.dim;
  const float* h = ctx.encode(ids.data(), types.empty() ? nullptr : types.data(), int(ids.size()));
  out.hidden.assign(h, h + ids.size() * size_t(D));
  Backend& be = ctx.backend();
  if (c.pooler) {
    out.pooled.assign(size_t(D), 0.0f);
    const Tensor& b = m.get("pooler.bias");
    std::vector<float> bias = b.to_floats();
    be.matmul(out.pooled.data(), out.hidden.data(), m.get("pooler"), bias.data(), 1);
    be.tanh(out.pooled.data(), size_t(D));
  }
  if (!c.labels.empty()) {
    out.logits.assign(c.labels.size(), 0.0f);
    std::vector<float> bias = m.get("classifier.bias").to_floats();
    be.matmul(out.logits.data(), out.pooled.data(), m.get("classifier"), bias.data(), 1);
  }
  if (c.pooling == "cls")
    out.embedding.assign(out.hidden.begin(), out.hidden.begin() + D);
  else
    out.embedding = mean_pool(out.hidden.data(), out.n_tokens, D);
  if (c.normalize) l2_normalize(out.embedding);
  return out;
}

}  // namespace zip
