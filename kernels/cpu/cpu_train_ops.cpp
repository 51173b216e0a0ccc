// CpuTrainOps: the TrainOpsT interface on the CPU. Memory is host memory; the math lives in the
// per-concern kernel files (train_kernels.h); this file adds the trivial elementwise ops and
// the AdamW update. At Precision::bf16 the linear layers and the LM head go through the bf16 GEMM,
// their weights packed once per update (packed_weights.h).
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <type_traits>

#include <sys/mman.h>

#include "engine/error.h"
#include "kernels/cpu/packed_weights.h"
#include "kernels/cpu/train_kernels.h"

namespace zip::train {
namespace {

template <typename T>
class CpuTrainOps final : public TrainOpsT<T> {
 public:
  CpuTrainOps(int threads, Precision precision) : pool_(threads), bf16_(precision == Precision::bf16) {
    ZIP_CHECK(!bf16_ || sizeof(T) == 4, "bf16 products need the float ops");
  }
  const char* name() const override { return sizeof(T) == 4 ? "cpu" : "cpu-f64"; }
  int threads() const override { return pool_.size(); }
  Precision precision() const override { return bf16_ ? Precision::bf16 : Precision::f32; }

  // Large buffers are fresh anonymous mappings (transparent huge pages where allowed): zero
  // pages that cost no memory until written, so buffers count towards the peak only once used.
  void* alloc(size_t bytes) override {
    size_t n = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;  // aligned_alloc wants a multiple
    if (n >= kMapped) {
      void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      ZIP_CHECK(p != MAP_FAILED, "out of memory allocating {} bytes for training", bytes);
      ::madvise(p, n, MADV_HUGEPAGE);  // fewer TLB misses in the strided GEMM operands
      std::lock_guard<std::mutex> lock(mu_);
      mapped_[p] = n;
      return p;
    }
    void* p = std::aligned_alloc(64, n);
    ZIP_CHECK(p, "out of memory allocating {} bytes for training", bytes);
    std::memset(p, 0, n);
    return p;
  }
  void release(void* p) override {
    packs_.forget_all();
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = mapped_.find(p);
      if (it != mapped_.end()) {
        ::munmap(p, it->second);
        mapped_.erase(it);
        return;
      }
    }
    std::free(p);
  }
  void to_device(void* dst, const void* src, size_t bytes) override {
    touched(dst, bytes);
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void to_host(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void zero(void* p, size_t bytes) override {
    touched(p, bytes);
    if (bytes) std::memset(p, 0, bytes);
  }

  void copy(T* y, const T* x, size_t n) override {
    touched(y, n * sizeof(T));
    if (n && y != x) std::memcpy(y, x, n * sizeof(T));
  }
  void add(T* y, const T* a, const T* b, size_t n) override {
    touched(y, n * sizeof(T));
    each(n, [&](size_t i) { y[i] = a[i] + b[i]; });
  }
  void accumulate(T* y, const T* x, size_t n) override {
    touched(y, n * sizeof(T));
    each(n, [&](size_t i) { y[i] += x[i]; });
  }
  void scale(T* y, double s, size_t n) override {
    touched(y, n * sizeof(T));
    T sv = T(s);
    each(n, [&](size_t i) { y[i] *= sv; });
  }
  double sum(const T* x, size_t n) override {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += double(x[i]);
    return s;
  }
  double sum_squares(const T* x, size_t n) override {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += double(x[i]) * double(x[i]);
    return s;
  }

  void embedding_fwd(T* y, const T* table, const int* ids, int M, int D, bool accumulate) override {
    cpu::embedding_fwd(pool_, y, table, ids, M, D, accumulate);
  }
  void embedding_bwd(T* dtable, const T* dy, const int* ids, int M, int D) override {
    cpu::embedding_bwd(pool_, dtable, dy, ids, M, D);
  }
  void linear_fwd(T* y, const T* x, const T* W, const T* b, int M, int K, int N) override {
    if constexpr (std::is_same_v<T, float>)
      if (bf16_) return cpu::linear_fwd_bf16(pool_, y, x, packs_.transposed(pool_, W, N, K), b, M);
    cpu::linear_fwd(pool_, y, x, W, b, M, K, N);
  }
  void linear_bwd(T* dx, T* dW, T* db, const T* dy, const T* x, const T* W, int M, int K, int N) override {
    if constexpr (std::is_same_v<T, float>)
      if (bf16_) return cpu::linear_bwd_bf16(pool_, dx, dW, db, dy, x, W, M, K, N);
    cpu::linear_bwd(pool_, dx, dW, db, dy, x, W, M, K, N);
  }
  void bias_fwd(T* y, const T* b, int M, int N) override { cpu::bias_fwd(pool_, y, b, M, N); }
  void bias_bwd(T* db, const T* dy, int M, int N) override { cpu::bias_bwd(pool_, db, dy, M, N); }
  void layernorm_fwd(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, int M, int D, float eps) override {
    cpu::layernorm_fwd(pool_, y, mean, rstd, x, w, b, M, D, eps);
  }
  void layernorm_bwd(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const T* mean, const T* rstd, int M,
                     int D) override {
    cpu::layernorm_bwd(pool_, dx, dw, db, dy, x, w, mean, rstd, M, D);
  }
  void rmsnorm_fwd(T* y, T* rstd, const T* x, const T* w, int M, int D, float eps) override {
    cpu::rmsnorm_fwd(pool_, y, rstd, x, w, M, D, eps);
  }
  void rmsnorm_bwd(T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int M, int D) override {
    cpu::rmsnorm_bwd(pool_, dx, dw, dy, x, w, rstd, M, D);
  }
  void rope_fwd(T* x, const int* pos, int M, int n_heads, int head_dim, float theta) override {
    cpu::rope_apply(pool_, x, pos, M, n_heads, head_dim, theta, false);
  }
  void rope_bwd(T* dx, const int* pos, int M, int n_heads, int head_dim, float theta) override {
    cpu::rope_apply(pool_, dx, pos, M, n_heads, head_dim, theta, true);
  }
  void attention_fwd(T* out, T* lse, const T* q, const T* k, const T* v, const AttnDims& a) override {
    cpu::attention_fwd(pool_, out, lse, q, k, v, a);
  }
  void attention_bwd(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* out,
                     const T* lse, const AttnDims& a) override {
    cpu::attention_bwd(pool_, dq, dk, dv, dout, q, k, v, out, lse, a);
  }
  void gelu_fwd(T* y, const T* x, size_t n, GeluKind kind) override { cpu::gelu_fwd(pool_, y, x, n, kind); }
  void gelu_bwd(T* dx, const T* dy, const T* x, size_t n, GeluKind kind) override {
    cpu::gelu_bwd(pool_, dx, dy, x, n, kind);
  }
  void swiglu_fwd(T* y, const T* gate, const T* up, size_t n) override { cpu::swiglu_fwd(pool_, y, gate, up, n); }
  void swiglu_bwd(T* dgate, T* dup, const T* dy, const T* gate, const T* up, size_t n) override {
    cpu::swiglu_bwd(pool_, dgate, dup, dy, gate, up, n);
  }
  void tanh_fwd(T* y, const T* x, size_t n) override { cpu::tanh_fwd(pool_, y, x, n); }
  void tanh_bwd(T* dx, const T* dy, const T* y, size_t n) override { cpu::tanh_bwd(pool_, dx, dy, y, n); }
  void cross_entropy_fwd(T* loss, const T* logits, const int* targets, int M, int V) override {
    cpu::cross_entropy_fwd(pool_, loss, logits, targets, M, V);
  }
  void cross_entropy_bwd(T* dlogits, const T* logits, const int* targets, int M, int V, double dloss) override {
    cpu::cross_entropy_bwd(pool_, dlogits, logits, targets, M, V, dloss);
  }
  void kl_div_fwd(T* loss, const T* s, const T* t, const int* mask, int M, int V, float tau) override {
    cpu::kl_div_fwd(pool_, loss, s, t, mask, M, V, tau);
  }
  void kl_div_bwd(T* ds, const T* s, const T* t, const int* mask, int M, int V, float tau, double dloss) override {
    cpu::kl_div_bwd(pool_, ds, s, t, mask, M, V, tau, dloss);
  }
  void vocab_loss(const VocabLoss<T>& a) override {
    if constexpr (std::is_same_v<T, float>)
      if (bf16_) {
        const zip::cpu::PackedB* teacher = a.ht ? &packs_.transposed(pool_, a.Wt, a.V, a.Dt) : nullptr;
        return cpu::vocab_loss_bf16(pool_, a, packs_.transposed(pool_, a.W, a.V, a.D), teacher);
      }
    cpu::vocab_loss(pool_, a);
  }
  void cosine_loss_fwd(T* loss, const T* a, const T* b, const int* mask, int M, int D) override {
    cpu::cosine_loss_fwd(pool_, loss, a, b, mask, M, D);
  }
  void cosine_loss_bwd(T* da, const T* a, const T* b, const int* mask, int M, int D, double dloss) override {
    cpu::cosine_loss_bwd(pool_, da, a, b, mask, M, D, dloss);
  }
  void mse_loss_fwd(T* loss, const T* a, const T* b, const int* mask, int M, int D) override {
    cpu::mse_loss_fwd(pool_, loss, a, b, mask, M, D);
  }
  void mse_loss_bwd(T* da, const T* a, const T* b, const int* mask, int M, int D, double dloss) override {
    cpu::mse_loss_bwd(pool_, da, a, b, mask, M, D, dloss);
  }

  void adamw_update(T* p, const T* g, T* m, T* v, size_t n, const AdamWStep& s) override {
    touched(p, n * sizeof(T));  // the bf16 packings of these weights are redone on next use
    // Bias corrections folded into the step size and epsilon: identical to m̂/(√v̂ + eps).
    double bc1 = 1.0 - std::pow(double(s.beta1), s.t), bc2 = 1.0 - std::pow(double(s.beta2), s.t);
    T b1 = T(s.beta1), b2 = T(s.beta2), gs = T(s.grad_scale), lr = T(s.lr), wd = T(s.weight_decay);
    T inv_bc1 = T(1.0 / bc1), inv_sqrt_bc2 = T(1.0 / std::sqrt(bc2)), eps = T(s.eps);
    each(n, [&](size_t i) {
      T gi = g[i] * gs;
      m[i] = b1 * m[i] + (T(1) - b1) * gi;
      v[i] = b2 * v[i] + (T(1) - b2) * gi * gi;
      T mhat = m[i] * inv_bc1, vhat_sqrt = std::sqrt(v[i]) * inv_sqrt_bc2;
      p[i] -= lr * (mhat / (vhat_sqrt + eps) + wd * p[i]);
    });
  }

 private:
  template <typename Fn>
  void each(size_t n, Fn&& fn) {
    cpu::parallel_for(pool_, n, 2, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; i++) fn(i);
    });
  }
  // A write into [p, p + bytes): packed bf16 copies of weights there are stale (bf16 only).
  void touched(const void* p, size_t bytes) {
    if (bf16_) packs_.touched(p, bytes);
  }
  static constexpr size_t kMapped = size_t(1) << 20;
  ThreadPool pool_;
  bool bf16_ = false;
  zip::cpu::PackedWeights packs_;
  std::mutex mu_;
  std::map<void*, size_t> mapped_;  // mmap'd buffers and their lengths
};

}  // namespace

std::unique_ptr<TrainOps> make_cpu_train_ops(int threads, Precision precision) {
  return std::make_unique<CpuTrainOps<float>>(threads, precision);
}
std::unique_ptr<TrainOpsT<double>> make_cpu_train_ops_f64(int threads) {
  return std::make_unique<CpuTrainOps<double>>(threads, Precision::f32);
}

}  // namespace zip::train
