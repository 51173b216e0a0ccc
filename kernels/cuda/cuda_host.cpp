// Host-side glue of the CUDA backend, compiled by the C++ compiler (fmt is fine here): turning
// CUDA failures into zip::Error, the device query, and device-memory helpers of engine/cuda.h.
#include <cuda_runtime_api.h>

#include "engine/cuda.h"
#include "engine/error.h"
#include "kernels/cuda/cuda_common.h"

namespace zip {
namespace cuda {

void throw_error(const std::string& msg) { throw Error(msg); }

void throw_api_error(const char* what, const char* detail, const char* file, int line) {
  fail("CUDA error in {} ({}:{}): {}", what, file, line, detail);
}

}  // namespace cuda

bool cuda_available(std::string* why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  std::string reason;
  if (e != cudaSuccess) {
    // No driver, no device, or a driver older than the runtime: say what was looked for, then
    // CUDA's own words (e.g. "no CUDA-capable device is detected").
    reason = fmt::format("no CUDA device or driver was found (cudaGetDeviceCount: {})", cudaGetErrorString(e));
    cudaGetLastError();  // clear the error so later calls start clean
  } else if (n == 0) {
    reason = "no CUDA device was found (cudaGetDeviceCount: 0 devices)";
  } else {
    cudaDeviceProp prop{};
    if ((e = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess)
      reason = cudaGetErrorString(e);
    else if (prop.major < 8)
      reason = fmt::format("{} has compute capability {}.{}; zip's CUDA kernels need 8.0 or newer", prop.name,
                           prop.major, prop.minor);
  }
  if (why) *why = reason;
  return reason.empty();
}

std::shared_ptr<void> cuda_alloc(size_t bytes) {
  void* p = nullptr;
  ZIP_CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
  std::shared_ptr<void> owner(p, [](void* q) { cudaFree(q); });
  ZIP_CUDA_CHECK(cudaMemset(p, 0, bytes));
  return owner;
}

void cuda_to_device(void* dst, const void* host_src, size_t bytes) {
  if (bytes) ZIP_CUDA_CHECK(cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice));
}

void cuda_to_host(void* host_dst, const void* src, size_t bytes) {
  if (bytes) ZIP_CUDA_CHECK(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost));
}

Tensor cuda_upload(const Tensor& t) {
  if (t.device == Device::CUDA) return t;
  // The quantized kernels are CPU-only (kernels/cpu/quant_kernels.h); refuse rather than misread blocks.
  if (is_quantized(t.dtype))
    fail("cuda: {} weights are not supported on the GPU yet; use --device cpu, or convert with --dtype f16",
         dtype_name(t.dtype));
  Tensor d;
  d.dtype = t.dtype;
  d.device = Device::CUDA;
  d.shape = t.shape;
  d.holder = cuda_alloc(t.nbytes());
  d.data = d.holder.get();
  cuda_to_device(d.data, t.data, t.nbytes());
  return d;
}

}  // namespace zip
