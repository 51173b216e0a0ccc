// Activation quantisation (quant_act.h). One implementation for all dot-product paths, so the
// paths see the same integers.
#include "kernels/cpu/quant_act.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace zip::cpu {
namespace {

// Quantises n (32 or 256) floats to q; returns d.
template <int n>
float quantize_block(const float* x, int8_t* q) {
  float amax = 0.0f;
  for (int i = 0; i < n; i++) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  const float id = d > 0.0f ? 127.0f / amax : 0.0f;
  for (int i = 0; i < n; i++) {
    int v = int(std::nearbyint(x[i] * id));
    q[i] = int8_t(v > 127 ? 127 : v < -127 ? -127 : v);
  }
  return d;
}

// x's blocks into an ActRow32 at row; with `first` (x's own ActRow32), the remainder x − d·q instead.
void quantize_row32(const float* x, int64_t n, const uint8_t* first, uint8_t* row) {
  const int nb = int(n / 32), nb4 = act32_padded_blocks(nb);
  std::memset(row, 0, act32_row_bytes(nb));
  float* d = reinterpret_cast<float*>(row);
  int32_t* sum = reinterpret_cast<int32_t*>(row + size_t(nb4) * 4);
  int8_t* q = reinterpret_cast<int8_t*>(row + size_t(nb4) * 8);
  float rest[32];
  const ActRow32 a = first ? act32_row(first, nb) : ActRow32{};
  for (int b = 0; b < nb; b++, x += 32) {
    const float* src = x;
    if (first) {
      for (int i = 0; i < 32; i++) rest[i] = x[i] - a.d[b] * float(a.q[32 * b + i]);
      src = rest;
    }
    d[b] = quantize_block<32>(src, q + 32 * b);
    int s = 0;
    for (int i = 0; i < 32; i++) s += q[32 * b + i];
    sum[b] = s;
  }
}

void quantize_block256(const float* x, ActBlock256* out) {
  out->d = quantize_block<256>(x, out->q);
  for (int g = 0; g < 16; g++) {
    int s = 0;
    for (int i = 0; i < 16; i++) s += out->q[16 * g + i];
    out->bsums[g] = int16_t(s);
  }
}

}  // namespace

void quantize_act32(const float* x, int64_t n, uint8_t* row) { quantize_row32(x, n, nullptr, row); }

void quantize_act32_remainder(const float* x, int64_t n, const uint8_t* first, uint8_t* row) {
  quantize_row32(x, n, first, row);
}

void quantize_act256(const float* x, int64_t n, ActBlock256* out) {
  for (int64_t b = 0; b < n / 256; b++, x += 256) quantize_block256(x, out + b);
}

void quantize_act256_remainder(const float* x, int64_t n, const ActBlock256* first, ActBlock256* out) {
  float rest[256];
  for (int64_t b = 0; b < n / 256; b++, x += 256) {
    for (int i = 0; i < 256; i++) rest[i] = x[i] - first[b].d * float(first[b].q[i]);
    quantize_block256(rest, out + b);
  }
}

}  // namespace zip::cpu
