#include "compress/heldout_loss.h"
#include "compress/host_backend.h"

#include <algorithm>
#include <cmath>

#include "engine/encoder.h"
#include "engine/error.h"
#include "engine/eval/log_softmax.h"
#include "engine/forward.h"

namespace zip {

HeldoutLoss::HeldoutLoss(const Model& dense, std::vector<std::vector<int>> windows, int threads, EncoderLoss encoder_loss,
                         bool keep_dense_probs)
    : dense_(dense),
      windows_(std::move(windows)),
      backend_(make_host_backend(threads)),
      encoder_(!dense.config.info().causal),
      pooled_(encoder_ && encoder_loss != EncoderLoss::Tokens),
      similarity_(encoder_ && encoder_loss == EncoderLoss::Similarity),
      probs_(encoder_ || keep_dense_probs) {
  ZIP_CHECK(!windows_.empty(), "no held-out windows for the search loss");
  for (const auto& w : windows_) len_ = std::max(len_, int(w.size()));
  if (probs_) keep_dense_outputs();
  dense_loss_ = loss(dense);
}

// What the divergences compare against: per window the dense model's hidden states, sentence
// embedding or next-token probabilities (with each row's Σ p·log p and Σ p).
void HeldoutLoss::keep_dense_outputs() {
  InferenceContext ctx(dense_, *backend_, len_, len_);
  const int V = dense_.config.vocab_size, D = dense_.config.dim;
  for (size_t k = 0; k < windows_.size(); k++) {
    const int n = int(windows_[k].size());
    const float* out = run(ctx, k, 0);
    if (pooled_) {
      dense_out_.push_back(embed(out, k, D));
    } else if (encoder_) {
      dense_out_.emplace_back(out, out + size_t(n) * size_t(D));
    } else {
      // Probabilities, and per row Σ p·log p and Σ p, so that KL needs no exp of the dense side.
      std::vector<float> prob(size_t(n) * size_t(V));
      std::vector<double> row;
      for (int i = 0; i < n; i++) {
        log_softmax(out + size_t(i) * size_t(V), V, &row);
        double neg_entropy = 0, mass = 0;
        for (int v = 0; v < V; v++) {
          float pv = float(std::exp(row[size_t(v)]));
          prob[size_t(i) * size_t(V) + size_t(v)] = pv;
          neg_entropy += double(pv) * row[size_t(v)], mass += double(pv);
        }
        dense_row_.push_back({neg_entropy, mass});
      }
      dense_out_.push_back(std::move(prob));
    }
  }
}

const float* HeldoutLoss::run(InferenceContext& ctx, size_t k, int first_layer) {
  const auto& w = windows_[k];
  ctx.reset();
  if (first_layer == 0) return encoder_ ? ctx.encode(w.data(), nullptr, int(w.size())) : ctx.eval(w, true);
  const std::vector<float>& x = residual_[size_t(first_layer) * windows_.size() + k];
  return ctx.eval_from_layer(first_layer, x.data(), int(w.size()), true);
}

// KL(p ‖ q) of one row = Σ p·log p − Σ p·z + lse(z)·Σ p for the candidate's logits z, the dense
// side precomputed: one log-sum-exp and one dot product per row.
double HeldoutLoss::kl_row(const float* z, double lse, size_t k, size_t i, size_t first_row) const {
  const DenseRow& d = dense_row_[first_row + i];
  return d.neg_entropy - dot_long(dense_out_[k].data() + i * size_t(dense_.config.vocab_size), z, dense_.config.vocab_size) +
         lse * d.mass;
}

double HeldoutLoss::window_kl(const float* logits, size_t k, int V) const {
  size_t first_row = 0;
  for (size_t j = 0; j < k; j++) first_row += windows_[j].size();
  double sum = 0;
  for (size_t i = 0; i < windows_[k].size(); i++) {
    const float* z = logits + i * size_t(V);
    sum += kl_row(z, log_sum_exp(z, V), k, i, first_row);
  }
  return sum;
}

// The window's sentence embedding as the model computes it (encoder.cpp): the [CLS] row or the
// mean of all rows; normalisation does not change a cosine.
std::vector<float> HeldoutLoss::embed(const float* h, size_t k, int D) const {
  if (dense_.config.pooling == "cls") return std::vector<float>(h, h + D);
  return mean_pool(h, int(windows_[k].size()), D);
}

double HeldoutLoss::window_cos(const float* h, size_t k, int D) const {
  std::vector<float> e;
  if (pooled_) e = embed(h, k, D), h = e.data();
  const float* r = dense_out_[k].data();
  double sum = 0;
  for (size_t i = 0; i < size_t(units(k)); i++) {
    double dot = 0, a = 0, b = 0;
    for (int j = 0; j < D; j++) {
      double x = h[i * size_t(D) + size_t(j)], y = r[i * size_t(D) + size_t(j)];
      dot += x * y, a += x * x, b += y * y;
    }
    sum += 1.0 - dot / std::max(std::sqrt(a * b), 1e-30);
  }
  return sum;
}

// Cosine similarity of every pair i < j of the first n embeddings, in order.
static std::vector<double> pair_cosines(const std::vector<std::vector<float>>& emb, size_t n) {
  std::vector<double> norm(n), out;
  for (size_t i = 0; i < n; i++) {
    double a = 0;
    for (float x : emb[i]) a += double(x) * double(x);
    norm[i] = std::max(std::sqrt(a), 1e-30);
  }
  out.reserve(n * (n - 1) / 2);
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) {
      double dot = 0;
      for (size_t d = 0; d < emb[i].size(); d++) dot += double(emb[i][d]) * double(emb[j][d]);
      out.push_back(dot / (norm[i] * norm[j]));
    }
  return out;
}

double HeldoutLoss::similarity_loss(const std::vector<std::vector<float>>& emb) const {
  ZIP_CHECK(emb.size() >= 3, "the similarity search loss needs at least 3 windows, {} given", emb.size());
  const std::vector<double> a = pair_cosines(emb, emb.size()), b = pair_cosines(dense_out_, emb.size());
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); i++) ma += a[i], mb += b[i];
  ma /= double(a.size()), mb /= double(b.size());
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); i++)
    sab += (a[i] - ma) * (b[i] - mb), saa += (a[i] - ma) * (a[i] - ma), sbb += (b[i] - mb) * (b[i] - mb);
  if (saa <= 0 || sbb <= 0) return saa == sbb ? 0.0 : 1.0;  // constant similarities: equal or uninformative
  return 1.0 - sab / std::sqrt(saa * sbb);
}

double HeldoutLoss::loss(const Model& m, double* kl) {
  ZIP_CHECK(!kl || probs_, "internal: KL on a loss-only window set");
  InferenceContext ctx(m, *backend_, len_, len_);
  const int V = m.config.vocab_size, D = m.config.dim;
  double sum = 0, kl_sum = 0;
  int64_t count = 0, kl_count = 0;
  size_t first_row = 0;  // of window k in dense_row_
  std::vector<std::vector<float>> emb;  // similarity loss
  for (size_t k = 0; k < windows_.size(); k++) {
    const auto& w = windows_[k];
    const float* out = run(ctx, k, 0);
    if (similarity_) {
      emb.push_back(embed(out, k, D));
      continue;
    }
    if (encoder_) {
      sum += window_cos(out, k, D);
      count += units(k);
      continue;
    }
    for (size_t i = 0; i < w.size(); i++) {
      const float* row = out + i * size_t(V);
      const double lse = log_sum_exp(row, V);
      if (i + 1 < w.size()) sum += lse - double(row[w[i + 1]]), count++;
      if (kl) kl_sum += kl_row(row, lse, k, i, first_row), kl_count++;
    }
    first_row += w.size();
  }
  if (similarity_) return similarity_loss(emb);
  if (kl) *kl = kl_sum / double(std::max<int64_t>(kl_count, 1));
  return sum / double(std::max<int64_t>(count, 1));
}

double HeldoutLoss::kl(const Model& m) {
  if (encoder_) return 0;
  return divergence(m, 0);
}

double HeldoutLoss::divergence(const Model& m, int first_layer, int windows) {
  ZIP_CHECK(probs_, "internal: held-out divergence on a loss-only window set");
  const int L = dense_.config.n_layers();
  ZIP_CHECK(first_layer >= 0 && first_layer <= L && m.config.n_layers() == L,
            "held-out divergence: layer {} of a {}-layer model", first_layer, m.config.n_layers());
  if (first_layer > 0 && residual_.empty()) {
    // One dense pass that keeps the stream entering every layer, for every window.
    struct Keep : ForwardObserver {
      std::vector<std::vector<float>>* out;
      size_t W, k = 0;
      void on_residual(int layer, const float* x, int rows, int dim) override {
        (*out)[size_t(layer) * W + k].assign(x, x + size_t(rows) * size_t(dim));
      }
    } keep;
    residual_.resize(size_t(L + 1) * windows_.size());
    keep.out = &residual_, keep.W = windows_.size();
    InferenceContext ctx(dense_, *backend_, len_, len_);
    ctx.set_observer(&keep);
    for (keep.k = 0; keep.k < windows_.size(); keep.k++) run(ctx, keep.k, 0);
  }
  const size_t W = windows <= 0 ? windows_.size() : std::min(windows_.size(), size_t(windows));
  InferenceContext ctx(m, *backend_, len_, len_);
  double sum = 0;
  int64_t count = 0;
  std::vector<std::vector<float>> emb;  // similarity loss
  for (size_t k = 0; k < W; k++) {
    const float* out = run(ctx, k, first_layer);
    if (similarity_) {
      emb.push_back(embed(out, k, m.config.dim));
      continue;
    }
    sum += encoder_ ? window_cos(out, k, m.config.dim) : window_kl(out, k, m.config.vocab_size);
    count += units(k);
  }
  if (similarity_) return similarity_loss(emb);
  return sum / double(std::max<int64_t>(count, 1));
}

}  // namespace zip
