// The bf16 training ops' packed weights: each weight a forward product reads (a linear layer's
// W, an LM head, the teacher's too) is rounded to bf16 and packed as Wᵀ once, then reused by
// every product until the weight changes — the forward, the recomputed forward and the teacher
// forward of a step share one packing, and a teacher that never changes is packed once per run.
// The ops report every write into their memory (touched()); a packing whose source range was
// written is redone on next use. Memory: 2 bytes per packed weight.
#pragma once
#include <cstddef>
#include <mutex>
#include <unordered_map>

#include "kernels/cpu/gemm_bf16.h"

namespace zip::cpu {

class PackedWeights {
 public:
  // W [N, K] row-major, packed as the B operand Wᵀ [K, N] of y = x·Wᵀ.
  const PackedB& transposed(ThreadPool& pool, const float* W, int N, int K);
  // Forgets packings whose source overlaps [p, p + bytes).
  void touched(const void* p, size_t bytes);
  void forget_all();
  size_t bytes() const;

 private:
  struct Entry {
    PackedB packed;
    size_t src_bytes = 0;
    bool valid = false;
  };
  std::unordered_map<const float*, Entry> entries_;
  mutable std::mutex mu_;
};

}  // namespace zip::cpu
