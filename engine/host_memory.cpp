#include "engine/host_memory.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include <sys/mman.h>

#include "engine/error.h"

namespace zip {

namespace {

constexpr size_t kHuge = size_t(2) << 20;

// Sizes of the live mapped blocks, so host_free knows what to unmap (allocations are few and
// large: a lock is cheaper than a header, which would cost the block its 2 MiB alignment).
struct MappedBlocks {
  std::mutex mu;
  std::unordered_map<void*, size_t> size;
};
MappedBlocks& mapped() {
  static MappedBlocks* m = new MappedBlocks;  // never destroyed: blocks may outlive static teardown
  return *m;
}

// A 2 MiB-aligned anonymous mapping of `size` bytes (a multiple of 2 MiB), or nullptr. The kernel
// hands out zero pages on first touch, so nothing is resident yet.
void* map_aligned(size_t size) {
  void* raw = mmap(nullptr, size + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHuge - 1) / kHuge * kHuge;
  if (aligned > start) munmap(raw, aligned - start);  // trim the unaligned head and the tail
  const uintptr_t end = start + size + kHuge;
  if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - (aligned + size));
  return reinterpret_cast<void*>(aligned);
}

}  // namespace

void* host_alloc_zeroed(size_t nbytes) {
  if (nbytes >= kHuge / 2) {
    const size_t size = (nbytes + kHuge - 1) / kHuge * kHuge;
    void* p = map_aligned(size);
    if (!p) fail("out of memory allocating {} bytes", nbytes);
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
    MappedBlocks& m = mapped();
    std::lock_guard<std::mutex> lock(m.mu);
    m.size[p] = size;
    return p;
  }
  const size_t size = nbytes ? (nbytes + 63) / 64 * 64 : 64;
  void* p = std::aligned_alloc(64, size);
  if (!p) fail("out of memory allocating {} bytes", nbytes);
  std::memset(p, 0, size);
  return p;
}

void host_free(void* p) {
  if (!p) return;
  if (reinterpret_cast<uintptr_t>(p) % kHuge == 0) {
    MappedBlocks& m = mapped();
    size_t size = 0;
    {
      std::lock_guard<std::mutex> lock(m.mu);
      auto it = m.size.find(p);
      if (it != m.size.end()) size = it->second, m.size.erase(it);
    }
    if (size) {
      munmap(p, size);
      return;
    }
  }
  std::free(p);
}

}  // namespace zip
