// PackedWeights (packed_weights.h).
#include "kernels/cpu/packed_weights.h"

#include <cstdint>

namespace zip::cpu {

const PackedB& PackedWeights::transposed(ThreadPool& pool, const float* W, int N, int K) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = entries_[W];
  if (!e.valid || e.packed.N != N || e.packed.K != K) {
    pack_b_bf16(&pool, e.packed, W, Strides{1, size_t(K)}, K, N);
    e.src_bytes = size_t(N) * size_t(K) * sizeof(float);
    e.valid = true;
  }
  return e.packed;
}

void PackedWeights::touched(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.empty() || !bytes) return;
  auto lo = reinterpret_cast<uintptr_t>(p), hi = lo + bytes;
  for (auto& [src, e] : entries_) {
    auto s = reinterpret_cast<uintptr_t>(src);
    if (e.valid && s < hi && lo < s + e.src_bytes) e.valid = false;
  }
}

void PackedWeights::forget_all() {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.clear();
}

size_t PackedWeights::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [src, e] : entries_) n += e.packed.words.size() * sizeof(uint32_t);
  return n;
}

}  // namespace zip::cpu
