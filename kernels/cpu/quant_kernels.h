// Quantized inference product y[M,N] = x[M,K] · W[N,K]ᵀ (+ bias) for block weights (Q8_0, Q4_0,
// Q5_0, Q4_K, Q6_K; layouts in engine/quant/blocks.h). x is quantised once per call to 8-bit blocks
// (quant_act.h), then each (x block, W block) pair is an integer dot product; the float work per
// pair is fixed (below), so every path gives the same bits:
//
//   Q8_0, Q4_0, Q5_0
//               acc[b mod 4] = fma(dw·dx, float(isum), acc[b mod 4])  isum = Σ q_w·q_x (Q4_0: q_w − 8,
//                                                                     Q5_0: q_w − 16)
//               (four accumulators, then (acc0 + acc2) + (acc1 + acc3))
//   Q6_K        acc = fma(d·dx, float(isum), acc)                      isum = Σ_sub sc·Σ (q_w − 32)·q_x
//   Q4_K        acc = fma(d·dx, float(isum), acc); acc = fma(−(dmin·dx), float(msum), acc)
//                                                                     isum = Σ_sub sc·Σ q_w·q_x, msum = Σ_sub mn·Σ q_x
//
// over the blocks of a row in order, starting from 0, then y = acc + bias (two-term activations,
// below: y = (acc₁ + acc₂) + bias, each acc as above over its own term). Integer sums are exact,
// so the scalar path and the SIMD paths agree bit for bit. The SIMD paths read the 32-element types
// with W's rows interleaved 8 at a time (quant_dot_repack.inc): Q8_0 and Q4_0 from a copy kept with
// the weights (quant_repacked.h), Q5_0 prefill from panels copied per call; the same float work
// lane by lane, so the same bits.
#pragma once
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "engine/tensor.h"

namespace zip::cpu {

// The integer dot-product implementations. Scalar always exists; the others are compiled with
// function target attributes (not the build's -march) and picked at run time by cpuid, so a
// PORTABLE build still uses them and a native build tests every path its CPU supports.
enum class QuantPath { Scalar, Avx2, AvxVnni, Avx512Vnni };
const char* quant_path_name(QuantPath p);
// Paths this CPU can run, narrowest first (Scalar always).
std::vector<QuantPath> supported_quant_paths();
// The widest supported path (what matmul uses).
QuantPath best_quant_path();

// How many 8-bit terms stand for each activation. One (x ≈ d·q, llama.cpp's arithmetic, the
// default) costs SmolLM2-135M +0.3–0.7 % wikitext-2 perplexity against the same weights dequantized
// to f32 at Q8_0 / Q4_0 / Q4_K_M. Two (the remainder x − d·q quantised again: about 15 bits) give
// the f32 figure to four digits for a second integer pass over the same weights: about 1.4×
// the time of a one-thread decode matvec on the EPYC of docs/BENCHMARKS.md (1.2× Q4_K), up to 2× in prefill.
enum class ActTerms { One, Two };
const char* act_terms_name(ActTerms t);  // "1", "2"
// Process-wide choice used by matmul() (default One); the CLI's --act-terms sets it.
void set_act_terms(ActTerms t);
ActTerms act_terms();

// y[M,N] = x[M,K] · W[N,K]ᵀ (+ bias) with W of a block type, through `path`.
void quant_matmul(ThreadPool& pool, float* y, const float* x, const Tensor& W, const float* bias, int M,
                  QuantPath path, ActTerms terms = ActTerms::One);

}  // namespace zip::cpu
