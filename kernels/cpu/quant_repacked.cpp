// The interleaved weight copies (quant_repacked.h): a map from (weight address, path) to the copy
// and a weak reference to the weight's owner, which tells a live weight from a new one that took
// a dead weight's address.
#include "kernels/cpu/quant_repacked.h"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include <sys/mman.h>
#include <unistd.h>

#include "engine/host_memory.h"
#include "kernels/cpu/quant_dot.h"

namespace zip::cpu {

namespace {

struct Copy {
  std::weak_ptr<void> owner;
  DType dtype;
  int64_t rows, cols;
  std::shared_ptr<void> data;
  size_t bytes;
};

std::mutex g_mu;
std::map<std::pair<const void*, QuantPath>, Copy> g_copies;
std::atomic<bool> g_on{true};

// Same owner: neither shared_ptr orders before the other.
bool same_owner(const std::weak_ptr<void>& a, const std::shared_ptr<void>& b) {
  return !a.owner_before(b) && !b.owner_before(a);
}

// The original's whole pages are handed back to the kernel: decode no longer reads them, and a
// model mapped from its file would otherwise stay resident twice. MADV_PAGEOUT keeps the data
// (clean file pages are dropped and read again on a later touch; anonymous pages go to swap, or
// stay where there is none), unlike MADV_DONTNEED, which would zero an anonymous buffer.
void page_out(const void* p, size_t n) {
#ifdef MADV_PAGEOUT
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t b = (uintptr_t(p) + page - 1) / page * page, e = (uintptr_t(p) + n) / page * page;
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_PAGEOUT);  // advice: failure changes nothing
#else
  (void)p, (void)n;
#endif
}

void drop_dead() {
  for (auto it = g_copies.begin(); it != g_copies.end();) it = it->second.owner.expired() ? g_copies.erase(it) : std::next(it);
}

}  // namespace

void set_repack_weights(bool on) { g_on.store(on, std::memory_order_relaxed); }
bool repack_weights() { return g_on.load(std::memory_order_relaxed); }

const uint8_t* repacked_weights(const Tensor& W, QuantPath path) {
  if (!repack_weights() || !W.holder || W.ndim() != 2) return nullptr;
  const qdot::Kernels& ks = qdot::kernels_of(path);
  const qdot::RepackFn fn = W.dtype == DType::Q8_0 ? ks.repack_q8_0 : W.dtype == DType::Q4_0 ? ks.repack_q4_0 : nullptr;
  if (!fn) return nullptr;
  std::lock_guard<std::mutex> lock(g_mu);
  const auto key = std::make_pair(static_cast<const void*>(W.data), path);
  auto it = g_copies.find(key);
  if (it != g_copies.end()) {
    const Copy& c = it->second;
    if (same_owner(c.owner, W.holder) && c.dtype == W.dtype && c.rows == W.dim(0) && c.cols == W.dim(1))
      return static_cast<const uint8_t*>(c.data.get());
    g_copies.erase(it);
  }
  drop_dead();
  const int N = int(W.dim(0)), K = int(W.dim(1));
  const size_t row_bytes = dtype_row_bytes(W.dtype, K);
  const size_t groups = (size_t(N) + qdot::kGroupRows - 1) / qdot::kGroupRows;
  Copy c{W.holder, W.dtype, W.dim(0), W.dim(1), nullptr, groups * qdot::kGroupRows * row_bytes};
  c.data = std::shared_ptr<void>(host_alloc_zeroed(c.bytes), host_free);
  fn(static_cast<const uint8_t*>(W.data), row_bytes, K / dtype_block_elems(W.dtype), N, static_cast<uint8_t*>(c.data.get()));
  page_out(W.data, W.nbytes());
  return static_cast<const uint8_t*>(g_copies.emplace(key, std::move(c)).first->second.data.get());
}

size_t repacked_bytes() {
  std::lock_guard<std::mutex> lock(g_mu);
  drop_dead();
  size_t n = 0;
  for (const auto& [k, c] : g_copies) n += c.bytes;
  return n;
}

}  // namespace zip::cpu
