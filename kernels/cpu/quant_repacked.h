// Block weights kept in the interleaved layout their decode kernels read (quant_dot.h RepackFn):
// eight rows' blocks side by side, so a matvec computes 8 rows per vector with no horizontal
// reductions (llama.cpp repacks its Q4_0 weights for the same reason when a model loads). Made on a
// weight's first product and reused by every later one; Q8_0 and Q4_0 only, whose layout has the
// size of the original (Q5_0's would be 1.5×). Memory: the copy, while the original's pages are
// handed back to the kernel (MADV_PAGEOUT; read again only if something touches them).
//
// A copy is keyed by the weight's address and the path, and it is valid while the weight's owner
// (Tensor::holder) lives: block weights are never written in place (quantisers and loaders make
// new tensors), and a new owner at the same address gets a new copy.
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/tensor.h"
#include "kernels/cpu/quant_kernels.h"

namespace zip::cpu {

// W's interleaved copy for `path`, made now if needed, or null where the path or type keeps none,
// W has no owner, or the process turned copies off.
const uint8_t* repacked_weights(const Tensor& W, QuantPath path);

// Process-wide switch (default on); `zip bench --no-repack` and tests turn it off to compare.
void set_repack_weights(bool on);
bool repack_weights();

// Bytes held by the copies of weights still alive (after dropping those whose owner died).
size_t repacked_bytes();

}  // namespace zip::cpu
