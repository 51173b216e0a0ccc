// Shared by every file of the CUDA backend: error checking that turns CUDA failures into
// zip::Error, a grow-only device scratch buffer, and launch-size helpers.
// fmt (and so engine/error.h) stays out of .cu files: nvcc 13 cannot evaluate fmt's consteval
// format strings, so messages are built here from plain strings and thrown from cuda_host.cpp.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace zip::cuda {

// Throw zip::Error (defined in cuda_host.cpp).
[[noreturn]] void throw_error(const std::string& msg);
// "CUDA error in <what> (<file>:<line>): <detail>"
[[noreturn]] void throw_api_error(const char* what, const char* detail, const char* file, int line);

inline void check_cuda(cudaError_t e, const char* what, const char* file, int line) {
  if (e != cudaSuccess) throw_api_error(what, cudaGetErrorString(e), file, line);
}

}  // namespace zip::cuda

// Checks a CUDA runtime call.
#define ZIP_CUDA_CHECK(expr) ::zip::cuda::check_cuda((expr), #expr, __FILE__, __LINE__)
// After every kernel launch: reports a bad launch configuration at once. Faults inside a kernel
// surface at the next synchronising call (a copy to the host), also as zip::Error.
#define ZIP_CUDA_LAUNCHED(kernel_name) ::zip::cuda::check_cuda(cudaGetLastError(), kernel_name, __FILE__, __LINE__)
// Checks a condition on arguments (host side) and throws zip::Error with a plain message.
#define ZIP_CUDA_REQUIRE(cond, msg)                      \
  do {                                                   \
    if (!(cond)) ::zip::cuda::throw_error(std::string(msg)); \
  } while (0)

namespace zip::cuda {

// Grow-only device scratch. Growing waits for `stream` first, so kernels still reading the old
// storage finish before it is freed.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() {
    if (p_) cudaFree(p_);  // no throw from a destructor; errors here are sticky and reported later
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get(size_t bytes, cudaStream_t stream) {
    if (bytes > cap_) {
      if (p_) {
        ZIP_CUDA_CHECK(cudaStreamSynchronize(stream));
        ZIP_CUDA_CHECK(cudaFree(p_));
        p_ = nullptr;
        cap_ = 0;
      }
      size_t want = bytes < 4096 ? 4096 : bytes + bytes / 4;  // headroom against regrowth
      ZIP_CUDA_CHECK(cudaMalloc(&p_, want));
      cap_ = want;
    }
    return p_;
  }
  template <typename T>
  T* as(size_t n, cudaStream_t stream) {
    return static_cast<T*>(get(n * sizeof(T), stream));
  }

 private:
  void* p_ = nullptr;
  size_t cap_ = 0;
};

// Blocks for an elementwise grid-stride loop over n items (capped; the loop covers the rest).
inline unsigned grid_for(size_t n, unsigned threads) {
  size_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535) b = 65535;
  return unsigned(b);
}

// Largest power of two (≤ 256) dividing the address: the alignment cuBLASLt may assume.
inline uint32_t pointer_alignment(const void* p) {
  uint32_t a = 256;
  while (a > 1 && (reinterpret_cast<uintptr_t>(p) % a) != 0) a >>= 1;
  return a;
}

}  // namespace zip::cuda
