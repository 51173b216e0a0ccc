// Host-memory defaults of the Backend memory interface (CPU and reference backends).
#include "engine/backend.h"

#include <cstdlib>
#include <cstring>

#include "engine/error.h"
#include "engine/host_memory.h"

namespace zip {

// Aligned, zeroed host memory (engine/host_memory.h); large blocks stay untouched until written.
float* Backend::alloc(size_t n) {
  return static_cast<float*>(host_alloc_zeroed(n * sizeof(float)));
}

void Backend::release(float* p) { host_free(p); }

void Backend::to_device(float* dst, const float* host_src, size_t n) {
  if (n) std::memcpy(dst, host_src, n * sizeof(float));
}

void Backend::to_host(float* host_dst, const float* src, size_t n) {
  if (n) std::memcpy(host_dst, src, n * sizeof(float));
}

void Backend::copy(float* dst, const float* src, size_t n) {
  if (n) std::memmove(dst, src, n * sizeof(float));
}

}  // namespace zip
