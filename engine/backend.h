// The backend interface: the ops a forward (and later backward) pass is made of. Buffers are
// plain float arrays resident on the backend's device (allocate them with alloc()); weights are
// Tensors (f32/f16/bf16) made resident with upload(). Index arrays (token ids, positions,
// kv_of_q) are host memory on every backend.
// Implementations: RefBackend (scalar, single-threaded, the reference every fast path is
// tested against), CpuBackend (threads + SIMD), CudaBackend (engine/cuda.h, `make CUDA=1`).
#pragma once
#include <cstddef>
#include <memory>

#include "engine/tensor.h"

namespace zip {

enum class GeluKind { Tanh, Erf };

// KV cache layout, per layer: [n_kv][head_dim][cache_len] floats, i.e. element (head h,
// channel i, position t) at (h*head_dim + i)*cache_len + t. Positions are contiguous so that
// attention vectorises over positions whatever head_dim is.
struct AttentionArgs {
  int n_tokens = 0;      // new tokens (queries), at positions pos0 .. pos0+n_tokens-1
  int pos0 = 0;          // causal: query i sees cache positions 0 .. pos0+i
  int n_heads = 0;       // query heads in this layer
  int head_dim = 0;
  const int* kv_of_q = nullptr;  // KV head read by each query head (uneven groups allowed)
  int cache_len = 0;             // positions the cache holds
  float scale = 1.0f;            // usually 1/sqrt(head_dim)
  bool causal = true;            // false (encoders): every query sees 0 .. pos0+n_tokens-1
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual Device device() const = 0;
  virtual int threads() const { return 1; }

  // y[M,N] = x[M,K] · W[N,K]ᵀ (+ bias[N]); W is f32/f16/bf16, accumulation in f32 or better.
  virtual void matmul(float* y, const float* x, const Tensor& W, const float* bias, int M) = 0;
  // y[m,:] = x[m,:] / rms(x[m,:]) * w
  virtual void rmsnorm(float* y, const float* x, const float* w, int M, int D, float eps) = 0;
  // y[m,:] = (x[m,:] - mean) / sqrt(var + eps) * w + b
  virtual void layernorm(float* y, const float* x, const float* w, const float* b, int M, int D, float eps) = 0;
  // Rotary embedding in place on x[M, n_heads*head_dim], adjacent pairs, token m at pos[m].
  virtual void rope(float* x, int M, int n_heads, int head_dim, const int* pos, float theta) = 0;
  // Writes new K or V rows x[M, n_kv*head_dim] into the cache at positions pos0..pos0+M-1.
  virtual void kv_store(float* cache, const float* x, int M, int n_kv, int head_dim, int pos0, int cache_len) = 0;
  // out[M, n_heads*head_dim] = softmax(q kᵀ·scale) v over the cache (causal or not).
  virtual void attention(float* out, const float* q, const float* k_cache, const float* v_cache,
                         const AttentionArgs& a) = 0;
  virtual void swiglu(float* y, const float* gate, const float* up, size_t n) = 0;  // silu(gate)·up
  virtual void gelu(float* y, const float* x, size_t n, GeluKind kind) = 0;
  virtual void softmax(float* x, int M, int N) = 0;  // row-wise, in place
  // y[m,:] = table[ids[m],:] as f32
  virtual void embedding(float* y, const Tensor& table, const int* ids, int M) = 0;
  virtual void add(float* y, const float* x, size_t n) = 0;  // y += x
  // y[m,:] += b for every row m (a bias broadcast over M rows of width D)
  virtual void add_rows(float* y, const float* b, int M, int D) {
    for (int m = 0; m < M; m++) add(y + size_t(m) * D, b, size_t(D));
  }
  virtual void tanh(float* x, size_t n) = 0;  // in place

  // ---- memory on the backend's device ------------------------------------------------------------
  // The defaults (engine/backend.cpp) serve host-memory backends; a device backend overrides all.
  virtual float* alloc(size_t n);    // n floats, zero-filled; throws zip::Error when out of memory
  virtual void release(float* p);    // memory from alloc() (nullptr: nothing)
  virtual void to_device(float* dst, const float* host_src, size_t n);
  virtual void to_host(float* host_dst, const float* src, size_t n);  // waits for queued work
  virtual void copy(float* dst, const float* src, size_t n);          // within the device
  // A tensor the ops can read (weights, embedding tables): host backends return `t` itself (views
  // of a mapped file stay zero-copy); device backends return a device copy.
  virtual Tensor upload(const Tensor& t) { return t; }
  // Waits for all queued work (for timing); a no-op on synchronous backends.
  virtual void sync() {}
};

std::unique_ptr<Backend> make_ref_backend();
std::unique_ptr<Backend> make_cpu_backend(int threads);

}  // namespace zip
