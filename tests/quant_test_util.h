// Test helpers for block-type weights: random blocks and the error bound of the quantized matmul.
#pragma once
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/float16.h"
#include "engine/tensor.h"

namespace ztest {

// W[N,K] of block type t filled with random bytes (every bit pattern is a valid block), with each
// f16 scale set to a sane magnitude so products stay finite and comparable.
inline zip::Tensor random_block_tensor(zip::DType t, int N, int K, std::mt19937& rng) {
  using zip::DType;
  zip::Tensor W = zip::Tensor::zeros(t, {N, K});
  auto* p = static_cast<uint8_t*>(W.data);
  std::uniform_int_distribution<int> byte(0, 255);
  for (size_t i = 0; i < W.nbytes(); i++) p[i] = uint8_t(byte(rng));
  std::uniform_real_distribution<float> mag(0.002f, 0.02f);
  auto set_half = [&](uint8_t* at) {
    uint16_t h = zip::f32_to_f16(mag(rng));
    std::memcpy(at, &h, 2);
  };
  const size_t bb = zip::dtype_block_bytes(t), nblocks = W.nbytes() / bb;
  for (size_t b = 0; b < nblocks; b++) {
    uint8_t* blk = p + b * bb;
    if (t == DType::Q4_K) {
      set_half(blk);
      set_half(blk + 2);
    } else if (t == DType::Q6_K) {
      set_half(blk + 208);
    } else {
      set_half(blk);
    }
  }
  return W;
}

// Bound of |quantized matmul − x·dequant(W)ᵀ| per output, from the activation quantisation: each
// x_k is replaced by d·round(x_k/d), d = max|x| over its block / 127, an error of at most d/2, so
// |Δy| ≤ Σ_k |w_k|·d(k)/2; plus float rounding of the per-block products and sums (1e-5·Σ|w_k·x_k|,
// generous for the few hundred roundings of these shapes). With two terms the remainder, at most
// d/2, is quantised again: a step of at most d/254, so the first term's bound over 254.
inline std::vector<double> quant_matmul_bound(const std::vector<float>& x, const std::vector<float>& w, int M, int N,
                                              int K, int block, int terms = 1) {
  std::vector<double> half_step(size_t(M) * K);
  for (int m = 0; m < M; m++)
    for (int b0 = 0; b0 < K; b0 += block) {
      double amax = 0;
      for (int k = b0; k < b0 + block; k++) amax = std::max(amax, std::fabs(double(x[size_t(m) * K + k])));
      for (int k = b0; k < b0 + block; k++)
        half_step[size_t(m) * K + k] = amax / 127.0 / 2.0 * (1 + 1e-5) / (terms == 2 ? 254.0 * (1 - 1e-5) : 1.0);
    }
  std::vector<double> bound(size_t(M) * N);
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double q = 0, mag = 0;
      for (int k = 0; k < K; k++) {
        const double wk = std::fabs(double(w[size_t(n) * K + k]));
        q += wk * half_step[size_t(m) * K + k];
        mag += wk * std::fabs(double(x[size_t(m) * K + k]));
      }
      bound[size_t(m) * N + n] = q + 1e-5 * mag + 1e-30;
    }
  return bound;
}

}  // namespace ztest
