// The CPU backend: the Backend interface over the SIMD kernels and a thread pool.
#include <cmath>
#include <cstring>

#include "engine/error.h"
#include "kernels/cpu/cpu_kernels.h"

namespace zip {
namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : pool_(threads) {}
  const char* name() const override { return "cpu"; }
  Device device() const override { return Device::CPU; }
  int threads() const override { return pool_.size(); }

  void matmul(float* y, const float* x, const Tensor& W, const float* bias, int M) override {
    cpu::matmul(pool_, y, x, W, bias, M);
  }
  void rmsnorm(float* y, const float* x, const float* w, int M, int D, float eps) override {
    cpu::rmsnorm(y, x, w, M, D, eps);
  }
  void layernorm(float* y, const float* x, const float* w, const float* b, int M, int D, float eps) override {
    cpu::layernorm(y, x, w, b, M, D, eps);
  }
  void rope(float* x, int M, int n_heads, int head_dim, const int* pos, float theta) override {
    cpu::rope(x, M, n_heads, head_dim, pos, theta);
  }
  void kv_store(float* cache, const float* x, int M, int n_kv, int head_dim, int pos0, int cache_len) override {
    size_t rows = size_t(n_kv) * head_dim;
    for (int m = 0; m < M; m++)
      for (size_t r = 0; r < rows; r++) cache[r * size_t(cache_len) + size_t(pos0 + m)] = x[size_t(m) * rows + r];
  }
  void attention(float* out, const float* q, const float* kc, const float* vc, const AttentionArgs& a) override {
    cpu::attention(pool_, out, q, kc, vc, a);
  }
  void swiglu(float* y, const float* gate, const float* up, size_t n) override { cpu::swiglu(y, gate, up, n); }
  void gelu(float* y, const float* x, size_t n, GeluKind kind) override { cpu::gelu(y, x, n, kind); }
  void softmax(float* x, int M, int N) override { cpu::softmax(x, M, N); }
  void embedding(float* y, const Tensor& table, const int* ids, int M) override {
    table.gather_rows_f32(ids, M, y);
  }
  void add(float* y, const float* x, size_t n) override {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
  }
  void tanh(float* x, size_t n) override {
    for (size_t i = 0; i < n; i++) x[i] = std::tanh(x[i]);
  }

 private:
  ThreadPool pool_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<CpuBackend>(threads); }

}  // namespace zip
