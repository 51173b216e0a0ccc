// The CUDA backend's entry points. `make CUDA=1` builds the real backend (kernels/cuda/*.cu);
// the default build links kernels/cuda/cuda_stub.cpp, where cuda_available() is false and every
// other function throws zip::Error, so callers need no #ifdef.
//
// Conventions of the CUDA backend (see kernels/cuda/cuda_backend.cu):
// - every float* passed to an op is device memory; weights and embedding tables are Tensors with
//   device == Device::CUDA (cuda_upload, or the backend's upload once Backend has one);
// - the small index arrays (token ids, positions, kv_of_q) are HOST memory, as on the CPU;
// - ops are asynchronous on the backend's stream; copies through the helpers below (and any
//   synchronous CUDA call) wait for them.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "engine/backend.h"

namespace zip {

struct CudaOptions {
  int device = 0;
  // f32 weights: TF32 tensor cores (about 1e-3 relative error) instead of exact f32 GEMMs.
  bool tf32 = false;
};

std::unique_ptr<Backend> make_cuda_backend(int device = 0);
std::unique_ptr<Backend> make_cuda_backend(const CudaOptions& options);

// True when this build has CUDA and a usable GPU (compute capability 8.0 or newer); otherwise
// false with the reason in *why, one line: "this build of zip has no CUDA backend (build with
// make CUDA=1)" in a CPU build; "no CUDA device or driver was found (cudaGetDeviceCount: ...)" in a
// CUDA build on a machine without a GPU or driver.
bool cuda_available(std::string* why = nullptr);

// Device memory for code outside a backend (tests, tools), on the current device.
// A zero-filled buffer, freed when the last owner lets go.
std::shared_ptr<void> cuda_alloc(size_t bytes);
// Synchronous copies; they wait for work queued by any backend.
void cuda_to_device(void* dst, const void* host_src, size_t bytes);
void cuda_to_host(void* host_dst, const void* src, size_t bytes);
// A device copy of a tensor (same dtype and shape, device == Device::CUDA); a CUDA tensor is
// returned as is.
Tensor cuda_upload(const Tensor& t);

}  // namespace zip
