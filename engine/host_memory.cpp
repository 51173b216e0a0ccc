#include "engine/host_memory.h"

#include <cstdlib>
#include <cstring>

#include <sys/mman.h>

#include "engine/error.h"

namespace zip {

void* host_alloc_zeroed(size_t nbytes) {
  constexpr size_t huge = size_t(2) << 20;
  const size_t align = nbytes >= huge / 2 ? huge : 64;
  const size_t size = nbytes ? (nbytes + align - 1) / align * align : 64;
  void* p = std::aligned_alloc(align, size);
  if (!p) fail("out of memory allocating {} bytes", nbytes);
#ifdef MADV_HUGEPAGE
  if (align == huge) madvise(p, size, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
  std::memset(p, 0, size);
  return p;
}

}  // namespace zip
