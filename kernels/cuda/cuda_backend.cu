// CudaBackend: the Backend interface on one GPU. Activations, KV caches, norm weights and biases
// are device float*; weights and embedding tables are Tensors with device == CUDA. Index arrays
// (ids, positions, kv_of_q) arrive in host memory as on the CPU and are validated and uploaded
// here. Every op is queued on the backend's own stream (a blocking stream, so synchronous CUDA
// calls such as cudaMemcpy wait for it). Not thread-safe: one backend per thread.
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "engine/cuda.h"
#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"

namespace zip {
namespace cuda {
namespace {
std::string str(long long v) { return std::to_string(v); }
}  // namespace

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const CudaOptions& o) {
    int n = 0;
    ZIP_CUDA_CHECK(cudaGetDeviceCount(&n));
    ZIP_CUDA_REQUIRE(o.device >= 0 && o.device < n,
                     "CUDA device " + str(o.device) + " does not exist (" + str(n) + " present)");
    ZIP_CUDA_CHECK(cudaSetDevice(o.device));
    cudaDeviceProp prop{};
    ZIP_CUDA_CHECK(cudaGetDeviceProperties(&prop, o.device));
    ZIP_CUDA_REQUIRE(prop.major >= 8, std::string(prop.name) + " has compute capability " + str(prop.major) + "." +
                                          str(prop.minor) + "; zip's CUDA kernels need 8.0 or newer");
    ZIP_CUDA_CHECK(cudaStreamCreate(&stream_));
    try {
      gemm_ = std::make_unique<Gemm>(stream_, o.tf32);
    } catch (...) {
      cudaStreamDestroy(stream_);
      throw;
    }
  }
  ~CudaBackend() override {
    cudaStreamSynchronize(stream_);  // nothing queued may outlive the buffers freed below
    gemm_.reset();
    kv_maps_.clear();
    cudaStreamDestroy(stream_);
  }

  const char* name() const override { return "cuda"; }
  Device device() const override { return Device::CUDA; }

  void matmul(float* y, const float* x, const Tensor& W, const float* bias, int M) override {
    require_device(W, "matmul");
    ZIP_CUDA_REQUIRE(W.ndim() == 2, "matmul: weight of shape " + W.shape_str() + " is not 2-D");
    ZIP_CUDA_REQUIRE(W.dim(0) <= INT32_MAX && W.dim(1) <= INT32_MAX, "matmul: weight too large");
    gemm_->run(y, x, W.data, W.dtype, M, int(W.dim(0)), int(W.dim(1)), bias);
  }

  void rmsnorm(float* y, const float* x, const float* w, int M, int D, float eps) override {
    cuda::rmsnorm(stream_, y, x, w, M, D, eps);
  }

  void layernorm(float* y, const float* x, const float* w, const float* b, int M, int D, float eps) override {
    cuda::layernorm(stream_, y, x, w, b, M, D, eps);
  }

  void rope(float* x, int M, int n_heads, int head_dim, const int* pos, float theta) override {
    ZIP_CUDA_REQUIRE(head_dim % 2 == 0, "rope: head_dim " + str(head_dim) + " is odd");
    if (M <= 0) return;
    // Consecutive positions (one sequence) need no upload: the kernel computes pos0 + m.
    bool consecutive = true;
    for (int m = 1; m < M && consecutive; m++) consecutive = pos[m] == pos[0] + m;
    const int* dpos = consecutive ? nullptr : upload_ints(pos, size_t(M));
    cuda::rope(stream_, x, M, n_heads, head_dim, dpos, pos[0], theta);
  }

  void kv_store(float* cache, const float* x, int M, int n_kv, int head_dim, int pos0, int cache_len) override {
    ZIP_CUDA_REQUIRE(pos0 >= 0 && M >= 0 && pos0 + M <= cache_len,
                     "kv_store: positions " + str(pos0) + ".." + str(pos0 + M) + " outside the cache (" +
                         str(cache_len) + ")");
    cuda::kv_store(stream_, cache, x, M, n_kv, head_dim, pos0, cache_len);
  }

  void attention(float* out, const float* q, const float* k_cache, const float* v_cache,
                 const AttentionArgs& a) override {
    if (a.n_tokens <= 0 || a.n_heads <= 0) return;
    ZIP_CUDA_REQUIRE(a.head_dim > 0 && a.pos0 >= 0 && a.pos0 + a.n_tokens <= a.cache_len,
                     "attention: positions " + str(a.pos0) + ".." + str(a.pos0 + a.n_tokens) +
                         " outside the cache (" + str(a.cache_len) + ")");
    for (int h = 0; h < a.n_heads; h++)
      ZIP_CUDA_REQUIRE(a.kv_of_q[h] >= 0, "attention: negative KV head for query head " + str(h));
    AttentionArgs d = a;
    d.kv_of_q = kv_map(a.kv_of_q, a.n_heads);
    const size_t n_scratch = cuda::attention_scratch_floats(a);
    float* scratch = n_scratch ? scores_.as<float>(n_scratch, stream_) : nullptr;
    cuda::attention(stream_, out, q, k_cache, v_cache, d, scratch);
  }

  void swiglu(float* y, const float* gate, const float* up, size_t n) override { cuda::swiglu(stream_, y, gate, up, n); }
  void gelu(float* y, const float* x, size_t n, GeluKind kind) override { cuda::gelu(stream_, y, x, n, kind); }
  void softmax(float* x, int M, int N) override { cuda::softmax(stream_, x, M, N); }

  void embedding(float* y, const Tensor& table, const int* ids, int M) override {
    require_device(table, "embedding");
    ZIP_CUDA_REQUIRE(table.ndim() == 2 && table.dim(1) <= INT32_MAX,
                     "embedding: table of shape " + table.shape_str() + " is not 2-D");
    const int64_t V = table.dim(0);
    for (int m = 0; m < M; m++)
      ZIP_CUDA_REQUIRE(ids[m] >= 0 && ids[m] < V,
                       "token id " + str(ids[m]) + " out of range (vocabulary " + str(V) + ")");
    if (M <= 0) return;
    cuda::embedding(stream_, y, table.data, table.dtype, int(table.dim(1)), upload_ints(ids, size_t(M)), M);
  }

  void add(float* y, const float* x, size_t n) override { cuda::add(stream_, y, x, n); }
  void add_rows(float* y, const float* b, int M, int D) override { cuda::add_rows(stream_, y, b, M, D); }
  void tanh(float* x, size_t n) override { cuda::tanh(stream_, x, n); }

  // ---- memory on the device -------------------------------------------------------------------
  float* alloc(size_t n) override {
    void* p = nullptr;
    ZIP_CUDA_CHECK(cudaMalloc(&p, (n ? n : 1) * sizeof(float)));
    ZIP_CUDA_CHECK(cudaMemsetAsync(p, 0, n * sizeof(float), stream_));
    return static_cast<float*>(p);
  }
  void release(float* p) override {
    if (!p) return;
    cudaStreamSynchronize(stream_);  // no kernel may still use it; errors stay sticky for the next check
    cudaFree(p);
  }
  void to_device(float* dst, const float* host_src, size_t n) override {
    if (n) ZIP_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, n * sizeof(float), cudaMemcpyHostToDevice, stream_));
    // Pageable source: the call returns once the data is staged, so the host buffer is free again.
  }
  void to_host(float* host_dst, const float* src, size_t n) override {
    if (!n) return;
    ZIP_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    ZIP_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void copy(float* dst, const float* src, size_t n) override {
    if (n) ZIP_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
  }
  Tensor upload(const Tensor& t) override { return cuda_upload(t); }
  void sync() override { ZIP_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  static void require_device(const Tensor& t, const char* op) {
    ZIP_CUDA_REQUIRE(t.device == Device::CUDA, std::string(op) +
                                                   ": tensor is in host memory; upload it to the GPU first "
                                                   "(cuda_upload / Backend::upload)");
    ZIP_CUDA_REQUIRE(t.data != nullptr || t.numel() == 0, std::string(op) + ": tensor has no data");
  }

  // Host ints → a device scratch. The copy from pageable memory returns once the data is staged;
  // the scratch is reused by the next call, which is queued after this call's kernel.
  const int* upload_ints(const int* host, size_t n) {
    int* d = ints_.as<int>(n, stream_);
    ZIP_CUDA_CHECK(cudaMemcpyAsync(d, host, n * sizeof(int), cudaMemcpyHostToDevice, stream_));
    return d;
  }

  // kv_of_q arrays are few (one per distinct layer shape) and constant: uploaded once each.
  const int* kv_map(const int* host, int n) {
    std::vector<int> key(host, host + n);
    auto it = kv_maps_.find(key);
    if (it == kv_maps_.end()) {
      if (kv_maps_.size() >= 1024) {
        ZIP_CUDA_CHECK(cudaStreamSynchronize(stream_));
        kv_maps_.clear();
      }
      it = kv_maps_.emplace(key, std::make_unique<DeviceBuffer>()).first;
      int* d = it->second->as<int>(size_t(n), stream_);
      ZIP_CUDA_CHECK(cudaMemcpyAsync(d, host, size_t(n) * sizeof(int), cudaMemcpyHostToDevice, stream_));
    }
    return static_cast<const int*>(it->second->get(0, stream_));
  }

  cudaStream_t stream_ = nullptr;
  std::unique_ptr<Gemm> gemm_;
  DeviceBuffer ints_, scores_;
  std::map<std::vector<int>, std::unique_ptr<DeviceBuffer>> kv_maps_;
};

}  // namespace cuda

std::unique_ptr<Backend> make_cuda_backend(const CudaOptions& options) {
  return std::make_unique<cuda::CudaBackend>(options);
}

std::unique_ptr<Backend> make_cuda_backend(int device) {
  CudaOptions o;
  o.device = device;
  return make_cuda_backend(o);
}

}  // namespace zip
