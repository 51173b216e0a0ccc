// The reference backend: plain scalar loops, one thread, double-precision accumulation.
// Slow and obviously correct; every fast path is tested against it.
#include <cmath>
#include <vector>

#include "engine/backend.h"
#include "engine/error.h"

namespace zip {
namespace {

// Row n of W as floats (block types dequantised: the reference every quantized kernel is tested against).
void weight_row(const Tensor& W, int64_t n, std::vector<float>& row) {
  int64_t K = W.dim(1);
  row.resize(size_t(K));
  const char* base = static_cast<const char*>(W.data) + size_t(n) * dtype_row_bytes(W.dtype, K);
  to_f32(W.dtype, base, row.data(), size_t(K));
}

class RefBackend final : public Backend {
 public:
  const char* name() const override { return "ref"; }
  Device device() const override { return Device::CPU; }

  void matmul(float* y, const float* x, const Tensor& W, const float* bias, int M) override {
    int64_t N = W.dim(0), K = W.dim(1);
    std::vector<float> row;
    for (int64_t n = 0; n < N; n++) {
      weight_row(W, n, row);
      for (int m = 0; m < M; m++) {
        double acc = bias ? bias[n] : 0.0;
        for (int64_t k = 0; k < K; k++) acc += double(x[m * K + k]) * double(row[size_t(k)]);
        y[m * N + n] = float(acc);
      }
    }
  }

  void rmsnorm(float* y, const float* x, const float* w, int M, int D, float eps) override {
    for (int m = 0; m < M; m++) {
      const float* xm = x + size_t(m) * D;
      double ss = 0;
      for (int i = 0; i < D; i++) ss += double(xm[i]) * xm[i];
      double inv = 1.0 / std::sqrt(ss / D + eps);
      for (int i = 0; i < D; i++) y[size_t(m) * D + i] = float(xm[i] * inv * w[i]);
    }
  }

  void layernorm(float* y, const float* x, const float* w, const float* b, int M, int D, float eps) override {
    for (int m = 0; m < M; m++) {
      const float* xm = x + size_t(m) * D;
      double mean = 0, var = 0;
      for (int i = 0; i < D; i++) mean += xm[i];
      mean /= D;
      for (int i = 0; i < D; i++) var += (xm[i] - mean) * (xm[i] - mean);
      double inv = 1.0 / std::sqrt(var / D + eps);
      for (int i = 0; i < D; i++) y[size_t(m) * D + i] = float((xm[i] - mean) * inv * w[i] + (b ? b[i] : 0.0f));
    }
  }

  void rope(float* x, int M, int n_heads, int head_dim, const int* pos, float theta) override {
    for (int m = 0; m < M; m++)
      for (int h = 0; h < n_heads; h++) {
        float* v = x + (size_t(m) * n_heads + h) * head_dim;
        for (int i = 0; i < head_dim; i += 2) {
          double freq = std::pow(double(theta), -double(i) / head_dim);
          double ang = pos[m] * freq, c = std::cos(ang), s = std::sin(ang);
          double a = v[i], b = v[i + 1];
          v[i] = float(a * c - b * s);
          v[i + 1] = float(a * s + b * c);
        }
      }
  }

  void kv_store(float* cache, const float* x, int M, int n_kv, int head_dim, int pos0, int cache_len) override {
    for (int m = 0; m < M; m++)
      for (int h = 0; h < n_kv; h++)
        for (int i = 0; i < head_dim; i++)
          cache[(size_t(h) * head_dim + i) * cache_len + size_t(pos0 + m)] = x[(size_t(m) * n_kv + h) * head_dim + i];
  }

  void attention(float* out, const float* q, const float* kc, const float* vc, const AttentionArgs& a) override {
    int hd = a.head_dim;
    std::vector<double> p;
    for (int m = 0; m < a.n_tokens; m++)
      for (int h = 0; h < a.n_heads; h++) {
        const float* qv = q + (size_t(m) * a.n_heads + h) * hd;
        size_t C = size_t(a.cache_len);
        const float* K = kc + size_t(a.kv_of_q[h]) * hd * C;
        const float* V = vc + size_t(a.kv_of_q[h]) * hd * C;
        int T = a.causal ? a.pos0 + m + 1 : a.pos0 + a.n_tokens;
        p.assign(size_t(T), 0.0);
        double mx = -INFINITY, sum = 0;
        for (int t = 0; t < T; t++) {
          double s = 0;
          for (int i = 0; i < hd; i++) s += double(qv[i]) * K[size_t(i) * C + size_t(t)];
          p[size_t(t)] = s * a.scale;
          mx = std::max(mx, p[size_t(t)]);
        }
        for (int t = 0; t < T; t++) sum += (p[size_t(t)] = std::exp(p[size_t(t)] - mx));
        float* o = out + (size_t(m) * a.n_heads + h) * hd;
        for (int i = 0; i < hd; i++) {
          double acc = 0;
          for (int t = 0; t < T; t++) acc += p[size_t(t)] * V[size_t(i) * C + size_t(t)];
          o[i] = float(acc / sum);
        }
      }
  }

  void swiglu(float* y, const float* gate, const float* up, size_t n) override {
    for (size_t i = 0; i < n; i++) {
      double g = gate[i];
      y[i] = float(g / (1.0 + std::exp(-g)) * up[i]);
    }
  }

  void gelu(float* y, const float* x, size_t n, GeluKind kind) override {
    for (size_t i = 0; i < n; i++) {
      double v = x[i];
      if (kind == GeluKind::Erf)
        y[i] = float(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))));
      else
        y[i] = float(0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v))));
    }
  }

  void softmax(float* x, int M, int N) override {
    for (int m = 0; m < M; m++) {
      float* r = x + size_t(m) * N;
      double mx = -INFINITY, sum = 0;
      for (int i = 0; i < N; i++) mx = std::max(mx, double(r[i]));
      std::vector<double> e(static_cast<size_t>(N));
      for (int i = 0; i < N; i++) sum += (e[size_t(i)] = std::exp(r[i] - mx));
      for (int i = 0; i < N; i++) r[i] = float(e[size_t(i)] / sum);
    }
  }

  void embedding(float* y, const Tensor& table, const int* ids, int M) override {
    table.gather_rows_f32(ids, M, y);
  }

  void add(float* y, const float* x, size_t n) override {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
  }

  void tanh(float* x, size_t n) override {
    for (size_t i = 0; i < n; i++) x[i] = float(std::tanh(double(x[i])));
  }
};

}  // namespace

std::unique_ptr<Backend> make_ref_backend() { return std::make_unique<RefBackend>(); }

}  // namespace zip
