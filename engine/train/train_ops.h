// The training ops: every forward op with its backward beside it (llm.c style, no autograd).
// Model code (train_model.h) calls only this interface, so a CUDA implementation can replace the
// CPU one without touching it. The interface is a template over the scalar type: float is what
// training runs in; double exists so that tests can check every backward (and whole models)
// against central finite differences without float rounding noise.
//
// Conventions, for every implementation:
// - Activations are row-major [M, width] with M = B·T rows (row b·T + t is token t of sequence b).
//   Weights are [out, in] as in engine/model.h.
// - Backward ops ACCUMULATE (+=) into every gradient output, so a tensor used twice (a tied
//   embedding, a residual stream read by two branches) sums its gradients without copies. Any
//   gradient output may be nullptr: that gradient is not computed.
// - Every pointer passed to an op is device memory of this implementation (allocate with alloc(),
//   move data with to_device()/to_host()), except the small per-layer structure arrays that
//   AttnDims marks as host memory.
// - Per-row losses: the *_fwd op writes one loss per row (0 for ignored rows); the *_bwd op adds
//   dloss · d(row loss)/d(input) for every counted row. The caller picks dloss (e.g. 1/rows for a
//   mean, times a loss weight).
#pragma once
#include <cstddef>
#include <memory>

#include "engine/backend.h"  // GeluKind

namespace zip::train {

// Precision of the float ops' matrix products (docs/TRAINING.md, "Mixed precision"): f32, or
// bf16 operands with f32 accumulation in the linear layers and the LM head; master weights,
// optimizer state, norms, softmaxes, losses and attention stay f32 either way.
enum class Precision { f32, bf16 };
inline const char* precision_name(Precision p) { return p == Precision::bf16 ? "bf16" : "f32"; }

// Shape of one attention call. q: [B·T, n_heads·head_dim]; k, v: [B·T, n_kv·head_dim]; out like q.
struct AttnDims {
  int B = 0, T = 0;
  int n_heads = 0, n_kv = 0, head_dim = 0;
  const int* kv_of_q = nullptr;  // HOST memory: KV head read by each query head (uneven groups ok)
  const int* lengths = nullptr;  // device, [B]: real tokens per sequence (padding after); nullptr = T
  bool causal = true;            // decoders: token t sees 0..t; encoders: every real token
  float scale = 1.0f;            // 1/sqrt(head_dim)
};

// One AdamW update (see adamw.h): p -= lr·(m̂/(√v̂ + eps) + wd·p), with g multiplied by grad_scale
// first (gradient clipping), m̂ = m/(1-β1^t), v̂ = v/(1-β2^t).
struct AdamWStep {
  float lr = 0, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0, grad_scale = 1;
  int t = 1;  // step number, from 1
};

// The LM head fused with its losses (vocab_loss): logits z = h·Wᵀ for the student (h [M, D],
// W [V, D]) and, when ht is given, zt = ht·Wtᵀ for the teacher (ht [M, Dt], Wt [V, Dt]); per row
//   kl[m] = τ²·KL(softmax(zt/τ) ‖ softmax(z/τ))   (when ht; rows with mask 0 count 0)
//   ce[m] = lse(z) - z[targets[m]]                (when targets; targets < 0 count 0)
// and, when dh or dW is given, adds d(Σ_m dkl·kl[m] + dce·ce[m]) into dh [M, D] and dW [V, D].
// Rows go in blocks of block_rows, so only [block_rows, V] logits ever exist, never [M, V].
template <typename T>
struct VocabLoss {
  int M = 0, D = 0, Dt = 0, V = 0;
  const T* h = nullptr;
  const T* W = nullptr;
  const T* ht = nullptr;  // nullptr: no KL term
  const T* Wt = nullptr;
  const int* targets = nullptr;  // device [M]; nullptr: no CE term
  const int* mask = nullptr;     // device [M]; nullptr: every row counts for the KL
  float tau = 1.0f;
  T* kl = nullptr;  // [M] outputs (nullptr: not written)
  T* ce = nullptr;
  T* dh = nullptr;  // gradients, accumulated (nullptr: not computed)
  T* dW = nullptr;
  double dkl = 0, dce = 0;
  int block_rows = 256;
};

template <typename T>
class TrainOpsT {
 public:
  using Scalar = T;
  virtual ~TrainOpsT() = default;
  virtual const char* name() const = 0;
  virtual int threads() const { return 1; }
  virtual Precision precision() const { return Precision::f32; }

  // ---- memory --------------------------------------------------------------------------------
  virtual void* alloc(size_t bytes) = 0;  // zero-filled, aligned for vector loads
  virtual void release(void* p) = 0;
  virtual void to_device(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void to_host(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void zero(void* p, size_t bytes) = 0;

  // ---- elementwise and reductions --------------------------------------------------------------
  virtual void copy(T* y, const T* x, size_t n) = 0;
  // Residual add y = a + b; its backward is accumulate() of the output gradient into both inputs.
  virtual void add(T* y, const T* a, const T* b, size_t n) = 0;
  virtual void accumulate(T* y, const T* x, size_t n) = 0;  // y += x
  virtual void scale(T* y, double s, size_t n) = 0;          // y *= s
  virtual double sum(const T* x, size_t n) = 0;              // result on the host
  virtual double sum_squares(const T* x, size_t n) = 0;

  // ---- embeddings (token, position, token type) ------------------------------------------------
  // y[m,:] (+)= table[ids[m],:]; table [rows, D].
  virtual void embedding_fwd(T* y, const T* table, const int* ids, int M, int D, bool accumulate) = 0;
  virtual void embedding_bwd(T* dtable, const T* dy, const int* ids, int M, int D) = 0;

  // ---- linear layers ----------------------------------------------------------------------------
  // y[M,N] = x[M,K]·W[N,K]ᵀ + b[N] (b may be nullptr).
  virtual void linear_fwd(T* y, const T* x, const T* W, const T* b, int M, int K, int N) = 0;
  // dx += dy·W, dW += dyᵀ·x, db += Σ_rows dy.
  virtual void linear_bwd(T* dx, T* dW, T* db, const T* dy, const T* x, const T* W, int M, int K, int N) = 0;
  // y[m,:] += b: the output bias a removed module leaves behind.
  virtual void bias_fwd(T* y, const T* b, int M, int N) = 0;
  virtual void bias_bwd(T* db, const T* dy, int M, int N) = 0;

  // ---- norms (statistics saved for the backward) ------------------------------------------------
  // y = (x - mean)·rstd·w + b; mean, rstd: [M].
  virtual void layernorm_fwd(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, int M, int D,
                             float eps) = 0;
  virtual void layernorm_bwd(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const T* mean,
                             const T* rstd, int M, int D) = 0;
  // y = x·rstd·w, rstd = 1/sqrt(mean(x²) + eps): [M].
  virtual void rmsnorm_fwd(T* y, T* rstd, const T* x, const T* w, int M, int D, float eps) = 0;
  virtual void rmsnorm_bwd(T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int M, int D) = 0;

  // ---- rotary positions (adjacent pairs, in place) ----------------------------------------------
  // x [M, n_heads·head_dim], row m at position pos[m]. The backward rotates the gradient back
  // (the transpose of a rotation is the opposite rotation), also in place.
  virtual void rope_fwd(T* x, const int* pos, int M, int n_heads, int head_dim, float theta) = 0;
  virtual void rope_bwd(T* dx, const int* pos, int M, int n_heads, int head_dim, float theta) = 0;

  // ---- attention -------------------------------------------------------------------------------
  // out = softmax(q·kᵀ·scale + mask)·v per query head; lse [B, n_heads, T] saves each row's
  // log-sum-exp so the backward recomputes the probabilities instead of storing them.
  // Padding rows (t >= lengths[b]) attend to nothing: their output is 0 and they get no gradient.
  virtual void attention_fwd(T* out, T* lse, const T* q, const T* k, const T* v, const AttnDims& a) = 0;
  virtual void attention_bwd(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                             const T* out, const T* lse, const AttnDims& a) = 0;

  // ---- activations -----------------------------------------------------------------------------
  virtual void gelu_fwd(T* y, const T* x, size_t n, GeluKind kind) = 0;
  virtual void gelu_bwd(T* dx, const T* dy, const T* x, size_t n, GeluKind kind) = 0;
  virtual void swiglu_fwd(T* y, const T* gate, const T* up, size_t n) = 0;  // silu(gate)·up
  virtual void swiglu_bwd(T* dgate, T* dup, const T* dy, const T* gate, const T* up, size_t n) = 0;
  virtual void tanh_fwd(T* y, const T* x, size_t n) = 0;  // the BERT pooler
  virtual void tanh_bwd(T* dx, const T* dy, const T* y, size_t n) = 0;

  // ---- losses (per row; see the conventions above) --------------------------------------------
  // Softmax cross-entropy of logits [M, V] against targets [M]; targets < 0 are ignored.
  virtual void cross_entropy_fwd(T* loss, const T* logits, const int* targets, int M, int V) = 0;
  virtual void cross_entropy_bwd(T* dlogits, const T* logits, const int* targets, int M, int V, double dloss) = 0;
  // Distillation: τ²·KL(softmax(teacher/τ) ‖ softmax(student/τ)) per row; gradient w.r.t. the
  // student logits only. mask [M] (nullptr: all rows): rows with mask 0 are ignored.
  virtual void kl_div_fwd(T* loss, const T* student, const T* teacher, const int* mask, int M, int V,
                          float tau) = 0;
  virtual void kl_div_bwd(T* dstudent, const T* student, const T* teacher, const int* mask, int M, int V,
                          float tau, double dloss) = 0;
  // The LM head with the KL / CE losses fused and blocked over rows (see VocabLoss).
  virtual void vocab_loss(const VocabLoss<T>& a) = 0;
  // Hidden-state losses between student states a and (constant) teacher states b, [M, D]:
  // cosine: 1 - cos(a_m, b_m); mse: mean over D of (a - b)².
  virtual void cosine_loss_fwd(T* loss, const T* a, const T* b, const int* mask, int M, int D) = 0;
  virtual void cosine_loss_bwd(T* da, const T* a, const T* b, const int* mask, int M, int D, double dloss) = 0;
  virtual void mse_loss_fwd(T* loss, const T* a, const T* b, const int* mask, int M, int D) = 0;
  virtual void mse_loss_bwd(T* da, const T* a, const T* b, const int* mask, int M, int D, double dloss) = 0;

  // ---- optimizer -------------------------------------------------------------------------------
  // One AdamW update of n parameters with moment buffers m, v (see AdamWStep).
  virtual void adamw_update(T* p, const T* g, T* m, T* v, size_t n, const AdamWStep& s) = 0;
};

using TrainOps = TrainOpsT<float>;

// The CPU implementation (kernels/cpu/cpu_train_ops.cpp): plain vectorisable loops, threaded over
// a pool of `threads`; bf16 runs the linear layers and the LM head through the bf16 GEMM.
std::unique_ptr<TrainOps> make_cpu_train_ops(int threads, Precision precision = Precision::f32);
// The same code in double precision: the reference for finite-difference checks.
std::unique_ptr<TrainOpsT<double>> make_cpu_train_ops_f64(int threads);

}  // namespace zip::train
