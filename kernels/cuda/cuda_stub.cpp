// Built when CUDA=0: the CUDA entry points exist but report that this build has no CUDA backend.
#include "engine/cuda.h"
#include "engine/error.h"

namespace zip {
namespace {

constexpr const char* kNoCuda = "this build of zip has no CUDA backend (build with make CUDA=1)";

[[noreturn]] void no_cuda() { throw Error(kNoCuda); }

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int) { no_cuda(); }
std::unique_ptr<Backend> make_cuda_backend(const CudaOptions&) { no_cuda(); }

bool cuda_available(std::string* why) {
  if (why) *why = kNoCuda;
  return false;
}

std::shared_ptr<void> cuda_alloc(size_t) { no_cuda(); }
void cuda_to_device(void*, const void*, size_t) { no_cuda(); }
void cuda_to_host(void*, const void*, size_t) { no_cuda(); }
Tensor cuda_upload(const Tensor&) { no_cuda(); }

}  // namespace zip
