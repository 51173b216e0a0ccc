// The bf16 GEMM of mixed-precision training: C (+)= A·B like gemm<float> (gemm.h, same strided
// operands), with A and B rounded to bf16 (nearest even) while they are packed and the products
// accumulated in f32. Operands are packed as bf16 pairs along K (one 32-bit word holds
// X(k, ·) in its low half and X(k+1, ·) in its high half, zero-padded to an even K), the layout
// the AVX512_BF16 dot product `vdpbf16ps` reads: one instruction adds the two products of a pair
// into each f32 lane.
//
// The kernel is chosen at compile time, as base/simd.h picks its level: with __AVX512BF16__
// (-march=native on Zen 4, Sapphire Rapids) the native one, otherwise the portable one, which
// widens the same bf16 words and adds the pair's two products with two f32 FMAs in the order the
// instruction is specified to use (odd element, then even). The two agree except where the
// native one flushes subnormals. Both are always compiled where the ISA allows, so tests can
// compare them.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/cpu/gemm.h"

namespace zip::cpu {

enum class Bf16Kernel { native, portable };

// True when this build has the native kernel (compiled with AVX512_BF16).
bool bf16_native_kernel();
// The kernel gemm_bf16 uses by default: native when compiled in, else portable.
Bf16Kernel default_bf16_kernel();

// B[K, N] packed for gemm_bf16: panels of 48 columns, each KP = ceil(K/2) rows of 48 pair words.
// Packing a weight once and reusing it saves the per-call packing (forward products).
struct PackedB {
  int K = 0, N = 0;
  std::vector<uint32_t> words;
};
void pack_b_bf16(ThreadPool* pool, PackedB& out, const float* B, Strides b, int K, int N);

// C[M,N] (+)= A·B (+ bias when not accumulating), A and B rounded to bf16. Deterministic: each
// element sums its pairs in K order, whatever the thread count.
void gemm_bf16(ThreadPool* pool, float* C, size_t ldc, const float* A, Strides a, const float* B, Strides b, int M,
               int N, int K, bool accumulate, const float* bias, Bf16Kernel kernel = default_bf16_kernel());
// The same with B packed beforehand (B.K, B.N give K and N).
void gemm_bf16(ThreadPool* pool, float* C, size_t ldc, const float* A, Strides a, const PackedB& B, int M,
               bool accumulate, const float* bias, Bf16Kernel kernel = default_bf16_kernel());

}  // namespace zip::cpu
